//! The node's timers: settling what changed into the timer table, running due timers
//! (see [`crate::timer`]).

use super::Node;
use crate::connection::StreamKind;
use crate::event::DisconnectReason;
use crate::timer::{TimeoutReason, TimerKey};
use leanp2p_quic::{ConnId, Direction};
use std::time::Instant;

impl Node {
    /// Brings the timer table and the idle marks up to date for what changed since the
    /// last call: the connections marked in the connection table, and the node-wide
    /// deadlines when [`Node::node_timers_changed`] is set.
    pub(crate) fn settle(&mut self, now: Instant) {
        for id in self.conns.take_changed() {
            self.refresh_connection(now, id);
        }
        if std::mem::take(&mut self.node_timers_changed) {
            let redial = self.next_redial().map(|at| (at, TimeoutReason::Redial));
            let target = self
                .next_target_dial()
                .map(|at| (at, TimeoutReason::Redial));
            let slow = self
                .next_slow_peer_deadline()
                .map(|at| (at, TimeoutReason::SlowPeer));
            self.timers.set(TimerKey::Redial, redial);
            self.timers.set(TimerKey::TargetDial, target);
            self.timers.set(TimerKey::SlowPeer, slow);
        }
        #[cfg(debug_assertions)]
        self.check_timers();
    }

    /// Marks every connection of `peer` as changed (something the node knows about the
    /// peer, and which decides whether its connections are needed, changed).
    pub(crate) fn mark_peer(&mut self, peer: &leanp2p_identity::PeerId) {
        if let Some(p) = self.peers.get(peer) {
            for id in &p.conns {
                self.conns.mark(*id);
            }
        }
    }

    /// Re-evaluates one changed connection: whether anything needs it (idle mark) and its
    /// earliest deadline.
    fn refresh_connection(&mut self, now: Instant, id: ConnId) {
        let needed = self.connection_needed(id);
        let ping = &self.config.ping;
        let idle_timeout = self.config.idle_connection_timeout;
        let Some(c) = self.conns.get_mut_unmarked(&id) else {
            self.timers.set(TimerKey::Conn(id), None);
            return;
        };
        if needed {
            c.idle_since = None;
        } else if c.idle_since.is_none() {
            c.idle_since = Some(now);
        }
        let deadline = c.next_deadline(ping, idle_timeout);
        self.timers.set(TimerKey::Conn(id), deadline);
    }

    /// Whether a connection is needed: the gossip connection of a gossip peer, a
    /// connection the peer gossips to us on, our outbound leg to a known peer, any
    /// stream in use other than gossip, identify and ping, or the peer's only
    /// connection while req/resp has work for the peer.
    fn connection_needed(&mut self, id: ConnId) -> bool {
        let Self {
            conns,
            peers,
            known,
            reqresp,
            ..
        } = self;
        let Some(c) = conns.get_mut_unmarked(&id) else {
            return false;
        };
        let peer = peers.get(&c.peer);
        let gossip_needed = c.gossip_active
            && peer.is_some_and(|p| p.gossip_conn == Some(id) && p.gossip_registered);
        // Our outbound leg to a known peer is kept (closing it would only make the
        // connection manager redial).
        let known_leg = c.direction == Direction::Outbound && known.contains_key(&c.peer);
        let only_conn = peer.is_some_and(|p| p.conns.len() == 1);
        gossip_needed
            || known_leg
            || c.has_gossip_in()
            || c.has_active_streams()
            || (only_conn && reqresp.has_work_for(&c.peer))
    }

    /// Runs the node-level timers that are due.
    pub(crate) fn run_node_timers(&mut self, now: Instant) {
        for key in self.timers.expired(now) {
            match key {
                TimerKey::Conn(conn) => self.run_connection_timers(now, conn),
                TimerKey::Redial => {
                    self.node_timers_changed = true;
                    self.redial_due(now);
                }
                TimerKey::TargetDial => {
                    self.node_timers_changed = true;
                    self.fill_to_target(now);
                }
                TimerKey::SlowPeer => {
                    self.node_timers_changed = true;
                    self.disconnect_slow_peers(now);
                }
            }
        }
    }

    /// Runs one connection's due timers: negotiation timeouts, ping, identify, idle.
    fn run_connection_timers(&mut self, now: Instant, conn: ConnId) {
        let idle_timeout = self.config.idle_connection_timeout;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.local_close.is_some() {
            return;
        }
        let due = c.handle_timeout(now, idle_timeout);
        for stream in due.negotiations {
            self.counters.negotiation_timeouts += 1;
            let _span = self.conns.get(&conn).map(|c| c.span.clone().entered());
            tracing::debug!(%stream, "negotiation timed out");
            self.negotiation_failed(now, conn, stream, true);
        }
        self.ping_tick(now, conn);
        if let Some(stream) = due.identify_timed_out {
            let pending = self
                .conns
                .stream(&conn, stream)
                .is_some_and(|s| matches!(s.kind, StreamKind::IdentifyQuery(_)));
            if pending {
                self.counters.identify_timeouts += 1;
                tracing::debug!(%conn, %stream, "identify query unanswered; reset");
                self.reset_stream(now, conn, stream, true);
            }
        }
        if due.identify {
            self.open_identify_query(now, conn);
        }
        if due.idle {
            self.close_with(now, conn, DisconnectReason::Idle);
        }
    }

    /// Checks the incremental bookkeeping against a full recomputation (debug builds):
    /// every connection's counters, idle mark and table entry, and the node-wide
    /// deadlines.
    #[cfg(debug_assertions)]
    fn check_timers(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for c in self.conns.values_mut_unmarked() {
            c.check_counters();
        }
        for id in ids {
            let needed = self.connection_needed(id);
            let ping = self.config.ping.clone();
            let idle_timeout = self.config.idle_connection_timeout;
            let Some(c) = self.conns.get_mut_unmarked(&id) else {
                continue;
            };
            debug_assert_eq!(
                c.idle_since.is_none(),
                needed,
                "connection {id}: idle mark out of date"
            );
            let deadline = c.next_deadline(&ping, idle_timeout);
            debug_assert_eq!(
                self.timers.get(TimerKey::Conn(id)),
                deadline,
                "connection {id}: timer out of date"
            );
        }
        for key in self.timers.keys() {
            if let TimerKey::Conn(id) = key {
                debug_assert!(self.conns.contains_key(id), "timer of a gone connection");
            }
        }
        let redial = self.next_redial().map(|at| (at, TimeoutReason::Redial));
        debug_assert_eq!(self.timers.get(TimerKey::Redial), redial, "redial timer");
        let target = self
            .next_target_dial()
            .map(|at| (at, TimeoutReason::Redial));
        debug_assert_eq!(
            self.timers.get(TimerKey::TargetDial),
            target,
            "target timer"
        );
        let slow = self
            .next_slow_peer_deadline()
            .map(|at| (at, TimeoutReason::SlowPeer));
        debug_assert_eq!(self.timers.get(TimerKey::SlowPeer), slow, "slow-peer timer");
    }
}
