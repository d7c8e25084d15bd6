//! The harness: our node (the victim) and an honest leanp2p peer, each on a `leanp2p-mio`
//! reactor thread with an application thread behind it ([`LeanPeer`]), and the honest
//! workload ([`HonestLoad`]) that runs while an attack goes on and checks afterwards that
//! every message, ping and response got through while the victim's buffers stayed
//! bounded ([`Bounds`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use leanp2p_gossipsub::lean as gossip_lean;
use leanp2p_host::{
    lean, Bytes, Config, DisconnectReason, Keypair, Node, NodeEvent, PeerId, RequestId,
    ResponseChunk, ResponseCode, Stats, TopicHash, Validation,
};
use leanp2p_mio::{spawn, Reactor, ReactorConfig, ReactorHandle};
use leanp2p_reqresp::lean as rr_lean;

/// Our identify `agentVersion`.
pub const AGENT: &str = "leanp2p-hostile/0.1";
/// Longest any single wait in a test may take.
pub const WAIT_LIMIT: Duration = Duration::from_secs(20);

/// A rust-libp2p PeerId as ours.
pub fn to_ours(peer: &libp2p::PeerId) -> PeerId {
    PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

/// The lean block topic string.
pub fn topic_string() -> String {
    gossip_lean::LeanTopic::new(gossip_lean::DEFAULT_NETWORK, gossip_lean::TopicKind::Block)
        .to_topic_string()
}

/// The lean block topic.
pub fn topic() -> TopicHash {
    TopicHash::new(&topic_string())
}

/// The lean configuration with a 500 ms ping interval (so pings are frequent during an
/// attack of a few seconds).
pub fn lean_config() -> Config {
    let mut config = lean::config(AGENT);
    config.ping.interval = Duration::from_millis(500);
    config
}

/// Logs once per process (RUST_LOG=leanp2p_host=debug shows the node's logs).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A lean gossip payload: snappy block of `len` pseudo-random bytes starting with `tag`
/// and `seq`, distinct for every (tag, seq).
pub fn payload(tag: u8, seq: u64, len: usize) -> Bytes {
    let mut ssz = vec![0u8; len.max(16)];
    let mut x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(tag);
    for b in ssz.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    ssz[0] = tag;
    ssz[1..9].copy_from_slice(&seq.to_le_bytes());
    Bytes::from(gossip_lean::snappy_compress(&ssz, gossip_lean::MAX_PAYLOAD_SIZE).unwrap())
}

/// How the application behind a node behaves.
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// Time the application spends on each event (a slow application).
    pub delay_per_event: Duration,
    /// The reactor's event channel capacity.
    pub channel_capacity: usize,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            delay_per_event: Duration::ZERO,
            channel_capacity: 4096,
        }
    }
}

/// What the application saw.
#[derive(Debug, Default)]
pub struct AppLog {
    /// Data of every gossip message, by propagation source.
    pub messages: BTreeMap<PeerId, BTreeSet<Bytes>>,
    /// Peers seen subscribing to the block topic.
    pub subscribed: BTreeSet<PeerId>,
    /// Connections established, by peer.
    pub connected: BTreeMap<PeerId, usize>,
    /// Disconnections with their reason.
    pub disconnected: Vec<(PeerId, DisconnectReason)>,
    /// Successful pings of ours, by peer.
    pub pings: BTreeMap<PeerId, usize>,
    /// Requests of ours that completed with at least one chunk.
    pub completed: BTreeSet<RequestId>,
    /// Requests of ours that failed.
    pub request_failures: Vec<String>,
    /// Status requests served.
    pub served: usize,
    /// Events seen.
    pub events: usize,
}

/// A leanp2p node on a reactor thread, with an application thread that validates every
/// message (accept), answers status requests with a fixed status and records what it
/// saw in [`AppLog`].
pub struct LeanPeer {
    pub handle: ReactorHandle,
    pub peer: PeerId,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<AppLog>>,
    reactor: Option<JoinHandle<Result<Reactor, leanp2p_mio::ReactorError>>>,
    app: Option<JoinHandle<()>>,
}

fn fixed_status() -> rr_lean::Status {
    rr_lean::Status {
        finalized: rr_lean::Checkpoint {
            root: [0x11; 32],
            slot: 64,
        },
        head: rr_lean::Checkpoint {
            root: [0x12; 32],
            slot: 100,
        },
    }
}

/// The body of every status request of the honest peer.
pub fn status_body() -> Bytes {
    Bytes::from(fixed_status().to_ssz().unwrap())
}

impl LeanPeer {
    /// Starts a node with `config` and key `[secret; 32]` on 127.0.0.1 (ephemeral port),
    /// subscribed to the block topic.
    pub fn start(name: &str, config: Config, secret: u8, options: AppOptions) -> Self {
        init_tracing();
        let key = Keypair::from_secret_bytes(&[secret; 32]).unwrap();
        let mut node = Node::new(Instant::now(), config, &key, [secret; 32]).unwrap();
        node.subscribe(Instant::now(), &topic()).unwrap();
        let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let reactor_config = ReactorConfig {
            event_channel_capacity: options.channel_capacity,
            ..ReactorConfig::default()
        };
        let reactor = Reactor::bind(node, &[localhost], reactor_config).unwrap();
        let spawned = spawn(reactor, name).unwrap();
        let log = Arc::new(Mutex::new(AppLog::default()));
        let app = {
            let (log, handle, events) = (log.clone(), spawned.handle.clone(), spawned.events);
            let delay = options.delay_per_event;
            std::thread::Builder::new()
                .name(format!("{name}-app"))
                .spawn(move || {
                    while let Ok((_, event)) = events.recv() {
                        if !delay.is_zero() {
                            std::thread::sleep(delay);
                        }
                        on_event(&handle, &log, event);
                    }
                })
                .unwrap()
        };
        Self {
            handle: spawned.handle,
            peer: key.peer_id(),
            addr: spawned.local_addrs[0],
            log,
            reactor: Some(spawned.join),
            app: Some(app),
        }
    }

    /// Runs `f` on the node (on its reactor thread) and returns its result.
    pub fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node, Instant) -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = mpsc::channel();
        self.handle
            .run(move |node, now| {
                let _ = tx.send(f(node, now));
            })
            .expect("reactor stopped");
        rx.recv_timeout(Duration::from_secs(10))
            .expect("reactor did not run a command within 10 s")
    }

    /// The node's statistics.
    pub fn stats(&self) -> Stats {
        self.with(|node, _| node.stats())
    }

    /// Dials `other` and waits until both applications saw the connection.
    pub fn connect_to(&self, other: &LeanPeer) {
        let (addr, peer) = (other.addr, other.peer);
        self.with(move |node, now| node.dial(now, addr, Some(peer)).map(drop))
            .unwrap();
        let me = self.peer;
        wait_for("the honest connection", WAIT_LIMIT, || {
            self.log.lock().unwrap().connected.contains_key(&peer)
                && other.log.lock().unwrap().connected.contains_key(&me)
        });
    }

    /// Waits until this node saw `peer` subscribe to the block topic.
    pub fn wait_subscribed(&self, peer: PeerId) {
        wait_for("the peer's subscription", WAIT_LIMIT, || {
            self.log.lock().unwrap().subscribed.contains(&peer)
        });
    }
}

fn on_event(handle: &ReactorHandle, log: &Mutex<AppLog>, event: NodeEvent) {
    let mut log = log.lock().unwrap();
    log.events += 1;
    match event {
        NodeEvent::Connected { peer, .. } => *log.connected.entry(peer).or_default() += 1,
        NodeEvent::Disconnected { peer, reason, .. } => log.disconnected.push((peer, reason)),
        NodeEvent::Subscribed { peer, topic: t } if t == topic() => {
            log.subscribed.insert(peer);
        }
        NodeEvent::Message {
            id,
            propagation_source,
            data,
            ..
        } => {
            log.messages
                .entry(propagation_source)
                .or_default()
                .insert(data);
            let _ = handle.run(move |node, now| {
                let _ = node.report_validation(now, &id, propagation_source, Validation::Accept);
            });
        }
        NodeEvent::InboundRequest {
            channel,
            protocol,
            body,
            ..
        } => {
            log.served += 1;
            let ok = protocol.as_str() == rr_lean::STATUS.as_str()
                && rr_lean::Status::from_ssz(&body).is_ok();
            let _ = handle.run(move |node, now| {
                if ok {
                    let status = Bytes::from(fixed_status().to_ssz().unwrap());
                    if node
                        .respond(now, channel, ResponseChunk::success(status))
                        .is_ok()
                    {
                        let _ = node.end_response(now, channel);
                    }
                } else {
                    let chunk = ResponseChunk::error(ResponseCode::InvalidRequest, "unsupported");
                    let _ = node.respond(now, channel, chunk);
                }
            });
        }
        NodeEvent::RequestCompleted {
            request, chunks, ..
        } if chunks > 0 => {
            log.completed.insert(request);
        }
        NodeEvent::RequestFailed {
            request, reason, ..
        } => log
            .request_failures
            .push(format!("{request:?}: {reason:?}")),
        NodeEvent::PingSuccess { peer, .. } => *log.pings.entry(peer).or_default() += 1,
        _ => {}
    }
}

impl Drop for LeanPeer {
    fn drop(&mut self) {
        let _ = self.handle.shutdown();
        if let Some(join) = self.reactor.take() {
            let _ = join.join();
        }
        if let Some(join) = self.app.take() {
            let _ = join.join();
        }
    }
}

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

/// The victim and one honest peer, connected, each seeing the other subscribed.
pub struct Scene {
    pub victim: LeanPeer,
    pub honest: LeanPeer,
}

impl Scene {
    /// Starts the victim (`config`, `options`) and an honest peer with the lean defaults,
    /// the honest peer dialling the victim.
    pub fn start(config: Config, options: AppOptions) -> Self {
        let victim = LeanPeer::start("victim", config, 1, options);
        let honest = LeanPeer::start("honest", lean_config(), 2, AppOptions::default());
        honest.connect_to(&victim);
        victim.wait_subscribed(honest.peer);
        honest.wait_subscribed(victim.peer);
        Self { victim, honest }
    }
}

/// Largest values of the victim's gauges seen while an attack ran.
#[derive(Clone, Debug, Default)]
pub struct Peaks {
    pub buffered_bytes_total: usize,
    pub queued_events: usize,
    pub queued_event_bytes: usize,
    /// Largest `buffered_bytes` of any one peer other than the honest one.
    pub attacker_buffered_bytes: usize,
}

/// Bounds asserted on [`Peaks`].
#[derive(Clone, Debug)]
pub struct Bounds {
    pub buffered_bytes_total: usize,
    pub queued_events: usize,
    pub queued_event_bytes: usize,
}

impl Default for Bounds {
    /// A node under attack buffers at most 8 MiB towards peers (one peer's gossip budget
    /// is 4 MiB), holds at most 8,192 events (the per-peer budget is 1,024) and 32 MiB of
    /// event payloads.
    fn default() -> Self {
        Self {
            buffered_bytes_total: 8 << 20,
            queued_events: 8192,
            queued_event_bytes: 32 << 20,
        }
    }
}

impl Peaks {
    /// Asserts every peak is under its bound.
    pub fn assert_within(&self, bounds: &Bounds) {
        eprintln!("victim peaks during the attack: {self:?}");
        assert!(
            self.buffered_bytes_total <= bounds.buffered_bytes_total
                && self.queued_events <= bounds.queued_events
                && self.queued_event_bytes <= bounds.queued_event_bytes,
            "victim over its bounds: {self:?} vs {bounds:?}"
        );
    }
}

/// The honest workload: every tick the honest peer publishes a message and the victim
/// publishes one back; every tenth tick the honest peer sends a status request (the lean
/// status quota allows 5 per 15 s); pings run on their own.
pub struct HonestLoad {
    honest_sent: BTreeSet<Bytes>,
    victim_sent: BTreeSet<Bytes>,
    requests: BTreeSet<RequestId>,
    pings_before: (usize, usize),
    seq: u64,
    pub peaks: Peaks,
}

/// Time between two rounds of honest traffic.
pub const TICK: Duration = Duration::from_millis(100);
/// Time between two samples of the victim's gauges.
const SAMPLE: Duration = Duration::from_millis(20);
/// The honest peer sends a status request every this many ticks.
const REQUEST_EVERY: u64 = 10;

impl HonestLoad {
    pub fn new(scene: &Scene) -> Self {
        let pings = |from: &LeanPeer, to: PeerId| {
            from.log
                .lock()
                .unwrap()
                .pings
                .get(&to)
                .copied()
                .unwrap_or(0)
        };
        Self {
            honest_sent: BTreeSet::new(),
            victim_sent: BTreeSet::new(),
            requests: BTreeSet::new(),
            pings_before: (
                pings(&scene.honest, scene.victim.peer),
                pings(&scene.victim, scene.honest.peer),
            ),
            seq: 0,
            peaks: Peaks::default(),
        }
    }

    /// One round: publishes, requests, and samples the victim's gauges.
    pub fn tick(&mut self, scene: &Scene) {
        self.seq += 1;
        let (seq, victim_peer, honest_peer) = (self.seq, scene.victim.peer, scene.honest.peer);
        let data = payload(2, seq, 512);
        self.honest_sent.insert(data.clone());
        // The lean status quota is 5 requests per 15 s: one request per second.
        let ask = seq % REQUEST_EVERY == 1;
        let request = scene.honest.with(move |node, now| {
            node.publish(now, &topic(), data)
                .unwrap_or_else(|e| panic!("honest publish {seq}: {e}"));
            ask.then(|| {
                node.request(now, victim_peer, &rr_lean::STATUS, status_body())
                    .unwrap_or_else(|e| panic!("honest request {seq}: {e}"))
            })
        });
        self.requests.extend(request);
        let data = payload(1, seq, 512);
        self.victim_sent.insert(data.clone());
        let stats = scene.victim.with(move |node, now| {
            node.publish(now, &topic(), data)
                .unwrap_or_else(|e| panic!("victim publish {seq}: {e}"));
            node.stats()
        });
        self.sample(&stats, honest_peer);
    }

    /// Messages the honest peer published so far.
    pub fn honest_messages(&self) -> usize {
        self.honest_sent.len()
    }

    /// Records the victim's gauges from `stats`.
    pub fn sample(&mut self, stats: &Stats, honest: PeerId) {
        let p = &mut self.peaks;
        p.buffered_bytes_total = p.buffered_bytes_total.max(stats.buffered_bytes_total);
        p.queued_events = p.queued_events.max(stats.queued_events);
        p.queued_event_bytes = p.queued_event_bytes.max(stats.queued_event_bytes);
        for (peer, bytes) in &stats.buffered_bytes {
            if *peer != honest {
                p.attacker_buffered_bytes = p.attacker_buffered_bytes.max(*bytes);
            }
        }
    }

    /// Runs ticks for `duration`, calling `attack` before each.
    pub fn run(&mut self, scene: &Scene, duration: Duration, mut attack: impl FnMut()) {
        let end = Instant::now() + duration;
        while Instant::now() < end {
            let next = Instant::now() + TICK;
            attack();
            self.tick(scene);
            // Sample the victim's gauges between ticks too.
            while Instant::now() + SAMPLE < next {
                std::thread::sleep(SAMPLE);
                let stats = scene.victim.stats();
                self.sample(&stats, scene.honest.peer);
            }
            if let Some(rest) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(rest);
            }
        }
    }

    /// Waits until the honest peer got every victim message, every response and at least
    /// two more pings, and the victim got every honest message and two more pings.
    pub fn assert_delivered(&self, scene: &Scene) {
        let (victim, honest) = (scene.victim.peer, scene.honest.peer);
        let deadline = Instant::now() + WAIT_LIMIT;
        loop {
            let missing = {
                let h = scene.honest.log.lock().unwrap();
                let v = scene.victim.log.lock().unwrap();
                let empty = BTreeSet::new();
                let at_honest = h.messages.get(&victim).unwrap_or(&empty);
                let at_victim = v.messages.get(&honest).unwrap_or(&empty);
                let messages_to_honest = self.victim_sent.difference(at_honest).count();
                let messages_to_victim = self.honest_sent.difference(at_victim).count();
                let responses = self.requests.difference(&h.completed).count();
                let honest_pings = h.pings.get(&victim).copied().unwrap_or(0);
                let victim_pings = v.pings.get(&honest).copied().unwrap_or(0);
                let pings_ok = honest_pings >= self.pings_before.0 + 2
                    && victim_pings >= self.pings_before.1 + 2;
                if messages_to_honest + messages_to_victim + responses == 0 && pings_ok {
                    None
                } else {
                    Some(format!(
                        "missing: {messages_to_honest}/{} messages at the honest peer, \
                         {messages_to_victim}/{} at the victim, {responses}/{} responses; \
                         pings honest {honest_pings} (before {}), victim {victim_pings} \
                         (before {}); request failures {:?}; honest disconnections {:?}",
                        self.victim_sent.len(),
                        self.honest_sent.len(),
                        self.requests.len(),
                        self.pings_before.0,
                        self.pings_before.1,
                        h.request_failures,
                        h.disconnected,
                    ))
                }
            };
            let dropped: Vec<_> = {
                let h = scene.honest.log.lock().unwrap();
                h.disconnected
                    .iter()
                    .filter(|(p, _)| *p == victim)
                    .cloned()
                    .collect()
            };
            assert!(
                dropped.is_empty(),
                "the honest peer lost the victim: {dropped:?}"
            );
            match missing {
                None => {
                    let stats = scene.victim.stats();
                    eprintln!(
                        "victim after the attack: {:?}\n{:?}\n{:?}\n{:?}",
                        stats.counters, stats.gossipsub.counters, stats.quic, stats.reqresp
                    );
                    return;
                }
                Some(report) if Instant::now() >= deadline => {
                    panic!("honest traffic did not get through: {report}")
                }
                Some(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}
