//! Handshake and PeerId verification.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use leanp2p_quic::{CloseReason, Config, DialError, DialFailure, Direction, Event, Limits};
use leanp2p_testkit::{keypair, LinkConfig, QuicNet};

#[test]
fn handshake_reports_verified_peer_ids_on_both_sides() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let client_id = pair.nodes[0].peer_id;
    let server_id = pair.nodes[1].peer_id;
    let (client_conn, server_conn) = pair.connect(0, 1).unwrap();

    assert_eq!(
        pair.nodes[0].connected(),
        vec![(client_conn, server_id, Direction::Outbound)]
    );
    assert_eq!(
        pair.nodes[1].connected(),
        vec![(server_conn, client_id, Direction::Inbound)]
    );
    assert_eq!(pair.nodes[0].endpoint.peer_id(client_conn), Some(server_id));
    assert_eq!(pair.nodes[1].endpoint.peer_id(server_conn), Some(client_id));
    assert!(pair.nodes[0].events.iter().any(|e| matches!(
        e,
        Event::Connected { remote, .. } if *remote == pair.nodes[1].addr
    )));
    assert_eq!(pair.nodes[0].endpoint.stats().connections_established, 1);
    assert_eq!(pair.nodes[1].endpoint.stats().connections_established, 1);
}

#[test]
fn dial_without_expected_peer_learns_it() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let server_id = pair.nodes[1].peer_id;
    let conn = pair.dial_expecting(0, 1, None).unwrap();
    pair.drive_until(Duration::from_secs(5), |p| {
        !p.nodes[0].connected().is_empty()
    })
    .unwrap();
    assert_eq!(
        pair.nodes[0].connected(),
        vec![(conn, server_id, Direction::Outbound)]
    );
}

#[test]
fn dial_expecting_another_peer_id_fails_typed() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let wrong = keypair(77).unwrap().peer_id();
    let conn = pair.dial_expecting(0, 1, Some(wrong)).unwrap();
    pair.drive_until(Duration::from_secs(10), |p| {
        !p.nodes[0].dial_failures().is_empty()
    })
    .unwrap();
    let failures = pair.nodes[0].dial_failures();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].0, conn);
    assert!(
        matches!(failures[0].1, DialFailure::WrongPeerId { expected, .. } if expected == wrong),
        "{:?}",
        failures[0].1
    );
    assert!(pair.nodes[0].connected().is_empty());
    // Let the server notice; it must never report the aborted connection as established.
    pair.run_for(Duration::from_secs(15));
    assert!(pair.nodes[1].connected().is_empty());
    assert!(!pair.nodes[0].endpoint.is_connected(conn));
    assert_eq!(pair.nodes[0].endpoint.stats().dials_failed, 1);
}

#[test]
fn handshake_over_ipv6() {
    let addrs = vec![
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 20_000),
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 20_001),
    ];
    let mut pair = QuicNet::with_addrs(
        Instant::now(),
        vec![Config::default(), Config::default()],
        addrs,
        LinkConfig::default(),
    )
    .unwrap();
    let (client, _) = pair.connect(0, 1).unwrap();
    assert_eq!(
        pair.nodes[0].endpoint.remote_address(client),
        Some(pair.nodes[1].addr)
    );
}

#[test]
fn dial_to_silent_address_times_out() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    pair.nodes[1].alive = false;
    let start = pair.time;
    let conn = pair.dial(0, 1).unwrap();
    pair.drive_until(Duration::from_secs(30), |p| {
        !p.nodes[0].dial_failures().is_empty()
    })
    .unwrap();
    assert_eq!(
        pair.nodes[0].dial_failures(),
        vec![(conn, DialFailure::HandshakeTimedOut)]
    );
    let took = pair.time - start;
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(6),
        "{took:?}"
    );
    // The attempt is forgotten after its draining period.
    pair.run_for(Duration::from_secs(10));
    assert_eq!(pair.nodes[0].endpoint.connection_count(), 0);
}

#[test]
fn dial_rejects_invalid_address_and_respects_limits() {
    let mut limits = Limits::default();
    limits.max_connections = 2;
    limits.max_handshakes = 1;
    let mut config = Config::default();
    config.limits(limits);
    let mut pair = QuicNet::with_configs(
        Instant::now(),
        vec![config, Config::default()],
        LinkConfig::default(),
    )
    .unwrap();
    let now = pair.time;
    let zero_port = SocketAddr::from(([127, 0, 0, 1], 0));
    assert_eq!(
        pair.nodes[0].endpoint.dial(now, zero_port, None),
        Err(DialError::InvalidAddress(zero_port))
    );
    pair.dial(0, 1).unwrap();
    let addr = pair.nodes[1].addr;
    assert_eq!(
        pair.nodes[0].endpoint.dial(now, addr, None),
        Err(DialError::TooManyHandshakes)
    );
}

#[test]
fn inbound_handshakes_beyond_limit_are_refused() {
    let mut limits = Limits::default();
    limits.max_handshakes = 2;
    let mut server = Config::default();
    server.limits(limits);
    let configs = vec![
        server,
        Config::default(),
        Config::default(),
        Config::default(),
    ];
    let mut pair = QuicNet::with_configs(Instant::now(), configs, LinkConfig::default()).unwrap();
    for from in 1..=3 {
        pair.dial(from, 0).unwrap();
    }
    pair.drive_until(Duration::from_secs(10), |p| {
        (1..=3)
            .all(|i| !p.nodes[i].connected().is_empty() || !p.nodes[i].dial_failures().is_empty())
    })
    .unwrap();
    let connected = (1..=3)
        .filter(|&i| !pair.nodes[i].connected().is_empty())
        .count();
    assert_eq!(connected, 2);
    assert_eq!(pair.nodes[0].endpoint.stats().incoming_refused, 1);
    let refused = (1..=3)
        .flat_map(|i| pair.nodes[i].dial_failures())
        .collect::<Vec<_>>();
    assert!(
        matches!(
            &refused[..],
            [(
                _,
                DialFailure::Closed(CloseReason::TransportClosed { code: 2, .. })
            )]
        ),
        "{refused:?}"
    );
}

#[test]
fn forty_simultaneous_dials_all_connect() {
    let configs = (0..41).map(|_| Config::default()).collect();
    let mut pair = QuicNet::with_configs(Instant::now(), configs, LinkConfig::default()).unwrap();
    let server_id = pair.nodes[0].peer_id;
    for from in 1..=40 {
        pair.dial(from, 0).unwrap();
    }
    pair.drive_until(Duration::from_secs(10), |p| {
        p.nodes[0].connected().len() == 40
    })
    .unwrap();
    pair.drive_until(Duration::from_secs(1), |p| {
        (1..=40).all(|i| p.nodes[i].connected().len() == 1)
    })
    .unwrap();
    for i in 1..=40 {
        assert_eq!(pair.nodes[i].connected()[0].1, server_id);
    }
    let mut clients = pair.nodes[0]
        .connected()
        .into_iter()
        .map(|(_, peer, direction)| {
            assert_eq!(direction, Direction::Inbound);
            peer
        })
        .collect::<Vec<_>>();
    clients.sort();
    clients.dedup();
    assert_eq!(clients.len(), 40);
    assert_eq!(pair.nodes[0].endpoint.stats().incoming_refused, 0);
}
