//! Read-only views of the node's internals, for diagnostics and tests: the stream table
//! of each connection ([`Node::stream_ids`], [`Node::stream_info`]), the request opens
//! waiting for stream credit, our public key; and, for fault injection only, raw access
//! to the QUIC endpoint ([`Node::raw_endpoint_mut`]).

use leanp2p_identity::PublicKey;
use leanp2p_quic::{ConnId, Direction, Endpoint, StreamId};
use leanp2p_reqresp::RequestId;

use super::Node;
use crate::connection::{Stream, StreamKind};

/// What a stream carries, as the host sees it (see [`StreamInfo`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamRole {
    /// Inbound, protocol not agreed yet.
    Listening,
    /// Our outbound `/meshsub` stream (we only write on it).
    GossipOut,
    /// The peer's `/meshsub` stream (we only read it).
    GossipIn,
    /// A req/resp stream.
    ReqResp {
        /// Our request, for a stream we opened; `None` for the peer's request.
        request: Option<RequestId>,
    },
    /// Our identify query (we read the peer's answer).
    IdentifyQuery,
    /// The peer's identify query (we answer it).
    IdentifyServe,
    /// Our identify push.
    IdentifyPushOut,
    /// The peer's identify push (we read it).
    IdentifyPushIn,
    /// Our ping stream.
    PingOut,
    /// The peer's ping stream (we echo it).
    PingIn,
    /// An application-protocol stream (see [`Node::register_protocol`]).
    App {
        /// The agreed (or, while we negotiate, offered) protocol id.
        protocol: String,
    },
}

impl StreamRole {
    fn of(kind: &StreamKind) -> Self {
        match kind {
            StreamKind::Listening => Self::Listening,
            StreamKind::GossipOut => Self::GossipOut,
            StreamKind::GossipIn(_) => Self::GossipIn,
            StreamKind::ReqResp { request } => Self::ReqResp { request: *request },
            StreamKind::IdentifyQuery(_) => Self::IdentifyQuery,
            StreamKind::IdentifyServe => Self::IdentifyServe,
            StreamKind::IdentifyPushOut => Self::IdentifyPushOut,
            StreamKind::IdentifyPushIn(_) => Self::IdentifyPushIn,
            StreamKind::PingOut(_) => Self::PingOut,
            StreamKind::PingIn(_) => Self::PingIn,
            StreamKind::App { protocol } => Self::App {
                protocol: protocol.clone(),
            },
        }
    }
}

/// A snapshot of one stream in the host's stream table (see [`Node::stream_info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamInfo {
    /// What the stream carries.
    pub role: StreamRole,
    /// Who opened it: [`Direction::Outbound`] for us.
    pub direction: Direction,
    /// multistream-select is still running (under [`crate::Limits::negotiation_timeout`]).
    /// A single-protocol dialer (V1Lazy) is already writable while negotiating.
    pub negotiating: bool,
    /// Application bytes may be written: after agreement, or at once for a V1Lazy
    /// dialer.
    pub writable: bool,
    /// Unsent bytes the host holds for the stream (negotiation output first).
    pub buffered_bytes: usize,
    /// Our send side is over (FIN sent, reset or stopped).
    pub send_closed: bool,
    /// The peer's send side is over (FIN read or reset).
    pub recv_closed: bool,
}

impl StreamInfo {
    fn of(stream: &Stream) -> Self {
        Self {
            role: StreamRole::of(&stream.kind),
            direction: if stream.outbound {
                Direction::Outbound
            } else {
                Direction::Inbound
            },
            negotiating: stream.is_negotiating(),
            writable: stream.writable,
            buffered_bytes: stream.send.buffered_bytes(),
            send_closed: stream.send_closed,
            recv_closed: stream.recv_closed,
        }
    }
}

impl Node {
    /// The streams the host tracks on `conn`, in id order (empty for an unknown
    /// connection). Streams opened through [`Node::raw_endpoint_mut`] are not among
    /// them.
    pub fn stream_ids(&self, conn: ConnId) -> Vec<StreamId> {
        self.conns
            .get(&conn)
            .map(|c| c.streams().map(|(id, _)| id).collect())
            .unwrap_or_default()
    }

    /// A snapshot of stream `stream` of `conn`, if the host tracks it.
    pub fn stream_info(&self, conn: ConnId, stream: StreamId) -> Option<StreamInfo> {
        self.conns.stream(&conn, stream).map(StreamInfo::of)
    }

    /// Our current outbound `/meshsub` stream on `conn`, if gossip to its peer is written
    /// there (see [`Node::gossip_connection`]).
    pub fn gossip_stream(&self, conn: ConnId) -> Option<StreamId> {
        self.conns.get(&conn).and_then(|c| c.gossip_out)
    }

    /// Number of req/resp stream opens waiting for a connection's stream limit (the
    /// peer's `max_concurrent_bidi_streams`); they are opened as streams close. Bounded
    /// by [`crate::Limits::max_blocked_opens`].
    pub fn blocked_request_opens(&self) -> usize {
        self.blocked_opens.len()
    }

    /// Our host public key (the one our PeerId derives from and identify announces).
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// The QUIC endpoint, mutably, **bypassing the host**: for fault injection in tests
    /// (writing raw, possibly malformed bytes on a stream of a live connection, as a
    /// misbehaving peer would).
    ///
    /// Nothing done here goes through the host's bookkeeping: a stream opened here is not
    /// in the host's stream table (no negotiation, no limits, no [`NodeEvent`]s of its
    /// own), and finishing, stopping or resetting a stream the host tracks leaves its
    /// entry as it was until QUIC reports the consequences. The endpoint's events are
    /// still read by the host. Drain [`Node::poll_transmit`] afterwards as after any
    /// command. Never needed to run a node.
    ///
    /// [`NodeEvent`]: crate::NodeEvent
    pub fn raw_endpoint_mut(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }
}
