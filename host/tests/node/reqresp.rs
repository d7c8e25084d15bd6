//! Lean req/resp between two nodes: status, blocks_by_root, blocks_by_range.

use std::time::Duration;

use bytes::Bytes;
use leanp2p_reqresp::lean;

use rand_core::{RngCore, SeedableRng};

use leanp2p_host::{ChannelId, Config, NodeEvent, ResponseChunk};
use leanp2p_testkit::Net;

fn lean_config() -> Config {
    let mut config = Config::default();
    config.reqresp(leanp2p_reqresp::Config::lean());
    config
}

fn inbound(net: &Net, i: usize) -> Vec<(ChannelId, String, Bytes)> {
    net.nodes[i]
        .events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::InboundRequest {
                channel,
                protocol,
                body,
                ..
            } => Some((*channel, protocol.as_str().to_string(), body.clone())),
            _ => None,
        })
        .collect()
}

fn responses(net: &Net, i: usize, request: leanp2p_host::RequestId) -> (Vec<Bytes>, bool) {
    let mut chunks = Vec::new();
    let mut done = false;
    for e in &net.nodes[i].events {
        match e {
            NodeEvent::Response {
                request: r,
                payload,
                ..
            } if *r == request => chunks.push(payload.clone()),
            NodeEvent::RequestCompleted { request: r, .. } if *r == request => done = true,
            NodeEvent::RequestFailed {
                request: r, reason, ..
            } if *r == request => panic!("request failed: {reason}"),
            _ => {}
        }
    }
    (chunks, done)
}

/// `from` asks `to` with `protocol`; `to` answers with `answer`; returns what `from` got.
fn exchange(
    net: &mut Net,
    from: usize,
    to: usize,
    protocol: &leanp2p_host::ProtocolId,
    body: Vec<u8>,
    answer: Vec<Vec<u8>>,
) -> Vec<Bytes> {
    let peer = net.peer(to);
    let seen = inbound(net, to).len();
    let now = net.time;
    let request = net.nodes[from]
        .node
        .request(now, peer, protocol, Bytes::from(body.clone()))
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| inbound(net, to).len() > seen));
    let (channel, got_protocol, got_body) = inbound(net, to)[seen].clone();
    assert_eq!(got_protocol, protocol.as_str());
    assert_eq!(&got_body[..], &body[..]);
    let now = net.time;
    for chunk in answer {
        net.nodes[to]
            .node
            .respond(now, channel, ResponseChunk::success(chunk))
            .unwrap();
    }
    net.nodes[to].node.end_response(now, channel).unwrap();
    assert!(
        net.run_until(Duration::from_secs(10), |net| responses(net, from, request)
            .1)
    );
    responses(net, from, request).0
}

fn connected_pair() -> Net {
    let mut net = crate::net(2, |_| lean_config());
    net.connect(0, 1).unwrap();
    net
}

#[test]
fn status_both_ways() {
    let mut net = connected_pair();
    for (from, to) in [(0, 1), (1, 0)] {
        let ours = lean::Status::default().to_ssz().unwrap();
        let mut theirs = lean::Status::default();
        theirs.head.slot = 7 + from as u64;
        let theirs = theirs.to_ssz().unwrap();
        let got = exchange(
            &mut net,
            from,
            to,
            &lean::STATUS,
            ours,
            vec![theirs.clone()],
        );
        assert_eq!(got, vec![Bytes::from(theirs)]);
    }
}

#[test]
fn blocks_by_root_both_ways() {
    let mut net = connected_pair();
    for (from, to) in [(0, 1), (1, 0)] {
        let request = lean::BlocksByRootRequest {
            roots: vec![[1u8; 32], [2u8; 32], [3u8; 32]],
        }
        .to_ssz()
        .unwrap();
        let blocks: Vec<Vec<u8>> = (0..3)
            .map(|i| vec![i as u8 + 1; 150_000 + i * 10])
            .collect();
        let got = exchange(
            &mut net,
            from,
            to,
            &lean::BLOCKS_BY_ROOT,
            request,
            blocks.clone(),
        );
        assert_eq!(got, blocks.into_iter().map(Bytes::from).collect::<Vec<_>>());
    }
}

#[test]
fn blocks_by_range_both_ways() {
    let mut net = connected_pair();
    for (from, to) in [(0, 1), (1, 0)] {
        let request = lean::BlocksByRangeRequest {
            start_slot: 10,
            count: 64,
        }
        .to_ssz()
        .unwrap();
        let blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 20_000 + i * 3]).collect();
        let got = exchange(
            &mut net,
            from,
            to,
            &lean::BLOCKS_BY_RANGE,
            request,
            blocks.clone(),
        );
        assert_eq!(got, blocks.into_iter().map(Bytes::from).collect::<Vec<_>>());
    }
    // Every request stream is forgotten once done.
    for i in 0..2 {
        assert_eq!(net.nodes[i].node.reqresp().tracked_streams(), 0);
    }
}

#[test]
fn request_to_unknown_protocol_on_peer_fails_cleanly() {
    let mut net = crate::net(2, |i| {
        if i == 0 {
            lean_config()
        } else {
            Config::default()
        }
    });
    net.connect(0, 1).unwrap();
    let peer = net.peer(1);
    let now = net.time;
    let body = lean::Status::default().to_ssz().unwrap();
    let request = net.nodes[0]
        .node
        .request(now, peer, &lean::STATUS, Bytes::from(body))
        .unwrap();
    assert!(net.run_until(Duration::from_secs(15), |net| {
        net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::RequestFailed { request: r, .. } if *r == request))
    }));
    assert!(net.nodes[0].node.is_connected(&peer));
}

#[test]
fn response_over_the_stream_send_limit_resets_only_that_stream() {
    let mut net = crate::net(2, |i| {
        let mut config = lean_config();
        if i == 1 {
            let mut limits = leanp2p_host::Limits::default();
            limits.max_stream_send_buffer = 256 * 1024;
            config.limits(limits);
        } else {
            let mut quic = leanp2p_quic::Config::default();
            quic.stream_receive_window(64 * 1024);
            config.quic(quic);
        }
        config
    });
    net.connect(0, 1).unwrap();
    let peer = net.peer(1);
    let request = lean::BlocksByRangeRequest {
        start_slot: 0,
        count: 64,
    }
    .to_ssz()
    .unwrap();
    let now = net.time;
    let id = net.nodes[0]
        .node
        .request(now, peer, &lean::BLOCKS_BY_RANGE, Bytes::from(request))
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| !inbound(net, 1).is_empty()));
    let channel = inbound(&net, 1)[0].0;
    let now = net.time;
    // Incompressible blocks, all answered at once: far more than 256 KiB before the
    // requester's 64 KiB window lets any of it out.
    let mut refused = 0;
    for i in 0..64u32 {
        let mut block = vec![0u8; 20_000];
        rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(i)).fill_bytes(&mut block);
        if net.nodes[1]
            .node
            .respond(now, channel, ResponseChunk::success(block))
            .is_err()
        {
            refused += 1;
        }
    }
    let _ = net.nodes[1].node.end_response(now, channel);
    assert!(net.run_until(Duration::from_secs(15), |net| {
        net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::RequestFailed { request, .. } if *request == id))
    }));
    assert_eq!(net.nodes[1].node.stats().counters.send_buffer_overflows, 1);
    assert!(refused > 0);
    assert!(net.nodes[0].node.is_connected(&peer));
    // The connection still serves requests.
    let status = lean::Status::default().to_ssz().unwrap();
    let got = exchange(&mut net, 0, 1, &lean::STATUS, status.clone(), vec![status]);
    assert_eq!(got.len(), 1);
}

#[test]
fn requests_wait_for_the_peer_stream_limit_instead_of_failing() {
    let mut net = crate::net(2, |i| {
        let mut config = lean_config();
        if i == 1 {
            // Gossip and ping hold two of these for good: two left for requests.
            let mut quic = leanp2p_quic::Config::default();
            quic.max_concurrent_bidi_streams(4);
            config.quic(quic);
        }
        config
    });
    net.connect(0, 1).unwrap();
    net.run_for(Duration::from_secs(2));
    let peer = net.peer(1);
    let status = lean::Status::default().to_ssz().unwrap();
    let by_root = lean::BlocksByRootRequest {
        roots: vec![[4u8; 32]],
    }
    .to_ssz()
    .unwrap();
    let by_range = lean::BlocksByRangeRequest {
        start_slot: 1,
        count: 1,
    }
    .to_ssz()
    .unwrap();
    let now = net.time;
    let mut ids = Vec::new();
    for (protocol, body) in [
        (lean::STATUS, &status),
        (lean::BLOCKS_BY_ROOT, &by_root),
        (lean::BLOCKS_BY_RANGE, &by_range),
    ] {
        for _ in 0..2 {
            ids.push(
                net.nodes[0]
                    .node
                    .request(now, peer, &protocol, Bytes::from(body.clone()))
                    .unwrap(),
            );
        }
    }
    assert!(net.nodes[0].node.blocked_request_opens() > 0);
    let done = |net: &Net| {
        net.nodes[0]
            .events
            .iter()
            .filter(|e| matches!(e, NodeEvent::RequestCompleted { .. }))
            .count()
    };
    let mut answered = 0;
    let start = net.time;
    while done(&net) < ids.len() && net.time < start + Duration::from_secs(8) {
        net.step();
        let requests: Vec<(ChannelId, String)> = inbound(&net, 1)
            .into_iter()
            .skip(answered)
            .map(|(c, p, _)| (c, p))
            .collect();
        for (channel, protocol) in requests {
            answered += 1;
            let now = net.time;
            let answer = if protocol == lean::STATUS.as_str() {
                status.clone()
            } else {
                vec![1u8; 100]
            };
            net.nodes[1]
                .node
                .respond(now, channel, ResponseChunk::success(answer))
                .unwrap();
            net.nodes[1].node.end_response(now, channel).unwrap();
        }
    }
    assert_eq!(done(&net), ids.len());
    assert!(net.nodes[0].node.blocked_request_opens() == 0);
    assert!(!net.nodes[0]
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::RequestFailed { .. })));
}

#[test]
fn respond_pushes_back_on_a_slow_requester_and_signals_when_writable() {
    const HIGH_WATER: usize = 128 * 1024;
    const CHUNK: usize = 20_000;
    const CHUNKS: u32 = 64;
    let mut net = crate::net(2, |i| {
        let mut config = lean_config();
        if i == 1 {
            let mut limits = leanp2p_host::Limits::default();
            limits.response_high_water = HIGH_WATER;
            config.limits(limits);
        } else {
            // The requester grants 64 KiB of stream credit: a slow reader.
            let mut quic = leanp2p_quic::Config::default();
            quic.stream_receive_window(64 * 1024);
            config.quic(quic);
        }
        config
    });
    net.connect(0, 1).unwrap();
    let (server, client) = (net.peer(1), net.peer(0));
    let request = lean::BlocksByRangeRequest {
        start_slot: 0,
        count: u64::from(CHUNKS),
    }
    .to_ssz()
    .unwrap();
    let now = net.time;
    let id = net.nodes[0]
        .node
        .request(now, server, &lean::BLOCKS_BY_RANGE, Bytes::from(request))
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| !inbound(net, 1).is_empty()));
    let channel = inbound(&net, 1)[0].0;
    assert_eq!(net.nodes[1].node.response_buffered_bytes(channel), Some(0));
    let block = |i: u32| {
        let mut block = vec![0u8; CHUNK];
        rand_chacha::ChaCha20Rng::seed_from_u64(u64::from(i)).fill_bytes(&mut block);
        block
    };
    let mut next = 0u32;
    let mut refusals = 0u64;
    let mut cursor = 0;
    let mut ended = false;
    let mut peak = 0;
    let mut wake = true;
    for _ in 0..200_000 {
        if wake && !ended {
            wake = false;
            let now = net.time;
            let node = &mut net.nodes[1].node;
            loop {
                if next == CHUNKS {
                    node.end_response(now, channel).unwrap();
                    ended = true;
                    break;
                }
                match node.respond(now, channel, ResponseChunk::success(block(next))) {
                    Ok(()) => next += 1,
                    Err(leanp2p_host::RespondError::QueueFull) => {
                        refusals += 1;
                        // Refused means nothing was queued: the same state.
                        assert!(node.response_buffered_bytes(channel).unwrap() >= HIGH_WATER);
                        break;
                    }
                    Err(e) => panic!("{e}"),
                }
            }
            net.drain(1);
        }
        let buffered = net.nodes[1].node.buffered_bytes(&client);
        peak = peak.max(buffered);
        assert!(buffered <= HIGH_WATER + CHUNK + 1024, "{buffered}");
        for e in &net.nodes[1].events[cursor..] {
            if let NodeEvent::ResponseWritable { channel: c } = e {
                assert_eq!(*c, channel);
                wake = true;
            }
        }
        cursor = net.nodes[1].events.len();
        if responses(&net, 0, id).1 || !net.step() {
            break;
        }
    }
    let (chunks, done) = responses(&net, 0, id);
    assert!(done);
    assert_eq!(chunks.len(), CHUNKS as usize);
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.as_ref(), block(i as u32).as_slice());
    }
    assert!(refusals > 0);
    assert!(peak >= HIGH_WATER);
    let counters = net.nodes[1].node.stats().counters;
    assert_eq!(counters.responses_backpressured, refusals);
    assert_eq!(counters.send_buffer_overflows, 0);
    // The response is over: nothing is tracked for the channel any more.
    assert_eq!(net.nodes[1].node.response_buffered_bytes(channel), None);
}
