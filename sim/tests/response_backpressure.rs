//! Req/resp respond backpressure: a server streaming many blocks to a slow requester
//! paces itself on `RespondError::QueueFull` / `NodeEvent::ResponseWritable`, holds at
//! most `response_high_water` plus one chunk, and every chunk arrives in order.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use leanp2p_host::{ChannelId, Config, NodeEvent, RespondError, ResponseChunk};
use leanp2p_reqresp::lean;
use leanp2p_sim::{LinkConfig, Sim};

use common::*;

const BLOCKS: u8 = 64;
const BLOCK_SIZE: usize = 64 * 1024;

fn root(i: u8) -> [u8; 32] {
    let mut root = [0u8; 32];
    root[0] = i;
    root[31] = 0x5a;
    root
}

fn block(i: u8) -> Bytes {
    payload(u32::from(i) + 1_000, BLOCK_SIZE)
}

#[test]
fn streaming_server_paces_itself_for_a_slow_requester() {
    let mut sim = Sim::new(52);
    let mut server_config = Config::default();
    server_config.reqresp(leanp2p_reqresp::Config::lean());
    let server = sim.add_node(server_config).unwrap();
    // The requester grants little flow-control credit (a slow reader).
    let mut client_config = Config::default();
    client_config.reqresp(leanp2p_reqresp::Config::lean());
    let mut quic = client_config.quic.clone();
    quic.stream_receive_window(256 * 1024)
        .receive_window(512 * 1024);
    client_config.quic(quic);
    let client = sim.add_node(client_config).unwrap();
    sim.link(
        server,
        client,
        LinkConfig {
            bandwidth_bytes_per_sec: Some(1_000_000),
            ..LinkConfig::default()
        },
    );
    connect(&mut sim, &[(client, server)]);

    let body = lean::BlocksByRootRequest {
        roots: (0..BLOCKS).map(root).collect(),
    }
    .to_ssz()
    .unwrap();
    let server_peer = sim.peer_id(server);
    let client_peer = sim.peer_id(client);
    let request = sim
        .with_node(client, |node, now| {
            node.request(now, server_peer, &lean::BLOCKS_BY_ROOT, Bytes::from(body))
        })
        .unwrap()
        .unwrap();

    let high_water = sim
        .node(server)
        .unwrap()
        .config()
        .limits
        .response_high_water;
    let bound = high_water + BLOCK_SIZE + 16 * 1024;
    let mut channel: Option<ChannelId> = None;
    let mut todo: VecDeque<u8> = (0..BLOCKS).collect();
    let mut ended = false;
    let mut server_cursor = 0;
    let mut refusals = 0;
    let mut writable_events = 0;
    let mut peak = 0;
    let end = sim.elapsed() + Duration::from_secs(30);
    let completed = loop {
        // Server: start on the request, go on after every ResponseWritable.
        let events = sim.events(server)[server_cursor..].to_vec();
        server_cursor += events.len();
        let mut go = false;
        for event in events {
            match event {
                NodeEvent::InboundRequest { channel: ch, .. } => {
                    channel = Some(ch);
                    go = true;
                }
                NodeEvent::ResponseWritable { channel: ch } => {
                    assert_eq!(Some(ch), channel);
                    writable_events += 1;
                    go = true;
                }
                _ => {}
            }
        }
        if let (true, Some(ch)) = (go && !ended, channel) {
            sim.with_node(server, |node, now| {
                while let Some(&i) = todo.front() {
                    match node.respond(now, ch, ResponseChunk::success(block(i))) {
                        Ok(()) => {
                            todo.pop_front();
                        }
                        Err(RespondError::QueueFull) => {
                            refusals += 1;
                            return;
                        }
                        Err(e) => panic!("respond failed: {e}"),
                    }
                }
                node.end_response(now, ch).unwrap();
                ended = true;
            })
            .unwrap();
        }
        let node = sim.node(server).unwrap();
        let buffered = node.buffered_bytes(&client_peer);
        peak = peak.max(buffered);
        assert!(
            buffered <= bound,
            "server buffered {buffered} (bound {bound})"
        );
        if let Some(ch) = channel {
            assert!(node.response_buffered_bytes(ch).unwrap_or(0) <= bound);
        }
        let done = sim.events(client).iter().find_map(|e| match e {
            NodeEvent::RequestCompleted {
                request: r, chunks, ..
            } if *r == request => Some(*chunks),
            NodeEvent::RequestFailed {
                request: r, reason, ..
            } if *r == request => {
                panic!("request failed: {reason}")
            }
            _ => None,
        });
        if let Some(chunks) = done {
            break chunks;
        }
        assert!(sim.elapsed() < end, "the response did not finish in time");
        assert!(sim.step(), "nothing left to do with the request open");
    };

    assert_eq!(completed, u32::from(BLOCKS));
    let got: Vec<Bytes> = sim
        .events(client)
        .iter()
        .filter_map(|e| match e {
            NodeEvent::Response {
                request: r,
                payload,
                ..
            } if *r == request => Some(payload.clone()),
            _ => None,
        })
        .collect();
    let want: Vec<Bytes> = (0..BLOCKS).map(block).collect();
    assert!(got == want, "chunks differ or are out of order");
    // The server really was pushed back, resumed on the event, and never held more
    // than the mark plus one chunk.
    assert!(
        refusals > 0 && writable_events >= refusals,
        "{refusals} {writable_events}"
    );
    assert!(peak > high_water / 2, "peak {peak}");
    let counters = sim.node(server).unwrap().stats().counters;
    assert_eq!(counters.responses_backpressured, refusals as u64);
}
