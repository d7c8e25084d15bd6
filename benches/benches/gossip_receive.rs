//! Receiving gossip: one RPC with one message (1 KiB and 300 KiB SSZ, snappy-compressed)
//! from a mesh peer through `handle_rpc` (frame decode, lean message id, dedupe,
//! IDONTWANT to the mesh for large messages), the `Message` event, `report_validation(Accept)`
//! and the forward to the other 7 mesh peers, with `poll_outbound` drained. Reported as
//! messages per second.

// A bench aborts on a broken fixture; `criterion_group!` generates an undocumented `pub fn`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use leanp2p_gossipsub::{lean, Event, Validation};
use leanp2p_testkit::{message_rpc_body, ssz_like_payload, MeshedRouter};

const MESH_PEERS: u8 = 8;
/// Simulated time between two received messages (heartbeats run in between, unmeasured).
const MESSAGE_INTERVAL: Duration = Duration::from_millis(100);

fn receive(c: &mut Criterion) {
    let mut group = c.benchmark_group("gossip_receive");
    group.throughput(Throughput::Elements(1));
    for size in [1024usize, 300 * 1024] {
        let t0 = Instant::now();
        let mut fixture = MeshedRouter::new(t0, MESH_PEERS).unwrap();
        assert_eq!(
            fixture.mesh_len(),
            usize::from(MESH_PEERS),
            "mesh not formed"
        );
        let source = fixture.peers[0];
        let mut ssz = ssz_like_payload(size, 5);
        let mut counter = 0u64;
        let mut early_frames = 0u64;
        let mut forwarded_frames = 0u64;
        let mut received = 0u64;
        group.bench_function(BenchmarkId::new("handle_rpc_accept_forward", size), |b| {
            b.iter_custom(|iters| {
                let mut measured = Duration::ZERO;
                for _ in 0..iters {
                    // A distinct message each time (not measured).
                    counter += 1;
                    ssz[..8].copy_from_slice(&counter.to_le_bytes());
                    let data =
                        Bytes::from(lean::snappy_compress(&ssz, lean::MAX_PAYLOAD_SIZE).unwrap());
                    let body = message_rpc_body(&fixture.topic, data);
                    let now = fixture.now;

                    let start = Instant::now();
                    fixture.router.handle_rpc(now, source, body).unwrap();
                    while let Some(out) = fixture.router.poll_outbound() {
                        early_frames += 1;
                        black_box(out);
                    }
                    while let Some(event) = fixture.router.poll_event() {
                        if let Event::Message {
                            id,
                            propagation_source,
                            ..
                        } = event
                        {
                            received += 1;
                            fixture
                                .router
                                .report_validation(now, &id, propagation_source, Validation::Accept)
                                .unwrap();
                        }
                    }
                    while let Some(out) = fixture.router.poll_outbound() {
                        forwarded_frames += 1;
                        black_box(out);
                    }
                    measured += start.elapsed();

                    // Time moves on; heartbeats keep the caches bounded (not measured).
                    let next = fixture.now + MESSAGE_INTERVAL;
                    fixture.advance_to(next);
                }
                measured
            })
        });
        println!(
            "gossip_receive/{size}: {received} messages delivered; {early_frames} frames queued \
             before validation (IDONTWANT), {forwarded_frames} after Accept (forwards)"
        );
    }
    group.finish();
}

/// The same message arriving a second time from another mesh peer: `handle_rpc` decodes
/// it, computes the id and drops it as a duplicate (the common case in a mesh of 8).
fn receive_duplicate(c: &mut Criterion) {
    let mut group = c.benchmark_group("gossip_receive");
    group.throughput(Throughput::Elements(1));
    for size in [1024usize, 300 * 1024] {
        let t0 = Instant::now();
        let mut fixture = MeshedRouter::new(t0, MESH_PEERS).unwrap();
        let (first, second) = (fixture.peers[0], fixture.peers[1]);
        let mut ssz = ssz_like_payload(size, 7);
        let mut counter = 0u64;
        let mut delivered_twice = 0u64;
        group.bench_function(BenchmarkId::new("handle_rpc_duplicate", size), |b| {
            b.iter_custom(|iters| {
                let mut measured = Duration::ZERO;
                for _ in 0..iters {
                    // A new message, received and accepted from the first peer (not measured).
                    counter += 1;
                    ssz[..8].copy_from_slice(&counter.to_le_bytes());
                    let data =
                        Bytes::from(lean::snappy_compress(&ssz, lean::MAX_PAYLOAD_SIZE).unwrap());
                    let body = message_rpc_body(&fixture.topic, data);
                    let now = fixture.now;
                    fixture.router.handle_rpc(now, first, body.clone()).unwrap();
                    fixture.drain();

                    let start = Instant::now();
                    fixture.router.handle_rpc(now, second, body).unwrap();
                    while let Some(out) = fixture.router.poll_outbound() {
                        black_box(out);
                    }
                    while let Some(event) = fixture.router.poll_event() {
                        if matches!(event, Event::Message { .. }) {
                            delivered_twice += 1;
                        }
                        black_box(event);
                    }
                    measured += start.elapsed();

                    let next = fixture.now + MESSAGE_INTERVAL;
                    fixture.advance_to(next);
                }
                measured
            })
        });
        println!("gossip_receive/duplicate/{size}: {delivered_twice} duplicates delivered again");
    }
    group.finish();
}

criterion_group!(benches, receive, receive_duplicate);
criterion_main!(benches);
