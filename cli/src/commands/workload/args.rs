//! The workload flags shared by `devnet` and `sim`, and their validation.

use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::payload::{MAX_PUBLISHERS, MESSAGE_HEADER_LEN};
use super::schedule::{Workload, MAX_SLOTS};
use crate::commands::congestion::Congestion;
use crate::commands::CliError;

/// Lean-sized load per slot, the late joiner, the topology.
#[derive(Debug, Clone, Args)]
pub(crate) struct WorkloadArgs {
    /// Slot length in ms (one block per slot, attestations a quarter in).
    #[arg(long, default_value_t = 1000)]
    pub slot_ms: u64,
    /// Block size in bytes (before snappy; random content, so snappy keeps it).
    #[arg(long, default_value_t = 256 * 1024)]
    pub block_size: usize,
    /// Attestation size in bytes; every node publishes one per slot.
    #[arg(long, default_value_t = 300)]
    pub attestation_size: usize,
    /// Time before slot 1 for connections and the mesh, in ms.
    #[arg(long, default_value_t = 1500)]
    pub warmup_ms: u64,
    /// Time after the last slot for propagation and sync, in ms.
    #[arg(long, default_value_t = 1500)]
    pub tail_ms: u64,
    /// A late joiner starts half a slot into slot N+1 and syncs (status, blocks_by_range,
    /// blocks_by_root) from the others.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub late_joiner_after_slots: u64,
    /// Run without the late joiner.
    #[arg(long)]
    pub no_late_joiner: bool,
    /// Earlier nodes each node dials and keeps (known peers, redialled).
    #[arg(long, default_value_t = 8)]
    pub dial_peers: usize,
    /// Topic network segment (`/leanconsensus/<network>/…`).
    #[arg(long, default_value = "12345678")]
    pub network: String,
    /// QUIC congestion controller of every node [default: bbr; sim: cubic, because
    /// quinn's BBR seeds its gain cycle from the OS RNG, which breaks the sim's
    /// reproducible trace].
    #[arg(long, value_enum)]
    pub congestion: Option<Congestion>,
    /// Print one JSON `summary` line on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write one self-contained HTML page with SVG charts of the run (propagation
    /// CDF per kind, delivery per node, bytes in/out and connections over time, the late
    /// joiner's sync) and their data as JSON.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
}

impl WorkloadArgs {
    /// Creates the `--report` file before the run, so a bad path fails at once (exit 2).
    pub(crate) fn open_report(&self) -> Result<Option<File>, CliError> {
        self.report
            .as_ref()
            .map(|path| {
                File::create(path)
                    .map_err(|e| CliError::BadFlag(format!("--report {}: {e}", path.display())))
            })
            .transpose()
    }

    /// Checks the flags and builds the plan for `nodes` initial nodes over `total`.
    pub(crate) fn workload(
        &self,
        nodes: usize,
        max_nodes: usize,
        total: Duration,
        seed: u64,
        clock_base_us: u64,
    ) -> Result<Workload, CliError> {
        let bad = |msg: String| Err(CliError::BadFlag(msg));
        if nodes < 2 || nodes > max_nodes.min(MAX_PUBLISHERS - 1) {
            return bad(format!("--nodes must be in 2..={max_nodes}"));
        }
        if self.slot_ms < 100 || self.slot_ms > 60_000 {
            return bad("--slot-ms must be in 100..=60000".into());
        }
        let max_size = leanp2p_host::lean::MAX_PAYLOAD_SIZE;
        if self.block_size < MESSAGE_HEADER_LEN || self.block_size > max_size {
            return bad(format!(
                "--block-size must be in {MESSAGE_HEADER_LEN}..={max_size}"
            ));
        }
        if self.attestation_size < MESSAGE_HEADER_LEN || self.attestation_size > max_size {
            return bad(format!(
                "--attestation-size must be in {MESSAGE_HEADER_LEN}..={max_size}"
            ));
        }
        if self.dial_peers == 0 {
            return bad("--dial-peers must be at least 1".into());
        }
        if self.network.is_empty() || self.network.contains('/') {
            return bad("--network must be a non-empty segment without '/'".into());
        }
        let slot = Duration::from_millis(self.slot_ms);
        let warmup = Duration::from_millis(self.warmup_ms);
        let tail = Duration::from_millis(self.tail_ms);
        let slots = Workload::slots_in(total, warmup, tail, slot);
        if slots == 0 {
            return bad(format!(
                "the run is too short: {} ms leave no slot after --warmup-ms {} and --tail-ms {}",
                total.as_millis(),
                self.warmup_ms,
                self.tail_ms
            ));
        }
        if slots > MAX_SLOTS {
            return bad(format!("at most {MAX_SLOTS} slots per run"));
        }
        let late_joiner_after_slots = if self.no_late_joiner {
            None
        } else if self.late_joiner_after_slots >= slots {
            return bad(format!(
                "--late-joiner-after-slots {} needs more than {} slots in the run (or --no-late-joiner)",
                self.late_joiner_after_slots, slots
            ));
        } else {
            Some(self.late_joiner_after_slots)
        };
        Ok(Workload {
            initial_nodes: nodes,
            late_joiner_after_slots,
            slot,
            slots,
            warmup,
            tail,
            block_size: self.block_size,
            attestation_size: self.attestation_size,
            dial_peers: self.dial_peers,
            network: self.network.clone(),
            congestion: self.congestion.unwrap_or_default(),
            seed,
            clock_base_us,
        })
    }
}
