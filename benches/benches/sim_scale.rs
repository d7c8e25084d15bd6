//! How fast the deterministic simulator runs a lean-like network: virtual seconds per
//! wall second for 100 and 1,000 full `leanp2p_host::Node`s (QUIC, TLS, gossipsub with
//! the lean profile) in one `leanp2p_sim::Sim`.
//!
//! Network: every node dials its ring successor plus [`RANDOM_DIALS`] seeded random other
//! nodes (a sparse random graph, mean degree about 10, connected through the ring), on
//! the sim's default link (10 ms one way, no loss). Every node subscribes to the lean
//! block topic and the meshes form before anything is measured. Workload: one block of
//! [`BLOCK_SSZ_LEN`] SSZ-like bytes (snappy-compressed) published per virtual second,
//! by a different node each time.
//!
//! Building the network (keys, handshakes, mesh formation) happens once per size,
//! outside the timed region. Each iteration advances the same network by
//! [`SPAN_SECS`] virtual seconds (publishes included); the payloads are made before the
//! timer starts, and the nodes' event logs are drained after it stops. The criterion
//! throughput is in "elements" = virtual seconds, so `thrpt` reads as virtual seconds
//! per wall second; the bench also prints that ratio, the setup time, and the delivery
//! ratio (every subscriber should get every block exactly once). On a shared machine the
//! wall clock also counts time the bench waited for a core, so it prints virtual seconds
//! per CPU second of the bench thread too (from `/proc/thread-self/schedstat`, Linux).
//!
//! Without criterion: `SIM_SCALE_RUN=NODES:SECS` (e.g. `SIM_SCALE_RUN=5000:3 cargo bench
//! -p leanp2p-benches --bench sim_scale`) builds one network of `NODES` nodes, advances
//! it `SECS` virtual seconds, prints the same report plus the peak RSS of the process
//! (`VmHWM` from `/proc/self/status`, Linux) and exits. That is how the 5,000-node
//! figure is taken, and a fixed workload to run under `valgrind --tool=callgrind`.

// A bench aborts on a broken fixture; `criterion_group!` generates an undocumented `pub fn`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use leanp2p_host::{NodeEvent, TopicHash};
use leanp2p_sim::{NodeIdx, Sim};
use leanp2p_testkit::{block_topic, lean_gossip_payload};

/// Seed of the simulation (keys, node seeds) and of the random graph.
const SEED: u64 = 0x5eed_1ea0;
/// Random dials per node on top of the ring edge.
const RANDOM_DIALS: usize = 4;
/// Uncompressed size of a published block.
const BLOCK_SSZ_LEN: usize = 16 * 1024;
/// Virtual seconds advanced per measured iteration (one publish each).
const SPAN_SECS: u64 = 1;
/// Virtual time allowed for the handshakes, then for the meshes to form.
const CONNECT_TIME: Duration = Duration::from_secs(5);
const MESH_TIME: Duration = Duration::from_secs(5);

/// CPU time the calling thread has run, from `/proc/thread-self/schedstat` (its first
/// field, nanoseconds on a CPU); `None` where that file does not exist.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// splitmix64: the graph's seeded random stream.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Undirected edges of the ring plus `RANDOM_DIALS` random chords per node, each as
/// (dialer, listener), without self-loops or duplicates, in a fixed order.
fn sparse_graph(n: usize, seed: u64) -> Vec<(usize, usize)> {
    let mut rng = SplitMix(seed);
    let mut seen = BTreeSet::new();
    let mut edges = Vec::new();
    let mut add = |a: usize, b: usize, edges: &mut Vec<(usize, usize)>| {
        if a != b && seen.insert((a.min(b), a.max(b))) {
            edges.push((a, b));
        }
    };
    for i in 0..n {
        add(i, (i + 1) % n, &mut edges);
    }
    for i in 0..n {
        for _ in 0..RANDOM_DIALS {
            let j = rng.below(n);
            add(i, j, &mut edges);
        }
    }
    edges
}

/// A built network and what it delivered so far.
struct LeanNet {
    sim: Sim,
    nodes: Vec<NodeIdx>,
    topic: TopicHash,
    published: u64,
    delivered: u64,
    setup: Duration,
    virtual_secs: u64,
    wall: Duration,
    cpu: Option<Duration>,
}

impl LeanNet {
    fn build(n: usize) -> Self {
        let started = Instant::now();
        let mut sim = Sim::new(SEED);
        let nodes: Vec<NodeIdx> = (0..n)
            .map(|_| {
                sim.add_node(leanp2p_host::lean::config("sim-scale"))
                    .unwrap()
            })
            .collect();
        for (a, b) in sparse_graph(n, SEED) {
            sim.dial(nodes[a], nodes[b]).unwrap();
        }
        sim.run_for(CONNECT_TIME).unwrap();
        let topic = block_topic();
        for &idx in &nodes {
            sim.subscribe(idx, &topic).unwrap();
        }
        sim.run_for(MESH_TIME).unwrap();
        for &idx in &nodes {
            sim.drain_events(idx);
        }
        let mesh: usize = nodes
            .iter()
            .map(|&idx| {
                sim.node(idx)
                    .map_or(0, |n| n.gossipsub().mesh_peers(&topic).count())
            })
            .sum();
        let setup = started.elapsed();
        println!(
            "sim_scale nodes={n}: setup {:.2} s wall ({} edges, mean mesh {:.1})",
            setup.as_secs_f64(),
            sparse_graph(n, SEED).len(),
            mesh as f64 / n as f64,
        );
        Self {
            sim,
            nodes,
            topic,
            published: 0,
            delivered: 0,
            setup,
            virtual_secs: 0,
            wall: Duration::ZERO,
            cpu: Some(Duration::ZERO),
        }
    }

    /// Advances `SPAN_SECS` virtual seconds with one publish each; returns the wall time
    /// of the simulation alone (payloads made before, events drained after).
    fn advance(&mut self) -> Duration {
        let payloads: Vec<Bytes> = (0..SPAN_SECS)
            .map(|k| lean_gossip_payload(BLOCK_SSZ_LEN, self.published + k).unwrap())
            .collect();
        let cpu_start = thread_cpu();
        let start = Instant::now();
        for data in payloads {
            let publisher = self.nodes[(self.published as usize * 7919) % self.nodes.len()];
            self.sim.publish(publisher, &self.topic, data).unwrap();
            self.published += 1;
            self.sim.run_for(Duration::from_secs(1)).unwrap();
        }
        let wall = start.elapsed();
        let cpu = thread_cpu()
            .zip(cpu_start)
            .map(|(end, start)| end.saturating_sub(start));
        self.cpu = self.cpu.zip(cpu).map(|(total, d)| total + d);
        for &idx in &self.nodes {
            self.delivered += self
                .sim
                .drain_events(idx)
                .iter()
                .filter(|e| matches!(e, NodeEvent::Message { topic, .. } if *topic == self.topic))
                .count() as u64;
        }
        self.virtual_secs += SPAN_SECS;
        self.wall += wall;
        wall
    }

    fn report(&self) {
        let n = self.nodes.len() as u64;
        let expected = self.published * (n - 1);
        let per_cpu = self.cpu.map_or("n/a".to_string(), |cpu| {
            format!(
                "{:.4}",
                self.virtual_secs as f64 / cpu.as_secs_f64().max(1e-9)
            )
        });
        println!(
            "sim_scale nodes={n}: virtual_s_per_wall_s={:.4} virtual_s_per_cpu_s={per_cpu} \
             ({} virtual s in {:.2} s wall; setup {:.2} s), deliveries {}/{} ({:.4}), \
             datagrams delivered {}",
            self.virtual_secs as f64 / self.wall.as_secs_f64().max(1e-9),
            self.virtual_secs,
            self.wall.as_secs_f64(),
            self.setup.as_secs_f64(),
            self.delivered,
            expected,
            self.delivered as f64 / expected.max(1) as f64,
            self.sim.stats().delivered,
        );
    }
}

/// Peak resident set size of this process (`VmHWM`), in KiB; `None` off Linux.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `SIM_SCALE_RUN=NODES:SECS` mode: one network, `SECS` virtual seconds, one report.
fn single_run(spec: &str) {
    let (nodes, secs) = spec
        .split_once(':')
        .and_then(|(n, s)| Some((n.parse::<usize>().ok()?, s.parse::<u64>().ok()?)))
        .expect("SIM_SCALE_RUN=NODES:SECS");
    let mut net = LeanNet::build(nodes);
    for _ in 0..secs.div_ceil(SPAN_SECS) {
        net.advance();
    }
    net.report();
    let hash: String = net
        .sim
        .trace_hash()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!(
        "sim_scale nodes={nodes}: trace hash {hash} ({} records)",
        net.sim.trace_len()
    );
    match peak_rss_kib() {
        Some(kib) => println!(
            "sim_scale nodes={nodes}: peak RSS {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("sim_scale nodes={nodes}: peak RSS n/a"),
    }
}

fn sim_scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("sim_scale");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(100));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(SPAN_SECS));
    for n in [100usize, 1_000] {
        // Built on first use, so a filtered-out size costs nothing; reused by every
        // warm-up and sample call of the closure.
        let mut net: Option<LeanNet> = None;
        group.bench_function(BenchmarkId::new("virtual_secs", n), |b| {
            let net = net.get_or_insert_with(|| LeanNet::build(n));
            b.iter_custom(|iters| (0..iters).map(|_| net.advance()).sum());
        });
        if let Some(net) = &net {
            net.report();
        }
    }
    group.finish();
}

criterion_group!(benches, sim_scale);

fn main() {
    if let Ok(spec) = std::env::var("SIM_SCALE_RUN") {
        single_run(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
