//! One stream of a connection: what it carries ([`StreamKind`]), its multistream-select
//! negotiation and its send buffer.

use std::time::Instant;

use bytes::Bytes;
use leanp2p_gossipsub::wire::FrameDecoder;
use leanp2p_multistream::Negotiation;
use leanp2p_quic::SendBuffer;
use leanp2p_reqresp::RequestId;

use super::Accounted;

/// What a stream carries (known at open for our streams, after negotiation for the
/// peer's).
#[derive(Debug)]
pub(crate) enum StreamKind {
    /// Inbound, protocol not agreed yet.
    Listening,
    /// Our outbound `/meshsub` stream (we only write on it).
    GossipOut,
    /// The peer's `/meshsub` stream (we only read it).
    GossipIn(Box<FrameDecoder>),
    /// A req/resp stream, known to the machine under the key the host names it by
    /// (`node::reqresp::rr_key`); `request` for ours.
    ReqResp { request: Option<RequestId> },
    /// Our identify query: read the peer's answer until FIN.
    IdentifyQuery(Vec<u8>),
    /// The peer's identify query: we answered and finished.
    IdentifyServe,
    /// Our identify push: write and finish.
    IdentifyPushOut,
    /// The peer's identify push: read until FIN.
    IdentifyPushIn(Vec<u8>),
    /// Our ping stream.
    PingOut(Vec<u8>),
    /// The peer's ping stream: echo every 32-byte block.
    PingIn(Vec<u8>),
    /// An application protocol stream (either direction).
    App {
        /// The agreed (or offered) protocol id.
        protocol: String,
    },
}

impl StreamKind {
    /// Inbound-cap class of a negotiated inbound stream.
    pub(crate) fn inbound_class(&self) -> Option<InboundClass> {
        match self {
            Self::GossipIn(_) => Some(InboundClass::Gossip),
            Self::ReqResp { request: None, .. } => Some(InboundClass::ReqResp),
            Self::IdentifyServe | Self::IdentifyPushIn(_) => Some(InboundClass::Identify),
            Self::PingIn(_) => Some(InboundClass::Ping),
            Self::App { .. } => Some(InboundClass::App),
            _ => None,
        }
    }
}

/// Classes of inbound streams with a per-connection cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InboundClass {
    Gossip,
    ReqResp,
    Identify,
    Ping,
    App,
}

impl InboundClass {
    /// Number of classes.
    pub(crate) const COUNT: usize = 5;

    /// Index into per-class counters.
    pub(crate) fn index(self) -> usize {
        match self {
            Self::Gossip => 0,
            Self::ReqResp => 1,
            Self::Identify => 2,
            Self::Ping => 3,
            Self::App => 4,
        }
    }
}

/// One stream of a connection.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) kind: StreamKind,
    /// multistream-select, until its outcome is taken.
    pub(crate) negotiation: Option<Negotiation>,
    /// When negotiation must be done.
    pub(crate) negotiation_deadline: Option<Instant>,
    /// Whether application bytes may be written (after agreement, or at once for a
    /// V1Lazy dialer).
    pub(crate) writable: bool,
    /// Bytes waiting for QUIC credit, in order (negotiation output first).
    pub(crate) send: SendBuffer,
    /// FIN once `send` is empty.
    pub(crate) finish_queued: bool,
    /// Our send side is over (FIN sent, reset or stopped).
    pub(crate) send_closed: bool,
    /// The peer's send side is over (FIN read or reset).
    pub(crate) recv_closed: bool,
    /// The peer sent STOP_SENDING while we still read: our send side is reset when the
    /// stream is forgotten.
    pub(crate) peer_stopped: bool,
    /// Whether we opened it.
    pub(crate) outbound: bool,
    /// Negotiated inbound order (for replacing the oldest gossip stream).
    pub(crate) opened_at: Instant,
    /// Not read while set: what we owe the peer on this stream (ping echoes) waits for
    /// its credit; unread bytes hold back the peer through QUIC flow control. Cleared
    /// when the stream drains.
    pub(crate) read_paused: bool,
    /// What the connection's counters hold for this stream (see `Connection::settle`).
    pub(super) accounted: Accounted,
    /// Borrowed mutably since the connection last settled its counters.
    pub(super) dirty: bool,
}

impl Stream {
    pub(crate) fn new(
        kind: StreamKind,
        negotiation: Negotiation,
        deadline: Instant,
        send_limit: usize,
        outbound: bool,
        now: Instant,
    ) -> Self {
        Self {
            kind,
            negotiation: Some(negotiation),
            negotiation_deadline: Some(deadline),
            writable: false,
            send: SendBuffer::new(send_limit),
            finish_queued: false,
            send_closed: false,
            recv_closed: false,
            peer_stopped: false,
            outbound,
            opened_at: now,
            read_paused: false,
            accounted: Accounted::default(),
            dirty: false,
        }
    }

    /// What this stream contributes to its connection's counters now.
    pub(super) fn account(&self) -> Accounted {
        Accounted {
            negotiation_deadline: self.negotiation_deadline,
            inbound_class: if self.outbound {
                None
            } else {
                self.kind.inbound_class()
            },
            active: self.is_negotiating()
                || matches!(
                    self.kind,
                    StreamKind::ReqResp { .. } | StreamKind::App { .. }
                )
                || (!self.send.is_empty() && !self.send_closed),
            gossip_in: matches!(self.kind, StreamKind::GossipIn(_)),
            gossip_out: matches!(self.kind, StreamKind::GossipOut),
        }
    }

    /// Whether multistream-select is still running.
    pub(crate) fn is_negotiating(&self) -> bool {
        self.negotiation_deadline.is_some()
    }

    /// Moves the negotiation's pending output into the send buffer.
    pub(crate) fn take_negotiation_output(&mut self) -> Result<(), leanp2p_quic::SendBufferFull> {
        if let Some(negotiation) = self.negotiation.as_mut() {
            while let Some(bytes) = negotiation.poll_output() {
                self.send.push(bytes)?;
            }
        }
        Ok(())
    }

    /// Queues application bytes.
    pub(crate) fn push(&mut self, bytes: Bytes) -> Result<(), leanp2p_quic::SendBufferFull> {
        self.send.push(bytes)
    }
}
