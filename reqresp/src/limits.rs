//! Buffer and queue limits of the req/resp machine.
//!
//! Every buffer the machine keeps is bounded by one of these numbers (or by a
//! per-protocol [`ProtocolLimits`](crate::ProtocolLimits) value that
//! [`Config::validate`](crate::Config::validate) checks against them).

/// `MAX_PAYLOAD_SIZE` of the consensus specs and leanSpec (10 MiB), defined once in
/// [`leanp2p_identity::spec`] and shared with gossipsub.
pub use leanp2p_identity::spec::MAX_PAYLOAD_SIZE;
/// `MAX_ERROR_MESSAGE_SIZE`: an `ErrorMessage` is a `List[byte, 256]`.
pub const MAX_ERROR_MESSAGE_SIZE: usize = 256;
/// `MAX_REQUEST_BLOCKS` of the lean protocols (and phase0 before Deneb).
pub const MAX_REQUEST_BLOCKS: u32 = 1024;

/// Node-wide limits. Per-protocol limits live in [`ProtocolLimits`](crate::ProtocolLimits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest uncompressed payload (the declared SSZ length) any protocol may
    /// accept or send. Default [`MAX_PAYLOAD_SIZE`] (10 MiB). Every protocol's
    /// `max_request_size` / `max_response_size` must be at most this.
    pub max_payload_size: usize,
    /// Largest error message payload (result codes 1..=255). Default
    /// [`MAX_ERROR_MESSAGE_SIZE`] (256 bytes).
    pub max_error_message_size: usize,
    /// Largest number of response chunks any protocol may allow. Default
    /// [`MAX_REQUEST_BLOCKS`] (1024).
    pub max_response_chunks: u32,
    /// Inbound streams tracked at once across all peers and protocols, in any
    /// state (reading the request, waiting for the application, draining).
    /// Streams beyond this are reset at once. Default 1024.
    pub max_inbound_streams: usize,
    /// Outbound requests in flight at once across all peers. `request` returns
    /// `RequestError::TooManyRequests` beyond this. Default 1024.
    pub max_outbound_requests: usize,
    /// Stream operations queued for the host before commands (`request`,
    /// `respond`, `end_response`) are refused with a queue-full error. Internal
    /// operations (resets, error responses) are always queued; they are bounded
    /// by the number of tracked streams. Default 4096.
    pub max_queued_ops: usize,
    /// Events queued for the application. When full, a newly decoded inbound
    /// request is rejected with `ResourceUnavailable` and a response chunk fails
    /// its request with `FailureReason::EventQueueFull`. Default 4096.
    pub max_queued_events: usize,
    /// Response backpressure: once the host reports
    /// ([`ReqResp::handle_stream_unsent`](crate::ReqResp::handle_stream_unsent))
    /// this many unsent bytes on a response stream, `respond` refuses further
    /// chunks with `RespondError::QueueFull` until the host reports less, when
    /// `Event::ResponseWritable` says to go on. So a response holds at most the
    /// mark plus one chunk in the host. Default 1 MiB.
    pub response_high_water: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_payload_size: MAX_PAYLOAD_SIZE,
            max_error_message_size: MAX_ERROR_MESSAGE_SIZE,
            max_response_chunks: MAX_REQUEST_BLOCKS,
            max_inbound_streams: 1024,
            max_outbound_requests: 1024,
            max_queued_ops: 4096,
            max_queued_events: 4096,
            response_high_water: 1024 * 1024,
        }
    }
}
