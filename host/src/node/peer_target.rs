//! The peer target on the node: the address book and dials towards the target (policy in
//! [`crate::peer_target`]).

use super::Node;
use crate::conn_manager::later;
use crate::error::DialError;
use crate::peer_target::{AddressSource, Candidate, STABLE_CONNECTION, STALE_FAILURES};
use leanp2p_identity::PeerId;
use leanp2p_quic::ConnId;
use rand_core::RngCore;
use std::net::SocketAddr;
use std::time::Instant;

impl Node {
    /// Records a dialable address of `peer` (from discovery, an ENR, a peer record).
    /// While fewer than [`crate::ConnManagerConfig::target_peers`] peers are connected
    /// the node dials such peers. Returns `false` if the book is full
    /// ([`crate::ConnManagerConfig::max_address_book`]) and `peer` is not in it.
    pub fn add_peer_address(
        &mut self,
        now: Instant,
        peer: PeerId,
        addr: SocketAddr,
    ) -> Result<bool, DialError> {
        self.last_now = Some(now);
        if peer == self.local_peer || self.is_own_address(addr) {
            return Err(DialError::SelfDial);
        }
        let added = self.remember_address(now, peer, addr, AddressSource::Application);
        self.fill_to_target(now);
        self.pump(now);
        Ok(added)
    }

    /// Addresses the node may dial to reach its peer target, in PeerId order.
    pub fn address_book(&self) -> impl Iterator<Item = (&PeerId, SocketAddr)> {
        self.book.iter().map(|(p, c)| (p, c.addr))
    }

    /// Inserts or updates an address; `false` if the book is full of fresh candidates
    /// (or, for identify, half of it is identify's already).
    pub(crate) fn remember_address(
        &mut self,
        now: Instant,
        peer: PeerId,
        addr: SocketAddr,
        source: AddressSource,
    ) -> bool {
        self.node_timers_changed = true;
        if peer == self.local_peer
            || self.is_own_address(addr)
            || addr.port() == 0
            || addr.ip().is_unspecified()
        {
            return false;
        }
        if let Some(c) = self.book.get_mut(&peer) {
            c.addr = addr;
            if source == AddressSource::Application {
                c.source = source;
            }
            return true;
        }
        let max = self.config.conn_manager.max_address_book;
        let identify_full = source == AddressSource::Identify
            && self.book.len() >= max / 2
            && self
                .book
                .values()
                .filter(|c| c.source == AddressSource::Identify)
                .count()
                >= max / 2;
        if identify_full || self.book.len() >= max {
            let only = identify_full.then_some(AddressSource::Identify);
            if !self.evict_stale_address(only) {
                self.counters.address_book_refused += 1;
                return false;
            }
        }
        let connected_at = self.peers.contains_key(&peer).then_some(now);
        self.book.insert(
            peer,
            Candidate {
                addr,
                source,
                failures: 0,
                next_dial: now,
                dialing: None,
                connected_at,
                penalized: false,
            },
        );
        true
    }

    /// Evicts the stalest candidate (of `only` that source, if given): the most
    /// consecutive failures, at least [`STALE_FAILURES`], not connected, not dialling.
    fn evict_stale_address(&mut self, only: Option<AddressSource>) -> bool {
        let stalest = self
            .book
            .iter()
            .filter(|(_, c)| {
                c.failures >= STALE_FAILURES
                    && c.connected_at.is_none()
                    && c.dialing.is_none()
                    && only.is_none_or(|s| c.source == s)
            })
            .max_by_key(|(_, c)| (c.failures, c.next_dial))
            .map(|(p, _)| *p);
        match stalest {
            Some(peer) => {
                self.book.remove(&peer);
                self.counters.address_book_evicted += 1;
                true
            }
            None => false,
        }
    }

    /// Records the first dialable listen address a peer announced with identify.
    pub(crate) fn learn_identify_addresses(&mut self, now: Instant, peer: PeerId) {
        let addr = self
            .peers
            .get(&peer)
            .and_then(|p| p.info.as_ref())
            .and_then(|info| {
                info.listen_addrs
                    .iter()
                    .filter_map(|a| a.to_quic_v1_target().ok())
                    .find(|(_, id)| id.is_none_or(|id| id == peer))
                    .map(|(socket, _)| socket)
            });
        if let Some(addr) = addr {
            self.remember_address(now, peer, addr, AddressSource::Identify);
        }
    }

    /// A gossipsub PRUNE suggested `peers`: those with an address and no pending
    /// backoff are dialled at the next target check.
    pub(crate) fn on_px_peers(&mut self, now: Instant, peers: &[PeerId]) {
        self.node_timers_changed = true;
        for peer in peers {
            if let Some(c) = self.book.get_mut(peer) {
                if c.failures == 0 && c.dialing.is_none() {
                    c.next_dial = c.next_dial.min(now);
                }
            }
        }
    }

    /// Target dials in progress.
    fn target_dials(&self) -> usize {
        self.book.values().filter(|c| c.dialing.is_some()).count()
    }

    /// Peers connected or being dialled towards the target, and whether more are
    /// wanted (and allowed by the outbound limit).
    fn target_room(&self) -> usize {
        let cm = &self.config.conn_manager;
        if cm.target_peers <= self.peers.len() {
            return 0;
        }
        let in_flight = self.target_dials();
        let have = self.peers.len() + in_flight;
        let want = cm.target_peers.saturating_sub(have);
        let outbound_room = cm
            .max_outbound_peers
            .saturating_sub(self.outbound_peer_count() + in_flight);
        want.min(outbound_room)
    }

    /// Whether `peer` may be dialled towards the target now.
    fn is_dialable_candidate(&self, now: Instant, peer: &PeerId, c: &Candidate) -> bool {
        c.dialing.is_none()
            && c.next_dial <= now
            && !self.peers.contains_key(peer)
            && !self.known.contains_key(peer)
    }

    /// Dials candidates while the node is under its peer target.
    pub(crate) fn fill_to_target(&mut self, now: Instant) {
        self.node_timers_changed = true;
        let mut room = self.target_room();
        if room == 0 {
            return;
        }
        let mut eligible: Vec<PeerId> = self
            .book
            .iter()
            .filter(|(p, c)| self.is_dialable_candidate(now, p, c))
            .map(|(p, _)| *p)
            .collect();
        while room > 0 && !eligible.is_empty() {
            let pick = (self.rng.next_u64() % eligible.len() as u64) as usize;
            let peer = eligible.swap_remove(pick);
            let Some(addr) = self.book.get(&peer).map(|c| c.addr) else {
                continue;
            };
            match self.endpoint.dial(now, addr, Some(peer)) {
                Ok(conn) => {
                    tracing::debug!(%peer, %addr, "dialling towards the peer target");
                    self.dials.insert(conn, (addr, Some(peer)));
                    if let Some(c) = self.book.get_mut(&peer) {
                        c.dialing = Some(conn);
                    }
                    room -= 1;
                }
                Err(error) => {
                    tracing::debug!(%peer, %error, "cannot dial candidate");
                    self.candidate_failed(now, peer);
                }
            }
        }
    }

    /// When the next target dial is due (only while under the target).
    pub(crate) fn next_target_dial(&self) -> Option<Instant> {
        if self.target_room() == 0 {
            return None;
        }
        self.book
            .iter()
            .filter(|(p, c)| {
                c.dialing.is_none() && !self.peers.contains_key(p) && !self.known.contains_key(p)
            })
            .map(|(_, c)| c.next_dial)
            .min()
    }

    /// One more failure for `peer`: back off.
    fn candidate_failed(&mut self, now: Instant, peer: PeerId) {
        self.node_timers_changed = true;
        let Some(failures) = self.book.get(&peer).map(|c| c.failures) else {
            return;
        };
        let delay = self.redial_delay(failures);
        if let Some(c) = self.book.get_mut(&peer) {
            c.dialing = None;
            c.connected_at = None;
            c.failures = c.failures.saturating_add(1);
            c.next_dial = later(now, delay);
        }
    }

    /// A dial failed: if it was a target dial, back off.
    pub(crate) fn on_target_dial_failed(&mut self, now: Instant, conn: ConnId, peer: PeerId) {
        if self
            .book
            .get(&peer)
            .is_some_and(|c| c.dialing == Some(conn))
        {
            self.candidate_failed(now, peer);
        }
    }

    /// A connection to `peer` came up.
    pub(crate) fn on_candidate_connected(&mut self, now: Instant, peer: PeerId, conn: ConnId) {
        self.node_timers_changed = true;
        if let Some(c) = self.book.get_mut(&peer) {
            if c.dialing == Some(conn) {
                c.dialing = None;
            }
            if c.connected_at.is_none() {
                c.connected_at = Some(now);
            }
        }
    }

    /// We are disconnecting `peer` for misbehaviour: it is not dialled again before the
    /// longest redial backoff.
    pub(crate) fn penalize_candidate(&mut self, peer: &PeerId) {
        if let Some(c) = self.book.get_mut(peer) {
            c.penalized = true;
        }
    }

    /// The last connection to `peer` ended: a short-lived one counts as a failure.
    pub(crate) fn on_candidate_gone(&mut self, now: Instant, peer: PeerId) {
        self.node_timers_changed = true;
        let Some(c) = self.book.get_mut(&peer) else {
            return;
        };
        if std::mem::take(&mut c.penalized) {
            // 2^20 initial backoffs: capped at the maximum.
            c.failures = c.failures.max(20);
            self.candidate_failed(now, peer);
            return;
        }
        let stable = c
            .connected_at
            .is_some_and(|at| now.saturating_duration_since(at) >= STABLE_CONNECTION);
        if stable {
            let delay = self.redial_delay(0);
            if let Some(c) = self.book.get_mut(&peer) {
                c.failures = 0;
                c.connected_at = None;
                c.next_dial = later(now, delay);
            }
        } else {
            self.candidate_failed(now, peer);
        }
    }
}
