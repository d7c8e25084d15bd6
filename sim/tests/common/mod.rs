//! Helpers shared by the sim integration tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use leanp2p_host::{Config, NodeEvent, TopicHash};
use leanp2p_sim::{LinkConfig, NodeIdx, Sim};

/// A sim with `n` default-config nodes and `link` as the default link.
pub fn sim_with(seed: u64, n: usize, link: LinkConfig) -> (Sim, Vec<NodeIdx>) {
    let mut sim = Sim::new(seed);
    sim.set_default_link(link);
    let nodes = (0..n)
        .map(|_| sim.add_node(Config::default()).unwrap())
        .collect();
    (sim, nodes)
}

/// Deterministic, unique payload of `len` bytes for message number `tag`.
pub fn payload(tag: u32, len: usize) -> Bytes {
    let mut data = Vec::with_capacity(len);
    let mut x = tag.wrapping_mul(2_654_435_761).wrapping_add(1);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    data[..4].copy_from_slice(&tag.to_be_bytes());
    Bytes::from(data)
}

/// Gossip payloads node `idx` received on `topic`, in order.
pub fn received(sim: &Sim, idx: NodeIdx, topic: &TopicHash) -> Vec<Bytes> {
    sim.events(idx)
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Message { topic: t, data, .. } if t == topic => Some(data.clone()),
            _ => None,
        })
        .collect()
}

/// How many times node `idx` received each payload on `topic`.
pub fn receive_counts(sim: &Sim, idx: NodeIdx, topic: &TopicHash) -> BTreeMap<Bytes, usize> {
    let mut counts = BTreeMap::new();
    for data in received(sim, idx, topic) {
        *counts.entry(data).or_insert(0) += 1;
    }
    counts
}

/// Whether `a` and `b` have each other as gossipsub peers.
pub fn gossip_up(sim: &Sim, a: NodeIdx, b: NodeIdx) -> bool {
    let (pa, pb) = (sim.peer_id(a), sim.peer_id(b));
    sim.node(a).is_some_and(|n| n.gossipsub().is_connected(&pb))
        && sim.node(b).is_some_and(|n| n.gossipsub().is_connected(&pa))
}

/// Dials every pair in `edges` and waits (bounded) for gossip to come up on all of them.
pub fn connect(sim: &mut Sim, edges: &[(NodeIdx, NodeIdx)]) {
    for &(a, b) in edges {
        sim.dial(a, b).unwrap();
    }
    let edges = edges.to_vec();
    let up = sim
        .run_until_condition(Duration::from_secs(10), |sim| {
            edges.iter().all(|&(a, b)| gossip_up(sim, a, b))
        })
        .unwrap();
    assert!(up, "gossip did not come up on every edge");
}

/// A ring plus chords `i -> i + 3` (more than 6 nodes): degree 4, small diameter.
pub fn ring_with_chords(nodes: &[NodeIdx]) -> Vec<(NodeIdx, NodeIdx)> {
    if nodes.len() > 6 {
        circulant(nodes, &[1, 3])
    } else {
        circulant(nodes, &[1])
    }
}

/// Node `i` dials node `i + k` (mod n) for every `k` in `offsets`.
pub fn circulant(nodes: &[NodeIdx], offsets: &[usize]) -> Vec<(NodeIdx, NodeIdx)> {
    let n = nodes.len();
    let mut edges = Vec::new();
    for i in 0..n {
        for &k in offsets {
            edges.push((nodes[i], nodes[(i + k) % n]));
        }
    }
    edges
}

/// Subscribes every node to `topic` and lets heartbeats build the mesh.
pub fn subscribe_all(sim: &mut Sim, nodes: &[NodeIdx], topic: &TopicHash) {
    for &idx in nodes {
        sim.subscribe(idx, topic).unwrap();
    }
    sim.run_for(Duration::from_secs(3)).unwrap();
}

/// Runs until every node in `nodes` except the publisher of each message has received
/// all of `sent` (publisher, payload), bounded by `limit` of virtual time. Scans each
/// node's new events only, so the check stays cheap when run after every step.
pub fn wait_delivered(
    sim: &mut Sim,
    nodes: &[NodeIdx],
    topic: &TopicHash,
    sent: &[(NodeIdx, Bytes)],
    limit: Duration,
) -> bool {
    let topic = topic.clone();
    let mut scanned = vec![0usize; nodes.len()];
    let mut missing: Vec<BTreeSet<Bytes>> = nodes
        .iter()
        .map(|&idx| {
            sent.iter()
                .filter(|(from, _)| *from != idx)
                .map(|(_, data)| data.clone())
                .collect()
        })
        .collect();
    let nodes = nodes.to_vec();
    sim.run_until_condition(limit, |sim| {
        for (k, &idx) in nodes.iter().enumerate() {
            let events = sim.events(idx);
            // drain_events elsewhere may shrink the log; rescan from the start then.
            if scanned[k] > events.len() {
                scanned[k] = 0;
            }
            for event in &events[scanned[k]..] {
                if let NodeEvent::Message { topic: t, data, .. } = event {
                    if *t == topic {
                        missing[k].remove(data);
                    }
                }
            }
            scanned[k] = events.len();
        }
        missing.iter().all(BTreeSet::is_empty)
    })
    .unwrap()
}

/// Asserts every node got each message of `sent` exactly once (never its own).
pub fn assert_exactly_once(
    sim: &Sim,
    nodes: &[NodeIdx],
    topic: &TopicHash,
    sent: &[(NodeIdx, Bytes)],
) {
    for &idx in nodes {
        let counts = receive_counts(sim, idx, topic);
        for (from, data) in sent {
            let expected = usize::from(*from != idx);
            assert_eq!(
                counts.get(data).copied().unwrap_or(0),
                expected,
                "node {idx} got message {:?} from {from} a wrong number of times",
                &data[..4]
            );
        }
        assert_eq!(
            counts.values().sum::<usize>(),
            sent.iter().filter(|(from, _)| *from != idx).count(),
            "node {idx} received unexpected messages"
        );
    }
}
