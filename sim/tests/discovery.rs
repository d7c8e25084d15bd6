//! Discovery v5 over the simulated links: every node found from one bootnode, the same
//! trace for the same seed, and the peer target met from discovered records.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

use std::time::Duration;

use leanp2p_host::{Config, ConnManagerConfig};
use leanp2p_sim::{LinkConfig, NodeIdx, Sim, SimDiscoveryConfig};

/// `n` nodes with `config`, discovery on every one with node 0 as the only bootnode.
fn network(seed: u64, n: usize, lookup_interval: Duration, config: &Config) -> Sim {
    let mut sim = Sim::new(seed);
    for _ in 0..n {
        sim.add_node(config.clone()).unwrap();
    }
    let discovery = SimDiscoveryConfig {
        lookup_interval,
        ..SimDiscoveryConfig::default()
    };
    sim.enable_discovery_all(&[NodeIdx(0)], &discovery).unwrap();
    sim
}

/// The fewest nodes any node has discovered.
fn least_found(sim: &Sim) -> usize {
    sim.indices()
        .map(|i| sim.discovered(i).map_or(0, |s| s.len()))
        .min()
        .unwrap_or(0)
}

/// Runs until every node has discovered every other one (checked every 100 ms of
/// virtual time) or `limit` passes; returns the virtual time it took.
fn time_to_find_everyone(sim: &mut Sim, limit: Duration) -> Option<Duration> {
    let everyone = sim.len() - 1;
    while sim.elapsed() < limit {
        sim.run_for(Duration::from_millis(100)).unwrap();
        if least_found(sim) == everyone {
            return Some(sim.elapsed());
        }
    }
    None
}

/// Every one of `n` nodes discovers all others from the one bootnode within 30 virtual
/// seconds, with a random lookup every `lookup_interval`; the same run twice gives the
/// same trace.
fn every_node_found_within_30_s(n: usize, lookup_interval: Duration) -> Duration {
    let limit = Duration::from_secs(30);
    let run = || {
        let mut sim = network(3, n, lookup_interval, &Config::default());
        let took = time_to_find_everyone(&mut sim, limit);
        let least = least_found(&sim);
        let took = took.unwrap_or_else(|| panic!("after {limit:?} a node found only {least}"));
        (took, hex(&sim.trace_hash()), sim.trace_len())
    };
    let first = run();
    eprintln!(
        "{n} nodes: every node found every other after {:?} (trace {} over {} records)",
        first.0, first.1, first.2
    );
    assert_eq!(run(), first, "the same seed gave a different run");
    first.0
}

/// The small default variant of [`every_node_of_200_found_from_one_bootnode`].
#[test]
fn every_node_of_24_found_from_one_bootnode() {
    every_node_found_within_30_s(24, Duration::from_secs(1));
}

/// Issue 15: 200 nodes, node 0 the only bootnode, a random lookup every 250 ms per node
/// (every node has found all 199 others after 18.6 virtual seconds; with 500 ms lookups
/// 197 after 30 s). Slow, so ignored by default: in release about 140 CPU seconds since
/// an unchanged NODES record is no longer signature-checked again (the machine's
/// verified-record cache), 510 before; run it with
/// `cargo test --release -p leanp2p-sim --test discovery every_node_of_200 -- --ignored --nocapture`.
#[test]
#[ignore]
fn every_node_of_200_found_from_one_bootnode() {
    every_node_found_within_30_s(200, Duration::from_millis(250));
}

/// Progress of a 200-node run (development aid): `N`, `MS` and `SEED` set the size, the
/// lookup interval and the seed.
#[test]
#[ignore]
fn discovery_progress() {
    let env = |k: &str, d: u64| std::env::var(k).map_or(d, |v| v.parse().unwrap());
    let (n, ms, seed) = (env("N", 200) as usize, env("MS", 250), env("SEED", 3));
    let wall = std::time::Instant::now();
    let mut sim = network(seed, n, Duration::from_millis(ms), &Config::default());
    while sim.elapsed() < Duration::from_secs(60) && least_found(&sim) < n - 1 {
        sim.run_for(Duration::from_secs(1)).unwrap();
        eprintln!(
            "{:?}: least {} (wall {:?})",
            sim.elapsed(),
            least_found(&sim),
            wall.elapsed()
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 12 nodes on lossy, jittery links for 8 virtual seconds, with a crash and restart of
/// a discovering node: the trace hash and what every node discovered.
fn discovery_run(seed: u64) -> (String, u64, Vec<usize>) {
    let mut sim = Sim::new(seed);
    sim.set_default_link(LinkConfig {
        latency: Duration::from_millis(15),
        jitter: Duration::from_millis(10),
        loss: 0.02,
        ..LinkConfig::default()
    });
    for _ in 0..12 {
        sim.add_node(Config::default()).unwrap();
    }
    let discovery = SimDiscoveryConfig {
        lookup_interval: Duration::from_secs(1),
        ..SimDiscoveryConfig::default()
    };
    sim.enable_discovery_all(&[NodeIdx(0)], &discovery).unwrap();
    sim.run_for(Duration::from_secs(3)).unwrap();
    sim.crash(NodeIdx(5)).unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    sim.restart(NodeIdx(5)).unwrap();
    sim.run_for(Duration::from_secs(4)).unwrap();
    let found = sim
        .indices()
        .map(|i| sim.discovered(i).unwrap().len())
        .collect();
    (hex(&sim.trace_hash()), sim.trace_len(), found)
}

#[test]
fn same_seed_gives_the_same_discovery_trace() {
    let first = discovery_run(21);
    let second = discovery_run(21);
    assert!(
        first.1 > 100,
        "trace too short to mean anything: {}",
        first.1
    );
    assert!(
        first.2.iter().all(|&n| n > 0),
        "a node discovered nothing: {:?}",
        first.2
    );
    assert_eq!(first, second);
    let other = discovery_run(22);
    assert_ne!(first.0, other.0);
}

#[test]
fn peer_target_is_met_from_discovered_records() {
    const NODES: usize = 32;
    const TARGET: usize = 8;
    let mut config = Config::default();
    let mut cm = ConnManagerConfig::default();
    cm.target_peers = TARGET;
    config.conn_manager(cm);
    let mut sim = network(5, NODES, Duration::from_secs(2), &config);
    // Peers a node is connected to that it found through discovery.
    let discovered_peers = |sim: &Sim, i: NodeIdx| {
        let (node, found) = (sim.node(i).unwrap(), sim.discovered(i).unwrap());
        found
            .iter()
            .filter(|&&j| node.is_connected(&sim.peer_id(j)))
            .count()
    };
    let reached = sim
        .run_until_condition(Duration::from_secs(30), |sim| {
            sim.indices()
                .all(|i| discovered_peers(sim, i) >= TARGET - 2)
        })
        .unwrap();
    eprintln!("peer target met after {:?}", sim.elapsed());
    let counts: Vec<usize> = sim.indices().map(|i| discovered_peers(&sim, i)).collect();
    assert!(reached, "connected discovered peers per node: {counts:?}");
    for i in sim.indices() {
        let stats = sim.discovery_stats(i).unwrap();
        assert!(stats.addresses_fed >= TARGET as u64, "{i}: {stats:?}");
    }
}

#[test]
fn discovery_commands_refuse_misuse() {
    use leanp2p_sim::{SimError, DISCOVERY_PORT, SIM_PORT};

    let mut sim = Sim::new(9);
    let (a, b) = (
        sim.add_node(Config::default()).unwrap(),
        sim.add_node(Config::default()).unwrap(),
    );
    let zero = SimDiscoveryConfig {
        lookup_interval: Duration::ZERO,
        ..SimDiscoveryConfig::default()
    };
    assert!(matches!(
        sim.enable_discovery(a, zero),
        Err(SimError::ZeroLookupInterval)
    ));
    assert!(matches!(
        sim.with_discovery(a, |_, _| ()),
        Err(SimError::DiscoveryDisabled(_))
    ));
    let record = sim
        .enable_discovery(a, SimDiscoveryConfig::default())
        .unwrap();
    assert_eq!(record, sim.node_enr(a).unwrap());
    assert_eq!(record.udp4(), Some(DISCOVERY_PORT));
    assert_eq!(record.quic4(), Some(SIM_PORT));
    assert_eq!(record.peer_id(), sim.peer_id(a));
    assert_eq!(sim.discovery_addr(a).port(), DISCOVERY_PORT);
    assert!(matches!(
        sim.enable_discovery(a, SimDiscoveryConfig::default()),
        Err(SimError::DiscoveryEnabled(_))
    ));
    // `b` has no discovery socket: a PING to its discovery port is undeliverable.
    let b_record = sim.node_enr(b).unwrap();
    sim.with_discovery(a, |machine, now| {
        machine.add_enr(b_record.clone()).unwrap();
        let b_id = leanp2p_discv5::NodeId(b_record.node_id());
        machine.ping(now, b_id).unwrap();
    })
    .unwrap();
    sim.run_for(Duration::from_secs(5)).unwrap();
    assert!(sim.stats().undeliverable > 0);
    assert_eq!(sim.stats().discovery_delivered, 0);
    assert!(sim.discovered(a).unwrap().is_empty());
    // A crashed node's machine is gone, and comes back with the node.
    sim.crash(a).unwrap();
    assert!(sim.discovery(a).is_none());
    assert!(matches!(
        sim.with_discovery(a, |_, _| ()),
        Err(SimError::Crashed(_))
    ));
    sim.restart(a).unwrap();
    assert!(sim.discovery(a).is_some());
}

#[test]
fn the_discovery_hook_sees_every_event_and_its_commands_run() {
    use std::sync::{Arc, Mutex};

    use leanp2p_discv5::Event;
    use leanp2p_sim::SimError;

    let mut sim = network(11, 6, Duration::from_secs(60), &Config::default());
    assert!(matches!(
        Sim::new(1).set_discovery_hook(NodeIdx(0), |_, _, _| ()),
        Err(SimError::UnknownNode(_))
    ));
    // Node 5 asks every node it gets a session with for its whole table.
    let answers = Arc::new(Mutex::new(0usize));
    let seen = Arc::clone(&answers);
    sim.set_discovery_hook(NodeIdx(5), move |machine, now, event| match event {
        Event::SessionEstablished { node, .. } => {
            let wide: Vec<u16> = (240..=256).collect();
            machine.find_node(now, *node, &wide).unwrap();
        }
        Event::Nodes { .. } => *seen.lock().unwrap() += 1,
        _ => {}
    })
    .unwrap();
    sim.run_for(Duration::from_secs(5)).unwrap();
    assert!(*answers.lock().unwrap() >= 1);
    // The records in the answers reached the seen set (node 0 knows everyone).
    assert_eq!(sim.discovered(NodeIdx(5)).unwrap().len(), 5);
}
