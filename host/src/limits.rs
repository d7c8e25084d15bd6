//! Host-level buffer and stream limits ([`Limits`]).
//!
//! The layers below keep their own limits (QUIC windows in `quic::Config`, frame and
//! queue sizes in `gossipsub::Limits`, request caps in `reqresp::Limits`, line lengths
//! in `multistream::Limits`). These are the bounds the host adds on top: how long a
//! stream may negotiate, how many bytes one stream may hold, how much outgoing gossip
//! one peer may hold (and what is dropped beyond), when a response stream pushes back,
//! and how many inbound streams per protocol one connection may keep.

use std::time::Duration;

use crate::error::ConfigError;

/// Host limits. Every value is checked by [`Limits::validate`] (called from
/// [`crate::Node::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// How long multistream-select may take on one stream before the host resets it.
    /// Default 10 s (rust-libp2p's substream upgrade timeout).
    pub negotiation_timeout: Duration,
    /// Most unsent bytes one non-gossip stream (req/resp, identify, ping) may buffer in
    /// the host. A stream that would exceed it is reset. Default 64 MiB: a hard cap;
    /// responses normally stay far below it, paced by [`Limits::response_high_water`].
    pub max_stream_send_buffer: usize,
    /// The host pulls frames from a peer's gossip queue (in the router) into its
    /// `/meshsub` stream buffer only while that buffer holds at most this many unsent
    /// bytes, so control and our own publishes overtake queued forwards (they wait in
    /// the queue, control and publishes first, not behind bytes already committed to
    /// the stream). Default 1 MiB. The
    /// stream buffer holds at most this plus one maximum-size frame.
    pub gossip_send_high_water: usize,
    /// Budget of our outgoing gossip to one peer: bytes in its queue in the router plus
    /// its gossip stream buffer ([`crate::Node::buffered_bytes`] counts them). Default
    /// 4 MiB. The node sets the router's `max_normal_queue_bytes` to this and
    /// `max_priority_queue_bytes` to this plus [`Limits::gossip_priority_reserve`]: the
    /// one queue and the one budget live in the router.
    ///
    /// Overflow policy (rust-libp2p bounds its per-peer send queue by message count and
    /// drops forwards when it is full; we bound bytes, because lean blocks vary in
    /// size):
    /// * forwards and IWANT replies (the router's normal lane) are accepted while the
    ///   peer holds less than this; beyond, they are dropped and counted in
    ///   [`crate::Counters::gossip_forwards_dropped`] (the peer may still get the
    ///   message from its other mesh peers);
    /// * control and our own publishes (the priority lane) may use
    ///   [`Limits::gossip_priority_reserve`] more; beyond, control still goes out, our
    ///   publishes skip that peer (counted in
    ///   [`crate::Counters::gossip_priority_dropped`]), and when no chosen peer has room
    ///   [`crate::Node::publish`] refuses with `PublishError::Backpressure` (the message
    ///   handed back, [`crate::NodeEvent::PublishReady`] when to retry);
    /// * the first drop of an episode emits [`crate::NodeEvent::SlowPeer`]; the episode
    ///   ends when the peer's buffered bytes fall below half this budget. A peer whose
    ///   episode lasts [`Limits::slow_peer_disconnect`] is disconnected
    ///   ([`crate::DisconnectReason::SlowPeer`]).
    ///
    /// A frame is never split, so the bound is `gossip_peer_buffer +
    /// gossip_priority_reserve` plus one maximum-size frame.
    pub gossip_peer_buffer: usize,
    /// Extra bytes beyond [`Limits::gossip_peer_buffer`] for control and our own
    /// publishes. Default 32 MiB: room for a burst of a few maximum-size lean blocks
    /// (10 MiB payloads) while earlier ones still drain. A publish queued for
    /// many peers is one shared [`bytes::Bytes`], so this costs memory about once, not
    /// once per peer, and the publish rate is the application's own (it sees [`crate::NodeEvent::SlowPeer`] and
    /// [`crate::Node::buffered_bytes`]); what peers make us forward stays under the
    /// 4 MiB budget.
    pub gossip_priority_reserve: usize,
    /// How long a peer may stay in a gossip overflow episode (frames dropped, buffer
    /// not drained below half the budget) before it is disconnected. Default 30 s;
    /// `None` never disconnects.
    pub slow_peer_disconnect: Option<Duration>,
    /// Unsent bytes one req/resp response stream may hold before [`crate::Node::respond`]
    /// refuses further chunks with `RespondError::QueueFull` (the requester reads
    /// slowly); [`crate::NodeEvent::ResponseWritable`] says when to resume. A chunk is
    /// never split, so the stream holds at most this plus one chunk; the stream is
    /// reset if that would exceed [`Limits::max_stream_send_buffer`]. Default 1 MiB.
    pub response_high_water: usize,
    /// Most bytes read from one stream per drain, so one busy stream cannot starve the
    /// others. Default 256 KiB.
    pub read_budget: usize,
    /// Most streams of one connection that may be negotiating at once (inbound and
    /// outbound together). Extra inbound streams are reset. Default 64.
    pub max_negotiating_streams: usize,
    /// Most inbound `/meshsub` streams per connection. A newer one replaces the oldest
    /// (the peer recreated its stream). Default 1.
    pub max_inbound_gossip_streams: usize,
    /// Most inbound req/resp streams per connection; extras are reset. Default 128.
    pub max_inbound_reqresp_streams: usize,
    /// Most inbound identify and identify-push streams per connection. Default 2.
    pub max_inbound_identify_streams: usize,
    /// Most inbound ping streams per connection (the ping spec says two). Default 2.
    pub max_inbound_ping_streams: usize,
    /// Most inbound application-protocol streams per connection; extras are reset.
    /// Default 32.
    pub max_inbound_app_streams: usize,
    /// Req/resp requests waiting for a connection's QUIC stream limit to open their
    /// stream (beyond this they fail with `OpenFailure::StreamLimit`). Default 1024.
    pub max_blocked_opens: usize,
    /// Largest identify message accepted (rust-libp2p rejects more than 4096 bytes).
    /// Default 4096.
    pub max_identify_message: usize,
    /// Inbound gossip frames held for a peer whose outbound `/meshsub` stream is not
    /// negotiated yet (so its first subscriptions are not lost). Default 64.
    pub max_early_gossip_frames: usize,
    /// Bytes of such early frames held per peer. Default 16 MiB.
    pub max_early_gossip_bytes: usize,
    /// How often the host may (re)open its outbound `/meshsub` stream on one connection
    /// before giving gossip up for that connection (rust-libp2p: 5). Default 5.
    pub max_gossip_stream_attempts: u32,
    /// Most events queued for the application. At this many, the node stops reading
    /// every peer's streams until the application drains the queue to half, and drops
    /// informational events (subscription changes, peer exchange, slow peer, identify,
    /// ping results), counted in [`crate::Counters::events_dropped`]. Messages,
    /// requests, responses and connection/stream lifecycle events are never dropped.
    /// Default 65 536.
    pub max_queued_events: usize,
    /// Payload bytes held by queued events at which the node stops reading every
    /// peer's streams (until half is drained). Default 256 MiB.
    pub max_queued_event_bytes: usize,
    /// Queued events charged to one peer at which the node stops reading that peer's
    /// streams (ping streams excepted) until the application drains it to half; QUIC
    /// flow control then pushes back on the peer. Counted in
    /// [`crate::Counters::event_backpressure_pauses`]. Default 1 024.
    pub max_peer_queued_events: usize,
    /// Payload bytes of queued events charged to one peer at which reading that peer
    /// pauses the same way. Default 32 MiB.
    pub max_peer_queued_event_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            negotiation_timeout: Duration::from_secs(10),
            max_stream_send_buffer: 64 * 1024 * 1024,
            gossip_send_high_water: 1024 * 1024,
            gossip_peer_buffer: 4 * 1024 * 1024,
            gossip_priority_reserve: 32 * 1024 * 1024,
            slow_peer_disconnect: Some(Duration::from_secs(30)),
            response_high_water: 1024 * 1024,
            read_budget: 256 * 1024,
            max_negotiating_streams: 64,
            max_inbound_gossip_streams: 1,
            max_inbound_reqresp_streams: 128,
            max_inbound_identify_streams: 2,
            max_inbound_ping_streams: 2,
            max_inbound_app_streams: 32,
            max_blocked_opens: 1024,
            max_identify_message: 4096,
            max_early_gossip_frames: 64,
            max_early_gossip_bytes: 16 * 1024 * 1024,
            max_gossip_stream_attempts: 5,
            max_queued_events: 65_536,
            max_queued_event_bytes: 256 * 1024 * 1024,
            max_peer_queued_events: 1024,
            max_peer_queued_event_bytes: 32 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Checks that every limit is usable (non-zero where zero would stall the node).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let nonzero = [
            ("max_stream_send_buffer", self.max_stream_send_buffer),
            ("gossip_send_high_water", self.gossip_send_high_water),
            ("gossip_peer_buffer", self.gossip_peer_buffer),
            ("response_high_water", self.response_high_water),
            ("read_budget", self.read_budget),
            ("max_negotiating_streams", self.max_negotiating_streams),
            (
                "max_inbound_gossip_streams",
                self.max_inbound_gossip_streams,
            ),
            (
                "max_inbound_reqresp_streams",
                self.max_inbound_reqresp_streams,
            ),
            ("max_identify_message", self.max_identify_message),
            ("max_queued_events", self.max_queued_events),
            ("max_queued_event_bytes", self.max_queued_event_bytes),
            ("max_peer_queued_events", self.max_peer_queued_events),
            (
                "max_peer_queued_event_bytes",
                self.max_peer_queued_event_bytes,
            ),
        ];
        for (name, value) in nonzero {
            if value == 0 {
                return Err(ConfigError::InvalidLimit(name));
            }
        }
        if self.negotiation_timeout.is_zero() {
            return Err(ConfigError::InvalidLimit("negotiation_timeout"));
        }
        if self.gossip_send_high_water > self.gossip_peer_buffer {
            return Err(ConfigError::InvalidLimit(
                "gossip_send_high_water must be at most gossip_peer_buffer",
            ));
        }
        if self.slow_peer_disconnect.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::InvalidLimit("slow_peer_disconnect"));
        }
        if self.max_gossip_stream_attempts == 0 {
            return Err(ConfigError::InvalidLimit("max_gossip_stream_attempts"));
        }
        Ok(())
    }
}
