//! Codec throughput: gossipsub RPC protobuf, lean snappy blocks, reqresp `ssz_snappy`
//! response chunks and one multistream-select negotiation.

// A bench aborts on a broken fixture; `criterion_group!` generates an undocumented `pub fn`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use leanp2p_gossipsub::lean;
use leanp2p_gossipsub::wire::proto::Message;
use leanp2p_gossipsub::wire::{decode_frame, decode_rpc, encode_message_frame};
use leanp2p_gossipsub::Limits as GossipLimits;
use leanp2p_multistream::{Config as MsConfig, Negotiation, ProtocolId, ProtocolSet, Version};
use leanp2p_reqresp::{Codec, ProtocolLimits, ResponseChunk, SszSnappyCodec};
use leanp2p_testkit::{block_topic, lean_gossip_payload, ssz_like_payload};

const KIB: usize = 1024;

fn gossip_rpc(c: &mut Criterion) {
    let topic = block_topic();
    let limits = GossipLimits::default();
    let mut group = c.benchmark_group("gossip_rpc");
    for size in [KIB, 300 * KIB] {
        let data = lean_gossip_payload(size, 1).unwrap();
        let message = Message {
            data: Some(data),
            topic: topic.as_str().to_owned(),
            ..Message::default()
        };
        let frame = encode_message_frame(&message);
        group.throughput(Throughput::Bytes(frame.len() as u64));
        group.bench_with_input(BenchmarkId::new("encode", size), &message, |b, m| {
            b.iter(|| black_box(encode_message_frame(black_box(m))))
        });
        group.bench_with_input(BenchmarkId::new("decode", size), &frame, |b, f| {
            b.iter(|| {
                let body = decode_frame(black_box(f), usize::MAX).unwrap();
                black_box(decode_rpc(&body, &limits))
            })
        });
    }
    group.finish();
}

fn lean_snappy(c: &mut Criterion) {
    let ssz = ssz_like_payload(256 * KIB, 2);
    let compressed = lean::snappy_compress(&ssz, lean::MAX_PAYLOAD_SIZE).unwrap();
    println!(
        "lean_snappy: 256 KiB SSZ-like block compresses to {} bytes",
        compressed.len()
    );
    let mut group = c.benchmark_group("lean_snappy_block");
    group.throughput(Throughput::Bytes(ssz.len() as u64));
    group.bench_function("compress/256KiB", |b| {
        b.iter(|| {
            black_box(lean::snappy_compress(
                black_box(&ssz),
                lean::MAX_PAYLOAD_SIZE,
            ))
        })
    });
    group.bench_function("decompress/256KiB", |b| {
        b.iter(|| {
            black_box(lean::snappy_decompress(
                black_box(&compressed),
                lean::MAX_PAYLOAD_SIZE,
            ))
        })
    });
    group.finish();
}

fn reqresp_chunk(c: &mut Criterion) {
    let codec = SszSnappyCodec;
    let limits = ProtocolLimits::default();
    let mut group = c.benchmark_group("reqresp_ssz_snappy_chunk");
    for size in [KIB, 256 * KIB] {
        let chunk = ResponseChunk::success(Bytes::from(ssz_like_payload(size, 3)));
        let mut wire = Vec::new();
        codec
            .encode_response_chunk(&chunk, &limits, &mut wire)
            .unwrap();
        group.throughput(Throughput::Bytes(size as u64));
        let mut out = Vec::with_capacity(wire.len());
        group.bench_with_input(BenchmarkId::new("encode", size), &chunk, |b, chunk| {
            b.iter(|| {
                out.clear();
                codec
                    .encode_response_chunk(black_box(chunk), &limits, &mut out)
                    .unwrap();
                black_box(out.len())
            })
        });
        group.bench_with_input(BenchmarkId::new("decode", size), &wire, |b, wire| {
            b.iter(|| {
                let mut decoder = codec.response_decoder(&limits);
                let mut input: &[u8] = black_box(wire);
                black_box(decoder.decode(&mut input).unwrap())
            })
        });
    }
    group.finish();
}

fn multistream(c: &mut Criterion) {
    const GOSSIP: ProtocolId = ProtocolId::from_static("/meshsub/1.2.0");
    let dialer_set = ProtocolSet::new([ProtocolId::from_static("/meshsub/1.3.0"), GOSSIP]).unwrap();
    let listener_set = ProtocolSet::single(GOSSIP).unwrap();
    let config = MsConfig {
        version: Version::V1,
        ..MsConfig::default()
    };
    let mut group = c.benchmark_group("multistream");
    group.throughput(Throughput::Elements(1));
    // One full V1 negotiation of a stream, including one `na` round trip: the dialer
    // offers /meshsub/1.3.0 first, the listener only speaks 1.2.0.
    group.bench_function("negotiate_one_stream_with_na", |b| {
        let mut to_listener = Vec::with_capacity(256);
        let mut to_dialer = Vec::with_capacity(256);
        b.iter(|| {
            let mut dialer = Negotiation::dialer(dialer_set.clone(), &config).unwrap();
            let mut listener = Negotiation::listener(listener_set.clone(), &config).unwrap();
            loop {
                to_listener.clear();
                while let Some(bytes) = dialer.poll_output() {
                    to_listener.extend_from_slice(&bytes);
                }
                if !to_listener.is_empty() {
                    listener.handle_input(&to_listener).unwrap();
                }
                to_dialer.clear();
                while let Some(bytes) = listener.poll_output() {
                    to_dialer.extend_from_slice(&bytes);
                }
                if !to_dialer.is_empty() {
                    dialer.handle_input(&to_dialer).unwrap();
                }
                if let Some(done) = dialer.outcome() {
                    let _ = listener.outcome();
                    break black_box(done.unwrap().protocol);
                }
                assert!(
                    !to_listener.is_empty() || !to_dialer.is_empty(),
                    "negotiation stalled"
                );
            }
        })
    });
    group.finish();
}

criterion_group!(benches, gossip_rpc, lean_snappy, reqresp_chunk, multistream);
criterion_main!(benches);
