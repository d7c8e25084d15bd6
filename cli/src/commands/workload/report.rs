//! The end-of-run accounting shared by `devnet` and `sim`: delivery against the
//! schedule, propagation percentiles, throughput, the sync result, the JSON `summary`
//! fields of CLI.md and the human table.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::driver::NodeDriver;
use super::payload::Kind;
use super::schedule::Workload;

/// Nearest-rank percentiles of latency samples (ms).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Percentiles {
    pub n: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Percentiles of `samples` (sorted here).
    pub(crate) fn of(mut samples: Vec<f64>) -> Self {
        if samples.is_empty() {
            return Self::default();
        }
        samples.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            let rank = (q * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1]
        };
        Self {
            n: samples.len(),
            p50: pick(0.50),
            p90: pick(0.90),
            p99: pick(0.99),
            max: samples[samples.len() - 1],
        }
    }

    fn to_json(self) -> Value {
        if self.n == 0 {
            return Value::Null;
        }
        json!({
            "n": self.n,
            "p50": round3(self.p50),
            "p90": round3(self.p90),
            "p99": round3(self.p99),
            "max": round3(self.max),
        })
    }
}

/// One node's line of the table.
#[derive(Clone, Debug)]
pub(crate) struct NodeRow {
    pub index: usize,
    pub peer_id: String,
    pub joiner: bool,
    pub published: u64,
    pub expected: u64,
    pub delivered: u64,
    pub duplicates: u64,
    pub latency: Percentiles,
    pub recv_bytes: u64,
    pub blocks: usize,
    pub peers: usize,
}

/// The late joiner's sync.
#[derive(Clone, Debug)]
pub(crate) struct SyncReport {
    pub node: usize,
    pub ok: bool,
    pub synced_ms: Option<f64>,
    pub status_ok: u64,
    pub range_requests: u64,
    pub range_blocks: u64,
    pub root_requests: u64,
    pub root_blocks: u64,
    pub requests_failed: u64,
    pub blocks: usize,
    pub reference_blocks: usize,
}

/// The result of a run.
#[derive(Clone, Debug)]
pub(crate) struct Report {
    pub rows: Vec<NodeRow>,
    pub published: u64,
    pub publish_errors: u64,
    pub expected: u64,
    pub delivered: u64,
    pub duplicates: u64,
    pub latency: Percentiles,
    /// Blocks only.
    pub block_latency: Percentiles,
    /// Attestations only.
    pub attestation_latency: Percentiles,
    pub recv_bytes: u64,
    pub sync: Option<SyncReport>,
    pub stores_equal: bool,
    pub blocks_served: u64,
}

impl Report {
    /// Accounts a run. `cutoff`: only messages scheduled up to this run time count
    /// (an interrupted run); `peer_ids[i]` names node `i`.
    pub(crate) fn new(
        workload: &Workload,
        drivers: &[NodeDriver],
        peer_ids: &[String],
        cutoff: Option<Duration>,
    ) -> Self {
        let mut rows: Vec<NodeRow> = drivers
            .iter()
            .map(|d| NodeRow {
                index: d.index(),
                peer_id: peer_ids.get(d.index()).cloned().unwrap_or_default(),
                joiner: workload.is_joiner(d.index()),
                published: d.stats().published,
                expected: 0,
                delivered: 0,
                duplicates: d.stats().duplicates,
                latency: Percentiles::default(),
                recv_bytes: d.stats().gossip_bytes,
                blocks: d.store().len(),
                peers: d.final_peer_count(),
            })
            .collect();
        let mut per_node: Vec<Vec<f64>> = vec![Vec::new(); drivers.len()];
        let (mut blocks, mut attestations) = (Vec::new(), Vec::new());
        for publication in workload.publications() {
            if cutoff.is_some_and(|c| publication.at > c) {
                break;
            }
            for (r, driver) in drivers.iter().enumerate() {
                if !workload.expects(r, &publication.key) {
                    continue;
                }
                rows[r].expected += 1;
                if let Some(&ms) = driver.stats().received.get(&publication.key) {
                    rows[r].delivered += 1;
                    per_node[r].push(ms);
                    match publication.key.kind {
                        Kind::Block => blocks.push(ms),
                        Kind::Attestation => attestations.push(ms),
                    }
                }
            }
        }
        let all: Vec<f64> = per_node.iter().flatten().copied().collect();
        for (row, samples) in rows.iter_mut().zip(per_node) {
            row.latency = Percentiles::of(samples);
        }
        let stores: Vec<BTreeSet<_>> = drivers.iter().map(|d| d.store().roots()).collect();
        let stores_equal = stores.windows(2).all(|w| w[0] == w[1]);
        let sync = workload.joiner().and_then(|j| {
            let joiner = drivers.get(j)?;
            let reference = stores.first()?;
            let rpc = joiner.stats().rpc;
            let synced = joiner.stats().synced_at;
            let started = joiner.stats().started_at.unwrap_or_default();
            let complete = joiner.store().missing_ancestor().is_none();
            Some(SyncReport {
                node: j,
                ok: stores.get(j) == Some(reference) && complete && synced.is_some(),
                synced_ms: synced.map(|t| t.saturating_sub(started).as_secs_f64() * 1000.0),
                status_ok: rpc.status_ok,
                range_requests: rpc.range_requests,
                range_blocks: rpc.range_blocks,
                root_requests: rpc.root_requests,
                root_blocks: rpc.root_blocks,
                requests_failed: rpc.requests_failed,
                blocks: joiner.store().len(),
                reference_blocks: reference.len(),
            })
        });
        Self {
            published: drivers.iter().map(|d| d.stats().published).sum(),
            publish_errors: drivers.iter().map(|d| d.stats().publish_errors).sum(),
            expected: rows.iter().map(|r| r.expected).sum(),
            delivered: rows.iter().map(|r| r.delivered).sum(),
            duplicates: rows.iter().map(|r| r.duplicates).sum(),
            recv_bytes: rows.iter().map(|r| r.recv_bytes).sum(),
            blocks_served: drivers.iter().map(|d| d.stats().rpc.blocks_served).sum(),
            latency: Percentiles::of(all),
            block_latency: Percentiles::of(blocks),
            attestation_latency: Percentiles::of(attestations),
            rows,
            sync,
            stores_equal,
        }
    }

    /// delivered / expected (1.0 when nothing was expected).
    pub(crate) fn delivery_ratio(&self) -> f64 {
        if self.expected == 0 {
            1.0
        } else {
            self.delivered as f64 / self.expected as f64
        }
    }

    /// Every expected message arrived, and the late joiner (if any) synced.
    pub(crate) fn success(&self) -> bool {
        self.expected > 0
            && self.delivered == self.expected
            && self.sync.as_ref().is_none_or(|s| s.ok)
    }

    /// The CLI.md `summary` fields (without `event`/`t_ms`), then `extra`.
    pub(crate) fn summary_json(
        &self,
        workload: &Workload,
        run_secs: f64,
        extra: Map<String, Value>,
    ) -> Value {
        let (cpu_user_s, cpu_sys_s, max_rss_kib) = resource_usage();
        let sync = self.sync.as_ref().map_or(Value::Null, |s| {
            json!({
                "node": s.node,
                "ok": s.ok,
                "synced_ms": s.synced_ms.map(round3),
                "status_ok": s.status_ok,
                "blocks_by_range_requests": s.range_requests,
                "blocks_by_range_blocks": s.range_blocks,
                "blocks_by_root_requests": s.root_requests,
                "blocks_by_root_blocks": s.root_blocks,
                "requests_failed": s.requests_failed,
                "blocks": s.blocks,
                "reference_blocks": s.reference_blocks,
            })
        });
        let per_node: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "node": r.index,
                    "peer_id": r.peer_id,
                    "late_joiner": r.joiner,
                    "published": r.published,
                    "expected": r.expected,
                    "delivered": r.delivered,
                    "duplicates": r.duplicates,
                    "latency_ms": r.latency.to_json(),
                    "recv_mb_per_s": mb_per_s(r.recv_bytes, run_secs),
                    "blocks": r.blocks,
                    "peers": r.peers,
                })
            })
            .collect();
        let mut fields = json!({
            "nodes": self.rows.len(),
            "published": self.published,
            "expected_deliveries": self.expected,
            "delivered": self.delivered,
            "delivery_ratio": self.delivery_ratio(),
            "duplicates": self.duplicates,
            "latency_ms": self.latency.to_json(),
            "block_latency_ms": self.block_latency.to_json(),
            "attestation_latency_ms": self.attestation_latency.to_json(),
            "publish_errors": self.publish_errors,
            "slots": workload.slots,
            "slot_ms": workload.slot.as_millis() as u64,
            "block_size": workload.block_size,
            "attestation_size": workload.attestation_size,
            "gossip_received_bytes": self.recv_bytes,
            "recv_mb_per_s": mb_per_s(self.recv_bytes, run_secs),
            "blocks_served": self.blocks_served,
            "stores_equal": self.stores_equal,
            "sync_ok": self.sync.as_ref().map(|s| s.ok),
            "sync": sync,
            "cpu_user_s": cpu_user_s,
            "cpu_sys_s": cpu_sys_s,
            "max_rss_kib": max_rss_kib,
            "per_node": per_node,
        });
        if let Value::Object(map) = &mut fields {
            map.extend(extra);
        }
        fields
    }

    /// The human table and totals.
    pub(crate) fn write_table(&self, out: &mut impl Write, run_secs: f64) -> io::Result<()> {
        writeln!(
            out,
            "{:>4}  {:<16} {:>5} {:>5} {:>13} {:>7} {:>4} {:>8} {:>8} {:>8} {:>6}",
            "node",
            "peer",
            "peers",
            "pub",
            "delivered",
            "%",
            "dup",
            "p50 ms",
            "p99 ms",
            "MB/s in",
            "blocks"
        )?;
        for r in &self.rows {
            let name = if r.joiner {
                format!("{} (late)", short(&r.peer_id))
            } else {
                short(&r.peer_id)
            };
            writeln!(
                out,
                "{:>4}  {:<16} {:>5} {:>5} {:>13} {:>7} {:>4} {:>8} {:>8} {:>8.3} {:>6}",
                r.index,
                name,
                r.peers,
                r.published,
                format!("{}/{}", r.delivered, r.expected),
                percent(r.delivered, r.expected),
                r.duplicates,
                ms(r.latency.n, r.latency.p50),
                ms(r.latency.n, r.latency.p99),
                mb_per_s(r.recv_bytes, run_secs),
                r.blocks,
            )?;
        }
        writeln!(
            out,
            "{:>4}  {:<16} {:>5} {:>5} {:>13} {:>7} {:>4} {:>8} {:>8} {:>8.3} {:>6}",
            "all",
            "",
            "",
            self.published,
            format!("{}/{}", self.delivered, self.expected),
            percent(self.delivered, self.expected),
            self.duplicates,
            ms(self.latency.n, self.latency.p50),
            ms(self.latency.n, self.latency.p99),
            mb_per_s(self.recv_bytes, run_secs),
            "",
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "propagation: p50 {} ms, p90 {} ms, p99 {} ms, max {} ms ({} deliveries)",
            ms(self.latency.n, self.latency.p50),
            ms(self.latency.n, self.latency.p90),
            ms(self.latency.n, self.latency.p99),
            ms(self.latency.n, self.latency.max),
            self.latency.n,
        )?;
        for (name, p) in [
            ("blocks", self.block_latency),
            ("attestations", self.attestation_latency),
        ] {
            writeln!(
                out,
                "  {name}: p50 {} ms, p99 {} ms, max {} ms",
                ms(p.n, p.p50),
                ms(p.n, p.p99),
                ms(p.n, p.max)
            )?;
        }
        if self.publish_errors > 0 {
            writeln!(out, "publish errors: {}", self.publish_errors)?;
        }
        match &self.sync {
            Some(s) => writeln!(
                out,
                "sync: late joiner (node {}) {}: {}/{} blocks, {} by range ({} requests), {} by root ({} requests), {} failed requests{}; stores equal: {}",
                s.node,
                if s.ok { "synced" } else { "NOT synced" },
                s.blocks,
                s.reference_blocks,
                s.range_blocks,
                s.range_requests,
                s.root_blocks,
                s.root_requests,
                s.requests_failed,
                s.synced_ms.map(|m| format!(", in {m:.1} ms")).unwrap_or_default(),
                if self.stores_equal { "yes" } else { "no" },
            )?,
            None => writeln!(
                out,
                "sync: no late joiner; stores equal: {}",
                if self.stores_equal { "yes" } else { "no" }
            )?,
        }
        let (user, sys, rss) = resource_usage();
        writeln!(
            out,
            "process: cpu user {} s, sys {} s, max RSS {} MiB",
            user.map_or("?".into(), |v| format!("{v:.2}")),
            sys.map_or("?".into(), |v| format!("{v:.2}")),
            rss.map_or("?".into(), |v| format!("{:.1}", v as f64 / 1024.0)),
        )
    }
}

fn short(peer_id: &str) -> String {
    let n = peer_id.chars().count();
    if n <= 12 {
        return peer_id.to_string();
    }
    let tail: String = peer_id.chars().skip(n - 6).collect();
    format!("…{tail}")
}

fn percent(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}", a as f64 * 100.0 / b as f64)
    }
}

fn ms(n: usize, v: f64) -> String {
    if n == 0 {
        "-".into()
    } else {
        format!("{v:.2}")
    }
}

fn mb_per_s(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        round3(bytes as f64 / 1e6 / secs)
    } else {
        0.0
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// CPU and peak memory of this process (`getrusage(RUSAGE_SELF)` through `nix`):
/// `(user s, system s, max RSS KiB)`, `None` if it fails.
pub(crate) fn resource_usage() -> (Option<f64>, Option<f64>, Option<i64>) {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(usage) => {
            let secs = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            (
                Some(round3(secs(usage.user_time()))),
                Some(round3(secs(usage.system_time()))),
                Some(usage.max_rss()),
            )
        }
        Err(_) => (None, None, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let p = Percentiles::of((1..=100).rev().map(f64::from).collect());
        assert_eq!(
            (p.n, p.p50, p.p90, p.p99, p.max),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(Percentiles::of(vec![]).n, 0);
        assert_eq!(Percentiles::of(vec![3.0]).p99, 3.0);
    }
}
