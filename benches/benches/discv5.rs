//! Node Discovery v5 (`leanp2p-discv5`), two machines wired in memory:
//! * `discv5/handshake`: a full handshake plus the first exchange — PING with random
//!   keys, WHOAREYOU, handshake packet (ECDH, ID-nonce signature and its check, key
//!   derivation) carrying the PING, PONG over the new session — both sides' work, from
//!   fresh copies of a prepared pair (copying is not measured);
//! * `discv5/decode_packet`: one ordinary PING packet unmasked (AES-CTR), decrypted
//!   (AES-GCM) and its message decoded (RLP), at the packet layer;
//! * `discv5/handle_ping`: the same packet through `Discv5::handle_packet` on an
//!   established session, PONG encrypted and queued.
//!
//! Criterion prints each as elements per second (handshakes or packets).

// A bench aborts on a broken fixture; `criterion_group!` generates an undocumented `pub fn`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use leanp2p_discv5::packet::{decode_packet, encode_message_packet, AuthData, Header};
use leanp2p_discv5::{Config, Discv5, Message, NodeId, RequestId, Transmit};
use leanp2p_identity::{Enr, Keypair};

struct Pair {
    a: Discv5,
    b: Discv5,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    b_id: NodeId,
}

fn machine(secret: u8, port: u16, now: Instant) -> (Discv5, Enr, SocketAddr) {
    let key = Keypair::from_secret_bytes(&[secret; 32]).unwrap();
    let enr = Enr::builder()
        .seq(1)
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(port)
        .build(&key)
        .unwrap();
    let config = Config {
        table_ip_limits: None,
        ..Config::default()
    };
    let m = Discv5::new(now, config, key, enr.clone(), [secret; 32]).unwrap();
    (m, enr, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
}

/// A knows B's record; no session yet.
fn pair(now: Instant) -> Pair {
    let (mut a, _, a_addr) = machine(1, 9001, now);
    let (b, b_enr, b_addr) = machine(2, 9002, now);
    a.add_enr(b_enr.clone()).unwrap();
    Pair {
        a,
        b,
        a_addr,
        b_addr,
        b_id: NodeId(b_enr.node_id()),
    }
}

/// Moves datagrams between the two until neither sends; returns datagrams moved.
fn pump(p: &mut Pair, now: Instant) -> usize {
    let mut moved = 0;
    loop {
        let mut any = false;
        while let Some(Transmit { bytes, .. }) = p.a.poll_transmit() {
            p.b.handle_packet(now, p.a_addr, &bytes);
            moved += 1;
            any = true;
        }
        while let Some(Transmit { bytes, .. }) = p.b.poll_transmit() {
            p.a.handle_packet(now, p.b_addr, &bytes);
            moved += 1;
            any = true;
        }
        while p.a.poll_event().is_some() || p.b.poll_event().is_some() {}
        if !any {
            return moved;
        }
    }
}

fn handshake(c: &mut Criterion) {
    let now = Instant::now();
    let pristine = pair(now);
    // Sanity: random PING, WHOAREYOU, handshake + PING, PONG.
    let mut check = pair(now);
    check.a.ping(now, check.b_id).unwrap();
    assert_eq!(pump(&mut check, now), 4);
    assert!(check.a.has_session(&check.b_id, check.b_addr));

    let mut group = c.benchmark_group("discv5");
    group.throughput(Throughput::Elements(1));
    group.bench_function("handshake", |bench| {
        bench.iter_batched(
            || (pristine.a.clone(), pristine.b.clone()),
            |(a, b)| {
                let mut p = Pair {
                    a,
                    b,
                    a_addr: pristine.a_addr,
                    b_addr: pristine.b_addr,
                    b_id: pristine.b_id,
                };
                p.a.ping(now, p.b_id).unwrap();
                black_box(pump(&mut p, now));
                p
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn packets(c: &mut Criterion) {
    let now = Instant::now();
    let mut p = pair(now);
    p.a.ping(now, p.b_id).unwrap();
    pump(&mut p, now);
    let a_local = p.a.local_id();
    let b_local = p.b.local_id();

    // Packet layer: an ordinary PING packet sealed with a known key.
    let key = [7u8; 16];
    let header = Header {
        nonce: [3; 12],
        auth: AuthData::Message { src_id: a_local },
    };
    let plaintext = Message::Ping {
        id: RequestId::from_u64(7),
        enr_seq: 1,
    }
    .encode();
    let packet = encode_message_packet([5; 16], &b_local, &header, &key, &plaintext).unwrap();
    let decode = |bytes: &[u8]| {
        let decoded = decode_packet(&b_local, bytes).unwrap();
        Message::decode(&decoded.open(&key).unwrap()).unwrap()
    };
    assert!(matches!(decode(&packet), Message::Ping { enr_seq: 1, .. }));

    // Machine: a PING over the established session, captured instead of delivered.
    p.a.ping(now, p.b_id).unwrap();
    let ping = p.a.poll_transmit().unwrap().bytes;
    for _ in 0..2 {
        p.b.handle_packet(now, p.a_addr, &ping);
        assert!(
            p.b.poll_transmit().is_some(),
            "B answers every copy of the PING"
        );
    }

    let mut group = c.benchmark_group("discv5");
    group.throughput(Throughput::Elements(1));
    group.bench_function("decode_packet", |bench| {
        bench.iter(|| black_box(decode(black_box(&packet))))
    });
    group.bench_function("handle_ping", |bench| {
        bench.iter(|| {
            p.b.handle_packet(now, p.a_addr, black_box(&ping));
            black_box(p.b.poll_transmit().unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, handshake, packets);
criterion_main!(benches);
