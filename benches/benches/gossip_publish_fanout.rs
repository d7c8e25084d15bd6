//! Publishing a 3 MiB (uncompressed) lean block to D = 8 mesh peers: build the message,
//! compute the lean message id (snappy decompress + SHA-256), encode the frame once and
//! queue it for every mesh peer, then drain `poll_outbound`.

// A bench aborts on a broken fixture; `criterion_group!` generates an undocumented `pub fn`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use leanp2p_gossipsub::lean;
use leanp2p_testkit::{ssz_like_payload, MeshedRouter};

const BLOCK_SSZ_LEN: usize = 3 * 1024 * 1024;
const MESH_PEERS: u8 = 8;

fn publish_fanout(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut fixture = MeshedRouter::new(t0, MESH_PEERS).unwrap();
    assert_eq!(
        fixture.mesh_len(),
        usize::from(MESH_PEERS),
        "mesh not formed"
    );
    let heartbeat = fixture.router.config().heartbeat_interval;
    let mut ssz = ssz_like_payload(BLOCK_SSZ_LEN, 4);
    let compressed_len = lean::snappy_compress(&ssz, lean::MAX_PAYLOAD_SIZE)
        .unwrap()
        .len();

    // One publish outside the measurement, to report what goes out.
    let id = fixture
        .router
        .publish(fixture.now, &fixture.topic, Bytes::from(vec![1u8; 16]))
        .unwrap();
    let (frames, bytes) = fixture.drain();
    println!(
        "gossip_publish_fanout: 3 MiB SSZ block -> {compressed_len} bytes snappy; a warm-up \
         publish ({id:?}) queued {frames} frames / {bytes} bytes"
    );

    let mut group = c.benchmark_group("gossip_publish_fanout");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(compressed_len as u64));
    let mut counter = 0u64;
    group.bench_function("publish_3MiB_block_to_8_mesh_peers", |b| {
        b.iter_custom(|iters| {
            let mut measured = Duration::ZERO;
            for _ in 0..iters {
                // A distinct block each time, so the message id is new (not measured).
                counter += 1;
                ssz[..8].copy_from_slice(&counter.to_le_bytes());
                let data =
                    Bytes::from(lean::snappy_compress(&ssz, lean::MAX_PAYLOAD_SIZE).unwrap());

                let start = Instant::now();
                let id = fixture
                    .router
                    .publish(fixture.now, &fixture.topic, data)
                    .unwrap();
                let mut queued = 0usize;
                while let Some(out) = fixture.router.poll_outbound() {
                    queued += out.frame.len();
                    black_box(out);
                }
                measured += start.elapsed();
                black_box((id, queued));

                // One heartbeat per publish keeps the message cache and seen set bounded
                // (not measured).
                let next = fixture.now + heartbeat;
                fixture.advance_to(next);
            }
            measured
        })
    });
    group.finish();
}

criterion_group!(benches, publish_fanout);
criterion_main!(benches);
