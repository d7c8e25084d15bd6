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
