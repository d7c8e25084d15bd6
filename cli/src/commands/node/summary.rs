//! Run counters and the final `summary` line (CLI.md field names).

use std::time::Duration;

use serde_json::{json, Value};

/// Latency samples kept for percentiles; later samples are counted in min/max only.
const MAX_LATENCY_SAMPLES: usize = 1 << 20;

/// Counters of one `node` run.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub connections_established: u64,
    pub connections_closed: u64,
    pub published: u64,
    pub publish_errors: u64,
    /// Publishes the node refused with backpressure (each retried until accepted).
    pub publish_backpressured: u64,
    pub published_bytes: u64,
    pub gossip_received: u64,
    pub gossip_received_bytes: u64,
    pub status_ok: u64,
    pub status_failed: u64,
    pub status_served: u64,
    pub blocks_requests_ok: u64,
    pub blocks_requests_failed: u64,
    pub blocks_chunks_received: u64,
    pub blocks_bytes_received: u64,
    pub blocks_root_mismatch: u64,
    pub blocks_requests_served: u64,
    pub latency: Latency,
}

/// Gossip latency samples (ms).
#[derive(Debug, Default)]
pub(crate) struct Latency {
    samples: Vec<f64>,
    n: u64,
    min: f64,
    max: f64,
}

impl Latency {
    pub(crate) fn record(&mut self, ms: f64) {
        if self.n == 0 || ms < self.min {
            self.min = ms;
        }
        if self.n == 0 || ms > self.max {
            self.max = ms;
        }
        self.n += 1;
        if self.samples.len() < MAX_LATENCY_SAMPLES {
            self.samples.push(ms);
        }
    }

    /// `{n, min, p50, p90, p99, max}` or `null` without samples.
    pub(crate) fn to_json(&self) -> Value {
        if self.n == 0 {
            return Value::Null;
        }
        let mut sorted = self.samples.clone();
        sorted.sort_by(f64::total_cmp);
        let pick = |q: f64| {
            // Nearest rank.
            let rank = (q * sorted.len() as f64).ceil() as usize;
            sorted
                .get(rank.saturating_sub(1).min(sorted.len().saturating_sub(1)))
                .copied()
                .unwrap_or(self.max)
        };
        json!({
            "n": self.n,
            "min": round3(self.min),
            "p50": round3(pick(0.50)),
            "p90": round3(pick(0.90)),
            "p99": round3(pick(0.99)),
            "max": round3(self.max),
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// CPU and peak memory of this process, from `getrusage(RUSAGE_SELF)` (through `nix`,
/// so no `unsafe` here): `(user s, system s, max RSS KiB)`, all `None` if it fails.
fn resource_usage() -> (Option<f64>, Option<f64>, Option<i64>) {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(usage) => {
            let secs = |tv: nix::sys::time::TimeVal| {
                tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1_000_000.0
            };
            (
                Some(round3(secs(usage.user_time()))),
                Some(round3(secs(usage.system_time()))),
                // Linux reports ru_maxrss in KiB.
                Some(usage.max_rss()),
            )
        }
        Err(_) => (None, None, None),
    }
}

/// The `summary` fields. `elapsed` is the whole run (for `recv_mb_per_s`).
pub(crate) fn summary_fields(
    peer_id: &str,
    exit_code: u8,
    counters: &Counters,
    elapsed: Duration,
) -> Value {
    let (cpu_user_s, cpu_sys_s, max_rss_kib) = resource_usage();
    let secs = elapsed.as_secs_f64();
    let recv_mb_per_s = if secs > 0.0 {
        round3(counters.gossip_received_bytes as f64 / 1e6 / secs)
    } else {
        0.0
    };
    json!({
        "peer_id": peer_id,
        "exit_code": exit_code,
        "connections_established": counters.connections_established,
        "connections_closed": counters.connections_closed,
        "published": counters.published,
        "publish_errors": counters.publish_errors,
        "publish_backpressured": counters.publish_backpressured,
        "gossip_received": counters.gossip_received,
        "gossip_received_bytes": counters.gossip_received_bytes,
        "latency_ms": counters.latency.to_json(),
        "recv_mb_per_s": recv_mb_per_s,
        "cpu_user_s": cpu_user_s,
        "cpu_sys_s": cpu_sys_s,
        "max_rss_kib": max_rss_kib,
        "elapsed_s": round3(secs),
        "rpc": {
            "status_ok": counters.status_ok,
            "status_failed": counters.status_failed,
            "status_served": counters.status_served,
            "blocks_requests_ok": counters.blocks_requests_ok,
            "blocks_requests_failed": counters.blocks_requests_failed,
            "blocks_chunks_received": counters.blocks_chunks_received,
            "blocks_bytes_received": counters.blocks_bytes_received,
            "blocks_root_mismatch": counters.blocks_root_mismatch,
            "blocks_requests_served": counters.blocks_requests_served,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles_use_nearest_rank() {
        let mut l = Latency::default();
        assert!(l.to_json().is_null());
        for ms in (1..=100).rev() {
            l.record(f64::from(ms));
        }
        let v = l.to_json();
        assert_eq!(v["n"], 100);
        assert_eq!(v["min"], 1.0);
        assert_eq!(v["p50"], 50.0);
        assert_eq!(v["p90"], 90.0);
        assert_eq!(v["p99"], 99.0);
        assert_eq!(v["max"], 100.0);
    }
}
