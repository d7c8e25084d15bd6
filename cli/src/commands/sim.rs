//! `leanp2p sim`: the devnet workload on the deterministic simulator
//! (`leanp2p_sim::Sim`, virtual clock). Everything inside the simulated run derives
//! from `--seed` and the flags — no wall clock, no unseeded randomness — so identical
//! arguments give an identical trace hash. Only `wall_s` is measured outside.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use leanp2p_host::lean;
use leanp2p_sim::{LinkConfig, NodeIdx, Sim, DEFAULT_MAX_STEPS_PER_INSTANT};
use serde_json::{json, Map};

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
}

impl SimOutcome {
    /// The delivery / sync accounting of the run.
    pub(crate) fn report(&self) -> Report {
        Report::new(&self.workload, &self.drivers, &self.peer_ids, None)
    }
}

impl SimArgs {
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
        let workload = self.workload.workload(
            self.nodes,
            MAX_SIM_NODES,
            Duration::from_secs(self.virtual_secs),
            self.seed,
            0,
        )?;
        let link = LinkConfig {
            latency: Duration::from_millis(self.latency),
            jitter: Duration::from_millis(self.jitter),
            loss: self.loss,
            ..LinkConfig::default()
        };
        Ok((workload, link))
    }
}

/// Runs `leanp2p sim`; returns the exit code.
/// One line describing a run: nodes, seed, links, slots and sizes.
fn describe(w: &Workload, args: &SimArgs) -> String {
    format!(
        "{} nodes{}, seed {}, links {} ms ± {} ms, loss {:.1} %, {} slots of {} ms, blocks {} B, attestations {} B",
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

pub(crate) fn run(args: &SimArgs) -> Result<u8, CliError> {
    let (workload, link) = args.plan()?;
    let mut report_file = args.workload.open_report()?;
    let wall = Instant::now();
    let progress = SimProgress::new(std::io::stderr().is_terminal());
    let outcome = simulate(Arc::new(workload), link, args.seed, Some(progress))?;
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
        .and_then(|()| writeln!(stdout, "trace hash: {}", hex::encode(outcome.trace_hash)))
    };
    written
        .and_then(|()| stdout.flush())
        .map_err(CliError::Stdout)?;
    Ok(code)
}

/// Runs the workload on a simulator seeded with `seed`.
pub(crate) fn simulate(
    workload: Arc<Workload>,
    link: LinkConfig,
    seed: u64,
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
        let idx = sim.add_node(config).map_err(|e| fail(&e))?;
        // The driver validates (the same code as on the devnet).
        sim.set_auto_validate(idx, false);
        idxs.push(idx);
    }
    let mut drivers: Vec<NodeDriver> = (0..n)
        .map(|i| {
            let dial = workload
                .dial_targets(i)
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
    }
    sample_all(&sim, &idxs, &mut drivers, true);
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
    })
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
        simulate(Arc::new(workload), link, args.seed, None).unwrap()
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
