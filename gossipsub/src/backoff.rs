//! PRUNE backoffs per (topic, peer).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use leanp2p_identity::PeerId;

use crate::types::TopicHash;

/// Until when we must not GRAFT a peer on a topic (and it must not GRAFT us).
#[derive(Debug, Default)]
pub(crate) struct Backoffs {
    until: BTreeMap<(TopicHash, PeerId), Instant>,
}

impl Backoffs {
    /// Extends the backoff of `(topic, peer)` to at least `until`.
    pub(crate) fn update(&mut self, topic: &TopicHash, peer: PeerId, until: Instant) {
        let entry = self.until.entry((topic.clone(), peer)).or_insert(until);
        if *entry < until {
            *entry = until;
        }
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
        self.until.retain(|_, until| now < *until + slack);
    }

    /// Number of entries (backoffs survive reconnects on purpose, like go/rust-libp2p).
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
}
