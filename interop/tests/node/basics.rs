//! Handshake (right PeerIds on both sides), identify both ways (query and push), ping
//! both ways.

use std::net::SocketAddr;
use std::time::Duration;

use leanp2p_host::{lean, Direction, IDENTIFY_PROTOCOL, PING_PROTOCOL};
use leanp2p_reqresp::lean as rr_lean;

use crate::support::*;

async fn handshake_identify_ping(role: Role, our_secret: u8, their_secret: u8) {
    let mut pair = Pair::connect(
        role,
        TheirConfig::new(their_secret),
        our_config(),
        our_secret,
    )
    .await;
    pair.wait(
        Duration::from_secs(20),
        "identify and ping in both directions",
        |s| {
            s.our_identified.is_some()
                && s.their_identified.is_some()
                && s.our_pings > 0
                && s.their_pings > 0
        },
    )
    .await;
    let seen = &pair.seen;
    let we_dialled = role != Role::TheyDial;

    // One connection, the right PeerIds and directions on both sides.
    let direction = if we_dialled {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    assert_eq!(
        seen.our_connected,
        vec![(pair.their_peer_ours(), direction)]
    );
    assert_eq!(
        seen.their_established,
        vec![(pair.our_peer_theirs(), !we_dialled)]
    );
    assert!(seen.our_disconnected.is_empty() && seen.their_closed.is_empty());

    // What we learnt about them.
    let info = seen.our_identified.as_ref().unwrap();
    assert_eq!(info.agent_version.as_deref(), Some(THEIR_AGENT));
    assert_eq!(
        info.protocol_version.as_deref(),
        Some(lean::PROTOCOL_VERSION)
    );
    assert_eq!(
        info.public_key.as_ref().map(|k| k.to_peer_id()),
        Some(pair.their_peer_ours())
    );
    let their_listen = quic_addr(pair.their_port).to_string();
    let listen: Vec<String> = info.listen_addrs.iter().map(|a| a.to_string()).collect();
    assert!(listen.contains(&their_listen), "{listen:?}");
    for protocol in [
        "/meshsub/1.2.0",
        "/meshsub/1.1.0",
        IDENTIFY_PROTOCOL,
        PING_PROTOCOL,
        rr_lean::STATUS.as_str(),
        rr_lean::BLOCKS_BY_ROOT.as_str(),
        rr_lean::BLOCKS_BY_RANGE.as_str(),
    ] {
        assert!(
            info.supports(protocol),
            "{protocol} not in {:?}",
            info.protocols
        );
    }
    let our_listen = quic_addr(pair.ours.addr.port()).to_string();
    assert_eq!(
        info.observed_addr.as_ref().map(|a| a.to_string()),
        Some(our_listen.clone()),
        "they observe our socket"
    );

    // What they learnt about us.
    let info = seen.their_identified.as_ref().unwrap();
    assert_eq!(info.agent_version, OUR_AGENT);
    assert_eq!(info.protocol_version, lean::PROTOCOL_VERSION);
    assert_eq!(info.public_key.to_peer_id(), pair.our_peer_theirs());
    let listen: Vec<String> = info.listen_addrs.iter().map(|a| a.to_string()).collect();
    assert_eq!(listen, vec![our_listen]);
    let protocols: Vec<&str> = info.protocols.iter().map(|p| p.as_ref()).collect();
    for protocol in [
        "/meshsub/1.2.0",
        "/meshsub/1.1.0",
        "/meshsub/1.0.0",
        IDENTIFY_PROTOCOL,
        leanp2p_host::IDENTIFY_PUSH_PROTOCOL,
        PING_PROTOCOL,
        rr_lean::STATUS.as_str(),
        rr_lean::BLOCKS_BY_ROOT.as_str(),
        rr_lean::BLOCKS_BY_ROOT_LEGACY.as_str(),
        rr_lean::BLOCKS_BY_RANGE.as_str(),
    ] {
        assert!(
            protocols.contains(&protocol),
            "{protocol} not in {protocols:?}"
        );
    }
    assert_eq!(
        info.observed_addr.to_string(),
        their_listen,
        "we observe their socket"
    );

    assert!(
        seen.our_ping_failures.is_empty(),
        "{:?}",
        seen.our_ping_failures
    );
    assert!(
        seen.their_ping_failures.is_empty(),
        "{:?}",
        seen.their_ping_failures
    );
    assert!(seen.their_failures.is_empty(), "{:?}", seen.their_failures);
}

/// Our node starts listening on one more address: rust-libp2p learns it from our
/// identify push.
async fn our_identify_push(role: Role, our_secret: u8, their_secret: u8) {
    let mut pair = Pair::connect(
        role,
        TheirConfig::new(their_secret),
        our_config(),
        our_secret,
    )
    .await;
    pair.wait(Duration::from_secs(20), "their first identify of us", |s| {
        s.their_identified.is_some()
    })
    .await;
    let extra = SocketAddr::from(([127, 0, 0, 1], 9));
    pair.with_ours(move |node, now| node.listen(now, extra))
        .await
        .unwrap();
    let extra = quic_addr(9);
    pair.wait(Duration::from_secs(10), "our identify push", |s| {
        s.their_identified
            .as_ref()
            .is_some_and(|i| i.listen_addrs.contains(&extra))
    })
    .await;
    let info = pair.seen.their_identified.as_ref().unwrap();
    let listen: Vec<String> = info.listen_addrs.iter().map(|a| a.to_string()).collect();
    assert_eq!(
        listen,
        vec![
            quic_addr(pair.ours.addr.port()).to_string(),
            extra.to_string()
        ]
    );
    assert_eq!(info.public_key.to_peer_id(), pair.our_peer_theirs());
    assert!(
        pair.seen.their_failures.is_empty(),
        "{:?}",
        pair.seen.their_failures
    );
}

/// rust-libp2p starts listening on one more address and pushes identify to us (it writes
/// the push, FINs and drops the stream at once, so STOP_SENDING for our side travels
/// with the data); we must take the push.
async fn their_identify_push(role: Role, our_secret: u8, their_secret: u8) {
    let mut pair = Pair::connect(
        role,
        TheirConfig::new(their_secret),
        our_config(),
        our_secret,
    )
    .await;
    pair.wait(Duration::from_secs(20), "their first identify", |s| {
        s.our_identified.is_some()
    })
    .await;
    let events = pair.seen.our_identify_events;
    pair.swarm.listen_on(quic_addr(0)).unwrap();
    pair.wait(Duration::from_secs(10), "their identify push", |s| {
        s.their_pushes > 0 && s.our_identify_events > events
    })
    .await;
    let info = pair.seen.our_identified.as_ref().unwrap();
    let listen: Vec<String> = info.listen_addrs.iter().map(|a| a.to_string()).collect();
    let mut expected: Vec<String> = pair
        .seen
        .their_listen_addrs
        .iter()
        .map(|a| a.to_string())
        .collect();
    let mut sorted = listen.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "their listen addresses after the push");
    assert_eq!(info.agent_version.as_deref(), Some(THEIR_AGENT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_handshake_identify_ping() {
    bounded(handshake_identify_ping(Role::WeDial, 101, 102)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dial_handshake_identify_ping() {
    bounded(handshake_identify_ping(Role::TheyDial, 103, 104)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_push_identify_to_rust_libp2p() {
    bounded(our_identify_push(Role::WeDial, 105, 106)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dial_we_push_identify_to_rust_libp2p() {
    bounded(our_identify_push(Role::TheyDial, 107, 108)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_rust_libp2p_identify_push_reaches_us() {
    bounded(their_identify_push(Role::WeDial, 109, 110)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dial_rust_libp2p_identify_push_reaches_us() {
    bounded(their_identify_push(Role::TheyDial, 151, 152)).await;
}
