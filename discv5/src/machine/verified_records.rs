//! Records whose signature was already checked, by their exact bytes, so a record that
//! arrives again unchanged (same `seq`, same content: the same bytes) in a later NODES
//! answer is not verified again. In a lookup-heavy network the same few hundred records
//! come back in answer after answer, and the secp256k1 signature check is most of the
//! cost of handling one (the 200-node simulator run spent more than half its time there).
//!
//! Bounded by [`Config::verified_record_cache`](super::Config::verified_record_cache):
//! when full it forgets everything and starts over (a forgotten record is verified
//! again). Only lookups reach it, never iteration, so its `HashMap` order does not
//! matter.

use std::collections::HashMap;

use leanp2p_identity::Enr;

/// Verified records by their RLP bytes.
#[derive(Clone, Debug)]
pub(super) struct VerifiedRecords {
    by_bytes: HashMap<Box<[u8]>, Enr>,
    capacity: usize,
}

impl VerifiedRecords {
    /// An empty cache of at most `capacity` records (0: nothing is kept).
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            by_bytes: HashMap::new(),
            capacity,
        }
    }

    /// The verified record whose RLP is exactly `bytes`.
    pub(super) fn get(&self, bytes: &[u8]) -> Option<Enr> {
        self.by_bytes.get(bytes).cloned()
    }

    /// Remembers `enr`, which the caller has just verified.
    pub(super) fn insert(&mut self, enr: &Enr) {
        if self.capacity == 0 {
            return;
        }
        if self.by_bytes.len() >= self.capacity {
            self.by_bytes.clear();
        }
        self.by_bytes.insert(enr.to_rlp().into(), enr.clone());
    }

    /// Records held.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(super) fn len(&self) -> usize {
        self.by_bytes.len()
    }

    /// The most records held.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Instant;

    use leanp2p_identity::{Enr, Keypair};

    use crate::machine::{Config, Discv5, Event};
    use crate::node_id::NodeId;

    fn node(i: u8, config: &Config, now: Instant) -> (Discv5, SocketAddr) {
        let key = Keypair::from_secret_bytes(&[i; 32]).unwrap();
        let port = 9000 + u16::from(i);
        let enr = Enr::builder()
            .ip4(Ipv4Addr::LOCALHOST)
            .udp4(port)
            .build(&key)
            .unwrap();
        let machine = Discv5::new(now, config.clone(), key, enr, [i; 32]).unwrap();
        (machine, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
    }

    /// Moves datagrams between the machines until nothing moves; returns the events.
    fn pump(nodes: &mut [(Discv5, SocketAddr)], now: Instant) -> Vec<Event> {
        let mut events = Vec::new();
        for _ in 0..32 {
            let mut moved = false;
            for i in 0..nodes.len() {
                while let Some(t) = nodes[i].0.poll_transmit() {
                    moved = true;
                    let from = nodes[i].1;
                    if let Some(to) = nodes.iter_mut().find(|(_, a)| *a == t.dest) {
                        to.0.handle_packet(now, from, &t.bytes);
                    }
                }
                while let Some(event) = nodes[i].0.poll_event() {
                    events.push(event);
                }
            }
            if !moved {
                break;
            }
        }
        events
    }

    /// A answers with C's record twice: the second time it comes from the cache, and
    /// both answers carry the same record. With the cache off nothing is cached.
    fn records_cached(capacity: usize) -> u64 {
        let now = Instant::now();
        let config = Config {
            table_ip_limits: None,
            verified_record_cache: capacity,
            ..Config::default()
        };
        let mut nodes: Vec<_> = (1..=3).map(|i| node(i, &config, now)).collect();
        let (a_id, b_id, c_id) = (
            nodes[0].0.local_id(),
            nodes[1].0.local_id(),
            nodes[2].0.local_id(),
        );
        // B and C ping A: A's table holds both.
        for i in [1, 2] {
            let a_enr = nodes[0].0.local_enr().clone();
            nodes[i].0.add_enr(a_enr).unwrap();
            nodes[i].0.ping(now, a_id).unwrap();
            pump(&mut nodes, now);
        }
        assert!(nodes[0].0.table().get(&c_id).is_some());
        let distance = NodeId(c_id.0).log_distance(&a_id);
        let mut answers = Vec::new();
        for _ in 0..2 {
            nodes[1].0.find_node(now, a_id, &[distance]).unwrap();
            for event in pump(&mut nodes, now) {
                if let Event::Nodes { enrs, .. } = event {
                    answers.push(enrs);
                }
            }
        }
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0], answers[1]);
        assert!(answers[0].iter().any(|e| NodeId(e.node_id()) == c_id));
        assert_ne!(b_id, c_id);
        nodes[1].0.stats().nodes_records_cached
    }

    #[test]
    fn an_unchanged_record_is_verified_once() {
        assert!(records_cached(16) >= 1);
        assert_eq!(records_cached(0), 0);
    }

    #[test]
    fn the_cache_starts_over_when_full() {
        let key = |i: u8| Keypair::from_secret_bytes(&[i; 32]).unwrap();
        let record = |i: u8| Enr::builder().udp4(9000).build(&key(i)).unwrap();
        let mut cache = super::VerifiedRecords::new(2);
        for i in 1..=3 {
            cache.insert(&record(i));
        }
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(record(3).to_rlp()), Some(record(3)));
        assert_eq!(cache.get(record(1).to_rlp()), None);
        let mut off = super::VerifiedRecords::new(0);
        off.insert(&record(1));
        assert_eq!(off.len(), 0);
    }
}
