//! Handles, I/O records and the events an [`crate::Endpoint`] emits.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use leanp2p_identity::PeerId;

use crate::error::DialFailure;

/// Handle of one connection. Never reused within an endpoint's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub(crate) u64);

impl ConnId {
    /// The raw, endpoint-unique number (for logs and maps).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// A bidirectional QUIC stream of one connection (one libp2p stream). Only meaningful
/// together with its [`ConnId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub(crate) quinn_proto::StreamId);

impl StreamId {
    /// The QUIC stream ID (RFC 9000 §2.1) as an integer.
    pub fn as_u64(self) -> u64 {
        u64::from(self.0)
    }

    /// Whether this endpoint opened the stream (i.e. is the multistream-select dialer).
    pub fn is_local(self, direction: Direction) -> bool {
        let initiated_by_client = self.0.initiator().is_client();
        initiated_by_client == (direction == Direction::Outbound)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.as_u64())
    }
}

/// Who started the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We dialled (QUIC client).
    Outbound,
    /// The peer dialled us (QUIC server).
    Inbound,
}

/// Explicit congestion notification codepoint of a datagram (RFC 3168).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ecn {
    /// ECT(0).
    Ect0,
    /// ECT(1).
    Ect1,
    /// Congestion experienced.
    Ce,
}

impl Ecn {
    /// The two ECN bits of the IP header, if they carry a codepoint.
    pub fn from_bits(bits: u8) -> Option<Self> {
        quinn_proto::EcnCodepoint::from_bits(bits).map(Self::from_quinn)
    }

    /// The two ECN bits for the IP header.
    pub fn to_bits(self) -> u8 {
        self.to_quinn() as u8
    }

    pub(crate) fn from_quinn(ecn: quinn_proto::EcnCodepoint) -> Self {
        match ecn {
            quinn_proto::EcnCodepoint::Ect0 => Self::Ect0,
            quinn_proto::EcnCodepoint::Ect1 => Self::Ect1,
            quinn_proto::EcnCodepoint::Ce => Self::Ce,
        }
    }

    pub(crate) fn to_quinn(self) -> quinn_proto::EcnCodepoint {
        match self {
            Self::Ect0 => quinn_proto::EcnCodepoint::Ect0,
            Self::Ect1 => quinn_proto::EcnCodepoint::Ect1,
            Self::Ce => quinn_proto::EcnCodepoint::Ce,
        }
    }
}

/// One received UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct Datagram<'a> {
    /// Sender address.
    pub remote: SocketAddr,
    /// Local IP the datagram was received on, if the socket reports it (IP_PKTINFO).
    pub local_ip: Option<IpAddr>,
    /// ECN bits of the IP header.
    pub ecn: Option<Ecn>,
    /// UDP payload.
    pub data: &'a [u8],
}

/// One datagram (or a GSO batch of equal-sized datagrams) to send. Its bytes are the
/// first `size` bytes of the buffer passed to [`crate::Endpoint::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub destination: SocketAddr,
    /// Number of bytes written into the caller's buffer.
    pub size: usize,
    /// `Some(n)`: the buffer holds several datagrams of `n` bytes (the last may be
    /// shorter), to be sent with GSO or one `send_to` per segment.
    pub segment_size: Option<usize>,
    /// ECN codepoint to set.
    pub ecn: Option<Ecn>,
    /// Source IP to send from, if it matters (reply to the address a datagram came in on).
    pub src_ip: Option<IpAddr>,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Nothing was received for the idle timeout: the peer is gone (crash, NAT rebind).
    TimedOut,
    /// We closed it with [`crate::Endpoint::close`] (or the endpoint did, e.g. a failed
    /// PeerId check).
    LocallyClosed,
    /// The peer closed it with an application CONNECTION_CLOSE.
    ApplicationClosed {
        /// Application error code (0 = normal close).
        code: u64,
        /// Reason phrase (peer data, may be empty).
        reason: Bytes,
    },
    /// The peer closed it with a transport CONNECTION_CLOSE (protocol or TLS error).
    TransportClosed {
        /// Transport error code (0x01xx = TLS alert).
        code: u64,
        /// Reason phrase (peer data, may be empty).
        reason: Bytes,
    },
    /// We detected a transport error in the peer's packets (including a rejected certificate).
    TransportError {
        /// Transport error code.
        code: u64,
        /// Human-readable detail.
        reason: String,
    },
    /// The peer sent a stateless reset (it lost the connection state).
    Reset,
    /// The peer supports no QUIC version we speak.
    VersionMismatch,
    /// The endpoint ran out of connection IDs.
    CidsExhausted,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TimedOut => write!(f, "timed out"),
            Self::LocallyClosed => write!(f, "closed locally"),
            Self::ApplicationClosed { code, .. } => write!(f, "closed by peer (code {code})"),
            Self::TransportClosed { code, .. } => {
                write!(f, "aborted by peer (transport code {code:#x})")
            }
            Self::TransportError { code, reason } => {
                write!(f, "transport error {code:#x}: {reason}")
            }
            Self::Reset => write!(f, "stateless reset by peer"),
            Self::VersionMismatch => write!(f, "no common QUIC version"),
            Self::CidsExhausted => write!(f, "connection IDs exhausted"),
        }
    }
}

impl CloseReason {
    pub(crate) fn from_quinn(error: &quinn_proto::ConnectionError) -> Self {
        use quinn_proto::ConnectionError as E;
        match error {
            E::VersionMismatch => Self::VersionMismatch,
            E::TransportError(e) => Self::TransportError {
                code: u64::from(e.code),
                reason: e.reason.clone(),
            },
            E::ConnectionClosed(close) => Self::TransportClosed {
                code: u64::from(close.error_code),
                reason: close.reason.clone(),
            },
            E::ApplicationClosed(close) => Self::ApplicationClosed {
                code: close.error_code.into_inner(),
                reason: close.reason.clone(),
            },
            E::Reset => Self::Reset,
            E::TimedOut => Self::TimedOut,
            E::LocallyClosed => Self::LocallyClosed,
            E::CidsExhausted => Self::CidsExhausted,
        }
    }
}

/// What happened; pulled with [`crate::Endpoint::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed and the peer proved its PeerId with its certificate.
    /// Streams can be opened from now on.
    Connected {
        /// The connection.
        conn: ConnId,
        /// Verified PeerId of the peer.
        peer: PeerId,
        /// Peer address.
        remote: SocketAddr,
        /// Who dialled.
        direction: Direction,
    },
    /// A dial did not produce a connection. The [`ConnId`] is gone.
    DialFailed {
        /// The connection `dial` returned.
        conn: ConnId,
        /// Dialled address.
        remote: SocketAddr,
        /// PeerId passed to `dial`.
        expected: Option<PeerId>,
        /// What went wrong.
        error: DialFailure,
    },
    /// An established connection ended. No further events for `conn` follow.
    Closed {
        /// The connection.
        conn: ConnId,
        /// The peer it was with.
        peer: PeerId,
        /// Why.
        reason: CloseReason,
    },
    /// The peer opened a stream (we are the multistream-select listener on it).
    StreamOpened {
        /// The connection.
        conn: ConnId,
        /// The new stream.
        stream: StreamId,
    },
    /// Data (or the end of the stream, or a reset) is waiting to be read.
    Readable {
        /// The connection.
        conn: ConnId,
        /// The stream.
        stream: StreamId,
    },
    /// A stream that accepted fewer bytes than offered can take more now.
    Writable {
        /// The connection.
        conn: ConnId,
        /// The stream.
        stream: StreamId,
    },
    /// The peer finished its send side and every byte has been read.
    Finished {
        /// The connection.
        conn: ConnId,
        /// The stream.
        stream: StreamId,
    },
    /// The peer reset its send side (RESET_STREAM); unread data is lost.
    Reset {
        /// The connection.
        conn: ConnId,
        /// The stream.
        stream: StreamId,
        /// The peer's error code.
        code: u64,
    },
    /// The peer asked us to stop sending (STOP_SENDING); our send side is reset.
    Stopped {
        /// The connection.
        conn: ConnId,
        /// The stream.
        stream: StreamId,
        /// The peer's error code.
        code: u64,
    },
    /// The peer raised its stream limit: `open_bi` may succeed again.
    StreamsAvailable {
        /// The connection.
        conn: ConnId,
    },
}
