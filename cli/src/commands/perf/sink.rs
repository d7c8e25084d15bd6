//! Carries out the perf machines' [`PerfOp`]s on the host's application streams.
//!
//! Backpressure: a machine hands out at most one `Write` per stream until it is told the
//! write was taken. A write that does not fit the stream's send buffer
//! ([`AppStreamError::BufferFull`]) is held here (one per stream, so at most
//! `PerfLimits::max_streams` of them, each a zero-copy slice) and retried at every
//! [`StreamIo::drive`] — the reactor calls the driver once per wakeup, as QUIC credit
//! returns — and only then reported with `handle_written`.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use leanp2p_host::{AppStream, AppStreamError, Node};

use leanp2p_perf::{PerfClient, PerfOp, PerfRequestId, PerfServer};

/// What [`StreamIo::drive`] needs of a perf machine.
pub(crate) trait PerfMachine {
    /// The machine's `poll_outbound`.
    fn next_op(&mut self) -> Option<PerfOp<AppStream>>;
    /// The machine's `handle_written`.
    fn written(&mut self, now: Instant, stream: AppStream);
    /// The machine's `handle_write_failed`.
    fn write_failed(&mut self, now: Instant, stream: AppStream);
}

impl PerfMachine for PerfClient<AppStream> {
    fn next_op(&mut self) -> Option<PerfOp<AppStream>> {
        self.poll_outbound()
    }
    fn written(&mut self, now: Instant, stream: AppStream) {
        if let Err(error) = self.handle_written(now, stream) {
            tracing::debug!(%stream, %error, "perf write report refused");
        }
    }
    fn write_failed(&mut self, now: Instant, stream: AppStream) {
        self.handle_write_failed(now, stream);
    }
}

impl PerfMachine for PerfServer<AppStream> {
    fn next_op(&mut self) -> Option<PerfOp<AppStream>> {
        self.poll_outbound()
    }
    fn written(&mut self, _: Instant, stream: AppStream) {
        if let Err(error) = self.handle_written(stream) {
            tracing::debug!(%stream, %error, "perf write report refused");
        }
    }
    fn write_failed(&mut self, _: Instant, stream: AppStream) {
        self.handle_write_failed(stream);
    }
}

/// The caller's side of one perf machine: the writes waiting for send-buffer room.
#[derive(Debug, Default)]
pub(crate) struct StreamIo {
    /// At most one per stream (the machine's rule).
    blocked: BTreeMap<AppStream, Bytes>,
}

impl StreamIo {
    /// Retries the held writes, then drains `perf.poll_outbound` into `node` (the drain
    /// rule's first half; the caller drains `poll_event` next). `Open` ops go to
    /// `on_open`, which must answer the machine.
    pub(crate) fn drive<M: PerfMachine>(
        &mut self,
        perf: &mut M,
        node: &mut Node,
        now: Instant,
        on_open: &mut dyn FnMut(&mut M, &mut Node, PerfRequestId),
    ) {
        for (stream, bytes) in std::mem::take(&mut self.blocked) {
            self.write(perf, node, now, stream, bytes);
        }
        while let Some(op) = perf.next_op() {
            match op {
                PerfOp::Open { request } => on_open(perf, node, request),
                PerfOp::Write { stream, bytes } => self.write(perf, node, now, stream, bytes),
                PerfOp::Finish { stream } => {
                    if let Err(error) = node.app_finish(now, stream) {
                        tracing::debug!(%stream, %error, "perf finish refused");
                    }
                }
                PerfOp::Reset { stream } => {
                    self.blocked.remove(&stream);
                    if let Err(error) = node.app_reset(now, stream) {
                        tracing::debug!(%stream, %error, "perf reset refused");
                    }
                }
            }
        }
    }

    /// Drops the held write of a stream that is gone.
    pub(crate) fn forget(&mut self, stream: AppStream) {
        self.blocked.remove(&stream);
    }

    fn write<M: PerfMachine>(
        &mut self,
        perf: &mut M,
        node: &mut Node,
        now: Instant,
        stream: AppStream,
        bytes: Bytes,
    ) {
        // `Bytes` clones are cheap (the payload is a static block of zeros).
        match node.app_write(now, stream, bytes.clone()) {
            Ok(()) => perf.written(now, stream),
            Err(AppStreamError::BufferFull) => {
                debug_assert!(!self.blocked.contains_key(&stream));
                self.blocked.insert(stream, bytes);
            }
            Err(error) => {
                tracing::debug!(%stream, %error, "perf write refused");
                perf.write_failed(now, stream);
            }
        }
    }
}

/// A fresh RNG seed for a node (perf runs are measurements, not replays).
pub(crate) fn fresh_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
    seed
}
