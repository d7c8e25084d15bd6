//! The node's own deadlines and [`TimeoutReason`].

use std::time::Instant;

use leanp2p_quic::{ConnId, StreamId};

use crate::event::DisconnectReason;
use crate::node::Node;

/// Why [`crate::Node::poll_timeout`] asks to be woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// Events or unread stream data are queued: drain now.
    QueuedIo,
    /// The node pacer holds back the next datagram.
    Pacing,
    /// A QUIC deadline (loss recovery, quinn pacing, keep-alive, idle, handshake).
    Transport(leanp2p_quic::TimeoutReason),
    /// A gossipsub deadline (heartbeat, score decay, validation timeout).
    Gossip(leanp2p_gossipsub::TimeoutReason),
    /// A req/resp deadline (request or response timeout, rate limits).
    ReqResp(leanp2p_reqresp::TimeoutReason),
    /// A stream's multistream-select timeout.
    Negotiation,
    /// The next ping, or a ping's timeout.
    Ping,
    /// The next periodic identify query.
    Identify,
    /// A connection nothing needs reaches its idle timeout.
    IdleConnection,
    /// A known peer is due to be redialled, or a dial towards the peer target is due.
    Redial,
    /// A peer's gossip overflow episode reaches [`crate::Limits::slow_peer_disconnect`].
    SlowPeer,
}

impl Node {
    /// Every node-level deadline with its reason (unordered).
    pub(crate) fn node_deadlines(&self) -> Vec<(Instant, TimeoutReason)> {
        let mut out = Vec::new();
        if let Some(at) = self.next_redial() {
            out.push((at, TimeoutReason::Redial));
        }
        if let Some(at) = self.next_target_dial() {
            out.push((at, TimeoutReason::Redial));
        }
        if let Some(at) = self.next_slow_peer_deadline() {
            out.push((at, TimeoutReason::SlowPeer));
        }
        let ping = &self.config.ping;
        for c in self.conns.values() {
            if c.local_close.is_some() {
                continue;
            }
            for s in c.streams.values() {
                if let Some(at) = s.negotiation_deadline {
                    out.push((at, TimeoutReason::Negotiation));
                }
            }
            if let Some(at) = c.ping.deadline(ping.timeout, ping.enabled) {
                out.push((at, TimeoutReason::Ping));
            }
            if let Some(at) = c.identify_at {
                out.push((at, TimeoutReason::Identify));
            }
            if let Some(since) = c.idle_since {
                out.push((
                    crate::conn_manager::later(since, self.config.idle_connection_timeout),
                    TimeoutReason::IdleConnection,
                ));
            }
        }
        out
    }

    /// Runs the node-level timers that are due.
    pub(crate) fn run_node_timers(&mut self, now: Instant) {
        self.redial_due(now);
        self.fill_to_target(now);
        self.disconnect_graylisted(now);
        self.disconnect_slow_peers(now);
        let conn_ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conn_ids {
            let Some(c) = self.conns.get(&conn) else {
                continue;
            };
            if c.local_close.is_some() {
                continue;
            }
            let expired: Vec<StreamId> = c
                .streams
                .iter()
                .filter(|(_, s)| s.negotiation_deadline.is_some_and(|at| at <= now))
                .map(|(id, _)| *id)
                .collect();
            for stream in expired {
                self.counters.negotiation_timeouts += 1;
                let _span = self.conns.get(&conn).map(|c| c.span.clone().entered());
                tracing::debug!(%stream, "negotiation timed out");
                self.negotiation_failed(now, conn, stream, true);
            }
            self.ping_tick(now, conn);
            if self
                .conns
                .get(&conn)
                .and_then(|c| c.identify_at)
                .is_some_and(|at| at <= now)
            {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.identify_at = None;
                }
                self.open_identify_query(now, conn);
            }
            let idle_due = self
                .conns
                .get(&conn)
                .and_then(|c| c.idle_since)
                .is_some_and(|since| {
                    crate::conn_manager::later(since, self.config.idle_connection_timeout) <= now
                });
            if idle_due {
                self.close_with(now, conn, DisconnectReason::Idle);
            }
        }
    }

    /// Whether a connection is needed: the gossip connection of a gossip peer, or any
    /// stream in use other than gossip, identify and ping.
    pub(crate) fn update_idle(&mut self, now: Instant) {
        for (id, c) in self.conns.iter_mut() {
            let gossip_needed = c.gossip_active
                && self
                    .peers
                    .get(&c.peer)
                    .is_some_and(|p| p.gossip_conn == Some(*id) && p.gossip_registered);
            // The peer gossips to us on this connection.
            let peer_gossip = c
                .streams
                .values()
                .any(|s| matches!(s.kind, crate::connection::StreamKind::GossipIn(_)));
            // Our outbound leg to a known peer is kept (closing it would only make the
            // connection manager redial).
            let known_leg = c.direction == leanp2p_quic::Direction::Outbound
                && self.known.contains_key(&c.peer);
            let only_conn = self.peers.get(&c.peer).is_some_and(|p| p.conns.len() == 1);
            let needed = gossip_needed
                || peer_gossip
                || known_leg
                || c.has_active_streams()
                || (only_conn && self.reqresp.has_work_for(&c.peer));
            if needed {
                c.idle_since = None;
            } else if c.idle_since.is_none() {
                c.idle_since = Some(now);
            }
        }
    }
}
