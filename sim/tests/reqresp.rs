//! The req/resp sync storm: many syncing peers ask one synced node for blocks at once,
//! over a bandwidth-limited uplink, keeping two requests in flight each.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use leanp2p_host::{Config, NodeEvent, RequestId, ResponseChunk};
use leanp2p_reqresp::lean;
use leanp2p_sim::{LinkConfig, NodeIdx, Sim};

use common::*;

const CLIENTS: usize = 8;
const REQUESTS_PER_CLIENT: usize = 6;
const ROOTS_PER_REQUEST: u8 = 4;
const BLOCK_SIZE: usize = 20 * 1024;
/// `max_concurrent_outbound_per_peer` of the lean block protocols.
const IN_FLIGHT: usize = 2;

fn lean_config() -> Config {
    let mut config = Config::default();
    config.reqresp(leanp2p_reqresp::Config::lean());
    config
}

/// The block the server holds for `root`: incompressible bytes derived from it (so
/// snappy cannot shrink the storm).
fn block(root: &[u8; 32]) -> Vec<u8> {
    let tag = u32::from_be_bytes([root[0], root[1], root[2], root[31]]);
    payload(tag, BLOCK_SIZE).to_vec()
}

fn roots(client: usize, request: usize) -> Vec<[u8; 32]> {
    (0..ROOTS_PER_REQUEST)
        .map(|k| {
            let mut root = [0u8; 32];
            root[0] = client as u8;
            root[1] = request as u8;
            root[2] = k;
            root[31] = 0xaa;
            root
        })
        .collect()
}

struct Client {
    idx: NodeIdx,
    issued: usize,
    cursor: usize,
    /// Outstanding requests and the blocks they should return.
    open: BTreeMap<RequestId, Vec<Bytes>>,
    got: BTreeMap<RequestId, Vec<Bytes>>,
    completed: usize,
}

#[test]
fn sync_storm_against_one_server_completes_every_request() {
    let mut sim = Sim::new(30);
    let server = sim.add_node(lean_config()).unwrap();
    let mut clients: Vec<Client> = (0..CLIENTS)
        .map(|_| Client {
            idx: sim.add_node(lean_config()).unwrap(),
            issued: 0,
            cursor: 0,
            open: BTreeMap::new(),
            got: BTreeMap::new(),
            completed: 0,
        })
        .collect();
    // The server's links are a shared 4 MB/s bottleneck per client direction.
    for c in &clients {
        sim.link(
            server,
            c.idx,
            LinkConfig {
                latency: Duration::from_millis(25),
                bandwidth_bytes_per_sec: Some(4_000_000),
                ..LinkConfig::default()
            },
        );
    }
    let edges: Vec<_> = clients.iter().map(|c| (c.idx, server)).collect();
    connect(&mut sim, &edges);

    let server_peer = sim.peer_id(server);
    let start = sim.elapsed();
    let mut server_cursor = 0;
    let mut answered = 0;
    let end = sim.elapsed() + Duration::from_secs(60);
    loop {
        // Clients: collect responses, keep two requests in flight.
        for (ci, client) in clients.iter_mut().enumerate() {
            let events = sim.events(client.idx)[client.cursor..].to_vec();
            client.cursor += events.len();
            for event in events {
                match event {
                    NodeEvent::Response {
                        request, payload, ..
                    } => client.got.entry(request).or_default().push(payload),
                    NodeEvent::RequestCompleted {
                        request, chunks, ..
                    } => {
                        let expected = client.open.remove(&request).unwrap();
                        assert_eq!(chunks as usize, expected.len());
                        assert_eq!(client.got.remove(&request).unwrap(), expected);
                        client.completed += 1;
                    }
                    NodeEvent::RequestFailed { reason, .. } => {
                        panic!("client {ci}: request failed: {reason}")
                    }
                    _ => {}
                }
            }
            while client.open.len() < IN_FLIGHT && client.issued < REQUESTS_PER_CLIENT {
                let roots = roots(ci, client.issued);
                let body = lean::BlocksByRootRequest {
                    roots: roots.clone(),
                }
                .to_ssz()
                .unwrap();
                let request = sim
                    .with_node(client.idx, |node, now| {
                        node.request(now, server_peer, &lean::BLOCKS_BY_ROOT, Bytes::from(body))
                    })
                    .unwrap()
                    .unwrap();
                let blocks = roots.iter().map(|r| Bytes::from(block(r))).collect();
                client.open.insert(request, blocks);
                client.issued += 1;
            }
        }
        // Server: answer every new request with its blocks.
        let requests: Vec<_> = sim.events(server)[server_cursor..]
            .iter()
            .filter_map(|e| match e {
                NodeEvent::InboundRequest { channel, body, .. } => Some((*channel, body.clone())),
                _ => None,
            })
            .collect();
        server_cursor = sim.events(server).len();
        for (channel, body) in requests {
            let request = lean::BlocksByRootRequest::from_ssz(&body).unwrap();
            sim.with_node(server, |node, now| {
                for root in &request.roots {
                    node.respond(now, channel, ResponseChunk::success(block(root)))
                        .unwrap();
                }
                node.end_response(now, channel).unwrap();
            })
            .unwrap();
            answered += 1;
        }
        if clients.iter().all(|c| c.completed == REQUESTS_PER_CLIENT) {
            break;
        }
        assert!(sim.elapsed() < end, "storm did not finish in time");
        assert!(sim.step(), "nothing left to do with requests open");
    }
    assert_eq!(answered, CLIENTS * REQUESTS_PER_CLIENT);
    // Each client pulls 6 x 80 KiB over its own 4 MB/s link: at least 0.12 s.
    let took = sim.elapsed() - start;
    assert!(took >= Duration::from_millis(120), "took {took:?}");
    assert!(sim.stats().delivered_bytes > (CLIENTS * REQUESTS_PER_CLIENT * 4 * BLOCK_SIZE) as u64);
}
