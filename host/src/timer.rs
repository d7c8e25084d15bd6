//! The node's timer table and [`TimeoutReason`].
//!
//! Every node-level deadline lives in one ordered table ([`TimerTable`]): one entry per
//! connection (its earliest negotiation timeout, ping, identify query or idle timeout,
//! computed by the connection itself) and one each for the connection manager's
//! redials, the peer-target dials and the slow-peer disconnects. Entries are refreshed
//! only for what changed: the connections marked in the connection table during a pump,
//! and the node-wide entries when the address book, known peers, connected peers or a
//! gossip overflow episode changed. So `poll_timeout` is a pure minimum, and
//! `handle_datagram`, `handle_timeout` and `poll_timeout` cost O(what changed + log n)
//! rather than O(connections x streams). Debug builds check the table against a full
//! recomputation after every pump.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use leanp2p_quic::ConnId;

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

/// What a node-level timer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// A connection's earliest deadline ([`crate::connection::Connection::next_deadline`]).
    Conn(ConnId),
    /// The next known-peer redial.
    Redial,
    /// The next dial towards the peer target.
    TargetDial,
    /// The longest gossip overflow episode reaching the slow-peer limit.
    SlowPeer,
}

/// Ordered deadlines, at most one per key.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    by_time: BTreeSet<(Instant, TimerKey)>,
    by_key: BTreeMap<TimerKey, (Instant, TimeoutReason)>,
}

impl TimerTable {
    /// Sets (or clears with `None`) the deadline of `key`.
    pub(crate) fn set(&mut self, key: TimerKey, deadline: Option<(Instant, TimeoutReason)>) {
        if self.by_key.get(&key).copied() == deadline {
            return;
        }
        if let Some((old, _)) = self.by_key.remove(&key) {
            self.by_time.remove(&(old, key));
        }
        if let Some((at, reason)) = deadline {
            self.by_time.insert((at, key));
            self.by_key.insert(key, (at, reason));
        }
    }

    /// The deadline of `key` (debug checks).
    #[cfg(debug_assertions)]
    pub(crate) fn get(&self, key: TimerKey) -> Option<(Instant, TimeoutReason)> {
        self.by_key.get(&key).copied()
    }

    /// Every key with a deadline (debug checks).
    #[cfg(debug_assertions)]
    pub(crate) fn keys(&self) -> impl Iterator<Item = &TimerKey> {
        self.by_key.keys()
    }

    /// The earliest deadline and its reason.
    pub(crate) fn earliest(&self) -> Option<(Instant, TimeoutReason)> {
        let (_, key) = self.by_time.first()?;
        self.by_key.get(key).copied()
    }

    /// Keys whose deadline is at or before `now`, earliest first.
    pub(crate) fn expired(&self, now: Instant) -> Vec<TimerKey> {
        self.by_time
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, key)| *key)
            .collect()
    }
}
