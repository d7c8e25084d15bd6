//! Datagrams in flight: small `(arrival, sequence, slot)` keys over a slab of datagrams,
//! so ordering moves 32-byte keys rather than whole datagrams, and a delivered datagram's
//! slot is reused by the next one sent.
//!
//! The keys live in two places. On links without jitter most datagrams arrive in the
//! order they were sent (equal latencies), so a key that arrives no earlier than the
//! last one queued goes to the back of a FIFO (O(1)); only the others go to a min-heap.
//! Popping takes the smaller of the two fronts, so the order is exactly `(at, seq)`
//! either way.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::BytesMut;

/// Which socket of a node a datagram is addressed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Socket {
    /// The QUIC endpoint ([`crate::SIM_PORT`]).
    Quic,
    /// The discovery machine ([`crate::DISCOVERY_PORT`]).
    Discovery,
}

/// One datagram on its way.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// When it arrives.
    pub(crate) at: Instant,
    /// Send order (unique, increasing): breaks ties between equal arrival times and
    /// detects reordering.
    pub(crate) seq: u64,
    /// The sending socket's address.
    pub(crate) from: SocketAddr,
    /// The sending node.
    pub(crate) from_idx: usize,
    /// The receiving node.
    pub(crate) to: usize,
    /// The receiving socket.
    pub(crate) socket: Socket,
    /// The UDP payload (handed to the receiver without another copy).
    pub(crate) data: BytesMut,
}

/// Datagrams in flight, popped in `(at, seq)` order. Holds whatever the nodes send
/// (see the crate docs on memory); the slab never holds more slots than the most
/// datagrams ever in flight at once.
#[derive(Debug, Default)]
pub(crate) struct InFlightQueue {
    /// Keys in increasing `(at, seq)` order (each pushed no earlier than the last).
    fifo: VecDeque<(Instant, u64, u32)>,
    /// The other keys.
    order: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    slots: Vec<Option<InFlight>>,
    free: Vec<u32>,
}

impl InFlightQueue {
    /// Number of datagrams in flight.
    pub(crate) fn len(&self) -> usize {
        self.fifo.len() + self.order.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.fifo.is_empty() && self.order.is_empty()
    }

    /// Arrival time of the next datagram.
    pub(crate) fn next_arrival(&self) -> Option<Instant> {
        self.next_key().map(|(at, _, _)| at)
    }

    /// The smallest key, and whether it is the FIFO's.
    fn next_key(&self) -> Option<(Instant, u64, bool)> {
        let fifo = self.fifo.front().map(|&(at, seq, _)| (at, seq, true));
        let heap = self
            .order
            .peek()
            .map(|&Reverse((at, seq, _))| (at, seq, false));
        match (fifo, heap) {
            (Some(f), Some(h)) => Some(if (f.0, f.1) < (h.0, h.1) { f } else { h }),
            (f, h) => f.or(h),
        }
    }

    pub(crate) fn push(&mut self, datagram: InFlight) {
        let key = (datagram.at, datagram.seq);
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(datagram);
                slot
            }
            None => {
                // More than u32::MAX datagrams in flight would exhaust memory first.
                let slot = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
                self.slots.push(Some(datagram));
                slot
            }
        };
        // `seq` only grows, so "no earlier than the back" keeps the FIFO sorted.
        if self.fifo.back().is_none_or(|&(at, _, _)| at <= key.0) {
            self.fifo.push_back((key.0, key.1, slot));
        } else {
            self.order.push(Reverse((key.0, key.1, slot)));
        }
    }

    /// Takes the earliest datagram (lowest `(at, seq)`).
    pub(crate) fn pop(&mut self) -> Option<InFlight> {
        let (_, _, from_fifo) = self.next_key()?;
        let slot = if from_fifo {
            self.fifo.pop_front()?.2
        } else {
            self.order.pop()?.0 .2
        };
        let datagram = self.slots.get_mut(slot as usize)?.take();
        self.free.push(slot);
        datagram
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn datagram(at: Instant, seq: u64) -> InFlight {
        InFlight {
            at,
            seq,
            from: SocketAddr::from(([10, 0, 0, 1], 9000)),
            from_idx: 0,
            to: 1,
            socket: Socket::Quic,
            data: BytesMut::from(&seq.to_le_bytes()[..]),
        }
    }

    #[test]
    fn pops_in_arrival_then_send_order_and_reuses_slots() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut queue = InFlightQueue::default();
        queue.push(datagram(t0 + ms(5), 1));
        queue.push(datagram(t0 + ms(1), 2));
        queue.push(datagram(t0 + ms(5), 3));
        queue.push(datagram(t0 + ms(1), 4));
        assert_eq!(queue.len(), 4);
        assert_eq!(queue.next_arrival(), Some(t0 + ms(1)));
        let first: Vec<u64> = (0..2).filter_map(|_| queue.pop()).map(|d| d.seq).collect();
        assert_eq!(first, vec![2, 4]);
        queue.push(datagram(t0 + ms(3), 5));
        queue.push(datagram(t0 + ms(3), 6));
        assert_eq!(queue.slots.len(), 4, "freed slots are reused");
        let rest: Vec<u64> = std::iter::from_fn(|| queue.pop()).map(|d| d.seq).collect();
        assert_eq!(rest, vec![5, 6, 1, 3]);
        assert!(queue.is_empty());
        // Mostly in order with stragglers: the merged order is still `(at, seq)`.
        let arrivals = [4u64, 4, 9, 2, 9, 10, 3, 11, 11, 1];
        for (seq, at) in arrivals.iter().enumerate() {
            queue.push(datagram(t0 + ms(*at), seq as u64));
        }
        let mut expected: Vec<(u64, u64)> = arrivals
            .iter()
            .enumerate()
            .map(|(seq, at)| (*at, seq as u64))
            .collect();
        expected.sort();
        let popped: Vec<(u64, u64)> = std::iter::from_fn(|| queue.pop())
            .map(|d| ((d.at - t0).as_millis() as u64, d.seq))
            .collect();
        assert_eq!(popped, expected);
        assert!(queue.is_empty());
        assert_eq!(queue.next_arrival(), None);
    }
}
