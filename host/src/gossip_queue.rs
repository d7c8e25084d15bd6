//! The host's per-peer outgoing gossip queue: two lanes in front of the peer's
//! `/meshsub` stream, with a byte budget and a defined overflow policy.
//!
//! The router's own per-peer queue is drained into these lanes on every call (the host
//! never pauses the router), so what a peer costs us is: the frames here, plus the
//! bytes of its gossip stream's [`leanp2p_quic::SendBuffer`] (which the host refills
//! from the lanes only while it holds at most [`crate::Limits::gossip_send_high_water`]
//! bytes, priority lane first). See [`crate::Limits::gossip_peer_buffer`] for the
//! policy and the bound.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use leanp2p_gossipsub::Lane;

/// What happened to a frame offered to [`GossipQueue::offer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Queued.
    Queued,
    /// Dropped: the peer is over its budget.
    Dropped,
}

/// Frames waiting for one peer's gossip stream.
#[derive(Debug, Default)]
pub(crate) struct GossipQueue {
    /// Control and our own publishes.
    priority: VecDeque<Bytes>,
    /// Forwards and IWANT replies.
    normal: VecDeque<Bytes>,
    /// Bytes in both lanes.
    bytes: usize,
    /// Since when frames have been dropped for this peer without its queue draining
    /// below half the budget (the overflow episode).
    pub(crate) overflow_since: Option<Instant>,
    /// Frames dropped for this peer since it connected.
    pub(crate) dropped: u64,
}

impl GossipQueue {
    /// Bytes in both lanes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether both lanes are empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.priority.is_empty() && self.normal.is_empty()
    }

    /// Offers a frame, given the bytes already buffered in the peer's stream.
    /// Normal frames are admitted while the total is under `budget`, priority frames
    /// while it is under `budget + reserve`; a frame is never split, so the total can
    /// exceed the cap by at most one frame.
    pub(crate) fn offer(
        &mut self,
        frame: Bytes,
        lane: Lane,
        stream_bytes: usize,
        budget: usize,
        reserve: usize,
    ) -> Offered {
        let total = self.bytes.saturating_add(stream_bytes);
        let cap = match lane {
            Lane::Normal => budget,
            _ => budget.saturating_add(reserve),
        };
        if total >= cap {
            self.dropped += 1;
            return Offered::Dropped;
        }
        self.bytes += frame.len();
        match lane {
            Lane::Normal => self.normal.push_back(frame),
            _ => self.priority.push_back(frame),
        }
        Offered::Queued
    }

    /// The next frame to write: priority lane first.
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        let frame = self
            .priority
            .pop_front()
            .or_else(|| self.normal.pop_front())?;
        self.bytes -= frame.len();
        Some(frame)
    }

    /// Drops everything queued; returns the number of frames dropped.
    pub(crate) fn clear(&mut self) -> usize {
        let n = self.priority.len() + self.normal.len();
        self.priority.clear();
        self.normal.clear();
        self.bytes = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(len: usize) -> Bytes {
        Bytes::from(vec![0u8; len])
    }

    #[test]
    fn forwards_stop_at_the_budget_priority_uses_the_reserve() {
        let mut q = GossipQueue::default();
        assert_eq!(
            q.offer(frame(60), Lane::Normal, 30, 100, 50),
            Offered::Queued
        );
        // 90 < 100: one more frame fits and crosses the cap.
        assert_eq!(
            q.offer(frame(20), Lane::Normal, 30, 100, 50),
            Offered::Queued
        );
        assert_eq!(
            q.offer(frame(1), Lane::Normal, 30, 100, 50),
            Offered::Dropped
        );
        // 110 < 150: priority still fits (and crosses the reserve).
        assert_eq!(
            q.offer(frame(45), Lane::Priority, 30, 100, 50),
            Offered::Queued
        );
        assert_eq!(
            q.offer(frame(1), Lane::Priority, 30, 100, 50),
            Offered::Dropped
        );
        assert_eq!(q.dropped, 2);
        assert_eq!(q.bytes(), 125);
        // Priority first, then forwards in order.
        assert_eq!(q.pop().map(|f| f.len()), Some(45));
        assert_eq!(q.pop().map(|f| f.len()), Some(60));
        assert_eq!(q.pop().map(|f| f.len()), Some(20));
        assert!(q.pop().is_none());
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn an_oversized_frame_fits_an_empty_queue() {
        let mut q = GossipQueue::default();
        assert_eq!(
            q.offer(frame(500), Lane::Normal, 0, 100, 50),
            Offered::Queued
        );
        assert_eq!(
            q.offer(frame(1), Lane::Priority, 0, 100, 50),
            Offered::Dropped
        );
        assert_eq!(q.clear(), 1);
        assert_eq!(q.bytes(), 0);
    }
}
