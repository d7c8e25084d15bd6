//! Connection manager on the node: known peers and their redials, connection caps, peer
//! limits, graylist disconnects (policy in [`crate::conn_manager`]).

use super::Node;
use crate::conn_manager::{ip_key, ip_limited, later, KnownPeer};
use crate::error::DialError;
use crate::event::DisconnectReason;
use leanp2p_identity::{Multiaddr, PeerId};
use leanp2p_quic::{ConnId, Direction};
use rand_core::RngCore;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

impl Node {
    /// Keeps an outbound connection to `peer` at `addr` for the node's life: dials now
    /// and redials with backoff whenever our outbound leg is gone.
    pub fn add_known_peer(
        &mut self,
        now: Instant,
        peer: PeerId,
        addr: SocketAddr,
    ) -> Result<(), DialError> {
        self.node_timers_changed = true;
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
        self.mark_peer(&peer);
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
        self.node_timers_changed = true;
        self.mark_peer(peer);
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
        self.node_timers_changed = true;
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
        self.node_timers_changed = true;
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

    /// Whether the just established `conn` to `peer` stays within
    /// [`crate::ConnManagerConfig::max_connections_per_peer`] and (inbound, not a known
    /// peer) [`crate::ConnManagerConfig::max_connections_per_ip`]; counts the refusal if
    /// not. Other connections count while we are not closing them.
    fn within_connection_caps(&mut self, conn: ConnId, peer: PeerId, direction: Direction) -> bool {
        let cm = &self.config.conn_manager;
        let live = |(id, c): &(&ConnId, &crate::connection::Connection)| {
            **id != conn && c.local_close.is_none()
        };
        let to_peer = self
            .conns
            .iter()
            .filter(live)
            .filter(|(_, c)| c.peer == peer)
            .count();
        if to_peer >= cm.max_connections_per_peer {
            tracing::debug!(%peer, to_peer, "connection over the per-peer cap");
            self.counters.connections_refused_per_peer += 1;
            return false;
        }
        let Some(remote) = self.conns.get(&conn).map(|c| c.remote.ip()) else {
            return true;
        };
        if direction != Direction::Inbound
            || self.known.contains_key(&peer)
            || !ip_limited(cm, remote)
        {
            return true;
        }
        let ip = ip_key(remote);
        let from_ip = self
            .conns
            .iter()
            .filter(live)
            .filter(|(_, c)| c.direction == Direction::Inbound && ip_key(c.remote.ip()) == ip)
            .count();
        if from_ip >= cm.max_connections_per_ip {
            tracing::debug!(%peer, %ip, from_ip, "inbound connection over the per-IP cap");
            self.counters.connections_refused_per_ip += 1;
            return false;
        }
        true
    }

    /// A connection came up: clear the known peer's dial, enforce the connection caps
    /// and the peer limits.
    /// Returns `false` if the connection is being closed.
    pub(crate) fn on_connection_admitted(
        &mut self,
        now: Instant,
        conn: ConnId,
        peer: PeerId,
        direction: Direction,
    ) -> bool {
        self.node_timers_changed = true;
        if !self.within_connection_caps(conn, peer, direction) {
            self.close_with(now, conn, DisconnectReason::ConnectionLimit);
            // Our own dial refused by our own cap counts as a failed dial: a known peer
            // is redialled with backoff (otherwise nothing would dial it again), a target
            // dial fails when the close is confirmed (`on_target_dial_failed`).
            self.on_dial_failed(now, conn, Some(peer));
            return false;
        }
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
        self.node_timers_changed = true;
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
