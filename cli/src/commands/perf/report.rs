//! The one JSON object `perf` prints: throughput, process CPU and memory, socket and
//! QUIC path statistics.

use std::time::{Duration, Instant};

use leanp2p_quic::ConnectionStats;
use serde_json::{json, Map, Value};

use leanp2p_mio::IoStats;

use crate::commands::jsonl;

/// Process CPU (user, system seconds) and peak RSS (KiB), from `getrusage`.
pub(crate) fn resource_usage() -> (f64, f64, i64) {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(usage) => {
            let secs = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            (
                secs(usage.user_time()),
                secs(usage.system_time()),
                usage.max_rss(),
            )
        }
        Err(_) => (0.0, 0.0, 0),
    }
}

/// CPU seconds (user + system) the calling thread has used so far.
pub(crate) fn thread_cpu_s() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_THREAD) {
        Ok(usage) => {
            let secs = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            secs(usage.user_time()) + secs(usage.system_time())
        }
        Err(_) => 0.0,
    }
}

/// `cpu_threads_s` (CPU seconds of each reactor thread by role) and
/// `cpu_bound_mb_per_s`: payload MB per CPU second of the busiest reactor thread — the
/// rate this run could reach with a core per thread, independent of machine load.
pub(crate) fn thread_fields(out: &mut Map<String, Value>, bytes: u64, threads: &[(&str, f64)]) {
    let mut by_role = Map::new();
    for (role, cpu) in threads {
        by_role.insert((*role).to_string(), json!(round3(*cpu)));
    }
    out.insert("cpu_threads_s".into(), Value::Object(by_role));
    let busiest = threads.iter().map(|(_, c)| *c).fold(0.0, f64::max);
    out.insert(
        "cpu_bound_mb_per_s".into(),
        json!(if busiest > 0.0 {
            round3(bytes as f64 / 1e6 / busiest)
        } else {
            0.0
        }),
    );
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The common fields: `workload`, `ok`, `bytes`, `elapsed_s`, `mb_per_s`, `msgs_per_s`
/// (when `messages` is given), `cpu_s`, `cpu_user_s`, `cpu_sys_s`, `max_rss_kib`.
pub(crate) fn base(
    workload: &str,
    ok: bool,
    bytes: u64,
    elapsed: Duration,
    messages: Option<u64>,
) -> Map<String, Value> {
    let secs = elapsed.as_secs_f64();
    let per_s = |x: f64| if secs > 0.0 { round3(x / secs) } else { 0.0 };
    let (user, sys, rss) = resource_usage();
    let mut out = Map::new();
    out.insert("workload".into(), json!(workload));
    out.insert("ok".into(), json!(ok));
    out.insert("bytes".into(), json!(bytes));
    out.insert("elapsed_s".into(), json!(round3(secs)));
    out.insert("mb_per_s".into(), json!(per_s(bytes as f64 / 1e6)));
    out.insert(
        "msgs_per_s".into(),
        messages.map_or(Value::Null, |m| json!(per_s(m as f64))),
    );
    out.insert("cpu_s".into(), json!(round3(user + sys)));
    out.insert("cpu_user_s".into(), json!(round3(user)));
    out.insert("cpu_sys_s".into(), json!(round3(sys)));
    out.insert("max_rss_kib".into(), json!(rss));
    out
}

/// Socket counters of all reactors together, plus the first one's granted buffers and
/// GSO/GRO capability: `datagrams_sent`, `send_calls`, `datagrams_per_send_call`, ...
pub(crate) fn io_fields(out: &mut Map<String, Value>, ios: &[IoStats], gso_segments: usize) {
    let sum = |f: fn(&IoStats) -> u64| ios.iter().map(f).sum::<u64>();
    let sent = sum(|s| s.datagrams_sent);
    let calls = sum(|s| s.send_calls);
    out.insert("datagrams_sent".into(), json!(sent));
    out.insert("send_calls".into(), json!(calls));
    out.insert(
        "datagrams_per_send_call".into(),
        json!(if calls > 0 {
            round3(sent as f64 / calls as f64)
        } else {
            0.0
        }),
    );
    out.insert("gso_batches".into(), json!(sum(|s| s.gso_batches)));
    out.insert("gso_refused".into(), json!(sum(|s| s.gso_refused)));
    out.insert(
        "datagrams_received".into(),
        json!(sum(|s| s.datagrams_received)),
    );
    out.insert("recv_calls".into(), json!(sum(|s| s.recv_calls)));
    out.insert("gro_batches".into(), json!(sum(|s| s.gro_batches)));
    out.insert(
        "send_would_block".into(),
        json!(sum(|s| s.send_would_block)),
    );
    out.insert("send_errors".into(), json!(sum(|s| s.send_errors)));
    out.insert("wakeups".into(), json!(sum(|s| s.wakeups)));
    out.insert("gso_segments".into(), json!(gso_segments));
    if let Some(first) = ios.first() {
        out.insert("kernel_gso_segments".into(), json!(first.max_gso_segments));
        out.insert("kernel_gro_segments".into(), json!(first.gro_segments));
        out.insert("sndbuf_bytes".into(), json!(first.send_buffer_bytes));
        out.insert("rcvbuf_bytes".into(), json!(first.recv_buffer_bytes));
    }
}

/// One connection's QUIC path stats.
pub(crate) fn path_json(stats: &ConnectionStats) -> Value {
    json!({
        "rtt_ms": round3(stats.rtt.as_secs_f64() * 1000.0),
        "min_rtt_ms": round3(stats.min_rtt.as_secs_f64() * 1000.0),
        "cwnd": stats.cwnd,
        "congestion_events": stats.congestion_events,
        "lost_packets": stats.lost_packets,
        "lost_bytes": stats.lost_bytes,
        "sent_packets": stats.sent_packets,
        "datagrams_sent": stats.datagrams_sent,
        "bytes_sent": stats.bytes_sent,
        "mtu": stats.current_mtu,
    })
}

/// Top-level `lost_packets` (all given connections), `rtt_ms` and `cwnd` (of `sender`,
/// the side that moved most data), and `path` with every connection's stats by role.
pub(crate) fn path_fields(
    out: &mut Map<String, Value>,
    paths: &[(&str, Option<ConnectionStats>)],
    sender: usize,
) {
    let lost: u64 = paths
        .iter()
        .filter_map(|(_, s)| s.as_ref())
        .map(|s| s.lost_packets)
        .sum();
    out.insert("lost_packets".into(), json!(lost));
    let main = paths.get(sender).and_then(|(_, s)| s.as_ref());
    out.insert(
        "rtt_ms".into(),
        main.map_or(Value::Null, |s| json!(round3(s.rtt.as_secs_f64() * 1000.0))),
    );
    out.insert("cwnd".into(), main.map_or(Value::Null, |s| json!(s.cwnd)));
    let mut by_role = Map::new();
    for (role, stats) in paths {
        by_role.insert(
            (*role).to_string(),
            stats.as_ref().map_or(Value::Null, path_json),
        );
    }
    out.insert("path".into(), Value::Object(by_role));
}

/// Prints the object as one JSON line on stdout: `"event":"result"`, `t_ms` (since
/// `started`), then the fields.
pub(crate) fn print(out: Map<String, Value>, started: Instant) {
    println!(
        "{}",
        jsonl::render(
            "result",
            jsonl::millis(started.elapsed()),
            Value::Object(out)
        )
    );
}
