//! Error types, one enum per operation.

use crate::message::{ResponseCode, StreamKey};
use std::time::Duration;

/// Why a snappy framed stream was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnappyError {
    /// The first chunk was not the stream identifier.
    #[error("snappy stream does not start with a stream identifier")]
    MissingStreamIdentifier,
    /// A stream identifier chunk with the wrong length or content.
    #[error("malformed snappy stream identifier")]
    BadStreamIdentifier,
    /// A reserved unskippable chunk type (0x02..=0x7f).
    #[error("reserved unskippable snappy chunk type {0:#04x}")]
    ReservedChunkType(u8),
    /// A chunk whose length is impossible for its type.
    #[error("snappy chunk of type {chunk_type:#04x} has invalid length {len}")]
    BadChunkLength {
        /// The chunk type byte.
        chunk_type: u8,
        /// The declared chunk length.
        len: usize,
    },
    /// The framed bytes exceed the budget allowed for the declared payload length.
    #[error("snappy stream exceeds its compressed-size budget of {budget} bytes")]
    CompressedBudgetExceeded {
        /// The budget (`32 + n + n/6` for a payload of `n` bytes).
        budget: usize,
    },
    /// A chunk would decompress past the declared payload length or past 64 KiB.
    #[error("snappy chunk decompresses to {len} bytes, more than the {allowed} allowed")]
    DecompressedTooLarge {
        /// The chunk's decompressed length.
        len: usize,
        /// What was still allowed.
        allowed: usize,
    },
    /// The snappy block inside a compressed chunk is corrupt.
    #[error("corrupt snappy block")]
    CorruptBlock,
    /// A complete framed stream ended before its declared length ([`decode_framed`](crate::snappy::decode_framed)).
    #[error("snappy stream ended before the declared length")]
    Truncated,
    /// Bytes after the declared length ([`decode_framed`](crate::snappy::decode_framed)).
    #[error("bytes after the snappy stream")]
    TrailingBytes,
    /// The masked CRC32C of a chunk did not match its data.
    #[error("snappy chunk checksum mismatch (stored {stored:#010x}, computed {computed:#010x})")]
    ChecksumMismatch {
        /// The checksum found in the chunk.
        stored: u32,
        /// The checksum of the decompressed data.
        computed: u32,
    },
}

/// Why bytes from a peer could not be decoded as a request or response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A length prefix longer than 10 bytes or overflowing `u64`.
    #[error("length prefix overflows")]
    VarintOverflow,
    /// A length prefix that is not minimally encoded.
    #[error("length prefix is not minimally encoded")]
    VarintNotMinimal,
    /// The declared length exceeds the limit for this message (checked before
    /// any allocation or decompression).
    #[error("declared length {declared} exceeds the limit {max}")]
    LengthTooLarge {
        /// The declared uncompressed length.
        declared: u64,
        /// The limit.
        max: usize,
    },
    /// The declared length is below the minimum for this message.
    #[error("declared length {declared} is below the minimum {min}")]
    LengthTooSmall {
        /// The declared uncompressed length.
        declared: u64,
        /// The minimum.
        min: usize,
    },
    /// The snappy frames of the payload are invalid.
    #[error("invalid snappy framing: {0}")]
    Snappy(#[from] SnappyError),
    /// Bytes after a complete request.
    #[error("unexpected bytes after the request")]
    TrailingData,
    /// The stream ended in the middle of a message.
    #[error("stream ended mid-message")]
    Truncated,
    /// The stream ended before any request was sent.
    #[error("stream ended without a request")]
    MissingRequest,
    /// More response chunks than the protocol or request allows.
    #[error("more response chunks than allowed")]
    TooManyChunks,
}

/// Why a message could not be encoded (caller misuse).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The payload is larger than the protocol allows.
    #[error("payload of {len} bytes exceeds the limit {max}")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The payload is smaller than the protocol requires.
    #[error("payload of {len} bytes is below the minimum {min}")]
    PayloadTooSmall {
        /// Payload length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// This codec cannot carry error chunks (e.g. length-delimited protobuf).
    #[error("codec cannot encode result code {0:?}")]
    UnsupportedCode(ResponseCode),
}

/// [`Config::validate`](crate::Config::validate) failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Two protocols (or aliases) share an id.
    #[error("protocol id {0} registered twice")]
    DuplicateProtocol(String),
    /// A protocol limit is inconsistent or exceeds a node-wide limit.
    #[error("protocol {protocol}: {what}")]
    BadProtocolLimit {
        /// The protocol.
        protocol: String,
        /// What is wrong.
        what: &'static str,
    },
    /// A node-wide setting is out of range.
    #[error("invalid setting: {0}")]
    Invalid(&'static str),
}

/// [`ReqResp::request`](crate::ReqResp::request) failures. State is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The protocol is not registered in the config.
    #[error("protocol {0} is not registered")]
    UnknownProtocol(String),
    /// The request body does not fit the protocol's limits.
    #[error("cannot encode request: {0}")]
    Encode(#[from] EncodeError),
    /// `max_concurrent_outbound_per_peer` requests to this peer on this
    /// protocol are already in flight.
    #[error("{limit} requests to this peer on this protocol already in flight")]
    TooManyForPeer {
        /// The per-peer, per-protocol limit.
        limit: u32,
    },
    /// `Limits::max_outbound_requests` requests are already in flight.
    #[error("{limit} outbound requests already in flight")]
    TooManyRequests {
        /// The node-wide limit.
        limit: usize,
    },
    /// The host is not draining `poll_outbound`.
    #[error("outbound queue is full")]
    QueueFull,
    /// The outbound quota would delay this request past its timeout.
    #[error("outbound quota exhausted, retry after {retry_after:?}")]
    RateLimited {
        /// When enough tokens will be available.
        retry_after: Duration,
    },
}

/// [`ReqResp::respond`](crate::ReqResp::respond) /
/// [`ReqResp::end_response`](crate::ReqResp::end_response) failures. State is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RespondError {
    /// No open response channel with this id (never existed, already ended,
    /// timed out, reset, or the peer disconnected).
    #[error("unknown or closed response channel")]
    UnknownChannel,
    /// The protocol's `max_response_chunks` chunks were already sent.
    #[error("response already has the maximum of {max} chunks")]
    TooManyChunks {
        /// The limit.
        max: u32,
    },
    /// The chunk does not fit the protocol's limits.
    #[error("cannot encode response chunk: {0}")]
    Encode(#[from] EncodeError),
    /// Not now: the response stream holds `Limits::response_high_water`
    /// unsent bytes (wait for `Event::ResponseWritable` for this channel), or
    /// the host is not draining `poll_outbound`.
    #[error("outbound queue is full")]
    QueueFull,
}

/// [`ReqResp::cancel`](crate::ReqResp::cancel) failures.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CancelError {
    /// The request already finished, failed or never existed.
    #[error("unknown request")]
    UnknownRequest,
}

/// Stream input failures (`handle_stream_*`, `handle_outbound_stream_opened`).
///
/// `UnknownStream`, `StreamInUse`, `UnknownRequest` and `UnknownProtocol` are
/// host misuse or races: state is unchanged and the host should reset the
/// stream. `Decode` reports peer misbehaviour the machine has already handled
/// (error response or reset queued, event emitted); the host only logs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The machine does not track this stream.
    #[error("unknown stream {0}")]
    UnknownStream(StreamKey),
    /// The key is already used by another stream.
    #[error("stream key {0} already in use")]
    StreamInUse(StreamKey),
    /// The negotiated protocol is not registered.
    #[error("protocol {0} is not registered")]
    UnknownProtocol(String),
    /// The peer sent bytes that could not be decoded (already handled).
    #[error("peer sent invalid data: {0}")]
    Decode(#[from] DecodeError),
    /// `Limits::max_inbound_streams` reached; the stream was reset.
    #[error("too many inbound streams; stream reset")]
    TooManyStreams,
}
