//! `leanp2p sim`: the devnet workload on the deterministic simulator
//! (`leanp2p_sim::Sim`, virtual clock). Everything inside the simulated run derives
//! from `--seed` and the flags — no wall clock, no unseeded randomness — so identical
//! arguments give an identical trace hash. Only `wall_s` is measured outside.
//!
//! Peers as in `devnet`: by default every node runs discv5 over the simulated links
//! (`Sim::enable_discovery`), node 0 is the only bootnode, every node explores with the
//! same hook as a real node (`commands::discovery::Found::explorer`) and its connection
//! manager dials what discovery found until `--target-peers`; `--no-discovery` keeps the
//! static `--dial-peers` topology.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use leanp2p_host::{lean, PeerId};
use leanp2p_identity::Enr;
use leanp2p_sim::{LinkConfig, NodeIdx, Sim, SimDiscoveryConfig, DEFAULT_MAX_STEPS_PER_INSTANT};
use serde_json::{json, Map};

use super::congestion::Congestion;
use super::discovery::{
    join_late, summary_fields, table_line, Found, Outcome, DEFAULT_TARGET_PEERS,
    WORKLOAD_LOOKUP_INTERVAL,
};
use super::workload::html::{self, PageInput};
use super::workload::{DialTarget, NodeDriver, Report, Timeline, Workload, WorkloadArgs};
use super::{jsonl, CliError};

/// Most simulated nodes.
const MAX_SIM_NODES: usize = 1000;
/// Longest run: every node keeps one receipt per message (about slots × nodes entries).
const MAX_VIRTUAL_SECS: u64 = 3600;
/// Simulation steps between looks at the wall clock for the progress line.
const PROGRESS_CHECK_STEPS: u64 = 4096;
/// Exit code when delivery or sync fell short (CLI.md).
const EXIT_MISSED: u8 = 3;

/// `leanp2p sim` flags.
#[derive(Debug, Args)]
pub(crate) struct SimArgs {
    /// Nodes at the start (the late joiner comes on top).
    #[arg(long, default_value_t = 10)]
    pub nodes: usize,
    /// The one seed of the run (keys, node RNGs, links, topology, payloads).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Probability in [0, 1) that a datagram is lost, on every link.
    #[arg(long, default_value_t = 0.0)]
    pub loss: f64,
    /// One-way link latency in ms.
    #[arg(long, default_value_t = 10)]
    pub latency: u64,
    /// Extra one-way delay drawn uniformly from [0, MS] per datagram (reorders).
    #[arg(long, default_value_t = 0, value_name = "MS")]
    pub jitter: u64,
    /// Length of the run in virtual seconds (warm-up, slots, tail).
    #[arg(long, default_value_t = 20)]
    pub virtual_secs: u64,
    /// No discovery: each node dials --dial-peers earlier nodes as known peers (the
    /// behaviour before discovery). Without it, node 0 is the only bootnode and the
    /// others find each other by discv5 over the simulated links (--dial-peers is then
    /// unused).
    #[arg(long)]
    pub no_discovery: bool,
    /// With discovery: peers each node dials (from what discovery found) until it is
    /// connected to this many.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_TARGET_PEERS, conflicts_with = "no_discovery")]
    pub target_peers: usize,
    #[command(flatten)]
    pub workload: WorkloadArgs,
}

/// What a simulated run produced.
pub(crate) struct SimOutcome {
    pub workload: Arc<Workload>,
    pub drivers: Vec<NodeDriver>,
    pub peer_ids: Vec<String>,
    pub virtual_elapsed: Duration,
    pub trace_hash: [u8; 32],
    pub datagrams_delivered: u64,
    pub datagrams_lost: u64,
    /// Per node, its connections and discovery at the end of the run.
    pub outcomes: Vec<Outcome>,
    /// The peer target with discovery on; `None` with `--no-discovery`.
    pub target_peers: Option<usize>,
}

impl SimOutcome {
    /// The delivery / sync accounting of the run.
    pub(crate) fn report(&self) -> Report {
        Report::new(&self.workload, &self.drivers, &self.peer_ids, None)
    }
}

impl SimArgs {
    /// The peer target with discovery on, `None` with `--no-discovery`.
    pub(crate) fn discovery(&self) -> Option<usize> {
        (!self.no_discovery).then_some(self.target_peers)
    }

    /// Validates the flags: the plan and the link.
    pub(crate) fn plan(&self) -> Result<(Workload, LinkConfig), CliError> {
        if !(0.0..1.0).contains(&self.loss) {
            return Err(CliError::BadFlag("--loss must be in [0, 1)".into()));
        }
        if self.latency > 10_000 || self.jitter > 10_000 {
            return Err(CliError::BadFlag(
                "--latency and --jitter must be at most 10000 ms".into(),
            ));
        }
        if self.virtual_secs > MAX_VIRTUAL_SECS {
            return Err(CliError::BadFlag(format!(
                "--virtual-secs must be at most {MAX_VIRTUAL_SECS}"
            )));
        }
        let mut workload = self.workload.workload(
            self.nodes,
            MAX_SIM_NODES,
            Duration::from_secs(self.virtual_secs),
            self.seed,
            0,
        )?;
        // quinn's BBR draws the offset of its gain cycle from the OS RNG: with it the
        // same flags can give another trace. CUBIC unless asked for.
        if self.workload.congestion.is_none() {
            workload.congestion = Congestion::Cubic;
        }
        let link = LinkConfig {
            latency: Duration::from_millis(self.latency),
            jitter: Duration::from_millis(self.jitter),
            loss: self.loss,
            ..LinkConfig::default()
        };
        Ok((workload, link))
    }
}

/// One line describing a run: nodes, seed, peers, links, slots and sizes.
fn describe(w: &Workload, args: &SimArgs) -> String {
    let peers = match args.discovery() {
        Some(target) => format!("discovery from node 0 (target {target} peers)"),
        None => format!("static topology (--dial-peers {})", w.dial_peers),
    };
    format!(
        "{} nodes{}, seed {}, {peers}, links {} ms ± {} ms, loss {:.1} %, {} slots of {} ms, blocks {} B, attestations {} B",
        w.initial_nodes,
        if w.joiner().is_some() { " + 1 late joiner" } else { "" },
        args.seed,
        args.latency,
        args.jitter,
        args.loss * 100.0,
        w.slots,
        w.slot.as_millis(),
        w.block_size,
        w.attestation_size,
    )
}

/// Runs `leanp2p sim`; returns the exit code.
pub(crate) fn run(args: &SimArgs) -> Result<u8, CliError> {
    let (workload, link) = args.plan()?;
    let mut report_file = args.workload.open_report()?;
    let wall = Instant::now();
    let progress = SimProgress::new(std::io::stderr().is_terminal());
    let outcome = simulate(
        Arc::new(workload),
        link,
        args.seed,
        args.discovery(),
        Some(progress),
    )?;
    let wall_s = wall.elapsed().as_secs_f64();
    let report = outcome.report();
    let code = if report.success() { 0 } else { EXIT_MISSED };
    let virtual_s = outcome.virtual_elapsed.as_secs_f64();
    if let Some(file) = report_file.as_mut() {
        let w = &outcome.workload;
        let input = PageInput {
            command: "sim",
            description: format!("{} on the simulator; times are virtual", describe(w, args)),
            workload: w,
            drivers: &outcome.drivers,
            report: &report,
            run_secs: virtual_s,
        };
        html::write(file, &input).map_err(|e| CliError::BadFlag(format!("--report: {e}")))?;
    }
    let mut stdout = std::io::stdout().lock();
    let written = if args.workload.json {
        let mut extra = Map::new();
        extra.insert("wall_s".into(), json!(round3(wall_s)));
        extra.insert("virtual_s".into(), json!(round3(virtual_s)));
        extra.insert("trace_hash".into(), json!(hex::encode(outcome.trace_hash)));
        extra.insert("seed".into(), json!(args.seed));
        extra.insert("loss".into(), json!(args.loss));
        extra.insert("link_latency_ms".into(), json!(args.latency));
        extra.insert("link_jitter_ms".into(), json!(args.jitter));
        extra.insert(
            "datagrams_delivered".into(),
            json!(outcome.datagrams_delivered),
        );
        extra.insert("datagrams_lost".into(), json!(outcome.datagrams_lost));
        extra.insert("exit_code".into(), json!(code));
        let target = outcome.target_peers.unwrap_or(0);
        let with_discovery = outcome.target_peers.is_some();
        for (key, value) in summary_fields(&outcome.outcomes, with_discovery, target) {
            extra.insert(key.into(), value);
        }
        let fields = report.summary_json(&outcome.workload, virtual_s, extra);
        writeln!(
            stdout,
            "{}",
            jsonl::render("summary", (wall_s * 1000.0).round() as u64, fields)
        )
    } else {
        let w = &outcome.workload;
        writeln!(stdout, "sim: {}", describe(w, args))
        .and_then(|()| writeln!(stdout))
        .and_then(|()| report.write_table(&mut stdout, virtual_s))
        .and_then(|()| {
            writeln!(
                stdout,
                "time: {virtual_s:.1} virtual s in {wall_s:.2} wall s ({:.1}x); datagrams {} delivered, {} lost",
                if wall_s > 0.0 { virtual_s / wall_s } else { 0.0 },
                outcome.datagrams_delivered,
                outcome.datagrams_lost,
            )
        })
        .and_then(|()| {
            writeln!(
                stdout,
                "{}",
                table_line(
                    &outcome.outcomes,
                    outcome.target_peers.is_some(),
                    outcome.target_peers.unwrap_or(0)
                )
            )
        })
        .and_then(|()| writeln!(stdout, "trace hash: {}", hex::encode(outcome.trace_hash)))
    };
    written
        .and_then(|()| stdout.flush())
        .map_err(CliError::Stdout)?;
    Ok(code)
}

/// Runs the workload on a simulator seeded with `seed`; with `target_peers`, the nodes
/// find each other by discovery from node 0 ([`SimDiscovery`]), without it they dial
/// the workload's static topology.
pub(crate) fn simulate(
    workload: Arc<Workload>,
    link: LinkConfig,
    seed: u64,
    target_peers: Option<usize>,
    mut progress: Option<SimProgress>,
) -> Result<SimOutcome, CliError> {
    let fail = |e: &dyn std::fmt::Display| CliError::Node(format!("sim: {e}"));
    let mut sim = Sim::new(seed);
    sim.set_default_link(link);
    let agent = format!("leanp2p/{}", env!("CARGO_PKG_VERSION"));
    let n = workload.total_nodes();
    let mut idxs = Vec::with_capacity(n);
    for _ in 0..n {
        let mut config = lean::config_for_network(&agent, &workload.network, 1);
        config
            .quic
            .congestion_controller(workload.congestion.into());
        if let Some(target) = target_peers {
            config.conn_manager.target_peers = target;
        }
        let idx = sim.add_node(config).map_err(|e| fail(&e))?;
        // The driver validates (the same code as on the devnet).
        sim.set_auto_validate(idx, false);
        idxs.push(idx);
    }
    let mut discovery = target_peers
        .map(|target| SimDiscovery::start(&mut sim, &idxs, &workload, target))
        .transpose()
        .map_err(|e| fail(&e))?;
    let mut drivers: Vec<NodeDriver> = (0..n)
        .map(|i| {
            // With discovery every node but node 0 keeps node 0, its bootnode, as a
            // known peer, and finds the rest.
            let dial_to = match (&discovery, i) {
                (Some(_), 0) => Vec::new(),
                (Some(_), _) => vec![0],
                (None, _) => workload.dial_targets(i),
            };
            let dial = dial_to
                .into_iter()
                .map(|j| DialTarget {
                    peer: sim.peer_id(idxs[j]),
                    addr: sim.addr(idxs[j]),
                })
                .collect();
            NodeDriver::new(i, Arc::clone(&workload), dial)
        })
        .collect();
    let peer_ids = idxs.iter().map(|&i| sim.peer_id(i).to_string()).collect();
    let epoch = sim.epoch();
    let end = workload.end();
    let mut same_instant = 0u64;
    let mut steps = 0u64;
    let sample_interval = Timeline::interval(end);
    let mut next_sample = Duration::ZERO;
    loop {
        deliver_events(&mut sim, &idxs, &mut drivers).map_err(|e| fail(&e))?;
        if sim.elapsed() >= next_sample {
            sample_all(&sim, &idxs, &mut drivers, false);
            next_sample = sim.elapsed() + sample_interval;
        }
        steps += 1;
        if steps % PROGRESS_CHECK_STEPS == 0 {
            if let Some(progress) = progress.as_mut() {
                progress.tick(&workload, sim.elapsed(), &drivers);
            }
        }
        let due = drivers
            .iter()
            .filter_map(NodeDriver::poll_timeout)
            .min()
            .unwrap_or(end)
            .min(end);
        let network = sim
            .next_wakeup()
            .map(|at| at.saturating_duration_since(epoch));
        if network.is_some_and(|at| at <= due) {
            let before = sim.now();
            sim.step();
            same_instant = if sim.now() == before {
                same_instant + 1
            } else {
                0
            };
            if same_instant > DEFAULT_MAX_STEPS_PER_INSTANT {
                return Err(fail(&format!(
                    "livelock: {same_instant} steps at virtual {:?}",
                    sim.elapsed()
                )));
            }
            continue;
        }
        // Nothing on the network before `due`: move the clock there.
        sim.run_until(due).map_err(|e| fail(&e))?;
        if due >= end {
            break;
        }
        for (i, driver) in drivers.iter_mut().enumerate() {
            if driver.poll_timeout().is_some_and(|at| at <= due) {
                sim.with_node(idxs[i], |node, now| {
                    driver.handle_timeout(node, now, now.saturating_duration_since(epoch));
                })
                .map_err(|e| fail(&e))?;
            }
        }
        if let Some(discovery) = discovery.as_mut() {
            discovery
                .on_timeouts(&mut sim, &idxs, &drivers)
                .map_err(|e| fail(&e))?;
        }
    }
    sample_all(&sim, &idxs, &mut drivers, true);
    let outcomes = idxs
        .iter()
        .enumerate()
        .map(|(i, &idx)| measure(&sim, idx, discovery.as_ref().map(|d| d.node(i))))
        .collect();
    if let Some(progress) = progress.as_mut() {
        progress.finish(&workload, sim.elapsed(), &drivers);
    }
    let stats = sim.stats();
    Ok(SimOutcome {
        workload,
        drivers,
        peer_ids,
        virtual_elapsed: sim.elapsed(),
        trace_hash: sim.trace_hash(),
        datagrams_delivered: stats.delivered,
        datagrams_lost: stats.lost,
        outcomes,
        target_peers,
    })
}

/// Discovery in a simulated run, as in `devnet` (`commands::devnet::discovery`): node 0
/// is the only bootnode, every other node is given its record; every node explores with
/// [`Found::explorer`] and looks up a random ID every [`WORKLOAD_LOOKUP_INTERVAL`]. The
/// late joiner's discovery stays silent until its driver starts it (nobody learns of it
/// early), then it gets node 0's record and looks itself up ([`join_late`]).
struct SimDiscovery {
    /// Per node, the peers its discovery reported.
    found: Vec<Found>,
    /// Node 0's peer ID: the bootnode, not counted as discovered.
    bootnode: BTreeSet<PeerId>,
    /// The late joiner and node 0's record, until the joiner starts.
    pending: Option<(usize, Enr)>,
}

impl SimDiscovery {
    /// Turns discovery on for every node of the run.
    fn start(
        sim: &mut Sim,
        idxs: &[NodeIdx],
        workload: &Workload,
        target_peers: usize,
    ) -> Result<Self, leanp2p_sim::SimError> {
        let Some(&first) = idxs.first() else {
            return Ok(Self {
                found: Vec::new(),
                bootnode: BTreeSet::new(),
                pending: None,
            });
        };
        let bootnode = sim.node_enr(first)?;
        let config = SimDiscoveryConfig {
            lookup_interval: WORKLOAD_LOOKUP_INTERVAL,
            ..SimDiscoveryConfig::default()
        };
        let mut found = Vec::with_capacity(idxs.len());
        let mut pending = None;
        for (i, &idx) in idxs.iter().enumerate() {
            let mut node_config = config.clone();
            if workload.is_joiner(i) {
                pending = Some((i, bootnode.clone()));
            } else if i != 0 {
                node_config.bootnodes.push(bootnode.clone());
            }
            sim.enable_discovery(idx, node_config)?;
            let node_found = Found::default();
            sim.set_discovery_hook(idx, node_found.explorer(sim.peer_id(idx), target_peers))?;
            found.push(node_found);
        }
        Ok(Self {
            found,
            bootnode: BTreeSet::from([sim.peer_id(first)]),
            pending,
        })
    }

    /// After the drivers' timeouts: the late joiner, once started, joins.
    fn on_timeouts(
        &mut self,
        sim: &mut Sim,
        idxs: &[NodeIdx],
        drivers: &[NodeDriver],
    ) -> Result<(), leanp2p_sim::SimError> {
        let started = |i: usize| {
            drivers
                .get(i)
                .is_some_and(|d| d.stats().started_at.is_some())
        };
        if !self.pending.as_ref().is_some_and(|(i, _)| started(*i)) {
            return Ok(());
        }
        if let Some((i, bootnode)) = self.pending.take() {
            sim.with_discovery(idxs[i], |machine, now| join_late(machine, now, bootnode))?;
        }
        Ok(())
    }

    /// Node `i`'s found peers and the peers it was told about.
    fn node(&self, i: usize) -> (BTreeSet<PeerId>, &BTreeSet<PeerId>) {
        // Node 0 was told about nobody.
        const NOBODY: &BTreeSet<PeerId> = &BTreeSet::new();
        let found = self.found.get(i).map(Found::peers).unwrap_or_default();
        (found, if i == 0 { NOBODY } else { &self.bootnode })
    }
}

/// Node `idx`'s connections and discovery at the end of the run.
fn measure(
    sim: &Sim,
    idx: NodeIdx,
    discovery: Option<(BTreeSet<PeerId>, &BTreeSet<PeerId>)>,
) -> Outcome {
    let connected: BTreeSet<PeerId> = sim
        .node(idx)
        .map(|node| node.connected_peers().copied().collect())
        .unwrap_or_default();
    let stats = sim.discovery_stats(idx);
    Outcome::count(
        &connected,
        discovery
            .as_ref()
            .map(|(found, configured)| (found, *configured)),
        stats.map_or(0, |s| s.lookups_started),
        stats.map_or(0, |s| s.addresses_fed),
    )
}

/// Samples every driver's timeline (reads the nodes, changes nothing in the run).
fn sample_all(sim: &Sim, idxs: &[NodeIdx], drivers: &mut [NodeDriver], last: bool) {
    let t = sim.elapsed();
    for (driver, &idx) in drivers.iter_mut().zip(idxs) {
        if let Some(node) = sim.node(idx) {
            driver.sample(node, t, last);
        }
    }
}

/// Hands every collected event to its node's driver (which may cause more events).
fn deliver_events(
    sim: &mut Sim,
    idxs: &[NodeIdx],
    drivers: &mut [NodeDriver],
) -> Result<(), leanp2p_sim::SimError> {
    let epoch = sim.epoch();
    loop {
        let mut any = false;
        for (i, driver) in drivers.iter_mut().enumerate() {
            let idx = idxs[i];
            if sim.events(idx).is_empty() {
                continue;
            }
            any = true;
            for event in sim.drain_events(idx) {
                sim.with_node(idx, |node, now| {
                    driver.handle_event(node, now, now.saturating_duration_since(epoch), event);
                })?;
            }
        }
        if !any {
            return Ok(());
        }
    }
}

/// The progress line on stderr (wall-clock paced, outside the simulated run: it reads
/// the drivers, never changes them): rewritten in place on a terminal, a plain line every
/// few seconds otherwise.
pub(crate) struct SimProgress {
    tty: bool,
    last: Instant,
    width: usize,
}

impl SimProgress {
    pub(crate) fn new(tty: bool) -> Self {
        Self {
            tty,
            last: Instant::now(),
            width: 0,
        }
    }

    fn tick(&mut self, workload: &Workload, virtual_t: Duration, drivers: &[NodeDriver]) {
        let interval = if self.tty {
            Duration::from_millis(250)
        } else {
            Duration::from_secs(5)
        };
        if self.last.elapsed() >= interval {
            self.last = Instant::now();
            self.print(workload, virtual_t, drivers);
        }
    }

    fn finish(&mut self, workload: &Workload, virtual_t: Duration, drivers: &[NodeDriver]) {
        if self.tty {
            self.print(workload, virtual_t, drivers);
            eprintln!();
        }
    }

    fn print(&mut self, workload: &Workload, virtual_t: Duration, drivers: &[NodeDriver]) {
        let delivered: u64 = drivers.iter().map(NodeDriver::delivered).sum();
        let line = format!(
            "sim virtual {:6.1}s/{:.0}s  gossip {delivered}/{}",
            virtual_t.as_secs_f64(),
            workload.end().as_secs_f64(),
            workload.expected_until(virtual_t),
        );
        let mut stderr = std::io::stderr().lock();
        let _ = if self.tty {
            let pad = self.width.saturating_sub(line.chars().count());
            self.width = line.chars().count();
            write!(stderr, "\r{line}{}", " ".repeat(pad))
        } else {
            writeln!(stderr, "{line}")
        };
        let _ = stderr.flush();
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn sim_args(extra: &[&str]) -> SimArgs {
        let base = [
            "sim",
            "--nodes",
            "5",
            "--virtual-secs",
            "8",
            "--block-size",
            "16384",
        ];
        Cmd::parse_from(base.iter().chain(extra)).sim
    }

    fn outcome(args: &SimArgs) -> SimOutcome {
        let (workload, link) = args.plan().unwrap();
        simulate(Arc::new(workload), link, args.seed, args.discovery(), None).unwrap()
    }

    #[test]
    fn same_arguments_same_trace_and_full_delivery_with_sync() {
        let args = sim_args(&[]);
        let a = outcome(&args);
        let report = a.report();
        assert!(report.expected > 0);
        assert_eq!(report.delivered, report.expected, "{report:?}");
        assert_eq!(report.duplicates, 0);
        let sync = report.sync.as_ref().unwrap();
        assert!(sync.ok, "{sync:?}");
        assert!(sync.range_blocks > 0 && sync.root_blocks > 0, "{sync:?}");
        assert!(report.stores_equal);
        assert!(report.success());
        let b = outcome(&args);
        assert_eq!(a.trace_hash, b.trace_hash);
        let c = outcome(&sim_args(&["--seed", "2"]));
        assert_ne!(a.trace_hash, c.trace_hash);
    }

    #[test]
    fn ten_percent_loss_still_delivers_everything() {
        let args = sim_args(&["--loss", "0.1", "--seed", "3"]);
        let out = outcome(&args);
        assert!(out.datagrams_lost > 0);
        let report = out.report();
        assert_eq!(report.delivered, report.expected, "{report:?}");
        assert!(report.success(), "{report:?}");
    }

    #[test]
    fn the_sim_runs_cubic_unless_told_otherwise() {
        let (workload, _) = sim_args(&[]).plan().unwrap();
        assert_eq!(workload.congestion, Congestion::Cubic);
        let (workload, _) = sim_args(&["--congestion", "bbr"]).plan().unwrap();
        assert_eq!(workload.congestion, Congestion::Bbr);
        assert_eq!(sim_args(&[]).discovery(), Some(DEFAULT_TARGET_PEERS));
        assert_eq!(sim_args(&["--no-discovery"]).discovery(), None);
    }

    #[test]
    fn bad_link_flags_are_rejected() {
        assert!(sim_args(&["--loss", "1.5"]).plan().is_err());
        let mut one_node = sim_args(&[]);
        one_node.nodes = 1;
        assert!(one_node.plan().is_err());
        assert!(sim_args(&["--late-joiner-after-slots", "99"])
            .plan()
            .is_err());
    }
}
