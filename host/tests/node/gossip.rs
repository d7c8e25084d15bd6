//! Gossip between two nodes over the host's stream model.

use std::time::Duration;

use bytes::Bytes;

use leanp2p_host::{Config, NodeEvent, TopicHash};
use leanp2p_testkit::Net;

fn received(net: &Net, i: usize, topic: &TopicHash) -> Vec<Bytes> {
    net.nodes[i]
        .events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Message { topic: t, data, .. } if t == topic => Some(data.clone()),
            _ => None,
        })
        .collect()
}

fn payload(len: usize, salt: u8) -> Bytes {
    Bytes::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
            .collect::<Vec<u8>>(),
    )
}

fn subscribed_pair() -> (Net, TopicHash) {
    let mut net = crate::net(2, |_| Config::default());
    let topic = TopicHash::new("/leanconsensus/12345678/block/ssz_snappy");
    for i in 0..2 {
        let now = net.time;
        net.nodes[i].node.subscribe(now, &topic).unwrap();
    }
    net.connect(0, 1).unwrap();
    let (p0, p1) = (net.peer(0), net.peer(1));
    let t = topic.clone();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0]
            .node
            .gossipsub()
            .subscribed_peers(&t)
            .any(|p| *p == p1)
            && net.nodes[1]
                .node
                .gossipsub()
                .subscribed_peers(&t)
                .any(|p| *p == p0)
    }));
    (net, topic)
}

fn gossip_both_ways(len: usize) {
    let (mut net, topic) = subscribed_pair();
    for (from, to) in [(0usize, 1usize), (1, 0)] {
        let data = payload(len, from as u8);
        let now = net.time;
        net.nodes[from]
            .node
            .publish(now, &topic, data.clone())
            .unwrap();
        let t = topic.clone();
        assert!(
            net.run_until(Duration::from_secs(30), |net| !received(net, to, &t)
                .is_empty()),
            "{len} bytes from {from} did not arrive"
        );
        assert_eq!(received(&net, to, &topic), vec![data]);
    }
    for i in 0..2 {
        let counters = net.nodes[i].node.stats().counters;
        assert_eq!(counters.gossip_frames_dropped, 0);
        assert_eq!(counters.malformed_streams, 0);
        assert_eq!(counters.gossip_streams_opened, 1);
    }
}

#[test]
fn gossip_1_kib_both_ways() {
    gossip_both_ways(1024);
}

#[test]
fn gossip_300_kib_both_ways() {
    gossip_both_ways(300 * 1024);
}

#[test]
fn gossip_4_mib_both_ways() {
    gossip_both_ways(4 * 1024 * 1024);
}

#[test]
fn subscriptions_are_replayed_to_peers_that_connect_later() {
    let mut net = crate::net(2, |_| Config::default());
    let topic = TopicHash::new("late");
    let now = net.time;
    net.nodes[0].node.subscribe(now, &topic).unwrap();
    net.run_for(Duration::from_secs(3));
    net.connect(1, 0).unwrap();
    let p0 = net.peer(0);
    let t = topic.clone();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[1]
            .node
            .gossipsub()
            .subscribed_peers(&t)
            .any(|p| *p == p0)
    }));
    assert!(net.nodes[1]
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::Subscribed { peer, .. } if *peer == p0)));
}

#[test]
fn many_messages_arrive_whole_and_in_order() {
    let (mut net, topic) = subscribed_pair();
    let sent: Vec<Bytes> = (0..40)
        .map(|i| payload(50_000 + i * 997, i as u8))
        .collect();
    for data in &sent {
        let now = net.time;
        net.nodes[0]
            .node
            .publish(now, &topic, data.clone())
            .unwrap();
    }
    let t = topic.clone();
    assert!(
        net.run_until(Duration::from_secs(30), |net| received(net, 1, &t).len()
            == sent.len())
    );
    assert_eq!(received(&net, 1, &topic), sent);
}

#[test]
fn two_connections_to_one_peer_keep_one_gossip_stream() {
    let (mut net, topic) = subscribed_pair();
    let (p0, p1) = (net.peer(0), net.peer(1));
    // A second leg, dialled the other way.
    net.dial(1, 0).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0].node.connections_to(&p1).len() == 2
            && net.nodes[1].node.connections_to(&p0).len() == 2
    }));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[0].node.gossip_stream_count(&p1), 1);
    assert_eq!(net.nodes[1].node.gossip_stream_count(&p0), 1);
    let data = payload(10_000, 9);
    let now = net.time;
    net.nodes[0]
        .node
        .publish(now, &topic, data.clone())
        .unwrap();
    let t = topic.clone();
    assert!(
        net.run_until(Duration::from_secs(5), |net| !received(net, 1, &t)
            .is_empty())
    );
    assert_eq!(received(&net, 1, &topic), vec![data]);
    assert_eq!(net.nodes[0].node.stats().counters.gossip_streams_opened, 1);
    // Node 1 moved its stream to the leg it dialled: each side writes on its own
    // outbound leg and reads the peer's stream on the other.
    assert_eq!(net.nodes[1].node.stats().counters.gossip_streams_opened, 2);
    for (i, peer) in [(0, p1), (1, p0)] {
        let conn = net.nodes[i].node.gossip_connection(&peer).unwrap();
        assert_eq!(
            net.nodes[i].node.endpoint().direction(conn),
            Some(leanp2p_quic::Direction::Outbound)
        );
    }
    // Both legs carry gossip (one direction each), so neither is closed as idle.
    net.run_for(Duration::from_secs(60));
    assert_eq!(net.nodes[0].node.connections_to(&p1).len(), 2);
    assert_eq!(net.nodes[0].node.gossip_stream_count(&p1), 1);
    assert_eq!(net.nodes[1].node.gossip_stream_count(&p0), 1);
    let data = payload(2_000, 3);
    let now = net.time;
    net.nodes[1]
        .node
        .publish(now, &topic, data.clone())
        .unwrap();
    let t = topic.clone();
    assert!(
        net.run_until(Duration::from_secs(5), |net| received(net, 0, &t)
            .contains(&data))
    );
}

#[test]
fn lean_profile_nodes_gossip_blocks_and_exchange_status() {
    let mut net = crate::net(2, |i| leanp2p_host::lean::config(&format!("test/{i}")));
    let topics = leanp2p_host::lean::topics(leanp2p_host::lean::DEFAULT_NETWORK, 1);
    let now = net.time;
    for i in 0..2 {
        for topic in &topics {
            net.nodes[i].node.subscribe(now, topic).unwrap();
        }
    }
    net.connect(0, 1).unwrap();
    net.run_for(Duration::from_secs(3));
    let block = Bytes::from(
        snap::raw::Encoder::new()
            .compress_vec(&[3u8; 200_000])
            .unwrap(),
    );
    let now = net.time;
    let id = net.nodes[1]
        .node
        .publish(now, &topics[0], block.clone())
        .unwrap();
    assert_eq!(id.as_bytes().len(), leanp2p_host::lean::MESSAGE_ID_LEN);
    let t = topics[0].clone();
    assert!(
        net.run_until(Duration::from_secs(5), |net| received(net, 0, &t)
            == vec![block.clone()])
    );
    let peer = net.peer(1);
    let status = leanp2p_reqresp::lean::Status::default().to_ssz().unwrap();
    let now = net.time;
    net.nodes[0]
        .node
        .request(now, peer, &leanp2p_host::lean::STATUS, Bytes::from(status))
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[1]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::InboundRequest { .. }))
    }));
    let agent = net.nodes[0]
        .node
        .peer_info(&peer)
        .and_then(|i| i.agent_version.clone());
    assert_eq!(agent.as_deref(), Some("test/1"));
}

#[test]
fn same_seeds_give_the_same_event_trace() {
    let trace = || {
        let (mut net, topic) = subscribed_pair();
        for i in 0..5u8 {
            let now = net.time;
            net.nodes[usize::from(i % 2)]
                .node
                .publish(now, &topic, payload(3_000 + usize::from(i) * 1_000, i))
                .unwrap();
            net.run_for(Duration::from_millis(300));
        }
        net.run_for(Duration::from_secs(20));
        (0..2)
            .map(|i| format!("{:?}", net.nodes[i].events))
            .collect::<Vec<_>>()
    };
    let first = trace();
    assert!(first[0].contains("PingSuccess") && first[1].contains("Message"));
    assert_eq!(first, trace());
}

#[test]
fn inbound_gossip_is_dropped_once_our_gossip_stream_is_given_up() {
    let mut net = crate::net(2, |i| {
        let mut config = leanp2p_host::Config::default();
        if i == 0 {
            config.limits.max_gossip_stream_attempts = 1;
        }
        config
    });
    net.connect(0, 1).unwrap();
    net.run_for(std::time::Duration::from_secs(1));
    let (p0, p1) = (net.peer(0), net.peer(1));
    // Node 1 resets the one /meshsub stream node 0 may open to it: node 0 gives up.
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    let node = &net.nodes[1].node;
    let inbound = node
        .stream_ids(conn)
        .into_iter()
        .find(|id| node.stream_info(conn, *id).unwrap().role == leanp2p_host::StreamRole::GossipIn)
        .unwrap();
    net.nodes[1]
        .node
        .raw_endpoint_mut()
        .reset(conn, inbound, 0)
        .unwrap();
    net.drain(1);
    net.run_for(std::time::Duration::from_secs(1));
    assert_eq!(net.nodes[0].node.gossip_stream_count(&p1), 0);
    // Node 1 keeps gossiping to node 0 (its own stream is fine): ten subscriptions.
    let before = net.nodes[0].node.stats().counters.early_gossip_dropped;
    for i in 0..10 {
        let now = net.time;
        let topic = TopicHash::new(&format!("t{i}"));
        net.nodes[1].node.subscribe(now, &topic).unwrap();
        net.run_for(std::time::Duration::from_millis(50));
    }
    // They are dropped and counted, not kept for a registration that will not come.
    let dropped = net.nodes[0].node.stats().counters.early_gossip_dropped - before;
    assert!(dropped >= 10, "{dropped} frames dropped");
}

#[test]
fn an_rpc_with_too_many_subscription_changes_resets_its_stream() {
    use leanp2p_gossipsub::wire::{encode_rpc_frame, proto};
    let (mut net, topic) = subscribed_pair();
    let p0 = net.peer(0);
    let max = Config::default().gossipsub.limits.max_subscriptions_per_rpc;
    // Node 1 writes, on its own outbound /meshsub stream, one RPC carrying one change
    // more than the cap, then another gossip frame the victim must not read.
    let flood = proto::Rpc {
        subscriptions: (0..=max)
            .map(|k| proto::SubOpts {
                subscribe: Some(k % 2 == 0),
                topic_id: Some(format!("/flood/{k}")),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    let node = &net.nodes[1].node;
    let outbound = node
        .stream_ids(conn)
        .into_iter()
        .find(|id| node.stream_info(conn, *id).unwrap().role == leanp2p_host::StreamRole::GossipOut)
        .unwrap();
    let frame = encode_rpc_frame(&flood);
    let written = net.nodes[1]
        .node
        .raw_endpoint_mut()
        .write(conn, outbound, &frame)
        .unwrap();
    assert_eq!(written, frame.len());
    net.drain(1);
    net.run_for(Duration::from_secs(1));
    let counters = net.nodes[0].node.stats().counters;
    let gossip = net.nodes[0].node.stats().gossipsub.counters;
    assert_eq!(counters.gossip_streams_refused, 1);
    assert_eq!(gossip.rpcs_over_subscription_limit, 1);
    // None of the changes was applied.
    assert!(!net.nodes[0].events.iter().any(
        |e| matches!(e, NodeEvent::Subscribed { topic, .. } if topic.as_str().starts_with("/flood/"))
    ));
    // Node 1 opens a new /meshsub stream and gossip still flows both ways.
    let now = net.time;
    let data = payload(100, 9);
    net.nodes[1]
        .node
        .publish(now, &topic, data.clone())
        .unwrap();
    let t = topic.clone();
    assert!(
        net.run_until(Duration::from_secs(10), |net| !received(net, 0, &t)
            .is_empty())
    );
    assert_eq!(received(&net, 0, &topic), vec![data]);
}
