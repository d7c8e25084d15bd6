//! The live progress line on stderr: slot, peers, delivered / expected so far, p50
//! propagation latency. On a terminal it is rewritten in place (`\r`) several times a
//! second; otherwise a plain line every few seconds.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::commands::workload::{Percentiles, Workload};

/// Interval between lines when stderr is not a terminal.
const PLAIN_INTERVAL: Duration = Duration::from_secs(2);
/// Interval between rewrites on a terminal.
const TTY_INTERVAL: Duration = Duration::from_millis(250);
/// Latency samples kept for the live p50 (older ones are dropped).
const MAX_LIVE_SAMPLES: usize = 1 << 16;

/// What the node threads report while running.
#[derive(Debug)]
pub(super) struct LiveBoard {
    delivered: Vec<u64>,
    peers: Vec<usize>,
    latencies: Vec<f64>,
}

impl LiveBoard {
    pub(super) fn new(nodes: usize) -> Self {
        Self {
            delivered: vec![0; nodes],
            peers: vec![0; nodes],
            latencies: Vec::new(),
        }
    }

    pub(super) fn update(&mut self, node: usize, delivered: u64, peers: usize, fresh: Vec<f64>) {
        if let Some(d) = self.delivered.get_mut(node) {
            *d = delivered;
        }
        if let Some(p) = self.peers.get_mut(node) {
            *p = peers;
        }
        if self.latencies.len() + fresh.len() > MAX_LIVE_SAMPLES {
            self.latencies.clear();
        }
        self.latencies.extend(fresh);
    }
}

/// The progress printer.
pub(super) struct Progress {
    workload: Arc<Workload>,
    tty: bool,
    start: Instant,
    last: Option<Instant>,
    width: usize,
}

impl Progress {
    pub(super) fn new(workload: Arc<Workload>, tty: bool, start: Instant) -> Self {
        Self {
            workload,
            tty,
            start,
            last: None,
            width: 0,
        }
    }

    /// Prints a line if one is due.
    pub(super) fn tick(&mut self, board: &Mutex<LiveBoard>) {
        let now = Instant::now();
        let interval = if self.tty {
            TTY_INTERVAL
        } else {
            PLAIN_INTERVAL
        };
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < interval)
        {
            return;
        }
        self.last = Some(now);
        self.print(board, now);
    }

    /// The last line (ends the rewritten line on a terminal).
    pub(super) fn finish(&mut self, board: &Mutex<LiveBoard>) {
        self.print(board, Instant::now());
        if self.tty {
            eprintln!();
        }
    }

    fn print(&mut self, board: &Mutex<LiveBoard>, now: Instant) {
        let t = now.saturating_duration_since(self.start);
        let w = &self.workload;
        let (delivered, peers, p50, present) = {
            let board = board.lock().unwrap_or_else(|p| p.into_inner());
            let present: Vec<usize> = (0..w.total_nodes())
                .filter(|&i| w.start_time(i) <= t)
                .collect();
            let peers: usize = present.iter().filter_map(|&i| board.peers.get(i)).sum();
            let p50 = Percentiles::of(board.latencies.clone());
            (
                board.delivered.iter().sum::<u64>(),
                peers,
                p50,
                present.len(),
            )
        };
        let expected = w.expected_until(t);
        let slot = if t < w.warmup {
            0
        } else {
            (((t - w.warmup).as_millis() / w.slot.as_millis().max(1)) as u64 + 1).min(w.slots)
        };
        let avg_peers = if present == 0 {
            0.0
        } else {
            peers as f64 / present as f64
        };
        let p50 = if p50.n == 0 {
            "-".to_string()
        } else {
            format!("{:.2} ms", p50.p50)
        };
        let line = format!(
            "devnet {:6.1}s  slot {slot}/{}  nodes {present}  peers/node {avg_peers:.1}  gossip {delivered}/{expected}  p50 {p50}",
            t.as_secs_f64(),
            w.slots,
        );
        let mut stderr = std::io::stderr().lock();
        let _ = if self.tty {
            let pad = self.width.saturating_sub(line.chars().count());
            self.width = line.chars().count();
            write!(stderr, "\r{line}{}", " ".repeat(pad))
        } else {
            writeln!(stderr, "{line}")
        };
        let _ = stderr.flush();
    }
}
