//! Every protocol between two full nodes through the simulator: ping RTT, gossip both ways
//! (1 KiB, 300 KiB, 4 MiB), status / blocks_by_root / blocks_by_range both ways, and an
//! application protocol registered on raw streams.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::time::Duration;

use bytes::Bytes;
use leanp2p_host::{lean as host_lean, NodeEvent, ResponseChunk, TopicHash};
use leanp2p_reqresp::lean;
use leanp2p_sim::{NodeIdx, Sim};

use common::*;

fn pair() -> (Sim, NodeIdx, NodeIdx) {
    let mut sim = Sim::new(77);
    let a = sim.add_node(host_lean::config("sim-a")).unwrap();
    let b = sim.add_node(host_lean::config("sim-b")).unwrap();
    sim.dial(a, b).unwrap();
    assert!(sim
        .run_until_condition(Duration::from_secs(5), |sim| gossip_up(sim, a, b))
        .unwrap());
    (sim, a, b)
}

/// Sends `body` on `protocol` from `from` to `to`, lets `to` answer with `chunks`, and
/// checks `from` gets exactly those chunks and a completion.
fn request_round_trip(
    sim: &mut Sim,
    from: NodeIdx,
    to: NodeIdx,
    protocol: &leanp2p_host::ProtocolId,
    body: Vec<u8>,
    chunks: Vec<Bytes>,
) {
    let to_peer = sim.peer_id(to);
    let (from_seen, to_seen) = (sim.events(from).len(), sim.events(to).len());
    let request = sim
        .with_node(from, |node, now| {
            node.request(now, to_peer, protocol, Bytes::from(body.clone()))
        })
        .unwrap()
        .unwrap();
    let mut channel = None;
    assert!(sim
        .run_until_condition(Duration::from_secs(5), |sim| {
            channel = sim.events(to)[to_seen..].iter().find_map(|e| match e {
                NodeEvent::InboundRequest {
                    channel,
                    body: got,
                    protocol: p,
                    ..
                } => {
                    assert_eq!(p.as_str(), protocol.as_str());
                    assert_eq!(got.as_ref(), body.as_slice());
                    Some(*channel)
                }
                _ => None,
            });
            channel.is_some()
        })
        .unwrap());
    let channel = channel.unwrap();
    sim.with_node(to, |node, now| {
        for chunk in &chunks {
            node.respond(now, channel, ResponseChunk::success(chunk.to_vec()))
                .unwrap();
        }
        node.end_response(now, channel).unwrap();
    })
    .unwrap();
    let mut got = Vec::new();
    assert!(sim
        .run_until_condition(Duration::from_secs(10), |sim| {
            got.clear();
            let mut done = false;
            for event in &sim.events(from)[from_seen..] {
                match event {
                    NodeEvent::Response {
                        request: r,
                        payload,
                        ..
                    } if *r == request => got.push(payload.clone()),
                    NodeEvent::RequestCompleted {
                        request: r,
                        chunks: n,
                        ..
                    } if *r == request => {
                        assert_eq!(*n as usize, chunks.len());
                        done = true;
                    }
                    NodeEvent::RequestFailed {
                        request: r, reason, ..
                    } if *r == request => {
                        panic!("{protocol}: request failed: {reason}")
                    }
                    _ => {}
                }
            }
            done
        })
        .unwrap());
    assert_eq!(got, chunks, "{protocol}");
}

#[test]
fn ping_measures_the_round_trip_time_both_ways() {
    let (mut sim, a, b) = pair();
    // Default link: 10 ms each way.
    for (node, other) in [(a, b), (b, a)] {
        let other_peer = sim.peer_id(other);
        let mut rtt = None;
        assert!(sim
            .run_until_condition(Duration::from_secs(60), |sim| {
                rtt = sim.events(node).iter().find_map(|e| match e {
                    NodeEvent::PingSuccess { peer, rtt, .. } if *peer == other_peer => Some(*rtt),
                    _ => None,
                });
                rtt.is_some()
            })
            .unwrap());
        let rtt = rtt.unwrap();
        assert!(
            rtt >= Duration::from_millis(20) && rtt < Duration::from_millis(60),
            "rtt {rtt:?}"
        );
    }
}

#[test]
fn gossip_both_ways_at_lean_sizes() {
    let (mut sim, a, b) = pair();
    let topic = TopicHash::new("/leanconsensus/12345678/block/ssz_snappy");
    subscribe_all(&mut sim, &[a, b], &topic);
    sim.run_for(Duration::from_secs(2)).unwrap();
    let mut sent = Vec::new();
    for (k, size) in [1024usize, 300 * 1024, 4 << 20].into_iter().enumerate() {
        for (i, from) in [a, b].into_iter().enumerate() {
            let data = payload((k * 2 + i) as u32, size);
            sim.publish(from, &topic, data.clone()).unwrap();
            sent.push((from, data));
        }
    }
    assert!(wait_delivered(
        &mut sim,
        &[a, b],
        &topic,
        &sent,
        Duration::from_secs(30)
    ));
    sim.run_for(Duration::from_secs(2)).unwrap();
    assert_exactly_once(&sim, &[a, b], &topic, &sent);
}

#[test]
fn status_blocks_by_root_and_blocks_by_range_both_ways() {
    let (mut sim, a, b) = pair();
    let status = lean::Status {
        finalized: lean::Checkpoint {
            root: [1; 32],
            slot: 64,
        },
        head: lean::Checkpoint {
            root: [2; 32],
            slot: 70,
        },
    };
    let status_ssz = Bytes::from(status.to_ssz().unwrap());
    let roots: Vec<[u8; 32]> = (0..3u8).map(|i| [i + 10; 32]).collect();
    let blocks: Vec<Bytes> = (0..3u32).map(|i| payload(50 + i, 200 * 1024)).collect();
    for (from, to) in [(a, b), (b, a)] {
        request_round_trip(
            &mut sim,
            from,
            to,
            &lean::STATUS,
            status_ssz.to_vec(),
            vec![status_ssz.clone()],
        );
        let by_root = lean::BlocksByRootRequest {
            roots: roots.clone(),
        }
        .to_ssz()
        .unwrap();
        request_round_trip(
            &mut sim,
            from,
            to,
            &lean::BLOCKS_BY_ROOT,
            by_root,
            blocks.clone(),
        );
        let by_range = lean::BlocksByRangeRequest {
            start_slot: 5,
            count: 3,
        }
        .to_ssz()
        .unwrap();
        request_round_trip(
            &mut sim,
            from,
            to,
            &lean::BLOCKS_BY_RANGE,
            by_range,
            blocks.clone(),
        );
    }
}

#[test]
fn a_registered_application_protocol_carries_bytes_both_ways() {
    let (mut sim, a, b) = pair();
    const ECHO: &str = "/leanp2p/sim-echo/1.0.0";
    for n in [a, b] {
        sim.with_node(n, |node, now| node.register_protocol(now, ECHO))
            .unwrap()
            .unwrap();
    }
    let b_peer = sim.peer_id(b);
    let stream = sim
        .with_node(a, |node, now| node.open_app_stream(now, b_peer, ECHO))
        .unwrap()
        .unwrap();
    let request = payload(9, 64 * 1024);
    sim.with_node(a, |node, now| {
        node.app_write(now, stream, request.clone()).unwrap();
        node.app_finish(now, stream).unwrap();
    })
    .unwrap();
    // b reads everything, then echoes it back on the same stream.
    let mut inbound = None;
    let mut got = Vec::new();
    assert!(sim
        .run_until_condition(Duration::from_secs(5), |sim| {
            got.clear();
            let mut finished = false;
            for event in sim.events(b) {
                match event {
                    NodeEvent::AppStreamOpened {
                        stream, protocol, ..
                    } => {
                        assert_eq!(protocol, ECHO);
                        inbound = Some(*stream);
                    }
                    NodeEvent::AppStreamData { stream, data } if Some(*stream) == inbound => {
                        got.extend_from_slice(data)
                    }
                    NodeEvent::AppStreamFinished { stream } if Some(*stream) == inbound => {
                        finished = true
                    }
                    _ => {}
                }
            }
            finished
        })
        .unwrap());
    assert_eq!(got, request.as_ref());
    let inbound = inbound.unwrap();
    sim.with_node(b, |node, now| {
        node.app_write(now, inbound, Bytes::from(got.clone()))
            .unwrap();
        node.app_finish(now, inbound).unwrap();
    })
    .unwrap();
    let mut echoed = Vec::new();
    assert!(sim
        .run_until_condition(Duration::from_secs(5), |sim| {
            echoed.clear();
            let mut finished = false;
            for event in sim.events(a) {
                match event {
                    NodeEvent::AppStreamData { stream: s, data } if *s == stream => {
                        echoed.extend_from_slice(data)
                    }
                    NodeEvent::AppStreamFinished { stream: s } if *s == stream => finished = true,
                    _ => {}
                }
            }
            finished
        })
        .unwrap());
    assert_eq!(echoed, request.as_ref());
}
