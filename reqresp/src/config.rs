//! Machine configuration.

use crate::error::ConfigError;
use crate::lean;
use crate::limits::Limits;
use crate::protocol::ProtocolConfig;
use std::collections::BTreeSet;
use std::time::Duration;

/// What happens to an inbound request over its peer's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitAction {
    /// Hold the request until the bucket has the tokens (the consensus specs'
    /// preferred way: responders rate-limit by delaying), as long as that is
    /// at most `max_delay` away; otherwise answer `ResourceUnavailable`.
    Delay {
        /// Longest delay before rejecting instead. Must be below the inbound timeout.
        max_delay: Duration,
    },
    /// Answer `ResourceUnavailable` at once (Lighthouse's behaviour).
    Reject,
}

/// Configuration of a [`ReqResp`](crate::ReqResp) machine.
///
/// Build with [`Config::lean`] (the lean protocols) or [`Config::default`]
/// (no protocols) and the setters; [`ReqResp::new`](crate::ReqResp::new) calls
/// [`Config::validate`].
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) protocols: Vec<ProtocolConfig>,
    pub(crate) request_timeout: Duration,
    pub(crate) chunk_timeout_extension: Duration,
    pub(crate) inbound_timeout: Duration,
    pub(crate) inbound_rate_limiting: bool,
    pub(crate) outbound_rate_limiting: bool,
    pub(crate) rate_limit_action: RateLimitAction,
    pub(crate) quota_prune_interval: Duration,
    pub(crate) limits: Limits,
}

impl Default for Config {
    /// No protocols; request timeout 10 s (leanSpec `RESP_TIMEOUT`,
    /// rust-libp2p's default), no per-chunk extension, inbound timeout 10 s,
    /// inbound rate limiting on (delay up to 5 s, then reject), outbound rate
    /// limiting off, quota pruning every 60 s, default [`Limits`].
    fn default() -> Self {
        Self {
            protocols: Vec::new(),
            request_timeout: lean::RESP_TIMEOUT,
            chunk_timeout_extension: Duration::ZERO,
            inbound_timeout: lean::RESP_TIMEOUT,
            inbound_rate_limiting: true,
            outbound_rate_limiting: false,
            rate_limit_action: RateLimitAction::Delay {
                max_delay: Duration::from_secs(5),
            },
            quota_prune_interval: Duration::from_secs(60),
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// The default config with the lean protocols ([`lean::protocols`]).
    pub fn lean() -> Self {
        let mut c = Self::default();
        c.with_protocols(lean::protocols());
        c
    }

    /// Registers a protocol.
    pub fn with_protocol(&mut self, protocol: ProtocolConfig) -> &mut Self {
        self.protocols.push(protocol);
        self
    }

    /// Registers several protocols.
    pub fn with_protocols(
        &mut self,
        protocols: impl IntoIterator<Item = ProtocolConfig>,
    ) -> &mut Self {
        self.protocols.extend(protocols);
        self
    }

    /// Whole-response timeout of outbound requests, counted from `request`
    /// (covers opening, negotiating, and every chunk). Default 10 s. A
    /// protocol's own `timeout` overrides it.
    pub fn request_timeout(&mut self, d: Duration) -> &mut Self {
        self.request_timeout = d;
        self
    }

    /// Extra time granted per received chunk, for long range responses.
    /// Default zero (pure whole-response timeout, like leanSpec).
    pub fn chunk_timeout_extension(&mut self, d: Duration) -> &mut Self {
        self.chunk_timeout_extension = d;
        self
    }

    /// How long an inbound stream may live (reading the request, waiting for
    /// the application, draining), extended like outbound requests per chunk
    /// sent. Default 10 s.
    pub fn inbound_timeout(&mut self, d: Duration) -> &mut Self {
        self.inbound_timeout = d;
        self
    }

    /// Applies the protocols' inbound quotas. Default on.
    pub fn inbound_rate_limiting(&mut self, on: bool) -> &mut Self {
        self.inbound_rate_limiting = on;
        self
    }

    /// Applies the protocols' outbound quotas (self rate limiting: requests
    /// wait for tokens before their stream is opened). Default off.
    pub fn outbound_rate_limiting(&mut self, on: bool) -> &mut Self {
        self.outbound_rate_limiting = on;
        self
    }

    /// What to do with inbound requests over quota. Default delay up to 5 s.
    pub fn rate_limit_action(&mut self, action: RateLimitAction) -> &mut Self {
        self.rate_limit_action = action;
        self
    }

    /// How often idle quota buckets are dropped. Default 60 s.
    pub fn quota_prune_interval(&mut self, d: Duration) -> &mut Self {
        self.quota_prune_interval = d;
        self
    }

    /// Node-wide limits.
    pub fn limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// The node-wide limits ([`Limits`]).
    pub fn node_limits(&self) -> &Limits {
        &self.limits
    }

    /// The registered protocols.
    pub fn protocols(&self) -> &[ProtocolConfig] {
        &self.protocols
    }

    /// The registered protocol with primary id or alias `id`, to adjust its
    /// limits or quotas (e.g. `Config::lean()` with a higher concurrency cap).
    pub fn protocol_mut(&mut self, id: &str) -> Option<&mut ProtocolConfig> {
        self.protocols.iter_mut().find(|p| p.matches(id))
    }

    /// Checks every setting: unique protocol ids and aliases, per-protocol
    /// limits consistent and within the node-wide [`Limits`], non-zero
    /// timeouts and queues, quota sizes, and a rate-limit delay shorter than
    /// the inbound timeout.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        if self.request_timeout.is_zero() || self.inbound_timeout.is_zero() {
            return Err(ConfigError::Invalid("timeouts must be non-zero"));
        }
        if l.response_high_water == 0 {
            return Err(ConfigError::Invalid("response_high_water must be non-zero"));
        }
        if self.quota_prune_interval.is_zero() {
            return Err(ConfigError::Invalid(
                "quota_prune_interval must be non-zero",
            ));
        }
        if l.max_queued_ops == 0 || l.max_queued_events == 0 {
            return Err(ConfigError::Invalid("queue limits must be non-zero"));
        }
        if l.max_inbound_streams == 0 || l.max_outbound_requests == 0 {
            return Err(ConfigError::Invalid("stream limits must be non-zero"));
        }
        if let RateLimitAction::Delay { max_delay } = self.rate_limit_action {
            if max_delay >= self.inbound_timeout {
                return Err(ConfigError::Invalid(
                    "rate-limit max_delay must be below inbound_timeout",
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for p in &self.protocols {
            for id in std::iter::once(&p.id).chain(&p.aliases) {
                if !seen.insert(id.as_str()) {
                    return Err(ConfigError::DuplicateProtocol(id.to_string()));
                }
            }
            let bad = |what| {
                Err(ConfigError::BadProtocolLimit {
                    protocol: p.id.to_string(),
                    what,
                })
            };
            let pl = &p.limits;
            if pl.min_request_size > pl.max_request_size
                || pl.min_response_size > pl.max_response_size
            {
                return bad("minimum size above maximum size");
            }
            if pl.max_request_size > l.max_payload_size || pl.max_response_size > l.max_payload_size
            {
                return bad("size limit above Limits::max_payload_size");
            }
            if pl.max_error_message_size > l.max_error_message_size {
                return bad("error message limit above Limits::max_error_message_size");
            }
            if pl.min_response_chunks > pl.max_response_chunks
                || pl.max_response_chunks > l.max_response_chunks
            {
                return bad("chunk limits inconsistent or above Limits::max_response_chunks");
            }
            if pl.max_concurrent_inbound_per_peer == 0 || pl.max_concurrent_outbound_per_peer == 0 {
                return bad("concurrency limits must be non-zero");
            }
            for q in p.inbound_quota.iter().chain(&p.outbound_quota) {
                if q.max_tokens == 0 || q.replenish_all_every.is_zero() {
                    return bad("quota must have tokens and a non-zero period");
                }
            }
            if p.timeout.is_some_and(|t| t.is_zero()) {
                return bad("timeout must be non-zero");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ProtocolId, ProtocolLimits};

    #[test]
    fn lean_config_validates_and_rejects_mistakes() {
        Config::lean().validate().unwrap();
        let mut dup = Config::lean();
        dup.with_protocol(lean::status_protocol());
        assert!(matches!(
            dup.validate(),
            Err(ConfigError::DuplicateProtocol(_))
        ));

        let mut big = Config::default();
        big.with_protocol(ProtocolConfig::ssz_snappy(
            ProtocolId::from_static("/x/1"),
            ProtocolLimits {
                max_request_size: usize::MAX,
                ..ProtocolLimits::default()
            },
        ));
        assert!(matches!(
            big.validate(),
            Err(ConfigError::BadProtocolLimit { .. })
        ));

        let mut delay = Config::lean();
        delay.rate_limit_action(RateLimitAction::Delay {
            max_delay: Duration::from_secs(10),
        });
        assert!(delay.validate().is_err());

        // An id without the leading '/' cannot be built at all (multistream validates it).
        assert!(ProtocolId::new("nope").is_err());
    }
}
