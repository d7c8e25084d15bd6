//! Known-peer redialling, backoff, peer limits, simultaneous dials.

use std::time::Duration;

use leanp2p_host::{Config, ConnManagerConfig, DisconnectReason, NodeEvent};
use leanp2p_quic::Direction;
use leanp2p_testkit::Net;

fn connected_count(net: &Net, i: usize, direction: Direction) -> usize {
    net.nodes[i]
        .events
        .iter()
        .filter(|e| matches!(e, NodeEvent::Connected { direction: d, .. } if *d == direction))
        .count()
}

#[test]
fn known_peer_is_redialled_after_the_peer_closes() {
    let mut net = crate::net(2, |_| Config::default());
    let (p0, p1, addr1, now) = (net.peer(0), net.peer(1), net.nodes[1].addr, net.time);
    net.nodes[0].node.add_known_peer(now, p1, addr1).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0].node.is_connected(&p1) && net.nodes[1].node.is_connected(&p0)
    }));
    let now = net.time;
    net.nodes[1].node.disconnect(now, &p0).unwrap();
    assert!(net.run_until(Duration::from_secs(1), |net| !net.nodes[0]
        .node
        .is_connected(&p1)));
    let lost_at = net.time;
    assert!(net.run_until(Duration::from_secs(5), |net| net.nodes[0]
        .node
        .is_connected(&p1)));
    let back_after = net.time - lost_at;
    // Initial backoff 1 s ± 20 %, plus a handshake.
    assert!(back_after >= Duration::from_millis(800), "{back_after:?}");
    assert!(back_after <= Duration::from_millis(1300), "{back_after:?}");
    assert_eq!(connected_count(&net, 0, Direction::Outbound), 2);
}

#[test]
fn redial_backoff_grows_exponentially_and_is_capped() {
    let mut net = crate::net(2, |_| {
        let mut config = Config::default();
        let mut cm = ConnManagerConfig::default();
        cm.redial_max_backoff = Duration::from_secs(8);
        config.conn_manager(cm);
        config
    });
    net.nodes[1].alive = false;
    let (p1, addr1, t0) = (net.peer(1), net.nodes[1].addr, net.time);
    net.nodes[0].node.add_known_peer(t0, p1, addr1).unwrap();
    let mut failures = Vec::new();
    let mut seen = 0;
    while net.time < t0 + Duration::from_secs(150) {
        if !net.step() {
            break;
        }
        let n = net.nodes[0]
            .events
            .iter()
            .filter(|e| matches!(e, NodeEvent::DialFailed { .. }))
            .count();
        if n > seen {
            seen = n;
            failures.push(net.time - t0);
        }
    }
    assert!(failures.len() >= 8, "{failures:?}");
    let gaps: Vec<Duration> = failures.windows(2).map(|w| w[1] - w[0]).collect();
    let handshake = net.nodes[0].node.config().quic.handshake_timeout;
    let backoffs: Vec<f64> = gaps
        .iter()
        .map(|g| g.saturating_sub(handshake).as_secs_f64())
        .collect();
    // 1 s, 2 s, 4 s (each ± 20 %), then capped at 8 s ± 20 %.
    assert!((0.8..=1.2).contains(&backoffs[0]), "{backoffs:?}");
    assert!((1.6..=2.4).contains(&backoffs[1]), "{backoffs:?}");
    assert!((3.2..=4.8).contains(&backoffs[2]), "{backoffs:?}");
    for b in &backoffs[3..] {
        assert!((6.4..=9.6).contains(b), "{backoffs:?}");
    }
    // Seeded jitter: not all equal.
    assert!(backoffs[3..].windows(2).any(|w| (w[0] - w[1]).abs() > 1e-6));
}

#[test]
fn live_inbound_leg_does_not_suppress_redialling_the_outbound_one() {
    let mut net = crate::net(2, |_| Config::default());
    let (p0, p1, addr1, now) = (net.peer(0), net.peer(1), net.nodes[1].addr, net.time);
    net.nodes[0].node.add_known_peer(now, p1, addr1).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| net.nodes[0]
        .node
        .is_connected(&p1)));
    // The peer dials us too: an inbound leg.
    net.dial(1, 0).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0].node.connections_to(&p1).len() == 2
    }));
    // The peer closes our outbound leg only.
    let leg = net.nodes[1]
        .node
        .connections_to(&p0)
        .into_iter()
        .find(|c| net.nodes[1].node.endpoint().direction(*c) == Some(Direction::Inbound))
        .unwrap();
    let now = net.time;
    net.nodes[1].node.close_connection(now, leg).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        connected_count(net, 0, Direction::Outbound) == 2
    }));
    assert!(net.nodes[0].node.is_connected(&p1));
}

#[test]
fn inbound_peer_limit_disconnects_extra_peers() {
    let mut net = crate::net(3, |i| {
        let mut config = Config::default();
        if i == 0 {
            let mut cm = ConnManagerConfig::default();
            cm.max_inbound_peers = 1;
            config.conn_manager(cm);
        }
        config
    });
    net.dial(1, 0).unwrap();
    let p0 = net.peer(0);
    assert!(net.run_until(Duration::from_secs(5), |net| net.nodes[1]
        .node
        .is_connected(&p0)));
    net.dial(2, 0).unwrap();
    net.run_for(Duration::from_secs(3));
    assert!(net.nodes[1].node.is_connected(&p0));
    assert!(!net.nodes[2].node.is_connected(&p0));
    assert_eq!(net.nodes[0].node.stats().connected_peers, 1);
    assert_eq!(
        net.nodes[0]
            .node
            .stats()
            .counters
            .disconnections
            .get(&("inbound", DisconnectReason::PeerLimit.label())),
        Some(&1)
    );
}

#[test]
fn outbound_peer_limit_refuses_dials() {
    let mut net = crate::net(3, |i| {
        let mut config = Config::default();
        if i == 0 {
            let mut cm = ConnManagerConfig::default();
            cm.max_outbound_peers = 1;
            config.conn_manager(cm);
        }
        config
    });
    net.connect(0, 1).unwrap();
    let (addr, peer, now) = (net.nodes[2].addr, net.peer(2), net.time);
    assert_eq!(
        net.nodes[0].node.dial(now, addr, Some(peer)),
        Err(leanp2p_host::DialError::TooManyPeers)
    );
}

#[test]
fn mutual_known_peers_converge_without_churn() {
    let mut net = crate::net(2, |_| Config::default());
    let topic = leanp2p_host::TopicHash::new("t");
    let (p0, p1, a0, a1, now) = (
        net.peer(0),
        net.peer(1),
        net.nodes[0].addr,
        net.nodes[1].addr,
        net.time,
    );
    for i in 0..2 {
        net.nodes[i].node.subscribe(now, &topic).unwrap();
    }
    net.nodes[0].node.add_known_peer(now, p1, a1).unwrap();
    net.nodes[1].node.add_known_peer(now, p0, a0).unwrap();
    net.run_for(Duration::from_secs(120));
    for (i, peer) in [(0, p1), (1, p0)] {
        assert!(net.nodes[i].node.is_connected(&peer));
        assert_eq!(net.nodes[i].node.gossip_stream_count(&peer), 1);
        // Each side dialled once and never had to redial.
        assert_eq!(connected_count(&net, i, Direction::Outbound), 1);
        assert!(!net.nodes[i]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::Disconnected { .. })));
    }
    let now = net.time;
    let data = bytes::Bytes::from_static(b"hello");
    net.nodes[1]
        .node
        .publish(now, &topic, data.clone())
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::Message { data: d, .. } if *d == data))
    }));
}

#[test]
fn graylisted_peers_are_disconnected() {
    let mut net = crate::net(2, |i| {
        let mut config = Config::default();
        if i == 0 {
            let mut gossipsub = leanp2p_gossipsub::lean::config();
            gossipsub.scoring = Some(leanp2p_gossipsub::ScoreConfig {
                params: Default::default(),
                thresholds: Default::default(),
            });
            config.gossipsub(gossipsub);
        }
        config
    });
    net.connect(0, 1).unwrap();
    let (p0, p1) = (net.peer(0), net.peer(1));
    net.run_for(Duration::from_secs(2));
    assert!(net.nodes[0].node.is_connected(&p1));
    // 10 × -9 = -90 < -80.
    assert!(net.nodes[0].node.set_application_score(&p1, -9.0));
    assert!(net.run_until(Duration::from_secs(5), |net| !net.nodes[1]
        .node
        .is_connected(&p0)));
    assert!(net.nodes[0].events.iter().any(|e| matches!(
        e,
        NodeEvent::Disconnected {
            reason: DisconnectReason::Graylisted,
            ..
        }
    )));
}

#[test]
fn huge_configured_durations_are_accepted_and_run() {
    let mut net = crate::net(2, |_| {
        let mut config = Config::default();
        let mut cm = ConnManagerConfig::default();
        cm.redial_initial_backoff = Duration::from_secs(1);
        cm.redial_max_backoff = Duration::MAX;
        cm.target_peers = 1;
        let mut limits = leanp2p_host::Limits::default();
        limits.slow_peer_disconnect = Some(Duration::MAX);
        config
            .conn_manager(cm)
            .limits(limits)
            .idle_connection_timeout(Duration::MAX);
        config
    });
    net.nodes[1].alive = false;
    let (p1, a1, now) = (net.peer(1), net.nodes[1].addr, net.time);
    net.nodes[0].node.add_known_peer(now, p1, a1).unwrap();
    net.nodes[0]
        .node
        .add_peer_address(
            now,
            leanp2p_identity::Keypair::from_secret_bytes(&[9; 32])
                .unwrap()
                .peer_id(),
            std::net::SocketAddr::from(([127, 0, 0, 1], 20_009)),
        )
        .unwrap();
    // Dials fail again and again; backoffs grow past any representable instant.
    net.run_for(Duration::from_secs(600));
    assert!(net.nodes[0]
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::DialFailed { .. })));
    assert!(net.nodes[0].node.poll_timeout().is_some());
}
