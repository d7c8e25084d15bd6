//! The simulator: nodes, the in-flight datagram queue, the virtual clock and the trace.
//! Discovery v5 per node lives in `sim/src/sim/discovery.rs`.

mod discovery;
mod trace;

pub use discovery::{SimDiscoveryConfig, SimDiscoveryStats, DISCOVERY_PORT, MAX_FED_RECORDS};

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use leanp2p_host::{
    Config, ConfigError, ConnId, DialError, ListenError, MessageId, Node, NodeEvent, PeerId,
    PublishError, SubscriptionError, TopicHash, Transmit, Validation,
};
use leanp2p_identity::Keypair;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

pub(crate) use crate::in_flight::Socket;
use crate::in_flight::{InFlight, InFlightQueue};
use crate::link::{Direction, Fate, LinkConfig};
use trace::EventRecord;

/// UDP port every simulated node listens on (each node has its own virtual IP).
pub const SIM_PORT: u16 = 9000;

/// Steps allowed without the virtual clock moving before [`Sim::run_until`] reports a
/// [`Livelock`] (a node whose deadline never moves past `now`).
pub const DEFAULT_MAX_STEPS_PER_INSTANT: u64 = 1_000_000;

/// Index of a node in a [`Sim`], in the order of [`Sim::add_node`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIdx(pub usize);

impl fmt::Display for NodeIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// The simulation did not settle: too many steps in total, or without time advancing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("livelock: {steps} steps without settling, virtual time {at:?}")]
pub struct Livelock {
    /// Steps taken by the failing call.
    pub steps: u64,
    /// Virtual time since the epoch when it gave up.
    pub at: Duration,
}

/// Errors of the [`Sim`] commands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The node is crashed ([`Sim::crash`]); [`Sim::restart`] it first.
    #[error("node {0} is crashed")]
    Crashed(NodeIdx),
    /// The node is already running.
    #[error("node {0} is running")]
    Running(NodeIdx),
    /// No such node.
    #[error("no node {0}")]
    UnknownNode(NodeIdx),
    /// Too many nodes for the virtual address plan (10.0.0.1 … 10.0.255.255).
    #[error("address space exhausted")]
    TooManyNodes,
    /// The seeded RNG did not yield a valid secp256k1 key (practically impossible).
    #[error("could not derive a node key")]
    Key,
    /// The node rejected its configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Discovery is already on for the node ([`Sim::enable_discovery`]).
    #[error("discovery is already enabled on node {0}")]
    DiscoveryEnabled(NodeIdx),
    /// Discovery is off for the node ([`Sim::enable_discovery`] first).
    #[error("discovery is not enabled on node {0}")]
    DiscoveryDisabled(NodeIdx),
    /// [`SimDiscoveryConfig::lookup_interval`] is zero (lookups would never let the
    /// clock move).
    #[error("discovery lookup interval must be positive")]
    ZeroLookupInterval,
    /// The node's discovery record could not be built.
    #[error(transparent)]
    Enr(#[from] leanp2p_identity::EnrError),
    /// The discovery machine refused its record or a bootnode record.
    #[error(transparent)]
    Discovery(#[from] leanp2p_discv5::CommandError),
    /// The node refused its listen address.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// A dial was refused.
    #[error(transparent)]
    Dial(#[from] DialError),
    /// A publish was refused.
    #[error(transparent)]
    Publish(#[from] PublishError),
    /// A subscription change was refused.
    #[error(transparent)]
    Subscription(#[from] SubscriptionError),
}

/// Counters of what the network did with datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimStats {
    /// Steps taken.
    pub steps: u64,
    /// Datagrams handed to a node.
    pub delivered: u64,
    /// Datagram bytes handed to a node.
    pub delivered_bytes: u64,
    /// Datagrams dropped by random loss.
    pub lost: u64,
    /// Datagrams dropped for exceeding the link MTU.
    pub too_big: u64,
    /// Datagrams dropped by a full link queue ([`LinkConfig::queue_bytes`]).
    pub queue_full: u64,
    /// Datagrams dropped by a partition.
    pub partitioned: u64,
    /// Datagrams to an address no node has, or to a crashed node.
    pub undeliverable: u64,
    /// Timeouts handled.
    pub timeouts: u64,
    /// Datagrams delivered after a later-sent datagram of the same direction (jitter).
    pub reordered: u64,
    /// Of [`SimStats::delivered`], datagrams handed to a discovery machine.
    pub discovery_delivered: u64,
}

struct SimNode {
    /// Boxed: the drain takes the node out of its slot and puts it back, which moves
    /// only the pointer (a `Node` is several KiB).
    node: Option<Box<Node>>,
    key: Keypair,
    config: Config,
    addr: SocketAddr,
    peer_id: PeerId,
    events: Vec<NodeEvent>,
    /// The schedule's deadline: the earlier of `node_deadline` and discovery's.
    deadline: Option<Instant>,
    /// The node's own `poll_timeout` after its last drain.
    node_deadline: Option<Instant>,
    auto_validate: bool,
    dirty: bool,
    /// Discovery v5, if [`Sim::enable_discovery`] turned it on.
    discovery: Option<discovery::NodeDiscovery>,
    /// Highest sequence number delivered to this node per sending node, to count
    /// reordering (at most one entry per node that ever sent to it).
    last_seq_from: BTreeMap<usize, u64>,
}

/// A deterministic network of [`Node`]s on a virtual clock. See the crate docs.
pub struct Sim {
    seed: u64,
    epoch: Instant,
    now: Instant,
    nodes: Vec<SimNode>,
    /// Every bound socket: QUIC ones from [`Sim::add_node`], discovery ones from
    /// [`Sim::enable_discovery`].
    by_addr: BTreeMap<SocketAddr, (usize, Socket)>,
    /// Discovery node IDs of the nodes with discovery on, to name discovered records.
    by_node_id: BTreeMap<leanp2p_discv5::NodeId, usize>,
    default_link: LinkConfig,
    links: BTreeMap<(usize, usize), LinkConfig>,
    /// Serialization state per direction `(from, to)`, kept only for datagrams sent on
    /// a bandwidth-limited link (no other link reads or changes it).
    directions: BTreeMap<(usize, usize), Direction>,
    blocked: BTreeSet<(usize, usize)>,
    in_flight: InFlightQueue,
    /// Nodes whose deadline is at or before `now`, by index (all tie at `now`).
    due: BTreeSet<usize>,
    /// Deadlines after `now`, as `(deadline, node)`. Together with `due` this holds every
    /// `SimNode::deadline` exactly once; [`Sim::advance_clock`] moves entries over.
    timers: BTreeSet<(Instant, usize)>,
    /// Nodes marked dirty by [`Sim::node_mut`] (may repeat or be stale; the per-node
    /// flag decides).
    dirty: Vec<usize>,
    seq: u64,
    key_rng: ChaCha20Rng,
    link_rng: ChaCha20Rng,
    buf: Vec<u8>,
    trace: Sha256,
    trace_len: u64,
    stats: SimStats,
    max_steps_per_instant: u64,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("elapsed", &self.elapsed())
            .field("nodes", &self.nodes.len())
            .field("in_flight", &self.in_flight.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A simulation seeded with `seed`. The virtual epoch is one `Instant::now()` read
    /// here; nothing depends on its value (the trace records offsets from it).
    pub fn new(seed: u64) -> Self {
        Self::with_epoch(seed, Instant::now())
    }

    /// A simulation seeded with `seed` whose virtual clock starts at `epoch`.
    pub fn with_epoch(seed: u64, epoch: Instant) -> Self {
        let key_rng = ChaCha20Rng::seed_from_u64(seed);
        let mut link_rng = ChaCha20Rng::seed_from_u64(seed);
        link_rng.set_stream(1);
        Self {
            seed,
            epoch,
            now: epoch,
            nodes: Vec::new(),
            by_addr: BTreeMap::new(),
            by_node_id: BTreeMap::new(),
            default_link: LinkConfig::default(),
            links: BTreeMap::new(),
            directions: BTreeMap::new(),
            blocked: BTreeSet::new(),
            in_flight: InFlightQueue::default(),
            due: BTreeSet::new(),
            timers: BTreeSet::new(),
            dirty: Vec::new(),
            seq: 0,
            key_rng,
            link_rng,
            buf: Vec::with_capacity(64 * 1024),
            trace: Sha256::new(),
            trace_len: 0,
            stats: SimStats::default(),
            max_steps_per_instant: DEFAULT_MAX_STEPS_PER_INSTANT,
        }
    }

    // ----- topology ------------------------------------------------------------------

    /// Adds a node with `config`, a key and a node seed drawn from the simulation seed,
    /// listening on its virtual address ([`Sim::addr`]: `10.0.x.y:9000`).
    pub fn add_node(&mut self, config: Config) -> Result<NodeIdx, SimError> {
        let idx = self.nodes.len();
        let n = u16::try_from(idx + 1).map_err(|_| SimError::TooManyNodes)?;
        let [hi, lo] = n.to_be_bytes();
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, hi, lo)), SIM_PORT);
        let key = self.derive_key()?;
        let node = self.build_node(&key, config.clone(), addr)?;
        self.nodes.push(SimNode {
            peer_id: key.peer_id(),
            node: Some(node),
            key,
            config,
            addr,
            events: Vec::new(),
            deadline: None,
            node_deadline: None,
            auto_validate: true,
            dirty: false,
            discovery: None,
            last_seq_from: BTreeMap::new(),
        });
        self.by_addr.insert(addr, (idx, Socket::Quic));
        self.drain(idx);
        Ok(NodeIdx(idx))
    }

    fn derive_key(&mut self) -> Result<Keypair, SimError> {
        for _ in 0..16 {
            let mut secret = [0u8; 32];
            self.key_rng.fill_bytes(&mut secret);
            if let Ok(key) = Keypair::from_secret_bytes(&secret) {
                return Ok(key);
            }
        }
        Err(SimError::Key)
    }

    fn build_node(
        &mut self,
        key: &Keypair,
        config: Config,
        addr: SocketAddr,
    ) -> Result<Box<Node>, SimError> {
        let mut seed = [0u8; 32];
        self.key_rng.fill_bytes(&mut seed);
        let mut node = Box::new(Node::new(self.now, config, key, seed)?);
        node.listen(self.now, addr)?;
        Ok(node)
    }

    /// Sets the link between `a` and `b` (both directions; each direction has its own
    /// bandwidth queue).
    pub fn link(&mut self, a: NodeIdx, b: NodeIdx, config: LinkConfig) {
        self.links.insert(pair(a.0, b.0), config);
    }

    /// Sets the link used between nodes without their own [`Sim::link`].
    pub fn set_default_link(&mut self, config: LinkConfig) {
        self.default_link = config;
    }

    /// Drops every datagram sent from a node of `a` to a node of `b` or back, until
    /// [`Sim::heal`]. Datagrams already in flight still arrive.
    pub fn partition(&mut self, a: &[NodeIdx], b: &[NodeIdx]) {
        for x in a {
            for y in b {
                self.blocked.insert((x.0, y.0));
                self.blocked.insert((y.0, x.0));
            }
        }
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.blocked.clear();
    }

    /// Stops node `idx` abruptly: its state is discarded, it sends nothing, and datagrams
    /// to it are dropped. Its events so far are kept.
    pub fn crash(&mut self, idx: NodeIdx) -> Result<(), SimError> {
        let entry = self
            .nodes
            .get_mut(idx.0)
            .ok_or(SimError::UnknownNode(idx))?;
        if entry.node.take().is_none() {
            return Err(SimError::Crashed(idx));
        }
        entry.node_deadline = None;
        if let Some(discovery) = entry.discovery.as_mut() {
            discovery.stop();
        }
        self.set_deadline(idx.0, None);
        self.record(idx.0, "crash");
        Ok(())
    }

    /// Starts a crashed node again: a fresh [`Node`] with the same key, configuration
    /// and address and a new seed, listening but with no connections, subscriptions or
    /// known peers (the caller re-issues those, as a restarted client would). A node with
    /// discovery gets a fresh discovery machine too (same record and configuration,
    /// bootnodes added again, a new seed).
    pub fn restart(&mut self, idx: NodeIdx) -> Result<(), SimError> {
        let entry = self.nodes.get(idx.0).ok_or(SimError::UnknownNode(idx))?;
        if entry.node.is_some() {
            return Err(SimError::Running(idx));
        }
        let (key, config, addr) = (entry.key.clone(), entry.config.clone(), entry.addr);
        let node = self.build_node(&key, config, addr)?;
        self.nodes[idx.0].node = Some(node);
        self.record(idx.0, "restart");
        self.drain(idx.0);
        self.restart_discovery(idx.0)?;
        Ok(())
    }

    /// Whether node `idx` accepts every gossip message it receives itself (default
    /// `true`). With `false` the test must call `report_validation` through
    /// [`Sim::with_node`].
    pub fn set_auto_validate(&mut self, idx: NodeIdx, on: bool) {
        if let Some(entry) = self.nodes.get_mut(idx.0) {
            entry.auto_validate = on;
        }
    }

    /// Steps allowed without the clock advancing before a [`Livelock`] (default
    /// [`DEFAULT_MAX_STEPS_PER_INSTANT`]).
    pub fn set_max_steps_per_instant(&mut self, steps: u64) {
        self.max_steps_per_instant = steps.max(1);
    }

    // ----- accessors -----------------------------------------------------------------

    /// Number of nodes ever added (crashed ones included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node was added yet.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every node index.
    pub fn indices(&self) -> impl Iterator<Item = NodeIdx> {
        (0..self.nodes.len()).map(NodeIdx)
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since the epoch.
    pub fn elapsed(&self) -> Duration {
        self.now - self.epoch
    }

    /// The virtual epoch (time zero).
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The node's PeerId (stable across restarts). Panics on an unknown index.
    pub fn peer_id(&self, idx: NodeIdx) -> PeerId {
        self.nodes[idx.0].peer_id
    }

    /// The node's virtual address. Panics on an unknown index.
    pub fn addr(&self, idx: NodeIdx) -> SocketAddr {
        self.nodes[idx.0].addr
    }

    /// The node with `peer_id`, if any.
    pub fn idx_of(&self, peer_id: &PeerId) -> Option<NodeIdx> {
        self.nodes
            .iter()
            .position(|n| n.peer_id == *peer_id)
            .map(NodeIdx)
    }

    /// Whether node `idx` is running (not crashed).
    pub fn is_up(&self, idx: NodeIdx) -> bool {
        self.nodes.get(idx.0).is_some_and(|n| n.node.is_some())
    }

    /// The node, or `None` while crashed or unknown.
    pub fn node(&self, idx: NodeIdx) -> Option<&Node> {
        self.nodes.get(idx.0)?.node.as_deref()
    }

    /// The node for commands, or `None` while crashed or unknown. The sim drains the
    /// node at the start of the next step; [`Sim::with_node`] drains at once.
    pub fn node_mut(&mut self, idx: NodeIdx) -> Option<&mut Node> {
        let entry = self.nodes.get_mut(idx.0)?;
        if !entry.dirty {
            entry.dirty = true;
            self.dirty.push(idx.0);
        }
        entry.node.as_deref_mut()
    }

    /// Runs `f(node, now)` and then drains the node (the drain rule).
    pub fn with_node<R>(
        &mut self,
        idx: NodeIdx,
        f: impl FnOnce(&mut Node, Instant) -> R,
    ) -> Result<R, SimError> {
        let now = self.now;
        let entry = self
            .nodes
            .get_mut(idx.0)
            .ok_or(SimError::UnknownNode(idx))?;
        let node = entry.node.as_mut().ok_or(SimError::Crashed(idx))?;
        let result = f(node, now);
        self.drain(idx.0);
        Ok(result)
    }

    /// Every event node `idx` emitted (across restarts), oldest first.
    pub fn events(&self, idx: NodeIdx) -> &[NodeEvent] {
        self.nodes.get(idx.0).map_or(&[], |n| &n.events)
    }

    /// Takes node `idx`'s collected events.
    pub fn drain_events(&mut self, idx: NodeIdx) -> Vec<NodeEvent> {
        self.nodes
            .get_mut(idx.0)
            .map(|n| std::mem::take(&mut n.events))
            .unwrap_or_default()
    }

    /// Datagram counters.
    pub fn stats(&self) -> SimStats {
        self.stats
    }

    /// Datagrams in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// SHA-256 over every trace record so far: `(virtual nanoseconds since the epoch,
    /// node index, Debug string of the event)`, plus crash and restart marks. The same
    /// seed and the same commands give the same hash.
    pub fn trace_hash(&self) -> [u8; 32] {
        self.trace.clone().finalize().into()
    }

    /// Number of trace records so far.
    pub fn trace_len(&self) -> u64 {
        self.trace_len
    }

    // ----- commands ------------------------------------------------------------------

    /// Node `from` dials node `to` (expecting its PeerId).
    pub fn dial(&mut self, from: NodeIdx, to: NodeIdx) -> Result<ConnId, SimError> {
        let (addr, peer) = (self.addr(to), self.peer_id(to));
        Ok(self.with_node(from, |node, now| node.dial(now, addr, Some(peer)))??)
    }

    /// Node `idx` subscribes to `topic`; `false` if it already was.
    pub fn subscribe(&mut self, idx: NodeIdx, topic: &TopicHash) -> Result<bool, SimError> {
        Ok(self.with_node(idx, |node, now| node.subscribe(now, topic))??)
    }

    /// Node `idx` publishes `data` on `topic`.
    pub fn publish(
        &mut self,
        idx: NodeIdx,
        topic: &TopicHash,
        data: Bytes,
    ) -> Result<MessageId, SimError> {
        Ok(self.with_node(idx, |node, now| node.publish(now, topic, data))??)
    }

    // ----- driving -------------------------------------------------------------------

    /// Drains node `i` by the drain rule: transmits onto the network, then events into
    /// its log (auto-validating messages, which is a command, so transmits are drained
    /// again before the next event), then reads its next deadline.
    fn drain(&mut self, i: usize) {
        self.nodes[i].dirty = false;
        // Taken out for the duration, so routing can borrow the rest of the sim.
        let Some(mut node) = self.nodes[i].node.take() else {
            self.nodes[i].node_deadline = None;
            self.update_deadline(i);
            return;
        };
        let now = self.now;
        let mut buf = std::mem::take(&mut self.buf);
        'outer: loop {
            while let Some(transmit) = node.poll_transmit(now, &mut buf) {
                let size = transmit.size.min(buf.len());
                self.route(i, transmit, &buf[..size]);
            }
            while let Some(event) = node.poll_event() {
                self.record_event(i, &event);
                let validate = match &event {
                    NodeEvent::Message {
                        id,
                        propagation_source,
                        ..
                    } if self.nodes[i].auto_validate => Some((id.clone(), *propagation_source)),
                    _ => None,
                };
                self.nodes[i].events.push(event);
                if let Some((id, source)) = validate {
                    // The router may have dropped the message from its cache meanwhile;
                    // its answer changes nothing for the simulation.
                    let _ = node.report_validation(now, &id, source, Validation::Accept);
                    continue 'outer;
                }
            }
            break;
        }
        self.buf = buf;
        self.nodes[i].node_deadline = node.poll_timeout();
        self.nodes[i].node = Some(node);
        self.update_deadline(i);
    }

    /// Sets node `i`'s schedule deadline to the earlier of its node's and its discovery
    /// machine's.
    fn update_deadline(&mut self, i: usize) {
        let entry = &self.nodes[i];
        let discovery = entry.discovery.as_ref().and_then(|d| d.deadline());
        let deadline = match (entry.node_deadline, discovery) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.set_deadline(i, deadline);
    }

    /// Drains the nodes marked dirty by [`Sim::node_mut`], in index order.
    fn drain_dirty(&mut self) {
        if self.dirty.is_empty() {
            return;
        }
        let mut list = std::mem::take(&mut self.dirty);
        list.sort_unstable();
        for &i in &list {
            if self.nodes[i].dirty {
                self.drain(i);
            }
        }
        // Draining marks nothing dirty; keep the allocation (and anything added anyway).
        list.clear();
        list.append(&mut self.dirty);
        self.dirty = list;
    }

    /// Sets node `i`'s deadline and moves its schedule entry (`due` or `timers`).
    fn set_deadline(&mut self, i: usize, deadline: Option<Instant>) {
        let old = std::mem::replace(&mut self.nodes[i].deadline, deadline);
        if old == deadline {
            return;
        }
        if let Some(at) = old {
            if at <= self.now {
                self.due.remove(&i);
            } else {
                self.timers.remove(&(at, i));
            }
        }
        if let Some(at) = deadline {
            if at <= self.now {
                self.due.insert(i);
            } else {
                self.timers.insert((at, i));
            }
        }
    }

    /// Moves the clock forward to `to` (never back) and every deadline it reached from
    /// `timers` to `due`.
    fn advance_clock(&mut self, to: Instant) {
        if to <= self.now {
            return;
        }
        self.now = to;
        while let Some(&(at, i)) = self.timers.first() {
            if at > to {
                break;
            }
            self.timers.pop_first();
            self.due.insert(i);
        }
    }

    /// Puts one transmit (possibly a GSO batch) from node `from`'s QUIC socket onto the
    /// network.
    fn route(&mut self, from: usize, transmit: Transmit, bytes: &[u8]) {
        let segment = transmit.segment_size.unwrap_or(bytes.len()).max(1);
        let source = self.nodes[from].addr;
        self.route_datagrams(from, source, transmit.destination, segment, bytes);
    }

    /// Puts `bytes`, cut into `segment`-byte datagrams, from node `from`'s socket
    /// `source` onto the link towards `destination` (latency, loss, partitions).
    fn route_datagrams(
        &mut self,
        from: usize,
        source: SocketAddr,
        destination: SocketAddr,
        segment: usize,
        bytes: &[u8],
    ) {
        let Some((to, socket)) = self.socket_at(destination) else {
            self.stats.undeliverable += 1;
            return;
        };
        let config = *self
            .links
            .get(&pair(from, to))
            .unwrap_or(&self.default_link);
        // Only a bandwidth-limited link reads or changes its direction's state; the
        // others share a scratch state that stays empty.
        let mut unlimited = Direction::default();
        for chunk in bytes.chunks(segment.max(1)) {
            if self.blocked.contains(&(from, to)) {
                self.stats.partitioned += 1;
                continue;
            }
            let direction = if config.bandwidth_bytes_per_sec.is_some() {
                self.directions.entry((from, to)).or_default()
            } else {
                &mut unlimited
            };
            match direction.send(&config, self.now, chunk.len(), &mut self.link_rng) {
                Fate::Arrive(at) => {
                    self.seq += 1;
                    self.in_flight.push(InFlight {
                        at,
                        seq: self.seq,
                        from: source,
                        from_idx: from,
                        to,
                        socket,
                        data: BytesMut::from(chunk),
                    });
                }
                Fate::Lost => self.stats.lost += 1,
                Fate::TooBig => self.stats.too_big += 1,
                Fate::QueueFull => self.stats.queue_full += 1,
            }
        }
    }

    /// The node and socket bound at `addr`. A QUIC address is found from the address
    /// plan (`10.0.x.y:`[`SIM_PORT`] is node `(x << 8 | y) - 1`) without a search;
    /// anything else through the `by_addr` map.
    fn socket_at(&self, addr: SocketAddr) -> Option<(usize, Socket)> {
        if let (IpAddr::V4(ip), SIM_PORT) = (addr.ip(), addr.port()) {
            let [a, b, hi, lo] = ip.octets();
            let n = usize::from(u16::from_be_bytes([hi, lo]));
            let planned = (a, b) == (10, 0) && n >= 1;
            if planned && self.nodes.get(n - 1).is_some_and(|node| node.addr == addr) {
                return Some((n - 1, Socket::Quic));
            }
        }
        self.by_addr.get(&addr).copied()
    }

    /// Adds `(offset, node, Debug of event)` to the trace, formatting straight into the
    /// hasher (no string is built; message payloads are escaped a chunk at a time, see
    /// [`EventRecord`]).
    fn record_event(&mut self, node: usize, event: &NodeEvent) {
        self.record_header(node);
        let mut sink = HashSink(&mut self.trace);
        // Writing into a hasher cannot fail; a Debug impl returning an error would only
        // shorten this record, the same way in every run.
        let _ = write!(sink, "{:?}", EventRecord(event));
        self.trace.update([0xff]);
    }

    /// Adds a `(offset, node, mark)` record (crash, restart).
    fn record(&mut self, node: usize, mark: &str) {
        self.record_header(node);
        self.trace.update(mark.as_bytes());
        // 0xff never occurs in UTF-8: it ends the record unambiguously.
        self.trace.update([0xff]);
    }

    fn record_header(&mut self, node: usize) {
        let offset = (self.now - self.epoch).as_nanos();
        self.trace.update(offset.to_le_bytes());
        self.trace.update((node as u64).to_le_bytes());
        self.trace_len += 1;
    }

    /// The earliest pending work: a datagram arrival or a node deadline (ties go to
    /// the datagram, then to the lower node index). Deadlines at or before `now` count
    /// as `now`, so among those the lowest index goes first.
    fn next_work(&self) -> Option<(Instant, Option<usize>)> {
        let arrival = self.in_flight.next_arrival().map(|at| (at, None));
        let deadline = match self.due.first() {
            Some(&i) => Some((self.now, Some(i))),
            None => self.timers.first().map(|&(at, i)| (at, Some(i))),
        };
        match (arrival, deadline) {
            (Some(a), Some(d)) => Some(if d.0 < a.0 { d } else { a }),
            (a, d) => a.or(d),
        }
    }

    /// When the next step would happen, if anything is pending.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.next_work().map(|(at, _)| at.max(self.now))
    }

    /// Drains nodes changed through [`Sim::node_mut`], then advances the clock to the
    /// earliest datagram arrival or node deadline and handles exactly that one (then
    /// drains the node). Returns `false` if nothing is pending.
    pub fn step(&mut self) -> bool {
        self.drain_dirty();
        match self.next_work() {
            Some(work) => self.handle_work(work),
            None => false,
        }
    }

    /// Advances the clock to `at` and handles the arrival (`who == None`) or the
    /// node's timeout, as chosen by [`Sim::next_work`].
    fn handle_work(&mut self, (at, who): (Instant, Option<usize>)) -> bool {
        self.advance_clock(at);
        self.stats.steps += 1;
        let now = self.now;
        match who {
            None => {
                let Some(datagram) = self.in_flight.pop() else {
                    return false;
                };
                let to = datagram.to;
                if datagram.socket == Socket::Discovery {
                    if !self.deliver_discovery(to, datagram.from, &datagram.data) {
                        self.stats.undeliverable += 1;
                        return true;
                    }
                    self.count_delivery(&datagram);
                    self.stats.discovery_delivered += 1;
                    return true;
                }
                if self.nodes[to].node.is_none() {
                    self.stats.undeliverable += 1;
                    return true;
                }
                self.count_delivery(&datagram);
                let Some(node) = self.nodes[to].node.as_mut() else {
                    return true;
                };
                // The datagram's buffer goes to QUIC as is (decrypted in place, stream
                // data kept as slices of it): no copy on delivery.
                node.handle_datagram_owned(now, datagram.from, None, None, datagram.data);
                self.drain(to);
            }
            Some(i) => {
                self.stats.timeouts += 1;
                let entry = &self.nodes[i];
                let node_due =
                    entry.discovery.is_none() || entry.node_deadline.is_some_and(|at| at <= now);
                if node_due {
                    if let Some(node) = self.nodes[i].node.as_mut() {
                        node.handle_timeout(now);
                    }
                    self.drain(i);
                }
                self.discovery_timeout(i);
            }
        }
        true
    }

    /// Counts a datagram handed to a node's socket (and whether it overtook another).
    fn count_delivery(&mut self, datagram: &InFlight) {
        self.stats.delivered += 1;
        let last = self.nodes[datagram.to]
            .last_seq_from
            .entry(datagram.from_idx)
            .or_insert(0);
        if datagram.seq < *last {
            self.stats.reordered += 1;
        } else {
            *last = datagram.seq;
        }
        self.stats.delivered_bytes += datagram.data.len() as u64;
    }

    /// Steps until virtual time `at` (since the epoch), then sets the clock to it.
    pub fn run_until(&mut self, at: Duration) -> Result<(), Livelock> {
        let end = self.epoch + at;
        self.run_while(end, u64::MAX, |_| true).map(|_| ())?;
        self.advance_clock(end);
        Ok(())
    }

    /// Steps for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> Result<(), Livelock> {
        self.run_until(self.elapsed() + d)
    }

    /// Steps until `done(self)` holds (`Ok(true)`) or virtual time passes `elapsed() +
    /// limit` (`Ok(false)`).
    pub fn run_until_condition(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Sim) -> bool,
    ) -> Result<bool, Livelock> {
        let end = self.now + limit;
        if done(self) {
            return Ok(true);
        }
        let finished = self.run_while(end, u64::MAX, |sim| !done(sim))?;
        Ok(!finished || done(self))
    }

    /// Steps until no datagram is in flight and no node is due at the current instant
    /// (timers may still be set in the future: gossipsub heartbeats, ack delays), or
    /// fails after `max_steps`.
    pub fn run_until_idle(&mut self, max_steps: u64) -> Result<(), Livelock> {
        let mut steps = 0;
        loop {
            self.drain_dirty();
            let idle = self.in_flight.is_empty() && self.due.is_empty();
            if idle {
                return Ok(());
            }
            if steps >= max_steps {
                return Err(Livelock {
                    steps,
                    at: self.elapsed(),
                });
            }
            self.step();
            steps += 1;
        }
    }

    /// Steps while `keep_going(self)` holds and the next work is due at or before
    /// `end`. Returns `true` if it stopped because of time (or nothing pending),
    /// `false` if `keep_going` turned false.
    fn run_while(
        &mut self,
        end: Instant,
        max_steps: u64,
        mut keep_going: impl FnMut(&Sim) -> bool,
    ) -> Result<bool, Livelock> {
        let mut steps = 0u64;
        let mut same_instant = 0u64;
        loop {
            if !keep_going(self) {
                return Ok(false);
            }
            self.drain_dirty();
            let work = match self.next_work() {
                Some(work) if work.0.max(self.now) <= end => work,
                _ => return Ok(true),
            };
            let before = self.now;
            self.handle_work(work);
            steps += 1;
            same_instant = if self.now == before {
                same_instant + 1
            } else {
                0
            };
            if steps >= max_steps || same_instant >= self.max_steps_per_instant {
                return Err(Livelock {
                    steps,
                    at: self.elapsed(),
                });
            }
        }
    }
}

/// Feeds formatted text into the trace hasher.
struct HashSink<'a>(&'a mut Sha256);

impl fmt::Write for HashSink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

fn pair(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}
