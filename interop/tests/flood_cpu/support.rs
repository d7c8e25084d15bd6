//! Waiting (the names `hostile/raw.rs` expects here) and the Linux `/proc` readings the
//! measurement is made of: per-thread CPU time and the process's resident set.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Longest any single wait may take.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// Polls `done` every 20 ms; panics after `limit` saying what was awaited.
pub fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The calling thread's kernel id (`/proc/thread-self` → `<pid>/task/<tid>`).
pub fn current_tid() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self (Linux only)");
    link.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .expect("a numeric thread id")
}

/// CPU time a thread of this process has run, in nanoseconds: the first field of
/// `/proc/self/task/<tid>/schedstat` (`sum_exec_runtime`, user + system), or
/// utime + stime of `stat` in 10 ms ticks where schedstat is missing. `None` once the
/// thread is gone.
pub fn thread_cpu_ns(tid: u32) -> Option<u64> {
    let dir = format!("/proc/self/task/{tid}");
    if let Ok(text) = std::fs::read_to_string(format!("{dir}/schedstat")) {
        if let Some(ns) = text.split_whitespace().next().and_then(|f| f.parse().ok()) {
            return Some(ns);
        }
    }
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15
    // of the line, i.e. 12 and 13 after the name (USER_HZ is 100 on Linux).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

/// Every thread of this process: tid → (name, CPU ns).
pub fn threads() -> BTreeMap<u32, (String, u64)> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let name = std::fs::read_to_string(entry.path().join("comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if let Some(ns) = thread_cpu_ns(tid) {
            out.insert(tid, (name, ns));
        }
    }
    out
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| {
            let value = line.strip_prefix(field)?.strip_prefix(':')?;
            value.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or(0)
}

/// The process's resident set now, in KiB.
pub fn rss_kib() -> u64 {
    status_kib("VmRSS")
}
