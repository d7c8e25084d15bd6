//! Attacks on the gossip path, each from a raw peer writing its own `/meshsub/1.2.0`
//! frames while the honest workload runs.

use std::time::Duration;

use leanp2p_gossipsub::lean as gossip_lean;
use leanp2p_gossipsub::wire::encode_rpc_frame;
use leanp2p_gossipsub::wire::proto::{ControlIDontWant, ControlMessage, Message, Rpc, SubOpts};
use leanp2p_host::{Bytes, Stats};
use leanp2p_quic::{ConnId, StreamId};

use crate::raw::{uvarint, RawOptions, RawPeer, MESHSUB};
use crate::support::{
    lean_config, payload, topic_string, wait_for, AppOptions, Bounds, HonestLoad, Scene, WAIT_LIMIT,
};

/// How long each attack runs with the honest workload beside it.
const ATTACK: Duration = Duration::from_secs(4);

fn subscription(topic: &str, subscribe: bool) -> Rpc {
    Rpc {
        subscriptions: vec![SubOpts {
            subscribe: Some(subscribe),
            topic_id: Some(topic.to_string()),
            ..SubOpts::default()
        }],
        ..Rpc::default()
    }
}

fn publish(data: Bytes) -> Rpc {
    Rpc {
        publish: vec![Message {
            data: Some(data),
            topic: topic_string(),
            ..Message::default()
        }],
        ..Rpc::default()
    }
}

/// A raw peer connected to the victim with its own `/meshsub/1.2.0` stream, on which it
/// has subscribed to the block topic; returns once the victim's application saw the
/// subscription.
fn gossip_attacker(scene: &Scene, secret: u8, options: RawOptions) -> (RawPeer, ConnId, StreamId) {
    let raw = RawPeer::start(secret, options, None);
    let conn = raw.connect(scene.victim.addr, scene.victim.peer);
    let hello = encode_rpc_frame(&subscription(&topic_string(), true));
    let stream = raw
        .with(move |s, _| s.open(conn, MESHSUB, &hello))
        .expect("open /meshsub");
    (raw, conn, stream)
}

fn wait_attacker_subscribed(scene: &Scene, raw: &RawPeer) {
    scene.victim.wait_subscribed(raw.peer);
}

/// Writes `frame` on the attacker's stream whenever less than `backlog` bytes wait.
fn keep_writing(raw: &RawPeer, conn: ConnId, stream: StreamId, frame: Bytes, backlog: usize) {
    raw.with(move |s, _| {
        if s.queued(conn, stream) < backlog {
            s.write(conn, stream, frame);
        }
    });
}

fn counters(stats: &Stats) -> (&leanp2p_host::Counters, &leanp2p_gossipsub::stats::Counters) {
    (&stats.counters, &stats.gossipsub.counters)
}

/// Defect 1: RPCs of ~1.1 MB of IDONTWANT ids (10 entries × 5,000 ids), repeated.
#[test]
fn idontwant_flood() {
    let scene = Scene::start(lean_config(), AppOptions::default());
    let (raw, conn, stream) = gossip_attacker(&scene, 31, RawOptions::default());
    wait_attacker_subscribed(&scene, &raw);
    let mut next_id = 0u64;
    let mut flood = || {
        let idontwant = (0..10)
            .map(|_| ControlIDontWant {
                message_ids: (0..5_000)
                    .map(|_| {
                        next_id += 1;
                        let mut id = vec![0xdd; 20];
                        id[..8].copy_from_slice(&next_id.to_le_bytes());
                        id
                    })
                    .collect(),
            })
            .collect();
        encode_rpc_frame(&Rpc {
            control: Some(ControlMessage {
                idontwant,
                ..ControlMessage::default()
            }),
            ..Rpc::default()
        })
    };
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        keep_writing(&raw, conn, stream, flood(), 4 << 20);
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    let stats = scene.victim.stats();
    let (_, gossip) = counters(&stats);
    assert!(
        gossip.idontwant_received + gossip.idontwant_dropped >= 50_000,
        "the flood did not reach the router: {gossip:?}"
    );
    assert!(
        gossip.idontwant_dropped > 0,
        "no IDONTWANT id was capped: {gossip:?}"
    );
}

/// Defect 3a: block-topic unsubscribe/subscribe toggles (one change per frame, so one
/// event each)
/// while the victim's application is slow; the honest peer's traffic still arrives.
#[test]
fn subscription_toggle_flood_with_a_slow_app() {
    let slow = AppOptions {
        delay_per_event: Duration::from_millis(1),
        channel_capacity: 64,
    };
    let scene = Scene::start(lean_config(), slow);
    let (raw, conn, stream) = gossip_attacker(&scene, 32, RawOptions::default());
    wait_attacker_subscribed(&scene, &raw);
    let mut flip = false;
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        let mut batch = Vec::new();
        for _ in 0..2_000 {
            flip = !flip;
            batch.extend_from_slice(&encode_rpc_frame(&subscription(&topic_string(), flip)));
        }
        keep_writing(&raw, conn, stream, Bytes::from(batch), 1 << 20);
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds {
        queued_events: 4_096,
        ..Bounds::default()
    });
    let stats = scene.victim.stats();
    let (host, gossip) = counters(&stats);
    eprintln!("{host:?}\n{gossip:?}");
    assert!(
        gossip.subscription_changes_ignored
            + host.events_collapsed
            + host.event_backpressure_pauses
            > 0,
        "the toggles were never capped: {host:?} {gossip:?}"
    );
}

/// Defect 3b: a peer publishing distinct valid messages far faster than the slow
/// application drains them; its events are held to its per-peer budget
/// (`Limits::max_peer_queued_events`, 1,024) and its streams paused.
#[test]
fn fast_publisher_with_a_slow_app() {
    let slow = AppOptions {
        delay_per_event: Duration::from_millis(1),
        channel_capacity: 64,
    };
    let scene = Scene::start(lean_config(), slow);
    let (raw, conn, stream) = gossip_attacker(&scene, 33, RawOptions::default());
    wait_attacker_subscribed(&scene, &raw);
    let mut seq = 0u64;
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        let mut batch = Vec::new();
        for _ in 0..500 {
            seq += 1;
            batch.extend_from_slice(&encode_rpc_frame(&publish(payload(9, seq, 256))));
        }
        keep_writing(&raw, conn, stream, Bytes::from(batch), 1 << 20);
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds {
        queued_events: 4_096,
        ..Bounds::default()
    });
    let stats = scene.victim.stats();
    let (host, _) = counters(&stats);
    assert!(
        host.event_backpressure_pauses > 0,
        "the publisher was never held back: {host:?}"
    );
}

/// Defect 7: duplicates of snappy bombs: a tiny message declaring 10 MiB (invalid
/// snappy) 400 times, and a real 10 MiB-of-zeros block (~0.5 MB compressed) 30 times.
/// Duplicates must be recognised without decompressing again (`duplicates_raw`).
#[test]
fn snappy_bomb_duplicates() {
    let scene = Scene::start(lean_config(), AppOptions::default());
    let (raw, conn, stream) = gossip_attacker(&scene, 34, RawOptions::default());
    wait_attacker_subscribed(&scene, &raw);
    let before = scene.victim.stats().gossipsub.counters;
    let mut tiny = uvarint((10 << 20) - 1);
    tiny.extend_from_slice(&[0x00, 0x61]);
    let tiny = encode_rpc_frame(&publish(Bytes::from(tiny)));
    let zeros = vec![0u8; gossip_lean::MAX_PAYLOAD_SIZE - 64];
    let real =
        Bytes::from(gossip_lean::snappy_compress(&zeros, gossip_lean::MAX_PAYLOAD_SIZE).unwrap());
    let real = encode_rpc_frame(&publish(real));
    let (mut tiny_left, mut real_left) = (400, 30);
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        let (tiny, real) = (tiny.clone(), real.clone());
        let sent_tiny = tiny_left.min(100);
        let sent_real = if tiny_left == 0 { real_left.min(8) } else { 0 };
        tiny_left -= sent_tiny;
        real_left -= sent_real;
        raw.with(move |s, _| {
            for _ in 0..sent_tiny {
                s.write(conn, stream, tiny.clone());
            }
            for _ in 0..sent_real {
                s.write(conn, stream, real.clone());
            }
        });
    });
    // Every copy but the first of each bomb is a duplicate caught by the raw-message
    // cache, before any decompression.
    wait_for("the bombs' duplicates, caught raw", WAIT_LIMIT, || {
        let c = scene.victim.stats().gossipsub.counters;
        c.duplicates_raw - before.duplicates_raw >= 399 + 29
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    let after = scene.victim.stats().gossipsub.counters;
    // One decompression per distinct message: the two bombs and the honest messages.
    let computed = after.message_ids_computed - before.message_ids_computed;
    let distinct = load.honest_messages() as u64 + 2;
    assert!(
        computed <= distinct,
        "{computed} message ids computed for {distinct} distinct messages"
    );
}

/// `key(field, length-delimited) ‖ uvarint(len) ‖ bytes`.
fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = uvarint((number << 3) | 2);
    out.extend(uvarint(bytes.len() as u64));
    out.extend_from_slice(bytes);
    out
}

/// Defect 8: small messages each in a 4 MiB frame, padded with an unknown field of the
/// message (field 15); every message is still delivered, and the victim's buffers stay
/// bounded.
#[test]
fn padded_small_messages() {
    let scene = Scene::start(lean_config(), AppOptions::default());
    let (raw, conn, stream) = gossip_attacker(&scene, 35, RawOptions::default());
    wait_attacker_subscribed(&scene, &raw);
    let padding = vec![0x55u8; 4 << 20];
    let mut sent = Vec::new();
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        if sent.len() >= 16 {
            return;
        }
        let data = payload(8, sent.len() as u64, 200);
        sent.push(data.clone());
        let mut message = field(2, &data);
        message.extend(field(4, topic_string().as_bytes()));
        message.extend(field(15, &padding));
        let rpc = field(2, &message);
        let mut frame = uvarint(rpc.len() as u64);
        frame.extend(rpc);
        raw.with(move |s, _| s.write(conn, stream, Bytes::from(frame)));
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    let attacker = raw.peer;
    wait_for("every padded message", WAIT_LIMIT, || {
        let log = scene.victim.log.lock().unwrap();
        log.messages
            .get(&attacker)
            .is_some_and(|got| sent.iter().all(|m| got.contains(m)))
    });
}

/// Defect 11: the attacker refuses the victim's `/meshsub` streams until the victim
/// gives gossip to it up, then sends gossip frames on its own inbound `/meshsub` stream;
/// they are dropped (`early_gossip_dropped`), never delivered.
#[test]
fn gossip_after_the_victim_gave_up() {
    let scene = Scene::start(lean_config(), AppOptions::default());
    let refuse = RawOptions {
        accept_gossip: false,
        ..RawOptions::default()
    };
    let raw = RawPeer::start(36, refuse, None);
    let conn = raw.connect(scene.victim.addr, scene.victim.peer);
    let max_attempts = scene
        .victim
        .with(|node, _| node.config().limits.max_gossip_stream_attempts);
    wait_for(
        "the victim to give its /meshsub stream up",
        WAIT_LIMIT,
        || // our honest stream plus every attempt to the attacker
        scene.victim.stats().counters.gossip_streams_opened > u64::from(max_attempts),
    );
    std::thread::sleep(Duration::from_millis(300));
    let hello = encode_rpc_frame(&subscription(&topic_string(), true));
    let stream = raw
        .with(move |s, _| s.open(conn, MESHSUB, &hello))
        .expect("open /meshsub");
    let before = scene.victim.stats().counters.early_gossip_dropped;
    let mut seq = 0u64;
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        let mut batch = Vec::new();
        for _ in 0..50 {
            seq += 1;
            batch.extend_from_slice(&encode_rpc_frame(&publish(payload(11, seq, 1024))));
        }
        keep_writing(&raw, conn, stream, Bytes::from(batch), 1 << 20);
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    let stats = scene.victim.stats();
    assert!(
        stats.counters.early_gossip_dropped > before,
        "frames after giving up were not dropped: {:?}",
        stats.counters
    );
    let log = scene.victim.log.lock().unwrap();
    assert!(
        !log.messages.contains_key(&raw.peer),
        "a message from the given-up peer was delivered"
    );
}

/// Beyond the defects: a mesh peer that accepts the victim's `/meshsub` stream and never
/// reads it (64 KiB stream window) while the honest peer publishes 1 MiB of 256 KiB
/// blocks every 100 ms for the victim to forward: the victim's buffer for it stays
/// within its gossip budget (`Limits::gossip_peer_buffer`, 4 MiB, plus one frame) and
/// the excess forwards are dropped and counted.
#[test]
fn a_mesh_peer_that_never_reads() {
    let scene = Scene::start(lean_config(), AppOptions::default());
    let deaf = RawOptions {
        read_gossip: false,
        stream_receive_window: 64 * 1024,
        ..RawOptions::default()
    };
    let (raw, _, _) = gossip_attacker(&scene, 37, deaf);
    wait_attacker_subscribed(&scene, &raw);
    let (attacker, topic) = (raw.peer, crate::support::topic());
    wait_for("the attacker in the victim's mesh", WAIT_LIMIT, || {
        let topic = topic.clone();
        scene
            .victim
            .with(move |node, _| node.gossipsub().mesh_peers(&topic).any(|p| *p == attacker))
    });
    let budget = scene
        .victim
        .with(|node, _| node.config().limits.gossip_peer_buffer);
    let mut seq = 0u64;
    let mut load = HonestLoad::new(&scene);
    load.run(&scene, ATTACK, || {
        let blocks: Vec<Bytes> = (0..4)
            .map(|_| {
                seq += 1;
                payload(12, seq, 256 * 1024)
            })
            .collect();
        scene.honest.with(move |node, now| {
            for block in blocks {
                let _ = node.publish(now, &crate::support::topic(), block);
            }
        });
    });
    load.assert_delivered(&scene);
    load.peaks.assert_within(&Bounds::default());
    let bound = budget + 512 * 1024;
    assert!(
        load.peaks.attacker_buffered_bytes <= bound,
        "the victim buffered {} bytes for a peer that never reads (bound {bound})",
        load.peaks.attacker_buffered_bytes
    );
    let counters = scene.victim.stats().counters;
    assert!(
        counters.gossip_forwards_dropped > 0,
        "the deaf peer's budget never filled: {counters:?}"
    );
}
