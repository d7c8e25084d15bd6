//! Node CPU per attacker byte under floods, ours against rust-libp2p 0.57 on the same
//! input (issue 18: "the floods cost no more node CPU than rust-libp2p under the same
//! input, and memory stays within the documented per-peer budgets").
//!
//! A measurement, not a CI test: both tests are `#[ignore]`d and assert only sanity
//! (every case ran, every flood got bytes into the victim), never speed. Run it with
//!
//! ```text
//! cargo test -p leanp2p-interop --release --test flood_cpu -- --ignored --nocapture
//! ```
//!
//! * **Victims** (`victims.rs`), one at a time, each alone on one thread: our node (lean
//!   profile) on a `leanp2p-mio` reactor; a rust-libp2p swarm configured as an
//!   Ethereum client (QUIC, gossipsub with the lean message id, Anonymous, 10 MiB max
//!   transmit, identify, ping) on a current-thread tokio runtime.
//! * **Attacker**: the raw QUIC peer of the hostile suite (`hostile/raw.rs`): real
//!   handshake under its own PeerId, hand-written multistream-select and gossipsub
//!   frames.
//! * **Floods** (`floods.rs`), offered at the same rate to both victims for the same
//!   time: idle (baseline), SUBSCRIBE/UNSUBSCRIBE toggles 1,000 per RPC and 1 per RPC,
//!   IDONTWANT in ~1.1 MB RPCs and in ~15 KB RPCs (under rust-libp2p's 16 KiB control
//!   cap), pings on two streams the attacker grants 2 KiB of credit and never reads. The
//!   attacker keeps at most a small backlog queued, so a victim whose flow control holds
//!   it back gets fewer bytes: cost is reported per byte QUIC actually took. A flood
//!   stream the victim resets or stops is replaced by a new one (counted).
//!
//! The medians of one run set and what they show are in `benches/README.md` ("Floods:
//! node CPU per attacker byte").
//! * **Measured** (`support.rs`): the victim thread's CPU time
//!   (`/proc/self/task/<tid>/schedstat`) over the flood plus a drain, the other
//!   threads' (attacker excluded; should be ~0), the bytes QUIC took from the attacker,
//!   and `VmRSS` before, at its peak (sampled) and after.
//!
//! Each case runs in a child process (this test binary re-run on `one_case`), so a
//! victim's memory growth is not hidden by an earlier case's freed heap. The parent
//! (`floods_table`) runs every case `FLOOD_CPU_RUNS` times (default 3) and prints the
//! medians. `FLOOD_CPU_SECS` (default 10) and `FLOOD_CPU_RATE_MB` (MB/s, default 4)
//! change the offer; `FLOOD_CPU_ONLY=<flood key>` runs one flood (plus idle).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

mod floods;
#[allow(dead_code)] // the hostile suite's raw peer; this target uses part of it
#[path = "../hostile/raw.rs"]
mod raw;
mod support;
mod victims;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use floods::{run_case, Flood, Offer, Outcome};
use victims::Kind;

/// The variable naming the case a child process runs.
const CASE_VAR: &str = "FLOOD_CPU_CASE";
/// The prefix of the child's result line.
const RESULT: &str = "FLOOD_RESULT ";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn offer() -> Offer {
    Offer {
        rate: env_u64("FLOOD_CPU_RATE_MB", 4) * 1_000_000,
        duration: Duration::from_secs(env_u64("FLOOD_CPU_SECS", 10)),
        drain: Duration::from_secs(2),
    }
}

/// The child: runs the case named in `FLOOD_CPU_CASE` (`<victim>:<flood>`) and prints
/// its outcome; does nothing without it (so `--ignored` runs of the whole target only
/// run the table).
#[test]
#[ignore = "a measurement: run by floods_table in a child process"]
fn one_case() {
    let Ok(case) = std::env::var(CASE_VAR) else {
        return;
    };
    // RUST_LOG=libp2p_gossipsub=debug (say) shows the victim's logs.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .try_init();
    let (victim, flood) = case.split_once(':').expect("<victim>:<flood>");
    let kind = Kind::parse(victim).expect("victim name");
    let flood = Flood::parse(flood).expect("flood key");
    let (outcome, _) = run_case(kind, flood, offer());
    // libtest has printed "test one_case ... " on this line: start a new one.
    println!("\n{RESULT}{}", outcome.line());
}

/// Runs one case in a child process; `None` if it failed (its stderr is shown).
fn child(kind: Kind, flood: Flood) -> Option<Outcome> {
    let exe = std::env::current_exe().unwrap();
    let mut process = Command::new(exe)
        .args([
            "one_case",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CASE_VAR, format!("{}:{}", kind.name(), flood.key()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + offer().duration + Duration::from_secs(90);
    while process.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = process.kill();
            eprintln!("{} / {}: child timed out", kind.name(), flood.key());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = process.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stderr.lines().filter(|l| l.contains(" / ")) {
        eprintln!("  {line}");
    }
    let result = stdout
        .lines()
        .find_map(|l| l.split_once(RESULT).map(|(_, rest)| rest))
        .and_then(Outcome::parse);
    if result.is_none() {
        eprintln!(
            "{} / {} failed:\n{stdout}\n{stderr}",
            kind.name(),
            flood.key()
        );
    }
    result
}

fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or(0)
}

/// The median of each field over runs (fields taken separately).
fn medians(runs: &[Outcome]) -> Outcome {
    let m = |f: fn(&Outcome) -> u64| median(runs.iter().map(f).collect());
    Outcome {
        written: m(|o| o.written),
        victim_cpu_ns: m(|o| o.victim_cpu_ns),
        other_cpu_ns: m(|o| o.other_cpu_ns),
        attacker_cpu_ns: m(|o| o.attacker_cpu_ns),
        rss_before_kib: m(|o| o.rss_before_kib),
        rss_peak_kib: m(|o| o.rss_peak_kib),
        rss_after_kib: m(|o| o.rss_after_kib),
        events: m(|o| o.events),
        closed: runs.iter().any(|o| o.closed),
        reopens: m(|o| o.reopens),
    }
}

/// What the victim did to the attacker's streams or connection.
fn notes(o: &Outcome) -> String {
    let mut notes = String::new();
    if o.reopens > 0 {
        notes += &format!(" ({} streams dropped by the victim)", o.reopens);
    }
    if o.closed {
        notes += " (attacker disconnected)";
    }
    notes
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

fn mib_growth(to: u64, from: u64) -> f64 {
    (to as f64 - from as f64) / 1024.0
}

/// Every flood against both victims, `FLOOD_CPU_RUNS` times, in child processes; prints
/// each run and the table of medians.
#[test]
#[ignore = "a measurement (minutes of CPU); see the module docs"]
fn floods_table() {
    if std::env::var(CASE_VAR).is_ok() {
        return;
    }
    let runs = env_u64("FLOOD_CPU_RUNS", 3);
    let only = std::env::var("FLOOD_CPU_ONLY").ok();
    let floods: Vec<Flood> = Flood::ALL
        .into_iter()
        .filter(|f| *f == Flood::Idle || only.as_deref().is_none_or(|o| o == f.key()))
        .collect();
    let offer = offer();
    eprintln!(
        "offer: {} MB/s for {:?}, then {:?} drain; {runs} run(s)",
        offer.rate / 1_000_000,
        offer.duration,
        offer.drain
    );
    let mut results: BTreeMap<(Flood, Kind), Vec<Outcome>> = BTreeMap::new();
    for run in 0..runs {
        for &flood in &floods {
            for kind in Kind::ALL {
                let outcome = child(kind, flood).unwrap_or_else(|| {
                    panic!("{} / {} produced no result", kind.name(), flood.key())
                });
                eprintln!(
                    "run {run}: {} / {}: {}",
                    kind.name(),
                    flood.key(),
                    outcome.line()
                );
                if flood != Flood::Idle {
                    assert!(
                        outcome.written > 0,
                        "{} / {}: the flood never reached the victim",
                        kind.name(),
                        flood.key()
                    );
                }
                results.entry((flood, kind)).or_default().push(outcome);
            }
        }
    }
    let table: BTreeMap<(Flood, Kind), Outcome> =
        results.iter().map(|(k, v)| (*k, medians(v))).collect();
    println!(
        "\nmedians of {runs} run(s); offered {} MB/s for {} s (+{} s drain)\n",
        offer.rate / 1_000_000,
        offer.duration.as_secs(),
        offer.drain.as_secs()
    );
    println!(
        "| flood | victim | attacker MB taken | victim CPU s | above idle s | CPU ms / MB (above idle) | other threads CPU s | RSS peak growth MiB | RSS growth after MiB | CPU ours / theirs |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &flood in &floods {
        for kind in Kind::ALL {
            let Some(o) = table.get(&(flood, kind)) else {
                continue;
            };
            let idle = table
                .get(&(Flood::Idle, kind))
                .map_or(0, |i| i.victim_cpu_ns);
            let above = o.victim_cpu_ns.saturating_sub(idle);
            let mb = o.written as f64 / 1e6;
            let per_mb = if mb > 0.0 {
                format!("{:.1}", secs(above) * 1e3 / mb)
            } else {
                "–".to_string()
            };
            let ratio = match (kind, table.get(&(flood, Kind::Theirs))) {
                (Kind::Ours, Some(theirs)) if theirs.victim_cpu_ns > 0 => {
                    format!(
                        "{:.2}",
                        o.victim_cpu_ns as f64 / theirs.victim_cpu_ns as f64
                    )
                }
                _ => String::new(),
            };
            println!(
                "| {} | {} | {:.1} | {:.2} | {:.2} | {} | {:.2} | {:.1} | {:.1} | {}{} |",
                flood.name(),
                kind.name(),
                mb,
                secs(o.victim_cpu_ns),
                secs(above),
                per_mb,
                secs(o.other_cpu_ns),
                mib_growth(o.rss_peak_kib, o.rss_before_kib),
                mib_growth(o.rss_after_kib, o.rss_before_kib),
                ratio,
                notes(o)
            );
        }
    }
}
