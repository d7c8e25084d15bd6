//! Event output: one JSON object per line on stdout (`--json`), or `tracing` logs on
//! stderr. Every JSON line carries `"event"` and `"t_ms"` (ms since start).

use std::io::Write;
use std::time::Instant;

use serde_json::{Map, Value};

/// Where events go.
#[derive(Debug)]
pub(crate) struct Output {
    json: bool,
    start: Instant,
    /// Set when stdout failed (e.g. closed pipe); later lines are dropped.
    broken: bool,
}

impl Output {
    pub(crate) fn new(json: bool, start: Instant) -> Self {
        Self {
            json,
            start,
            broken: false,
        }
    }

    /// Emits `event` with the fields of `fields` (a JSON object; other values are put
    /// under `"value"`).
    pub(crate) fn emit(&mut self, event: &str, fields: Value) {
        let t_ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        if !self.json {
            tracing::info!(target: "leanp2p::node", "{event} {fields}");
            return;
        }
        if self.broken {
            return;
        }
        let mut line = Map::new();
        line.insert("event".into(), Value::from(event));
        line.insert("t_ms".into(), Value::from(t_ms));
        match fields {
            Value::Object(map) => line.extend(map),
            Value::Null => {}
            other => {
                line.insert("value".into(), other);
            }
        }
        let mut stdout = std::io::stdout().lock();
        let written = serde_json::to_writer(&mut stdout, &Value::Object(line))
            .map_err(std::io::Error::from)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
        if written.is_err() {
            self.broken = true;
        }
    }
}
