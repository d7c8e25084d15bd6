//! Attacks on the transport, the connection manager and the stream layer: forged and
//! half-open QUIC handshakes, many connections under one PeerId, pings without receive
//! credit, negotiations that never finish, a request that declares a huge length and
//! stalls, and streams beyond the per-protocol caps.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leanp2p_host::{Bytes, Keypair, IDENTIFY_PROTOCOL};
use leanp2p_quic::Endpoint;
use leanp2p_reqresp::lean as rr_lean;
use rand::{Rng, RngCore, SeedableRng};

use crate::raw::{ms_line, ms_propose, uvarint, RawOptions, RawPeer, PING};
use crate::support::{
    lean_config, status_body, wait_for, AppOptions, Bounds, HonestLoad, LeanPeer, Scene, WAIT_LIMIT,
};

/// How long each attack runs with the honest workload beside it.
const ATTACK: Duration = Duration::from_secs(4);

/// A QUIC v1 long-header Initial of 1,200 bytes with random connection ids and a random
/// (undecryptable) payload.
fn forged_initial(rng: &mut impl RngCore) -> Vec<u8> {
    let mut out = vec![0xc3, 0, 0, 0, 1];
    let dcid_len = rng.gen_range(8..=20u8);
    out.push(dcid_len);
    out.extend((0..dcid_len).map(|_| rng.gen::<u8>()));
    out.push(8);
    out.extend((0..8).map(|_| rng.gen::<u8>()));
    out.push(0); // token length
    let rest = 1200 - out.len() - 2;
    out.extend([0x40 | (rest >> 8) as u8, rest as u8]);
    out.extend((0..rest).map(|_| rng.gen::<u8>()));
    out
}

/// The flood of defect 2 on a thread: every 250 ms, 300 forged Initials from 10 fresh
/// sockets (throwaway source ports) and the first flights of 20 real dials, each from
/// its own fresh socket and never continued (half-open handshakes).
pub struct InitialFlood {
    stop: Arc<AtomicBool>,
    /// Datagrams sent so far.
    pub sent: Arc<AtomicU64>,
    join: Option<std::thread::JoinHandle<()>>,
}

impl InitialFlood {
    /// Starts flooding `target`.
    pub fn start(target: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let join = {
            let (stop, sent) = (stop.clone(), sent.clone());
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(2);
                let key = Keypair::from_secret_bytes(&[40; 32]).unwrap();
                let mut config = leanp2p_quic::Config::default();
                config.limits.max_connections = 100_000;
                config.limits.max_handshakes = 100_000;
                let mut dialer = Endpoint::new(config, &key, [40; 32]).unwrap();
                let mut buf = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..10 {
                        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                        for _ in 0..30 {
                            let _ = socket.send_to(&forged_initial(&mut rng), target);
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    let now = Instant::now();
                    for _ in 0..20 {
                        if dialer.dial(now, target, None).is_err() {
                            break;
                        }
                        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                        while let Some(t) = dialer.poll_transmit(now, &mut buf) {
                            let _ = socket.send_to(&buf[..t.size], t.destination);
                            sent.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    while dialer.poll_event().is_some() {}
                    std::thread::sleep(Duration::from_millis(250));
                }
            })
        };
        Self {
            stop,
            sent,
            join: Some(join),
        }
    }
}

impl Drop for InitialFlood {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

/// Defect 2: forged Initials and half-open handshakes from throwaway source ports
/// while an honest peer dials in; it connects, and gossip, ping and req/resp flow.
#[test]
fn forged_initials_while_an_honest_peer_dials() {
    let victim = LeanPeer::start("victim", lean_config(), 1, AppOptions::default());
    let flood = InitialFlood::start(victim.addr);
    wait_for("the flood to start", WAIT_LIMIT, || {
        flood.sent.load(Ordering::Relaxed) >= 600
    });
    let honest = LeanPeer::start("honest", lean_config(), 2, AppOptions::default());
    honest.connect_to(&victim);
    victim.wait_subscribed(honest.peer);
    honest.wait_subscribed(victim.peer);
    let scene = Scene { victim, honest };
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {});
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    let sent = flood.sent.load(Ordering::Relaxed);
    drop(flood);
    let stats = scene.victim.stats();
    assert!(
        stats.quic.datagrams_received >= sent / 2,
        "the flood did not reach the victim: {sent} sent, {:?}",
        stats.quic
    );
    assert!(
        stats.quic.incoming_retried + stats.quic.incoming_refused > 0,
        "half-open handshakes were never pushed back: {:?}",
        stats.quic
    );
    assert_eq!(
        stats.connections, 1,
        "only the honest connection is established"
    );
}

/// Defect 4: one PeerId dials again and again; the victim keeps at most
/// `ConnManagerConfig::max_connections_per_peer` (2) of its connections.
#[test]
fn many_connections_under_one_peer_id() {
    let scene = Scene::start(lean_config(), AppOptions::default());
    let raw = RawPeer::start(41, RawOptions::default(), None);
    let (addr, victim_peer) = (scene.victim.addr, scene.victim.peer);
    let attacker = raw.peer;
    let cap = scene
        .victim
        .with(|node, _| node.config().conn_manager.max_connections_per_peer);
    let mut most = 0;
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        raw.with(move |s, now| {
            for _ in 0..4 {
                let _ = s.endpoint.dial(now, addr, Some(victim_peer));
            }
        });
        let held = scene
            .victim
            .with(move |node, _| node.connections_to(&attacker).len());
        most = most.max(held);
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    assert!(
        most <= cap,
        "the victim held {most} connections of one peer (cap {cap})"
    );
    let stats = scene.victim.stats();
    assert!(
        stats.counters.connections_refused_per_peer > 0,
        "no connection was refused: {:?}",
        stats.counters
    );
}

/// Defect 6: pings written on a ping stream whose echoes the attacker never reads,
/// with a 2 KiB stream receive window: the victim holds at most a few KiB of echoes
/// (it stops reading the stream) and keeps serving everyone else.
#[test]
fn pings_without_receive_credit() {
    let scene = Scene::start(lean_config(), AppOptions::default());
    let stingy = RawOptions {
        stream_receive_window: 2048,
        ..RawOptions::default()
    };
    let raw = RawPeer::start(42, stingy, None);
    let conn = raw.connect(scene.victim.addr, scene.victim.peer);
    let stream = raw
        .with(move |s, _| {
            let stream = s.open(conn, PING, &[0x70; 32 * 1024])?;
            s.unread.insert((conn, stream));
            Some(stream)
        })
        .expect("open the ping stream");
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        raw.with(move |s, _| {
            if s.queued(conn, stream) < 256 * 1024 {
                s.write(conn, stream, Bytes::from(vec![0x70; 64 * 1024]));
            }
        });
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    assert!(
        load.peaks.attacker_buffered_bytes <= 16 * 1024,
        "the victim buffered {} echo bytes for a peer granting no credit",
        load.peaks.attacker_buffered_bytes
    );
    let written = raw.with(|s, _| s.written);
    assert!(written >= 64 * 1024, "only {written} ping bytes went out");
}

/// Beyond the defects: streams whose multistream-select never completes (a header and
/// half a proposal, then silence), opened as fast as QUIC allows; the victim caps them
/// (`max_negotiating_streams`) and times them out (`negotiation_timeout`, 2 s here).
#[test]
fn negotiations_that_never_finish() {
    let mut config = lean_config();
    config.limits.negotiation_timeout = Duration::from_secs(2);
    let scene = Scene::start(config, AppOptions::default());
    let raw = RawPeer::start(43, RawOptions::default(), None);
    let conn = raw.connect(scene.victim.addr, scene.victim.peer);
    let mut stalled = ms_line("/multistream/1.0.0");
    stalled.extend(uvarint(100));
    stalled.extend_from_slice(b"/meshsub/1");
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        let stalled = stalled.clone();
        raw.with(move |s, _| {
            for _ in 0..64 {
                let Ok(stream) = s.endpoint.open_bi(conn) else {
                    break;
                };
                s.write(conn, stream, Bytes::from(stalled.clone()));
            }
        });
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    let counters = scene.victim.stats().counters;
    assert!(
        counters.inbound_streams_refused > 0 && counters.negotiation_timeouts > 0,
        "stalled negotiations were neither capped nor timed out: {counters:?}"
    );
}

/// Beyond the defects: request streams that declare a huge payload and then stall:
/// status requests declaring 2^40 bytes or 10 MiB (refused at once: status requests are
/// exactly 80 bytes), and blocks_by_root requests declaring their 32,772-byte maximum
/// then sending four bytes (held to 2 per protocol and timed out by the inbound timeout,
/// 2 s here). Honest requests are still served.
#[test]
fn request_with_a_huge_length_prefix_then_stall() {
    let mut config = lean_config();
    config
        .reqresp
        .inbound_timeout(Duration::from_secs(2))
        .rate_limit_action(leanp2p_reqresp::RateLimitAction::Delay {
            max_delay: Duration::from_secs(1),
        });
    let scene = Scene::start(config, AppOptions::default());
    let raw = RawPeer::start(44, RawOptions::default(), None);
    let conn = raw.connect(scene.victim.addr, scene.victim.peer);
    let before = scene.victim.stats().reqresp;
    let mut stalled = 0u64;
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        stalled += raw.with(move |s, _| {
            let (status, by_root) = (rr_lean::STATUS, rr_lean::BLOCKS_BY_ROOT);
            let max = rr_lean::BLOCKS_BY_ROOT_REQUEST_MAX_SIZE as u64;
            let mut opened = 0;
            for (protocol, declared) in [
                (status.as_str(), 1u64 << 40),
                (status.as_str(), 10 << 20),
                (by_root.as_str(), max),
            ] {
                let mut body = uvarint(declared);
                body.extend_from_slice(&[0xff, 0x06, 0x00, 0x00]);
                if s.open(conn, protocol, &body).is_some() && declared == max {
                    opened += 1;
                }
            }
            opened
        });
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    let after = scene.victim.stats().reqresp;
    assert!(
        after.invalid_requests > before.invalid_requests,
        "oversized declarations were not refused: {after:?}"
    );
    // Two stalled requests are held at a time; more than two admitted means the inbound
    // timeout freed their slots.
    let rejected = after.rejected_concurrency - before.rejected_concurrency;
    assert!(
        rejected > 0 && stalled - rejected > 2,
        "{stalled} stalled requests, {rejected} over the concurrency cap: {after:?}"
    );
}

/// Beyond the defects: more ping, identify and status streams on one connection than
/// the per-protocol caps allow (2, 2, and 2 concurrent requests per protocol); extras
/// are refused, the victim's stream table stays bounded.
#[test]
fn streams_beyond_the_caps() {
    let scene = Scene::start(lean_config(), AppOptions::default());
    let raw = RawPeer::start(45, RawOptions::default(), None);
    let conn = raw.connect(scene.victim.addr, scene.victim.peer);
    let attacker = raw.peer;
    let mut most_streams = 0;
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        raw.with(move |s, _| {
            for _ in 0..10 {
                let _ = s.open(conn, PING, &[0x70; 32]);
                if let Ok(stream) = s.endpoint.open_bi(conn) {
                    s.write(conn, stream, Bytes::from(ms_propose(IDENTIFY_PROTOCOL)));
                }
                let mut request = uvarint(status_body().len() as u64);
                request.extend(snappy_frames(&status_body()));
                let _ = s.open(conn, rr_lean::STATUS.as_str(), &request);
            }
        });
        let streams = scene.victim.with(move |node, _| {
            node.connections_to(&attacker)
                .iter()
                .map(|c| node.stream_count(*c))
                .sum::<usize>()
        });
        most_streams = most_streams.max(streams);
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    let counters = scene.victim.stats().counters;
    assert!(
        counters.inbound_streams_refused > 0,
        "no stream was refused over a cap: {counters:?}"
    );
    assert!(
        most_streams <= 256,
        "the victim tracked {most_streams} streams of one connection"
    );
}

/// `data` in the snappy framing format (what `ssz_snappy` req/resp uses).
fn snappy_frames(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = snap::write::FrameEncoder::new(Vec::new());
    encoder.write_all(data).unwrap();
    encoder.into_inner().unwrap()
}
