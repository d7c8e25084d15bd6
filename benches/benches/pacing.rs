//! Node-level egress pacing (`leanp2p_host::TokenBucket`) on a simulated clock: full-size
//! datagrams are offered back to back; whenever the pacer says "later", the clock jumps to
//! the time it names (one wakeup). Prints how far the achieved rate deviates from the
//! configured one, the worst gap between two sends against the ideal gap, and wakeups per
//! MiB; measures the pacer's CPU cost per MiB paced.

// A bench aborts on a broken fixture; `criterion_group!` generates an undocumented `pub fn`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use leanp2p_host::{Pacer, TokenBucket};

/// Full-size QUIC datagram (MTU discovery ceiling of the quic crate).
const DATAGRAM: usize = 1452;
const MIB: usize = 1024 * 1024;

/// What one paced run looked like.
#[derive(Debug, Default)]
struct PacingRun {
    bytes: u64,
    wakeups: u64,
    elapsed: Duration,
    max_gap: Duration,
}

/// Sends `total` bytes in `DATAGRAM`-sized datagrams through `pacer`, starting at `t0`.
fn run(pacer: &mut dyn Pacer, t0: Instant, total: usize) -> (PacingRun, Instant) {
    let mut now = t0;
    let mut out = PacingRun::default();
    let mut last_send: Option<Instant> = None;
    let mut first_send: Option<Instant> = None;
    let mut sent = 0;
    while sent < total {
        match pacer.delay(now, DATAGRAM) {
            Some(at) if at > now => {
                out.wakeups += 1;
                now = at;
            }
            _ => {
                pacer.on_send(now, DATAGRAM);
                if let Some(last) = last_send {
                    out.max_gap = out.max_gap.max(now - last);
                }
                first_send.get_or_insert(now);
                last_send = Some(now);
                sent += DATAGRAM;
            }
        }
    }
    out.bytes = sent as u64;
    out.elapsed = last_send
        .zip(first_send)
        .map_or(Duration::ZERO, |(l, f)| l - f);
    (out, now)
}

fn pacing(c: &mut Criterion) {
    let mut group = c.benchmark_group("pacing_token_bucket");
    group.throughput(Throughput::Bytes(MIB as u64));
    // (rate in bytes/s, burst in bytes): 100 Mbit/s and 1 Gbit/s, 64 KiB bursts.
    for (rate, burst) in [(12_500_000u64, 64 * 1024u64), (125_000_000, 64 * 1024)] {
        // Accuracy over 16 MiB after the first burst has drained.
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(rate, burst);
        let (_, warm) = run(&mut bucket, t0, burst as usize * 2);
        let (report, _) = run(&mut bucket, warm, 16 * MIB);
        // The first send of the run spends the last tokens; the rate is over the rest.
        let achieved = (report.bytes - DATAGRAM as u64) as f64 / report.elapsed.as_secs_f64();
        let ideal_gap = Duration::from_secs_f64(DATAGRAM as f64 / rate as f64);
        println!(
            "pacing {} Mbit/s, burst {} KiB: achieved {:.3} Mbit/s ({:+.3}% vs configured), \
             max gap {:?} (ideal {:?}), {:.1} wakeups per MiB",
            rate * 8 / 1_000_000,
            burst / 1024,
            achieved * 8.0 / 1e6,
            (achieved / rate as f64 - 1.0) * 100.0,
            report.max_gap,
            ideal_gap,
            report.wakeups as f64 / 16.0,
        );

        let mut now = Instant::now();
        group.bench_function(BenchmarkId::new("pace_1MiB", rate * 8 / 1_000_000), |b| {
            b.iter(|| {
                let (report, end) = run(&mut bucket, now, MIB);
                now = end;
                black_box(report)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pacing);
criterion_main!(benches);
