//! `leanp2p perf`: throughput benchmarks over the full stack (QUIC, multistream-select,
//! the host, gossipsub) on real UDP sockets, each node on its own reactor thread.
//!
//! Workloads (CLI.md `perf`):
//! * `--workload bulk --streams K --total-mib M [--direction upload|download|both]`: one
//!   connection between a perf server and a perf client in this process; K concurrent
//!   `/perf/1.0.0` streams share M MiB. `upload` (default): each client stream sends
//!   M/K MiB and asks for nothing back; `download`: each asks the server for M/K MiB;
//!   `both`: each uploads and downloads M/(2K) MiB. `bytes` is the payload moved.
//! * `--workload gossip --size BYTES --count N`: two nodes subscribed to the lean block
//!   topic; one publishes N messages back to back (at most a bounded window of messages
//!   in flight, so the router's queues never overflow), the other counts all N.
//! * `--server [--listen MULTIADDR]`: serve `/perf/1.0.0` until `--run-secs` or
//!   SIGINT/SIGTERM (first line: `{"event":"listening","addr":…}`).
//! * `--peer MULTIADDR`: the bulk client against any libp2p perf server.
//! * `--pace-mbit R [--pace-burst BYTES]` (local bulk runs): the sending node runs the node
//!   pacer (a token bucket); the receiving node measures the achieved rate and the largest
//!   burst from datagram arrivals (`pacing.rs`) and the result gains a `pacing` object.
//!
//! Output: one JSON line on stdout (`"event":"result"`, `t_ms`, then `workload`, `bytes`, `elapsed_s`, `mb_per_s`,
//! `msgs_per_s`, `cpu_s`, `max_rss_kib`, path and socket stats). Exit 0 when the workload
//! completed, 3 when it did not (failure or `--run-secs`), 2 for bad flags.

mod bulk;
mod gossip;
mod pacing;
mod report;
mod sink;

use std::net::SocketAddr;

use clap::{Args, ValueEnum};
use leanp2p_host::{lean, Config, Multiaddr};
use pacing::PaceSettings;

use crate::commands::CliError;

/// Largest `--streams` (QUIC allows 256 concurrent streams; the node uses a few itself).
const MAX_STREAMS: usize = 128;

/// Default `--pace-burst`: the token-bucket size the pacing bench uses (64 KiB).
const DEFAULT_PACE_BURST: u64 = 64 * 1024;

/// Largest `--pace-mbit` (100 Gbit/s).
const MAX_PACE_MBIT: u64 = 100_000;

/// Per-stream send buffer of the perf nodes: the host holds at most this much unsent
/// data per stream; the driver refills it as QUIC credit returns.
const PERF_STREAM_BUFFER: usize = 1 << 20;

/// Which way bulk data flows (client's view).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Direction {
    /// Client → server.
    Upload,
    /// Server → client.
    Download,
    /// Half each way.
    Both,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::Upload => "upload",
            Direction::Download => "download",
            Direction::Both => "both",
        }
    }
}

/// Workload kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Workload {
    /// `/perf/1.0.0` streams on one connection.
    Bulk,
    /// Gossipsub publishes between two nodes.
    Gossip,
}

/// `leanp2p perf` flags.
#[derive(Debug, Args)]
pub(crate) struct PerfArgs {
    /// bulk: /perf/1.0.0 streams; gossip: gossipsub publishes.
    #[arg(long, value_enum, default_value = "bulk")]
    workload: Workload,
    /// bulk: concurrent perf streams on the one connection.
    #[arg(long, default_value_t = 1)]
    streams: usize,
    /// bulk: MiB moved in total, split over the streams.
    #[arg(long, default_value_t = 64)]
    total_mib: u64,
    /// bulk: which way the data flows (client's view).
    #[arg(long, value_enum, default_value = "upload")]
    direction: Direction,
    /// gossip: message size in bytes.
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// gossip: messages to publish.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    /// Hard limit in seconds (the workload is reported as not completed past it).
    #[arg(long, default_value_t = 120)]
    run_secs: u64,
    /// Serve /perf/1.0.0 (for clients of any libp2p implementation).
    #[arg(long)]
    server: bool,
    /// --server: address to listen on.
    #[arg(long, default_value = "/ip4/0.0.0.0/udp/4001/quic-v1")]
    listen: String,
    /// Run the bulk client against this perf server (`/ip4/…/udp/…/quic-v1[/p2p/…]`).
    #[arg(long)]
    peer: Option<String>,
    /// Datagrams per QUIC GSO batch (1 = GSO off; default: what the kernel supports,
    /// at most 64).
    #[arg(long)]
    gso_segments: Option<usize>,
    /// (extra) bulk, local run only: pace the sending node (the client for upload, the
    /// server for download) with the node pacer at this many Mbit/s (1e6 bits) of UDP
    /// payload. The receiving node measures at datagram arrival (per reactor wakeup); the
    /// result gains `pacing` {rate_mbit, burst_bytes, achieved_mbit, deviation_pct,
    /// max_burst_bytes, burst_within_configured, pacer_waits, ...}.
    #[arg(long, value_name = "MBIT")]
    pace_mbit: Option<u64>,
    /// (extra) with --pace-mbit: the pacer's token-bucket size in bytes [default: 65536].
    #[arg(long, value_name = "BYTES")]
    pace_burst: Option<u64>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) streams: usize,
    pub(crate) total_bytes: u64,
    pub(crate) direction: Direction,
    pub(crate) size: usize,
    pub(crate) count: u64,
    pub(crate) run_secs: u64,
    pub(crate) gso_segments: usize,
    /// `--pace-mbit` / `--pace-burst`.
    pub(crate) pace: Option<PaceSettings>,
}

impl PerfArgs {
    fn plan(&self) -> Result<Plan, CliError> {
        let bad = |m: String| Err(CliError::BadFlag(m));
        if self.streams == 0 || self.streams > MAX_STREAMS {
            return bad(format!("--streams must be in 1..={MAX_STREAMS}"));
        }
        if self.total_mib == 0 || self.total_mib > 1 << 20 {
            return bad("--total-mib must be in 1..=1048576".into());
        }
        if self.size < 16 || self.size > lean::MAX_PAYLOAD_SIZE {
            return bad(format!(
                "--size must be in 16..={} (the lean payload limit)",
                lean::MAX_PAYLOAD_SIZE
            ));
        }
        if self.count == 0 || self.count > 10_000_000 {
            return bad("--count must be in 1..=10000000".into());
        }
        if self.run_secs == 0 {
            return bad("--run-secs must be at least 1".into());
        }
        let gso_segments = match self.gso_segments {
            Some(n @ 1..=64) => n,
            Some(_) => return bad("--gso-segments must be in 1..=64".into()),
            None => leanp2p_mio::probe_gso_segments().clamp(1, 64),
        };
        if self.server && self.peer.is_some() {
            return bad("--server and --peer exclude each other".into());
        }
        let pace = self.pace_settings()?;
        Ok(Plan {
            streams: self.streams,
            total_bytes: self.total_mib << 20,
            direction: self.direction,
            size: self.size,
            count: self.count,
            run_secs: self.run_secs,
            gso_segments,
            pace,
        })
    }

    fn pace_settings(&self) -> Result<Option<PaceSettings>, CliError> {
        let bad = |m: &str| Err(CliError::BadFlag(m.into()));
        let Some(mbit) = self.pace_mbit else {
            if self.pace_burst.is_some() {
                return bad("--pace-burst needs --pace-mbit");
            }
            return Ok(None);
        };
        if mbit == 0 || mbit > MAX_PACE_MBIT {
            return Err(CliError::BadFlag(format!(
                "--pace-mbit must be in 1..={MAX_PACE_MBIT}"
            )));
        }
        let burst = self.pace_burst.unwrap_or(DEFAULT_PACE_BURST);
        if !(1500..=1 << 30).contains(&burst) {
            return bad("--pace-burst must be in 1500..=1073741824 (at least one datagram)");
        }
        if self.workload != Workload::Bulk || self.server || self.peer.is_some() {
            return bad(
                "--pace-mbit needs the local bulk run (--workload bulk, no --server or --peer)",
            );
        }
        if self.direction == Direction::Both {
            return bad("--pace-mbit needs one sender: --direction upload or download");
        }
        Ok(Some(PaceSettings { mbit, burst }))
    }
}

/// Runs `perf`; the exit code (0 or 3), or a setup error (exit 2).
pub(crate) fn run(args: &PerfArgs) -> Result<u8, CliError> {
    let plan = args.plan()?;
    init_logging();
    if args.server {
        let listen = parse_addr(&args.listen, "--listen")?;
        if listen.1.is_some() {
            return Err(CliError::BadFlag(format!(
                "--listen {}: no /p2p part allowed",
                args.listen
            )));
        }
        return bulk::serve(&plan, listen.0);
    }
    if let Some(peer) = &args.peer {
        let target = parse_addr(peer, "--peer")?;
        return bulk::run_remote(&plan, target);
    }
    match args.workload {
        Workload::Bulk => bulk::run_local(&plan),
        Workload::Gossip => gossip::run(&plan),
    }
}

fn parse_addr(
    text: &str,
    flag: &str,
) -> Result<(SocketAddr, Option<leanp2p_host::PeerId>), CliError> {
    let addr: Multiaddr = text
        .trim()
        .parse()
        .map_err(|e| CliError::BadFlag(format!("{flag} {text}: {e}")))?;
    addr.to_quic_v1_target()
        .map_err(|e| CliError::BadFlag(format!("{flag} {text}: {e}")))
}

/// The node configuration of every perf node: the lean profile, GSO batches of
/// `plan.gso_segments`, a bounded per-stream send buffer, and room for the streams. Cubic
/// instead of the lean profile's BBR: the baselines (quinn, rust-libp2p) run Cubic, so a
/// ratio compares the stacks, not the controllers.
pub(crate) fn node_config(plan: &Plan) -> Config {
    let mut config = lean::config(concat!("leanp2p-perf/", env!("CARGO_PKG_VERSION")));
    config
        .quic
        .congestion_controller(leanp2p_quic::CongestionController::Cubic);
    config.quic.max_gso_segments = plan.gso_segments;
    config.limits.max_stream_send_buffer = PERF_STREAM_BUFFER;
    config.limits.max_inbound_app_streams = MAX_STREAMS + 8;
    config
}

/// Logs go to stderr, off unless `RUST_LOG` asks (stdout carries the one JSON object).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .try_init();
}
