//! `leanp2p perf` against the real binary on 127.0.0.1: the bulk and gossip workloads
//! finish with exit 0 and one sane JSON object; bad flags exit 2; a `--server` answers a
//! `--peer` client. Every child has `--run-secs` and is killed after a wall-clock bound.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_leanp2p");
/// Wall-clock bound of every child (their own `--run-secs` is shorter).
const DEADLINE: Duration = Duration::from_secs(90);

/// Runs the binary to completion (killed past [`DEADLINE`]).
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "leanp2p {args:?} still running after {DEADLINE:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The single JSON object on stdout.
fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one JSON object expected, got: {stdout}");
    // A JSON line like every other: "event" first, then "t_ms", then the fields.
    assert!(
        lines[0].starts_with(r#"{"event":"result","t_ms":"#)
            && lines[0].contains(r#","workload":""#),
        "{}",
        lines[0]
    );
    serde_json::from_str(lines[0]).unwrap()
}

fn assert_common_fields(v: &Value, workload: &str, bytes: u64) {
    assert_eq!(v["workload"], workload, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["bytes"].as_u64(), Some(bytes), "{v}");
    let elapsed = v["elapsed_s"].as_f64().unwrap();
    assert!(elapsed > 0.0, "{v}");
    let mb_per_s = v["mb_per_s"].as_f64().unwrap();
    // elapsed_s is rounded to whole ms: the true elapsed time is within half a ms of it,
    // which for a short run moves the rate by more than a few percent.
    let mb = bytes as f64 / 1e6;
    let low = mb / (elapsed + 0.0005) * 0.95 - 0.01;
    let high = if elapsed > 0.0005 {
        mb / (elapsed - 0.0005) * 1.05 + 0.01
    } else {
        f64::INFINITY
    };
    assert!(
        (low..=high).contains(&mb_per_s),
        "mb_per_s {mb_per_s} outside {low}..={high}: {v}"
    );
    assert!(v["cpu_s"].as_f64().unwrap() > 0.0, "{v}");
    assert!(v["max_rss_kib"].as_i64().unwrap() > 0, "{v}");
    let sent = v["datagrams_sent"].as_u64().unwrap();
    let calls = v["send_calls"].as_u64().unwrap();
    assert!(sent > 0 && calls > 0 && calls <= sent, "{v}");
    assert!(v["datagrams_received"].as_u64().unwrap() > 0, "{v}");
    assert!(v["lost_packets"].as_u64().is_some(), "{v}");
    assert!(v["rtt_ms"].as_f64().is_some(), "{v}");
    assert!(v["cwnd"].as_u64().unwrap() > 0, "{v}");
}

#[test]
fn bulk_four_streams_sixteen_mib_completes() {
    let out = run(&[
        "perf",
        "--workload",
        "bulk",
        "--streams",
        "4",
        "--total-mib",
        "16",
        "--run-secs",
        "60",
    ]);
    let v = json_of(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{v}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_common_fields(&v, "bulk", 16 << 20);
    assert_eq!(v["streams_completed"], 4, "{v}");
    assert_eq!(v["uploaded"].as_u64(), Some(16 << 20), "{v}");
    assert!(v["msgs_per_s"].is_null(), "{v}");
    // With GSO available, batches must be used: fewer send calls than datagrams.
    if v["gso_segments"].as_u64().unwrap() > 1 && v["kernel_gso_segments"].as_u64().unwrap() > 1 {
        assert!(v["gso_batches"].as_u64().unwrap() > 0, "{v}");
        assert!(
            v["send_calls"].as_u64().unwrap() < v["datagrams_sent"].as_u64().unwrap(),
            "{v}"
        );
    }
}

#[test]
fn bulk_download_and_both_directions_complete() {
    for direction in ["download", "both"] {
        let out = run(&[
            "perf",
            "--streams",
            "2",
            "--total-mib",
            "2",
            "--direction",
            direction,
            "--gso-segments",
            "1",
            "--run-secs",
            "60",
        ]);
        let v = json_of(&out);
        assert_eq!(out.status.code(), Some(0), "{v}");
        assert_common_fields(&v, "bulk", 2 << 20);
        assert_eq!(v["direction"], direction);
        assert_eq!(v["gso_batches"], 0, "GSO off: {v}");
        let down = v["downloaded"].as_u64().unwrap();
        let expected = if direction == "download" {
            2 << 20
        } else {
            1 << 20
        };
        assert_eq!(down, expected, "{v}");
    }
}

#[test]
fn gossip_two_hundred_one_kib_messages_all_arrive() {
    let out = run(&[
        "perf",
        "--workload",
        "gossip",
        "--size",
        "1024",
        "--count",
        "200",
        "--run-secs",
        "60",
    ]);
    let v = json_of(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{v}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_common_fields(&v, "gossip", 200 * 1024);
    assert_eq!(v["received"], 200, "{v}");
    assert_eq!(v["published"], 200, "{v}");
    assert!(v["msgs_per_s"].as_f64().unwrap() > 0.0, "{v}");
}

#[test]
fn bad_flags_exit_two() {
    for args in [
        &["perf", "--streams", "0"][..],
        &["perf", "--workload", "nope"],
        &["perf", "--size", "1"],
        &["perf", "--gso-segments", "65"],
        &["perf", "--peer", "/ip4/127.0.0.1/tcp/1"],
        &["perf", "--server", "--peer", "/ip4/127.0.0.1/udp/1/quic-v1"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn incomplete_workload_exits_three() {
    // Nobody listens on this port: the dial fails or times out within --run-secs.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    drop(socket);
    let peer = format!("/ip4/127.0.0.1/udp/{port}/quic-v1");
    let out = run(&[
        "perf",
        "--peer",
        &peer,
        "--total-mib",
        "1",
        "--run-secs",
        "2",
    ]);
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(3), "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert!(v["errors"].as_array().is_some_and(|e| !e.is_empty()), "{v}");
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn server_answers_a_peer_client() {
    let mut server = KillOnDrop(
        Command::new(BIN)
            .args([
                "perf",
                "--server",
                "--listen",
                "/ip4/127.0.0.1/udp/0/quic-v1",
                "--run-secs",
                "60",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut first = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.starts_with(r#"{"event":"listening","t_ms":"#),
        "{first}"
    );
    let listening: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(listening["event"], "listening", "{first}");
    let addr = listening["addr"].as_str().unwrap().to_string();
    assert!(addr.contains("/p2p/16U"), "{addr}");
    let out = run(&[
        "perf",
        "--peer",
        &addr,
        "--streams",
        "2",
        "--total-mib",
        "4",
        "--direction",
        "both",
        "--run-secs",
        "60",
    ]);
    let v = json_of(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["bytes"].as_u64(), Some(4 << 20), "{v}");
    assert_eq!(v["downloaded"].as_u64(), Some(2 << 20), "{v}");
}
