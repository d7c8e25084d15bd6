//! Connection manager: known peers (bootnodes) redialled forever with capped exponential
//! backoff and seeded jitter, the peer target (see `peer_target`), peer limits per
//! direction, graylist disconnects.
//!
//! Limit policy: [`crate::Node::dial`] and target dials refuse to exceed
//! [`ConnManagerConfig::max_outbound_peers`]. A new peer that connects inbound while
//! [`ConnManagerConfig::max_inbound_peers`] inbound-only peers are connected is closed
//! right after the handshake with [`crate::DisconnectReason::PeerLimit`] (QUIC application
//! code 1), as rust-libp2p's connection-limits behaviour denies an established
//! connection over its limit and Lighthouse accepts and then sends a `TooManyPeers`
//! goodbye. Known peers (bootnodes) are exempt: we asked for them. A further connection
//! to an already connected peer is not counted again.
//!
//! Connection caps: one peer may hold at most
//! [`ConnManagerConfig::max_connections_per_peer`] connections (default 2, the two legs of
//! a double connection) and one remote IP at most
//! [`ConnManagerConfig::max_connections_per_ip`] inbound connections (loopback exempt by
//! default). A connection over either cap, inbound or (per peer) our own dial, is closed
//! right after the handshake with [`crate::DisconnectReason::ConnectionLimit`] (QUIC
//! application code 5); the connections already up are kept.
//!
//! Redial dedupe looks only at the peer's *outbound* leg: a live inbound connection from
//! a known peer does not stop us from redialling it when our own dial died (the peer
//! may close its leg at any time, and some clients only gossip on the leg they dialled).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use leanp2p_identity::PeerId;
use leanp2p_quic::ConnId;

use crate::error::ConfigError;

/// Connection-manager settings.
///
/// Redial policy: known peers ([`crate::Node::add_known_peer`], bootnodes) are redialled
/// forever with capped exponential backoff ([`ConnManagerConfig::redial_initial_backoff`]
/// up to [`ConnManagerConfig::redial_max_backoff`]) and seeded jitter whenever our
/// *outbound* leg to them is gone (a live inbound leg does not count). With
/// [`ConnManagerConfig::target_peers`] set, the node also dials peers from its address
/// book (the application's addresses, identify listen addresses, PX suggestions with a
/// known address) while fewer peers are connected, with the same backoff; a connection
/// shorter than [`crate::STABLE_CONNECTION`] counts as a failure.
///
/// Limit policy: [`crate::Node::dial`] and target dials refuse to exceed
/// [`ConnManagerConfig::max_outbound_peers`]. A new peer that connects inbound while
/// [`ConnManagerConfig::max_inbound_peers`] inbound-only peers are connected is closed
/// right after the handshake with [`crate::DisconnectReason::PeerLimit`] (QUIC application code
/// 1), as rust-libp2p's connection-limits behaviour denies an established connection
/// over its limit and Lighthouse accepts and then sends a `TooManyPeers` goodbye. Known
/// peers (bootnodes) are exempt: we asked for them. A further connection to an already
/// connected peer is not counted again.
///
/// Connection caps: a connection that would give one peer more than
/// [`ConnManagerConfig::max_connections_per_peer`] connections, or an inbound connection
/// that would give one remote IP more than [`ConnManagerConfig::max_connections_per_ip`]
/// inbound connections, is closed right after the handshake with
/// [`crate::DisconnectReason::ConnectionLimit`] (QUIC application code 5). Like
/// rust-libp2p's connection-limits behaviour (`max_established_per_peer`), the *new*
/// connection is denied, whichever side dialled it: [`crate::Node::dial`] to a peer
/// already at the cap still dials, and the connection is closed once established
/// (the peer's existing connections are untouched). Connections we are closing already
/// do not count. A refused connection is never announced (no `Connected` or
/// `Disconnected` event); it shows in [`crate::Counters`] (`connections_refused_per_peer`,
/// `connections_refused_per_ip`, `disconnections` as `connection_limit`), and a refused
/// dial of ours to a known peer or a target peer counts as a failed dial (redialled with
/// backoff).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConnManagerConfig {
    /// Most peers connected only by inbound connections; further inbound peers are
    /// disconnected with [`crate::DisconnectReason::PeerLimit`]. Default 50.
    pub max_inbound_peers: usize,
    /// Most peers with an outbound connection; [`crate::Node::dial`] refuses more and known
    /// peers wait. Default 50.
    pub max_outbound_peers: usize,
    /// First redial delay after a dial failed or our outbound leg closed. Default 1 s.
    pub redial_initial_backoff: Duration,
    /// Cap of the exponential redial backoff. Default 60 s.
    pub redial_max_backoff: Duration,
    /// Relative jitter on every backoff, in [0, 1): the delay is multiplied by a seeded
    /// random factor in `[1 - jitter, 1 + jitter]`. Default 0.2.
    pub redial_jitter: f64,
    /// Disconnect peers whose gossipsub score falls below the graylist threshold (only
    /// with scoring on). Default true.
    pub disconnect_graylisted: bool,
    /// Peers the node tries to stay connected to: while fewer are connected, it dials
    /// peers from its address book ([`crate::Node::add_peer_address`], identify, known peers'
    /// PX suggestions) with the redial backoff, never beyond `max_outbound_peers`.
    /// Default 0 (off: the node only dials what the application and the known peers
    /// ask for). Lighthouse aims at 100; a small lean devnet wants every node.
    pub target_peers: usize,
    /// Most entries in the address book. Identify-learned addresses may fill at most half;
    /// when full, a stale candidate (3+ consecutive failures, not connected or dialling)
    /// is evicted for a new address, else the new one is ignored. Default 1024.
    pub max_address_book: usize,
    /// Most established connections to one peer, both directions together; a further
    /// connection (inbound, or our own dial) is closed right after the handshake with
    /// [`crate::DisconnectReason::ConnectionLimit`]. Default 2: the two legs of a double
    /// connection (our dialled leg and the peer's). Without a cap one PeerId could take
    /// every endpoint slot and multiply every per-connection allowance (receive windows,
    /// stream caps, our identify and ping). Must be at least 1 (1 refuses the second
    /// leg of every double connection).
    pub max_connections_per_peer: usize,
    /// Most established *inbound* connections from one remote IP address (any peers);
    /// a further inbound connection is closed right after the handshake with
    /// [`crate::DisconnectReason::ConnectionLimit`]. Our own dials are not limited by it,
    /// and known peers ([`crate::Node::add_known_peer`]) are exempt. Default 16: enough
    /// for a few hosts behind one NAT or a small multi-node machine, while one host
    /// minting PeerIds takes at most 16 of the default 50 inbound peer slots. Loopback
    /// addresses are exempt while [`ConnManagerConfig::ip_limit_exempts_loopback`] is set,
    /// so a local devnet with every node on 127.0.0.1 (or ::1) is never limited. Must be
    /// at least 1.
    pub max_connections_per_ip: usize,
    /// Exempt loopback (127.0.0.0/8, ::1) and unspecified remote addresses from
    /// [`ConnManagerConfig::max_connections_per_ip`]. Default true (local devnets).
    pub ip_limit_exempts_loopback: bool,
}

impl Default for ConnManagerConfig {
    fn default() -> Self {
        Self {
            max_inbound_peers: 50,
            max_outbound_peers: 50,
            redial_initial_backoff: Duration::from_secs(1),
            redial_max_backoff: Duration::from_secs(60),
            redial_jitter: 0.2,
            disconnect_graylisted: true,
            target_peers: 0,
            max_address_book: 1024,
            max_connections_per_peer: 2,
            max_connections_per_ip: 16,
            ip_limit_exempts_loopback: true,
        }
    }
}

impl ConnManagerConfig {
    /// Checks the values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.redial_initial_backoff.is_zero()
            || self.redial_max_backoff < self.redial_initial_backoff
        {
            return Err(ConfigError::InvalidSetting(
                "redial backoff must be > 0 and max >= initial",
            ));
        }
        if self.max_connections_per_peer == 0 {
            return Err(ConfigError::InvalidSetting(
                "max connections per peer must be >= 1",
            ));
        }
        if self.max_connections_per_ip == 0 {
            return Err(ConfigError::InvalidSetting(
                "max connections per IP must be >= 1",
            ));
        }
        if !(0.0..1.0).contains(&self.redial_jitter) {
            return Err(ConfigError::InvalidSetting(
                "redial jitter must be in [0, 1)",
            ));
        }
        Ok(())
    }
}

/// `now + d`, or a far deadline (a year) if that overflows `Instant` (a huge configured
/// backoff must not panic).
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365)))
        .unwrap_or(now)
}

/// Whether inbound connections from `ip` count against
/// [`ConnManagerConfig::max_connections_per_ip`].
pub(crate) fn ip_limited(config: &ConnManagerConfig, ip: IpAddr) -> bool {
    let ip = ip_key(ip);
    !(config.ip_limit_exempts_loopback && (ip.is_loopback() || ip.is_unspecified()))
}

/// The IP key connections are counted under: an IPv4-mapped IPv6 address counts as its
/// IPv4 address.
pub(crate) fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// A peer the node keeps an outbound connection to.
#[derive(Debug, Clone)]
pub(crate) struct KnownPeer {
    pub(crate) addr: SocketAddr,
    /// Consecutive failed dials (reset when a dial succeeds).
    pub(crate) failures: u32,
    /// When to dial next (`None`: not scheduled).
    pub(crate) next_dial: Option<Instant>,
    /// Our dial in progress.
    pub(crate) dialing: Option<ConnId>,
}

/// The known peers, in PeerId order.
pub(crate) type KnownPeers = BTreeMap<PeerId, KnownPeer>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_saturates_instead_of_overflowing() {
        let t0 = Instant::now();
        assert_eq!(
            later(t0, Duration::from_secs(5)),
            t0 + Duration::from_secs(5)
        );
        let far = later(t0, Duration::MAX);
        assert!(far > t0 + Duration::from_secs(86_400 * 364));
    }

    #[test]
    fn loopback_is_exempt_from_the_ip_limit_unless_configured() {
        let mut config = ConnManagerConfig::default();
        let v4: IpAddr = "127.0.0.1".parse().unwrap();
        let v6: IpAddr = "::1".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        let unspecified: IpAddr = "0.0.0.0".parse().unwrap();
        for ip in [v4, v6, mapped, unspecified] {
            assert!(!ip_limited(&config, ip), "{ip}");
        }
        assert!(ip_limited(&config, public));
        config.ip_limit_exempts_loopback = false;
        for ip in [v4, v6, mapped, public] {
            assert!(ip_limited(&config, ip), "{ip}");
        }
        assert_eq!(ip_key(mapped), v4);
        assert_eq!(ip_key(public), public);
    }

    #[test]
    fn zero_connection_caps_are_rejected() {
        let config = ConnManagerConfig {
            max_connections_per_peer: 0,
            ..Default::default()
        };
        assert!(config.validate().is_err());
        let config = ConnManagerConfig {
            max_connections_per_ip: 0,
            ..Default::default()
        };
        assert!(config.validate().is_err());
        assert!(ConnManagerConfig::default().validate().is_ok());
    }
}
