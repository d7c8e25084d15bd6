//! PRUNE backoffs per (topic, peer).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use leanp2p_identity::PeerId;

use crate::types::TopicHash;

/// Until when we must not GRAFT a peer on a topic (and it must not GRAFT us).
///
/// Bounded: at most `max` entries; a new entry beyond it evicts the one that expires
/// first (entries only exist for topics we are subscribed to, and outlive disconnects on
/// purpose, like go/rust-libp2p, so a peer cannot reconnect to escape its backoff).
/// Expiry walks a deadline index, O(log n) per expired entry.
#[derive(Debug)]
pub(crate) struct Backoffs {
    until: BTreeMap<(TopicHash, PeerId), Instant>,
    by_deadline: BTreeSet<(Instant, TopicHash, PeerId)>,
    max: usize,
    /// Entries evicted early because the table was full.
    pub(crate) evicted: u64,
}

impl Default for Backoffs {
    fn default() -> Self {
        Self::new(usize::MAX)
    }
}

impl Backoffs {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            until: BTreeMap::new(),
            by_deadline: BTreeSet::new(),
            max,
            evicted: 0,
        }
    }

    /// Extends the backoff of `(topic, peer)` to at least `until`.
    pub(crate) fn update(&mut self, topic: &TopicHash, peer: PeerId, until: Instant) {
        let key = (topic.clone(), peer);
        if let Some(current) = self.until.get(&key).copied() {
            if current >= until {
                return;
            }
            self.by_deadline.remove(&(current, key.0.clone(), key.1));
        } else if self.until.len() >= self.max {
            if let Some((_, t, p)) = self.by_deadline.pop_first() {
                self.until.remove(&(t, p));
                self.evicted += 1;
            }
            if self.max == 0 {
                return;
            }
        }
        self.by_deadline.insert((until, key.0.clone(), key.1));
        self.until.insert(key, until);
    }

    /// The backoff deadline, if any.
    pub(crate) fn get(&self, topic: &TopicHash, peer: &PeerId) -> Option<Instant> {
        self.until.get(&(topic.clone(), *peer)).copied()
    }

    /// Whether `peer` is in backoff at `now`, extended by `slack`.
    pub(crate) fn is_backoff(
        &self,
        now: Instant,
        topic: &TopicHash,
        peer: &PeerId,
        slack: Duration,
    ) -> bool {
        self.get(topic, peer)
            .is_some_and(|until| now < until + slack)
    }

    /// Drops entries whose deadline plus `slack` has passed.
    pub(crate) fn expire(&mut self, now: Instant, slack: Duration) {
        while let Some((at, _, _)) = self.by_deadline.first() {
            if now < *at + slack {
                break;
            }
            if let Some((_, topic, peer)) = self.by_deadline.pop_first() {
                self.until.remove(&(topic, peer));
            }
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.until.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_extends_and_expires_with_slack() {
        let t0 = Instant::now();
        let peer = leanp2p_identity::Keypair::from_secret_bytes(&[1; 32])
            .unwrap()
            .peer_id();
        let topic = TopicHash::new("t");
        let mut b = Backoffs::default();
        b.update(&topic, peer, t0 + Duration::from_secs(10));
        b.update(&topic, peer, t0 + Duration::from_secs(5));
        let slack = Duration::from_secs(1);
        assert!(b.is_backoff(t0 + Duration::from_secs(10), &topic, &peer, slack));
        assert!(!b.is_backoff(t0 + Duration::from_secs(11), &topic, &peer, slack));
        b.expire(t0 + Duration::from_secs(10), slack);
        assert_eq!(b.len(), 1);
        b.expire(t0 + Duration::from_secs(11), slack);
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn a_full_table_evicts_the_entry_that_expires_first() {
        let t0 = Instant::now();
        let topic = TopicHash::new("t");
        let peers: Vec<PeerId> = (1..=4u8)
            .map(|i| {
                leanp2p_identity::Keypair::from_secret_bytes(&[i; 32])
                    .unwrap()
                    .peer_id()
            })
            .collect();
        let mut b = Backoffs::new(3);
        for (i, p) in peers.iter().enumerate() {
            b.update(&topic, *p, t0 + Duration::from_secs(10 + i as u64));
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.evicted, 1);
        assert_eq!(b.get(&topic, &peers[0]), None, "the earliest deadline went");
        // Extending an entry keeps one index entry per key.
        b.update(&topic, peers[1], t0 + Duration::from_secs(100));
        b.expire(t0 + Duration::from_secs(20), Duration::ZERO);
        assert_eq!(b.len(), 1);
        assert_eq!(b.by_deadline.len(), 1);
    }
}
