//! Protocol ids and per-protocol settings.

use crate::codec::{Codec, LengthDelimitedCodec, SszSnappyCodec};
use crate::limits::{MAX_ERROR_MESSAGE_SIZE, MAX_PAYLOAD_SIZE, MAX_REQUEST_BLOCKS};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A multistream protocol id such as `/leanconsensus/req/status/1/ssz_snappy`: the
/// multistream crate's type, shared by multistream, req/resp and the host.
pub use leanp2p_multistream::ProtocolId;

/// Size, chunk and concurrency limits of one protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolLimits {
    /// Smallest request payload (uncompressed). Default 0.
    pub min_request_size: usize,
    /// Largest request payload (uncompressed). Checked against the declared
    /// length before any allocation. Default [`MAX_PAYLOAD_SIZE`].
    pub max_request_size: usize,
    /// Smallest `Success` chunk payload. Default 0.
    pub min_response_size: usize,
    /// Largest `Success` chunk payload. Default [`MAX_PAYLOAD_SIZE`].
    pub max_response_size: usize,
    /// Largest error chunk payload. Default [`MAX_ERROR_MESSAGE_SIZE`] (256).
    pub max_error_message_size: usize,
    /// Fewest `Success` chunks a complete response has (`Status`: 1). A
    /// response ending earlier fails with `FailureReason::MissingChunks`. Default 0.
    pub min_response_chunks: u32,
    /// Most chunks in one response; the requester stops reading there.
    /// Default [`MAX_REQUEST_BLOCKS`] (1024).
    pub max_response_chunks: u32,
    /// Inbound requests from one peer on this protocol being read, delayed or
    /// answered at once; more are answered `ResourceUnavailable`. Default 2
    /// (phase0 `MAX_CONCURRENT_REQUESTS`).
    pub max_concurrent_inbound_per_peer: u32,
    /// Outbound requests to one peer on this protocol in flight at once.
    /// Default 2.
    pub max_concurrent_outbound_per_peer: u32,
}

impl Default for ProtocolLimits {
    fn default() -> Self {
        Self {
            min_request_size: 0,
            max_request_size: MAX_PAYLOAD_SIZE,
            min_response_size: 0,
            max_response_size: MAX_PAYLOAD_SIZE,
            max_error_message_size: MAX_ERROR_MESSAGE_SIZE,
            min_response_chunks: 0,
            max_response_chunks: MAX_REQUEST_BLOCKS,
            max_concurrent_inbound_per_peer: 2,
            max_concurrent_outbound_per_peer: 2,
        }
    }
}

/// A token-bucket quota (Lighthouse's model): at most `max_tokens` tokens,
/// all of them replenished evenly over `replenish_all_every`. A request costs
/// [`ProtocolConfig::request_cost`] tokens (1 by default; the number of blocks
/// for the lean block protocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Bucket capacity (burst size).
    pub max_tokens: u64,
    /// Time to refill an empty bucket.
    pub replenish_all_every: Duration,
}

impl Quota {
    /// `n` tokens every `period`.
    pub const fn n_every(n: u64, period: Duration) -> Self {
        Self {
            max_tokens: n,
            replenish_all_every: period,
        }
    }
}

/// Function computing a request's token cost or chunk cap from its body.
pub type RequestFn = fn(&[u8]) -> u64;

/// Everything the machine knows about one request/response protocol.
#[derive(Clone)]
pub struct ProtocolConfig {
    /// The id offered first when dialing; also accepted inbound.
    pub id: ProtocolId,
    /// Further ids accepted inbound and offered (in order) after `id` when
    /// dialing, e.g. the legacy `lean_blocks_by_root` name.
    pub aliases: Vec<ProtocolId>,
    /// Wire codec.
    pub codec: Arc<dyn Codec>,
    /// Limits.
    pub limits: ProtocolLimits,
    /// Inbound quota per peer (`None`: unlimited).
    pub inbound_quota: Option<Quota>,
    /// Outbound quota per peer, i.e. self rate limiting (`None`: unlimited).
    pub outbound_quota: Option<Quota>,
    /// Tokens one request costs, from its body (`None`: 1). Clamped to at least 1.
    pub request_cost: Option<RequestFn>,
    /// Chunk cap for one request, from its body (`None`: `max_response_chunks`);
    /// the effective cap is the minimum of both.
    pub response_chunk_cap: Option<RequestFn>,
    /// Whole-response timeout overriding [`Config::request_timeout`](crate::Config::request_timeout).
    pub timeout: Option<Duration>,
}

impl fmt::Debug for ProtocolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProtocolConfig")
            .field("id", &self.id)
            .field("aliases", &self.aliases)
            .field("codec", &self.codec)
            .field("limits", &self.limits)
            .field("inbound_quota", &self.inbound_quota)
            .field("outbound_quota", &self.outbound_quota)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ProtocolConfig {
    /// A protocol with `codec`, default limits, no quotas.
    pub fn new(id: ProtocolId, codec: Arc<dyn Codec>) -> Self {
        Self {
            id,
            aliases: Vec::new(),
            codec,
            limits: ProtocolLimits::default(),
            inbound_quota: None,
            outbound_quota: None,
            request_cost: None,
            response_chunk_cap: None,
            timeout: None,
        }
    }

    /// An Ethereum `ssz_snappy` protocol with `limits`.
    pub fn ssz_snappy(id: ProtocolId, limits: ProtocolLimits) -> Self {
        let mut p = Self::new(id, Arc::new(SszSnappyCodec));
        p.limits = limits;
        p
    }

    /// A length-delimited protocol (uvarint length + raw bytes, e.g. protobuf
    /// as in Charon's `/charon/parsigex/2.0.0`) with `limits`.
    pub fn length_delimited(id: ProtocolId, limits: ProtocolLimits) -> Self {
        let mut p = Self::new(id, Arc::new(LengthDelimitedCodec));
        p.limits = limits;
        p
    }

    /// Adds an alias id.
    pub fn with_alias(mut self, alias: ProtocolId) -> Self {
        self.aliases.push(alias);
        self
    }

    /// Sets the inbound quota.
    pub fn with_inbound_quota(mut self, quota: Option<Quota>) -> Self {
        self.inbound_quota = quota;
        self
    }

    /// Sets the outbound quota.
    pub fn with_outbound_quota(mut self, quota: Option<Quota>) -> Self {
        self.outbound_quota = quota;
        self
    }

    /// `true` if `name` is the id or one of the aliases.
    pub fn matches(&self, name: &str) -> bool {
        self.id == name || self.aliases.iter().any(|a| a == name)
    }

    /// The tokens a request with `body` costs (at least 1).
    pub fn cost_of(&self, body: &[u8]) -> u64 {
        self.request_cost.map_or(1, |f| f(body)).max(1)
    }

    /// The chunk cap for a request with `body`.
    pub fn chunk_cap_of(&self, body: &[u8]) -> u32 {
        let max = self.limits.max_response_chunks;
        match self.response_chunk_cap {
            Some(f) => u32::try_from(f(body)).unwrap_or(u32::MAX).min(max),
            None => max,
        }
    }
}
