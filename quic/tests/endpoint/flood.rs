//! Forged Initials (spoofed sources that never complete the handshake) cannot lock the
//! endpoint out: dials keep their own handshake slots, one source IP holds few inbound
//! slots, Retry switches on under load, and half-open handshakes expire quickly.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use leanp2p_quic::{CloseReason, Config, Datagram, DialFailure, Endpoint, Limits};
use leanp2p_testkit::{keypair, LinkConfig, QuicNet};

/// An endpoint that only produces client Initials (never driven further).
fn forger() -> Endpoint {
    let mut limits = Limits::default();
    limits.max_connections = 1024;
    limits.max_handshakes = 1024;
    let mut config = Config::default();
    config.limits(limits);
    Endpoint::new(config, &keypair(200).unwrap(), [7; 32]).unwrap()
}

/// Feeds `victim` a fresh client Initial that claims to come from `spoofed`, and drains
/// the victim (its answers go to an address nobody owns and are lost).
fn forge_initial(net: &mut QuicNet, forger: &mut Endpoint, victim: usize, spoofed: SocketAddr) {
    let now = net.time;
    let target = net.nodes[victim].addr;
    forger.dial(now, target, None).unwrap();
    let mut buf = Vec::new();
    let transmit = forger.poll_transmit(now, &mut buf).unwrap();
    assert!(transmit.size >= 1200);
    while forger.poll_transmit(now, &mut Vec::new()).is_some() {}
    net.nodes[victim].endpoint.handle_datagram(
        now,
        Datagram {
            remote: spoofed,
            local_ip: None,
            ecn: None,
            data: &buf[..transmit.size],
        },
    );
    net.drain();
}

fn spoofed(host: u8, port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(10, 66, 0, host), port))
}

#[test]
fn forged_initials_filling_inbound_slots_do_not_block_dials() {
    let mut limits = Limits::default();
    limits.max_handshakes = 4;
    let mut victim = Config::default();
    victim.limits(limits);
    let mut net = QuicNet::with_configs(
        Instant::now(),
        vec![victim, Config::default()],
        LinkConfig::default(),
    )
    .unwrap();
    let mut forger = forger();
    for host in 1..=10 {
        forge_initial(&mut net, &mut forger, 0, spoofed(host, 4000));
    }
    assert_eq!(net.nodes[0].endpoint.handshake_count(), 4);
    assert_eq!(net.nodes[0].endpoint.stats().incoming_refused, 6);
    // The inbound slots are full, yet our own dial goes out and connects.
    net.connect(0, 1).unwrap();
    assert_eq!(net.nodes[0].connected().len(), 1);
}

#[test]
fn one_source_ip_holds_at_most_max_handshakes_per_ip() {
    let mut net = QuicNet::new(Instant::now()).unwrap();
    let mut forger = forger();
    for port in 0..20 {
        forge_initial(&mut net, &mut forger, 1, spoofed(1, 4000 + port));
    }
    let per_ip = Limits::default().max_handshakes_per_ip;
    assert_eq!(per_ip, 8);
    assert_eq!(net.nodes[1].endpoint.handshake_count(), per_ip);
    let stats = net.nodes[1].endpoint.stats().clone();
    assert_eq!(stats.incoming_over_ip_limit, 12);
    // Unvalidated addresses get a Retry, which a spoofer cannot answer.
    assert_eq!(stats.incoming_retried, 12);
    // Other sources are unaffected.
    net.connect(0, 1).unwrap();
}

#[test]
fn validated_source_over_its_ip_limit_is_refused() {
    let victim_addr = SocketAddr::from(([10, 66, 1, 1], 9000));
    let client_addr = spoofed(1, 5000);
    let mut net = QuicNet::with_addrs(
        Instant::now(),
        vec![Config::default(), Config::default()],
        vec![victim_addr, client_addr],
        LinkConfig::default(),
    )
    .unwrap();
    let mut forger = forger();
    for port in 0..8 {
        forge_initial(&mut net, &mut forger, 0, spoofed(1, 4000 + port));
    }
    let conn = net.dial(1, 0).unwrap();
    net.drive_until(Duration::from_secs(2), |n| {
        !n.nodes[1].dial_failures().is_empty()
    })
    .unwrap();
    assert!(
        matches!(
            &net.nodes[1].dial_failures()[..],
            [(c, DialFailure::Closed(CloseReason::TransportClosed { code: 2, .. }))] if *c == conn
        ),
        "{:?}",
        net.nodes[1].dial_failures()
    );
    let stats = net.nodes[0].endpoint.stats().clone();
    assert_eq!(stats.incoming_retried, 1);
    assert_eq!(stats.incoming_refused, 1);
    assert_eq!(stats.incoming_over_ip_limit, 2);
}

#[test]
fn retry_switches_on_above_the_handshake_threshold() {
    let mut limits = Limits::default();
    limits.retry_above_handshakes = 2;
    let mut victim = Config::default();
    victim.limits(limits);
    let mut net = QuicNet::with_configs(
        Instant::now(),
        vec![Config::default(), victim],
        LinkConfig::default(),
    )
    .unwrap();
    let mut forger = forger();
    // Below the threshold, no Retry.
    forge_initial(&mut net, &mut forger, 1, spoofed(1, 4000));
    forge_initial(&mut net, &mut forger, 1, spoofed(2, 4000));
    assert_eq!(net.nodes[1].endpoint.stats().incoming_retried, 0);
    // At it, spoofed Initials get a Retry and hold no slot...
    for host in 3..=12 {
        forge_initial(&mut net, &mut forger, 1, spoofed(host, 4000));
    }
    assert_eq!(net.nodes[1].endpoint.handshake_count(), 2);
    assert_eq!(net.nodes[1].endpoint.stats().incoming_retried, 10);
    // ...while a real peer answers the Retry and connects.
    net.connect(0, 1).unwrap();
    assert_eq!(net.nodes[1].endpoint.stats().incoming_retried, 11);
}

#[test]
fn half_open_inbound_handshakes_expire_before_the_dial_timeout() {
    let mut net = QuicNet::new(Instant::now()).unwrap();
    let mut forger = forger();
    let start = net.time;
    forge_initial(&mut net, &mut forger, 1, spoofed(1, 4000));
    assert_eq!(net.nodes[1].endpoint.handshake_count(), 1);
    net.drive_until(Duration::from_secs(10), |n| {
        n.nodes[1].endpoint.handshake_count() == 0
    })
    .unwrap();
    let took = net.time - start;
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(4),
        "{took:?}"
    );
    assert_eq!(
        net.nodes[1].endpoint.stats().incoming_handshakes_timed_out,
        1
    );
}
