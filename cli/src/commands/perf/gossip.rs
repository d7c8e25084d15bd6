//! The gossip workload: two nodes on 127.0.0.1, each on its own reactor thread, both
//! subscribed to the lean block topic. The publisher sends `--count` messages of
//! `--size` bytes back to back, keeping at most a window of messages in flight (sent but
//! not yet delivered at the receiver) so the router's bounded per-peer queues never drop
//! one; the receiver counts all of them.
//!
//! Payload: 8 bytes big-endian sequence number, then zeros (distinct message ids).

use std::net::{Ipv4Addr, SocketAddr};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_host::lean::{LeanTopic, TopicKind, DEFAULT_NETWORK};
use leanp2p_host::{ConnId, Keypair, Node, NodeEvent, PeerId, TopicHash};
use serde_json::json;

use super::report;
use super::sink::fresh_seed;
use super::{node_config, Plan};
use crate::commands::CliError;
use leanp2p_mio::{Reactor, ReactorConfig, ReactorHandle};

/// Bytes of messages in flight at most (and at least 4, at most 256 messages).
const WINDOW_BYTES: usize = 8 << 20;

/// State shared by the two reactor threads.
struct Shared {
    received: AtomicU64,
    received_bytes: AtomicU64,
    /// The publisher stopped at its window and wants a wakeup.
    publisher_waiting: AtomicBool,
    /// When the last message arrived.
    finished: Mutex<Option<Instant>>,
}

struct Publisher {
    topic: TopicHash,
    receiver: PeerId,
    count: u64,
    size: usize,
    window: u64,
    shared: Arc<Shared>,
    conn: Option<ConnId>,
    started: Option<Instant>,
    published: u64,
    errors: u64,
    fatal: Option<String>,
}

impl Publisher {
    fn on_event(&mut self, node: &mut Node, now: Instant, event: NodeEvent) {
        match event {
            NodeEvent::Connected { peer, conn, .. } if peer == self.receiver => {
                self.conn.get_or_insert(conn);
            }
            NodeEvent::Subscribed { peer, topic }
                if peer == self.receiver && topic == self.topic && self.started.is_none() =>
            {
                self.started = Some(now);
            }
            NodeEvent::Disconnected { peer, reason, .. } if peer == self.receiver => {
                self.fatal = Some(format!("receiver disconnected: {reason}"));
            }
            NodeEvent::DialFailed { error, .. } => {
                self.fatal = Some(format!("dial failed: {error}"));
            }
            _ => {}
        }
        let _ = self.publish(node, now);
    }

    fn publish(&mut self, node: &mut Node, now: Instant) -> ControlFlow<()> {
        if self.fatal.is_some() {
            return ControlFlow::Break(());
        }
        if self.started.is_none() {
            return ControlFlow::Continue(());
        }
        while self.published < self.count {
            let received = self.shared.received.load(Ordering::Acquire);
            if self.published.saturating_sub(received) >= self.window {
                self.shared.publisher_waiting.store(true, Ordering::Release);
                // The receiver may have moved on between the load and the store.
                if self.shared.received.load(Ordering::Acquire) == received {
                    break;
                }
                continue;
            }
            let mut data = vec![0u8; self.size];
            if let Some(head) = data.get_mut(..8) {
                head.copy_from_slice(&self.published.to_be_bytes());
            }
            match node.publish(now, &self.topic, Bytes::from(data)) {
                Ok(_) => self.published += 1,
                Err(leanp2p_host::PublishError::InsufficientPeers) => {
                    // Not ready after all; try again at the next wakeup.
                    self.errors += 1;
                    break;
                }
                Err(error) => {
                    // QueueFull: cached and gossiped later, but not sent now.
                    tracing::debug!(%error, seq = self.published, "publish");
                    self.errors += 1;
                    self.published += 1;
                    if matches!(error, leanp2p_host::PublishError::MessageTooLarge { .. }) {
                        self.fatal = Some(error.to_string());
                        return ControlFlow::Break(());
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

struct Receiver {
    topic: TopicHash,
    count: u64,
    shared: Arc<Shared>,
    publisher: ReactorHandle,
    conn: Option<ConnId>,
}

impl Receiver {
    fn on_event(&mut self, node: &mut Node, now: Instant, event: NodeEvent) -> ControlFlow<()> {
        match event {
            NodeEvent::Connected { conn, .. } => {
                self.conn.get_or_insert(conn);
            }
            NodeEvent::Message {
                id,
                propagation_source,
                topic,
                data,
            } if topic == self.topic => {
                let _ = node.report_validation(
                    now,
                    &id,
                    propagation_source,
                    leanp2p_host::Validation::Accept,
                );
                self.shared
                    .received_bytes
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                let received = self.shared.received.fetch_add(1, Ordering::AcqRel) + 1;
                if received >= self.count {
                    if let Ok(mut at) = self.shared.finished.lock() {
                        *at = Some(now);
                    }
                    let _ = self.publisher.shutdown();
                    return ControlFlow::Break(());
                }
                if self.shared.publisher_waiting.swap(false, Ordering::AcqRel) {
                    let _ = self.publisher.run(|_, _| {});
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn new_node(plan: &Plan, topic: &TopicHash) -> Result<(Node, PeerId), CliError> {
    let key = Keypair::generate(&mut rand_core::OsRng);
    let now = Instant::now();
    let mut node = Node::new(now, node_config(plan), &key, fresh_seed())
        .map_err(|e| CliError::Node(e.to_string()))?;
    node.subscribe(now, topic)
        .map_err(|e| CliError::Node(e.to_string()))?;
    Ok((node, key.peer_id()))
}

/// Runs the workload; the exit code.
pub(crate) fn run(plan: &Plan) -> Result<u8, CliError> {
    let wall_start = Instant::now();
    let topic = LeanTopic::new(DEFAULT_NETWORK, TopicKind::Block).hash();
    let localhost = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let shared = Arc::new(Shared {
        received: AtomicU64::new(0),
        received_bytes: AtomicU64::new(0),
        publisher_waiting: AtomicBool::new(false),
        finished: Mutex::new(None),
    });
    let bind = |node| {
        Reactor::bind(node, &[localhost], ReactorConfig::default())
            .map_err(|e| CliError::Node(e.to_string()))
    };
    let (pub_node, _) = new_node(plan, &topic)?;
    let mut publisher_reactor = bind(pub_node)?;
    let (recv_node, recv_peer) = new_node(plan, &topic)?;
    let receiver_reactor = bind(recv_node)?;
    let recv_addr = receiver_reactor
        .local_addrs()
        .first()
        .copied()
        .ok_or_else(|| CliError::Node("receiver socket has no address".into()))?;
    let receiver_handle = receiver_reactor.handle();
    let mut receiver = Receiver {
        topic: topic.clone(),
        count: plan.count,
        shared: Arc::clone(&shared),
        publisher: publisher_reactor.handle(),
        conn: None,
    };
    let receiver_thread = std::thread::Builder::new()
        .name("perf-receiver".into())
        .spawn(move || {
            let mut reactor = receiver_reactor;
            let result = reactor.run(None, |node, now, event| receiver.on_event(node, now, event));
            if let Err(e) = &result {
                tracing::warn!(error = %e, "receiver reactor failed");
            }
            (reactor, receiver.conn, report::thread_cpu_s())
        })
        .map_err(|e| CliError::Node(format!("cannot start the receiver thread: {e}")))?;

    let window = (WINDOW_BYTES / plan.size).clamp(4, 256) as u64;
    let publisher = std::cell::RefCell::new(Publisher {
        topic,
        receiver: recv_peer,
        count: plan.count,
        size: plan.size,
        window,
        shared: Arc::clone(&shared),
        conn: None,
        started: None,
        published: 0,
        errors: 0,
        fatal: None,
    });
    publisher_reactor
        .handle()
        .run(move |node, now| {
            if let Err(e) = node.dial(now, recv_addr, Some(recv_peer)) {
                tracing::warn!(error = %e, "dial failed");
            }
        })
        .map_err(|e| CliError::Node(e.to_string()))?;
    let deadline = wall_start + Duration::from_secs(plan.run_secs);
    let run_result = publisher_reactor.run_with(
        Some(deadline),
        |node, now, event| {
            let mut p = publisher.borrow_mut();
            p.on_event(node, now, event);
            if p.fatal.is_some() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
        |node, now| publisher.borrow_mut().publish(node, now),
    );
    let publisher_cpu = report::thread_cpu_s();
    let _ = receiver_handle.shutdown();
    let (receiver_reactor, receiver_conn, receiver_cpu) = receiver_thread
        .join()
        .map_err(|_| CliError::Node("the receiver thread panicked".into()))?;
    run_result.map_err(|e| CliError::Node(e.to_string()))?;
    let publisher = publisher.into_inner();

    let received = shared.received.load(Ordering::Acquire);
    let ok = received >= plan.count && publisher.fatal.is_none();
    let finished = shared.finished.lock().ok().and_then(|at| *at);
    let end = finished.unwrap_or_else(Instant::now);
    let elapsed = publisher
        .started
        .map_or(Duration::ZERO, |s| end.saturating_duration_since(s));
    let bytes = shared.received_bytes.load(Ordering::Acquire);
    let mut out = report::base("gossip", ok, bytes, elapsed, Some(received));
    out.insert("size".into(), json!(plan.size));
    out.insert("count".into(), json!(plan.count));
    out.insert("published".into(), json!(publisher.published));
    out.insert("received".into(), json!(received));
    out.insert("publish_errors".into(), json!(publisher.errors));
    out.insert("window".into(), json!(window));
    out.insert(
        "wall_s".into(),
        json!(report::round3(wall_start.elapsed().as_secs_f64())),
    );
    if let Some(fatal) = &publisher.fatal {
        out.insert("errors".into(), json!([fatal]));
    } else if !ok {
        out.insert("errors".into(), json!(["--run-secs reached"]));
    }
    report::thread_fields(
        &mut out,
        bytes,
        &[("publisher", publisher_cpu), ("receiver", receiver_cpu)],
    );
    report::io_fields(
        &mut out,
        &[publisher_reactor.io_stats(), receiver_reactor.io_stats()],
        plan.gso_segments,
    );
    let pub_path = publisher
        .conn
        .and_then(|c| publisher_reactor.node().endpoint().connection_stats(c));
    let recv_path =
        receiver_conn.and_then(|c| receiver_reactor.node().endpoint().connection_stats(c));
    report::path_fields(
        &mut out,
        &[("publisher", pub_path), ("receiver", recv_path)],
        0,
    );
    report::print(out, wall_start);
    Ok(if ok { 0 } else { 3 })
}
