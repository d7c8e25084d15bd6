//! The endpoint's timer table: one deadline per connection, each with a reason.
//!
//! quinn keeps a private table of nine timers per connection; it only tells us the
//! earliest one. We classify that deadline from what we observe (see [`TimeoutReason`])
//! and keep every connection's deadline in an ordered set, so
//! [`crate::Endpoint::poll_timeout`] is a pure minimum.

use std::collections::BTreeSet;
use std::time::Instant;

use rustc_hash::FxHashMap;

use crate::event::ConnId;

/// Why [`crate::Endpoint::poll_timeout`] asks to be woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutReason {
    /// Output (transmits or events) is queued: drain before sleeping. The deadline is the
    /// last `now` the endpoint saw.
    QueuedIo,
    /// quinn's pacer holds back the next packet (token bucket refill).
    Pacing,
    /// A handshake's deadline ([`crate::Config::handshake_timeout`]).
    Handshake,
    /// The next keep-alive PING.
    KeepAlive,
    /// The idle timeout: the connection is declared lost if nothing arrives first.
    Idle,
    /// Loss detection, probe timeout, delayed ACK, key discard, path validation or
    /// connection-ID rotation (quinn does not say which).
    Recovery,
    /// A closing or draining connection is waiting out its 3·PTO before being forgotten.
    Closing,
}

/// Ordered deadlines, one per connection.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    by_time: BTreeSet<(Instant, ConnId)>,
    by_conn: FxHashMap<ConnId, (Instant, TimeoutReason)>,
}

impl TimerTable {
    /// Sets (or clears with `None`) the deadline of `conn`.
    pub(crate) fn set(&mut self, conn: ConnId, deadline: Option<(Instant, TimeoutReason)>) {
        // Most calls (one per datagram in or out) re-arm the same deadline: skip the
        // ordered set's remove + insert then.
        if self.by_conn.get(&conn).copied() == deadline {
            return;
        }
        if let Some((old, _)) = self.by_conn.remove(&conn) {
            self.by_time.remove(&(old, conn));
        }
        if let Some((at, reason)) = deadline {
            self.by_time.insert((at, conn));
            self.by_conn.insert(conn, (at, reason));
        }
    }

    /// The earliest deadline and its reason.
    pub(crate) fn earliest(&self) -> Option<(Instant, TimeoutReason)> {
        let (_, conn) = self.by_time.first()?;
        self.by_conn.get(conn).copied()
    }

    /// Connections whose deadline is at or before `now`, earliest first.
    pub(crate) fn expired(&self, now: Instant) -> Vec<ConnId> {
        self.by_time
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, conn)| *conn)
            .collect()
    }
}

/// What a connection's bookkeeping knows when classifying quinn's next deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimerHints {
    /// Our handshake deadline, while handshaking.
    pub(crate) handshake_deadline: Option<Instant>,
    /// The deadline quinn armed when its pacer blocked the last `poll_transmit`.
    pub(crate) pacing_deadline: Option<Instant>,
    /// When the last datagram for the connection arrived. quinn restarts both the
    /// keep-alive and the idle timer from every authenticated packet it receives.
    pub(crate) last_rx: Option<Instant>,
    /// Whether the connection is closing or draining.
    pub(crate) closing: bool,
}

/// Classifies a connection deadline.
pub(crate) fn classify(
    deadline: Instant,
    hints: &TimerHints,
    keep_alive: Option<std::time::Duration>,
    idle: std::time::Duration,
) -> TimeoutReason {
    if hints.closing {
        return TimeoutReason::Closing;
    }
    if hints.handshake_deadline == Some(deadline) {
        return TimeoutReason::Handshake;
    }
    if hints.pacing_deadline == Some(deadline) {
        return TimeoutReason::Pacing;
    }
    if let Some(rx) = hints.last_rx {
        if keep_alive.is_some_and(|interval| rx + interval == deadline) {
            return TimeoutReason::KeepAlive;
        }
        // The idle deadline is at least `idle` after the last receipt (later if an
        // ack-eliciting packet was sent since, or if 3·PTO exceeds it).
        if deadline >= rx + idle {
            return TimeoutReason::Idle;
        }
    }
    if hints.handshake_deadline.is_some() {
        return TimeoutReason::Handshake;
    }
    TimeoutReason::Recovery
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn earliest_and_expired_follow_updates() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        let (a, b, c) = (ConnId(1), ConnId(2), ConnId(3));
        table.set(a, Some((t0 + Duration::from_secs(3), TimeoutReason::Idle)));
        table.set(
            b,
            Some((t0 + Duration::from_secs(1), TimeoutReason::Pacing)),
        );
        table.set(
            c,
            Some((t0 + Duration::from_secs(2), TimeoutReason::Recovery)),
        );
        assert_eq!(
            table.earliest(),
            Some((t0 + Duration::from_secs(1), TimeoutReason::Pacing))
        );
        table.set(
            b,
            Some((t0 + Duration::from_secs(5), TimeoutReason::KeepAlive)),
        );
        assert_eq!(
            table.earliest(),
            Some((t0 + Duration::from_secs(2), TimeoutReason::Recovery))
        );
        assert_eq!(table.expired(t0 + Duration::from_secs(3)), vec![c, a]);
        table.set(c, None);
        table.set(a, None);
        table.set(b, None);
        assert_eq!(table.earliest(), None);
        assert!(table.expired(t0 + Duration::from_secs(60)).is_empty());
    }

    #[test]
    fn re_arming_keeps_one_entry_and_takes_a_new_reason() {
        let t0 = Instant::now();
        let at = t0 + Duration::from_secs(1);
        let mut table = TimerTable::default();
        let a = ConnId(1);
        table.set(a, Some((at, TimeoutReason::Recovery)));
        table.set(a, Some((at, TimeoutReason::Recovery)));
        assert_eq!(table.expired(at), vec![a]);
        table.set(a, Some((at, TimeoutReason::Pacing)));
        assert_eq!(table.earliest(), Some((at, TimeoutReason::Pacing)));
        assert_eq!(table.expired(at), vec![a]);
        table.set(a, None);
        table.set(a, None);
        assert_eq!(table.earliest(), None);
        assert!(table.expired(at).is_empty());
    }

    #[test]
    fn classification_prefers_exact_matches() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(10);
        let keep_alive = Some(Duration::from_secs(5));
        let mut hints = TimerHints {
            handshake_deadline: None,
            pacing_deadline: Some(t0 + Duration::from_millis(2)),
            last_rx: Some(t0),
            closing: false,
        };
        let classify = |d, h: &TimerHints| classify(d, h, keep_alive, idle);
        assert_eq!(
            classify(t0 + Duration::from_millis(2), &hints),
            TimeoutReason::Pacing
        );
        assert_eq!(
            classify(t0 + Duration::from_secs(5), &hints),
            TimeoutReason::KeepAlive
        );
        assert_eq!(
            classify(t0 + Duration::from_secs(10), &hints),
            TimeoutReason::Idle
        );
        assert_eq!(
            classify(t0 + Duration::from_millis(300), &hints),
            TimeoutReason::Recovery
        );
        hints.closing = true;
        assert_eq!(
            classify(t0 + Duration::from_millis(2), &hints),
            TimeoutReason::Closing
        );
    }
}
