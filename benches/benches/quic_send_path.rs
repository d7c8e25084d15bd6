//! QUIC bulk send path: 1 MiB per iteration on one stream between two in-memory
//! `leanp2p_quic::Endpoint`s (datagrams moved through queues, simulated time jumped to
//! `poll_timeout`), every datagram pulled through `poll_transmit` into one reused buffer.
//! The measured time covers both endpoints (sender, receiver, ACKs) — the whole transfer.
//! Two write APIs: `Endpoint::write(&[u8])` (QUIC copies the data in) and
//! `Endpoint::write_chunks(&mut [Bytes])` (QUIC keeps references to the caller's `Bytes`,
//! as the host's send buffers hand them over): benchmark ids `bulk_1MiB_one_stream` and
//! `bulk_1MiB_one_stream_owned`.
//!
//! A counting `#[global_allocator]` reports allocations per packet: those made inside the
//! sender's `poll_transmit` calls, and those of the whole transfer loop.

// A bench aborts on a broken fixture; `criterion_group!` generates an undocumented `pub fn`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use leanp2p_quic::Config;
use leanp2p_testkit::{ssz_like_payload, QuicPair};

/// Allocations (alloc, alloc_zeroed, realloc) since the process started.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting every allocation.
struct CountingAllocator;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter is a relaxed atomic and never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

const CHUNK: usize = 1024 * 1024;
/// One-way delay of the simulated link.
const LATENCY: Duration = Duration::from_millis(1);

/// Receive batches compared: 1 = the receiver drains after every datagram (ACKs as often
/// as quinn asks), 32 = up to 32 datagrams per endpoint between drains (like `recvmmsg`).
const RECV_BATCHES: [usize; 2] = [1, 32];

/// Which `Endpoint` write API a benchmark uses.
#[derive(Clone, Copy)]
enum WriteApi {
    /// `write(&[u8])`: the data is copied into QUIC.
    Copy,
    /// `write_chunks(&mut [Bytes])`: QUIC keeps references to the data.
    Owned,
}

impl WriteApi {
    fn transfer(
        self,
        pair: &mut QuicPair,
        stream: leanp2p_quic::StreamId,
        data: &Bytes,
    ) -> Duration {
        match self {
            Self::Copy => pair.transfer(stream, data).unwrap(),
            Self::Owned => pair.transfer_bytes(stream, data).unwrap(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Copy => "bulk_1MiB_one_stream",
            Self::Owned => "bulk_1MiB_one_stream_owned",
        }
    }
}

/// A connected pair with a stream open, warmed up (congestion window, MTU discovery,
/// buffer pools). Prints datagram and allocation counts over 16 MiB.
fn warmed_pair(
    api: WriteApi,
    recv_batch: usize,
    data: &Bytes,
) -> (QuicPair, leanp2p_quic::StreamId) {
    let t0 = Instant::now();
    let mut pair = QuicPair::connect(t0, Config::default(), LATENCY).unwrap();
    pair.net.recv_batch = recv_batch;
    pair.set_alloc_counter(allocations);
    let stream = pair.open_client_stream().unwrap();
    for _ in 0..8 {
        api.transfer(&mut pair, stream, data);
    }
    let (client_before, server_before) = (pair.client().stats, pair.server().stats);
    let allocs_before = allocations();
    let mut simulated = Duration::ZERO;
    for _ in 0..16 {
        simulated += api.transfer(&mut pair, stream, data);
    }
    let total_allocs = allocations() - allocs_before;
    let (client, server) = (pair.client().stats, pair.server().stats);
    let packets = client.datagrams_sent - client_before.datagrams_sent;
    let bytes = client.bytes_sent - client_before.bytes_sent;
    let acks = server.datagrams_sent - server_before.datagrams_sent;
    let wakeups = client.wakeups - client_before.wakeups;
    let pacing = client.pacing_wakeups - client_before.pacing_wakeups;
    let transmit_allocs = client.transmit_allocs - client_before.transmit_allocs;
    let per_packet = |n: u64| n as f64 / packets.max(1) as f64;
    println!(
        "quic_send_path {} (recv_batch {recv_batch}): 16 MiB in {packets} datagrams ({:.0} B avg), \
         {acks} return datagrams, {:.1} ms simulated; allocations per sent datagram: {:.3} \
         inside the sender's poll_transmit, {:.3} for the whole loop (both endpoints and \
         driver); sender timer wakeups per MiB: {:.1} ({:.1} for pacing)",
        api.name(),
        bytes as f64 / packets.max(1) as f64,
        simulated.as_secs_f64() * 1e3,
        per_packet(transmit_allocs),
        per_packet(total_allocs),
        wakeups as f64 / 16.0,
        pacing as f64 / 16.0,
    );
    (pair, stream)
}

fn send_path(c: &mut Criterion) {
    let data = Bytes::from(ssz_like_payload(CHUNK, 6));
    let mut group = c.benchmark_group("quic_send_path");
    group.throughput(Throughput::Bytes(CHUNK as u64));
    for api in [WriteApi::Copy, WriteApi::Owned] {
        for recv_batch in RECV_BATCHES {
            let (mut pair, stream) = warmed_pair(api, recv_batch, &data);
            group.bench_function(
                BenchmarkId::new(format!("{}/recv_batch", api.name()), recv_batch),
                |b| b.iter(|| black_box(api.transfer(&mut pair, stream, black_box(&data)))),
            );
        }
    }
    group.finish();
}

criterion_group!(benches, send_path);
criterion_main!(benches);
