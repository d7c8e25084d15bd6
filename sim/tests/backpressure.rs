//! Slow-peer backpressure: a peer behind a thin link does not hold back the others,
//! and still receives everything once its link catches up.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use leanp2p_host::TopicHash;
use leanp2p_sim::LinkConfig;

use common::*;

#[test]
fn slow_peer_does_not_hold_back_fast_peers_and_catches_up() {
    let (mut sim, nodes) = sim_with(40, 4, LinkConfig::default());
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
    let mut sent = Vec::new();
    for i in 0..20 {
        let data = payload(i, 100 * 1024);
        sim.publish(nodes[0], &topic, data.clone()).unwrap();
        sent.push((nodes[0], data));
        sim.run_for(Duration::from_millis(20)).unwrap();
    }
    assert!(
        wait_delivered(&mut sim, &nodes[..3], &topic, &sent, Duration::from_secs(2)),
        "fast peers were held back by the slow one"
    );
    let slow_so_far = received(&sim, slow, &topic).len();
    assert!(slow_so_far < sent.len(), "the thin link was not thin");

    assert!(
        wait_delivered(&mut sim, &[slow], &topic, &sent, Duration::from_secs(120)),
        "the slow peer never caught up"
    );
    sim.run_for(Duration::from_secs(2)).unwrap();
    assert_exactly_once(&sim, &nodes, &topic, &sent);
}
