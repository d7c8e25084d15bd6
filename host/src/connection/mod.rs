//! One established connection: its stream table and the per-connection protocol state
//! (gossip stream, ping, identify, idleness).
//!
//! The stream table is private to this module. Every mutable borrow of a stream goes
//! through [`Connection::stream_mut`], which marks the stream dirty; the connection's
//! counters (streams negotiating and their deadlines, inbound streams per class, streams
//! that keep the connection in use, gossip streams) are brought up to date from the
//! dirty streams only ([`Connection::settle`]). So the questions the node asks on every
//! datagram — is this connection idle, when is its next deadline, may the peer open
//! another stream of this class — cost O(streams touched + log n), not O(streams).

mod ping;
mod stream;
mod table;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leanp2p_identity::PeerId;
use leanp2p_quic::{ConnId, Direction, StreamId};

pub(crate) use ping::{
    take_blocks, PingDue, PingState, MAX_ECHO_BACKLOG, PING_READ_CHUNK, PING_SIZE,
};
pub(crate) use stream::{InboundClass, Stream, StreamKind};
pub(crate) use table::Connections;

use crate::event::DisconnectReason;
use crate::timer::TimeoutReason;

/// What one stream contributes to its connection's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accounted {
    /// Its multistream-select deadline while negotiating.
    pub(crate) negotiation_deadline: Option<Instant>,
    /// Its class, for a negotiated inbound stream.
    pub(crate) inbound_class: Option<InboundClass>,
    /// Whether it keeps the connection in use (negotiating, req/resp, application, or
    /// unsent bytes).
    pub(crate) active: bool,
    /// Whether it is the peer's `/meshsub` stream.
    pub(crate) gossip_in: bool,
    /// Whether it is one of our `/meshsub` streams.
    pub(crate) gossip_out: bool,
}

/// Counters over the stream table, kept up to date by [`Connection::settle`].
#[derive(Debug, Default)]
struct StreamCounters {
    /// Negotiation deadlines, earliest first.
    negotiations: BTreeSet<(Instant, StreamId)>,
    /// Negotiated inbound streams per [`InboundClass`].
    inbound: [usize; InboundClass::COUNT],
    /// Streams that keep the connection in use.
    active: usize,
    /// The peer's `/meshsub` streams.
    gossip_in: usize,
    /// Our `/meshsub` streams (the current one and any retired one still flushing).
    gossip_out: BTreeSet<StreamId>,
}

impl StreamCounters {
    fn add(&mut self, id: StreamId, a: &Accounted) {
        if let Some(at) = a.negotiation_deadline {
            self.negotiations.insert((at, id));
        }
        if let Some(class) = a.inbound_class {
            self.inbound[class.index()] += 1;
        }
        self.active += usize::from(a.active);
        self.gossip_in += usize::from(a.gossip_in);
        if a.gossip_out {
            self.gossip_out.insert(id);
        }
    }

    fn remove(&mut self, id: StreamId, a: &Accounted) {
        if let Some(at) = a.negotiation_deadline {
            self.negotiations.remove(&(at, id));
        }
        if let Some(class) = a.inbound_class {
            self.inbound[class.index()] = self.inbound[class.index()].saturating_sub(1);
        }
        self.active = self.active.saturating_sub(usize::from(a.active));
        self.gossip_in = self.gossip_in.saturating_sub(usize::from(a.gossip_in));
        if a.gossip_out {
            self.gossip_out.remove(&id);
        }
    }
}

/// What a connection's timers ask the node to do at one `handle_timeout` (its ping
/// timer is separate: [`PingState::due`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ConnectionDue {
    /// Streams whose multistream-select deadline passed: fail and reset them.
    pub(crate) negotiations: Vec<StreamId>,
    /// The periodic identify query is due (the timer is consumed).
    pub(crate) identify: bool,
    /// Our identify query on this stream went unanswered past its timeout.
    pub(crate) identify_timed_out: Option<StreamId>,
    /// Nothing has needed the connection for the idle timeout: close it.
    pub(crate) idle: bool,
}

/// One established connection.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) peer: PeerId,
    pub(crate) direction: Direction,
    pub(crate) remote: SocketAddr,
    /// The stream table (private: see the module docs).
    streams: BTreeMap<StreamId, Stream>,
    /// Counters over `streams`, current except for the streams in `dirty`.
    counters: StreamCounters,
    /// Streams borrowed mutably since the last [`Connection::settle`].
    dirty: Vec<StreamId>,
    /// Our outbound `/meshsub` stream, if this is the peer's gossip connection.
    pub(crate) gossip_out: Option<StreamId>,
    /// Whether gossip runs on this connection.
    pub(crate) gossip_active: bool,
    /// Times the outbound `/meshsub` stream was opened here.
    pub(crate) gossip_attempts: u32,
    /// Ping state.
    pub(crate) ping: PingState,
    /// Next periodic identify query.
    pub(crate) identify_at: Option<Instant>,
    /// Our identify query in flight and when it times out.
    pub(crate) identify_query: Option<(StreamId, Instant)>,
    /// Since when nothing needs this connection.
    pub(crate) idle_since: Option<Instant>,
    /// The reason we closed it (reported when QUIC confirms).
    pub(crate) local_close: Option<DisconnectReason>,
    /// Tracing span of this connection.
    pub(crate) span: tracing::Span,
}

impl Connection {
    pub(crate) fn new(
        conn: ConnId,
        peer: PeerId,
        direction: Direction,
        remote: SocketAddr,
        now: Instant,
    ) -> Self {
        Self {
            peer,
            direction,
            remote,
            streams: BTreeMap::new(),
            counters: StreamCounters::default(),
            dirty: Vec::new(),
            gossip_out: None,
            gossip_active: false,
            gossip_attempts: 0,
            ping: PingState::new(now),
            identify_at: None,
            identify_query: None,
            idle_since: None,
            local_close: None,
            span: tracing::debug_span!("conn", %conn, %peer, ?direction),
        }
    }

    // ----- the stream table ----------------------------------------------------------

    /// A stream, read-only.
    pub(crate) fn stream(&self, id: StreamId) -> Option<&Stream> {
        self.streams.get(&id)
    }

    /// A stream to change: it is re-accounted at the next [`Connection::settle`].
    pub(crate) fn stream_mut(&mut self, id: StreamId) -> Option<&mut Stream> {
        let s = self.streams.get_mut(&id)?;
        if !s.dirty {
            s.dirty = true;
            self.dirty.push(id);
        }
        Some(s)
    }

    /// Whether the stream is in the table.
    pub(crate) fn has_stream(&self, id: StreamId) -> bool {
        self.streams.contains_key(&id)
    }

    /// Adds a stream.
    pub(crate) fn insert_stream(&mut self, id: StreamId, mut stream: Stream) {
        stream.dirty = false;
        stream.accounted = stream.account();
        self.counters.add(id, &stream.accounted);
        if let Some(old) = self.streams.insert(id, stream) {
            self.counters.remove(id, &old.accounted);
        }
    }

    /// Removes a stream.
    pub(crate) fn remove_stream(&mut self, id: StreamId) -> Option<Stream> {
        let s = self.streams.remove(&id)?;
        self.counters.remove(id, &s.accounted);
        Some(s)
    }

    /// Removes every stream (the connection is gone).
    pub(crate) fn take_streams(&mut self) -> BTreeMap<StreamId, Stream> {
        self.counters = StreamCounters::default();
        self.dirty.clear();
        std::mem::take(&mut self.streams)
    }

    /// Streams, read-only, in id order.
    pub(crate) fn streams(&self) -> impl Iterator<Item = (StreamId, &Stream)> {
        self.streams.iter().map(|(id, s)| (*id, s))
    }

    /// Number of streams in any state.
    pub(crate) fn stream_count(&self) -> usize {
        self.streams.len()
    }

    // ----- counters ------------------------------------------------------------------

    /// Re-accounts the streams changed since the last call: O(streams changed).
    pub(crate) fn settle(&mut self) {
        for id in std::mem::take(&mut self.dirty) {
            let Some(s) = self.streams.get_mut(&id) else {
                continue;
            };
            s.dirty = false;
            let now = s.account();
            if now != s.accounted {
                let old = std::mem::replace(&mut s.accounted, now);
                self.counters.remove(id, &old);
                self.counters.add(id, &now);
            }
        }
    }

    /// Negotiated inbound streams of one class.
    pub(crate) fn inbound_count(&mut self, class: InboundClass) -> usize {
        self.settle();
        self.counters.inbound[class.index()]
    }

    /// Streams still negotiating.
    pub(crate) fn negotiating_count(&mut self) -> usize {
        self.settle();
        self.counters.negotiations.len()
    }

    /// Whether some protocol other than gossip needs the connection now.
    pub(crate) fn has_active_streams(&mut self) -> bool {
        self.settle();
        self.counters.active > 0
    }

    /// Whether the peer gossips to us on this connection.
    pub(crate) fn has_gossip_in(&mut self) -> bool {
        self.settle();
        self.counters.gossip_in > 0
    }

    /// Unsent bytes in our `/meshsub` streams here (the current one and any retired one
    /// still flushing).
    pub(crate) fn gossip_out_bytes(&mut self) -> usize {
        self.settle();
        self.counters
            .gossip_out
            .iter()
            .filter_map(|id| self.streams.get(id))
            .map(|s| s.send.buffered_bytes())
            .sum()
    }

    /// Streams whose negotiation deadline is at or before `now`.
    pub(crate) fn expired_negotiations(&mut self, now: Instant) -> Vec<StreamId> {
        self.settle();
        self.counters
            .negotiations
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, id)| *id)
            .collect()
    }

    /// The connection's earliest deadline: a negotiation timeout, the next ping or its
    /// timeout, the next identify query, or the idle timeout. `None` once we close it.
    pub(crate) fn next_deadline(
        &mut self,
        ping: &crate::config::PingConfig,
        idle_timeout: Duration,
    ) -> Option<(Instant, TimeoutReason)> {
        self.settle();
        if self.local_close.is_some() {
            return None;
        }
        let candidates = [
            self.counters
                .negotiations
                .first()
                .map(|(at, _)| (*at, TimeoutReason::Negotiation)),
            self.ping
                .deadline(ping.timeout, ping.enabled)
                .map(|at| (at, TimeoutReason::Ping)),
            self.identify_at.map(|at| (at, TimeoutReason::Identify)),
            self.identify_query
                .map(|(_, at)| (at, TimeoutReason::Identify)),
            self.idle_since.map(|since| {
                (
                    crate::conn_manager::later(since, idle_timeout),
                    TimeoutReason::IdleConnection,
                )
            }),
        ];
        candidates.into_iter().flatten().min_by_key(|(at, _)| *at)
    }

    /// The connection's timers at `now`: which negotiations expired, whether the
    /// identify query and the idle close are due. Nothing once we close it. Consumes the
    /// identify timer; the node carries the work out.
    pub(crate) fn handle_timeout(&mut self, now: Instant, idle_timeout: Duration) -> ConnectionDue {
        if self.local_close.is_some() {
            return ConnectionDue::default();
        }
        let identify = self.identify_at.is_some_and(|at| at <= now);
        if identify {
            self.identify_at = None;
        }
        let identify_timed_out = match self.identify_query {
            Some((stream, at)) if at <= now => {
                self.identify_query = None;
                Some(stream)
            }
            _ => None,
        };
        ConnectionDue {
            negotiations: self.expired_negotiations(now),
            identify,
            identify_timed_out,
            idle: self
                .idle_since
                .is_some_and(|since| crate::conn_manager::later(since, idle_timeout) <= now),
        }
    }

    /// Checks the counters against a full scan of the stream table (debug builds).
    #[cfg(debug_assertions)]
    pub(crate) fn check_counters(&mut self) {
        self.settle();
        let mut fresh = StreamCounters::default();
        for (id, s) in &self.streams {
            debug_assert_eq!(s.account(), s.accounted, "stream {id} accounted stale");
            fresh.add(*id, &s.account());
        }
        debug_assert_eq!(fresh.negotiations, self.counters.negotiations);
        debug_assert_eq!(fresh.inbound, self.counters.inbound);
        debug_assert_eq!(fresh.active, self.counters.active);
        debug_assert_eq!(fresh.gossip_in, self.counters.gossip_in);
        debug_assert_eq!(fresh.gossip_out, self.counters.gossip_out);
    }
}
