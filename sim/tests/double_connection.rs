//! Double connections (simultaneous dial): two nodes that each keep the other as a
//! known peer end up with two legs. Each side writes its one `/meshsub` stream on the
//! leg it dialled; when that leg dies, gossip moves to the surviving leg, the outbound
//! leg is redialled (a live inbound leg does not suppress it), gossip moves back, and
//! every message arrives exactly once throughout.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use leanp2p_host::{ConnId, Direction, NodeEvent, TopicHash};
use leanp2p_sim::{LinkConfig, NodeIdx, Sim};

use common::*;

fn outbound_connects(sim: &Sim, idx: NodeIdx) -> usize {
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

/// The leg of `idx` to `other` in direction `direction`, if established.
fn leg(sim: &Sim, idx: NodeIdx, other: NodeIdx, direction: Direction) -> Option<ConnId> {
    let node = sim.node(idx)?;
    node.connections_to(&sim.peer_id(other))
        .into_iter()
        .find(|c| node.endpoint().direction(*c) == Some(direction))
}

/// Both nodes use exactly one outbound `/meshsub` stream to each other.
fn one_gossip_stream_each(sim: &Sim, a: NodeIdx, b: NodeIdx) -> bool {
    let (pa, pb) = (sim.peer_id(a), sim.peer_id(b));
    sim.node(a).unwrap().gossip_stream_count(&pb) <= 1
        && sim.node(b).unwrap().gossip_stream_count(&pa) <= 1
}

/// Runs `d`, checking after every step that no side ever has two gossip streams.
fn run_checked(sim: &mut Sim, a: NodeIdx, b: NodeIdx, d: Duration) {
    let mut ok = true;
    sim.run_until_condition(d, |sim| {
        ok &= one_gossip_stream_each(sim, a, b);
        !ok
    })
    .unwrap();
    assert!(ok, "a node used two gossip streams to one peer");
}

#[test]
fn double_connection_keeps_one_gossip_stream_and_survives_losing_a_leg() {
    let (mut sim, nodes) = sim_with(91, 2, LinkConfig::default());
    let (a, b) = (nodes[0], nodes[1]);
    let topic = TopicHash::new("/leanconsensus/sim/block/ssz_snappy");
    for &n in &nodes {
        sim.subscribe(n, &topic).unwrap();
    }
    // Each keeps the other as a known peer: both dial at once.
    for (from, to) in [(a, b), (b, a)] {
        let (peer, addr) = (sim.peer_id(to), sim.addr(to));
        sim.with_node(from, |node, now| node.add_known_peer(now, peer, addr))
            .unwrap()
            .unwrap();
    }
    let up = sim
        .run_until_condition(Duration::from_secs(5), |sim| {
            [(a, b), (b, a)].iter().all(|&(x, y)| {
                leg(sim, x, y, Direction::Outbound).is_some()
                    && leg(sim, x, y, Direction::Inbound).is_some()
            }) && gossip_up(sim, a, b)
        })
        .unwrap();
    assert!(up, "the double connection did not come up");
    run_checked(&mut sim, a, b, Duration::from_secs(3));

    // Each side gossips on the leg it dialled.
    for (x, y) in [(a, b), (b, a)] {
        let node = sim.node(x).unwrap();
        let peer = sim.peer_id(y);
        assert_eq!(node.gossip_stream_count(&peer), 1);
        assert_eq!(
            node.gossip_connection(&peer),
            leg(&sim, x, y, Direction::Outbound)
        );
    }

    let mut sent = Vec::new();
    let mut tag = 0;
    let mut publish_round = |sim: &mut Sim, sent: &mut Vec<(NodeIdx, bytes::Bytes)>| {
        for &from in &[a, b] {
            let data = payload(tag, 2_000);
            tag += 1;
            sim.publish(from, &topic, data.clone()).unwrap();
            sent.push((from, data));
        }
    };
    for _ in 0..5 {
        publish_round(&mut sim, &mut sent);
        run_checked(&mut sim, a, b, Duration::from_millis(200));
    }

    // Node a drops the leg it dialled (which carries its gossip stream).
    let dialled = leg(&sim, a, b, Direction::Outbound).unwrap();
    sim.with_node(a, |node, now| node.close_connection(now, dialled))
        .unwrap()
        .unwrap();
    let (pa, pb) = (sim.peer_id(a), sim.peer_id(b));
    // Gossip moves to the surviving (inbound) leg at once; messages keep flowing.
    for _ in 0..3 {
        run_checked(&mut sim, a, b, Duration::from_millis(100));
        publish_round(&mut sim, &mut sent);
    }
    assert!(sim.node(a).unwrap().is_connected(&pb));
    assert!(sim.node(b).unwrap().is_connected(&pa));
    // Before the redial (1 s backoff), a's stream runs on the surviving inbound leg.
    assert_eq!(leg(&sim, a, b, Direction::Outbound), None);
    assert_eq!(
        sim.node(a).unwrap().gossip_connection(&pb),
        leg(&sim, a, b, Direction::Inbound)
    );
    assert_eq!(sim.node(a).unwrap().gossip_stream_count(&pb), 1);

    // The outbound leg is redialled although the inbound one is alive, and our gossip
    // stream moves back to it.
    let redialled = sim
        .run_until_condition(Duration::from_secs(5), |sim| {
            outbound_connects(sim, a) == 2
                && sim.node(a).unwrap().gossip_connection(&pb)
                    == leg(sim, a, b, Direction::Outbound)
                && sim.node(a).unwrap().gossip_stream_count(&pb) == 1
        })
        .unwrap();
    assert!(redialled, "the dropped outbound leg was not redialled");
    assert_ne!(leg(&sim, a, b, Direction::Outbound), Some(dialled));
    for _ in 0..5 {
        publish_round(&mut sim, &mut sent);
        run_checked(&mut sim, a, b, Duration::from_millis(200));
    }

    assert!(
        wait_delivered(&mut sim, &nodes, &topic, &sent, Duration::from_secs(5)),
        "some messages were lost"
    );
    run_checked(&mut sim, a, b, Duration::from_secs(2));
    assert_exactly_once(&sim, &nodes, &topic, &sent);
    // No frame was dropped on the way: frames queued while gossip moved waited in
    // the peer's lanes.
    for &n in &nodes {
        let counters = sim.node(n).unwrap().stats().counters;
        assert_eq!(counters.gossip_frames_dropped, 0);
        assert_eq!(counters.gossip_forwards_dropped, 0);
        assert_eq!(counters.gossip_priority_dropped, 0);
    }
    // Node b never lost its own outbound leg and never redialled.
    assert_eq!(outbound_connects(&sim, b), 1);
    for (x, y) in [(a, b), (b, a)] {
        assert_eq!(
            sim.node(x).unwrap().connections_to(&sim.peer_id(y)).len(),
            2
        );
    }
}
