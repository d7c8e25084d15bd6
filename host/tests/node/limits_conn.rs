//! Connection caps: connections per peer and inbound connections per IP
//! ([`ConnManagerConfig::max_connections_per_peer`],
//! [`ConnManagerConfig::max_connections_per_ip`]).

use std::time::Duration;

use leanp2p_host::{Config, ConnManagerConfig, DisconnectReason, NodeEvent};
use leanp2p_testkit::Net;

/// A config whose connection manager is `f(default)`.
fn with_cm(f: impl FnOnce(&mut ConnManagerConfig)) -> Config {
    let mut cm = ConnManagerConfig::default();
    f(&mut cm);
    let mut config = Config::default();
    config.conn_manager(cm);
    config
}

/// An attacker that does not cap its own connections.
fn uncapped() -> Config {
    with_cm(|cm| cm.max_connections_per_peer = 100)
}

fn refused(net: &Net, i: usize, direction: &'static str) -> u64 {
    net.nodes[i]
        .node
        .stats()
        .counters
        .disconnections
        .get(&(direction, DisconnectReason::ConnectionLimit.label()))
        .copied()
        .unwrap_or(0)
}

/// Connects nodes 0 and 1 both ways (a double connection) and waits for both legs.
fn both_legs(net: &mut Net) {
    let (p0, p1) = (net.peer(0), net.peer(1));
    net.connect(0, 1).unwrap();
    net.dial(1, 0).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0].node.connections_to(&p1).len() == 2
            && net.nodes[1].node.connections_to(&p0).len() == 2
    }));
}

#[test]
fn one_peer_opening_five_connections_keeps_at_most_two() {
    let mut net = crate::net(2, |i| {
        if i == 1 {
            uncapped()
        } else {
            Config::default()
        }
    });
    let (p0, p1) = (net.peer(0), net.peer(1));
    for _ in 0..5 {
        net.dial(1, 0).unwrap();
    }
    net.run_for(Duration::from_secs(3));
    assert_eq!(net.nodes[0].node.connections_to(&p1).len(), 2);
    // The refusals reached the attacker too.
    assert_eq!(net.nodes[1].node.connections_to(&p0).len(), 2);
    let counters = net.nodes[0].node.stats().counters;
    assert_eq!(counters.connections_refused_per_peer, 3);
    assert_eq!(counters.connections_refused_per_ip, 0);
    assert_eq!(refused(&net, 0, "inbound"), 3);
    // The kept connections work.
    assert!(net.nodes[0].node.is_connected(&p1));
    assert!(net.nodes[0].node.gossipsub().is_connected(&p1));
}

#[test]
fn double_connection_is_within_the_default_cap() {
    let mut net = crate::net(2, |_| Config::default());
    let (p0, p1) = (net.peer(0), net.peer(1));
    both_legs(&mut net);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.nodes[0].node.connections_to(&p1).len(), 2);
    assert_eq!(net.nodes[1].node.connections_to(&p0).len(), 2);
    for i in 0..2 {
        assert_eq!(
            net.nodes[i]
                .node
                .stats()
                .counters
                .connections_refused_per_peer,
            0
        );
    }
}

#[test]
fn our_own_dial_over_the_cap_is_closed_after_the_handshake() {
    let mut net = crate::net(2, |i| {
        if i == 1 {
            uncapped()
        } else {
            Config::default()
        }
    });
    let (p0, p1) = (net.peer(0), net.peer(1));
    both_legs(&mut net);
    net.nodes[0].events.clear();
    // A third connection we dial ourselves: established, then closed by us.
    let conn = net.dial(0, 1).unwrap();
    net.run_for(Duration::from_secs(2));
    assert!(!net.nodes[0].node.connections_to(&p1).contains(&conn));
    assert_eq!(net.nodes[0].node.connections_to(&p1).len(), 2);
    assert_eq!(net.nodes[1].node.connections_to(&p0).len(), 2);
    assert_eq!(
        net.nodes[0]
            .node
            .stats()
            .counters
            .connections_refused_per_peer,
        1
    );
    assert_eq!(refused(&net, 0, "outbound"), 1);
    // The refused connection was never announced.
    assert!(!net.nodes[0]
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::Connected { conn: c, .. } | NodeEvent::Disconnected { conn: c, .. } if *c == conn)));
}

#[test]
fn inbound_connections_per_ip_are_capped_without_the_loopback_exemption() {
    let mut net = crate::net(4, |i| {
        if i == 0 {
            with_cm(|cm| {
                cm.max_connections_per_ip = 2;
                cm.ip_limit_exempts_loopback = false;
            })
        } else {
            Config::default()
        }
    });
    let p0 = net.peer(0);
    for i in 1..4 {
        net.dial(i, 0).unwrap();
        net.run_for(Duration::from_secs(1));
    }
    net.run_for(Duration::from_secs(2));
    assert!(net.nodes[1].node.is_connected(&p0));
    assert!(net.nodes[2].node.is_connected(&p0));
    assert!(!net.nodes[3].node.is_connected(&p0));
    assert_eq!(net.nodes[0].node.stats().connected_peers, 2);
    let counters = net.nodes[0].node.stats().counters;
    assert_eq!(counters.connections_refused_per_ip, 1);
    assert_eq!(counters.connections_refused_per_peer, 0);
    assert_eq!(refused(&net, 0, "inbound"), 1);
    // Our own dials are not limited per IP.
    net.dial(0, 3).unwrap();
    let p3 = net.peer(3);
    assert!(net.run_until(Duration::from_secs(3), |net| net.nodes[0]
        .node
        .is_connected(&p3)));
}

#[test]
fn loopback_is_exempt_from_the_per_ip_cap_by_default() {
    let mut net = crate::net(4, |i| {
        if i == 0 {
            with_cm(|cm| cm.max_connections_per_ip = 1)
        } else {
            Config::default()
        }
    });
    let p0 = net.peer(0);
    for i in 1..4 {
        net.dial(i, 0).unwrap();
    }
    assert!(net.run_until(Duration::from_secs(5), |net| {
        (1..4).all(|i| net.nodes[i].node.is_connected(&p0))
    }));
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[0].node.stats().connected_peers, 3);
    assert_eq!(
        net.nodes[0]
            .node
            .stats()
            .counters
            .connections_refused_per_ip,
        0
    );
}

#[test]
fn known_peers_are_exempt_from_the_per_ip_cap() {
    let mut net = crate::net(3, |i| {
        if i == 0 {
            with_cm(|cm| {
                cm.max_connections_per_ip = 1;
                cm.ip_limit_exempts_loopback = false;
            })
        } else {
            Config::default()
        }
    });
    let (p0, p2, a2, now) = (net.peer(0), net.peer(2), net.nodes[2].addr, net.time);
    net.nodes[0].node.add_known_peer(now, p2, a2).unwrap();
    net.drain(0);
    net.dial(1, 0).unwrap();
    net.dial(2, 0).unwrap();
    net.run_for(Duration::from_secs(3));
    assert!(net.nodes[1].node.is_connected(&p0));
    assert!(net.nodes[2].node.is_connected(&p0));
    assert_eq!(net.nodes[0].node.connections_to(&p2).len(), 2);
    assert_eq!(
        net.nodes[0]
            .node
            .stats()
            .counters
            .connections_refused_per_ip,
        0
    );
}

#[test]
fn known_peer_redial_refused_by_our_cap_is_retried() {
    let mut net = crate::net(2, |i| {
        if i == 1 {
            uncapped()
        } else {
            Config::default()
        }
    });
    let (p0, p1, a1) = (net.peer(0), net.peer(1), net.nodes[1].addr);
    // The peer holds both slots with inbound legs.
    net.dial(1, 0).unwrap();
    net.dial(1, 0).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| net.nodes[0]
        .node
        .connections_to(&p1)
        .len()
        == 2));
    // Our redial of the known peer is refused by our own cap...
    let now = net.time;
    net.nodes[0].node.add_known_peer(now, p1, a1).unwrap();
    net.drain(0);
    net.run_for(Duration::from_secs(1));
    assert_eq!(refused(&net, 0, "outbound"), 1);
    // ...and retried with backoff once a slot is free.
    let leg = net.nodes[1].node.connections_to(&p0)[0];
    let now = net.time;
    net.nodes[1].node.close_connection(now, leg).unwrap();
    assert!(net.run_until(Duration::from_secs(10), |net| {
        net.nodes[0].node.connections_to(&p1).len() == 2
            && net.nodes[0].events.iter().any(|e| {
                matches!(e, NodeEvent::Connected { peer, direction: leanp2p_quic::Direction::Outbound, .. } if *peer == p1)
            })
    }));
}
