//! The node configuration ([`Config`]) and its protocol sections.

use std::time::Duration;

use crate::conn_manager::ConnManagerConfig;
use crate::error::ConfigError;
use crate::limits::Limits;
use crate::pacer::PacerConfig;

/// Identify (`/ipfs/id/1.0.0`, `/ipfs/id/push/1.0.0`) settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IdentifyConfig {
    /// `protocolVersion` we send (lean clients: `/ipfs/0.1.0`).
    pub protocol_version: String,
    /// `agentVersion` we send (`name/version`).
    pub agent_version: String,
    /// Re-query every connection this often (rust-libp2p: 5 min). `None`: only on connect.
    pub interval: Option<Duration>,
    /// Push our info to connected peers when our listen addresses change.
    pub push_on_change: bool,
    /// How long our identify query may take, negotiation and answer together, before
    /// its stream is reset (counted in [`crate::Counters::identify_timeouts`]).
    /// rust-libp2p: 60 s. Default 30 s.
    pub query_timeout: Duration,
}

impl Default for IdentifyConfig {
    fn default() -> Self {
        Self {
            protocol_version: "/ipfs/0.1.0".to_string(),
            agent_version: concat!("leanp2p/", env!("CARGO_PKG_VERSION")).to_string(),
            interval: Some(Duration::from_secs(300)),
            push_on_change: true,
            query_timeout: Duration::from_secs(30),
        }
    }
}

/// Ping (`/ipfs/ping/1.0.0`) settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PingConfig {
    /// Whether we ping peers (we always answer pings).
    pub enabled: bool,
    /// Time between pings on one connection (rust-libp2p: 15 s).
    pub interval: Duration,
    /// How long to wait for an echo (rust-libp2p: 20 s).
    pub timeout: Duration,
}

impl Default for PingConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(20),
        }
    }
}

/// Everything a [`crate::Node`] needs. [`crate::lean::config`] gives the lean profile.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// QUIC transport settings (windows, keep-alive, idle timeout).
    pub quic: leanp2p_quic::Config,
    /// Gossipsub router settings. Its `idle_keepalive` is overwritten by
    /// [`Config::gossip_keepalive`].
    pub gossipsub: leanp2p_gossipsub::Config,
    /// Req/resp protocols and limits.
    pub reqresp: leanp2p_reqresp::Config,
    /// multistream-select limits (the version is chosen per stream: V1Lazy when we
    /// offer a single protocol, V1 otherwise).
    pub multistream: leanp2p_multistream::Limits,
    /// Host limits.
    pub limits: Limits,
    /// Identify settings.
    pub identify: IdentifyConfig,
    /// Ping settings.
    pub ping: PingConfig,
    /// An empty gossipsub RPC is written on a gossip stream idle for this long, so peers
    /// that close idle handlers keep the connection (default 20 s; `None` disables).
    pub gossip_keepalive: Option<Duration>,
    /// A connection no protocol needs (no gossip stream in use, no request or response
    /// in flight, no stream negotiating) is closed after this long (default 30 s).
    pub idle_connection_timeout: Duration,
    /// Node-level egress pacing.
    pub pacer: PacerConfig,
    /// Known-peer redialling, the peer target and peer limits.
    pub conn_manager: ConnManagerConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            quic: leanp2p_quic::Config::default(),
            gossipsub: leanp2p_gossipsub::Config::default(),
            reqresp: leanp2p_reqresp::Config::default(),
            multistream: leanp2p_multistream::Limits::default(),
            limits: Limits::default(),
            identify: IdentifyConfig::default(),
            ping: PingConfig::default(),
            gossip_keepalive: Some(Duration::from_secs(20)),
            idle_connection_timeout: Duration::from_secs(30),
            pacer: PacerConfig::Null,
            conn_manager: ConnManagerConfig::default(),
        }
    }
}

impl Config {
    /// Sets the QUIC configuration.
    pub fn quic(&mut self, value: leanp2p_quic::Config) -> &mut Self {
        self.quic = value;
        self
    }

    /// Sets the gossipsub configuration.
    pub fn gossipsub(&mut self, value: leanp2p_gossipsub::Config) -> &mut Self {
        self.gossipsub = value;
        self
    }

    /// Sets the req/resp configuration.
    pub fn reqresp(&mut self, value: leanp2p_reqresp::Config) -> &mut Self {
        self.reqresp = value;
        self
    }

    /// Sets the host limits.
    pub fn limits(&mut self, value: Limits) -> &mut Self {
        self.limits = value;
        self
    }

    /// Sets the identify settings.
    pub fn identify(&mut self, value: IdentifyConfig) -> &mut Self {
        self.identify = value;
        self
    }

    /// Sets the ping settings.
    pub fn ping(&mut self, value: PingConfig) -> &mut Self {
        self.ping = value;
        self
    }

    /// Sets the gossip keep-alive interval.
    pub fn gossip_keepalive(&mut self, value: Option<Duration>) -> &mut Self {
        self.gossip_keepalive = value;
        self
    }

    /// Sets the idle-connection timeout.
    pub fn idle_connection_timeout(&mut self, value: Duration) -> &mut Self {
        self.idle_connection_timeout = value;
        self
    }

    /// Sets the pacer.
    pub fn pacer(&mut self, value: PacerConfig) -> &mut Self {
        self.pacer = value;
        self
    }

    /// Sets the connection-manager settings.
    pub fn conn_manager(&mut self, value: ConnManagerConfig) -> &mut Self {
        self.conn_manager = value;
        self
    }

    /// Checks every section.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.quic.validate()?;
        self.gossipsub.validate()?;
        self.reqresp.validate()?;
        self.multistream.validate()?;
        self.limits.validate()?;
        self.pacer.validate()?;
        self.conn_manager.validate()?;
        if self.ping.interval.is_zero() || self.ping.timeout.is_zero() {
            return Err(ConfigError::InvalidSetting(
                "ping interval and timeout must be > 0",
            ));
        }
        if self.identify.query_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting(
                "identify query timeout must be > 0",
            ));
        }
        if self.identify.interval.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::InvalidSetting("identify interval must be > 0"));
        }
        if self.gossip_keepalive.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::InvalidSetting("gossip keep-alive must be > 0"));
        }
        if self.idle_connection_timeout.is_zero() {
            return Err(ConfigError::InvalidSetting(
                "idle connection timeout must be > 0",
            ));
        }
        Ok(())
    }
}
