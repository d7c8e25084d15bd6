//! The [`ReqResp`] state machine: shared state, routing, timers, outputs.

mod inbound;
mod outbound;

use crate::codec::Decode;
use crate::config::Config;
use crate::error::{ConfigError, StreamError};
use crate::event::{Event, Stats, StreamOp, TimeoutReason};
use crate::message::{ChannelId, RequestId, ResponseChunk, StreamKey};
use crate::protocol::{ProtocolConfig, ProtocolId};
use crate::rate_limit::Bucket;
use bytes::Bytes;
use leanp2p_identity::PeerId;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// A timer table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Outbound(RequestId),
    Inbound(ChannelId),
    Prune,
}

/// Which side a stream belongs to.
#[derive(Debug, Clone, Copy)]
enum StreamRef {
    Outbound(RequestId),
    Inbound(ChannelId),
}

/// Per-peer, per-protocol counters and quota buckets.
#[derive(Debug, Default, Clone)]
struct ProtoState {
    inbound_active: u32,
    outbound_active: u32,
    inbound_bucket: Option<Bucket>,
    outbound_bucket: Option<Bucket>,
}

impl ProtoState {
    fn is_idle(&self, now: Instant) -> bool {
        self.inbound_active == 0
            && self.outbound_active == 0
            && self.inbound_bucket.is_none_or(|b| b.is_full(now))
            && self.outbound_bucket.is_none_or(|b| b.is_full(now))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutState {
    /// Waiting for outbound quota; `Open` not emitted yet.
    Queued { ready_at: Instant },
    /// `Open` emitted, waiting for the host.
    Opening,
    /// Request written; reading the response.
    Streaming,
    /// `Completed` was emitted at the chunk cap; the stream is kept until
    /// the peer's FIN (or a reset, the timeout, or more data) so that a
    /// well-behaved responder never sees a reset.
    Draining,
}

struct Outbound {
    peer: PeerId,
    proto: usize,
    state: OutState,
    deadline: Instant,
    timer_at: Instant,
    offer: Vec<ProtocolId>,
    wire: Bytes,
    decoder: Box<dyn Decode<ResponseChunk>>,
    chunks: u32,
    chunk_cap: u32,
    stream: Option<StreamKey>,
    /// Counts toward `max_concurrent_outbound_per_peer`.
    counted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum InState {
    /// Decoding the request.
    Reading,
    /// Decoded, held back by the quota until `until`.
    Delayed { body: Bytes, until: Instant },
    /// Delivered to the application.
    Responding,
    /// Our write side is finished; waiting for the peer's FIN.
    Closed,
}

struct Inbound {
    peer: PeerId,
    proto: usize,
    stream: StreamKey,
    state: InState,
    deadline: Instant,
    timer_at: Instant,
    decoder: Box<dyn Decode<Bytes>>,
    chunks_sent: u32,
    chunk_cap: u32,
    remote_done: bool,
    /// Counts toward `max_concurrent_inbound_per_peer`.
    counted: bool,
    /// Unsent bytes the host holds on the stream, as last reported.
    unsent: usize,
    /// `respond` was refused for backpressure: emit `ResponseWritable` once
    /// `unsent` drops below the mark.
    waiting: bool,
}

/// One req/resp machine per node. See the [crate docs](crate) for the run
/// loop and the drain rule.
pub struct ReqResp {
    config: Config,
    next_id: u64,
    outbound: BTreeMap<RequestId, Outbound>,
    inbound: BTreeMap<ChannelId, Inbound>,
    streams: HashMap<StreamKey, StreamRef>,
    peers: BTreeMap<PeerId, Vec<ProtoState>>,
    timers: BTreeSet<(Instant, Timer)>,
    prune_at: Option<Instant>,
    ops: VecDeque<StreamOp>,
    events: VecDeque<Event>,
    last_now: Option<Instant>,
    stats: Stats,
}

impl std::fmt::Debug for ReqResp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqResp")
            .field("outbound", &self.outbound.len())
            .field("inbound", &self.inbound.len())
            .field("queued_ops", &self.ops.len())
            .field("queued_events", &self.events.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// `now + d`, saturating at a far deadline instead of overflowing.
fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(86_400 * 365)))
        .unwrap_or(now)
}

impl ReqResp {
    /// A machine for `config` (validated first). The machine draws no
    /// randomness, so it takes no seed.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            config,
            next_id: 0,
            outbound: BTreeMap::new(),
            inbound: BTreeMap::new(),
            streams: HashMap::new(),
            peers: BTreeMap::new(),
            timers: BTreeSet::new(),
            prune_at: None,
            ops: VecDeque::new(),
            events: VecDeque::new(),
            last_now: None,
            stats: Stats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Every protocol id the machine accepts inbound (primary ids and
    /// aliases), for the host's multistream listener.
    pub fn supported_protocols(&self) -> Vec<ProtocolId> {
        self.config
            .protocols
            .iter()
            .flat_map(|p| std::iter::once(p.id.clone()).chain(p.aliases.iter().cloned()))
            .collect()
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Outbound requests in flight (queued, opening or streaming; not the
    /// completed ones whose stream is still draining).
    pub fn active_requests(&self) -> usize {
        self.outbound
            .values()
            .filter(|o| o.state != OutState::Draining)
            .count()
    }

    /// Inbound streams tracked (reading, delayed, responding or draining).
    pub fn active_inbound(&self) -> usize {
        self.inbound.len()
    }

    /// Streams the machine currently tracks.
    pub fn tracked_streams(&self) -> usize {
        self.streams.len()
    }

    /// Peers with counters or quota buckets held.
    pub fn tracked_peers(&self) -> usize {
        self.peers.len()
    }

    /// `true` while any request or inbound stream involves `peer` (the host
    /// keeps the connection alive meanwhile).
    pub fn has_work_for(&self, peer: &PeerId) -> bool {
        self.outbound.values().any(|o| o.peer == *peer)
            || self.inbound.values().any(|i| i.peer == *peer)
    }

    /// The next stream operation for the host, in order.
    pub fn poll_outbound(&mut self) -> Option<StreamOp> {
        self.ops.pop_front()
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`ReqResp::handle_timeout`] next. While output is queued
    /// this is the last `now` seen (reason [`TimeoutReason::QueuedIo`]).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline().map(|(t, _)| t)
    }

    /// Why [`ReqResp::poll_timeout`] returned its deadline.
    pub fn timeout_reason(&self) -> Option<TimeoutReason> {
        self.next_deadline().map(|(_, r)| r)
    }

    fn next_deadline(&self) -> Option<(Instant, TimeoutReason)> {
        if !self.ops.is_empty() || !self.events.is_empty() {
            if let Some(now) = self.last_now {
                return Some((now, TimeoutReason::QueuedIo));
            }
        }
        let &(at, timer) = self.timers.first()?;
        let reason = match timer {
            Timer::Prune => TimeoutReason::QuotaPrune,
            Timer::Outbound(id) => match self.outbound.get(&id).map(|o| o.state) {
                Some(OutState::Queued { .. }) => TimeoutReason::OutboundRateLimit,
                _ => TimeoutReason::RequestTimeout,
            },
            Timer::Inbound(ch) => match self.inbound.get(&ch).map(|i| &i.state) {
                Some(InState::Delayed { .. }) => TimeoutReason::InboundRateLimit,
                _ => TimeoutReason::InboundTimeout,
            },
        };
        Some((at, reason))
    }

    /// Fires every timer due at `now`. Extra calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.touch(now);
        while let Some(&(at, timer)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, timer));
            match timer {
                Timer::Outbound(id) => self.outbound_timer(now, id),
                Timer::Inbound(ch) => self.inbound_timer(now, ch),
                Timer::Prune => self.prune(now),
            }
        }
    }

    /// Bytes the peer sent on `stream`. Returns `Err(Decode)` when they were
    /// invalid (already handled: error response or reset queued, event
    /// emitted) and `Err(UnknownStream)` for a stream the machine does not
    /// track (the host should reset it).
    pub fn handle_stream_data(
        &mut self,
        now: Instant,
        stream: StreamKey,
        data: &[u8],
    ) -> Result<(), StreamError> {
        self.touch(now);
        match self.streams.get(&stream).copied() {
            Some(StreamRef::Outbound(id)) => self.outbound_data(id, data),
            Some(StreamRef::Inbound(ch)) => self.inbound_data(now, ch, data),
            None => Err(StreamError::UnknownStream(stream)),
        }
    }

    /// The peer finished (FIN) its side of `stream`.
    pub fn handle_stream_finished(
        &mut self,
        now: Instant,
        stream: StreamKey,
    ) -> Result<(), StreamError> {
        self.touch(now);
        match self.streams.get(&stream).copied() {
            Some(StreamRef::Outbound(id)) => self.outbound_finished(id),
            Some(StreamRef::Inbound(ch)) => self.inbound_finished(ch),
            None => Err(StreamError::UnknownStream(stream)),
        }
    }

    /// The peer reset `stream` (or the host lost it). The machine forgets it.
    pub fn handle_stream_reset(
        &mut self,
        now: Instant,
        stream: StreamKey,
    ) -> Result<(), StreamError> {
        self.touch(now);
        match self.streams.get(&stream).copied() {
            Some(StreamRef::Outbound(id)) => {
                self.fail_outbound(id, crate::event::FailureReason::StreamReset, false);
                Ok(())
            }
            Some(StreamRef::Inbound(ch)) => {
                self.abort_inbound(ch, Some(crate::event::AbortReason::StreamReset), false);
                Ok(())
            }
            None => Err(StreamError::UnknownStream(stream)),
        }
    }

    /// The connection to `peer` is gone: every request to it fails with
    /// `FailureReason::Disconnected`, every channel from it is aborted, and
    /// no stream of it stays tracked. Quota buckets are kept until they
    /// refill (so reconnecting does not reset a quota).
    pub fn handle_peer_disconnected(&mut self, now: Instant, peer: PeerId) {
        self.touch(now);
        let requests: Vec<RequestId> = self
            .outbound
            .iter()
            .filter(|(_, o)| o.peer == peer)
            .map(|(id, _)| *id)
            .collect();
        for id in requests {
            self.fail_outbound(id, crate::event::FailureReason::Disconnected, false);
        }
        let channels: Vec<ChannelId> = self
            .inbound
            .iter()
            .filter(|(_, i)| i.peer == peer)
            .map(|(ch, _)| *ch)
            .collect();
        for ch in channels {
            self.abort_inbound(ch, Some(crate::event::AbortReason::Disconnected), false);
        }
        self.drop_idle_peer(now, &peer);
    }

    // ----- shared helpers -----

    fn touch(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |t| t.max(now)));
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn protocol_index(&self, name: &str) -> Option<usize> {
        self.config.protocols.iter().position(|p| p.matches(name))
    }

    fn protocol(&self, idx: usize) -> Option<&ProtocolConfig> {
        self.config.protocols.get(idx)
    }

    fn arm(&mut self, timer: Timer, old: Option<Instant>, at: Instant) {
        if let Some(old) = old {
            self.timers.remove(&(old, timer));
        }
        self.timers.insert((at, timer));
    }

    fn proto_state(&mut self, peer: PeerId, idx: usize) -> Option<&mut ProtoState> {
        let n = self.config.protocols.len();
        self.peers
            .entry(peer)
            .or_insert_with(|| vec![ProtoState::default(); n])
            .get_mut(idx)
    }

    fn ensure_prune_timer(&mut self, now: Instant) {
        if self.prune_at.is_none() {
            let at = later(now, self.config.quota_prune_interval);
            self.prune_at = Some(at);
            self.timers.insert((at, Timer::Prune));
        }
    }

    fn prune(&mut self, now: Instant) {
        self.prune_at = None;
        self.peers.retain(|_, protos| {
            for p in protos.iter_mut() {
                if p.inbound_bucket.is_some_and(|b| b.is_full(now)) {
                    p.inbound_bucket = None;
                }
                if p.outbound_bucket.is_some_and(|b| b.is_full(now)) {
                    p.outbound_bucket = None;
                }
            }
            !protos.iter().all(|p| p.is_idle(now))
        });
        let buckets_left = self
            .peers
            .values()
            .flatten()
            .any(|p| p.inbound_bucket.is_some() || p.outbound_bucket.is_some());
        if buckets_left {
            self.ensure_prune_timer(now);
        }
    }

    /// Forgets `peer` if it has no work and no quota bucket.
    fn release_peer(&mut self, peer: &PeerId) {
        let unused = |p: &ProtoState| {
            p.inbound_active == 0
                && p.outbound_active == 0
                && p.inbound_bucket.is_none()
                && p.outbound_bucket.is_none()
        };
        if self
            .peers
            .get(peer)
            .is_some_and(|protos| protos.iter().all(unused))
        {
            self.peers.remove(peer);
        }
    }

    fn drop_idle_peer(&mut self, now: Instant, peer: &PeerId) {
        if self
            .peers
            .get(peer)
            .is_some_and(|protos| protos.iter().all(|p| p.is_idle(now)))
        {
            self.peers.remove(peer);
        }
    }

    fn push_event(&mut self, event: Event) {
        self.events.push_back(event);
    }

    fn events_full(&self) -> bool {
        self.events.len() >= self.config.limits.max_queued_events
    }

    fn ops_full(&self) -> bool {
        self.ops.len() >= self.config.limits.max_queued_ops
    }
}
