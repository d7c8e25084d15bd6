//! Cost of one datagram at a host node, by how much idle state the node holds.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
//!
//! Node 0 holds either one connection with one application stream, or 50 connections
//! with 150 idle application streams each. Per iteration one peer writes 64 bytes on one
//! stream; the bench times node 0 handling the datagram and draining (`handle_datagram`,
//! `poll_transmit` until `None`, `poll_event` until `None`, `poll_timeout`). Everything
//! else (the peers, timers, ACKs travelling back) runs outside the timed part. The node
//! keeps per-connection counters and a timer table, so the second figure should stay
//! within 1.2x of the first; the bench prints that ratio.

use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use leanp2p_host::{AppStream, Config, NodeEvent};
use leanp2p_testkit::Net;

const PROTOCOL: &str = "/bench/idle/1.0.0";

/// A network where node 0 holds `conns` connections with `streams` app streams each.
/// Returns the network and the stream node 1 writes on.
fn setup(conns: usize, streams: usize) -> (Net, AppStream) {
    let config = |_| {
        let mut c = Config::default();
        c.limits.max_inbound_app_streams = streams + 8;
        c.limits.max_negotiating_streams = streams + 8;
        c.quic.max_concurrent_bidi_streams = (streams + 16) as u32;
        c
    };
    let t0 = Instant::now();
    let mut net = Net::new(t0, conns + 1, config).expect("network");
    net.latency = Duration::ZERO;
    net.keep_events = false;
    let now = net.time;
    net.nodes[0]
        .node
        .register_protocol(now, PROTOCOL)
        .expect("register");
    for i in 1..=conns {
        net.dial(i, 0).expect("dial");
    }
    let p0 = net.peer(0);
    net.run_until(Duration::from_secs(10), |net| {
        (1..=conns).all(|i| net.nodes[i].node.is_connected(&p0))
    });
    let mut first = None;
    for i in 1..=conns {
        for _ in 0..streams {
            let now = net.time;
            let s = net.nodes[i]
                .node
                .open_app_stream(now, p0, PROTOCOL)
                .expect("open");
            first.get_or_insert(s);
        }
        net.drain(i);
        net.run_for(Duration::from_millis(20));
    }
    net.run_for(Duration::from_secs(1));
    let total: usize = net.nodes[0]
        .node
        .connected_peers()
        .map(|p| net.nodes[0].node.connections_to(p))
        .flat_map(|c| c.into_iter())
        .map(|c| net.nodes[0].node.stream_count(c))
        .sum();
    assert!(total >= conns * streams, "node 0 holds {total} streams");
    (net, first.expect("a stream"))
}

/// Runs every node's due timers and delivers everything due now, untimed.
fn settle(net: &mut Net) {
    for _ in 0..8 {
        let now = net.time;
        for i in 0..net.nodes.len() {
            net.deliver(i);
            if net.nodes[i].node.poll_timeout().is_some_and(|t| t <= now) {
                net.nodes[i].node.handle_timeout(now);
            }
            net.drain(i);
        }
    }
}

/// Mean wall time of node 0 handling one datagram from node 1, over `iters`.
fn per_datagram(net: &mut Net, stream: AppStream, iters: u64) -> Duration {
    let payload = Bytes::from_static(&[7u8; 64]);
    let mut timed = Duration::ZERO;
    let mut buf = Vec::new();
    for _ in 0..iters {
        net.time += Duration::from_millis(1);
        let now = net.time;
        net.nodes[1]
            .node
            .app_write(now, stream, payload.clone())
            .expect("write");
        net.drain(1);
        let start = Instant::now();
        net.deliver(0);
        let node = &mut net.nodes[0].node;
        let mut transmits = Vec::new();
        while let Some(t) = node.poll_transmit(now, &mut buf) {
            transmits.push((t, buf[..t.size].to_vec()));
        }
        while let Some(event) = node.poll_event() {
            std::hint::black_box(matches!(event, NodeEvent::AppStreamData { .. }));
        }
        std::hint::black_box(node.poll_timeout());
        timed += start.elapsed();
        // Hand node 0's output (ACKs) to the network untimed.
        for (t, bytes) in transmits {
            net.send_from(0, &t, &bytes);
        }
        settle(net);
    }
    timed / iters.max(1) as u32
}

fn bench(c: &mut Criterion) {
    let (mut small, s_small) = setup(1, 1);
    let (mut large, s_large) = setup(50, 150);
    let mut group = c.benchmark_group("host_datagram_cost");
    group.bench_function("1conn_x_1stream", |b| {
        b.iter_custom(|iters| per_datagram(&mut small, s_small, iters) * iters as u32)
    });
    group.bench_function("50conns_x_150streams", |b| {
        b.iter_custom(|iters| per_datagram(&mut large, s_large, iters) * iters as u32)
    });
    group.finish();
    // The ratio from one interleaved run, so machine noise hits both alike.
    let mut a = Duration::ZERO;
    let mut b = Duration::ZERO;
    for _ in 0..20 {
        a += per_datagram(&mut small, s_small, 200);
        b += per_datagram(&mut large, s_large, 200);
    }
    println!(
        "host_datagram_cost: 1x1 {:?}/datagram, 50x150 {:?}/datagram, ratio {:.2} (target <= 1.20)",
        a / 20,
        b / 20,
        b.as_secs_f64() / a.as_secs_f64()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
