//! Slow-peer backpressure: a peer behind a thin link does not hold back the others,
//! still receives everything once its link catches up, and never makes a node hold
//! more than its per-peer buffer budget; a peer that stays behind while frames are
//! dropped for it is disconnected.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use leanp2p_host::{Config, DisconnectReason, Limits, NodeEvent, TopicHash};
use leanp2p_sim::{LinkConfig, NodeIdx, Sim};

use common::*;

#[test]
fn slow_peer_does_not_hold_back_fast_peers_and_catches_up() {
    let mut sim = Sim::new(40);
    let mut nodes: Vec<NodeIdx> = (0..3)
        .map(|_| sim.add_node(Config::default()).unwrap())
        .collect();
    nodes.push(sim.add_node(slow_reader(Config::default())).unwrap());
    let slow = nodes[3];
    for &n in &nodes[..3] {
        sim.link(
            n,
            slow,
            LinkConfig {
                bandwidth_bytes_per_sec: Some(50_000),
                ..LinkConfig::default()
            },
        );
    }
    connect(&mut sim, &circulant(&nodes, &[1, 2]));
    let topic = TopicHash::new("/leanconsensus/sim/block/ssz_snappy");
    subscribe_all(&mut sim, &nodes, &topic);

    // 20 x 100 KiB in 0.4 s: 2 MB, 40 s of the slow peer's links.
    let limits = Limits::default();
    let bound = limits.gossip_peer_buffer + limits.gossip_priority_reserve + SLACK;
    let mut peak = 0;
    let mut sent = Vec::new();
    for i in 0..20 {
        let data = payload(i, 100 * 1024);
        sim.publish(nodes[0], &topic, data.clone()).unwrap();
        sent.push((nodes[0], data));
        peak = peak.max(run_bounded(
            &mut sim,
            &nodes,
            bound,
            Duration::from_millis(20),
        ));
    }
    assert!(
        wait_delivered(&mut sim, &nodes[..3], &topic, &sent, Duration::from_secs(2)),
        "fast peers were held back by the slow one"
    );
    // The publisher really had to buffer for the slow peer.
    assert!(peak > 512 * 1024, "peak buffered {peak}");
    peak = peak.max(run_bounded(&mut sim, &nodes, bound, Duration::from_secs(1)));
    assert!(peak <= bound);
    let slow_so_far = received(&sim, slow, &topic).len();
    assert!(slow_so_far < sent.len(), "the thin link was not thin");

    assert!(
        wait_delivered(&mut sim, &[slow], &topic, &sent, Duration::from_secs(120)),
        "the slow peer never caught up"
    );
    sim.run_for(Duration::from_secs(2)).unwrap();
    assert_exactly_once(&sim, &nodes, &topic, &sent);
}

/// Slack over the gossip budget in the bound checks: one 100 KiB message frame (a frame
/// is never split) plus identify/ping/control bytes.
const SLACK: usize = 100 * 1024 + 16 * 1024;

/// The most bytes any node holds for any one peer right now.
fn max_buffered(sim: &Sim, nodes: &[NodeIdx]) -> usize {
    nodes
        .iter()
        .filter_map(|&n| sim.node(n))
        .flat_map(|node| {
            node.connected_peers()
                .map(|p| node.buffered_bytes(p))
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap_or(0)
}

/// Runs for `d`, asserting after every step that no node holds more than `bound`
/// bytes for one peer, and that the stats agree with the getter. Returns the peak.
fn run_bounded(sim: &mut Sim, nodes: &[NodeIdx], bound: usize, d: Duration) -> usize {
    let mut peak = 0;
    let mut worst = 0;
    sim.run_until_condition(d, |sim| {
        let now = max_buffered(sim, nodes);
        peak = peak.max(now);
        if now > bound {
            worst = now;
            return true;
        }
        false
    })
    .unwrap();
    assert_eq!(
        worst, 0,
        "a node buffered {worst} bytes for one peer (bound {bound})"
    );
    for &n in nodes {
        let node = sim.node(n).unwrap();
        let stats = node.stats();
        let sum: usize = node.connected_peers().map(|p| node.buffered_bytes(p)).sum();
        assert_eq!(stats.buffered_bytes_total, sum);
    }
    peak
}

/// A node that grants little QUIC flow-control credit, so its peers cannot hand
/// QUIC more than a few hundred KiB for it and the host's own buffers (the subject of
/// these tests) take the rest.
fn slow_reader(mut config: Config) -> Config {
    let mut quic = config.quic.clone();
    quic.stream_receive_window(256 * 1024)
        .receive_window(512 * 1024);
    config.quic(quic);
    config
}

fn tight_config() -> Config {
    let mut limits = Limits::default();
    limits.gossip_send_high_water = 64 * 1024;
    limits.gossip_peer_buffer = 256 * 1024;
    limits.gossip_priority_reserve = 64 * 1024;
    limits.slow_peer_disconnect = Some(Duration::from_secs(5));
    let mut config = Config::default();
    config.limits(limits);
    config
}

#[test]
fn slow_peer_over_a_tight_budget_is_bounded_then_disconnected() {
    let mut sim = Sim::new(41);
    let mut nodes: Vec<NodeIdx> = (0..3)
        .map(|_| sim.add_node(tight_config()).unwrap())
        .collect();
    nodes.push(sim.add_node(slow_reader(tight_config())).unwrap());
    let slow = nodes[3];
    for &n in &nodes[..3] {
        sim.link(
            n,
            slow,
            LinkConfig {
                bandwidth_bytes_per_sec: Some(50_000),
                ..LinkConfig::default()
            },
        );
    }
    connect(&mut sim, &circulant(&nodes, &[1, 2]));
    let topic = TopicHash::new("/leanconsensus/sim/block/ssz_snappy");
    subscribe_all(&mut sim, &nodes, &topic);
    let limits = sim.node(nodes[0]).unwrap().config().limits.clone();
    let bound = limits.gossip_peer_buffer + limits.gossip_priority_reserve + SLACK;

    // 50 KiB every 100 ms (0.5 MB/s) for 7 s: ten times what the slow links carry.
    let mut sent = Vec::new();
    let mut on_time = true;
    for i in 0..70 {
        let data = payload(i, 50 * 1024);
        sim.publish(nodes[0], &topic, data.clone()).unwrap();
        sent.push((nodes[0], data));
        run_bounded(&mut sim, &nodes, bound, Duration::from_millis(100));
        // The fast peers keep up: each message reached them within its 100 ms slot.
        on_time &= nodes[1..3]
            .iter()
            .all(|&n| received(&sim, n, &topic).len() == sent.len());
    }
    assert!(on_time, "the fast peers fell behind");
    assert_exactly_once(&sim, &nodes[..3], &topic, &sent);

    // Frames for the slow peer were dropped (and counted), and it was reported.
    let stats = sim.node(nodes[0]).unwrap().stats();
    assert!(
        stats.counters.gossip_priority_dropped + stats.counters.gossip_forwards_dropped > 0,
        "{:?}",
        stats.counters
    );
    let slow_peer = sim.peer_id(slow);
    assert!(sim
        .events(nodes[0])
        .iter()
        .any(|e| matches!(e, NodeEvent::SlowPeer { peer, .. } if *peer == slow_peer)));
    // The overflow lasted longer than slow_peer_disconnect: the slow peer was dropped
    // by at least one node, with the slow-peer reason.
    let disconnected = nodes[..3].iter().any(|&n| {
        sim.events(n).iter().any(|e| {
            matches!(
                e,
                NodeEvent::Disconnected { peer, reason: DisconnectReason::SlowPeer, .. }
                    if *peer == slow_peer
            )
        })
    });
    assert!(disconnected, "the slow peer was never disconnected");
    let received_by_slow = received(&sim, slow, &topic).len();
    assert!(
        received_by_slow < sent.len(),
        "the slow links were not slow"
    );
}

#[test]
fn publishing_faster_than_the_link_loses_nothing_silently_and_keeps_order() {
    use leanp2p_host::PublishError;
    use leanp2p_sim::SimError;
    // A thin link (256 KB/s) and a small priority budget: the application offers
    // 60 × 64 KiB at once, far faster than the link drains.
    let mut sim = Sim::new(41);
    let small_budget = |mut config: Config| {
        config.limits.gossip_peer_buffer = 256 * 1024;
        config.limits.gossip_send_high_water = 128 * 1024;
        config.limits.gossip_priority_reserve = 256 * 1024;
        // QUIC's own send buffer would otherwise swallow the whole burst.
        config.quic.send_window(256 * 1024);
        config
    };
    let nodes: Vec<NodeIdx> = (0..2)
        .map(|_| sim.add_node(small_budget(Config::default())).unwrap())
        .collect();
    sim.link(
        nodes[0],
        nodes[1],
        LinkConfig {
            bandwidth_bytes_per_sec: Some(256_000),
            ..LinkConfig::default()
        },
    );
    connect(&mut sim, &[(nodes[0], nodes[1])]);
    let topic = TopicHash::new("/leanconsensus/sim/block/ssz_snappy");
    subscribe_all(&mut sim, &nodes, &topic);

    let mut accepted = Vec::new();
    let mut refusals = 0;
    for i in 0..60 {
        let mut data = payload(i, 64 * 1024);
        loop {
            match sim.publish(nodes[0], &topic, data) {
                Ok(_) => break,
                Err(SimError::Publish(PublishError::Backpressure { data: back, .. })) => {
                    // Handed back: wait for PublishReady, then offer the same bytes.
                    refusals += 1;
                    data = back;
                    let seen = ready_events(&sim, nodes[0]);
                    assert!(sim
                        .run_until_condition(Duration::from_secs(30), |sim| {
                            ready_events(sim, nodes[0]) > seen
                        })
                        .unwrap());
                }
                Err(e) => panic!("publish {i}: {e}"),
            }
        }
        accepted.push(payload(i, 64 * 1024));
    }
    assert!(refusals > 0, "the link was not thin enough to push back");
    let dropped = sim
        .node(nodes[0])
        .unwrap()
        .stats()
        .counters
        .gossip_priority_dropped;
    assert_eq!(dropped, 0);
    assert!(sim
        .run_until_condition(Duration::from_secs(60), |sim| received(
            sim, nodes[1], &topic
        )
        .len()
            == accepted.len())
        .unwrap());
    assert_eq!(
        received(&sim, nodes[1], &topic),
        accepted,
        "all of it, in order"
    );
}

fn ready_events(sim: &Sim, idx: NodeIdx) -> usize {
    sim.events(idx)
        .iter()
        .filter(|e| matches!(e, NodeEvent::PublishReady))
        .count()
}
