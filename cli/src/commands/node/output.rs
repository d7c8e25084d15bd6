//! Event output: one JSON object per line on stdout (`--json`), or `tracing` logs on
//! stderr. Every JSON line starts with `"event"` and `"t_ms"` (ms since start; see
//! `commands::jsonl`).
//!
//! JSON lines are written by a thread of their own through a bounded queue
//! ([`MAX_QUEUED_LINES`]), so a reader that stops reading stdout never blocks the
//! reactor: when the queue is full a line is dropped and counted
//! ([`Output::lines_dropped`], reported in the summary as `output_lines_dropped`). At
//! exit [`Output::finish`] waits at most [`FLUSH_GRACE`] for the queued lines.

use std::io::Write;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::commands::jsonl;

/// JSON lines queued for the stdout writer at most.
pub(crate) const MAX_QUEUED_LINES: usize = 4096;
/// How long [`Output::finish`] waits for the writer to flush the queued lines.
pub(crate) const FLUSH_GRACE: Duration = Duration::from_secs(2);

/// The stdout writer thread.
#[derive(Debug)]
struct Writer {
    lines: SyncSender<Vec<u8>>,
    /// Closed (with a message) once the writer has written everything it was given.
    done: Receiver<()>,
    thread: JoinHandle<()>,
}

/// Where events go.
#[derive(Debug)]
pub(crate) struct Output {
    json: bool,
    start: Instant,
    /// The stdout writer; `None` in log mode or once stdout failed.
    writer: Option<Writer>,
    /// Lines dropped because the writer queue was full (a slow or stopped reader).
    dropped: u64,
}

impl Output {
    pub(crate) fn new(json: bool, start: Instant) -> Self {
        let writer = json.then(spawn_writer).flatten();
        Self {
            json,
            start,
            writer,
            dropped: 0,
        }
    }

    /// JSON lines dropped so far because stdout was not read fast enough.
    pub(crate) fn lines_dropped(&self) -> u64 {
        self.dropped
    }

    /// Emits `event` with the fields of `fields` (a JSON object; other values are put
    /// under `"value"`). Never blocks.
    pub(crate) fn emit(&mut self, event: &str, fields: Value) {
        let t_ms = jsonl::millis(self.start.elapsed());
        if !self.json {
            tracing::info!(target: "leanp2p::node", "{event} {fields}");
            return;
        }
        let Some(writer) = &self.writer else {
            return;
        };
        let mut bytes = jsonl::render(event, t_ms, fields).into_bytes();
        bytes.push(b'\n');
        match writer.lines.try_send(bytes) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.dropped += 1,
            // The writer stopped: stdout is gone (e.g. a closed pipe).
            Err(TrySendError::Disconnected(_)) => self.writer = None,
        }
    }

    /// Lets the writer flush what is queued, waiting at most [`FLUSH_GRACE`] (a reader
    /// that stopped reading cannot hold the process).
    pub(crate) fn finish(&mut self) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        drop(writer.lines);
        if writer.done.recv_timeout(FLUSH_GRACE).is_ok() {
            let _ = writer.thread.join();
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Starts the stdout writer thread (`None` if the thread cannot be started: output is
/// then off rather than blocking).
fn spawn_writer() -> Option<Writer> {
    let (lines, rx) = mpsc::sync_channel::<Vec<u8>>(MAX_QUEUED_LINES);
    let (done_tx, done) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("leanp2p-stdout".into())
        .spawn(move || {
            let mut stdout = std::io::stdout();
            while let Ok(line) = rx.recv() {
                if stdout
                    .write_all(&line)
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    break;
                }
            }
            let _ = done_tx.send(());
        })
        .ok()?;
    Some(Writer {
        lines,
        done,
        thread,
    })
}
