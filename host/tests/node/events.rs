//! The event queue under a peer that floods it while the application is not polling:
//! other peers' events are never pushed out, the flooding peer is paused instead of
//! dropped, and nothing is lost once the application drains.

use std::time::Duration;

use bytes::Bytes;

use leanp2p_host::{Config, NodeEvent, PeerId, TopicHash};
use leanp2p_testkit::Net;

const TOPIC: &str = "/leanconsensus/12345678/block/ssz_snappy";

fn messages_from(net: &Net, i: usize, from: PeerId) -> Vec<Bytes> {
    net.nodes[i]
        .events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Message {
                propagation_source,
                data,
                ..
            } if *propagation_source == from => Some(data.clone()),
            _ => None,
        })
        .collect()
}

/// Nodes 1.. connected to node 0, everyone subscribed to [`TOPIC`] and meshed with 0.
fn star(n: usize, config: impl Fn(usize) -> Config) -> (Net, TopicHash) {
    let mut net = crate::net(n, config);
    let topic = TopicHash::new(TOPIC);
    for i in 0..n {
        let now = net.time;
        net.nodes[i].node.subscribe(now, &topic).unwrap();
    }
    for i in 1..n {
        net.connect(i, 0).unwrap();
    }
    let t = topic.clone();
    assert!(net.run_until(Duration::from_secs(10), |net| {
        (1..n).all(|i| {
            let p = net.peer(i);
            net.nodes[0]
                .node
                .gossipsub()
                .mesh_peers(&t)
                .any(|m| *m == p)
        })
    }));
    (net, topic)
}

fn payload(len: usize, salt: u32) -> Bytes {
    let mut data = vec![0u8; len];
    data[..4].copy_from_slice(&salt.to_be_bytes());
    Bytes::from(data)
}

#[test]
fn subscription_churn_from_one_peer_does_not_push_out_another_peers_message() {
    // A small node-wide cap makes the old behaviour visible: the churn filled the
    // queue and the honest peer's message (already marked seen) was dropped for good.
    let (mut net, topic) = star(3, |i| {
        let mut config = Config::default();
        if i == 0 {
            config.limits.max_queued_events = 64;
        }
        config
    });
    net.nodes[0].hold_events = true;
    // Node 1 toggles 8 topics 100 times (1,600 subscription changes).
    for round in 0..100 {
        for k in 0..8 {
            let churn = TopicHash::new(&format!("/churn/{k}"));
            let now = net.time;
            if round % 2 == 0 {
                net.nodes[1].node.subscribe(now, &churn).unwrap();
            } else {
                net.nodes[1].node.unsubscribe(now, &churn).unwrap();
            }
        }
        net.drain(1);
        net.run_for(Duration::from_millis(20));
    }
    // Node 2 publishes while node 0's application is still not polling.
    let data = payload(1000, 7);
    let now = net.time;
    net.nodes[2]
        .node
        .publish(now, &topic, data.clone())
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let stats = net.nodes[0].node.stats();
    assert!(
        stats.queued_events <= 64,
        "queue holds {} events",
        stats.queued_events
    );
    net.nodes[0].hold_events = false;
    net.run_for(Duration::from_millis(100));
    let p2 = net.peer(2);
    assert_eq!(messages_from(&net, 0, p2), vec![data]);
    let counters = net.nodes[0].node.stats().counters;
    assert!(counters.events_collapsed > 0, "{counters:?}");
}

#[test]
fn a_flooding_peer_is_paused_not_dropped_and_other_peers_keep_flowing() {
    let (mut net, topic) = star(3, |i| {
        let mut config = Config::default();
        if i == 0 {
            config.limits.max_peer_queued_events = 16;
            config.limits.read_budget = 4096;
            config.limits.max_queued_events = 64;
        }
        config
    });
    net.nodes[0].hold_events = true;
    // Node 1 publishes 200 × 1 KiB while node 0's application is not polling.
    let sent: Vec<Bytes> = (0..200).map(|k| payload(1024, k)).collect();
    for data in &sent {
        let now = net.time;
        net.nodes[1]
            .node
            .publish(now, &topic, data.clone())
            .unwrap();
        net.drain(1);
    }
    net.run_for(Duration::from_secs(2));
    let stats = net.nodes[0].node.stats();
    // One read budget (4 KiB: at most 4 messages) of overshoot past the peer's 16.
    assert!(
        stats.queued_events <= 16 + 4 + 2,
        "queue holds {} events",
        stats.queued_events
    );
    assert!(stats.counters.event_backpressure_pauses >= 1);
    // Node 2's message still gets in while node 1 is paused.
    let data = payload(1000, 9_999);
    let now = net.time;
    net.nodes[2]
        .node
        .publish(now, &topic, data.clone())
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(net.nodes[0].node.stats().queued_events > stats.queued_events);
    // The application drains: everything arrives, in order, nothing dropped.
    net.nodes[0].hold_events = false;
    let p1 = net.peer(1);
    assert!(
        net.run_until(Duration::from_secs(30), |net| messages_from(net, 0, p1)
            .len()
            == sent.len())
    );
    assert_eq!(messages_from(&net, 0, p1), sent);
    assert_eq!(messages_from(&net, 0, net.peer(2)), vec![data]);
    let counters = net.nodes[0].node.stats().counters;
    assert_eq!(counters.events_dropped, 0);
    assert!(net.nodes[0].node.is_connected(&p1));
}
