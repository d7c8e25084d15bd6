//! Per-connection bookkeeping around a `quinn_proto::Connection`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leanp2p_identity::PeerId;
use quinn_proto::ConnectionHandle;

use crate::event::Direction;
use crate::timer::{classify, TimeoutReason, TimerHints};
use crate::tls::RejectionSlot;

/// Where a connection is in its life, as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// TLS handshake running; no events for the caller yet.
    Handshaking {
        /// When the attempt is abandoned.
        deadline: Instant,
    },
    /// `Event::Connected` was emitted.
    Established {
        /// Verified peer.
        peer: PeerId,
    },
    /// The end was reported (or, for an inbound handshake, counted); quinn is closing or
    /// draining and the connection disappears once drained.
    Ended,
}

/// One connection and what we observed about it.
pub(crate) struct Conn {
    pub(crate) handle: ConnectionHandle,
    pub(crate) quinn: quinn_proto::Connection,
    pub(crate) direction: Direction,
    pub(crate) remote: SocketAddr,
    pub(crate) expected: Option<PeerId>,
    /// Where the dial's certificate verifier records a rejection (outbound only).
    pub(crate) rejection: Option<RejectionSlot>,
    pub(crate) state: ConnState,
    /// Whether the connection sits in the endpoint's transmit queue.
    pub(crate) queued_for_transmit: bool,
    pub(crate) pacing_deadline: Option<Instant>,
    pub(crate) last_rx: Option<Instant>,
    /// When quinn was first seen closing or draining; the connection is forgotten at
    /// this + [`crate::Limits::max_drain_time`] at the latest.
    pub(crate) closed_since: Option<Instant>,
}

impl Conn {
    pub(crate) fn new(
        handle: ConnectionHandle,
        quinn: quinn_proto::Connection,
        direction: Direction,
        remote: SocketAddr,
        expected: Option<PeerId>,
        rejection: Option<RejectionSlot>,
        handshake_deadline: Instant,
    ) -> Self {
        Self {
            handle,
            quinn,
            direction,
            remote,
            expected,
            rejection,
            state: ConnState::Handshaking {
                deadline: handshake_deadline,
            },
            queued_for_transmit: false,
            pacing_deadline: None,
            last_rx: None,
            closed_since: None,
        }
    }

    pub(crate) fn is_handshaking(&self) -> bool {
        matches!(self.state, ConnState::Handshaking { .. })
    }

    pub(crate) fn peer(&self) -> Option<PeerId> {
        match self.state {
            ConnState::Established { peer } => Some(peer),
            _ => None,
        }
    }

    /// The next deadline (quinn's or our handshake deadline) with its reason.
    pub(crate) fn deadline(
        &mut self,
        keep_alive: Option<Duration>,
        idle: Duration,
        max_drain: Duration,
    ) -> Option<(Instant, TimeoutReason)> {
        let drain_cut = self.closed_since.map(|at| at + max_drain);
        let quinn_deadline = match (self.quinn.poll_timeout(), drain_cut) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let handshake_deadline = match self.state {
            ConnState::Handshaking { deadline } => Some(deadline),
            _ => None,
        };
        let deadline = match (quinn_deadline, handshake_deadline) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        if self.pacing_deadline.is_some_and(|p| p < deadline) {
            self.pacing_deadline = None;
        }
        let hints = TimerHints {
            handshake_deadline,
            pacing_deadline: self.pacing_deadline,
            last_rx: self.last_rx,
            closing: self.quinn.is_closed() || drain_cut.is_some(),
        };
        Some((deadline, classify(deadline, &hints, keep_alive, idle)))
    }
}
