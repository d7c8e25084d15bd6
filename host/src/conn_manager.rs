//! Connection manager: known peers (bootnodes) redialled forever with capped exponential
//! backoff and seeded jitter, the peer target (see `peer_target`), peer limits per
//! direction, graylist disconnects.
//!
//! Limit policy: [`Node::dial`] and target dials refuse to exceed
//! [`ConnManagerConfig::max_outbound_peers`]. A new peer that connects inbound while
//! [`ConnManagerConfig::max_inbound_peers`] inbound-only peers are connected is closed
//! right after the handshake with [`DisconnectReason::PeerLimit`] (QUIC application
//! code 1), as rust-libp2p's connection-limits behaviour denies an established
//! connection over its limit and Lighthouse accepts and then sends a `TooManyPeers`
//! goodbye. Known peers (bootnodes) are exempt: we asked for them. A further connection
//! to an already connected peer is not counted again.
//!
//! Redial dedupe looks only at the peer's *outbound* leg: a live inbound connection from
//! a known peer does not stop us from redialling it when our own dial died (the peer
//! may close its leg at any time, and some clients only gossip on the leg they dialled).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leanp2p_identity::{Multiaddr, PeerId};
use leanp2p_quic::{ConnId, Direction};
use rand_core::RngCore;

use crate::error::{ConfigError, DialError};
use crate::event::DisconnectReason;
use crate::node::Node;

/// Connection-manager settings.
///
/// Limit policy: [`Node::dial`] and target dials refuse to exceed
/// [`ConnManagerConfig::max_outbound_peers`]. A new peer that connects inbound while
/// [`ConnManagerConfig::max_inbound_peers`] inbound-only peers are connected is closed
/// right after the handshake with [`DisconnectReason::PeerLimit`] (QUIC application code
/// 1), as rust-libp2p's connection-limits behaviour denies an established connection
/// over its limit and Lighthouse accepts and then sends a `TooManyPeers` goodbye. Known
/// peers (bootnodes) are exempt: we asked for them. A further connection to an already
/// connected peer is not counted again.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ConnManagerConfig {
    /// Most peers connected only by inbound connections; further inbound peers are
    /// disconnected with [`DisconnectReason::PeerLimit`]. Default 50.
    pub max_inbound_peers: usize,
    /// Most peers with an outbound connection; [`Node::dial`] refuses more and known
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
    /// peers from its address book ([`Node::add_peer_address`], identify, known peers'
    /// PX suggestions) with the redial backoff, never beyond `max_outbound_peers`.
    /// Default 0 (off: the node only dials what the application and the known peers
    /// ask for). Lighthouse aims at 100; a small lean devnet wants every node.
    pub target_peers: usize,
    /// Most entries in the address book; further addresses are ignored. Default 1024.
    pub max_address_book: usize,
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

impl Node {
    /// Keeps an outbound connection to `peer` at `addr` for the node's life: dials now
    /// and redials with backoff whenever our outbound leg is gone.
    pub fn add_known_peer(
        &mut self,
        now: Instant,
        peer: PeerId,
        addr: SocketAddr,
    ) -> Result<(), DialError> {
        self.last_now = Some(now);
        if peer == self.local_peer || self.is_own_address(addr) {
            return Err(DialError::SelfDial);
        }
        let entry = self.known.entry(peer).or_insert(KnownPeer {
            addr,
            failures: 0,
            next_dial: Some(now),
            dialing: None,
        });
        entry.addr = addr;
        self.redial_due(now);
        self.pump(now);
        Ok(())
    }

    /// [`Node::add_known_peer`] from a `/ip4|ip6/…/udp/…/quic-v1/p2p/…` multiaddr
    /// (a bootnode); the `/p2p` part is required.
    pub fn add_bootnode(&mut self, now: Instant, addr: &Multiaddr) -> Result<PeerId, DialError> {
        let (socket, peer) = addr.to_quic_v1_target()?;
        let peer = peer.ok_or(DialError::MissingPeerId)?;
        self.add_known_peer(now, peer, socket)?;
        Ok(peer)
    }

    /// Stops redialling `peer` (existing connections stay). Returns whether it was known.
    pub fn remove_known_peer(&mut self, peer: &PeerId) -> bool {
        self.known.remove(peer).is_some()
    }

    /// Known peers (redialled forever), in PeerId order.
    pub fn known_peers(&self) -> impl Iterator<Item = (&PeerId, SocketAddr)> {
        self.known.iter().map(|(p, k)| (p, k.addr))
    }

    /// Whether `peer` has a live outbound connection.
    pub(crate) fn has_outbound_leg(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|p| {
            p.conns.iter().any(|c| {
                self.conns
                    .get(c)
                    .is_some_and(|c| c.direction == Direction::Outbound && c.local_close.is_none())
            })
        })
    }

    /// Peers with at least one outbound connection.
    pub(crate) fn outbound_peer_count(&self) -> usize {
        self.peers
            .keys()
            .filter(|p| self.has_outbound_leg(p))
            .count()
    }

    /// Backoff before the next dial after `failures` consecutive failures, with jitter.
    pub(crate) fn redial_delay(&mut self, failures: u32) -> Duration {
        let cm = &self.config.conn_manager;
        let base = cm
            .redial_initial_backoff
            .saturating_mul(1u32 << failures.min(20))
            .min(cm.redial_max_backoff);
        let unit = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let factor = 1.0 - cm.redial_jitter + 2.0 * cm.redial_jitter * unit;
        Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(cm.redial_max_backoff)
    }

    /// Dials every known peer that is due and has no outbound leg.
    pub(crate) fn redial_due(&mut self, now: Instant) {
        let due: Vec<PeerId> = self
            .known
            .iter()
            .filter(|(_, k)| k.dialing.is_none() && k.next_dial.is_some_and(|t| t <= now))
            .map(|(p, _)| *p)
            .collect();
        for peer in due {
            if self.has_outbound_leg(&peer) {
                if let Some(k) = self.known.get_mut(&peer) {
                    k.next_dial = None;
                }
                continue;
            }
            let Some(addr) = self.known.get(&peer).map(|k| k.addr) else {
                continue;
            };
            let result =
                if self.outbound_peer_count() >= self.config.conn_manager.max_outbound_peers {
                    Err(DialError::TooManyPeers)
                } else {
                    self.endpoint
                        .dial(now, addr, Some(peer))
                        .map_err(DialError::from)
                };
            match result {
                Ok(conn) => {
                    tracing::debug!(%peer, %addr, "redialling known peer");
                    self.dials.insert(conn, (addr, Some(peer)));
                    if let Some(k) = self.known.get_mut(&peer) {
                        k.dialing = Some(conn);
                        k.next_dial = None;
                    }
                }
                Err(error) => {
                    tracing::debug!(%peer, %error, "cannot redial known peer yet");
                    let failures = self.known.get(&peer).map_or(0, |k| k.failures);
                    let delay = self.redial_delay(failures);
                    if let Some(k) = self.known.get_mut(&peer) {
                        k.failures = k.failures.saturating_add(1);
                        k.next_dial = Some(later(now, delay));
                    }
                }
            }
        }
    }

    /// Earliest scheduled redial.
    pub(crate) fn next_redial(&self) -> Option<Instant> {
        self.known
            .values()
            .filter(|k| k.dialing.is_none())
            .filter_map(|k| k.next_dial)
            .min()
    }

    /// A dial of ours failed.
    pub(crate) fn on_dial_failed(&mut self, now: Instant, conn: ConnId, expected: Option<PeerId>) {
        let Some(peer) = expected else {
            return;
        };
        let Some(failures) = self
            .known
            .get(&peer)
            .filter(|k| k.dialing == Some(conn))
            .map(|k| k.failures)
        else {
            return;
        };
        let delay = self.redial_delay(failures);
        if let Some(k) = self.known.get_mut(&peer) {
            k.dialing = None;
            k.failures = k.failures.saturating_add(1);
            k.next_dial = Some(later(now, delay));
        }
    }

    /// A connection came up: clear the known peer's dial, enforce the peer limits.
    /// Returns `false` if the connection is being closed.
    pub(crate) fn on_connection_admitted(
        &mut self,
        now: Instant,
        conn: ConnId,
        peer: PeerId,
        direction: Direction,
    ) -> bool {
        if let Some(k) = self.known.get_mut(&peer) {
            if k.dialing == Some(conn) || direction == Direction::Outbound {
                k.dialing = None;
                k.failures = 0;
                k.next_dial = None;
            }
        }
        self.on_candidate_connected(now, peer, conn);
        let new_peer = !self.peers.contains_key(&peer);
        if direction == Direction::Inbound && new_peer && !self.known.contains_key(&peer) {
            let inbound_only = self.peers.len() - self.outbound_peer_count();
            if inbound_only >= self.config.conn_manager.max_inbound_peers {
                self.close_with(now, conn, DisconnectReason::PeerLimit);
                return false;
            }
        }
        true
    }

    /// A connection ended: if it was our outbound leg to a known peer, schedule a redial.
    pub(crate) fn on_connection_lost(&mut self, now: Instant, peer: PeerId, direction: Direction) {
        if !self.peers.contains_key(&peer) {
            self.on_candidate_gone(now, peer);
        }
        if direction != Direction::Outbound || self.has_outbound_leg(&peer) {
            return;
        }
        let Some(k) = self.known.get(&peer) else {
            return;
        };
        if k.dialing.is_some() {
            return;
        }
        let failures = k.failures;
        let delay = self.redial_delay(failures);
        if let Some(k) = self.known.get_mut(&peer) {
            k.next_dial = Some(later(now, delay));
        }
    }

    /// Disconnects peers whose score fell below the graylist threshold.
    pub(crate) fn disconnect_graylisted(&mut self, now: Instant) {
        if !self.config.conn_manager.disconnect_graylisted {
            return;
        }
        let Some(threshold) = self
            .config
            .gossipsub
            .scoring
            .as_ref()
            .map(|s| s.thresholds.graylist_threshold)
        else {
            return;
        };
        let graylisted: Vec<PeerId> = self
            .peers
            .keys()
            .filter(|p| self.gossip.peer_score(p) < threshold)
            .copied()
            .collect();
        for peer in graylisted {
            tracing::debug!(%peer, "disconnecting graylisted peer");
            self.penalize_candidate(&peer);
            for conn in self.connections_to(&peer) {
                self.close_with(now, conn, DisconnectReason::Graylisted);
            }
        }
    }
}

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
}
