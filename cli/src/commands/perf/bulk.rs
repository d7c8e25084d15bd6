//! The bulk workload: `/perf/1.0.0` streams on one connection, in this process (server
//! and client on their own reactor threads), against a remote server (`--peer`), or as
//! a server only (`--server`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leanp2p_host::{AppStream, ConnId, Keypair, Multiaddr, Node, NodeEvent, PeerId};
use serde_json::json;

use super::pacing::{pacing_json, ArrivalMeter, MeteredPacer, SharedMeter};
use super::report;
use super::sink::{fresh_seed, StreamIo};
use super::{node_config, Direction, Plan};
use crate::commands::{jsonl, CliError};
use leanp2p_mio::{IoStats, Reactor, ReactorConfig};
use leanp2p_perf::{PerfClient, PerfEvent, PerfLimits, PerfRequestId, PerfServer, PROTOCOL};

/// Exit code when the workload did not complete.
const EXIT_INCOMPLETE: u8 = 3;

fn perf_limits() -> PerfLimits {
    let mut limits = PerfLimits::default();
    limits.max_streams = super::MAX_STREAMS + 8;
    limits.write_chunk = 256 * 1024;
    limits
}

/// Whether this side sends the bulk data of a `--pace-mbit` run (and so runs the pacer).
fn is_paced_sender(plan: &Plan, server: bool) -> bool {
    plan.pace.is_some()
        && match plan.direction {
            Direction::Upload => !server,
            Direction::Download => server,
            Direction::Both => false,
        }
}

/// The receiving side's view of a `--pace-mbit` run: its own arrival meter and the
/// sender's pacer meter, both stopped when the transfer is over.
#[derive(Debug)]
struct PaceProbe {
    received: ArrivalMeter,
    sent: SharedMeter,
}

impl PaceProbe {
    /// The probe of this side (`server` or client) when it receives the paced data.
    fn for_receiver(plan: &Plan, server: bool, sent: &Option<SharedMeter>) -> Option<Self> {
        let settings = plan.pace.filter(|_| is_paced_sender(plan, !server))?;
        Some(Self {
            received: ArrivalMeter::new(settings),
            sent: Arc::clone(sent.as_ref()?),
        })
    }

    /// Feeds the arrival meter the connection's cumulative received UDP bytes.
    fn observe(probe: &mut Option<Self>, conn: Option<ConnId>, node: &Node, now: Instant) {
        if let (Some(probe), Some(conn)) = (probe.as_mut(), conn) {
            if let Some(stats) = node.endpoint().connection_stats(conn) {
                probe.received.observe(now, stats.bytes_received);
            }
        }
    }

    /// The transfer is over (later datagrams are ACKs and closing).
    fn stop(probe: &mut Option<Self>) {
        if let Some(probe) = probe.as_mut() {
            probe.received.stop();
            if let Ok(mut sent) = probe.sent.lock() {
                sent.stop();
            }
        }
    }
}

/// A perf node; the sender of a `--pace-mbit` run gets a [`MeteredPacer`] recording into
/// `sent`.
fn new_node(
    plan: &Plan,
    server: bool,
    sent: &Option<SharedMeter>,
) -> Result<(Node, PeerId), CliError> {
    let key = Keypair::generate(&mut rand_core::OsRng);
    let now = Instant::now();
    let mut node = Node::new(now, node_config(plan), &key, fresh_seed())
        .map_err(|e| CliError::Node(e.to_string()))?;
    if let (Some(settings), Some(sent)) = (plan.pace, sent) {
        if is_paced_sender(plan, server) {
            node.set_pacer(Box::new(MeteredPacer::new(settings, Arc::clone(sent))));
        }
    }
    if server {
        node.register_protocol(now, PROTOCOL)
            .map_err(|e| CliError::Node(e.to_string()))?;
    }
    Ok((node, key.peer_id()))
}

fn bind(node: Node, addr: SocketAddr) -> Result<Reactor, CliError> {
    Reactor::bind(node, &[addr], ReactorConfig::default())
        .map_err(|e| CliError::Node(e.to_string()))
}

// ----- server ---------------------------------------------------------------------------

/// Serves every inbound perf stream.
struct ServerDriver {
    perf: PerfServer<AppStream>,
    io: StreamIo,
    conn: Option<ConnId>,
    served: u64,
    failed: u64,
    /// The measurement of a paced upload; stopped when `expected` streams were served.
    probe: Option<PaceProbe>,
    expected: u64,
}

impl ServerDriver {
    fn new(probe: Option<PaceProbe>, expected: u64) -> Self {
        Self {
            perf: PerfServer::new(perf_limits()),
            io: StreamIo::default(),
            conn: None,
            served: 0,
            failed: 0,
            probe,
            expected,
        }
    }

    fn on_event(&mut self, node: &mut Node, now: Instant, event: NodeEvent) {
        let result = match event {
            NodeEvent::Connected { conn, .. } => {
                self.conn.get_or_insert(conn);
                Ok(())
            }
            NodeEvent::AppStreamOpened {
                stream, protocol, ..
            } if protocol == PROTOCOL => self.perf.handle_stream_opened(stream),
            NodeEvent::AppStreamData { stream, data } => self.perf.handle_data(stream, &data),
            NodeEvent::AppStreamFinished { stream } => self.perf.handle_finished(stream),
            NodeEvent::AppStreamReset { stream } => {
                self.io.forget(stream);
                self.perf.handle_reset(stream);
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(error) = result {
            tracing::debug!(%error, "perf server stream failed");
        }
        self.flush(node, now);
    }

    /// The drain rule: ops (retrying writes that waited for room), then events.
    fn flush(&mut self, node: &mut Node, now: Instant) {
        PaceProbe::observe(&mut self.probe, self.conn, node, now);
        // A server is never asked to open a stream.
        self.io.drive(&mut self.perf, node, now, &mut |_, _, _| {});
        while let Some(event) = self.perf.poll_event() {
            match event {
                PerfEvent::Served { .. } => {
                    self.served += 1;
                    if self.served == self.expected {
                        PaceProbe::stop(&mut self.probe);
                    }
                }
                PerfEvent::Failed { .. } => self.failed += 1,
                _ => {}
            }
        }
    }
}

// ----- client ---------------------------------------------------------------------------

/// Opens the perf streams once connected and waits for all of them.
struct ClientDriver {
    perf: PerfClient<AppStream>,
    io: StreamIo,
    target: Option<PeerId>,
    /// The server, once connected (where `PerfOp::Open` goes).
    peer: Option<PeerId>,
    conn: Option<ConnId>,
    /// (upload, download) per stream.
    sizes: Vec<(u64, u64)>,
    started: Option<Instant>,
    finished: Option<Instant>,
    completed: usize,
    errors: Vec<String>,
    /// The measurement of a paced download.
    probe: Option<PaceProbe>,
}

impl ClientDriver {
    fn new(plan: &Plan, target: Option<PeerId>, probe: Option<PaceProbe>) -> Self {
        let k = plan.streams as u64;
        let sizes = (0..k)
            .map(|i| {
                // M/K each; the remainder goes to the first streams.
                let share = plan.total_bytes / k + u64::from(i < plan.total_bytes % k);
                match plan.direction {
                    Direction::Upload => (share, 0),
                    Direction::Download => (0, share),
                    Direction::Both => (share / 2, share - share / 2),
                }
            })
            .collect();
        Self {
            perf: PerfClient::new(perf_limits()),
            io: StreamIo::default(),
            target,
            peer: None,
            conn: None,
            sizes,
            started: None,
            finished: None,
            completed: 0,
            errors: Vec::new(),
            probe,
        }
    }

    fn done(&self) -> bool {
        self.completed == self.sizes.len() || !self.errors.is_empty()
    }

    fn on_event(&mut self, node: &mut Node, now: Instant, event: NodeEvent) -> ControlFlow<()> {
        let result = match event {
            NodeEvent::Connected { peer, conn, .. }
                if self.conn.is_none() && self.target.is_none_or(|t| t == peer) =>
            {
                self.conn = Some(conn);
                self.peer = Some(peer);
                self.start_requests(now);
                Ok(())
            }
            NodeEvent::Disconnected { conn, reason, .. } if Some(conn) == self.conn => {
                self.errors.push(format!("disconnected: {reason}"));
                Ok(())
            }
            NodeEvent::DialFailed { addr, error, .. } => {
                self.errors.push(format!("dial {addr} failed: {error}"));
                Ok(())
            }
            NodeEvent::AppStreamData { stream, data } => self.perf.handle_data(now, stream, &data),
            NodeEvent::AppStreamFinished { stream } => self.perf.handle_finished(now, stream),
            NodeEvent::AppStreamReset { stream } => {
                self.io.forget(stream);
                self.perf.handle_reset(now, stream);
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(error) = result {
            tracing::debug!(%error, "perf client stream failed");
        }
        self.flush(node, now)
    }

    /// One perf request per stream; their `Open`s come out at the next flush.
    fn start_requests(&mut self, now: Instant) {
        self.started = Some(now);
        for &(upload, download) in &self.sizes {
            if let Err(e) = self.perf.start(now, upload, download) {
                self.errors.push(format!("perf start: {e}"));
            }
        }
    }

    /// Answers `PerfOp::Open`: opens an app stream to the server.
    fn open(
        peer: Option<PeerId>,
        errors: &mut Vec<String>,
        perf: &mut PerfClient<AppStream>,
        node: &mut Node,
        now: Instant,
        request: PerfRequestId,
    ) {
        let opened = match peer {
            Some(peer) => node
                .open_app_stream(now, peer, PROTOCOL)
                .map_err(|e| e.to_string()),
            None => Err("not connected".to_string()),
        };
        let result = match opened {
            Ok(stream) => perf.handle_stream_opened(now, request, stream),
            Err(e) => {
                errors.push(format!("open stream: {e}"));
                perf.handle_open_failed(now, request)
            }
        };
        if let Err(e) = result {
            errors.push(format!("perf open: {e}"));
        }
    }

    /// The drain rule: ops (retrying writes that waited for room), then events.
    fn flush(&mut self, node: &mut Node, now: Instant) -> ControlFlow<()> {
        PaceProbe::observe(&mut self.probe, self.conn, node, now);
        let (peer, errors) = (self.peer, &mut self.errors);
        self.io
            .drive(&mut self.perf, node, now, &mut |perf, node, request| {
                Self::open(peer, errors, perf, node, now, request)
            });
        while let Some(event) = self.perf.poll_event() {
            match event {
                PerfEvent::Completed { .. } => {
                    self.completed += 1;
                    if self.completed == self.sizes.len() {
                        self.finished = Some(now);
                        PaceProbe::stop(&mut self.probe);
                    }
                }
                PerfEvent::Failed { stream, error } => {
                    self.errors.push(format!("stream {stream}: {error}"));
                }
                // Already in `errors` (see `open`).
                PerfEvent::OpenFailed { .. } => {}
                _ => {}
            }
        }
        if self.done() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// Runs the client loop on `reactor` until done or `deadline`.
fn drive_client(
    reactor: &mut Reactor,
    driver: &mut ClientDriver,
    deadline: Instant,
) -> Result<(), CliError> {
    let cell = std::cell::RefCell::new(driver);
    reactor
        .run_with(
            Some(deadline),
            |node, now, event| cell.borrow_mut().on_event(node, now, event),
            |node, now| cell.borrow_mut().flush(node, now),
        )
        .map_err(|e| CliError::Node(e.to_string()))
}

/// Builds and prints the result; returns the exit code.
fn finish_report(
    plan: &Plan,
    driver: &ClientDriver,
    ios: &[IoStats],
    paths: &[(&str, Option<leanp2p_quic::ConnectionStats>)],
    threads: &[(&str, f64)],
    pacing: Option<serde_json::Value>,
    wall_start: Instant,
) -> u8 {
    let ok = driver.completed == driver.sizes.len() && driver.errors.is_empty();
    let end = driver.finished.unwrap_or_else(Instant::now);
    let elapsed = driver
        .started
        .map_or(Duration::ZERO, |s| end.saturating_duration_since(s));
    let stats = driver.perf.stats();
    let moved = if ok {
        driver.sizes.iter().map(|(u, d)| u + d).sum()
    } else {
        stats.bytes_sent + stats.bytes_received
    };
    let mut out = report::base("bulk", ok, moved, elapsed, None);
    out.insert("direction".into(), json!(plan.direction.label()));
    out.insert("streams".into(), json!(plan.streams));
    out.insert("streams_completed".into(), json!(driver.completed));
    out.insert("uploaded".into(), json!(stats.bytes_sent));
    out.insert("downloaded".into(), json!(stats.bytes_received));
    out.insert(
        "wall_s".into(),
        json!(report::round3(wall_start.elapsed().as_secs_f64())),
    );
    if !driver.errors.is_empty() {
        out.insert("errors".into(), json!(driver.errors));
    } else if !ok {
        out.insert("errors".into(), json!(["--run-secs reached"]));
    }
    report::thread_fields(&mut out, moved, threads);
    report::io_fields(&mut out, ios, plan.gso_segments);
    // The side that sent most data owns the interesting cwnd.
    let sender = usize::from(plan.direction == Direction::Download);
    report::path_fields(&mut out, paths, sender);
    if let Some(pacing) = pacing {
        out.insert("pacing".into(), pacing);
    }
    report::print(out, wall_start);
    if ok {
        0
    } else {
        EXIT_INCOMPLETE
    }
}

/// Server and client in this process, on 127.0.0.1, each on its own reactor thread.
pub(crate) fn run_local(plan: &Plan) -> Result<u8, CliError> {
    let wall_start = Instant::now();
    let localhost = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    // The sender's pacer meter (a paced run only), read by the receiving side's probe.
    let sent: Option<SharedMeter> = plan
        .pace
        .map(|settings| Arc::new(std::sync::Mutex::new(ArrivalMeter::new(settings))));
    let (server_node, server_peer) = new_node(plan, true, &sent)?;
    let server = bind(server_node, localhost)?;
    let server_addr = server
        .local_addrs()
        .first()
        .copied()
        .ok_or_else(|| CliError::Node("server socket has no address".into()))?;
    let server_handle = server.handle();
    let server_probe = PaceProbe::for_receiver(plan, true, &sent);
    let streams = plan.streams as u64;
    let server_thread = std::thread::Builder::new()
        .name("perf-server".into())
        .spawn(move || {
            let mut reactor = server;
            let driver = std::cell::RefCell::new(ServerDriver::new(server_probe, streams));
            let result = reactor.run_with(
                None,
                |node, now, event| {
                    driver.borrow_mut().on_event(node, now, event);
                    ControlFlow::Continue(())
                },
                |node, now| {
                    driver.borrow_mut().flush(node, now);
                    ControlFlow::Continue(())
                },
            );
            if let Err(e) = &result {
                tracing::warn!(error = %e, "perf server reactor failed");
            }
            (reactor, driver.into_inner(), report::thread_cpu_s())
        })
        .map_err(|e| CliError::Node(format!("cannot start the server thread: {e}")))?;

    let (client_node, _) = new_node(plan, false, &sent)?;
    let mut client = bind(client_node, localhost)?;
    let client_probe = PaceProbe::for_receiver(plan, false, &sent);
    let mut driver = ClientDriver::new(plan, Some(server_peer), client_probe);
    let deadline = wall_start + Duration::from_secs(plan.run_secs);
    client
        .handle()
        .run(move |node, now| {
            if let Err(e) = node.dial(now, server_addr, Some(server_peer)) {
                tracing::warn!(error = %e, "dial failed");
            }
        })
        .map_err(|e| CliError::Node(e.to_string()))?;
    let run_result = drive_client(&mut client, &mut driver, deadline);
    let client_cpu = report::thread_cpu_s();

    let _ = server_handle.shutdown();
    let (server, server_driver, server_cpu) = server_thread
        .join()
        .map_err(|_| CliError::Node("the server thread panicked".into()))?;
    run_result?;
    let client_path = driver
        .conn
        .and_then(|c| client.node().endpoint().connection_stats(c));
    let server_path = server_driver
        .conn
        .and_then(|c| server.node().endpoint().connection_stats(c));
    let pacing = paced_result(plan, &driver, &server_driver, &client, &server);
    Ok(finish_report(
        plan,
        &driver,
        &[client.io_stats(), server.io_stats()],
        &[("client", client_path), ("server", server_path)],
        &[("client", client_cpu), ("server", server_cpu)],
        pacing,
        wall_start,
    ))
}

/// The `pacing` object of a paced local run (see [`pacing_json`]), with the sending
/// node's `pacer_waits` (times its pacer held a datagram back).
fn paced_result(
    plan: &Plan,
    client: &ClientDriver,
    server: &ServerDriver,
    client_reactor: &Reactor,
    server_reactor: &Reactor,
) -> Option<serde_json::Value> {
    let settings = plan.pace?;
    let (probe, receiver, sender, sender_reactor) = match (&client.probe, &server.probe) {
        (Some(probe), _) => (probe, "client", "server", server_reactor),
        (None, Some(probe)) => (probe, "server", "client", client_reactor),
        (None, None) => return None,
    };
    let sent = probe.sent.lock().ok()?;
    let waits = sender_reactor.node().stats().counters.paced;
    Some(pacing_json(
        settings,
        (receiver, &probe.received),
        (sender, &sent),
        waits,
    ))
}

/// The bulk client against a remote perf server.
pub(crate) fn run_remote(
    plan: &Plan,
    (addr, peer): (SocketAddr, Option<PeerId>),
) -> Result<u8, CliError> {
    let wall_start = Instant::now();
    let unspecified = match addr.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    let (node, _) = new_node(plan, false, &None)?;
    let mut client = bind(node, SocketAddr::new(unspecified, 0))?;
    let mut driver = ClientDriver::new(plan, peer, None);
    client
        .handle()
        .run(move |node, now| {
            if let Err(e) = node.dial(now, addr, peer) {
                tracing::warn!(error = %e, "dial failed");
            }
        })
        .map_err(|e| CliError::Node(e.to_string()))?;
    let deadline = wall_start + Duration::from_secs(plan.run_secs);
    drive_client(&mut client, &mut driver, deadline)?;
    let path = driver
        .conn
        .and_then(|c| client.node().endpoint().connection_stats(c));
    Ok(finish_report(
        plan,
        &driver,
        &[client.io_stats()],
        &[("client", path)],
        &[("client", report::thread_cpu_s())],
        None,
        wall_start,
    ))
}

/// `--server`: serve `/perf/1.0.0` until `--run-secs` or SIGINT/SIGTERM.
pub(crate) fn serve(plan: &Plan, listen: SocketAddr) -> Result<u8, CliError> {
    let wall_start = Instant::now();
    let (node, peer) = new_node(plan, true, &None)?;
    let mut reactor = bind(node, listen)?;
    let handle = reactor.handle();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::SeqCst);
            let _ = handle.shutdown();
        })
        .map_err(|e| CliError::Node(format!("cannot install the signal handler: {e}")))?;
    }
    for local in reactor.local_addrs() {
        let addr = Multiaddr::quic_v1(local, Some(peer));
        let fields = json!({ "addr": addr.to_string(), "peer_id": peer.to_string() });
        let t_ms = jsonl::millis(wall_start.elapsed());
        println!("{}", jsonl::render("listening", t_ms, fields));
    }
    let driver = std::cell::RefCell::new(ServerDriver::new(None, 0));
    reactor
        .run_with(
            Some(wall_start + Duration::from_secs(plan.run_secs)),
            |node, now, event| {
                driver.borrow_mut().on_event(node, now, event);
                ControlFlow::Continue(())
            },
            |node, now| {
                driver.borrow_mut().flush(node, now);
                ControlFlow::Continue(())
            },
        )
        .map_err(|e| CliError::Node(e.to_string()))?;
    let driver = driver.into_inner();
    let stats = driver.perf.stats();
    let mut out = report::base(
        "server",
        true,
        stats.bytes_sent + stats.bytes_received,
        wall_start.elapsed(),
        None,
    );
    out.insert("streams_served".into(), json!(driver.served));
    out.insert("streams_failed".into(), json!(driver.failed));
    out.insert("uploaded".into(), json!(stats.bytes_received));
    out.insert("downloaded".into(), json!(stats.bytes_sent));
    out.insert("signalled".into(), json!(stop.load(Ordering::SeqCst)));
    report::io_fields(&mut out, &[reactor.io_stats()], plan.gso_segments);
    report::print(out, wall_start);
    Ok(0)
}
