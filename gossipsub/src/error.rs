//! Error types, one enum per operation.

use thiserror::Error;

/// A [`crate::Config`] (or [`crate::Limits`], or score parameters) is invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A limit that must be positive is zero.
    #[error("limit `{0}` must be non-zero")]
    ZeroLimit(&'static str),
    /// Two settings contradict each other.
    #[error("inconsistent configuration: {0}")]
    Inconsistent(&'static str),
    /// Mesh degree parameters violate `D_out < D_lo ≤ D ≤ D_hi`, `D_out ≤ D/2` or
    /// `D_score ≤ D`.
    #[error("invalid mesh degree parameters")]
    InvalidMeshParams,
    /// Peer-score parameters or thresholds are invalid.
    #[error("invalid peer score parameter: {0}")]
    InvalidScore(&'static str),
}

/// Errors of the frame layer ([`crate::wire::FrameDecoder`], [`crate::wire::decode_frame`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix announces more than the configured maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced length.
        len: u64,
        /// Configured maximum.
        max: usize,
    },
    /// The uvarint length prefix is longer than 10 bytes or not minimally encoded.
    #[error("malformed uvarint length prefix")]
    BadLengthPrefix,
    /// Input ended inside a frame.
    #[error("truncated frame")]
    Truncated,
    /// Bytes follow a complete frame where exactly one frame was expected.
    #[error("trailing bytes after the frame")]
    TrailingBytes,
}

/// Why [`crate::Gossipsub::handle_rpc`] did not fully process a frame.
///
/// Every section that decoded on its own was still acted on; the error only reports what
/// was dropped. Peers are penalised where the spec says so.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RpcError {
    /// The sender is not a connected peer; the frame was ignored.
    #[error("frame from a peer that is not connected")]
    UnknownPeer,
    /// The frame is larger than `max_transmit_size`; it was dropped whole.
    #[error("frame of {len} bytes exceeds max_transmit_size {max}")]
    FrameTooLarge {
        /// Frame length.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The sender's score is below the graylist threshold; the frame was ignored.
    #[error("peer is graylisted")]
    Graylisted,
    /// The RPC carried more subscription changes than
    /// [`crate::Limits::max_subscriptions_per_rpc`]: all of them were skipped undecoded
    /// (its other sections were still processed) and the peer got one behaviour
    /// penalty. rust-libp2p drops the stream of such an RPC; a host should reset the
    /// inbound stream it came on, so a churn flood costs the sender a new stream.
    #[error("{count} subscription changes in one RPC exceed max_subscriptions_per_rpc {max}")]
    TooManySubscriptions {
        /// Subscription changes the RPC carried.
        count: usize,
        /// Configured maximum.
        max: usize,
    },
    /// Some sections were malformed or over a limit and were skipped; the others were
    /// processed.
    #[error("{dropped} RPC section(s) were malformed or over a limit and were skipped")]
    PartiallyInvalid {
        /// Number of skipped sections.
        dropped: usize,
    },
}

impl RpcError {
    /// Whether a host should reset the inbound stream the frame came on (the sender then
    /// pays for a new stream), as rust-libp2p drops the stream of such RPCs. True for
    /// [`RpcError::TooManySubscriptions`]; the other errors leave the stream usable.
    pub fn resets_stream(&self) -> bool {
        matches!(self, Self::TooManySubscriptions { .. })
    }
}

/// Errors of [`crate::Gossipsub::handle_peer_connected`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PeerError {
    /// `Limits::max_peers` peers are already connected.
    #[error("too many peers")]
    TooManyPeers,
}

/// Errors of [`crate::Gossipsub::publish`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The same message (same id) was already published or received.
    #[error("duplicate message")]
    Duplicate,
    /// No connected peer could receive the message (nobody subscribed, or all below the
    /// publish threshold). Lean clients are expected to tolerate this.
    #[error("no peers subscribed to the topic")]
    InsufficientPeers,
    /// The encoded message exceeds `max_transmit_size` or the topic's size limit.
    #[error("message of {len} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// Encoded size.
        len: usize,
        /// Applicable limit.
        max: usize,
    },
    /// No peer the message was chosen for has room in its priority budget
    /// ([`crate::Limits::max_priority_queue_bytes`] / `_frames`): nothing was queued, the
    /// message is not marked seen, and it is handed back. Publish it again after
    /// [`crate::Event::PublishReady`].
    #[error("{} peer(s) cannot take the message now; publish it again after PublishReady", congested.len())]
    Backpressure {
        /// The message payload, as passed to `publish`.
        data: bytes::Bytes,
        /// The chosen peers without room.
        congested: Vec<leanp2p_identity::PeerId>,
    },
    /// The topic string is empty or longer than `max_topic_len`.
    #[error("invalid topic")]
    InvalidTopic,
}

/// Errors of [`crate::Gossipsub::subscribe`] / [`crate::Gossipsub::unsubscribe`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The topic string is empty or longer than `max_topic_len`.
    #[error("invalid topic")]
    InvalidTopic,
}

/// Errors of [`crate::Gossipsub::report_validation`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// No message with this id awaits validation (already reported, timed out, or never
    /// delivered).
    #[error("no message with this id awaits validation")]
    UnknownMessage,
}

/// Errors of the lean snappy-block helpers ([`crate::lean`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SnappyError {
    /// The declared decompressed size exceeds the cap (checked before allocating).
    #[error("declared decompressed size {declared} exceeds the cap {max}")]
    DeclaredTooLarge {
        /// Declared size from the block header.
        declared: u64,
        /// The cap.
        max: usize,
    },
    /// The compressed input is longer than `max_compress_len(cap)`.
    #[error("compressed input of {len} bytes exceeds {max}")]
    CompressedTooLarge {
        /// Input length.
        len: usize,
        /// Maximum compressed length for the cap.
        max: usize,
    },
    /// The block header is missing or malformed.
    #[error("malformed snappy block header")]
    BadHeader,
    /// The block body is corrupt.
    #[error("corrupt snappy block")]
    Corrupt,
    /// The input to compress exceeds the cap.
    #[error("input of {len} bytes exceeds the cap {max}")]
    InputTooLarge {
        /// Input length.
        len: usize,
        /// The cap.
        max: usize,
    },
}

/// Errors of [`crate::lean::LeanTopic::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Not of the form `/leanconsensus/<network>/<name>/ssz_snappy`.
    #[error("topic does not have the lean shape")]
    Malformed,
    /// A different network name (a different network, not an attack).
    #[error("topic belongs to another network")]
    WrongNetwork,
    /// Unknown topic name.
    #[error("unknown lean topic name")]
    UnknownKind,
}
