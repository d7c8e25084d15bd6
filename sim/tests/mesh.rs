//! Multi-node gossip: mesh delivery, lossy and reordering links, partition and heal.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use leanp2p_host::TopicHash;
use leanp2p_sim::{LinkConfig, NodeIdx, Sim};

use common::*;

fn topic() -> TopicHash {
    TopicHash::new("/leanconsensus/sim/attestation/ssz_snappy")
}

/// Each node publishes `per_node` messages of `len` bytes, 50 ms apart.
fn publish_round(
    sim: &mut Sim,
    nodes: &[NodeIdx],
    topic: &TopicHash,
    first_tag: u32,
    per_node: u32,
    len: usize,
) -> Vec<(NodeIdx, bytes::Bytes)> {
    let mut sent = Vec::new();
    for round in 0..per_node {
        for (i, &idx) in nodes.iter().enumerate() {
            let tag = first_tag + round * nodes.len() as u32 + i as u32;
            let data = payload(tag, len);
            sim.publish(idx, topic, data.clone()).unwrap();
            sent.push((idx, data));
        }
        sim.run_for(Duration::from_millis(50)).unwrap();
    }
    sent
}

#[test]
fn ten_node_mesh_delivers_every_publish_exactly_once() {
    let (mut sim, nodes) = sim_with(10, 10, LinkConfig::default());
    connect(&mut sim, &ring_with_chords(&nodes));
    let topic = topic();
    subscribe_all(&mut sim, &nodes, &topic);
    for &idx in &nodes {
        let mesh = sim
            .node(idx)
            .unwrap()
            .gossipsub()
            .mesh_peers(&topic)
            .count();
        assert!(mesh >= 2, "node {idx} has a mesh of {mesh}");
    }
    let sent = publish_round(&mut sim, &nodes, &topic, 100, 3, 2048);
    assert!(wait_delivered(
        &mut sim,
        &nodes,
        &topic,
        &sent,
        Duration::from_secs(10)
    ));
    // Let IHAVE/IWANT gossip run: it must not cause duplicate deliveries.
    sim.run_for(Duration::from_secs(5)).unwrap();
    assert_exactly_once(&sim, &nodes, &topic, &sent);
}

#[test]
fn lossy_reordering_links_still_deliver_everything() {
    let link = LinkConfig {
        latency: Duration::from_millis(20),
        jitter: Duration::from_millis(15),
        loss: 0.10,
        ..LinkConfig::default()
    };
    let (mut sim, nodes) = sim_with(11, 8, link);
    connect(&mut sim, &ring_with_chords(&nodes));
    let topic = topic();
    subscribe_all(&mut sim, &nodes, &topic);
    let sent = publish_round(&mut sim, &nodes, &topic, 1_000, 2, 4096);
    assert!(
        wait_delivered(&mut sim, &nodes, &topic, &sent, Duration::from_secs(30)),
        "not every message arrived over 10% loss"
    );
    sim.run_for(Duration::from_secs(3)).unwrap();
    assert_exactly_once(&sim, &nodes, &topic, &sent);
    let stats = sim.stats();
    assert!(stats.lost > 0, "the link dropped nothing: {stats:?}");
    assert!(stats.reordered > 0, "the link reordered nothing: {stats:?}");
    let rate = stats.lost as f64 / (stats.lost + stats.delivered) as f64;
    assert!((0.05..0.15).contains(&rate), "loss rate {rate}");
}

#[test]
fn partition_then_heal_reconnects_and_delivers() {
    let (mut sim, nodes) = sim_with(12, 6, LinkConfig::default());
    connect(&mut sim, &ring_with_chords(&nodes));
    let topic = topic();
    subscribe_all(&mut sim, &nodes, &topic);
    let (left, right) = nodes.split_at(3);

    sim.partition(left, right);
    let sent = publish_round(&mut sim, left, &topic, 5_000, 1, 512);
    assert!(wait_delivered(
        &mut sim,
        left,
        &topic,
        &sent,
        Duration::from_secs(5)
    ));
    sim.run_for(Duration::from_secs(3)).unwrap();
    for &idx in right {
        assert!(
            received(&sim, idx, &topic).is_empty(),
            "node {idx} heard across the partition"
        );
    }
    // Long enough for QUIC's idle timeout (10 s) to close the cut connections.
    sim.run_for(Duration::from_secs(15)).unwrap();
    for &l in left {
        for &r in right {
            assert!(!gossip_up(&sim, l, r), "{l} and {r} still connected");
        }
    }

    sim.heal();
    // Nothing redials on its own (no known peers), so reconnect the cut edges.
    let cut: Vec<_> = ring_with_chords(&nodes)
        .into_iter()
        .filter(|(a, b)| left.contains(a) != left.contains(b))
        .collect();
    connect(&mut sim, &cut);
    sim.run_for(Duration::from_secs(3)).unwrap();
    let after = publish_round(&mut sim, &nodes, &topic, 6_000, 1, 512);
    assert!(wait_delivered(
        &mut sim,
        &nodes,
        &topic,
        &after,
        Duration::from_secs(10)
    ));
    let mut all = sent.clone();
    all.extend(after.iter().cloned());
    // The partition-time messages stay on the left: they are not re-sent after heal.
    for &idx in right {
        let counts = receive_counts(&sim, idx, &topic);
        for (_, data) in &sent {
            assert!(!counts.contains_key(data));
        }
    }
    assert_exactly_once(&sim, left, &topic, &all);
    assert_exactly_once(&sim, right, &topic, &after);
    assert!(sim.stats().partitioned > 0);
}

#[test]
fn fifty_node_mesh_delivers_every_publish_exactly_once() {
    let (mut sim, nodes) = sim_with(50, 50, LinkConfig::default());
    connect(&mut sim, &circulant(&nodes, &[1, 3, 7]));
    let topic = topic();
    subscribe_all(&mut sim, &nodes, &topic);
    let sent = publish_round(&mut sim, &nodes, &topic, 20_000, 1, 1024);
    assert!(wait_delivered(
        &mut sim,
        &nodes,
        &topic,
        &sent,
        Duration::from_secs(10)
    ));
    sim.run_for(Duration::from_secs(3)).unwrap();
    assert_exactly_once(&sim, &nodes, &topic, &sent);
}
