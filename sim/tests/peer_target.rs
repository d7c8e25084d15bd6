//! The peer target across a network: every node knows every address, wants three
//! peers, and dials no more than it needs.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use leanp2p_host::{Config, ConnManagerConfig, Direction, NodeEvent, TopicHash};
use leanp2p_sim::{NodeIdx, Sim};

use common::*;

const NODES: usize = 8;
const TARGET: usize = 3;

fn outbound_dials(sim: &Sim, idx: NodeIdx) -> usize {
    sim.events(idx)
        .iter()
        .filter(|e| {
            matches!(
                e,
                NodeEvent::Connected {
                    direction: Direction::Outbound,
                    ..
                }
            )
        })
        .count()
}

#[test]
fn nodes_reach_their_peer_target_from_address_books_and_gossip() {
    let mut sim = Sim::new(77);
    let mut config = Config::default();
    let mut cm = ConnManagerConfig::default();
    cm.target_peers = TARGET;
    config.conn_manager(cm);
    let nodes: Vec<NodeIdx> = (0..NODES)
        .map(|_| sim.add_node(config.clone()).unwrap())
        .collect();
    let topic = TopicHash::new("/leanconsensus/sim/block/ssz_snappy");
    for &n in &nodes {
        sim.subscribe(n, &topic).unwrap();
    }
    for &n in &nodes {
        for &m in &nodes {
            if n != m {
                let (peer, addr) = (sim.peer_id(m), sim.addr(m));
                let added = sim
                    .with_node(n, |node, now| node.add_peer_address(now, peer, addr))
                    .unwrap()
                    .unwrap();
                assert!(added);
            }
        }
    }
    let reached = sim
        .run_until_condition(Duration::from_secs(10), |sim| {
            nodes
                .iter()
                .all(|&n| sim.node(n).unwrap().stats().connected_peers >= TARGET)
        })
        .unwrap();
    assert!(reached, "not every node reached its target");
    sim.run_for(Duration::from_secs(20)).unwrap();
    for &n in &nodes {
        let stats = sim.node(n).unwrap().stats();
        assert!(
            stats.connected_peers >= TARGET,
            "{n}: {}",
            stats.connected_peers
        );
        // A node dials only while under its target: at most TARGET dials, never a
        // failed one (every address is good).
        assert!(
            outbound_dials(&sim, n) <= TARGET,
            "{n} dialled {}",
            outbound_dials(&sim, n)
        );
        assert!(!sim
            .events(n)
            .iter()
            .any(|e| matches!(e, NodeEvent::DialFailed { .. })));
    }
    // The resulting graph carries gossip to everyone.
    let data = payload(1, 1_000);
    sim.publish(nodes[0], &topic, data.clone()).unwrap();
    let sent = vec![(nodes[0], data)];
    assert!(wait_delivered(
        &mut sim,
        &nodes,
        &topic,
        &sent,
        Duration::from_secs(5)
    ));
    assert_exactly_once(&sim, &nodes, &topic, &sent);
}
