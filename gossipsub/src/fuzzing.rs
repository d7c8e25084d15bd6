//! Plain `fn(&[u8])` fuzz entry points (feature `fuzzing`), used by the cargo-fuzz targets
//! `gossip_frame`, `gossip_rpc` and `gossipsub_ops`, and replayed by unit tests.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_identity::{Keypair, PeerId};

use crate::wire::{decode_frame, decode_rpc, FrameDecoder};
use crate::{Event, Gossipsub, Limits, PeerConnection, ProtocolVersion, TopicHash, Validation};

const TOPICS: [&str; 3] = [
    "/leanconsensus/12345678/block/ssz_snappy",
    "/leanconsensus/12345678/aggregation/ssz_snappy",
    "/leanconsensus/12345678/attestation_0/ssz_snappy",
];

/// Stream bytes through a [`FrameDecoder`] and decode every frame section by section.
pub fn gossip_frame(data: &[u8]) {
    let limits = Limits {
        max_transmit_size: 1 << 16,
        max_decoder_buffer: 1 << 16,
        ..Limits::default()
    };
    let mut decoder = FrameDecoder::new(limits.max_transmit_size);
    // Feed in chunks whose sizes come from the data itself.
    let mut input = Bytes::copy_from_slice(data);
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    while !input.is_empty() {
        let mut piece = input.split_to(chunk.min(input.len()));
        loop {
            match decoder.decode(&mut piece) {
                Ok(Some(frame)) => {
                    assert!(frame.len() <= limits.max_transmit_size);
                    let _ = decode_rpc(&frame, &limits);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    let _ = decode_frame(&Bytes::copy_from_slice(data), limits.max_transmit_size);
}

/// Feed `data` as one RPC to a subscribed router with scoring on, then run heartbeats.
/// `t0` is the router's start time (the caller reads the clock; this crate never does).
pub fn gossip_rpc(data: &[u8], t0: Instant) {
    let mut cfg = crate::lean::config();
    cfg.scoring = Some(crate::ScoreConfig {
        params: crate::PeerScoreParams::default(),
        thresholds: crate::PeerScoreThresholds::default(),
    });
    let Ok(mut gs) = Gossipsub::new(t0, cfg, [0; 32]) else {
        return;
    };
    let Some(&peer) = fuzz_peers().first() else {
        return;
    };
    let _ = gs.handle_peer_connected(t0, peer, PeerConnection::new(ProtocolVersion::V1_2, true));
    for t in TOPICS {
        let _ = gs.subscribe(t0, &TopicHash::new(t));
    }
    let _ = gs.handle_rpc(t0, peer, Bytes::copy_from_slice(data));
    let mut now = t0;
    for _ in 0..3 {
        now += Duration::from_millis(700);
        gs.handle_timeout(now);
        drain_and_check(&mut gs, now);
    }
}

/// Eight fixed peers (secret keys `[1; 32]` … `[8; 32]`, all valid scalars), derived
/// once per process: a secp256k1 key derivation costs more than a whole router run, and
/// the peers do not depend on the input.
fn fuzz_peers() -> &'static [PeerId] {
    static PEERS: OnceLock<Vec<PeerId>> = OnceLock::new();
    PEERS.get_or_init(|| {
        (1..=8u8)
            .filter_map(|i| Keypair::from_secret_bytes(&[i; 32]).ok())
            .map(|k| k.peer_id())
            .collect()
    })
}

/// Drains output and events, checks invariants, accepts every message.
fn drain_and_check(gs: &mut Gossipsub, now: Instant) {
    let limits = gs.config().limits.clone();
    while let Some(out) = gs.poll_outbound() {
        let body = decode_frame(&out.frame, limits.max_transmit_size.saturating_add(16));
        assert!(body.is_ok(), "we emitted a malformed frame");
        if let Ok(body) = body {
            assert_eq!(decode_rpc(&body, &Limits::default()).dropped_sections, 0);
        }
    }
    while let Some(event) = gs.poll_event() {
        if let Event::Message {
            id,
            propagation_source,
            ..
        } = event
        {
            let _ = gs.report_validation(now, &id, propagation_source, Validation::Accept);
        }
    }
    let stats = gs.stats();
    for (peer, p) in &stats.peers {
        assert!(
            p.priority_queue_len <= limits.max_priority_queue_frames + 64,
            "{peer}"
        );
        assert!(p.normal_queue_len <= limits.max_normal_queue_frames);
    }
    let topics: Vec<TopicHash> = gs.topics().cloned().collect();
    for topic in topics {
        for peer in gs.mesh_peers(&topic) {
            assert!(gs.is_connected(peer));
            assert!(!gs.config().direct_peers.contains(peer));
        }
    }
}

/// Interprets `data` as a sequence of operations (connect, disconnect, RPC, publish,
/// subscribe, unsubscribe, advance time, blocked/unblocked) on one router with 8
/// possible peers, checking invariants after each step. `t0` is the start time.
pub fn gossipsub_ops(data: &[u8], t0: Instant) {
    let peers = fuzz_peers();
    let Some(&direct) = peers.last() else {
        return;
    };
    let mut cfg = crate::lean::config();
    cfg.direct_peers.insert(direct);
    cfg.limits.max_normal_queue_frames = 8;
    cfg.limits.max_priority_queue_frames = 8;
    let Ok(mut gs) = Gossipsub::new(t0, cfg, [3; 32]) else {
        return;
    };
    let mut now = t0;
    let mut bytes = data.iter().copied();
    while let Some(op) = bytes.next() {
        let arg = bytes.next().unwrap_or(0);
        let peer = peers[usize::from(arg) % peers.len()];
        let topic = TopicHash::new(TOPICS[usize::from(arg % 3)]);
        match op % 9 {
            0 => {
                let version = match arg % 3 {
                    0 => ProtocolVersion::V1_0,
                    1 => ProtocolVersion::V1_1,
                    _ => ProtocolVersion::V1_2,
                };
                let _ = gs.handle_peer_connected(
                    now,
                    peer,
                    PeerConnection::new(version, arg & 0x80 != 0),
                );
            }
            1 => gs.handle_peer_disconnected(now, peer),
            2 => {
                let len = usize::from(bytes.next().unwrap_or(0));
                let frame: Vec<u8> = bytes.by_ref().take(len).collect();
                let _ = gs.handle_rpc(now, peer, Bytes::from(frame));
            }
            3 => {
                let len = usize::from(bytes.next().unwrap_or(0));
                let payload: Vec<u8> = bytes.by_ref().take(len).collect();
                let _ = gs.publish(now, &topic, Bytes::from(payload));
            }
            4 => {
                let _ = gs.subscribe(now, &topic);
            }
            5 => {
                let _ = gs.unsubscribe(now, &topic);
            }
            6 => {
                now += Duration::from_millis(u64::from(arg) * 20);
                gs.handle_timeout(now);
            }
            7 => gs.handle_peer_blocked(now, peer, arg & 1 == 1),
            _ => {
                // Subscription + GRAFT built properly, to reach deeper states.
                let rpc = crate::wire::proto::Rpc {
                    subscriptions: vec![crate::wire::proto::SubOpts {
                        subscribe: Some(true),
                        topic_id: Some(topic.to_string()),
                        ..Default::default()
                    }],
                    publish: Vec::new(),
                    control: Some(crate::wire::proto::ControlMessage {
                        graft: vec![crate::wire::proto::ControlGraft {
                            topic_id: Some(topic.to_string()),
                        }],
                        ..Default::default()
                    }),
                };
                let frame = crate::wire::encode_rpc_frame(&rpc);
                if let Ok(body) = decode_frame(&frame, usize::MAX) {
                    let _ = gs.handle_rpc(now, peer, body);
                }
            }
        }
        drain_and_check(&mut gs, now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_entry_points_run_on_sample_inputs() {
        let samples: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x2e, 0x0a, 0x2c, 0x08, 0x01],
            vec![0xff; 64],
            (0u8..=255).collect(),
            vec![
                0, 1, 0, 2, 4, 0, 8, 1, 8, 2, 6, 50, 3, 0, 4, 1, 2, 3, 6, 200, 7, 1, 3, 1, 1, 9, 6,
                100,
            ],
        ];
        let t0 = Instant::now();
        for s in &samples {
            gossip_frame(s);
            gossip_rpc(s, t0);
            gossipsub_ops(s, t0);
        }
    }
}
