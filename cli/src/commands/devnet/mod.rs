//! `leanp2p devnet`: N nodes in this process, each on its own mio reactor thread on
//! 127.0.0.1 (ephemeral ports), running the lean workload (`commands::workload`): they dial
//! node 0 and find each other by discovery (or, with `--no-discovery`, dial
//! `--dial-peers` earlier nodes as known peers), mesh on the lean topics, gossip a block per slot and an
//! attestation per node per slot, serve status / blocks_by_range / blocks_by_root, and a
//! late joiner syncs. A live progress line on stderr, then a table (or one JSON
//! `summary` line with `--json`). Exit 0 when every expected message arrived once and
//! the late joiner synced, 3 otherwise, 2 for bad flags.
//!
//! * `discovery`: node 0 as the one discv5 bootnode, the late joiner's delayed start,
//!   and the per-node connected / discovered counts of the summary;
//! * `node`: one node's thread (the reactor loop sliced at the driver's deadlines,
//!   graceful close at the end);
//! * `progress`: the live line.

mod discovery;
mod node;
mod progress;

use std::io::{IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use leanp2p_host::{lean, Keypair, Node};
use leanp2p_identity::Enr;
use leanp2p_mio::{IoStats, Reactor, ReactorConfig};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::{json, Map, Value};
use sha2::Digest;

use super::discovery::{attach, DiscoverySetup, DEFAULT_TARGET_PEERS, WORKLOAD_LOOKUP_INTERVAL};
use super::workload::html::{self, PageInput};
use super::workload::{DialTarget, NodeDriver, Report, WorkloadArgs};
use super::{jsonl, CliError};
use progress::{LiveBoard, Progress};

/// Most nodes (each is a thread with its own socket).
const MAX_DEVNET_NODES: usize = 64;
/// Longest run: every node keeps one receipt per message (about slots × nodes entries).
const MAX_SECS: u64 = 3600;
/// Exit code when delivery or sync fell short (CLI.md).
const EXIT_MISSED: u8 = 3;

/// `leanp2p devnet` flags.
#[derive(Debug, Args)]
pub(crate) struct DevnetArgs {
    /// Nodes at the start (the late joiner comes on top).
    #[arg(long, default_value_t = 4)]
    pub nodes: usize,
    /// Length of the run in seconds (warm-up, slots, tail).
    #[arg(long, default_value_t = 20)]
    pub secs: u64,
    /// Seed of the node keys, node RNGs, topology and payloads (default: fresh).
    #[arg(long)]
    pub seed: Option<u64>,
    /// No discovery: each node dials --dial-peers earlier nodes as known peers (the
    /// behaviour before discovery). Without it, node 0 is the only bootnode and the
    /// others find each other by discv5 (--dial-peers is then unused).
    #[arg(long)]
    pub no_discovery: bool,
    /// With discovery: peers each node dials (from what discovery found) until it is
    /// connected to this many.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TARGET_PEERS, conflicts_with = "no_discovery")]
    pub target_peers: usize,
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

/// Runs `leanp2p devnet`; returns the exit code.
pub(crate) fn run(args: &DevnetArgs) -> Result<u8, CliError> {
    if args.secs > MAX_SECS {
        return Err(CliError::BadFlag(format!(
            "--secs must be at most {MAX_SECS}"
        )));
    }
    let seed = args.seed.unwrap_or_else(|| rand_core::OsRng.next_u64());
    let mut workload = args.workload.workload(
        args.nodes,
        MAX_DEVNET_NODES,
        Duration::from_secs(args.secs),
        seed,
        0,
    )?;
    let mut report_file = args.workload.open_report()?;
    init_logging();
    let agent = format!("leanp2p/{}", env!("CARGO_PKG_VERSION"));
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let total = workload.total_nodes();
    let mut reactors = Vec::with_capacity(total);
    let mut targets = Vec::with_capacity(total);
    let mut peer_ids = Vec::with_capacity(total);
    let loopback = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    // Peer scoring with the lean topic weights of this network.
    let mut config = lean::config_for_network(&agent, &workload.network, 1);
    config
        .quic
        .congestion_controller(workload.congestion.into());
    // Send QUIC's datagram batches in one GSO syscall where the kernel supports it.
    config.quic.max_gso_segments = leanp2p_mio::probe_gso_segments().clamp(1, 64);
    let with_discovery = !args.no_discovery;
    if with_discovery {
        config.conn_manager.target_peers = args.target_peers;
    }
    let mut discoveries = Vec::with_capacity(total);
    let mut bootnode_record = None;
    for i in 0..total {
        let key = Keypair::generate(&mut rng);
        let mut node_seed = [0u8; 32];
        rng.fill_bytes(&mut node_seed);
        let node = Node::new(Instant::now(), config.clone(), &key, node_seed)
            .map_err(|e| CliError::Node(e.to_string()))?;
        let mut reactor = Reactor::bind(node, &[loopback], ReactorConfig::default())
            .map_err(|e| CliError::Node(e.to_string()))?;
        let addr = reactor
            .local_addrs()
            .first()
            .copied()
            .ok_or_else(|| CliError::Node("reactor has no socket".into()))?;
        if with_discovery {
            let joiner = workload.is_joiner(i);
            let bootnodes = match (&bootnode_record, joiner) {
                (Some(record), false) => vec![Enr::clone(record)],
                _ => Vec::new(),
            };
            let setup = DiscoverySetup {
                bind: loopback,
                advertise: Some(loopback.ip()),
                quic_port: addr.port(),
                bootnodes,
                lookup_interval: WORKLOAD_LOOKUP_INTERVAL,
                private_network: true,
                // Derived, so the keys stay those of the same seed without discovery.
                seed: sha2::Sha256::new()
                    .chain_update(node_seed)
                    .chain_update(b"discv5")
                    .finalize()
                    .into(),
                target_peers: args.target_peers,
            };
            let (attached, record, found) = attach(reactor, &key, setup)?;
            reactor = attached;
            let configured = bootnode_record.iter().map(Enr::peer_id).collect();
            let pending_bootnode = bootnode_record.clone().filter(|_| joiner);
            discoveries.push(Some(discovery::NodeDiscovery {
                found,
                configured,
                pending_bootnode,
            }));
            bootnode_record.get_or_insert(record);
        } else {
            discoveries.push(None);
        }
        targets.push(DialTarget {
            peer: key.peer_id(),
            addr,
        });
        peer_ids.push(key.peer_id().to_string());
        reactors.push(reactor);
    }

    // Time zero of the run: payload stamps are µs since the Unix epoch (CLI.md).
    let start = Instant::now();
    workload.clock_base_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(0));
    let workload = Arc::new(workload);
    let end = start + workload.end();
    let stop = Arc::new(AtomicBool::new(false));
    let board = Arc::new(Mutex::new(LiveBoard::new(total)));
    let handles: Vec<_> = reactors.iter().map(Reactor::handle).collect();
    {
        let stop = Arc::clone(&stop);
        let handles = handles.clone();
        // SIGINT / SIGTERM: stop every node, close gracefully, print what we have.
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::Relaxed);
            for handle in &handles {
                let _ = handle.shutdown();
            }
        })
        .map_err(|e| CliError::Node(format!("cannot install the signal handler: {e}")))?;
    }
    let mut threads = Vec::with_capacity(total);
    for (i, (reactor, discovery)) in reactors.into_iter().zip(discoveries).enumerate() {
        // With discovery every node but node 0 keeps node 0, its bootnode, as a known
        // peer, and finds the rest.
        let dial_to = if with_discovery {
            if i == 0 {
                Vec::new()
            } else {
                vec![0]
            }
        } else {
            workload.dial_targets(i)
        };
        let dial = dial_to
            .into_iter()
            .filter_map(|j| targets.get(j).copied())
            .collect();
        let driver = NodeDriver::new(i, Arc::clone(&workload), dial);
        let ctx = node::NodeThread {
            start,
            end,
            stop: Arc::clone(&stop),
            board: Arc::clone(&board),
        };
        let thread = std::thread::Builder::new()
            .name(format!("devnet-node-{i}"))
            .spawn(move || ctx.run(reactor, driver, discovery))
            .map_err(|e| CliError::Node(format!("cannot start node thread: {e}")))?;
        threads.push(thread);
    }

    let mut progress = Progress::new(
        Arc::clone(&workload),
        std::io::stderr().is_terminal(),
        start,
    );
    while threads.iter().any(|t| !t.is_finished()) {
        std::thread::sleep(Duration::from_millis(100));
        progress.tick(&board);
    }
    progress.finish(&board);
    let mut drivers = Vec::with_capacity(total);
    let mut outcomes = Vec::with_capacity(total);
    let mut io = IoTotals::default();
    for thread in threads {
        match thread.join() {
            Ok((driver, stats, outcome)) => {
                drivers.push(driver);
                outcomes.push(outcome);
                io.add(&stats);
            }
            Err(_) => return Err(CliError::Node("a node thread panicked".into())),
        }
    }
    let elapsed = start.elapsed();
    let interrupted = stop.load(Ordering::Relaxed);
    // An interrupted run counts only the messages that had time to propagate.
    let cutoff =
        interrupted.then(|| elapsed.saturating_sub(workload.tail.min(Duration::from_secs(1))));
    let report = Report::new(&workload, &drivers, &peer_ids, cutoff);
    // Interrupted: judged on what was scheduled until then (a joiner that never got to
    // sync counts as a failed sync).
    let code = if report.success() { 0 } else { EXIT_MISSED };
    let wall_s = elapsed.as_secs_f64();
    if let Some(file) = report_file.as_mut() {
        let input = PageInput {
            command: "devnet",
            description: format!(
                "{} nodes{} on 127.0.0.1 (one reactor thread each), {} slots of {} ms, blocks {} B, attestations {} B, seed {}{}",
                workload.initial_nodes,
                if workload.joiner().is_some() { " + 1 late joiner" } else { "" },
                workload.slots,
                workload.slot.as_millis(),
                workload.block_size,
                workload.attestation_size,
                seed,
                if interrupted { " (interrupted)" } else { "" },
            ),
            workload: &workload,
            drivers: &drivers,
            report: &report,
            run_secs: wall_s,
        };
        html::write(file, &input).map_err(|e| CliError::BadFlag(format!("--report: {e}")))?;
    }
    let mut stdout = std::io::stdout().lock();
    let written = if args.workload.json {
        let mut extra = Map::new();
        extra.insert("wall_s".into(), json!(round3(wall_s)));
        extra.insert("seed".into(), json!(seed));
        extra.insert("interrupted".into(), json!(interrupted));
        extra.insert("exit_code".into(), json!(code));
        extra.insert("io".into(), io.to_json());
        let target = if with_discovery { args.target_peers } else { 0 };
        for (key, value) in discovery::summary_fields(&outcomes, with_discovery, target) {
            extra.insert(key.into(), value);
        }
        let fields = report.summary_json(&workload, wall_s, extra);
        writeln!(
            stdout,
            "{}",
            jsonl::render("summary", jsonl::millis(elapsed), fields)
        )
    } else {
        writeln!(
            stdout,
            "devnet: {} nodes{} on 127.0.0.1, {} slots of {} ms, blocks {} B, attestations {} B, seed {}{}",
            workload.initial_nodes,
            if workload.joiner().is_some() { " + 1 late joiner" } else { "" },
            workload.slots,
            workload.slot.as_millis(),
            workload.block_size,
            workload.attestation_size,
            seed,
            if interrupted { " (interrupted)" } else { "" },
        )
        .and_then(|()| writeln!(stdout))
        .and_then(|()| report.write_table(&mut stdout, wall_s))
        .and_then(|()| {
            writeln!(
                stdout,
                "udp: {} datagrams sent in {} send calls, {} received, {} reactor wakeups",
                io.datagrams_sent, io.send_calls, io.datagrams_received, io.wakeups
            )
        })
        .and_then(|()| {
            writeln!(
                stdout,
                "{}",
                discovery::table_line(&outcomes, with_discovery, args.target_peers)
            )
        })
        .and_then(|()| writeln!(stdout, "wall: {wall_s:.2} s; result: {}", if code == 0 { "ok" } else { "MISSED" }))
    };
    written
        .and_then(|()| stdout.flush())
        .map_err(CliError::Stdout)?;
    Ok(code)
}

/// Logs go to stderr, quiet by default (`RUST_LOG` to see more): the progress line and
/// the table are the output.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// Reactor I/O counters summed over the nodes.
#[derive(Debug, Default)]
struct IoTotals {
    datagrams_sent: u64,
    send_calls: u64,
    datagrams_received: u64,
    wakeups: u64,
}

impl IoTotals {
    fn add(&mut self, stats: &IoStats) {
        self.datagrams_sent += stats.datagrams_sent;
        self.send_calls += stats.send_calls;
        self.datagrams_received += stats.datagrams_received;
        self.wakeups += stats.wakeups;
    }

    fn to_json(&self) -> Value {
        json!({
            "datagrams_sent": self.datagrams_sent,
            "send_calls": self.send_calls,
            "datagrams_received": self.datagrams_received,
            "wakeups": self.wakeups,
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
