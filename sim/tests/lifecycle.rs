//! Crash and restart: known peers redial, the mesh reconverges, gossip flows again.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use leanp2p_host::{DisconnectReason, NodeEvent, TopicHash};
use leanp2p_sim::{LinkConfig, NodeIdx, Sim};

use common::*;

/// Node `i` keeps an outbound connection to node `i + 1` (a ring of known peers).
fn add_known_next(sim: &mut Sim, nodes: &[NodeIdx], i: usize) {
    let next = nodes[(i + 1) % nodes.len()];
    let (peer, addr) = (sim.peer_id(next), sim.addr(next));
    sim.with_node(nodes[i], |node, now| node.add_known_peer(now, peer, addr))
        .unwrap()
        .unwrap();
}

#[test]
fn crashed_node_is_redialled_after_restart_and_gossip_reconverges() {
    let (mut sim, nodes) = sim_with(20, 5, LinkConfig::default());
    for i in 0..nodes.len() {
        add_known_next(&mut sim, &nodes, i);
    }
    let ring: Vec<_> = circulant(&nodes, &[1]);
    let up = sim
        .run_until_condition(Duration::from_secs(10), |sim| {
            ring.iter().all(|&(a, b)| gossip_up(sim, a, b))
        })
        .unwrap();
    assert!(up, "known-peer ring did not connect");
    let topic = TopicHash::new("/leanconsensus/sim/block/ssz_snappy");
    subscribe_all(&mut sim, &nodes, &topic);

    let victim = nodes[2];
    sim.crash(victim).unwrap();
    assert!(sim.node(victim).is_none());
    assert!(sim.publish(victim, &topic, payload(0, 10)).is_err());
    // QUIC's idle timeout (10 s) notices the silent peer.
    sim.run_for(Duration::from_secs(20)).unwrap();
    for neighbour in [nodes[1], nodes[3]] {
        assert!(!gossip_up(&sim, neighbour, victim));
        assert!(sim.events(neighbour).iter().any(|e| matches!(
            e,
            NodeEvent::Disconnected { peer, reason: DisconnectReason::Transport(_), .. }
                if *peer == sim.peer_id(victim)
        )));
    }
    // The survivors still gossip among themselves meanwhile.
    let survivors: Vec<_> = nodes.iter().copied().filter(|&n| n != victim).collect();
    let during = vec![(nodes[0], payload(1, 700))];
    sim.publish(nodes[0], &topic, during[0].1.clone()).unwrap();
    assert!(wait_delivered(
        &mut sim,
        &survivors,
        &topic,
        &during,
        Duration::from_secs(5)
    ));

    sim.restart(victim).unwrap();
    assert!(sim.is_up(victim));
    // A restarted client re-adds its known peers and topics.
    add_known_next(&mut sim, &nodes, 2);
    sim.subscribe(victim, &topic).unwrap();
    // nodes[1] redials the victim on its own (backoff at most 60 s).
    let edges = [(nodes[1], victim), (victim, nodes[3])];
    let back = sim
        .run_until_condition(Duration::from_secs(90), |sim| {
            edges.iter().all(|&(a, b)| gossip_up(sim, a, b))
        })
        .unwrap();
    assert!(back, "the restarted node was not reconnected");
    sim.run_for(Duration::from_secs(3)).unwrap();

    let before: Vec<_> = nodes
        .iter()
        .map(|&n| received(&sim, n, &topic).len())
        .collect();
    let after = vec![(victim, payload(2, 2048)), (nodes[0], payload(3, 2048))];
    for (from, data) in &after {
        sim.publish(*from, &topic, data.clone()).unwrap();
    }
    assert!(wait_delivered(
        &mut sim,
        &nodes,
        &topic,
        &after,
        Duration::from_secs(5)
    ));
    sim.run_for(Duration::from_secs(3)).unwrap();
    for (i, &n) in nodes.iter().enumerate() {
        let got = received(&sim, n, &topic);
        let expected = after.iter().filter(|(from, _)| *from != n).count();
        assert_eq!(got.len() - before[i], expected, "node {n} after restart");
    }
}

/// Every node `i` knows `i + 1` and `i + 3` (so each has degree 4).
fn add_known_chords(sim: &mut Sim, nodes: &[NodeIdx]) {
    for i in 0..nodes.len() {
        for offset in [1, 3] {
            let next = nodes[(i + offset) % nodes.len()];
            let (peer, addr) = (sim.peer_id(next), sim.addr(next));
            sim.with_node(nodes[i], |node, now| node.add_known_peer(now, peer, addr))
                .unwrap()
                .unwrap();
        }
    }
}

#[test]
fn thirty_two_nodes_all_restart_and_reconverge_to_a_full_mesh() {
    let (mut sim, nodes) = sim_with(32, 32, LinkConfig::default());
    let topic = TopicHash::new("/leanconsensus/sim/block/ssz_snappy");
    let edges = circulant(&nodes, &[1, 3]);
    let all_up = |sim: &Sim| edges.iter().all(|&(a, b)| gossip_up(sim, a, b));

    add_known_chords(&mut sim, &nodes);
    assert!(sim
        .run_until_condition(Duration::from_secs(30), all_up)
        .unwrap());
    subscribe_all(&mut sim, &nodes, &topic);
    sim.run_for(Duration::from_secs(3)).unwrap();

    // Every node goes down, then every node comes back as a fresh process.
    for &n in &nodes {
        sim.crash(n).unwrap();
    }
    sim.run_for(Duration::from_secs(2)).unwrap();
    for &n in &nodes {
        sim.restart(n).unwrap();
        sim.drain_events(n);
    }
    add_known_chords(&mut sim, &nodes);
    subscribe_all(&mut sim, &nodes, &topic);
    let back = sim
        .run_until_condition(Duration::from_secs(120), all_up)
        .unwrap();
    assert!(
        back,
        "the restarted network did not reconnect every known edge"
    );
    // A few heartbeats (700 ms) let the meshes fill.
    sim.run_for(Duration::from_secs(5)).unwrap();
    for &n in &nodes {
        let mesh = sim.node(n).unwrap().gossipsub().mesh_peers(&topic).count();
        assert_eq!(
            mesh, 4,
            "node {n}: every connected subscriber is in the mesh (degree 4 < D_lo)"
        );
    }

    let sent: Vec<_> = (0..4u32)
        .map(|k| {
            (
                nodes[(k as usize * 8) % nodes.len()],
                payload(100 + k, 4096),
            )
        })
        .collect();
    for (from, data) in &sent {
        sim.publish(*from, &topic, data.clone()).unwrap();
    }
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
