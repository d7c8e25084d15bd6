//! Error types, one per operation.
//!
//! Commands that the caller misuses (unknown [`crate::ConnId`], stream of another
//! connection, write after finish) return an `Err` and leave the endpoint unchanged.
//! Anything a remote peer does is reported through [`crate::Event`]s instead.

use leanp2p_identity::tls::CertificateError;
use leanp2p_identity::PeerId;
use std::net::SocketAddr;

/// Why a [`crate::Config`] or the endpoint's TLS setup was rejected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A timer value is out of range.
    #[error("invalid timer configuration: {0}")]
    InvalidTimer(&'static str),
    /// A window, stream limit or packet size is out of range.
    #[error("invalid window configuration: {0}")]
    InvalidWindow(&'static str),
    /// A [`crate::Limits`] value is out of range.
    #[error("invalid limit: {0}")]
    InvalidLimit(&'static str),
    /// The libp2p TLS configuration could not be built.
    #[error("libp2p TLS configuration failed: {0}")]
    Tls(String),
}

/// Why [`crate::Endpoint::dial`] refused to start a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    /// [`crate::Limits::max_connections`] connections exist already.
    #[error("too many connections")]
    TooManyConnections,
    /// [`crate::Limits::max_handshakes`] handshakes are in progress already.
    #[error("too many handshakes in progress")]
    TooManyHandshakes,
    /// The address cannot be dialled (port 0, unspecified IP).
    #[error("invalid remote address {0}")]
    InvalidAddress(SocketAddr),
    /// The endpoint ran out of connection IDs.
    #[error("connection IDs exhausted")]
    CidsExhausted,
    /// The client TLS configuration for this dial could not be built.
    #[error("client TLS configuration failed: {0}")]
    Tls(String),
    /// quinn refused to start the connection for another reason (cannot happen with
    /// the configuration this crate builds; kept so nothing is swallowed).
    #[error("QUIC refused the dial: {0}")]
    Refused(String),
}

/// Why a dial that had started did not produce a connection (in
/// [`crate::Event::DialFailed`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialFailure {
    /// The peer proved ownership of a different PeerId than the one expected.
    #[error("peer is {actual:?}, expected {expected}")]
    WrongPeerId {
        /// The PeerId passed to `dial`.
        expected: PeerId,
        /// The PeerId the peer presented, when the handshake got far enough to learn it.
        actual: Option<PeerId>,
    },
    /// The peer's certificate is not a valid libp2p certificate (with the verifier's
    /// reason when our side rejected it during the handshake).
    #[error("invalid peer certificate: {0:?}")]
    InvalidCertificate(Option<CertificateError>),
    /// The handshake did not complete within [`crate::Config::handshake_timeout`].
    #[error("handshake timed out")]
    HandshakeTimedOut,
    /// The connection closed before the handshake completed.
    #[error("connection closed during handshake: {0}")]
    Closed(crate::event::CloseReason),
}

/// Why a stream could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenStreamError {
    /// No such connection (never existed, or already closed and drained).
    #[error("unknown connection")]
    UnknownConnection,
    /// The connection is still handshaking or already closing.
    #[error("connection is not established")]
    NotConnected,
    /// The peer's stream limit is reached; retry after [`crate::Event::StreamsAvailable`].
    #[error("peer stream limit reached")]
    LimitReached,
}

/// Why [`crate::Endpoint::write`] failed. Flow-control backpressure is not an error: the
/// write returns how many bytes were accepted (possibly 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// No such connection.
    #[error("unknown connection")]
    UnknownConnection,
    /// The connection is not established (handshaking or closing).
    #[error("connection is not established")]
    NotConnected,
    /// The stream is unknown, finished or reset on our side.
    #[error("stream closed")]
    ClosedStream,
    /// The peer sent STOP_SENDING with this code; the stream's send side is reset.
    #[error("stopped by peer with code {0}")]
    Stopped(u64),
}

/// Why [`crate::Endpoint::read`] failed. A reset or finished receive side is reported by
/// [`crate::Event::Reset`] / [`crate::Event::Finished`]; reading afterwards is
/// [`ReadError::ClosedStream`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// No such connection.
    #[error("unknown connection")]
    UnknownConnection,
    /// The connection is not established.
    #[error("connection is not established")]
    NotConnected,
    /// The receive side is unknown, already fully read, reset, or stopped by us.
    #[error("stream closed")]
    ClosedStream,
}

/// Why `finish`, `reset`, `stop` or `set_priority` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// No such connection.
    #[error("unknown connection")]
    UnknownConnection,
    /// The connection is not established.
    #[error("connection is not established")]
    NotConnected,
    /// The stream (or the half the operation applies to) is unknown or already closed.
    #[error("stream closed")]
    ClosedStream,
    /// The peer stopped the stream with this code (finish only).
    #[error("stopped by peer with code {0}")]
    Stopped(u64),
    /// The error code does not fit a QUIC varint (≥ 2^62).
    #[error("error code out of range")]
    InvalidCode,
}

/// Why [`crate::Endpoint::close`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// No such connection, or it is already closed.
    #[error("unknown or already closed connection")]
    UnknownConnection,
    /// The error code does not fit a QUIC varint (≥ 2^62).
    #[error("error code out of range")]
    InvalidCode,
}
