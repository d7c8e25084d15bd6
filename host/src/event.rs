//! The events a [`crate::Node`] emits ([`NodeEvent`]) and the reasons they carry.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use leanp2p_gossipsub::{MessageId, PxPeer, TopicHash};
use leanp2p_identity::PeerId;
use leanp2p_quic::{CloseReason, ConnId, DialFailure, Direction};
use leanp2p_reqresp::{
    AbortReason, ChannelId, FailureReason, ProtocolId as ReqRespProtocolId, RejectReason, RequestId,
};

use crate::app_streams::AppStream;
use crate::identify::PeerInfo;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The transport ended it (timeout, peer close, transport error, reset).
    Transport(CloseReason),
    /// The application asked for it ([`crate::Node::disconnect`]).
    Requested,
    /// No protocol needed the connection for [`crate::Config::idle_connection_timeout`].
    Idle,
    /// Another connection to the same peer is kept instead (simultaneous dial).
    Duplicate,
    /// The inbound or outbound peer limit was reached.
    PeerLimit,
    /// The peer turned out to be ourselves.
    SelfConnection,
    /// The peer's gossipsub score fell below the graylist threshold.
    Graylisted,
    /// The peer did not drain our gossip for [`crate::Limits::slow_peer_disconnect`]
    /// while frames for it were being dropped.
    SlowPeer,
    /// The connection would have exceeded
    /// [`crate::ConnManagerConfig::max_connections_per_peer`] or (inbound)
    /// [`crate::ConnManagerConfig::max_connections_per_ip`]; closed right after the
    /// handshake, the peer's other connections stay (QUIC application code 5).
    ConnectionLimit,
}

impl DisconnectReason {
    /// Short, stable label for metrics (`lean_peer_disconnection_events_total{reason}`).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Transport(CloseReason::TimedOut) => "timeout",
            Self::Transport(CloseReason::ApplicationClosed { .. }) => "remote_close",
            Self::Transport(CloseReason::TransportClosed { .. }) => "remote_error",
            Self::Transport(CloseReason::TransportError { .. }) => "transport_error",
            Self::Transport(_) => "transport",
            Self::Requested => "local_close",
            Self::Idle => "idle",
            Self::Duplicate => "duplicate",
            Self::PeerLimit => "peer_limit",
            Self::SelfConnection => "self_connection",
            Self::Graylisted => "graylisted",
            Self::SlowPeer => "slow_peer",
            Self::ConnectionLimit => "connection_limit",
        }
    }

    /// The QUIC application close code we send for a local reason (0 = normal).
    pub(crate) fn close_code(&self) -> u64 {
        match self {
            Self::Transport(_) | Self::Requested | Self::Idle | Self::Duplicate => 0,
            Self::PeerLimit => 1,
            Self::SelfConnection => 2,
            Self::Graylisted => 3,
            Self::SlowPeer => 4,
            Self::ConnectionLimit => 5,
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(reason) => write!(f, "{reason}"),
            other => f.write_str(other.label()),
        }
    }
}

/// Why a ping failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PingFailure {
    /// No echo within [`crate::PingConfig::timeout`].
    Timeout,
    /// The echo differed from what we sent.
    Mismatch,
    /// The peer refused `/ipfs/ping/1.0.0` or reset the stream.
    Unsupported,
}

/// Something the embedder should know; pulled with [`crate::Node::poll_event`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// A connection is established and the peer's PeerId verified.
    Connected {
        /// The peer.
        peer: PeerId,
        /// The connection.
        conn: ConnId,
        /// Who dialled.
        direction: Direction,
        /// The peer's address.
        remote: SocketAddr,
    },
    /// A connection ended.
    Disconnected {
        /// The peer.
        peer: PeerId,
        /// The connection.
        conn: ConnId,
        /// Who had dialled.
        direction: Direction,
        /// Why it ended.
        reason: DisconnectReason,
    },
    /// A dial did not produce a connection.
    DialFailed {
        /// The dialled address.
        addr: SocketAddr,
        /// The expected peer, if known.
        peer: Option<PeerId>,
        /// What went wrong.
        error: DialFailure,
    },
    /// A gossip message to validate ([`crate::Node::report_validation`]).
    Message {
        /// Message id.
        id: MessageId,
        /// The peer it came from (pass it back to `report_validation`).
        propagation_source: PeerId,
        /// Topic.
        topic: TopicHash,
        /// Payload as sent (lean: snappy block of SSZ).
        data: Bytes,
    },
    /// A peer subscribed to a topic.
    Subscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A peer unsubscribed from a topic.
    Unsubscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A pruning peer suggested other peers.
    PeerExchange {
        /// The pruning peer.
        from: PeerId,
        /// The topic.
        topic: TopicHash,
        /// Suggested peers.
        peers: Vec<PxPeer>,
    },
    /// Our gossip to a peer went over [`crate::Limits::gossip_peer_buffer`] and frames
    /// were dropped (once per overflow episode).
    SlowPeer {
        /// The peer.
        peer: PeerId,
        /// Frames dropped for it so far.
        dropped: u64,
    },
    /// A response stream that made [`crate::Node::respond`] return
    /// `RespondError::QueueFull` drained below [`crate::Limits::response_high_water`]:
    /// send the next chunk.
    ResponseWritable {
        /// The channel.
        channel: ChannelId,
    },
    /// A peer sent a request; answer with [`crate::Node::respond`] and
    /// [`crate::Node::end_response`].
    InboundRequest {
        /// Channel to answer on.
        channel: ChannelId,
        /// The requesting peer.
        peer: PeerId,
        /// The protocol's primary id.
        protocol: ReqRespProtocolId,
        /// The request payload (uncompressed SSZ for `ssz_snappy`).
        body: Bytes,
    },
    /// An inbound request's channel closed before the response ended.
    InboundAborted {
        /// The channel.
        channel: ChannelId,
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: AbortReason,
    },
    /// The req/resp machine answered an inbound request with an error itself.
    InboundRejected {
        /// The peer.
        peer: PeerId,
        /// The protocol.
        protocol: ReqRespProtocolId,
        /// Why.
        reason: RejectReason,
    },
    /// One `Success` chunk of a response.
    Response {
        /// The request.
        request: RequestId,
        /// The responding peer.
        peer: PeerId,
        /// The payload.
        payload: Bytes,
    },
    /// A response ended normally.
    RequestCompleted {
        /// The request.
        request: RequestId,
        /// The peer.
        peer: PeerId,
        /// `Response` events delivered.
        chunks: u32,
    },
    /// A request failed (possibly after some `Response` events).
    RequestFailed {
        /// The request.
        request: RequestId,
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: FailureReason,
    },
    /// The peer answered (or pushed) identify.
    Identified {
        /// The peer.
        peer: PeerId,
        /// The connection it was learned on.
        conn: ConnId,
        /// What it told us (merged with earlier pushes).
        info: PeerInfo,
    },
    /// A ping round trip completed.
    PingSuccess {
        /// The peer.
        peer: PeerId,
        /// The connection.
        conn: ConnId,
        /// Measured round-trip time.
        rtt: Duration,
    },
    /// The peer opened a stream for a registered application protocol.
    AppStreamOpened {
        /// The stream.
        stream: AppStream,
        /// The peer.
        peer: PeerId,
        /// The agreed protocol.
        protocol: String,
    },
    /// Bytes arrived on an application stream (either direction).
    AppStreamData {
        /// The stream.
        stream: AppStream,
        /// The bytes, in order.
        data: Bytes,
    },
    /// The peer finished its side of an application stream.
    AppStreamFinished {
        /// The stream.
        stream: AppStream,
    },
    /// An application stream was reset by the peer, refused in negotiation, or failed;
    /// the handle is invalid now.
    AppStreamReset {
        /// The stream.
        stream: AppStream,
    },
    /// A peer that made [`crate::Node::publish`] return
    /// [`leanp2p_gossipsub::PublishError::Backpressure`] has drained below half its
    /// budget (or left): publish the handed-back message again.
    PublishReady,
    /// A ping failed (the connection is kept; QUIC has its own liveness).
    PingFailed {
        /// The peer.
        peer: PeerId,
        /// The connection.
        conn: ConnId,
        /// Why.
        error: PingFailure,
    },
}
