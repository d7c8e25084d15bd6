//! Junk input never panics and is counted.

use std::net::SocketAddr;
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use bytes::Bytes;

use super::pair::{keypair, payload, LinkConfig, Pair};
use crate::{CloseReason, Config, Datagram, Endpoint};

#[test]
fn junk_datagrams_are_dropped_and_counted() {
    let mut pair = Pair::new();
    let (client, _) = pair.connect();
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
        let mut pair = Pair::new();
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
fn fuzz_entry_point_survives_seeded_inputs() {
    let mut rng = ChaCha20Rng::from_seed([11; 32]);
    let t0 = std::time::Instant::now();
    for len in [0usize, 3, 100, 1300, 5000] {
        let mut data = vec![0u8; len];
        rng.fill_bytes(&mut data);
        crate::fuzzing::endpoint_datagrams(&data, t0);
    }
}

#[test]
fn restarted_peer_answers_with_stateless_reset() {
    let mut pair = Pair::new();
    let (client, _) = pair.connect();
    // The server restarts: same host key (so the same reset key), no connection state.
    pair.nodes[1].endpoint = Endpoint::new(Config::default(), &keypair(2), [200; 32]).unwrap();
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    pair.send(0, client, stream, payload(1000, 4), false);
    pair.drive_until(Duration::from_secs(2), |p| !p.nodes[0].closed().is_empty());
    assert_eq!(pair.nodes[0].closed(), vec![(client, CloseReason::Reset)]);
    // Far sooner than the idle timeout.
    assert!(pair.nodes[0].endpoint.connection_count() <= 1);
}

#[test]
fn address_validation_uses_retry_and_still_connects() {
    let mut server = Config::default();
    server.validate_addresses(true);
    let mut pair = Pair::with_configs(vec![Config::default(), server], LinkConfig::default());
    let (client, server_conn) = pair.connect();
    assert_eq!(pair.nodes[1].endpoint.stats().incoming_retried, 1);
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    pair.send(0, client, stream, Bytes::from_static(b"validated"), true);
    pair.drive_until(Duration::from_secs(1), |p| {
        p.nodes[1].finished.contains(&(server_conn, stream))
    });
}
