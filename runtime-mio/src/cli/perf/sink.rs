//! The perf machines' [`StreamSink`] over the host's application-stream API.

use std::time::Instant;

use bytes::Bytes;
use leanp2p_host::{AppStream, AppStreamError, Node};

use leanp2p_mio::perf_protocol::{SinkRefusal, StreamSink};

/// Writes into `node` at `now`.
pub(crate) struct NodeSink<'a> {
    pub(crate) node: &'a mut Node,
    pub(crate) now: Instant,
}

impl StreamSink<AppStream> for NodeSink<'_> {
    fn write(&mut self, stream: AppStream, data: Bytes) -> Result<(), SinkRefusal> {
        match self.node.app_write(self.now, stream, data) {
            Ok(()) => Ok(()),
            Err(AppStreamError::BufferFull) => Err(SinkRefusal::Full),
            Err(error) => {
                tracing::debug!(%stream, %error, "perf write refused");
                Err(SinkRefusal::Closed)
            }
        }
    }

    fn finish(&mut self, stream: AppStream) {
        if let Err(error) = self.node.app_finish(self.now, stream) {
            tracing::debug!(%stream, %error, "perf finish refused");
        }
    }

    fn reset(&mut self, stream: AppStream) {
        if let Err(error) = self.node.app_reset(self.now, stream) {
            tracing::debug!(%stream, %error, "perf reset refused");
        }
    }
}

/// A fresh RNG seed for a node (perf runs are measurements, not replays).
pub(crate) fn fresh_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut seed);
    seed
}
