//! `leanp2p devnet` and `leanp2p sim` through the real binary (docs/CLI.md): a small
//! devnet on 127.0.0.1 delivers every message and the late joiner syncs; bad flags exit
//! 2 with one line; the simulator's JSON summary and trace hash are reproducible, and its
//! nodes find each other by discovery over the simulated links. Every
//! child is killed after a wall-clock deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_leanp2p");
/// Wall-clock bound of every child (their own run length is shorter).
const DEADLINE: Duration = Duration::from_secs(60);

/// Runs the binary to completion (killed after [`DEADLINE`]).
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stdout.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = stderr.read_to_end(&mut v);
        v
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("leanp2p {args:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// The one JSON line on stdout: the summary.
fn summary(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "stdout: {stdout}");
    assert!(
        lines[0].starts_with(r#"{"event":"summary","t_ms":"#),
        "{}",
        lines[0]
    );
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(v["event"], "summary");
    for field in [
        "nodes",
        "published",
        "expected_deliveries",
        "delivered",
        "delivery_ratio",
        "duplicates",
        "latency_ms",
        "wall_s",
    ] {
        assert!(v.get(field).is_some(), "summary lacks {field}: {v}");
    }
    v
}

#[test]
fn devnet_delivers_everything_and_the_late_joiner_syncs() {
    // Without discovery: each node dials the earlier ones (the behaviour before it).
    let output = run(&[
        "devnet",
        "--nodes",
        "4",
        "--secs",
        "8",
        "--block-size",
        "65536",
        "--seed",
        "11",
        "--no-discovery",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let v = summary(&output);
    assert_eq!(output.status.code(), Some(0), "{v}\nstderr: {stderr}");
    assert_eq!(v["nodes"], 5);
    assert_eq!(v["delivery_ratio"], 1.0, "{v}");
    assert_eq!(v["delivered"], v["expected_deliveries"]);
    assert!(v["expected_deliveries"].as_u64().unwrap() > 50, "{v}");
    assert_eq!(v["duplicates"], 0);
    assert_eq!(v["sync_ok"], true, "{v}");
    assert_eq!(v["stores_equal"], true, "{v}");
    let sync = &v["sync"];
    assert!(
        sync["blocks_by_range_blocks"].as_u64().unwrap() >= 1,
        "{sync}"
    );
    assert_eq!(sync["blocks"], sync["reference_blocks"]);
    assert_eq!(sync["blocks"], v["slots"]);
    for field in ["p50", "p90", "p99", "max"] {
        assert!(v["latency_ms"][field].as_f64().unwrap() >= 0.0);
    }
    assert!(v["max_rss_kib"].as_i64().unwrap() > 0);
    assert!(v["discovery"].is_null(), "{v}");
    assert!(v["min_connected_peers"].as_u64().unwrap() >= 1, "{v}");
    // Not a terminal: plain progress lines on stderr.
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("devnet ") && l.contains("gossip ")),
        "stderr: {stderr}"
    );
}

#[test]
fn devnet_of_8_with_one_bootnode_connects_everyone_by_discovery() {
    let output = run(&[
        "devnet",
        "--nodes",
        "8",
        "--secs",
        "10",
        "--block-size",
        "32768",
        "--seed",
        "5",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let v = summary(&output);
    assert_eq!(output.status.code(), Some(0), "{v}\nstderr: {stderr}");
    assert_full_delivery_through_discovery(&v);
}

/// 8 nodes and the late joiner delivered everything, and every node but the bootnode
/// (which the others knew only) is connected to at least 6 others discovery found.
fn assert_full_delivery_through_discovery(v: &Value) {
    assert_eq!(v["nodes"], 9);
    assert_eq!(v["delivery_ratio"], 1.0, "{v}");
    assert_eq!(v["sync_ok"], true, "{v}");
    let discovery = &v["discovery"];
    assert_eq!(discovery["bootnode"], 0, "{v}");
    assert!(
        discovery["min_discovered_connected"].as_u64().unwrap() >= 6,
        "{discovery}"
    );
    assert!(v["min_connected_peers"].as_u64().unwrap() >= 6, "{v}");
    let per_node = discovery["per_node"].as_array().unwrap();
    assert_eq!(per_node.len(), 9);
    for node in per_node {
        assert!(node["discovered"].as_u64().unwrap() >= 6, "{node}");
        assert!(node["addresses_fed"].as_u64().unwrap() >= 6, "{node}");
        if node["node"] != 0 {
            assert!(
                node["discovered_connected"].as_u64().unwrap() >= 6,
                "{node}"
            );
        }
    }
}

#[test]
fn devnet_bad_flags_exit_2_with_one_line() {
    for args in [
        &["devnet", "--nodes", "1"][..],
        &["devnet", "--secs", "2"][..],
        &["devnet", "--block-size", "10"][..],
        &["devnet", "--no-such-flag"][..],
        &["devnet", "--no-discovery", "--target-peers", "3"][..],
        &["sim", "--loss", "1.5"][..],
        &["sim", "--no-discovery", "--target-peers", "3"][..],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("leanp2p: "), "{stderr}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn sim_summary_is_reproducible_and_seed_dependent() {
    let args = [
        "sim",
        "--nodes",
        "4",
        "--virtual-secs",
        "7",
        "--block-size",
        "8192",
        "--json",
    ];
    let a = run(&args);
    let b = run(&args);
    let (va, vb) = (summary(&a), summary(&b));
    assert_eq!(a.status.code(), Some(0), "{va}");
    assert_eq!(va["delivery_ratio"], 1.0);
    assert_eq!(va["sync_ok"], true);
    assert_eq!(va["virtual_s"], 7.0);
    let hash = va["trace_hash"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert_eq!(hash, vb["trace_hash"].as_str().unwrap());
    assert_eq!(va["latency_ms"], vb["latency_ms"]);
    let mut other: Vec<&str> = args.to_vec();
    other.extend(["--seed", "9"]);
    let c = summary(&run(&other));
    assert_ne!(hash, c["trace_hash"].as_str().unwrap());
}

/// `leanp2p sim` with discovery (the default): 8 nodes and the late joiner, node 0 the
/// only bootnode; every node is connected to at least 6 peers that discovery found over
/// the simulated links, delivery is 100 %, and the same flags give the same trace hash.
#[test]
fn sim_of_8_with_one_bootnode_connects_everyone_by_discovery_reproducibly() {
    let args = [
        "sim",
        "--nodes",
        "8",
        "--virtual-secs",
        "20",
        "--block-size",
        "32768",
        "--seed",
        "4",
        "--json",
    ];
    let a = run(&args);
    let v = summary(&a);
    assert_eq!(a.status.code(), Some(0), "{v}");
    assert_full_delivery_through_discovery(&v);
    assert_eq!(v["discovery"]["target_peers"], 8, "{v}");
    for node in v["discovery"]["per_node"].as_array().unwrap() {
        assert!(node["lookups"].as_u64().unwrap() >= 1, "{node}");
    }
    let b = summary(&run(&args));
    assert_eq!(v["trace_hash"], b["trace_hash"]);
    assert_eq!(v["discovery"], b["discovery"]);
    // The static topology is still there, and is another run.
    let mut static_args = args.to_vec();
    static_args.push("--no-discovery");
    let c = run(&static_args);
    let vc = summary(&c);
    assert_eq!(c.status.code(), Some(0), "{vc}");
    assert!(vc["discovery"].is_null(), "{vc}");
    assert_ne!(v["trace_hash"], vc["trace_hash"]);
}

/// Section ids of the five charts (bytes in and out are two).
const CHARTS: [&str; 6] = [
    "propagation",
    "delivery",
    "bytes-in",
    "bytes-out",
    "connections",
    "sync",
];

/// The page's embedded chart data, after checking every chart is an inline SVG.
fn report_data(path: &std::path::Path) -> Value {
    let html = std::fs::read_to_string(path).unwrap();
    assert!(html.starts_with("<!doctype html>"), "{html:.200}");
    for id in CHARTS {
        let at = html
            .find(&format!("<section id=\"{id}\">"))
            .unwrap_or_else(|| panic!("no {id} section"));
        let section = &html[at..];
        let end = section.find("</section>").unwrap();
        assert!(section[..end].contains("<svg"), "{id}: {}", &section[..end]);
    }
    // Self-contained: nothing fetched.
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    let marker = r#"<script type="application/json" id="leanp2p-report-data">"#;
    let start = html.find(marker).unwrap() + marker.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

/// Every chart's data is in the page: CDF points per kind, delivery and a timeline per
/// node, the late joiner's sync.
fn check_report_data(data: &Value, nodes: usize) {
    for kind in ["block", "attestation"] {
        let points = data["propagation_cdf"][kind].as_array().unwrap();
        assert!(points.len() > 3, "{kind}: {points:?}");
        assert_eq!(points.last().unwrap()[1], 1.0);
    }
    let delivery = data["delivery"].as_array().unwrap();
    assert_eq!(delivery.len(), nodes);
    assert!(
        delivery.iter().all(|d| d["delivered"] == d["expected"]),
        "{delivery:?}"
    );
    let timeline = data["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), nodes);
    for node in timeline {
        let t = node["t_s"].as_array().unwrap();
        assert!(t.len() > 5, "{node}");
        for series in ["bytes_in", "bytes_out", "connections", "blocks"] {
            assert_eq!(node[series].as_array().unwrap().len(), t.len(), "{series}");
        }
        assert!(
            node["bytes_in"]
                .as_array()
                .unwrap()
                .last()
                .unwrap()
                .as_u64()
                .unwrap()
                > 0
        );
        assert!(node["connections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c.as_u64().unwrap() > 0));
    }
    let sync = &data["sync"];
    assert_eq!(sync["node"], nodes - 1);
    assert_eq!(sync["ok"], true, "{sync}");
    assert!(sync["synced_s"].as_f64().unwrap() >= sync["started_s"].as_f64().unwrap());
    let blocks = sync["blocks"].as_array().unwrap();
    assert_eq!(
        blocks.len(),
        sync["reference_blocks"].as_array().unwrap().len()
    );
    assert_eq!(
        blocks.last(),
        sync["reference_blocks"].as_array().unwrap().last()
    );
}

#[test]
fn sim_and_devnet_write_an_html_report_with_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let sim_page = dir.path().join("sim.html");
    let output = run(&[
        "sim",
        "--nodes",
        "4",
        "--virtual-secs",
        "7",
        "--block-size",
        "8192",
        "--report",
        sim_page.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let data = report_data(&sim_page);
    assert_eq!(data["command"], "sim");
    check_report_data(&data, 5);

    let devnet_page = dir.path().join("devnet.html");
    let output = run(&[
        "devnet",
        "--nodes",
        "3",
        "--secs",
        "7",
        "--block-size",
        "16384",
        "--seed",
        "5",
        "--json",
        "--report",
        devnet_page.to_str().unwrap(),
    ]);
    let v = summary(&output);
    assert_eq!(output.status.code(), Some(0), "{v}");
    let data = report_data(&devnet_page);
    assert_eq!(data["command"], "devnet");
    check_report_data(&data, 4);

    // A report path that cannot be created fails before the run: exit 2, one line.
    let output = run(&["sim", "--report", "/nonexistent/dir/r.html"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("leanp2p: --report"));
}
