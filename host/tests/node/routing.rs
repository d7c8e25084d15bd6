//! Connection setup, stream table, identify and ping between two nodes.

use std::time::Duration;

use leanp2p_host::{Config, NodeEvent};

#[test]
fn two_nodes_connect_and_open_one_gossip_stream_each() {
    let mut net = crate::net(2, |_| Config::default());
    net.connect(0, 1).unwrap();
    let (p0, p1) = (net.peer(0), net.peer(1));
    assert!(net.nodes[0].node.is_connected(&p1));
    assert!(net.nodes[1].node.is_connected(&p0));
    assert!(net.nodes[0]
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::Connected { peer, direction: leanp2p_quic::Direction::Outbound, .. } if *peer == p1)));
    assert!(net.nodes[1]
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::Connected { peer, direction: leanp2p_quic::Direction::Inbound, .. } if *peer == p0)));
    assert_eq!(net.nodes[0].node.gossip_stream_count(&p1), 1);
    assert_eq!(net.nodes[1].node.gossip_stream_count(&p0), 1);
    assert_eq!(net.nodes[0].node.stats().counters.negotiation_failures, 0);
    assert_eq!(net.nodes[1].node.stats().counters.negotiation_failures, 0);
}

#[test]
fn identify_is_exchanged_on_connect() {
    let mut net = crate::net(2, |_| Config::default());
    net.connect(0, 1).unwrap();
    let (p0, p1) = (net.peer(0), net.peer(1));
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0].node.peer_info(&p1).is_some() && net.nodes[1].node.peer_info(&p0).is_some()
    }));
    let info = net.nodes[0].node.peer_info(&p1).unwrap().clone();
    assert!(info.supports("/meshsub/1.2.0"));
    assert!(info.supports(leanp2p_host::PING_PROTOCOL));
    assert_eq!(info.protocol_version.as_deref(), Some("/ipfs/0.1.0"));
    assert_eq!(
        info.listen_addrs[0].to_string(),
        format!("/ip4/127.0.0.1/udp/{}/quic-v1", net.nodes[1].addr.port())
    );
    // Node 1 saw node 0 dial from its listen address (same socket in the harness).
    assert_eq!(
        info.observed_addr.unwrap().to_string(),
        format!("/ip4/127.0.0.1/udp/{}/quic-v1", net.nodes[0].addr.port())
    );
    assert_eq!(info.public_key.unwrap().to_peer_id(), p1);
}

#[test]
fn identify_push_follows_a_new_listen_address() {
    let mut net = crate::net(2, |_| Config::default());
    net.connect(0, 1).unwrap();
    let (p0, p1) = (net.peer(0), net.peer(1));
    assert!(net.run_until(Duration::from_secs(5), |net| net.nodes[1]
        .node
        .peer_info(&p0)
        .is_some()));
    let extra: std::net::SocketAddr = "10.0.0.1:9000".parse().unwrap();
    let now = net.time;
    net.nodes[0].node.listen(now, extra).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[1]
            .node
            .peer_info(&p0)
            .is_some_and(|i| i.listen_addrs.len() == 2)
    }));
    assert_eq!(net.nodes[0].node.stats().counters.identify_pushes_sent, 1);
    let _ = p1;
}

#[test]
fn ping_measures_rtt_both_ways() {
    let mut net = crate::net(2, |_| Config::default());
    net.connect(0, 1).unwrap();
    let (p0, p1) = (net.peer(0), net.peer(1));
    net.run_for(Duration::from_secs(40));
    for (i, peer) in [(0, p1), (1, p0)] {
        let rtts: Vec<Duration> = net.nodes[i]
            .events
            .iter()
            .filter_map(|e| match e {
                NodeEvent::PingSuccess { peer: p, rtt, .. } if *p == peer => Some(*rtt),
                _ => None,
            })
            .collect();
        // At t≈0, 15 s and 30 s.
        assert!(rtts.len() >= 3, "node {i}: {rtts:?}");
        assert!(rtts
            .iter()
            .all(|r| *r >= Duration::from_millis(10) && *r < Duration::from_millis(100)));
        assert!(net.nodes[i].node.stats().ping_rtt.contains_key(&peer));
        assert_eq!(net.nodes[i].node.stats().counters.pings_failed, 0);
    }
    // One outbound ping stream reused; the listener side answered every ping.
    assert!(net.nodes[1].node.stats().counters.pings_answered >= 3);
}

#[test]
fn connections_stay_up_while_gossip_uses_them() {
    let mut net = crate::net(2, |_| Config::default());
    net.connect(0, 1).unwrap();
    net.run_for(Duration::from_secs(120));
    let p1 = net.peer(1);
    assert!(net.nodes[0].node.is_connected(&p1));
    assert!(!net.nodes[0]
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::Disconnected { .. })));
}

#[test]
fn disconnect_reports_reason_on_both_sides() {
    let mut net = crate::net(2, |_| Config::default());
    net.connect(0, 1).unwrap();
    let (p0, p1) = (net.peer(0), net.peer(1));
    let now = net.time;
    net.nodes[0].node.disconnect(now, &p1).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| !net.nodes[1]
        .node
        .is_connected(&p0)));
    assert!(net.nodes[0].events.iter().any(|e| matches!(
        e,
        NodeEvent::Disconnected {
            reason: leanp2p_host::DisconnectReason::Requested,
            ..
        }
    )));
    assert!(!net.nodes[0].node.is_connected(&p1));
    assert!(!net.nodes[0].node.gossipsub().is_connected(&p1));
    assert!(!net.nodes[1].node.gossipsub().is_connected(&p0));
    let counters = net.nodes[0].node.stats().counters;
    assert_eq!(
        counters.disconnections.get(&("outbound", "local_close")),
        Some(&1)
    );
}

#[test]
fn self_dial_is_refused() {
    let mut net = crate::net(1, |_| Config::default());
    let (addr, peer, now) = (net.nodes[0].addr, net.peer(0), net.time);
    assert_eq!(
        net.nodes[0].node.dial(now, addr, None),
        Err(leanp2p_host::DialError::SelfDial)
    );
    let other: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
    assert_eq!(
        net.nodes[0].node.dial(now, other, Some(peer)),
        Err(leanp2p_host::DialError::SelfDial)
    );
}

#[test]
fn identify_is_repeated_at_its_interval() {
    let mut net = crate::net(2, |_| {
        let mut config = Config::default();
        let mut identify = leanp2p_host::IdentifyConfig::default();
        identify.interval = Some(Duration::from_secs(10));
        config.identify(identify);
        config
    });
    net.connect(0, 1).unwrap();
    net.run_for(Duration::from_secs(25));
    for i in 0..2 {
        let n = net.nodes[i]
            .events
            .iter()
            .filter(|e| matches!(e, NodeEvent::Identified { .. }))
            .count();
        // On connect, at 10 s and at 20 s.
        assert_eq!(n, 3, "node {i}");
    }
}
