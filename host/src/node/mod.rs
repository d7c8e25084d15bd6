//! The [`Node`]: one QUIC endpoint, the gossipsub router, the req/resp machine, and the
//! per-connection stream tables that join them.

mod app;
mod conn_manager;
pub(crate) mod diagnostics;
mod events;
mod gossip;
mod identify;
mod peer_target;
mod ping;
mod reqresp;
mod routing;
mod timers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use leanp2p_gossipsub::{
    Gossipsub, MessageId, PublishError, SubscriptionError, TopicHash, Validation, ValidationError,
};
use leanp2p_identity::{Keypair, Multiaddr, PeerId, PublicKey};
use leanp2p_multistream::{ProtocolId, ProtocolSet, Version};
use leanp2p_quic::{ConnId, Datagram, Ecn, Endpoint, StreamId, Transmit};
use leanp2p_reqresp::{
    ChannelId, ReqResp, RequestError, RequestId, RespondError, ResponseChunk, StreamKey,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::config::Config;
use crate::connection::Connections;
use crate::error::{ConfigError, DialError, DisconnectError, ListenError};
use crate::event::{DisconnectReason, NodeEvent};
use crate::identify::PeerInfo;
use crate::pacer::Pacer;
use crate::stats::{Counters, Stats};
use crate::timer::{TimeoutReason, TimerTable};

/// `/ipfs/id/1.0.0`.
pub const IDENTIFY_PROTOCOL: &str = "/ipfs/id/1.0.0";
/// `/ipfs/id/push/1.0.0`.
pub const IDENTIFY_PUSH_PROTOCOL: &str = "/ipfs/id/push/1.0.0";
/// `/ipfs/ping/1.0.0`.
pub const PING_PROTOCOL: &str = "/ipfs/ping/1.0.0";

/// What the node knows about one connected peer.
#[derive(Debug, Default)]
pub(crate) struct Peer {
    /// Established connections.
    pub(crate) conns: BTreeSet<ConnId>,
    /// The connection gossip runs on.
    pub(crate) gossip_conn: Option<ConnId>,
    /// Registered with the router (our `/meshsub` stream is negotiated).
    pub(crate) gossip_registered: bool,
    /// We gave up on our `/meshsub` stream to the peer (it failed
    /// [`crate::Limits::max_gossip_stream_attempts`] times): its inbound gossip frames are
    /// dropped and counted instead of waiting for a registration that will not come.
    pub(crate) gossip_given_up: bool,
    /// Inbound gossip frames received before registration.
    pub(crate) early_frames: VecDeque<Bytes>,
    /// Their bytes.
    pub(crate) early_bytes: usize,
    /// Latest identify information.
    pub(crate) info: Option<PeerInfo>,
}

/// The composed libp2p node. See the crate docs for the drain rule.
pub struct Node {
    local_peer: PeerId,
    public_key: PublicKey,
    config: Config,
    endpoint: Endpoint,
    gossip: Gossipsub,
    reqresp: ReqResp,
    conns: Connections,
    peers: BTreeMap<PeerId, Peer>,
    /// Dials in progress: address and expected peer.
    dials: BTreeMap<ConnId, (SocketAddr, Option<PeerId>)>,
    /// Req/resp stream keys and where they live.
    rr_streams: BTreeMap<StreamKey, (ConnId, StreamId)>,
    /// Streams with unread data left after their read budget.
    readable: BTreeSet<(ConnId, StreamId)>,
    listen_addrs: Vec<SocketAddr>,
    /// Every protocol we accept inbound, for the multistream listener.
    listener_protocols: ProtocolSet,
    ms_v1: leanp2p_multistream::Config,
    ms_lazy: leanp2p_multistream::Config,
    /// Events for the application, budgeted per peer (see [`events`]).
    events: events::EventQueue,
    /// Readable streams set aside while their peer's events are over budget, by peer.
    parked: BTreeMap<PeerId, BTreeSet<(ConnId, StreamId)>>,
    pacer: Box<dyn Pacer>,
    pacing_until: Option<Instant>,
    rng: ChaCha20Rng,
    counters: Counters,
    last_now: Option<Instant>,
    /// Req/resp opens waiting for the connection's stream limit: (connection, request,
    /// protocols to offer). Bounded by [`crate::Limits::max_blocked_opens`].
    blocked_opens: VecDeque<(ConnId, RequestId, Vec<ProtocolId>)>,
    /// Registered application protocols.
    app_protocols: Vec<ProtocolId>,
    /// Peers we keep an outbound connection to.
    known: crate::conn_manager::KnownPeers,
    /// Dialable addresses for the peer target.
    book: crate::peer_target::AddressBook,
    /// Gossip overflow episodes the router reported (`SlowPeer`), by start, for the
    /// slow-peer disconnect. Bounded by the connected peers.
    slow_peers: BTreeMap<PeerId, Instant>,
    /// Node-level deadlines (see [`crate::timer`]).
    timers: TimerTable,
    /// Known peers, the address book, connected peers or a gossip overflow episode
    /// changed: the node-wide deadlines are recomputed at the next settle.
    node_timers_changed: bool,
    /// A peer score may have crossed the graylist threshold outside a gossipsub timer
    /// (application score, validation verdict): check at the next `handle_timeout`.
    graylist_check: bool,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("local_peer", &self.local_peer)
            .field("connections", &self.conns.len())
            .field("peers", &self.peers.len())
            .field("queued_events", &self.events.len())
            .finish_non_exhaustive()
    }
}

fn protocol_id(s: &str) -> Result<ProtocolId, ConfigError> {
    ProtocolId::new(s).map_err(|_| ConfigError::InvalidProtocolId(s.to_string()))
}

impl Node {
    /// Creates a node with host key `keypair`. Every random choice (QUIC connection IDs,
    /// gossipsub peer sampling, ping payloads, redial jitter) derives from `seed`. `now`
    /// starts the gossipsub heartbeat clock.
    pub fn new(
        now: Instant,
        config: Config,
        keypair: &Keypair,
        seed: [u8; 32],
    ) -> Result<Self, ConfigError> {
        let mut config = config;
        config.gossipsub.idle_keepalive = config.gossip_keepalive;
        // One response budget: the host's knob, enforced by the req/resp machine.
        // One gossip queue per peer, in the router: the host's budget is its budget.
        config.gossipsub.limits.max_normal_queue_bytes = config.limits.gossip_peer_buffer;
        config.gossipsub.limits.max_priority_queue_bytes = config
            .limits
            .gossip_peer_buffer
            .saturating_add(config.limits.gossip_priority_reserve);
        let mut reqresp_limits = config.reqresp.node_limits().clone();
        reqresp_limits.response_high_water = config.limits.response_high_water;
        config.reqresp.limits(reqresp_limits);
        config.validate()?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut draw = || {
            let mut sub = [0u8; 32];
            rng.fill_bytes(&mut sub);
            sub
        };
        let quic_seed = draw();
        let gossip_seed = draw();
        let node_seed = draw();
        let endpoint = Endpoint::new(config.quic.clone(), keypair, quic_seed)?;
        let gossip = Gossipsub::new(now, config.gossipsub.clone(), gossip_seed)?;
        let reqresp = ReqResp::new(config.reqresp.clone())?;

        let mut ids = Vec::new();
        for id in leanp2p_gossipsub::PROTOCOL_IDS {
            ids.push(ProtocolId::from_static(id));
        }
        for id in reqresp.supported_protocols() {
            ids.push(protocol_id(id.as_str())?);
        }
        ids.push(ProtocolId::from_static(IDENTIFY_PROTOCOL));
        ids.push(ProtocolId::from_static(IDENTIFY_PUSH_PROTOCOL));
        ids.push(ProtocolId::from_static(PING_PROTOCOL));
        let listener_protocols =
            ProtocolSet::new(ids).map_err(|e| ConfigError::InvalidProtocolId(e.to_string()))?;
        let ms_v1 = leanp2p_multistream::Config {
            limits: config.multistream,
            version: Version::V1,
        };
        let ms_lazy = leanp2p_multistream::Config {
            limits: config.multistream,
            version: Version::V1Lazy,
        };
        let pacer = config.pacer.build();
        let events = events::EventQueue::new(&config.limits);
        Ok(Self {
            local_peer: keypair.peer_id(),
            public_key: keypair.public(),
            config,
            endpoint,
            gossip,
            reqresp,
            conns: Connections::default(),
            peers: BTreeMap::new(),
            dials: BTreeMap::new(),
            rr_streams: BTreeMap::new(),
            readable: BTreeSet::new(),
            listen_addrs: Vec::new(),
            listener_protocols,
            ms_v1,
            ms_lazy,
            events,
            parked: BTreeMap::new(),
            pacer,
            pacing_until: None,
            rng: ChaCha20Rng::from_seed(node_seed),
            counters: Counters::default(),
            last_now: Some(now),
            known: Default::default(),
            app_protocols: Vec::new(),
            blocked_opens: VecDeque::new(),
            book: BTreeMap::new(),
            slow_peers: BTreeMap::new(),
            timers: TimerTable::default(),
            node_timers_changed: true,
            graylist_check: false,
        })
    }

    // ----- getters -------------------------------------------------------------------

    /// Our PeerId.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer
    }

    /// The configuration (with `gossipsub.idle_keepalive` set from `gossip_keepalive`).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether at least one connection to `peer` is established.
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    /// Connected peers, in PeerId order.
    pub fn connected_peers(&self) -> impl Iterator<Item = &PeerId> {
        self.peers.keys()
    }

    /// Established connections to `peer`.
    pub fn connections_to(&self, peer: &PeerId) -> Vec<ConnId> {
        self.peers
            .get(peer)
            .map(|p| p.conns.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The connection gossip to `peer` runs on.
    pub fn gossip_connection(&self, peer: &PeerId) -> Option<ConnId> {
        self.peers.get(peer).and_then(|p| p.gossip_conn)
    }

    /// Number of streams open on `conn` (any state), for tests and diagnostics.
    pub fn stream_count(&self, conn: ConnId) -> usize {
        self.conns.get(&conn).map_or(0, |c| c.stream_count())
    }

    /// Number of our outbound `/meshsub` streams on connections to `peer`.
    pub fn gossip_stream_count(&self, peer: &PeerId) -> usize {
        self.conns
            .values()
            .filter(|c| c.peer == *peer && c.gossip_out.is_some())
            .count()
    }

    /// Unsent bytes the node holds for `peer`: its gossip queue in the router plus the
    /// send buffers of every stream on its connections (gossip, req/resp, identify,
    /// ping, application). Bounded for gossip by [`crate::Limits::gossip_peer_buffer`]
    /// (see its overflow policy) and per response stream by
    /// [`crate::Limits::response_high_water`]; bytes already handed to QUIC are bounded
    /// by the QUIC send window ([`leanp2p_quic::Config`]). A message queued for several peers
    /// is stored once (frames are shared [`Bytes`]) but counted for each. 0 for an
    /// unknown peer.
    pub fn buffered_bytes(&self, peer: &PeerId) -> usize {
        let Some(p) = self.peers.get(peer) else {
            return 0;
        };
        let streams: usize = p
            .conns
            .iter()
            .filter_map(|id| self.conns.get(id))
            .flat_map(|c| c.streams())
            .map(|(_, s)| s.send.buffered_bytes())
            .sum();
        self.gossip.queued_bytes(peer) + streams
    }

    /// What `peer` told us with identify.
    pub fn peer_info(&self, peer: &PeerId) -> Option<&PeerInfo> {
        self.peers.get(peer).and_then(|p| p.info.as_ref())
    }

    /// Our listen addresses.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen_addrs
    }

    /// Every protocol we accept inbound (as advertised by identify).
    pub fn protocols(&self) -> Vec<String> {
        self.listener_protocols
            .ids()
            .iter()
            .map(|p| p.as_str().to_string())
            .collect()
    }

    /// The gossipsub router (read-only: mesh, scores, topics).
    pub fn gossipsub(&self) -> &Gossipsub {
        &self.gossip
    }

    /// The req/resp machine (read-only).
    pub fn reqresp(&self) -> &ReqResp {
        &self.reqresp
    }

    /// The QUIC endpoint (read-only: connection stats, RTT).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// A snapshot of gauges and counters.
    pub fn stats(&self) -> Stats {
        let mut mesh_peers = BTreeMap::new();
        for topic in self.gossip.topics() {
            mesh_peers.insert(
                topic.as_str().to_string(),
                self.gossip.mesh_peers(topic).count(),
            );
        }
        let outbound_peers = self
            .peers
            .values()
            .filter(|p| {
                p.conns.iter().any(|c| {
                    self.conns
                        .get(c)
                        .is_some_and(|c| c.direction == leanp2p_quic::Direction::Outbound)
                })
            })
            .count();
        let ping_rtt = self
            .conns
            .values()
            .filter_map(|c| c.ping.last_rtt.map(|rtt| (c.peer, rtt)))
            .collect();
        let buffered_bytes: BTreeMap<PeerId, usize> = self
            .peers
            .keys()
            .map(|p| (*p, self.buffered_bytes(p)))
            .collect();
        let buffered_bytes_total = buffered_bytes.values().sum();
        Stats {
            buffered_bytes,
            buffered_bytes_total,
            queued_events: self.events.len(),
            address_book_len: self.book.len(),
            known_peers_len: self.known.len(),
            queued_event_bytes: self.events.bytes(),
            connected_peers: self.peers.len(),
            outbound_peers,
            inbound_peers: self.peers.len() - outbound_peers,
            connections: self.conns.len(),
            mesh_peers,
            ping_rtt,
            counters: {
                // Gossip drops happen in the router's per-peer queue.
                let mut counters = self.counters.clone();
                let gossip = &self.gossip.stats().counters;
                counters.gossip_forwards_dropped = gossip.dropped_normal;
                counters.gossip_priority_dropped = gossip.dropped_priority;
                // Response backpressure is the req/resp machine's.
                counters.responses_backpressured = self.reqresp.stats().responses_backpressured;
                counters
            },
            gossipsub: self.gossip.stats(),
            reqresp: self.reqresp.stats().clone(),
            quic: self.endpoint.stats().clone(),
        }
    }

    // ----- outer shape -----------------------------------------------------------------

    /// A UDP datagram arrived.
    pub fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        self.handle_datagrams(now, std::iter::once(datagram));
    }

    /// Datagrams that arrived together (one `recvmmsg` call, GRO batches split into
    /// their segments): the same as [`Node::handle_datagram`] for each in turn, except
    /// that the node's own work — routing stream data and events, timers, deadlines —
    /// runs once after the batch instead of after every datagram. Feed at most a few
    /// hundred per call: QUIC's events wait until the end of the batch.
    pub fn handle_datagrams<'a>(
        &mut self,
        now: Instant,
        datagrams: impl IntoIterator<Item = Datagram<'a>>,
    ) {
        self.last_now = Some(now);
        for datagram in datagrams {
            self.endpoint.handle_datagram(now, datagram);
        }
        self.pump(now);
    }

    /// A UDP datagram arrived in a buffer the caller hands over: as
    /// [`Node::handle_datagram`] without copying the payload (see
    /// [`Endpoint::handle_datagram_owned`]).
    pub fn handle_datagram_owned(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<Ecn>,
        data: BytesMut,
    ) {
        self.last_now = Some(now);
        self.endpoint
            .handle_datagram_owned(now, remote, local_ip, ecn, data);
        self.pump(now);
    }

    /// Runs every timer that is due: QUIC, gossipsub, req/resp, negotiation timeouts,
    /// ping, identify, idle connections. Extra calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(now);
        self.endpoint.handle_timeout(now);
        if self.gossip.poll_timeout().is_some_and(|t| t <= now) {
            self.gossip.handle_timeout(now);
            // Scores are refreshed on gossipsub's timers.
            self.graylist_check = true;
        }
        if self.reqresp.poll_timeout().is_some_and(|t| t <= now) {
            self.reqresp.handle_timeout(now);
        }
        if self.pacing_until.is_some_and(|t| t <= now) {
            self.pacing_until = None;
        }
        self.pump(now);
        if std::mem::take(&mut self.graylist_check) {
            self.disconnect_graylisted(now);
        }
        self.run_node_timers(now);
        self.pump(now);
    }

    /// The next datagram to send, written into `buf`. Call until `None` after every
    /// input or command. Returns `None` early while the node pacer holds traffic back
    /// (then [`Node::poll_timeout`] says when to try again, reason
    /// [`TimeoutReason::Pacing`]).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.last_now = Some(now);
        if let Some(at) = self.pacer.delay(now, 1500) {
            if at > now {
                if self.pacing_until.is_none() {
                    self.counters.paced += 1;
                }
                self.pacing_until = Some(at);
                return None;
            }
        }
        self.pacing_until = None;
        // A GSO batch takes only as many full-size datagrams as the pacer's bucket
        // holds (at least one), so a batch never overdraws it by more than a datagram.
        let transmit = match self.pacer.allowance(now) {
            Some(bytes) => {
                let datagram = usize::from(self.config.quic.mtu_upper_bound).max(1);
                let fit = (bytes / datagram).max(1);
                self.endpoint.poll_transmit_at_most(now, fit, buf)?
            }
            None => self.endpoint.poll_transmit(now, buf)?,
        };
        self.pacer.on_send(now, transmit.size);
        self.counters.datagrams_sent += 1;
        self.counters.bytes_sent += transmit.size as u64;
        Some(transmit)
    }

    /// The next event. Call until `None` after draining [`Node::poll_transmit`].
    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        if self.events.is_empty() {
            if let Some(now) = self.last_now {
                // Sending may have produced stream credit (Writable) or other events.
                self.pump(now);
            }
        }
        let event = self.events.pop();
        self.unpark_resumed();
        event
    }

    /// When [`Node::handle_timeout`] must be called next; the last `now` seen while
    /// output is queued.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout().map(|(at, _)| at)
    }

    /// Why [`Node::poll_timeout`] returns what it returns.
    pub fn timeout_reason(&self) -> Option<TimeoutReason> {
        self.next_timeout().map(|(_, reason)| reason)
    }

    /// [`Node::poll_timeout`] for a runtime whose socket returned `WouldBlock`: datagrams
    /// already queued for [`Node::poll_transmit`] do not make it "now" (they wait until
    /// the socket is writable); every timer still counts. Sleep until this deadline or
    /// writability, whichever comes first, instead of spinning on a full socket.
    pub fn poll_timeout_while_send_blocked(&self) -> Option<Instant> {
        self.next_timeout_with(true).map(|(at, _)| at)
    }

    fn next_timeout(&self) -> Option<(Instant, TimeoutReason)> {
        self.next_timeout_with(false)
    }

    fn next_timeout_with(&self, send_blocked: bool) -> Option<(Instant, TimeoutReason)> {
        let last = self.last_now?;
        // Queued events need `poll_event`, not a timeout: only unread input means "now".
        if !self.readable.is_empty() {
            return Some((last, TimeoutReason::QueuedIo));
        }
        let mut best: Option<(Instant, TimeoutReason)> = None;
        let mut offer = |at: Option<Instant>, reason: TimeoutReason| {
            if let Some(at) = at {
                if best.is_none_or(|(b, _)| at < b) {
                    best = Some((at, reason));
                }
            }
        };
        let transport = if send_blocked {
            let next = self.endpoint.poll_timeout_unless_transmits();
            (next.map(|(at, _)| at), next.map(|(_, reason)| reason))
        } else {
            (self.endpoint.poll_timeout(), self.endpoint.timeout_reason())
        };
        match transport {
            (Some(_), Some(leanp2p_quic::TimeoutReason::QueuedIo))
                if self.pacing_until.is_some() =>
            {
                offer(self.pacing_until, TimeoutReason::Pacing);
            }
            (at, Some(reason)) => offer(at, TimeoutReason::Transport(reason)),
            _ => {}
        }
        if let Some(reason) = self.gossip.timeout_reason() {
            offer(self.gossip.poll_timeout(), TimeoutReason::Gossip(reason));
        }
        if let Some(reason) = self.reqresp.timeout_reason() {
            offer(self.reqresp.poll_timeout(), TimeoutReason::ReqResp(reason));
        }
        if let Some((at, reason)) = self.timers.earliest() {
            offer(Some(at), reason);
        }
        best
    }

    // ----- commands --------------------------------------------------------------------

    /// Records a local address we accept connections on (the caller owns the socket) and
    /// advertises it with identify; connected peers get an identify push. The address also
    /// marks dials to it as dials to ourselves ([`DialError::SelfDial`]).
    ///
    /// Not needed to accept connections: the node accepts an inbound handshake from any
    /// datagram passed to [`Node::handle_datagram`], whether or not it listens. Port 0 is
    /// refused ([`ListenError::Unadvertisable`]): pass the port the socket was bound to.
    pub fn listen(&mut self, now: Instant, addr: SocketAddr) -> Result<(), ListenError> {
        self.last_now = Some(now);
        if addr.port() == 0 {
            return Err(ListenError::Unadvertisable(addr));
        }
        if !self.listen_addrs.contains(&addr) {
            self.listen_addrs.push(addr);
            if self.config.identify.push_on_change {
                self.push_identify_to_all(now);
            }
            self.pump(now);
        }
        Ok(())
    }

    /// Dials `addr`, expecting `peer` if given (the handshake fails otherwise). The
    /// outcome is [`NodeEvent::Connected`] or [`NodeEvent::DialFailed`].
    pub fn dial(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        peer: Option<PeerId>,
    ) -> Result<ConnId, DialError> {
        self.last_now = Some(now);
        if peer == Some(self.local_peer) || self.is_own_address(addr) {
            return Err(DialError::SelfDial);
        }
        let new_outbound_peer = peer.is_none_or(|p| !self.has_outbound_leg(&p));
        if new_outbound_peer
            && self.outbound_peer_count() >= self.config.conn_manager.max_outbound_peers
        {
            return Err(DialError::TooManyPeers);
        }
        let conn = self.endpoint.dial(now, addr, peer)?;
        self.dials.insert(conn, (addr, peer));
        self.pump(now);
        Ok(conn)
    }

    /// Dials a `/ip4|ip6/…/udp/…/quic-v1[/p2p/…]` multiaddr.
    pub fn dial_multiaddr(&mut self, now: Instant, addr: &Multiaddr) -> Result<ConnId, DialError> {
        let (socket, peer) = addr.to_quic_v1_target()?;
        self.dial(now, socket, peer)
    }

    /// Closes every connection to `peer`. The peer target does not dial it again
    /// before the longest redial backoff (a known peer is still redialled: remove it
    /// with [`Node::remove_known_peer`] first to let it go).
    pub fn disconnect(&mut self, now: Instant, peer: &PeerId) -> Result<(), DisconnectError> {
        self.last_now = Some(now);
        let conns = self.connections_to(peer);
        if conns.is_empty() {
            return Err(DisconnectError::NotConnected(*peer));
        }
        self.penalize_candidate(peer);
        for conn in conns {
            self.close_with(now, conn, DisconnectReason::Requested);
        }
        self.pump(now);
        Ok(())
    }

    /// Closes one connection.
    pub fn close_connection(&mut self, now: Instant, conn: ConnId) -> Result<(), DisconnectError> {
        self.last_now = Some(now);
        if !self.conns.contains_key(&conn) {
            return Err(DisconnectError::UnknownConnection);
        }
        self.close_with(now, conn, DisconnectReason::Requested);
        self.pump(now);
        Ok(())
    }

    /// Subscribes to `topic` (announced to every peer, also to peers that connect later).
    /// Returns `false` if already subscribed.
    pub fn subscribe(
        &mut self,
        now: Instant,
        topic: &TopicHash,
    ) -> Result<bool, SubscriptionError> {
        self.last_now = Some(now);
        let result = self.gossip.subscribe(now, topic);
        self.pump(now);
        result
    }

    /// Unsubscribes from `topic`. Returns `false` if not subscribed.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        topic: &TopicHash,
    ) -> Result<bool, SubscriptionError> {
        self.last_now = Some(now);
        let result = self.gossip.unsubscribe(now, topic);
        self.pump(now);
        result
    }

    /// Publishes `data` on `topic`.
    ///
    /// Fails with [`PublishError::InsufficientPeers`] (and sends nothing) until at least one
    /// connected peer is known to be subscribed to `topic` (with a score above the publish
    /// threshold): after connecting, wait for [`NodeEvent::Subscribed`] for the topic
    /// before the first publish. Being subscribed ourselves is not required.
    ///
    /// Never loses a message silently: when every peer chosen for it holds
    /// [`crate::Limits::gossip_peer_buffer`] + [`crate::Limits::gossip_priority_reserve`]
    /// unsent, it goes to none and [`PublishError::Backpressure`] hands `data` back —
    /// publish it again after [`NodeEvent::PublishReady`]. When only some of them do,
    /// the others get it and those slow peers are counted
    /// ([`crate::Counters::gossip_priority_dropped`]) and reported once per overflow
    /// episode ([`NodeEvent::SlowPeer`]; the message stays cached for their IWANTs).
    pub fn publish(
        &mut self,
        now: Instant,
        topic: &TopicHash,
        data: Bytes,
    ) -> Result<MessageId, PublishError> {
        self.last_now = Some(now);
        let result = self.gossip.publish(now, topic, data);
        self.pump(now);
        result
    }

    /// The verdict on a [`NodeEvent::Message`].
    pub fn report_validation(
        &mut self,
        now: Instant,
        id: &MessageId,
        from: PeerId,
        validation: Validation,
    ) -> Result<(), ValidationError> {
        self.last_now = Some(now);
        self.graylist_check = true;
        let result = self.gossip.report_validation(now, id, from, validation);
        self.pump(now);
        result
    }

    /// Sends a request on a new stream to a connected peer.
    pub fn request(
        &mut self,
        now: Instant,
        peer: PeerId,
        protocol: &ProtocolId,
        body: Bytes,
    ) -> Result<RequestId, RequestError> {
        self.last_now = Some(now);
        self.mark_peer(&peer);
        let result = self.reqresp.request(now, peer, protocol, body);
        self.pump(now);
        result
    }

    /// Cancels an outbound request (its stream is reset).
    pub fn cancel_request(
        &mut self,
        now: Instant,
        request: RequestId,
    ) -> Result<(), leanp2p_reqresp::CancelError> {
        self.last_now = Some(now);
        let result = self.reqresp.cancel(now, request);
        self.pump(now);
        result
    }

    /// Sends one response chunk on `channel`.
    ///
    /// Backpressure: when the response stream already holds
    /// [`crate::Limits::response_high_water`] unsent bytes (the requester reads slowly),
    /// the chunk is refused with [`RespondError::QueueFull`] and nothing changes; the
    /// node emits [`NodeEvent::ResponseWritable`] for the channel once the stream has
    /// drained below the mark, and the server sends the next chunk then. A server
    /// streaming many `blocks_by_range` chunks so paces itself and the node holds at
    /// most the mark plus one chunk per response. The mark is enforced by the req/resp
    /// machine, to which the host reports every response stream's unsent bytes.
    pub fn respond(
        &mut self,
        now: Instant,
        channel: ChannelId,
        chunk: ResponseChunk,
    ) -> Result<(), RespondError> {
        self.last_now = Some(now);
        let result = self.reqresp.respond(now, channel, chunk);
        self.pump(now);
        result
    }

    /// Ends the response on `channel` (FIN after the chunks sent).
    pub fn end_response(&mut self, now: Instant, channel: ChannelId) -> Result<(), RespondError> {
        self.last_now = Some(now);
        let result = self.reqresp.end_response(now, channel);
        self.pump(now);
        result
    }

    /// Unsent bytes on the response stream of `channel` while the application may
    /// respond on it (from [`NodeEvent::InboundRequest`] until the response ends or
    /// fails; `None` otherwise).
    pub fn response_buffered_bytes(&self, channel: ChannelId) -> Option<usize> {
        let key = self.reqresp.channel_stream(channel)?;
        let (conn, stream) = self.rr_streams.get(&key)?;
        self.conns
            .get(conn)
            .and_then(|c| c.stream(*stream))
            .map(|s| s.send.buffered_bytes())
    }

    /// Sets the application-specific gossipsub score (P5) of a connected peer. Returns
    /// `false` if scoring is off or the peer is unknown to gossipsub. A score below the
    /// graylist threshold disconnects the peer at the next timer run (see
    /// [`crate::ConnManagerConfig::disconnect_graylisted`]).
    pub fn set_application_score(&mut self, peer: &PeerId, score: f64) -> bool {
        self.graylist_check = true;
        self.gossip.set_application_score(peer, score)
    }

    /// Replaces the node pacer (e.g. with an application-specific one).
    pub fn set_pacer(&mut self, pacer: Box<dyn Pacer>) {
        self.pacer = pacer;
        self.pacing_until = None;
    }

    // ----- internals ---------------------------------------------------------------------

    pub(crate) fn is_own_address(&self, addr: SocketAddr) -> bool {
        self.listen_addrs.contains(&addr)
    }

    /// Queues an event for the application, charged to the peer it concerns (see
    /// [`events`]: never drops messages, requests, responses or lifecycle events).
    pub(crate) fn emit(&mut self, event: NodeEvent) {
        let peer = self.event_peer(&event);
        let pauses = self.events.pauses;
        match self.events.push(event, peer) {
            events::Pushed::Queued => {}
            events::Pushed::Collapsed => self.counters.events_collapsed += 1,
            events::Pushed::Dropped => {
                if self.counters.events_dropped == 0 {
                    tracing::warn!("node event queue full; informational events dropped");
                }
                self.counters.events_dropped += 1;
            }
        }
        if self.events.pauses != pauses {
            self.counters.event_backpressure_pauses += 1;
            tracing::debug!(?peer, "queued events over budget: reading paused");
        }
    }

    /// The peer an event is charged to.
    fn event_peer(&self, event: &NodeEvent) -> Option<PeerId> {
        match event {
            NodeEvent::Connected { peer, .. }
            | NodeEvent::Disconnected { peer, .. }
            | NodeEvent::Subscribed { peer, .. }
            | NodeEvent::Unsubscribed { peer, .. }
            | NodeEvent::SlowPeer { peer, .. }
            | NodeEvent::InboundRequest { peer, .. }
            | NodeEvent::InboundAborted { peer, .. }
            | NodeEvent::InboundRejected { peer, .. }
            | NodeEvent::Response { peer, .. }
            | NodeEvent::RequestCompleted { peer, .. }
            | NodeEvent::RequestFailed { peer, .. }
            | NodeEvent::Identified { peer, .. }
            | NodeEvent::PingSuccess { peer, .. }
            | NodeEvent::PingFailed { peer, .. }
            | NodeEvent::AppStreamOpened { peer, .. } => Some(*peer),
            NodeEvent::Message {
                propagation_source, ..
            } => Some(*propagation_source),
            NodeEvent::PeerExchange { from, .. } => Some(*from),
            NodeEvent::DialFailed { peer, .. } => *peer,
            NodeEvent::AppStreamData { stream, .. }
            | NodeEvent::AppStreamFinished { stream }
            | NodeEvent::AppStreamReset { stream } => self.conns.get(&stream.conn).map(|c| c.peer),
            NodeEvent::ResponseWritable { .. } | NodeEvent::PublishReady => None,
        }
    }

    /// Whether reading `conn`'s `stream` must wait for the application to drain events
    /// (ping streams are always read: they produce no events and keep the peer alive).
    pub(crate) fn read_held_for_events(&self, conn: ConnId, stream: StreamId) -> Option<PeerId> {
        let c = self.conns.get(&conn)?;
        if !self.events.is_paused(&c.peer) {
            return None;
        }
        let ping = c.stream(stream).is_some_and(|s| {
            matches!(
                s.kind,
                crate::connection::StreamKind::PingIn(_)
                    | crate::connection::StreamKind::PingOut(_)
            )
        });
        (!ping).then_some(c.peer)
    }

    /// Sets a readable stream aside until its peer's events drain.
    pub(crate) fn park_stream(&mut self, peer: PeerId, conn: ConnId, stream: StreamId) {
        if self.parked.entry(peer).or_default().insert((conn, stream)) {
            self.counters.streams_paused_for_events += 1;
        }
    }

    /// Puts back the streams of peers whose event budget recovered.
    fn unpark_resumed(&mut self) {
        for resumed in self.events.take_resumed() {
            let peers: Vec<PeerId> = match resumed {
                Some(peer) => vec![peer],
                None => self.parked.keys().copied().collect(),
            };
            for peer in peers {
                if self.events.is_paused(&peer) {
                    continue;
                }
                if let Some(streams) = self.parked.remove(&peer) {
                    self.readable.extend(streams);
                }
            }
        }
    }

    /// Closes a connection with a local reason (reported when QUIC confirms).
    pub(crate) fn close_with(&mut self, now: Instant, conn: ConnId, reason: DisconnectReason) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.local_close.is_some() {
            return;
        }
        let code = reason.close_code();
        c.local_close = Some(reason);
        self.node_timers_changed = true;
        let label = c.local_close.as_ref().map_or("", |r| r.label());
        let _ = self.endpoint.close(now, conn, code, label.as_bytes());
    }

    /// Drains the children into the node's own queues until nothing moves.
    pub(crate) fn pump(&mut self, now: Instant) {
        // Bounded: every round consumes queued output; the cap only guards against a
        // livelock bug turning into a hang.
        for _ in 0..10_000 {
            let mut progressed = false;
            while let Some(event) = self.endpoint.poll_event() {
                progressed = true;
                self.on_endpoint_event(now, event);
            }
            if self.read_pending(now) {
                progressed = true;
            }
            while let Some(peer) = self.gossip.poll_ready_peer() {
                progressed = true;
                self.feed_gossip(now, peer);
            }
            while let Some(op) = self.reqresp.poll_outbound() {
                progressed = true;
                self.on_reqresp_op(now, op);
            }
            while let Some(event) = self.gossip.poll_event() {
                progressed = true;
                self.on_gossip_event(now, event);
            }
            while let Some(event) = self.reqresp.poll_event() {
                progressed = true;
                self.on_reqresp_event(event);
            }
            if !progressed {
                break;
            }
        }
        self.settle(now);
    }
}
