//! What the machine hands to the host ([`StreamOp`]) and to the application ([`Event`]).

use crate::error::DecodeError;
use crate::message::{ChannelId, RequestId, ResponseCode, StreamKey};
use crate::protocol::ProtocolId;
use bytes::Bytes;
use leanp2p_identity::PeerId;

/// A stream operation for the host to carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamOp {
    /// Open a bidirectional stream to `peer`, negotiate one of `protocols`
    /// (in preference order) with multistream-select, then call
    /// [`ReqResp::handle_outbound_stream_opened`](crate::ReqResp::handle_outbound_stream_opened)
    /// or [`ReqResp::handle_open_failed`](crate::ReqResp::handle_open_failed).
    Open {
        /// Remote peer.
        peer: PeerId,
        /// The request the stream is for.
        request: RequestId,
        /// Protocol ids to offer, preferred first.
        protocols: Vec<ProtocolId>,
    },
    /// Write `data` on the stream (respecting flow control: keep it queued
    /// while the stream is blocked, in order).
    Write {
        /// Stream.
        stream: StreamKey,
        /// Bytes to write.
        data: Bytes,
    },
    /// Finish (FIN) the write side after all queued writes.
    Finish {
        /// Stream.
        stream: StreamKey,
    },
    /// Reset the stream in both directions (RESET_STREAM + STOP_SENDING) and
    /// forget it; the machine no longer tracks it.
    Reset {
        /// Stream.
        stream: StreamKey,
    },
}

/// Why an outbound request failed. The request is over; no more events for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailureReason {
    /// No complete response within the timeout; the stream was reset.
    #[error("request timed out")]
    Timeout,
    /// The peer disconnected.
    #[error("peer disconnected")]
    Disconnected,
    /// The stream could not be opened or negotiated.
    #[error("could not open stream: {0}")]
    OpenFailed(OpenFailure),
    /// The peer reset the stream.
    #[error("stream reset by peer")]
    StreamReset,
    /// The peer answered with an error chunk.
    #[error("peer answered {code:?}")]
    ErrorResponse {
        /// The result code.
        code: ResponseCode,
        /// The `ErrorMessage` bytes (by convention UTF-8).
        message: Bytes,
    },
    /// The response could not be decoded; the stream was reset (peer fault).
    #[error("invalid response: {0}")]
    InvalidResponse(DecodeError),
    /// The response ended with fewer `Success` chunks than the protocol requires.
    #[error("response ended after {received} of at least {required} chunks")]
    MissingChunks {
        /// Chunks received.
        received: u32,
        /// The protocol minimum.
        required: u32,
    },
    /// The application is not draining `poll_event`; the request was dropped.
    #[error("event queue full")]
    EventQueueFull,
}

/// Why the host could not open an outbound stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenFailure {
    /// The peer supports none of the offered protocols (multistream `na`).
    #[error("protocol not supported by the peer")]
    UnsupportedProtocol,
    /// No connection to the peer, or it closed while opening.
    #[error("not connected")]
    NotConnected,
    /// The connection's stream limit was reached.
    #[error("stream limit reached")]
    StreamLimit,
    /// Negotiation failed or timed out.
    #[error("negotiation failed")]
    NegotiationFailed,
}

/// Why an inbound request was answered with an error by the machine itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The request could not be decoded (answered `InvalidRequest`; peer fault).
    #[error("invalid request: {0}")]
    Invalid(DecodeError),
    /// Over the per-peer concurrency cap (answered `ResourceUnavailable`).
    #[error("too many concurrent requests")]
    TooManyConcurrent,
    /// Over the per-peer quota (answered `ResourceUnavailable`).
    #[error("rate limited")]
    RateLimited,
    /// The application is not draining `poll_event` (answered `ResourceUnavailable`).
    #[error("event queue full")]
    EventQueueFull,
}

/// Why an inbound channel closed before the application ended the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AbortReason {
    /// The inbound timeout expired; the stream was reset.
    #[error("response timed out")]
    Timeout,
    /// The peer reset the stream.
    #[error("stream reset by peer")]
    StreamReset,
    /// The peer disconnected.
    #[error("peer disconnected")]
    Disconnected,
    /// The peer sent bytes after its request; the stream was reset.
    #[error("peer sent data after its request")]
    TrailingData,
}

/// An event for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A peer sent a request. Answer with `respond` (0..N times) and
    /// `end_response`, before the inbound timeout.
    InboundRequest {
        /// Channel to answer on.
        channel: ChannelId,
        /// Requesting peer.
        peer: PeerId,
        /// The protocol's primary id (also when the peer used an alias).
        protocol: ProtocolId,
        /// The request payload (uncompressed SSZ for `ssz_snappy`).
        body: Bytes,
    },
    /// An inbound channel closed early; further `respond` calls fail.
    InboundAborted {
        /// The channel.
        channel: ChannelId,
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: AbortReason,
    },
    /// The machine answered an inbound request with an error itself (for
    /// peer scoring; `Invalid` is a peer fault).
    InboundRejected {
        /// The peer.
        peer: PeerId,
        /// The protocol's primary id.
        protocol: ProtocolId,
        /// Why.
        reason: RejectReason,
    },
    /// One `Success` chunk of a response.
    Response {
        /// The request.
        request: RequestId,
        /// The responding peer.
        peer: PeerId,
        /// The chunk payload (uncompressed SSZ for `ssz_snappy`).
        payload: Bytes,
    },
    /// The response ended normally after `chunks` `Success` chunks.
    Completed {
        /// The request.
        request: RequestId,
        /// The peer.
        peer: PeerId,
        /// Number of `Response` events delivered.
        chunks: u32,
    },
    /// The request failed (possibly after some `Response` events).
    Failed {
        /// The request.
        request: RequestId,
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: FailureReason,
    },
    /// `respond` refused a chunk on `channel` with `RespondError::QueueFull`
    /// because the host held [`Limits::response_high_water`](crate::Limits)
    /// unsent bytes on its stream; the host has since reported less
    /// ([`ReqResp::handle_stream_unsent`](crate::ReqResp::handle_stream_unsent)):
    /// send the next chunk now. Emitted once per refusal episode.
    ResponseWritable {
        /// The channel that may send again.
        channel: ChannelId,
    },
}

/// Why `poll_timeout` returned its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// Output is queued: drain `poll_outbound` / `poll_event` now.
    QueuedIo,
    /// An outbound request's whole-response timeout.
    RequestTimeout,
    /// An outbound request waiting for outbound quota tokens.
    OutboundRateLimit,
    /// An inbound stream's timeout.
    InboundTimeout,
    /// An inbound request held back by its peer's quota.
    InboundRateLimit,
    /// Dropping full quota buckets.
    QuotaPrune,
}

/// Counters, free to read at any time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Outbound requests accepted by `request`.
    pub requests_sent: u64,
    /// Outbound requests that completed.
    pub requests_completed: u64,
    /// Outbound requests that failed (any reason).
    pub requests_failed: u64,
    /// Outbound requests that timed out.
    pub requests_timed_out: u64,
    /// Responses that failed to decode (peer faults).
    pub invalid_responses: u64,
    /// Inbound requests delivered to the application.
    pub requests_received: u64,
    /// Inbound requests that failed to decode (peer faults).
    pub invalid_requests: u64,
    /// Inbound requests rejected for concurrency caps.
    pub rejected_concurrency: u64,
    /// Inbound requests rejected by quota.
    pub rejected_rate_limited: u64,
    /// Inbound requests delayed by quota.
    pub delayed_rate_limited: u64,
    /// Inbound streams reset because `max_inbound_streams` was reached.
    pub rejected_stream_limit: u64,
    /// Inbound requests rejected because the event queue was full.
    pub rejected_event_queue_full: u64,
    /// Inbound streams reset because the request was not complete (or was still
    /// delayed by quota) when the inbound timeout fired: slow or stalled requesters.
    pub inbound_request_timeouts: u64,
    /// Response chunks sent.
    pub chunks_sent: u64,
    /// `Success` chunks received.
    pub chunks_received: u64,
    /// Inbound channels aborted (timeout, reset, disconnect, trailing data).
    pub inbound_aborted: u64,
    /// Streams the host opened for requests that were already over.
    pub late_streams_reset: u64,
    /// `respond` calls refused because the response stream held
    /// `Limits::response_high_water` unsent bytes.
    pub responses_backpressured: u64,
}
