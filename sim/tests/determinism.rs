//! The same seed gives the same trace; another seed gives another.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use leanp2p_host::TopicHash;
use leanp2p_sim::LinkConfig;

use common::*;

fn run(seed: u64) -> ([u8; 32], u64) {
    let link = LinkConfig {
        latency: Duration::from_millis(15),
        jitter: Duration::from_millis(10),
        loss: 0.05,
        ..LinkConfig::default()
    };
    let (mut sim, nodes) = sim_with(seed, 6, link);
    connect(&mut sim, &ring_with_chords(&nodes));
    let topic = TopicHash::new("/leanconsensus/sim/block/ssz_snappy");
    subscribe_all(&mut sim, &nodes, &topic);
    for (i, &idx) in nodes.iter().enumerate() {
        sim.publish(idx, &topic, payload(i as u32, 3000)).unwrap();
        sim.run_for(Duration::from_millis(30)).unwrap();
    }
    sim.run_for(Duration::from_secs(2)).unwrap();
    // Faults are part of the trace too: a partition, a crash and a restart.
    sim.partition(&nodes[..2], &nodes[2..]);
    sim.run_for(Duration::from_secs(3)).unwrap();
    sim.heal();
    sim.crash(nodes[4]).unwrap();
    sim.run_for(Duration::from_secs(2)).unwrap();
    sim.restart(nodes[4]).unwrap();
    sim.dial(nodes[4], nodes[0]).unwrap();
    sim.run_for(Duration::from_secs(5)).unwrap();
    (sim.trace_hash(), sim.trace_len())
}

#[test]
fn same_seed_same_trace_hash_other_seed_differs() {
    let (first, len) = run(42);
    let (second, len2) = run(42);
    assert!(len > 50, "trace too short to mean anything: {len}");
    assert_eq!(len, len2);
    assert_eq!(hex(&first), hex(&second));
    let (other, _) = run(43);
    assert_ne!(hex(&first), hex(&other));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
