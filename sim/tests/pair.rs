//! Two nodes: connect, identify both ways, gossip both ways.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use leanp2p_host::{NodeEvent, TopicHash};
use leanp2p_sim::LinkConfig;

use common::*;

#[test]
fn two_nodes_connect_identify_and_gossip_both_ways() {
    let (mut sim, nodes) = sim_with(1, 2, LinkConfig::default());
    let (a, b) = (nodes[0], nodes[1]);
    sim.dial(a, b).unwrap();

    let identified = |sim: &leanp2p_sim::Sim, me, them| {
        let peer = sim.peer_id(them);
        sim.events(me)
            .iter()
            .any(|e| matches!(e, NodeEvent::Identified { peer: p, .. } if *p == peer))
    };
    let done = sim
        .run_until_condition(Duration::from_secs(5), |sim| {
            identified(sim, a, b) && identified(sim, b, a)
        })
        .unwrap();
    assert!(done, "identify did not complete both ways");
    for (me, them) in [(a, b), (b, a)] {
        assert!(sim.events(me).iter().any(|e| matches!(
            e,
            NodeEvent::Connected { peer, remote, .. }
                if *peer == sim.peer_id(them) && *remote == sim.addr(them)
        )));
        let info = sim
            .node(me)
            .unwrap()
            .peer_info(&sim.peer_id(them))
            .unwrap()
            .clone();
        assert!(info.supports(leanp2p_host::IDENTIFY_PROTOCOL));
        assert!(info.supports("/meshsub/1.1.0"));
        assert_eq!(info.public_key.unwrap().to_peer_id(), sim.peer_id(them));
    }
    // Connected well within a few round trips of 10 ms one way.
    assert!(
        sim.elapsed() < Duration::from_millis(500),
        "{:?}",
        sim.elapsed()
    );

    let topic = TopicHash::new("/leanconsensus/sim/block/ssz_snappy");
    subscribe_all(&mut sim, &nodes, &topic);
    let sent = vec![
        (a, payload(1, 1024)),
        (b, payload(2, 1024)),
        (a, payload(3, 300 * 1024)),
        (b, payload(4, 300 * 1024)),
    ];
    for (from, data) in &sent {
        sim.publish(*from, &topic, data.clone()).unwrap();
    }
    assert!(
        wait_delivered(&mut sim, &nodes, &topic, &sent, Duration::from_secs(10)),
        "messages not delivered"
    );
    sim.run_for(Duration::from_secs(2)).unwrap();
    assert_exactly_once(&sim, &nodes, &topic, &sent);
    assert_eq!(sim.stats().lost, 0);
}

#[test]
fn small_mtu_drops_discovery_probes_but_traffic_flows() {
    let link = LinkConfig {
        mtu: 1250,
        ..LinkConfig::default()
    };
    let (mut sim, nodes) = sim_with(2, 2, link);
    connect(&mut sim, &[(nodes[0], nodes[1])]);
    let topic = TopicHash::new("mtu");
    subscribe_all(&mut sim, &nodes, &topic);
    let sent = vec![(nodes[0], payload(7, 100 * 1024))];
    sim.publish(nodes[0], &topic, sent[0].1.clone()).unwrap();
    assert!(wait_delivered(
        &mut sim,
        &nodes,
        &topic,
        &sent,
        Duration::from_secs(10)
    ));
    assert!(
        sim.stats().too_big > 0,
        "no datagram exceeded the MTU: {:?}",
        sim.stats()
    );
}

#[test]
fn bandwidth_limit_slows_a_large_message() {
    let link = LinkConfig {
        bandwidth_bytes_per_sec: Some(1_000_000),
        ..LinkConfig::default()
    };
    let (mut sim, nodes) = sim_with(3, 2, link);
    connect(&mut sim, &[(nodes[0], nodes[1])]);
    let topic = TopicHash::new("bw");
    subscribe_all(&mut sim, &nodes, &topic);
    let sent = vec![(nodes[0], payload(8, 500 * 1024))];
    let start = sim.elapsed();
    sim.publish(nodes[0], &topic, sent[0].1.clone()).unwrap();
    assert!(wait_delivered(
        &mut sim,
        &nodes,
        &topic,
        &sent,
        Duration::from_secs(20)
    ));
    let took = sim.elapsed() - start;
    // 512 000 bytes at 1 MB/s is 0.512 s of serialization at the very least.
    assert!(took >= Duration::from_millis(512), "took {took:?}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn run_until_idle_settles_and_reports_livelock_when_out_of_steps() {
    let (mut sim, nodes) = sim_with(4, 2, LinkConfig::default());
    sim.dial(nodes[0], nodes[1]).unwrap();
    assert!(sim.in_flight() > 0);
    let err = sim.run_until_idle(0).unwrap_err();
    assert_eq!(err.steps, 0);
    sim.run_until_idle(10_000).unwrap();
    assert_eq!(sim.in_flight(), 0);
    assert!(sim
        .events(nodes[0])
        .iter()
        .any(|e| matches!(e, NodeEvent::Connected { .. })));
    // Idle means nothing due now; the nodes still have timers for later.
    assert!(sim.next_wakeup().is_some_and(|t| t > sim.now()));
}

#[test]
fn crashed_node_drops_datagrams_and_restart_keeps_identity() {
    let (mut sim, nodes) = sim_with(5, 2, LinkConfig::default());
    let (a, b) = (nodes[0], nodes[1]);
    let peer_b = sim.peer_id(b);
    sim.dial(a, b).unwrap();
    sim.crash(b).unwrap();
    assert!(matches!(
        sim.crash(b),
        Err(leanp2p_sim::SimError::Crashed(_))
    ));
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert!(sim.stats().undeliverable > 0);
    assert_eq!(sim.stats().delivered, 0);
    sim.restart(b).unwrap();
    assert!(matches!(
        sim.restart(b),
        Err(leanp2p_sim::SimError::Running(_))
    ));
    assert_eq!(sim.node(b).unwrap().local_peer_id(), peer_b);
    connect(&mut sim, &[(a, b)]);
}

#[test]
fn tail_drops_at_a_small_link_queue_are_recovered() {
    let link = LinkConfig {
        bandwidth_bytes_per_sec: Some(2_000_000),
        queue_bytes: Some(16 * 1024),
        ..LinkConfig::default()
    };
    let (mut sim, nodes) = sim_with(6, 2, link);
    connect(&mut sim, &[(nodes[0], nodes[1])]);
    let topic = TopicHash::new("queue");
    subscribe_all(&mut sim, &nodes, &topic);
    let sent = vec![
        (nodes[0], payload(9, 300 * 1024)),
        (nodes[1], payload(10, 300 * 1024)),
    ];
    for (from, data) in &sent {
        sim.publish(*from, &topic, data.clone()).unwrap();
    }
    assert!(wait_delivered(
        &mut sim,
        &nodes,
        &topic,
        &sent,
        Duration::from_secs(20)
    ));
    assert!(
        sim.stats().queue_full > 0,
        "the queue never overflowed: {:?}",
        sim.stats()
    );
    sim.run_for(Duration::from_secs(2)).unwrap();
    assert_exactly_once(&sim, &nodes, &topic, &sent);
}
