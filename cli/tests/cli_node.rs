//! The `leanp2p node` contract of docs/CLI.md, run against the real binary on 127.0.0.1:
//! bad flags, two nodes gossiping through a `nodes.yaml` bootnode ENR, a missed target,
//! and SIGTERM. Every child has `--run-secs` and is killed after a wall-clock deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_leanp2p");
/// Wall-clock bound of every child (their own `--run-secs` is shorter).
const DEADLINE: Duration = Duration::from_secs(40);
const KEY_A: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// A child with its stdout lines forwarded to a channel and its stderr collected.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: JoinHandle<String>,
    started: Instant,
}

fn spawn(args: &[&str]) -> Running {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr_pipe = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr_pipe.read_to_string(&mut s);
        s
    });
    Running {
        child,
        lines,
        stderr,
        started: Instant::now(),
    }
}

impl Running {
    /// The next stdout line, bounded by [`DEADLINE`].
    fn next_line(&self) -> Option<String> {
        let left = DEADLINE.saturating_sub(self.started.elapsed());
        self.lines.recv_timeout(left).ok()
    }

    /// Waits (bounded) for exit; kills the child and panics on timeout. Returns the exit
    /// code, every remaining stdout line parsed as JSON, and stderr.
    fn finish(mut self, mut seen: Vec<Value>) -> (i32, Vec<Value>, String) {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.started.elapsed() > DEADLINE {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("leanp2p node still running after {DEADLINE:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            seen.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")));
        }
        let stderr = self.stderr.join().unwrap();
        (status.code().unwrap_or(-1), seen, stderr)
    }
}

/// A lean-quickstart `nodes.yaml` (in a fresh temp dir, kept alive by the returned
/// handle) listing node A (key [`KEY_A`]) on 127.0.0.1:`port` by its ENR.
fn nodes_yaml_for_a(port: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let enr = Command::new(BIN)
        .args([
            "enr",
            "--key-hex",
            KEY_A,
            "--ip",
            "127.0.0.1",
            "--quic",
            port,
        ])
        .output()
        .unwrap();
    assert!(enr.status.success());
    let enr = String::from_utf8(enr.stdout).unwrap();
    let enr = enr.lines().next().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    let nodes = dir.path().join("nodes.yaml");
    std::fs::write(&nodes, format!("# lean-quickstart\n- {enr}\n")).unwrap();
    (dir, nodes)
}

fn events<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["event"] == name).collect()
}

#[test]
fn bad_flags_give_exit_2_and_one_line() {
    let cases: &[&[&str]] = &[
        &["node", "--no-such-flag"],
        &["node", "--listen", "/ip4/127.0.0.1/tcp/39301"],
        &["node", "--listen", "not a multiaddr"],
        &["node", "--node-key", "/nonexistent/leanp2p/node.key"],
        &["node", "--key-hex", "zz"],
        &["node", "--bootnode", "enr:@@@"],
        &["node", "--bootnode", "/ip4/127.0.0.1/udp/39302/quic-v1"],
        &["node", "--bootnodes", "/nonexistent/nodes.yaml"],
        &["node", "--topic", "blocks"],
        &["node", "--publish-count", "1", "--publish-size", "8"],
        &["node", "--run-secs", "-1"],
        &["node", "--no-discovery", "--discovery-port", "39304"],
        &[
            "node",
            "--listen",
            "/ip4/127.0.0.1/udp/39305/quic-v1",
            "--discovery-port",
            "39305",
        ],
        &["node", "--listen", "/ip4/127.0.0.1/udp/65535/quic-v1"],
    ];
    for args in cases {
        let (code, lines, stderr) = spawn(args).finish(Vec::new());
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(lines.is_empty(), "{args:?}: {lines:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.starts_with("leanp2p: "), "{args:?}: {stderr:?}");
    }
}

#[test]
fn two_nodes_gossip_through_a_nodes_yaml_bootnode() {
    const N: u64 = 8;
    const PORT_A: &str = "39311";
    let (_dir, nodes) = nodes_yaml_for_a(PORT_A);

    let a_listen = format!("/ip4/127.0.0.1/udp/{PORT_A}/quic-v1");
    let count = N.to_string();
    let a = spawn(&[
        "node",
        "--key-hex",
        KEY_A,
        "--listen",
        &a_listen,
        "--json",
        "--run-secs",
        "30",
        "--publish-count",
        &count,
        "--publish-size",
        "600",
        "--publish-interval-ms",
        "10",
        "--exit-when-done",
        "--linger-ms",
        "1000",
    ]);
    let b = spawn(&[
        "node",
        "--listen",
        "/ip4/127.0.0.1/udp/0/quic-v1",
        "--bootnodes",
        nodes.to_str().unwrap(),
        "--json",
        "--run-secs",
        "30",
        "--expect-messages",
        &count,
        "--exit-when-done",
        "--linger-ms",
        "200",
        "--request-status-to-all",
        "--request-blocks",
        "4",
        "--block-size",
        "5000",
    ]);
    let (code_b, lines_b, stderr_b) = b.finish(Vec::new());
    let (code_a, lines_a, stderr_a) = a.finish(Vec::new());
    assert_eq!(code_b, 0, "{stderr_b}\n{lines_b:#?}");
    assert_eq!(code_a, 0, "{stderr_a}\n{lines_a:#?}");

    for line in lines_b.iter().chain(&lines_a) {
        assert!(line["event"].is_string() && line["t_ms"].is_u64(), "{line}");
    }
    let a_peer = events(&lines_a, "started")[0]["peer_id"].as_str().unwrap();
    let connected = events(&lines_b, "connected");
    assert_eq!(connected[0]["peer"], a_peer);
    assert_eq!(connected[0]["direction"], "outbound");
    let gossip = events(&lines_b, "gossip");
    assert_eq!(gossip.len() as u64, N);
    let mut seqs: Vec<u64> = gossip.iter().map(|g| g["seq"].as_u64().unwrap()).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..N).collect::<Vec<_>>());
    assert!(gossip
        .iter()
        .all(|g| g["latency_ms"].is_f64() && g["from"] == a_peer));
    assert_eq!(events(&lines_b, "rpc_response")[0]["ok"], true);

    let summary_a = lines_a.last().unwrap();
    let summary_b = lines_b.last().unwrap();
    assert_eq!(summary_b["event"], "summary");
    assert_eq!(summary_b["exit_code"], 0);
    assert_eq!(summary_b["gossip_received"], N);
    assert_eq!(summary_b["latency_ms"]["n"], N);
    assert_eq!(summary_b["rpc"]["status_ok"], 1);
    // blocks_by_root: 4 roots announcing 5,000-byte blocks, each answered by A.
    assert_eq!(summary_b["rpc"]["blocks_requests_ok"], 1);
    assert_eq!(summary_b["rpc"]["blocks_chunks_received"], 4);
    assert_eq!(summary_b["rpc"]["blocks_bytes_received"], 20_000);
    assert_eq!(summary_b["rpc"]["blocks_root_mismatch"], 0);
    assert_eq!(summary_a["rpc"]["blocks_requests_served"], 1);
    assert_eq!(summary_a["event"], "summary");
    assert_eq!(summary_a["published"], N);
    assert_eq!(summary_a["rpc"]["status_served"], 1);
    assert_eq!(events(&lines_a, "publish_done")[0]["published"], N);
    assert_eq!(
        events(&lines_a, "listening")[0]["addr"],
        format!("{a_listen}/p2p/{a_peer}")
    );
}

#[test]
fn a_missed_expectation_gives_exit_3_with_a_summary() {
    let (code, lines, stderr) = spawn(&[
        "node",
        "--listen",
        "/ip4/127.0.0.1/udp/0/quic-v1",
        "--json",
        "--run-secs",
        "1",
        "--expect-messages",
        "1",
    ])
    .finish(Vec::new());
    assert_eq!(code, 3, "{stderr}");
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert_eq!(summary["exit_code"], 3);
    assert_eq!(summary["gossip_received"], 0);
    assert!(summary["latency_ms"].is_null());
}

#[test]
fn metrics_are_served_and_sigterm_stops_the_node_with_a_summary() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;

    let node = spawn(&[
        "node",
        "--listen",
        "/ip4/127.0.0.1/udp/0/quic-v1",
        "--json",
        "--run-secs",
        "30",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let mut seen = Vec::new();
    loop {
        let line = node.next_line().expect("no listening line");
        let value: Value = serde_json::from_str(&line).unwrap();
        let listening = value["event"] == "listening";
        seen.push(value);
        if listening {
            break;
        }
    }
    // Prometheus text at /metrics.
    let metrics = events(&seen, "metrics")[0]["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let host = metrics
        .trim_start_matches("http://")
        .trim_end_matches("/metrics");
    let mut http = std::net::TcpStream::connect(host).unwrap();
    http.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    std::io::Write::write_all(
        &mut http,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut response = String::new();
    http.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(
        response.contains("\nlean_connected_peers 0\n"),
        "{response}"
    );
    // OpenMetrics from prometheus-client: HELP text, histograms, `# EOF`.
    assert!(
        response.contains("# HELP lean_connected_peers "),
        "{response}"
    );
    assert!(
        response.contains("# TYPE leanp2p_ping_rtt_seconds histogram"),
        "{response}"
    );
    assert!(response.trim_end().ends_with("# EOF"), "{response}");

    let pid = Pid::from_raw(i32::try_from(node.child.id()).unwrap());
    let sent = Instant::now();
    kill(pid, Signal::SIGTERM).unwrap();
    let (code, lines, stderr) = node.finish(seen);
    assert!(sent.elapsed() < Duration::from_secs(10), "slow shutdown");
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(lines.last().unwrap()["event"], "summary");
}

/// B dials A from a `nodes.yaml` ENR with `--direct-peer`, so A is B's gossipsub direct
/// peer: B publishes raw payloads (message id sha256) and A, which never grafts B into
/// a mesh it could use, still receives each message once.
#[test]
fn a_direct_peer_gets_raw_gossip_with_sha256_ids() {
    const N: u64 = 5;
    const PORT_A: &str = "39321";
    let enr = Command::new(BIN)
        .args([
            "enr",
            "--key-hex",
            KEY_A,
            "--ip",
            "127.0.0.1",
            "--quic",
            PORT_A,
        ])
        .output()
        .unwrap();
    let enr = String::from_utf8(enr.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nodes = dir.path().join("nodes.yaml");
    std::fs::write(&nodes, format!("- \"{}\"\n", enr.lines().next().unwrap())).unwrap();
    let a_listen = format!("/ip4/127.0.0.1/udp/{PORT_A}/quic-v1");
    let count = N.to_string();
    let common = [
        "--json",
        "--run-secs",
        "30",
        "--exit-when-done",
        "--msg-id",
        "sha256",
        "--gossip-encoding",
        "raw",
        "--topic",
        "attestation_2",
    ];
    let a = spawn(
        &[
            &[
                "node",
                "--key-hex",
                KEY_A,
                "--listen",
                &a_listen,
                "--expect-messages",
                &count,
                "--request-blocks",
                "3",
            ][..],
            &common,
        ]
        .concat(),
    );
    let b = spawn(
        &[
            &[
                "node",
                "--listen",
                "/ip4/127.0.0.1/udp/0/quic-v1",
                "--bootnodes",
                nodes.to_str().unwrap(),
                "--direct-peer",
                "--publish-count",
                &count,
                "--linger-ms",
                "1000",
                "--serve-block-size",
                "100",
            ][..],
            &common,
        ]
        .concat(),
    );
    let (code_a, lines_a, stderr_a) = a.finish(Vec::new());
    let (code_b, lines_b, stderr_b) = b.finish(Vec::new());
    assert_eq!(code_a, 0, "{stderr_a}\n{lines_a:#?}");
    assert_eq!(code_b, 0, "{stderr_b}\n{lines_b:#?}");
    let gossip = events(&lines_a, "gossip");
    assert_eq!(gossip.len() as u64, N);
    for g in &gossip {
        assert_eq!(
            g["topic"],
            "/leanconsensus/12345678/attestation_2/ssz_snappy"
        );
        assert_eq!(g["size"], 1024, "raw payloads keep their size");
        assert_eq!(g["msg_id"].as_str().unwrap().len(), 40);
    }
    assert_eq!(lines_a.last().unwrap()["gossip_received"], N);
    assert_eq!(events(&lines_b, "publish_start")[0]["ready"], true);
    // A asked B (its inbound peer) for 3 blocks; B serves 100-byte blocks for any root.
    let rpc_a = &lines_a.last().unwrap()["rpc"];
    assert_eq!(rpc_a["blocks_requests_ok"], 1, "{rpc_a}");
    assert_eq!(rpc_a["blocks_bytes_received"], 300);
    assert_eq!(lines_b.last().unwrap()["rpc"]["blocks_requests_served"], 1);
}

#[test]
fn a_reader_that_stops_reading_stdout_does_not_stall_the_node() {
    const PORT_A: &str = "39331";
    const N: u64 = 200;
    let (_dir, nodes) = nodes_yaml_for_a(PORT_A);

    // Node A: its stdout is a pipe nobody reads. It publishes N messages while node B
    // floods it with gossip, each of which is a JSON line A cannot get rid of.
    let a_listen = format!("/ip4/127.0.0.1/udp/{PORT_A}/quic-v1");
    let count = N.to_string();
    let mut a = Command::new(BIN)
        .args([
            "node",
            "--key-hex",
            KEY_A,
            "--listen",
            &a_listen,
            "--json",
            "--run-secs",
            "30",
            "--publish-count",
            &count,
            "--publish-size",
            "100",
            "--publish-interval-ms",
            "20",
            "--publish-min-peers",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let unread_stdout = a.stdout.take();
    let b = spawn(&[
        "node",
        "--listen",
        "/ip4/127.0.0.1/udp/0/quic-v1",
        "--bootnodes",
        nodes.to_str().unwrap(),
        "--json",
        "--run-secs",
        "25",
        "--publish-count",
        "4000",
        "--publish-size",
        "100",
        "--publish-interval-ms",
        "1",
        "--publish-min-peers",
        "1",
        "--expect-messages",
        &count,
        "--exit-when-done",
        "--linger-ms",
        "200",
    ]);
    let (code_b, lines_b, stderr_b) = b.finish(Vec::new());
    let _ = a.kill();
    let _ = a.wait();
    drop(unread_stdout);
    // A went on publishing although nobody read its output: B got every message.
    assert_eq!(code_b, 0, "{stderr_b}\n{:#?}", events(&lines_b, "summary"));
    assert_eq!(events(&lines_b, "gossip").len() as u64, N);
}

/// Harnesses pass every count flag as 0 meaning "none": the node starts, has nothing to
/// do, says `done` and exits 0. Every stdout line starts with `"event"`, then `"t_ms"`.
#[test]
fn zero_counts_mean_none_and_json_lines_start_with_event_then_t_ms() {
    let node = spawn(&[
        "node",
        "--listen",
        "/ip4/127.0.0.1/udp/0/quic-v1",
        "--json",
        "--request-blocks",
        "0",
        "--publish-count",
        "0",
        "--expect-messages",
        "0",
        "--publish-min-peers",
        "0",
        "--exit-when-done",
        "--linger-ms",
        "0",
        "--run-secs",
        "20",
    ]);
    let mut raw = Vec::new();
    while let Some(line) = node.next_line() {
        let last = line.contains(r#""event":"summary""#);
        raw.push(line);
        if last {
            break;
        }
    }
    let (code, lines, stderr) = node.finish(Vec::new());
    assert_eq!(code, 0, "{stderr}");
    assert!(lines.is_empty(), "{lines:?}");
    for line in &raw {
        assert!(line.starts_with(r#"{"event":""#), "{line}");
        let value: Value = serde_json::from_str(line).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys[1], "t_ms", "{line}");
    }
    let names: Vec<String> = raw
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].to_string())
        .collect();
    assert!(names.iter().any(|n| n == "\"done\""), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "\"rpc_request_out\""),
        "{names:?}"
    );
    assert_eq!(names.last().map(String::as_str), Some("\"summary\""));
    // The summary keeps the order it is built in: the CLI.md fields first.
    let summary = raw.last().unwrap();
    assert!(
        summary.starts_with(r#"{"event":"summary","t_ms":"#) && summary.contains(r#","peer_id":""#),
        "{summary}"
    );
    let rpc_at = summary.find(r#""rpc":"#).unwrap();
    assert!(summary.find(r#""peer_id""#).unwrap() < rpc_at);
}

/// A record of the node with secret `key` that carries only `ip` and `udp` (no QUIC
/// address: dialable by discovery only, like leanSpec's sample records).
fn udp_only_record(key: &str, udp: u16) -> String {
    let key = leanp2p_identity::keyfile::parse_node_key(key).unwrap();
    leanp2p_identity::Enr::builder()
        .seq(1)
        .ip4(std::net::Ipv4Addr::LOCALHOST)
        .udp4(udp)
        .build(&key)
        .unwrap()
        .to_text()
}

/// Reads `node`'s lines until it has announced discovery and `peers` distinct peers are
/// connected, or it ends (bounded).
fn wait_connected(node: &Running, peers: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut connected = std::collections::BTreeSet::new();
    let mut discovery = false;
    while connected.len() < peers || !discovery {
        let Some(line) = node.next_line() else { break };
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["event"] == "connected" {
            connected.insert(v["peer"].as_str().unwrap().to_string());
        }
        discovery |= v["event"] == "discovery";
        let summary = v["event"] == "summary";
        seen.push(v);
        if summary {
            break;
        }
    }
    seen
}

#[test]
fn nodes_find_each_other_through_a_udp_only_bootnode_record() {
    const QUIC_A: &str = "39341";
    const UDP_A: u16 = 39342;
    // A discovery-only record of A: without discovery it would not be usable at all.
    let dir = tempfile::tempdir().unwrap();
    let nodes = dir.path().join("nodes.yaml");
    std::fs::write(&nodes, format!("- {}\n", udp_only_record(KEY_A, UDP_A))).unwrap();
    let nodes = nodes.to_str().unwrap();

    let a_listen = format!("/ip4/127.0.0.1/udp/{QUIC_A}/quic-v1");
    let a = spawn(&[
        "node",
        "--key-hex",
        KEY_A,
        "--listen",
        &a_listen,
        "--bootnodes",
        nodes,
        "--json",
        "--run-secs",
        "12",
        "--quiet-gossip",
    ]);
    let a_lines = wait_connected(&a, 0);
    // Started one after another, so each finds the earlier ones at A.
    let start = || {
        spawn(&[
            "node",
            "--listen",
            "/ip4/127.0.0.1/udp/0/quic-v1",
            "--bootnodes",
            nodes,
            "--json",
            "--run-secs",
            "12",
            "--quiet-gossip",
        ])
    };
    let b = start();
    let b_lines = wait_connected(&b, 1);
    let c = start();
    // C knows only A's record: it connects to A and to B, found by discovery.
    let c_lines = wait_connected(&c, 2);
    let (_, c_lines, c_err) = c.finish(c_lines);
    let (_, b_lines, b_err) = b.finish(b_lines);
    let (code_a, a_lines, a_err) = a.finish(a_lines);
    assert_eq!(code_a, 0, "{a_err}");

    let peer = |lines: &[Value]| events(lines, "started")[0]["peer_id"].clone();
    let connected_to = |lines: &[Value]| -> std::collections::BTreeSet<String> {
        events(lines, "connected")
            .iter()
            .map(|c| c["peer"].as_str().unwrap().to_string())
            .collect()
    };
    let (pa, pb, pc) = (peer(&a_lines), peer(&b_lines), peer(&c_lines));
    let c_peers = connected_to(&c_lines);
    assert!(
        c_peers.contains(pa.as_str().unwrap()),
        "{c_err}\n{c_lines:#?}"
    );
    assert!(
        c_peers.contains(pb.as_str().unwrap()),
        "{c_err}\n{c_lines:#?}"
    );
    assert!(
        connected_to(&b_lines).contains(pc.as_str().unwrap()),
        "{b_err}"
    );
    // A's discovery socket is QUIC + 1; its record advertises ip, udp and quic.
    let discovery = events(&a_lines, "discovery")[0];
    assert_eq!(discovery["addr"], format!("127.0.0.1:{UDP_A}"));
    let record: leanp2p_identity::Enr = discovery["enr"].as_str().unwrap().parse().unwrap();
    assert_eq!(record.udp4(), Some(UDP_A));
    assert_eq!(record.quic4(), Some(39341));
    assert_eq!(record.ip4(), Some(std::net::Ipv4Addr::LOCALHOST));
    // Each reports what discovery found (at least one peer: a record of A learned first
    // from another node's NODES answer is not announced by the machine, so A may reach
    // the address book only by dialling us; the connections above are what counts).
    for (lines, name) in [(&b_lines, "b"), (&c_lines, "c")] {
        let summary = lines.last().unwrap();
        assert_eq!(summary["event"], "summary", "{name}");
        assert!(
            summary["discovery"]["found"].as_u64().unwrap() >= 1,
            "{name}: {summary}"
        );
        assert_eq!(events(lines, "discovery")[0]["target_peers"], 8);
    }
}

#[test]
fn no_discovery_runs_as_before() {
    // Without discovery a record that has no QUIC address is not usable.
    let dir = tempfile::tempdir().unwrap();
    let nodes = dir.path().join("nodes.yaml");
    std::fs::write(&nodes, format!("- {}\n", udp_only_record(KEY_A, 39351))).unwrap();
    let nodes = nodes.to_str().unwrap();
    let (code, _, stderr) =
        spawn(&["node", "--no-discovery", "--bootnodes", nodes]).finish(Vec::new());
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no usable entry"), "{stderr}");

    let (code, lines, stderr) = spawn(&[
        "node",
        "--no-discovery",
        "--listen",
        "/ip4/127.0.0.1/udp/0/quic-v1",
        "--json",
        "--run-secs",
        "1",
    ])
    .finish(Vec::new());
    assert_eq!(code, 0, "{stderr}");
    assert!(events(&lines, "discovery").is_empty(), "{lines:#?}");
    assert_eq!(events(&lines, "listening").len(), 1);
    let summary = lines.last().unwrap();
    assert_eq!(summary["event"], "summary");
    assert!(summary["discovery"].is_null(), "{summary}");
}
