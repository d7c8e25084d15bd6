//! The state shared by the reactor callback and the closures the publisher sends through
//! the [`ReactorHandle`]: output, counters, and the "done" logic. Everything here runs
//! on the reactor's thread; the mutex is only there because closures must be `Send`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use leanp2p_host::{PeerId, RequestId};
use leanp2p_mio::ReactorHandle;
use serde_json::json;

use super::args::GossipEncoding;
use super::metrics::Recorder;
use super::output::Output;
use super::summary::Counters;
use crate::commands::workload::serve::BlockServer;

/// Shared, lockable session.
pub(crate) type Shared = Arc<Mutex<Session>>;

/// Locks the session (a poisoned lock still holds valid counters).
pub(crate) fn lock(shared: &Shared) -> MutexGuard<'_, Session> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An outbound status request in flight.
#[derive(Debug)]
pub(crate) struct PendingRequest {
    pub peer: PeerId,
    /// When it was sent (the req/resp latency histogram).
    pub sent: Instant,
    pub chunks: u32,
    pub bytes: u64,
}

/// An outbound blocks_by_root request in flight.
#[derive(Debug)]
pub(crate) struct BlockRequest {
    pub peer: PeerId,
    /// When it was sent (the req/resp latency histogram).
    pub sent: Instant,
    /// The roots asked for, in order (chunk `i` must start with `roots[i]`).
    pub roots: Vec<leanp2p_reqresp::lean::Root>,
    pub chunks: u32,
    pub bytes: u64,
    pub mismatched: u64,
}

/// One run's mutable state.
#[derive(Debug)]
pub(crate) struct Session {
    pub out: Output,
    pub counters: Counters,
    /// The latency histograms (`--metrics-addr` serves them).
    pub metrics: Recorder,
    pub encoding: GossipEncoding,
    pub quiet_gossip: bool,
    pub request_status_to_all: bool,
    /// `--request-blocks N`.
    pub request_blocks: Option<u32>,
    /// `--block-size`.
    pub block_size: usize,
    /// `--serve-block-size`.
    pub serve_block_size: Option<usize>,
    pub expect_messages: Option<u64>,
    pub exit_when_done: bool,
    pub linger: Duration,
    /// The publisher has not emitted `publish_done` yet.
    pub publishing: bool,
    pub done: bool,
    pub status_requests: BTreeMap<RequestId, PendingRequest>,
    pub block_requests: BTreeMap<RequestId, BlockRequest>,
    /// Peers already sent our requests (once per peer, on its first connection).
    pub greeted: BTreeSet<PeerId>,
    /// Answers status / blocks requests with synthetic blocks; holds the responses
    /// paused by `respond` backpressure until `ResponseWritable`.
    pub server: BlockServer,
    pub handle: ReactorHandle,
}

impl Session {
    /// Once every requested action is complete and `--exit-when-done` is set: emits
    /// `done` and stops the reactor after `--linger-ms`.
    pub(crate) fn check_done(&mut self) {
        if !self.exit_when_done || self.done || self.publishing {
            return;
        }
        // Requests in flight finish first (they are requested actions too).
        if !self.status_requests.is_empty() || !self.block_requests.is_empty() {
            return;
        }
        if self
            .expect_messages
            .is_some_and(|n| self.counters.gossip_received < n)
        {
            return;
        }
        self.done = true;
        let linger_ms = u64::try_from(self.linger.as_millis()).unwrap_or(u64::MAX);
        self.out.emit("done", json!({ "linger_ms": linger_ms }));
        let handle = self.handle.clone();
        let linger = self.linger;
        let spawned = std::thread::Builder::new()
            .name("linger".into())
            .spawn(move || {
                std::thread::sleep(linger);
                let _ = handle.shutdown();
            });
        if spawned.is_err() {
            // No thread: stop now rather than never.
            let _ = self.handle.shutdown();
        }
    }
}
