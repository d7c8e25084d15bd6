//! Measures how many executions per second a fuzz target manages on stable, without
//! libFuzzer or sanitizers: `cargo run --release -p leanp2p-fuzz --example exec_rate --
//! <target> [seconds]`. Replays the target's committed seeds round-robin, so it shows the
//! harness's fixed cost per input (setup, key and certificate work) — the number to watch
//! when making a slow target cheaper. Profile it with `valgrind --tool=callgrind` or `perf`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a tool: a panic is a bug report

use std::path::Path;
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("usage: exec_rate <target> [seconds]");
    let secs: f64 = args.next().map_or(2.0, |s| s.parse().expect("seconds"));
    let target = leanp2p_fuzz::TARGETS
        .iter()
        .find(|t| t.name == name)
        .expect("unknown target");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(&name);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| std::fs::read(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    inputs.push(Vec::new());
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut execs = 0u64;
    while start.elapsed() < budget {
        (target.run)(&inputs[usize::try_from(execs).unwrap() % inputs.len()]);
        execs += 1;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{name}: {execs} execs in {elapsed:.2}s = {:.0} exec/s over {} inputs",
        execs as f64 / elapsed,
        inputs.len()
    );
}
