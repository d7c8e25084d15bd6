//! `leanp2p node`: set up the node and its reactor, run until done / `--run-secs` /
//! SIGINT / SIGTERM, close connections gracefully, print the summary.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leanp2p_host::{lean, DialError, MessageId, Multiaddr, Node};
use leanp2p_mio::{Reactor, ReactorConfig};
use rand_core::RngCore;
use serde_json::json;

use super::super::discovery::{attach, DiscoverySetup, Found};
use super::super::CliError;
use super::args::{MsgIdKind, NodeArgs};
use super::metrics::Metrics;
use super::output::Output;
use super::session::{lock, Session, Shared};
use super::summary::{summary_fields, Counters};
use super::{events, publisher};

/// Exit code when a requested target was missed (CLI.md).
const EXIT_MISSED: u8 = 3;
/// Interval of discovery's random lookups (the first runs at once).
const LOOKUP_INTERVAL: Duration = Duration::from_secs(10);
/// Longest wait for the graceful close of our connections at the end.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// Installs the stderr log subscriber (`RUST_LOG`, default `info`; `DEBUG_QUIC=1`
/// un-gates the QUIC layer below info) for human output.
fn init_logging() {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The QUIC layer is chatty below info; DEBUG_QUIC=1 lets RUST_LOG reach it.
    if std::env::var_os("DEBUG_QUIC").is_none_or(|v| v != "1") {
        if let Ok(directive) = "leanp2p_quic=info".parse() {
            filter = filter.add_directive(directive);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the node; returns the process exit code (0 or 3), or a setup error (exit 2).
pub(crate) fn run(args: &NodeArgs) -> Result<u8, CliError> {
    let plan = args.resolve()?;
    if !plan.json {
        init_logging();
    }
    let start = Instant::now();
    let peer_id = plan.key.peer_id();
    let mut seed = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut seed);
    let agent = format!("leanp2p/{}", env!("CARGO_PKG_VERSION"));
    // Peer scoring with the lean topic weights of this network.
    let mut config = lean::config_for_network(&agent, &plan.network, 1);
    config.quic.congestion_controller(plan.congestion.into());
    // Send QUIC's datagram batches in one GSO syscall where the kernel supports it.
    config.quic.max_gso_segments = leanp2p_mio::probe_gso_segments().clamp(1, 64);
    config.conn_manager.target_peers = plan.target_peers;
    if plan.msg_id == MsgIdKind::Sha256 {
        config.gossipsub.message_id_fn = sha256_message_id;
    }
    if plan.direct_peer {
        let dialled = plan.bootnodes.iter().chain(&plan.dial);
        config.gossipsub.direct_peers.extend(
            dialled
                .filter_map(Multiaddr::peer_id)
                .filter(|p| *p != peer_id),
        );
    }
    let node =
        Node::new(start, config, &plan.key, seed).map_err(|e| CliError::Node(e.to_string()))?;
    let mut out = Output::new(plan.json, start);
    out.emit(
        "started",
        json!({ "peer_id": peer_id.to_string(), "key_type": "secp256k1", "agent": agent }),
    );
    let mut reactor = Reactor::bind(node, &plan.listen, ReactorConfig::default())
        .map_err(|e| CliError::Node(e.to_string()))?;
    let mut discovered = None;
    if let Some(discovery) = &plan.discovery {
        let quic_port = reactor.local_addrs().first().map_or(0, |a| a.port());
        let mut discovery_seed = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut discovery_seed);
        let setup = DiscoverySetup {
            bind: discovery.bind,
            advertise: discovery.advertise,
            quic_port,
            bootnodes: discovery.bootnodes.clone(),
            lookup_interval: LOOKUP_INTERVAL,
            private_network: discovery.private_network,
            seed: discovery_seed,
            target_peers: plan.target_peers,
        };
        let (with_discovery, enr, found) = attach(reactor, &plan.key, setup)?;
        reactor = with_discovery;
        if discovery.advertise.is_none() {
            tracing::warn!(
                "discovery: the record advertises no IP (listening on an unspecified \
                 address without --enr-address): peers cannot find us"
            );
        }
        discovered = Some((enr, found));
    }
    // SIGINT / SIGTERM stop the loop (then close gracefully and print the summary).
    // Installed before `listening` is printed, so a harness that waits for that line can
    // signal at once; a signal before the loop runs is a queued Shutdown command.
    let signal_handle = reactor.handle();
    ctrlc::set_handler(move || {
        let _ = signal_handle.shutdown();
    })
    .map_err(|e| CliError::Node(format!("cannot install the signal handler: {e}")))?;
    let metrics = Metrics::new();
    let recorder = metrics.recorder();
    if let Some(addr) = plan.metrics_addr {
        let local = super::metrics::server::start(addr, metrics, reactor.handle())
            .map_err(|e| CliError::Node(format!("--metrics-addr {addr}: {e}")))?;
        out.emit(
            "metrics",
            json!({ "addr": format!("http://{local}/metrics") }),
        );
    }
    for local in reactor.local_addrs() {
        let addr = Multiaddr::quic_v1(local, Some(peer_id));
        out.emit(
            "listening",
            json!({ "addr": addr.to_string(), "peer_id": peer_id.to_string() }),
        );
    }

    if let (Some(addr), Some((enr, _))) = (reactor.discovery_addr(), &discovered) {
        out.emit(
            "discovery",
            json!({
                "addr": addr.to_string(),
                "enr": enr.to_text(),
                "bootnodes": plan.discovery.as_ref().map_or(0, |d| d.bootnodes.len()),
                "target_peers": plan.target_peers,
            }),
        );
    }

    let now = Instant::now();
    let node = reactor.node_mut();
    for topic in &plan.topics {
        match node.subscribe(now, topic) {
            Ok(_) => out.emit(
                "subscribed",
                json!({ "topic": topic.as_str(), "local": true }),
            ),
            Err(e) => out.emit(
                "error",
                json!({ "where": "subscribe", "topic": topic.as_str(), "error": e.to_string() }),
            ),
        }
    }
    for addr in &plan.bootnodes {
        match node.add_bootnode(now, addr) {
            Ok(_) => out.emit(
                "dialing",
                json!({ "addr": addr.to_string(), "bootnode": true }),
            ),
            // lean-quickstart lists every node, this one included.
            Err(DialError::SelfDial) => tracing::debug!(%addr, "skipping ourselves"),
            Err(e) => out.emit(
                "error",
                json!({ "where": "bootnode", "addr": addr.to_string(), "error": e.to_string() }),
            ),
        }
    }
    for addr in &plan.dial {
        match node.dial_multiaddr(now, addr) {
            Ok(_) => out.emit(
                "dialing",
                json!({ "addr": addr.to_string(), "bootnode": false }),
            ),
            Err(e) => out.emit(
                "error",
                json!({ "where": "dial", "addr": addr.to_string(), "error": e.to_string() }),
            ),
        }
    }

    let handle = reactor.handle();
    let shared: Shared = Arc::new(Mutex::new(Session {
        out,
        counters: Counters::default(),
        metrics: recorder,
        encoding: plan.encoding,
        quiet_gossip: plan.quiet_gossip,
        request_status_to_all: plan.request_status_to_all,
        request_blocks: plan.request_blocks,
        block_size: plan.block_size,
        serve_block_size: plan.serve_block_size,
        expect_messages: plan.expect_messages,
        exit_when_done: plan.exit_when_done,
        linger: plan.linger,
        publishing: plan.publish.is_some(),
        done: false,
        status_requests: BTreeMap::new(),
        block_requests: BTreeMap::new(),
        greeted: Default::default(),
        server: Default::default(),
        handle: handle.clone(),
    }));

    let stopping = Arc::new(AtomicBool::new(false));
    if let Some(publish) = plan.publish.clone() {
        publisher::spawn(
            publish,
            plan.encoding,
            handle.clone(),
            Arc::clone(&shared),
            Arc::clone(&stopping),
        )
        .map_err(|e| CliError::Node(format!("cannot start the publisher: {e}")))?;
    }
    lock(&shared).check_done();

    let until = plan.run_for.map(|d| start + d);
    let result = reactor.run(until, |node, now, event| {
        events::on_event(&mut lock(&shared), node, now, event);
        ControlFlow::Continue(())
    });
    stopping.store(true, Ordering::Relaxed);
    if let Err(e) = result {
        lock(&shared).out.emit(
            "error",
            json!({ "where": "reactor", "error": e.to_string() }),
        );
    }

    close_gracefully(&mut reactor, &shared);

    let mut session = lock(&shared);
    let exit_code = exit_code(&session, plan.publish.as_ref().map(|p| p.count));
    let mut fields = summary_fields(
        &peer_id.to_string(),
        exit_code,
        &session.counters,
        start.elapsed(),
    );
    if let Some(map) = fields.as_object_mut() {
        // Lines dropped because stdout was not read (the reactor never waits for it).
        map.insert(
            "output_lines_dropped".into(),
            session.out.lines_dropped().into(),
        );
        map.insert(
            "discovery".into(),
            discovery_summary(&reactor, discovered.as_ref().map(|(_, f)| f)),
        );
    }
    session.out.emit("summary", fields);
    session.out.finish();
    Ok(exit_code)
}

/// The summary's `discovery` object (null with `--no-discovery`).
fn discovery_summary(reactor: &Reactor, found: Option<&Found>) -> serde_json::Value {
    let (Some(machine), Some(stats), Some(found)) =
        (reactor.discovery(), reactor.discovery_stats(), found)
    else {
        return serde_json::Value::Null;
    };
    json!({
        "table": machine.table().len(),
        "found": found.peers().len(),
        "addresses_fed": stats.addresses_fed,
        "lookups": stats.lookups_started,
    })
}

/// `--msg-id sha256`: the first 20 bytes of SHA-256 of the message's wire data.
fn sha256_message_id(msg: &leanp2p_gossipsub::wire::proto::Message) -> MessageId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(msg.data.as_deref().unwrap_or_default());
    MessageId::new(&digest[..lean::MESSAGE_ID_LEN])
}

/// Stops redialling, closes every connection and runs the loop until they are gone (at
/// most [`CLOSE_GRACE`]) so the peers get a CONNECTION_CLOSE instead of a timeout.
fn close_gracefully(reactor: &mut Reactor, shared: &Shared) {
    let now = Instant::now();
    let node = reactor.node_mut();
    let known: Vec<_> = node.known_peers().map(|(peer, _)| *peer).collect();
    for peer in &known {
        node.remove_known_peer(peer);
    }
    let peers: Vec<_> = node.connected_peers().copied().collect();
    if peers.is_empty() {
        return;
    }
    for peer in &peers {
        if let Err(e) = node.disconnect(now, peer) {
            tracing::debug!(%peer, %e, "disconnect");
        }
    }
    let result = reactor.run(Some(now + CLOSE_GRACE), |node, now, event| {
        events::on_event(&mut lock(shared), node, now, event);
        if node.connected_peers().next().is_none() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    if let Err(e) = result {
        tracing::debug!(%e, "reactor during close");
    }
}

/// 0 when every requested action succeeded, [`EXIT_MISSED`] otherwise.
fn exit_code(session: &Session, publish_count: Option<u64>) -> u8 {
    let c = &session.counters;
    let missed_messages = session
        .expect_messages
        .is_some_and(|n| c.gossip_received < n);
    let missed_publishes = publish_count.is_some_and(|n| c.published < n);
    let failed_requests = c.status_failed > 0 || c.blocks_requests_failed > 0;
    if missed_messages || missed_publishes || failed_requests {
        EXIT_MISSED
    } else {
        0
    }
}
