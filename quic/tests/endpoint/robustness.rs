//! Junk input never panics and is counted. (The seeded replay of the fuzz entry point,
//! `fuzzing::endpoint_datagrams`, is a unit test in `src/fuzzing.rs`: that module exists
//! only under `cfg(test)` or the `fuzzing` feature.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use bytes::Bytes;

use leanp2p_quic::{CloseReason, Config, Datagram, Endpoint};
use leanp2p_testkit::{keypair, random_payload, LinkConfig, QuicNet};

#[test]
fn junk_datagrams_are_dropped_and_counted() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let (client, _) = pair.connect(0, 1).unwrap();
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let now = pair.time;
    let junk_from = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let before = pair.nodes[1].endpoint.stats().datagrams_dropped;
    let mut sent = 0;
    for len in [0usize, 1, 5, 20, 100, 1199, 1200, 1500, 70_000] {
        let mut data = vec![0u8; len];
        rng.fill_bytes(&mut data);
        // Short-header-looking junk and long-header-looking junk.
        for first in [0x40u8, 0xc0] {
            if let Some(byte) = data.first_mut() {
                *byte = first | (*byte & 0x3f);
            }
            pair.nodes[1].endpoint.handle_datagram(
                now,
                Datagram {
                    remote: junk_from,
                    local_ip: None,
                    ecn: None,
                    data: &data,
                },
            );
            sent += 1;
        }
    }
    pair.drain();
    let dropped = pair.nodes[1].endpoint.stats().datagrams_dropped - before;
    assert!(dropped >= sent - 2, "dropped {dropped} of {sent}");
    // The real connection is unaffected.
    pair.run_for(Duration::from_secs(1));
    assert!(pair.nodes[0].endpoint.is_connected(client));
    assert!(pair.nodes[1].connected().len() == 1);
}

#[test]
fn mutated_handshake_packets_never_panic() {
    // Flip bytes of real client Initials and feed them to a fresh server.
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    for round in 0..20u8 {
        let mut pair = QuicNet::new(Instant::now()).unwrap();
        let now = pair.time;
        let addr = pair.nodes[1].addr;
        pair.nodes[0].endpoint.dial(now, addr, None).unwrap();
        let mut buf = Vec::new();
        let transmit = pair.nodes[0].endpoint.poll_transmit(now, &mut buf).unwrap();
        let mut packet = buf[..transmit.size].to_vec();
        for _ in 0..=round {
            let at = (rng.next_u32() as usize) % packet.len();
            packet[at] ^= 1 << (rng.next_u32() % 8);
        }
        let from = pair.nodes[0].addr;
        pair.nodes[1].endpoint.handle_datagram(
            now,
            Datagram {
                remote: from,
                local_ip: None,
                ecn: None,
                data: &packet,
            },
        );
        pair.run_for(Duration::from_secs(20));
        assert!(pair.nodes[1].connected().is_empty() || pair.nodes[0].connected().len() <= 1);
    }
}

#[test]
fn restarted_peer_answers_with_stateless_reset() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let (client, _) = pair.connect(0, 1).unwrap();
    // The server restarts: same host key (so the same reset key), no connection state.
    pair.nodes[1].endpoint =
        Endpoint::new(Config::default(), &keypair(2).unwrap(), [200; 32]).unwrap();
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    pair.send(0, client, stream, random_payload(1000, 4), false)
        .unwrap();
    pair.drive_until(Duration::from_secs(2), |p| !p.nodes[0].closed().is_empty())
        .unwrap();
    assert_eq!(pair.nodes[0].closed(), vec![(client, CloseReason::Reset)]);
    // Far sooner than the idle timeout.
    assert!(pair.nodes[0].endpoint.connection_count() <= 1);
}

#[test]
fn address_validation_uses_retry_and_still_connects() {
    let mut server = Config::default();
    server.validate_addresses(true);
    let mut pair = QuicNet::with_configs(
        Instant::now(),
        vec![Config::default(), server],
        LinkConfig::default(),
    )
    .unwrap();
    let (client, server_conn) = pair.connect(0, 1).unwrap();
    assert_eq!(pair.nodes[1].endpoint.stats().incoming_retried, 1);
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    pair.send(0, client, stream, Bytes::from_static(b"validated"), true)
        .unwrap();
    pair.drive_until(Duration::from_secs(1), |p| {
        p.nodes[1].finished.contains(&(server_conn, stream))
    })
    .unwrap();
}
