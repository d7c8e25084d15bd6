//! Plain `fn(&[u8])` fuzz entry points (feature `fuzzing`), used by the cargo-fuzz target
//! `discv5_packet` and replayed by the fuzz crate's corpus test.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use leanp2p_identity::{Enr, Keypair};

use crate::machine::{Config, Discv5};
use crate::message::Message;
use crate::node_id::NodeId;
use crate::packet::decode_packet;

/// Secret key of node B in the discv5 wire test vectors (the vectors' packets are masked
/// for it, so they make good seeds).
const NODE_B_KEY: [u8; 32] = [
    0x66, 0xfb, 0x62, 0xbf, 0xbd, 0x66, 0xb9, 0x17, 0x7a, 0x13, 0x8c, 0x1e, 0x5c, 0xdd, 0xbe, 0x4f,
    0x7c, 0x30, 0xc3, 0x43, 0xe9, 0x4e, 0x68, 0xdf, 0x87, 0x69, 0x45, 0x9c, 0xb1, 0xcd, 0xe6, 0x28,
];
/// Secret key of node A in the test vectors.
const NODE_A_KEY: [u8; 32] = [
    0xee, 0xf7, 0x7a, 0xcb, 0x6c, 0x6a, 0x6e, 0xeb, 0xc5, 0xb3, 0x63, 0xa4, 0x75, 0xac, 0x58, 0x3e,
    0xc7, 0xec, 0xcd, 0xb4, 0x2b, 0x64, 0x81, 0x42, 0x4c, 0x60, 0xf5, 0x9a, 0xa3, 0x26, 0x54, 0x7f,
];

const ADDR_A: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9000);
const ADDR_B: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9001);

/// Machines A and B with an established session (built once per process).
struct Pair {
    t0: Instant,
    a: Discv5,
    b: Discv5,
}

fn machine(t0: Instant, secret: &[u8; 32], port: u16, seed: u8) -> Option<Discv5> {
    let key = Keypair::from_secret_bytes(secret).ok()?;
    let enr = Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(port)
        .build(&key)
        .ok()?;
    let config = Config {
        table_ip_limits: None,
        ..Config::default()
    };
    Discv5::new(t0, config, key, enr, [seed; 32]).ok()
}

/// Moves datagrams between the pair until nothing moves (bounded).
fn pump(pair: &mut Pair, now: Instant) {
    for _ in 0..64 {
        let mut moved = false;
        while let Some(t) = pair.a.poll_transmit() {
            moved = true;
            pair.b.handle_packet(now, ADDR_A, &t.bytes);
        }
        while let Some(t) = pair.b.poll_transmit() {
            moved = true;
            pair.a.handle_packet(now, ADDR_B, &t.bytes);
        }
        while pair.a.poll_event().is_some() {}
        while pair.b.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

fn pair(t0: Instant) -> Option<&'static Pair> {
    static PAIR: OnceLock<Option<Pair>> = OnceLock::new();
    PAIR.get_or_init(|| {
        let mut pair = Pair {
            t0,
            a: machine(t0, &NODE_A_KEY, ADDR_A.port(), 1)?,
            b: machine(t0, &NODE_B_KEY, ADDR_B.port(), 2)?,
        };
        pair.a.add_enr(pair.b.local_enr().clone()).ok()?;
        let b = pair.b.local_id();
        pair.a.ping(t0, b).ok()?;
        pump(&mut pair, t0);
        Some(pair)
    })
    .as_ref()
}

/// Decodes `data` as a packet for node B (and as a bare message), then feeds it to a
/// machine B that has a session with A: once as a raw datagram from A, once as a message
/// plaintext sealed with A's real session keys; then runs the timers. `t0` is the start
/// time of the prepared pair on the first call (the caller reads the clock; this crate
/// never does).
pub fn discv5_packet(data: &[u8], t0: Instant) {
    let Some(prepared) = pair(t0) else {
        return;
    };
    let local = prepared.b.local_id();
    if let Ok(packet) = decode_packet(&local, data) {
        let _ = packet.open(&[0u8; 16]);
    }
    let _ = Message::decode(data);

    let mut pair = Pair {
        t0: prepared.t0,
        a: prepared.a.clone(),
        b: prepared.b.clone(),
    };
    let now = pair.t0;
    pair.b.handle_packet(now, ADDR_A, data);
    pump(&mut pair, now);
    let to_b = (NodeId(*local.as_bytes()), ADDR_B);
    let _ = pair.a.send_with_session(to_b, data);
    pump(&mut pair, now);
    for secs in [1, 2, 31] {
        let later = now + Duration::from_secs(secs);
        pair.a.handle_timeout(later);
        pair.b.handle_timeout(later);
        pump(&mut pair, later);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_and_noise_do_not_panic() {
        let t0 = Instant::now();
        let pair = pair(t0).expect("pair builds");
        assert!(pair.a.has_session(&pair.b.local_id(), ADDR_B));
        let ping = Message::Ping {
            id: crate::message::RequestId::from_u64(1),
            enr_seq: 9,
        };
        for input in [
            &[][..],
            &[0u8; 63][..],
            &[0xff; 1300][..],
            &ping.encode()[..],
        ] {
            discv5_packet(input, t0);
        }
        // The sealed-plaintext path reaches the message handlers: B answers the PING and
        // A finds no request of its own for the PONG.
        let mut copy = Pair {
            t0,
            a: pair.a.clone(),
            b: pair.b.clone(),
        };
        let before = copy.a.stats().responses_unexpected;
        copy.a
            .send_with_session((pair.b.local_id(), ADDR_B), &ping.encode())
            .unwrap();
        pump(&mut copy, t0);
        assert_eq!(copy.a.stats().responses_unexpected, before + 1);
    }

    /// A deterministic stand-in for the fuzzer on stable: mutations of the wire vectors
    /// and of message plaintexts (byte flips, truncations, splices, insertions).
    #[test]
    fn mutated_seeds_do_not_panic() {
        use rand_core::{RngCore, SeedableRng};
        let t0 = Instant::now();
        let hex = |s: &str| {
            let s: String = s.split_whitespace().collect();
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>()
        };
        let mut seeds: Vec<Vec<u8>> = [
            crate::packet::tests::PING_PACKET,
            crate::packet::tests::WHOAREYOU_PACKET,
            crate::packet::tests::HANDSHAKE_PACKET,
            crate::packet::tests::HANDSHAKE_ENR_PACKET,
        ]
        .iter()
        .map(|s| hex(s))
        .collect();
        let id = crate::message::RequestId::from_u64(7);
        seeds.push(Message::Ping { id, enr_seq: 3 }.encode());
        seeds.push(
            Message::FindNode {
                id,
                distances: vec![0, 255, 256],
            }
            .encode(),
        );
        seeds.push(
            Message::TalkReq {
                id,
                protocol: b"p".to_vec(),
                request: vec![1; 40],
            }
            .encode(),
        );
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([42; 32]);
        for round in 0..600 {
            let mut data = seeds[round % seeds.len()].clone();
            for _ in 0..=(rng.next_u32() % 4) {
                let len = data.len().max(1);
                let at = rng.next_u32() as usize % len;
                match rng.next_u32() % 4 {
                    0 if !data.is_empty() => data[at] ^= 1 << (rng.next_u32() % 8),
                    1 => data.truncate(at),
                    2 => data.insert(at.min(data.len()), rng.next_u32() as u8),
                    _ => {
                        let other = &seeds[rng.next_u32() as usize % seeds.len()];
                        data.extend_from_slice(&other[..other.len() / 2]);
                    }
                }
            }
            discv5_packet(&data, t0);
        }
    }
}
