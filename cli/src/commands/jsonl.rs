//! JSON lines as every command prints them (docs/CLI.md "JSON event lines"): `"event"`
//! first, then `"t_ms"` (ms since the command started), then the fields in the order the
//! code builds them.
//!
//! The order is stable because `serde_json` is built with its `preserve_order` feature
//! (`cli/Cargo.toml`): a `Map` keeps insertion order instead of sorting its keys, and
//! `json!({...})` inserts in the order written. The tests below fail if that feature is
//! ever lost.

use std::time::Duration;

use serde_json::{Map, Value};

/// Milliseconds of `elapsed`, saturating.
pub(crate) fn millis(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
}

/// The line object: `event`, `t_ms`, then the fields of `fields` (a JSON object; `null`
/// adds nothing; any other value goes under `"value"`). A field named `event` or `t_ms`
/// in `fields` cannot displace the first two.
pub(crate) fn object(event: &str, t_ms: u64, fields: Value) -> Map<String, Value> {
    let mut line = Map::new();
    line.insert("event".into(), Value::from(event));
    line.insert("t_ms".into(), Value::from(t_ms));
    match fields {
        Value::Object(map) => {
            for (key, value) in map {
                if key != "event" && key != "t_ms" {
                    line.insert(key, value);
                }
            }
        }
        Value::Null => {}
        other => {
            line.insert("value".into(), other);
        }
    }
    line
}

/// The line as text, without the newline.
pub(crate) fn render(event: &str, t_ms: u64, fields: Value) -> String {
    Value::Object(object(event, t_ms, fields)).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Top-level keys of a rendered line, in text order.
    fn keys(text: &str) -> Vec<String> {
        let value: Value = serde_json::from_str(text).unwrap();
        value.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn event_then_t_ms_then_fields_in_written_order() {
        let text = render(
            "gossip",
            12,
            json!({ "topic": "t", "size": 3, "from": "p", "msg_id": "00", "latency_ms": null, "seq": 1 }),
        );
        assert!(text.starts_with(r#"{"event":"gossip","t_ms":12,"topic":"t","size":3,"#));
        assert_eq!(
            keys(&text),
            [
                "event",
                "t_ms",
                "topic",
                "size",
                "from",
                "msg_id",
                "latency_ms",
                "seq"
            ]
        );
    }

    #[test]
    fn nested_objects_keep_their_order_and_fields_cannot_displace_event() {
        let text = render(
            "summary",
            1,
            json!({ "zeta": 1, "event": "x", "rpc": { "status_ok": 1, "blocks_requests_ok": 2 }, "alpha": 0 }),
        );
        assert!(text.starts_with(r#"{"event":"summary","t_ms":1,"zeta":1,"rpc":{"status_ok":1,"blocks_requests_ok":2},"alpha":0}"#), "{text}");
    }

    #[test]
    fn non_objects_go_under_value() {
        assert_eq!(
            render("done", 0, Value::Null),
            r#"{"event":"done","t_ms":0}"#
        );
        assert_eq!(
            render("x", 5, json!(3)),
            r#"{"event":"x","t_ms":5,"value":3}"#
        );
    }
}
