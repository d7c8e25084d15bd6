//! Node statistics: plain counters and gauges the runtime can render (the `lean_*`
//! metric names of leanMetrics are listed on each field).

use std::collections::BTreeMap;
use std::time::Duration;

use leanp2p_identity::PeerId;

/// Counters kept by the host itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// `lean_peer_connection_events_total{direction,result="success"}`: inbound.
    pub connections_inbound: u64,
    /// Same, outbound.
    pub connections_outbound: u64,
    /// `lean_peer_connection_events_total{direction="outbound",result="failure"}`.
    pub dials_failed: u64,
    /// `lean_peer_disconnection_events_total{direction,reason}`: keyed by
    /// (`"inbound"`/`"outbound"`, [`crate::DisconnectReason::label`]).
    pub disconnections: BTreeMap<(&'static str, &'static str), u64>,
    /// Gossip frames written to peers (`uvarint ‖ RPC`).
    pub gossip_frames_sent: u64,
    /// Gossip bytes written (prefix included).
    pub gossip_bytes_sent: u64,
    /// Gossip frames read from peers.
    pub gossip_frames_received: u64,
    /// Gossip bytes read (prefix excluded).
    pub gossip_bytes_received: u64,
    /// Gossip frames for a peer the host no longer tracks (its last connection was going
    /// away), or queued frames discarded when gossip to the peer was given up.
    pub gossip_frames_dropped: u64,
    /// Forwards and IWANT replies dropped because the peer was over
    /// [`crate::Limits::gossip_peer_buffer`] (counted by the router, whose per-peer
    /// queue is the only one).
    pub gossip_forwards_dropped: u64,
    /// Our own publishes not queued for a slow peer over
    /// [`crate::Limits::gossip_peer_buffer`] plus [`crate::Limits::gossip_priority_reserve`]
    /// while other chosen peers took them (control is never dropped; when no chosen peer
    /// has room, `publish` hands the message back instead).
    pub gossip_priority_dropped: u64,
    /// Peers disconnected after a gossip overflow episode longer than
    /// [`crate::Limits::slow_peer_disconnect`].
    pub slow_peer_disconnects: u64,
    /// [`crate::Node::respond`] calls refused with `QueueFull` because the response
    /// stream held [`crate::Limits::response_high_water`] unsent bytes.
    pub responses_backpressured: u64,
    /// Inbound gossip frames dropped before the peer was registered with the router:
    /// over [`crate::Limits::max_early_gossip_frames`] / `max_early_gossip_bytes`, or
    /// after we gave up on our `/meshsub` stream to the peer.
    pub early_gossip_dropped: u64,
    /// Req/resp bytes written.
    pub reqresp_bytes_sent: u64,
    /// Req/resp bytes read.
    pub reqresp_bytes_received: u64,
    /// Streams whose multistream-select failed (peer violation, `na`, EOF).
    pub negotiation_failures: u64,
    /// Streams reset because negotiation took longer than
    /// [`crate::Limits::negotiation_timeout`].
    pub negotiation_timeouts: u64,
    /// Inbound streams reset over a per-protocol or negotiation cap.
    pub inbound_streams_refused: u64,
    /// Streams reset because they exceeded [`crate::Limits::max_stream_send_buffer`].
    pub send_buffer_overflows: u64,
    /// Streams reset because a peer sent malformed data on them.
    pub malformed_streams: u64,
    /// Inbound `/meshsub` streams reset because an RPC on them was refused whole
    /// (more subscription changes than `max_subscriptions_per_rpc`, as rust-libp2p
    /// refuses it).
    pub gossip_streams_refused: u64,
    /// Outbound `/meshsub` streams (re)opened.
    pub gossip_streams_opened: u64,
    /// Identify messages received (answers and pushes).
    pub identify_received: u64,
    /// Stale address-book candidates evicted for a new address (see
    /// [`crate::ConnManagerConfig::max_address_book`]).
    pub address_book_evicted: u64,
    /// Addresses not recorded because the book was full of fresh candidates.
    pub address_book_refused: u64,
    /// Our identify queries reset unanswered after
    /// [`crate::IdentifyConfig::query_timeout`].
    pub identify_timeouts: u64,
    /// Identify pushes sent.
    pub identify_pushes_sent: u64,
    /// Pings answered for peers.
    pub pings_answered: u64,
    /// Successful pings of ours.
    pub pings_succeeded: u64,
    /// Failed pings of ours.
    pub pings_failed: u64,
    /// Informational events dropped because the queue was at
    /// [`crate::Limits::max_queued_events`] (the application did not drain `poll_event`).
    pub events_dropped: u64,
    /// Subscription-change events cancelled against a queued opposite change of the
    /// same peer and topic (or a repeat of it) before the application saw either.
    pub events_collapsed: u64,
    /// Times a peer's queued events (or the whole queue) reached its limit and reading
    /// its streams paused (see [`crate::Limits::max_peer_queued_events`]).
    pub event_backpressure_pauses: u64,
    /// Streams set aside unread because their peer's events were over budget.
    pub streams_paused_for_events: u64,
    /// Times `poll_transmit` held back a datagram for the node pacer.
    pub paced: u64,
    /// Datagrams handed to the caller.
    pub datagrams_sent: u64,
    /// Bytes handed to the caller.
    pub bytes_sent: u64,
    /// Connections closed right after the handshake because the peer already had
    /// [`crate::ConnManagerConfig::max_connections_per_peer`] connections (inbound and
    /// our own dials; also in `disconnections` as `connection_limit`).
    pub connections_refused_per_peer: u64,
    /// Inbound connections closed right after the handshake because their remote IP
    /// already had [`crate::ConnManagerConfig::max_connections_per_ip`] inbound
    /// connections (also in `disconnections` as `connection_limit`).
    pub connections_refused_per_ip: u64,
}

/// A snapshot of the node's state ([`crate::Node::stats`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// `lean_connected_peers`.
    pub connected_peers: usize,
    /// Connected peers with at least one outbound connection.
    pub outbound_peers: usize,
    /// Connected peers with only inbound connections.
    pub inbound_peers: usize,
    /// Established connections.
    pub connections: usize,
    /// `lean_gossip_mesh_peers{topic}`.
    pub mesh_peers: BTreeMap<String, usize>,
    /// Last ping RTT per peer.
    pub ping_rtt: BTreeMap<PeerId, Duration>,
    /// Unsent bytes the host holds per connected peer ([`crate::Node::buffered_bytes`]).
    pub buffered_bytes: BTreeMap<PeerId, usize>,
    /// Their sum.
    pub buffered_bytes_total: usize,
    /// Events waiting in [`crate::Node::poll_event`]'s queue.
    pub queued_events: usize,
    /// Entries in the address book (peers we may dial towards the peer target).
    pub address_book_len: usize,
    /// Known peers (kept connected and redialled).
    pub known_peers_len: usize,
    /// Payload bytes those events hold.
    pub queued_event_bytes: usize,
    /// Host counters.
    pub counters: Counters,
    /// The gossipsub router's stats.
    pub gossipsub: leanp2p_gossipsub::Stats,
    /// The req/resp machine's counters.
    pub reqresp: leanp2p_reqresp::Stats,
    /// The QUIC endpoint's counters.
    pub quic: leanp2p_quic::EndpointStats,
}
