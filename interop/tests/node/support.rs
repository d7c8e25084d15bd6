//! The harness: a rust-libp2p swarm ([`Theirs`]), our node on a `leanp2p-mio` reactor
//! thread ([`Ours`]), and a [`Pair`] that drives both and records what each side saw
//! ([`Seen`]). Both sides serve the lean req/resp protocols with the same deterministic
//! content ([`lean_response`]) and accept every gossip message.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use futures::StreamExt;
use leanp2p_gossipsub::lean as gossip_lean;
use leanp2p_host::{
    lean, ChannelId, Config, Direction, DisconnectReason, Keypair, Node, NodeEvent, PeerId,
    PeerInfo, RequestId, RespondError, ResponseChunk, ResponseCode, TopicHash, Validation,
};
use leanp2p_mio::{Reactor, ReactorConfig, ReactorHandle};
use leanp2p_reqresp::lean as rr_lean;
use leanp2p_reqresp::FailureReason;
use libp2p::multiaddr::Protocol;
use libp2p::request_response::{self as rr, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{gossipsub, identify, ping, Multiaddr, StreamProtocol, Swarm, SwarmBuilder};
use tokio::sync::{mpsc, oneshot};

/// Our identify `agentVersion`.
pub const OUR_AGENT: &str = "leanp2p-interop/0.1";
/// Their identify `agentVersion`.
pub const THEIR_AGENT: &str = "rust-libp2p-interop/0.57";
/// Their gossipsub `max_transmit_size` (Ethereum clients: 10 MiB).
pub const THEIR_MAX_TRANSMIT: usize = 10 * 1024 * 1024;
/// Size of every block served for blocks_by_root.
pub const ROOT_BLOCK_SIZE: usize = 200 * 1024;
/// Size of every block served for blocks_by_range.
pub const RANGE_BLOCK_SIZE: usize = 64 * 1024;
/// Upper bound of one whole test.
pub const TEST_LIMIT: Duration = Duration::from_secs(90);

/// Who opens the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Our node dials (`Node::dial` with the expected PeerId).
    WeDial,
    /// Our node is given their peer as a known peer (`Node::add_known_peer`): dialled now,
    /// redialled whenever our outbound connection is gone.
    WeKeep,
    /// The rust-libp2p swarm dials us.
    TheyDial,
}

/// Runs `f`, failing the test if it takes longer than [`TEST_LIMIT`].
pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    // RUST_LOG=leanp2p_host=debug shows our node's logs (captured per test).
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    tokio::time::timeout(TEST_LIMIT, f)
        .await
        .expect("test exceeded its overall time limit")
}

pub fn to_ours(peer: &libp2p::PeerId) -> PeerId {
    PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

pub fn to_theirs(peer: &PeerId) -> libp2p::PeerId {
    libp2p::PeerId::from_bytes(peer.as_bytes()).unwrap()
}

/// The lean block topic string.
pub fn topic_string() -> String {
    gossip_lean::LeanTopic::new(gossip_lean::DEFAULT_NETWORK, gossip_lean::TopicKind::Block)
        .to_topic_string()
}

pub fn quic_addr(port: u16) -> Multiaddr {
    format!("/ip4/127.0.0.1/udp/{port}/quic-v1")
        .parse()
        .unwrap()
}

fn udp_port(addr: &Multiaddr) -> Option<u16> {
    addr.iter().find_map(|p| match p {
        Protocol::Udp(port) => Some(port),
        _ => None,
    })
}

// ----- content both sides agree on: see `content.rs` -----------------------------------

pub use crate::content::*;

// ----- the rust-libp2p side -------------------------------------------------------------

pub use crate::codec::{Chunk, SszSnappy};

/// The rust-libp2p node: what an Ethereum client built on rust-libp2p runs.
#[derive(NetworkBehaviour)]
pub struct Theirs {
    pub gossipsub: gossipsub::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub status: rr::Behaviour<SszSnappy>,
    pub by_root: rr::Behaviour<SszSnappy>,
    pub by_range: rr::Behaviour<SszSnappy>,
    /// blocks_by_root under its legacy id only, as older clients speak it.
    pub by_root_legacy: rr::Behaviour<SszSnappy>,
}

/// Which of their req/resp behaviours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lean {
    Status,
    ByRoot,
    ByRange,
    ByRootLegacy,
}

static STATUS_ID: leanp2p_reqresp::ProtocolId = rr_lean::STATUS;
static BLOCKS_BY_ROOT_ID: leanp2p_reqresp::ProtocolId = rr_lean::BLOCKS_BY_ROOT;
static BLOCKS_BY_RANGE_ID: leanp2p_reqresp::ProtocolId = rr_lean::BLOCKS_BY_RANGE;
static BLOCKS_BY_ROOT_LEGACY_ID: leanp2p_reqresp::ProtocolId = rr_lean::BLOCKS_BY_ROOT_LEGACY;

impl Lean {
    pub fn protocol_id(self) -> &'static leanp2p_reqresp::ProtocolId {
        match self {
            Lean::Status => &STATUS_ID,
            Lean::ByRoot => &BLOCKS_BY_ROOT_ID,
            Lean::ByRange => &BLOCKS_BY_RANGE_ID,
            Lean::ByRootLegacy => &BLOCKS_BY_ROOT_LEGACY_ID,
        }
    }

    /// The protocol id as a string.
    pub fn protocol(self) -> &'static str {
        match self {
            Lean::Status => STATUS_ID.as_str(),
            Lean::ByRoot => BLOCKS_BY_ROOT_ID.as_str(),
            Lean::ByRange => BLOCKS_BY_RANGE_ID.as_str(),
            Lean::ByRootLegacy => BLOCKS_BY_ROOT_LEGACY_ID.as_str(),
        }
    }

    /// The id our node reports for requests on this protocol (aliases map to their
    /// primary id).
    pub fn primary(self) -> &'static str {
        match self {
            Lean::ByRootLegacy => Lean::ByRoot.protocol(),
            other => other.protocol(),
        }
    }
}

impl Theirs {
    pub fn reqresp(&mut self, which: Lean) -> &mut rr::Behaviour<SszSnappy> {
        match which {
            Lean::Status => &mut self.status,
            Lean::ByRoot => &mut self.by_root,
            Lean::ByRange => &mut self.by_range,
            Lean::ByRootLegacy => &mut self.by_root_legacy,
        }
    }
}

/// How to build the rust-libp2p side.
#[derive(Clone, Debug)]
pub struct TheirConfig {
    /// secp256k1 secret `[secret; 32]` (Ethereum node keys are secp256k1).
    pub secret: u8,
    /// QUIC `max_stream_data` and `max_connection_data` (default 10 MB / 15 MB).
    pub window: Option<u32>,
    /// QUIC `max_idle_timeout` (default 10 s).
    pub quic_idle: Duration,
    /// QUIC keep-alive interval (default 5 s).
    pub quic_keep_alive: Duration,
    /// Swarm `idle_connection_timeout`.
    pub idle_connection_timeout: Duration,
    /// Ping interval.
    pub ping_interval: Duration,
}

impl TheirConfig {
    pub fn new(secret: u8) -> Self {
        Self {
            secret,
            window: None,
            quic_idle: Duration::from_secs(10),
            quic_keep_alive: Duration::from_secs(5),
            idle_connection_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_millis(500),
        }
    }

    pub fn keypair(&self) -> libp2p::identity::Keypair {
        let secret =
            libp2p::identity::secp256k1::SecretKey::try_from_bytes([self.secret; 32]).unwrap();
        libp2p::identity::secp256k1::Keypair::from(secret).into()
    }
}

fn their_gossipsub_config() -> gossipsub::Config {
    gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(
                gossip_lean::message_id(m.topic.as_str(), &m.data)
                    .as_bytes()
                    .to_vec(),
            )
        })
        .max_transmit_size(THEIR_MAX_TRANSMIT)
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .gossip_lazy(6)
        .history_length(6)
        .history_gossip(3)
        .heartbeat_interval(Duration::from_millis(700))
        .heartbeat_initial_delay(Duration::from_millis(100))
        .duplicate_cache_time(Duration::from_secs(24))
        .build()
        .unwrap()
}

pub fn build_theirs(config: &TheirConfig) -> Swarm<Theirs> {
    let key = config.keypair();
    let cfg = config.clone();
    let protocols = |which: Lean| {
        rr::Behaviour::with_codec(
            SszSnappy,
            [(StreamProtocol::new(which.protocol()), ProtocolSupport::Full)],
            rr::Config::default().with_request_timeout(Duration::from_secs(30)),
        )
    };
    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_quic_config(move |mut quic| {
            quic.max_idle_timeout = u32::try_from(cfg.quic_idle.as_millis()).unwrap();
            quic.keep_alive_interval = cfg.quic_keep_alive;
            if let Some(window) = cfg.window {
                quic.max_stream_data = window;
                quic.max_connection_data = window;
            }
            quic
        })
        .with_behaviour(|key| Theirs {
            gossipsub: gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Anonymous,
                their_gossipsub_config(),
            )
            .unwrap(),
            identify: identify::Behaviour::new(
                identify::Config::new(lean::PROTOCOL_VERSION.to_string(), key.public())
                    .with_agent_version(THEIR_AGENT.to_string())
                    .with_push_listen_addr_updates(true),
            ),
            ping: ping::Behaviour::new(ping::Config::new().with_interval(config.ping_interval)),
            status: protocols(Lean::Status),
            by_root: protocols(Lean::ByRoot),
            by_range: protocols(Lean::ByRange),
            by_root_legacy: protocols(Lean::ByRootLegacy),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&gossipsub::IdentTopic::new(topic_string()))
        .unwrap();
    swarm
}

// ----- our side -------------------------------------------------------------------------

/// The lean node configuration with a 1 s ping interval (so both sides ping early).
pub fn our_config() -> Config {
    let mut config = lean::config(OUR_AGENT);
    config.ping.interval = Duration::from_secs(1);
    config
}

/// Our node on its reactor thread. It accepts every gossip message and answers lean
/// requests itself ([`lean_response`] with [`our_status`]); every event is forwarded.
pub struct Ours {
    pub handle: ReactorHandle,
    pub events: mpsc::UnboundedReceiver<NodeEvent>,
    pub peer: PeerId,
    pub addr: SocketAddr,
    join: Option<std::thread::JoinHandle<()>>,
}

/// Our application: accepts every gossip message and serves lean requests, pacing each
/// response on `RespondError::QueueFull` / `NodeEvent::ResponseWritable` as a real
/// server must.
#[derive(Default)]
struct Server {
    /// Chunks not yet accepted by the node, per open response.
    pending: BTreeMap<ChannelId, VecDeque<ResponseChunk>>,
}

impl Server {
    fn on_event(&mut self, node: &mut Node, now: Instant, event: &NodeEvent) {
        match event {
            NodeEvent::Message {
                id,
                propagation_source,
                ..
            } => {
                node.report_validation(now, id, *propagation_source, Validation::Accept)
                    .expect("report_validation");
            }
            NodeEvent::InboundRequest {
                channel,
                protocol,
                body,
                ..
            } => {
                let chunks = match lean_response(protocol.as_str(), body, our_status()) {
                    Ok(chunks) => chunks.into_iter().map(ResponseChunk::success).collect(),
                    Err(reason) => VecDeque::from([ResponseChunk::error(
                        ResponseCode::InvalidRequest,
                        reason.into_bytes(),
                    )]),
                };
                self.pending.insert(*channel, chunks);
                self.send(node, now, *channel);
            }
            NodeEvent::ResponseWritable { channel } => self.send(node, now, *channel),
            NodeEvent::InboundAborted { channel, .. } => {
                self.pending.remove(channel);
            }
            _ => {}
        }
    }

    /// Hands the node chunks until it refuses one; ends the response when all are in
    /// (an error chunk ends it by itself).
    fn send(&mut self, node: &mut Node, now: Instant, channel: ChannelId) {
        let Some(chunks) = self.pending.get_mut(&channel) else {
            return;
        };
        let mut ended = false;
        while let Some(chunk) = chunks.front() {
            match node.respond(now, channel, chunk.clone()) {
                Ok(()) => {
                    ended = chunk.code != ResponseCode::Success;
                    chunks.pop_front();
                }
                Err(RespondError::QueueFull) => return,
                Err(e) => panic!("respond on {channel:?}: {e}"),
            }
        }
        self.pending.remove(&channel);
        if !ended {
            node.end_response(now, channel).expect("end_response");
        }
    }
}

impl Ours {
    pub fn start(config: Config, secret: u8) -> Self {
        let key = Keypair::from_secret_bytes(&[secret; 32]).unwrap();
        let node = Node::new(Instant::now(), config, &key, [secret; 32]).unwrap();
        let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut reactor = Reactor::bind(node, &[localhost], ReactorConfig::default()).unwrap();
        let topic = TopicHash::new(&topic_string());
        reactor
            .node_mut()
            .subscribe(Instant::now(), &topic)
            .unwrap();
        let handle = reactor.handle();
        let addr = reactor.local_addrs()[0];
        let (tx, events) = mpsc::unbounded_channel();
        let join = std::thread::Builder::new()
            .name(format!("leanp2p-{secret}"))
            .spawn(move || {
                let mut server = Server::default();
                reactor
                    .run(None, |node, now, event| {
                        server.on_event(node, now, &event);
                        match tx.send(event) {
                            Ok(()) => ControlFlow::Continue(()),
                            Err(_) => ControlFlow::Break(()),
                        }
                    })
                    .unwrap();
            })
            .unwrap();
        Self {
            handle,
            events,
            peer: key.peer_id(),
            addr,
            join: Some(join),
        }
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        let _ = self.handle.shutdown();
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

// ----- what each side saw ---------------------------------------------------------------

/// Everything both sides reported, in arrival order.
#[derive(Default)]
pub struct Seen {
    pub our_connected: Vec<(PeerId, Direction)>,
    pub our_disconnected: Vec<(PeerId, DisconnectReason)>,
    pub our_dial_failures: Vec<String>,
    pub our_identified: Option<PeerInfo>,
    /// Identify answers and pushes we got.
    pub our_identify_events: usize,
    pub our_pings: usize,
    pub our_ping_failures: Vec<String>,
    pub our_saw_subscription: bool,
    /// (message id, data) of every gossip message we got.
    pub our_messages: Vec<(Vec<u8>, Vec<u8>)>,
    /// (protocol, body) of every request we served.
    pub our_requests: Vec<(String, Vec<u8>)>,
    pub our_responses: BTreeMap<RequestId, Vec<Vec<u8>>>,
    pub our_completed: BTreeMap<RequestId, u32>,
    pub our_request_failures: BTreeMap<RequestId, FailureReason>,
    pub our_failures: Vec<String>,

    pub their_listen_addrs: Vec<Multiaddr>,
    pub their_established: Vec<(libp2p::PeerId, bool)>,
    pub their_closed: Vec<String>,
    pub their_connection_errors: Vec<String>,
    pub their_identified: Option<identify::Info>,
    /// Identify pushes they sent.
    pub their_pushes: usize,
    pub their_pings: usize,
    pub their_ping_failures: Vec<String>,
    pub their_saw_subscription: bool,
    /// (message id, data) of every gossip message they got.
    pub their_messages: Vec<(Vec<u8>, Vec<u8>)>,
    /// (protocol, body) of every request they served.
    pub their_requests: Vec<(Lean, Vec<u8>)>,
    /// Responses by behaviour and request id (ids are per behaviour).
    pub their_responses: HashMap<(Lean, OutboundRequestId), Vec<Chunk>>,
    pub their_failures: Vec<String>,
}

impl Seen {
    /// A short description for failure messages (no payloads).
    pub fn summary(&self) -> String {
        format!(
            "ours: connected {:?}, disconnected {:?}, dial failures {:?}, identified {} ({} times), \
             pings {} (failures {:?}), saw subscription {}, messages {}, requests served {}, \
             responses {:?}, completed {:?}, request failures {:?}, failures {:?}\n\
             theirs: listen {:?}, established {:?}, closed {:?}, connection errors {:?}, \
             identified {}, pushes sent {}, pings {} (failures {:?}), saw subscription {}, messages {}, \
             requests served {}, responses {}, failures {:?}",
            self.our_connected,
            self.our_disconnected,
            self.our_dial_failures,
            self.our_identified.is_some(),
            self.our_identify_events,
            self.our_pings,
            self.our_ping_failures,
            self.our_saw_subscription,
            self.our_messages.len(),
            self.our_requests.len(),
            self.our_responses
                .iter()
                .map(|(id, chunks)| (*id, chunks.len()))
                .collect::<Vec<_>>(),
            self.our_completed,
            self.our_request_failures,
            self.our_failures,
            self.their_listen_addrs,
            self.their_established,
            self.their_closed,
            self.their_connection_errors,
            self.their_identified.is_some(),
            self.their_pushes,
            self.their_pings,
            self.their_ping_failures,
            self.their_saw_subscription,
            self.their_messages.len(),
            self.their_requests.len(),
            self.their_responses.len(),
            self.their_failures,
        )
    }
}

// ----- the pair ---------------------------------------------------------------------------

#[allow(clippy::large_enum_variant)] // one short-lived value per step
enum Step {
    Theirs(Box<SwarmEvent<TheirsEvent>>),
    Ours(Option<NodeEvent>),
    Timeout,
}

/// Both nodes, connected.
pub struct Pair {
    pub swarm: Swarm<Theirs>,
    pub ours: Ours,
    pub their_config: TheirConfig,
    pub their_peer: libp2p::PeerId,
    pub their_port: u16,
    pub topic: TopicHash,
    pub their_topic: gossipsub::IdentTopic,
    pub seen: Seen,
}

impl Pair {
    /// Starts both nodes (each subscribed to the lean block topic), connects them as
    /// `role` says, and waits until both sides report the connection.
    pub async fn connect(
        role: Role,
        their_config: TheirConfig,
        our_config: Config,
        our_secret: u8,
    ) -> Self {
        let swarm = build_theirs(&their_config);
        let their_peer = *swarm.local_peer_id();
        let ours = Ours::start(our_config, our_secret);
        let topic_string = topic_string();
        let mut pair = Self {
            swarm,
            ours,
            their_config,
            their_peer,
            their_port: 0,
            topic: TopicHash::new(&topic_string),
            their_topic: gossipsub::IdentTopic::new(topic_string),
            seen: Seen::default(),
        };
        pair.listen(0).await;
        let our_peer = pair.ours.peer;
        match role {
            Role::WeDial | Role::WeKeep => {
                let (addr, peer) = (pair.their_socket_addr(), pair.their_peer_ours());
                pair.with_ours(move |node, now| match role {
                    Role::WeDial => node.dial(now, addr, Some(peer)).map(drop),
                    _ => node.add_known_peer(now, peer, addr),
                })
                .await
                .unwrap();
            }
            Role::TheyDial => {
                let addr =
                    quic_addr(pair.ours.addr.port()).with(Protocol::P2p(to_theirs(&our_peer)));
                pair.swarm.dial(addr).unwrap();
            }
        }
        let their_peer_ours = pair.their_peer_ours();
        let our_peer_theirs = to_theirs(&our_peer);
        pair.wait(
            Duration::from_secs(20),
            "the connection on both sides",
            |s| {
                s.our_connected.iter().any(|(p, _)| *p == their_peer_ours)
                    && s.their_established
                        .iter()
                        .any(|(p, _)| *p == our_peer_theirs)
            },
        )
        .await;
        pair
    }

    pub fn their_peer_ours(&self) -> PeerId {
        to_ours(&self.their_peer)
    }

    pub fn our_peer_theirs(&self) -> libp2p::PeerId {
        to_theirs(&self.ours.peer)
    }

    pub fn their_socket_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.their_port))
    }

    /// Makes the swarm listen on 127.0.0.1:`port` (0: ephemeral), retrying while the port
    /// is still held by a previous swarm, and waits for the address.
    async fn listen(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.swarm.listen_on(quic_addr(port)) {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    tracing_note(&format!("listen on port {port} failed: {e}; retrying"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on port {port}: {e}"),
            }
        }
        let known = self.seen.their_listen_addrs.len();
        self.wait(Duration::from_secs(10), "their listen address", |s| {
            s.their_listen_addrs.len() > known
        })
        .await;
        let addr = self.seen.their_listen_addrs.last().unwrap();
        self.their_port = udp_port(addr).unwrap();
        assert!(port == 0 || self.their_port == port);
    }

    /// Stops the rust-libp2p node and starts a new one with the same key on the same port.
    pub async fn restart_theirs(&mut self) {
        let port = self.their_port;
        let fresh = build_theirs(&self.their_config);
        drop(std::mem::replace(&mut self.swarm, fresh));
        self.listen(port).await;
    }

    /// Runs `f` on our node (on its reactor thread) and returns its result, while both
    /// sides keep running.
    pub async fn with_ours<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Node, Instant) -> T + Send + 'static,
    ) -> T {
        let (tx, mut rx) = oneshot::channel();
        self.ours
            .handle
            .run(move |node, now| {
                let _ = tx.send(f(node, now));
            })
            .expect("our reactor stopped");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match rx.try_recv() {
                Ok(value) => return value,
                Err(oneshot::error::TryRecvError::Closed) => {
                    panic!("our reactor dropped a command")
                }
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            assert!(
                Instant::now() < deadline,
                "our reactor did not run a command"
            );
            self.step(tokio::time::Instant::now() + Duration::from_millis(2))
                .await;
        }
    }

    /// Drives both sides until `done` holds; panics after `limit` saying `what` was
    /// awaited and what both sides saw.
    pub async fn wait(&mut self, limit: Duration, what: &str, mut done: impl FnMut(&Seen) -> bool) {
        let deadline = tokio::time::Instant::now() + limit;
        while !done(&self.seen) {
            if !self.step(deadline).await {
                panic!(
                    "timed out after {limit:?} waiting for {what}\n{}",
                    self.seen.summary()
                );
            }
        }
    }

    /// Drives both sides for `duration`.
    pub async fn run_for(&mut self, duration: Duration) {
        let deadline = tokio::time::Instant::now() + duration;
        while self.step(deadline).await {}
    }

    /// Waits until each side has the other in its mesh for the lean topic.
    pub async fn wait_mesh(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let (topic, their_peer, our_peer) = (
            self.topic.clone(),
            self.their_peer_ours(),
            self.our_peer_theirs(),
        );
        loop {
            let theirs = self
                .swarm
                .behaviour()
                .gossipsub
                .mesh_peers(&self.their_topic.hash())
                .any(|p| *p == our_peer);
            let topic = topic.clone();
            let ours = self
                .with_ours(move |node, _| {
                    node.gossipsub()
                        .mesh_peers(&topic)
                        .any(|p| *p == their_peer)
                })
                .await;
            if theirs && ours {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no mesh after {limit:?} (theirs {theirs}, ours {ours})\n{}",
                self.seen.summary()
            );
            self.run_for(Duration::from_millis(100)).await;
        }
    }

    /// One event from either side (recorded in `seen`); false at `deadline`.
    async fn step(&mut self, deadline: tokio::time::Instant) -> bool {
        let step = tokio::select! {
            event = self.swarm.select_next_some() => Step::Theirs(Box::new(event)),
            event = self.ours.events.recv() => Step::Ours(event),
            _ = tokio::time::sleep_until(deadline) => Step::Timeout,
        };
        match step {
            Step::Theirs(event) => self.on_theirs(*event),
            Step::Ours(Some(event)) => self.on_ours(event),
            Step::Ours(None) => panic!("our reactor stopped\n{}", self.seen.summary()),
            Step::Timeout => return false,
        }
        true
    }

    fn on_ours(&mut self, event: NodeEvent) {
        let seen = &mut self.seen;
        match event {
            NodeEvent::Connected {
                peer, direction, ..
            } => seen.our_connected.push((peer, direction)),
            NodeEvent::Disconnected { peer, reason, .. } => {
                seen.our_disconnected.push((peer, reason))
            }
            NodeEvent::DialFailed { addr, error, .. } => {
                seen.our_dial_failures.push(format!("{addr}: {error:?}"))
            }
            NodeEvent::Identified { peer, info, .. } => {
                assert_eq!(peer, to_ours(&self.their_peer));
                seen.our_identified = Some(info);
                seen.our_identify_events += 1;
            }
            NodeEvent::PingSuccess { peer, rtt, .. } => {
                assert_eq!(peer, to_ours(&self.their_peer));
                assert!(rtt > Duration::ZERO);
                seen.our_pings += 1;
            }
            NodeEvent::PingFailed { error, .. } => {
                seen.our_ping_failures.push(format!("{error:?}"))
            }
            NodeEvent::Subscribed { peer, topic }
                if peer == to_ours(&self.their_peer) && topic == self.topic =>
            {
                seen.our_saw_subscription = true;
            }
            NodeEvent::Message {
                id,
                propagation_source,
                topic,
                data,
            } => {
                assert_eq!(propagation_source, to_ours(&self.their_peer));
                assert_eq!(topic, self.topic);
                seen.our_messages
                    .push((id.as_bytes().to_vec(), data.to_vec()));
            }
            NodeEvent::InboundRequest { protocol, body, .. } => seen
                .our_requests
                .push((protocol.as_str().to_string(), body.to_vec())),
            NodeEvent::Response {
                request, payload, ..
            } => seen
                .our_responses
                .entry(request)
                .or_default()
                .push(payload.to_vec()),
            NodeEvent::RequestCompleted {
                request, chunks, ..
            } => {
                seen.our_completed.insert(request, chunks);
            }
            NodeEvent::RequestFailed {
                request, reason, ..
            } => {
                seen.our_request_failures.insert(request, reason);
            }
            NodeEvent::InboundAborted { reason, .. } => seen
                .our_failures
                .push(format!("inbound aborted: {reason:?}")),
            NodeEvent::InboundRejected {
                protocol, reason, ..
            } => seen.our_failures.push(format!(
                "inbound {} rejected: {reason:?}",
                protocol.as_str()
            )),
            NodeEvent::SlowPeer { dropped, .. } => seen
                .our_failures
                .push(format!("slow peer, {dropped} dropped")),
            _ => {}
        }
    }

    fn on_theirs(&mut self, event: SwarmEvent<TheirsEvent>) {
        let our_peer = to_theirs(&self.ours.peer);
        let seen = &mut self.seen;
        match event {
            SwarmEvent::NewListenAddr { address, .. } => seen.their_listen_addrs.push(address),
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => seen.their_established.push((peer_id, endpoint.is_dialer())),
            SwarmEvent::ConnectionClosed { peer_id, cause, .. } => {
                seen.their_closed.push(format!("{peer_id}: {cause:?}"))
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => seen
                .their_connection_errors
                .push(format!("outgoing: {error}")),
            SwarmEvent::IncomingConnectionError { error, .. } => seen
                .their_connection_errors
                .push(format!("incoming: {error}")),
            SwarmEvent::Behaviour(TheirsEvent::Gossipsub(event)) => match event {
                gossipsub::Event::Message {
                    propagation_source,
                    message_id,
                    message,
                } => {
                    assert_eq!(propagation_source, our_peer);
                    assert_eq!(message.topic, self.their_topic.hash());
                    assert_eq!(message.source, None, "anonymous messages have no author");
                    seen.their_messages.push((message_id.0, message.data));
                }
                gossipsub::Event::Subscribed { peer_id, topic }
                    if peer_id == our_peer && topic == self.their_topic.hash() =>
                {
                    seen.their_saw_subscription = true;
                }
                gossipsub::Event::SlowPeer {
                    failed_messages, ..
                } => seen
                    .their_failures
                    .push(format!("gossipsub slow peer: {failed_messages:?}")),
                _ => {}
            },
            SwarmEvent::Behaviour(TheirsEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                assert_eq!(peer_id, our_peer);
                seen.their_identified = Some(info);
            }
            SwarmEvent::Behaviour(TheirsEvent::Identify(identify::Event::Pushed { .. })) => {
                seen.their_pushes += 1
            }
            SwarmEvent::Behaviour(TheirsEvent::Identify(identify::Event::Error {
                error, ..
            })) => seen.their_failures.push(format!("identify: {error}")),
            SwarmEvent::Behaviour(TheirsEvent::Ping(ping::Event { peer, result, .. })) => {
                assert_eq!(peer, our_peer);
                match result {
                    Ok(rtt) => {
                        assert!(rtt > Duration::ZERO);
                        seen.their_pings += 1;
                    }
                    Err(e) => seen.their_ping_failures.push(e.to_string()),
                }
            }
            SwarmEvent::Behaviour(TheirsEvent::Status(event)) => {
                self.on_their_reqresp(Lean::Status, event)
            }
            SwarmEvent::Behaviour(TheirsEvent::ByRoot(event)) => {
                self.on_their_reqresp(Lean::ByRoot, event)
            }
            SwarmEvent::Behaviour(TheirsEvent::ByRange(event)) => {
                self.on_their_reqresp(Lean::ByRange, event)
            }
            SwarmEvent::Behaviour(TheirsEvent::ByRootLegacy(event)) => {
                self.on_their_reqresp(Lean::ByRootLegacy, event)
            }
            _ => {}
        }
    }

    /// Records their req/resp events and answers requests at once.
    fn on_their_reqresp(&mut self, which: Lean, event: rr::Event<Vec<u8>, Vec<Chunk>>) {
        match event {
            rr::Event::Message {
                message:
                    rr::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let response = match lean_response(which.protocol(), &request, their_status()) {
                    Ok(chunks) => chunks.into_iter().map(|c| (0u8, c)).collect(),
                    Err(reason) => vec![(1u8, reason.into_bytes())],
                };
                self.seen.their_requests.push((which, request));
                if self
                    .swarm
                    .behaviour_mut()
                    .reqresp(which)
                    .send_response(channel, response)
                    .is_err()
                {
                    self.seen
                        .their_failures
                        .push(format!("{which:?}: response channel closed"));
                }
            }
            rr::Event::Message {
                message:
                    rr::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                self.seen
                    .their_responses
                    .insert((which, request_id), response);
            }
            rr::Event::OutboundFailure { error, .. } => self
                .seen
                .their_failures
                .push(format!("{which:?} outbound: {error}")),
            rr::Event::InboundFailure { error, .. } => self
                .seen
                .their_failures
                .push(format!("{which:?} inbound: {error}")),
            rr::Event::ResponseSent { .. } => {}
        }
    }
}

/// A progress note on stderr (shown for failing tests only).
fn tracing_note(note: &str) {
    eprintln!("[node interop] {note}");
}
