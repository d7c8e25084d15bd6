//! `/ipfs/ping/1.0.0`: 32 random bytes out, the same 32 bytes back.

use std::time::{Duration, Instant};

use leanp2p_quic::StreamId;

/// Size of one ping payload.
pub(crate) const PING_SIZE: usize = 32;

/// Our side of ping on one connection.
#[derive(Debug)]
pub(crate) struct PingState {
    /// Our outbound ping stream (reused for every ping).
    pub(crate) stream: Option<StreamId>,
    /// When the next ping is due.
    pub(crate) next_at: Instant,
    /// The ping in flight: payload and send time.
    pub(crate) outstanding: Option<([u8; PING_SIZE], Instant)>,
    /// Last measured round-trip time.
    pub(crate) last_rtt: Option<Duration>,
    /// The peer refused the protocol: stop pinging this connection.
    pub(crate) unsupported: bool,
}

impl PingState {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            stream: None,
            next_at: now,
            outstanding: None,
            last_rtt: None,
            unsupported: false,
        }
    }

    /// The next deadline: the ping timeout if one is in flight, else the next ping.
    pub(crate) fn deadline(&self, timeout: Duration, enabled: bool) -> Option<Instant> {
        if !enabled || self.unsupported {
            return None;
        }
        match self.outstanding {
            Some((_, sent)) => Some(sent + timeout),
            None => Some(self.next_at),
        }
    }
}

/// Splits complete 32-byte blocks off the front of `buf`.
pub(crate) fn take_blocks(buf: &mut Vec<u8>) -> Vec<[u8; PING_SIZE]> {
    let mut blocks = Vec::new();
    let mut consumed = 0;
    while let Some(chunk) = buf.get(consumed..consumed + PING_SIZE) {
        let mut block = [0u8; PING_SIZE];
        block.copy_from_slice(chunk);
        blocks.push(block);
        consumed += PING_SIZE;
    }
    buf.drain(..consumed);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_split_across_reads() {
        let mut buf = vec![7u8; 40];
        let blocks = take_blocks(&mut buf);
        assert_eq!(blocks, vec![[7u8; 32]]);
        assert_eq!(buf.len(), 8);
        buf.extend_from_slice(&[9u8; 24]);
        let blocks = take_blocks(&mut buf);
        assert_eq!(blocks.len(), 1);
        assert_eq!(&blocks[0][..8], &[7u8; 8]);
        assert!(buf.is_empty());
    }
}
