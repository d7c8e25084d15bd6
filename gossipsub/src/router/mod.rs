//! The gossipsub router state machine.

mod control;
mod dont_send;
mod heartbeat;
mod message;
mod outbound;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_identity::PeerId;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::backoff::Backoffs;
use crate::config::Config;
use crate::error::{ConfigError, PeerError, RpcError, SubscriptionError};
use crate::event::Event;
use crate::mcache::MessageCache;
use crate::promises::Promises;
use crate::queue::{PeerQueue, PendingPrune};
use crate::score::{PeerScore, PeerScoreThresholds};
use crate::seen::{TimeCache, TimeMap};
use crate::stats::{Counters, PeerStats, Stats, TopicStats};
use crate::types::{MessageId, Outbound, PeerConnection, TopicHash};
use crate::wire::ReceivedFrame;
use crate::wire::{decode_rpc, proto::Message};

/// Bookkeeping bytes counted per seen-cache entry beside the id itself (hash-map slot,
/// expiry queue slot, shared allocation header).
const SEEN_ENTRY_OVERHEAD: usize = 64;

/// Why [`Gossipsub::poll_timeout`] returned its deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutReason {
    /// The next heartbeat (mesh maintenance, gossip, cache shifts, expiries).
    Heartbeat,
    /// The next peer-score decay.
    ScoreDecay,
    /// A message awaiting validation times out.
    ValidationTimeout,
    /// Output is queued: drain `poll_outbound` now.
    QueuedIo,
}

/// State of one connected peer.
#[derive(Debug)]
pub(crate) struct PeerState {
    pub(crate) conn: PeerConnection,
    pub(crate) topics: BTreeSet<TopicHash>,
    pub(crate) queue: PeerQueue,
    /// Ids the peer told us not to send, with expiry (bounded, O(1) per id).
    pub(crate) dont_send: dont_send::DontSend,
    /// IHAVE entries received this heartbeat.
    pub(crate) ihave_received: usize,
    /// Ids requested from this peer this heartbeat.
    pub(crate) iasked: usize,
    /// Subscription changes accepted from this peer this heartbeat.
    pub(crate) subscription_changes: usize,
    /// Last time anything was queued for the peer.
    pub(crate) last_sent: Instant,
    /// Host reported its stream blocked: `poll_outbound` skips the peer.
    pub(crate) paused: bool,
}

/// A message awaiting the application's verdict.
#[derive(Debug)]
pub(crate) struct PendingMessage {
    pub(crate) message: Message,
    pub(crate) topic: TopicHash,
    pub(crate) source: PeerId,
    /// Other peers that sent the same message meanwhile (not forwarded to).
    pub(crate) also_from: BTreeSet<PeerId>,
    /// The frame it arrived in, when that frame carried only this message with no
    /// unknown fields: forwarded and cached as it is instead of re-encoding a copy.
    pub(crate) frame: Option<Bytes>,
}

/// One gossipsub router (one per node).
///
/// See the crate docs for the drive loop and the drain rule.
pub struct Gossipsub {
    pub(crate) config: Config,
    pub(crate) rng: ChaCha20Rng,
    pub(crate) peers: BTreeMap<PeerId, PeerState>,
    /// Connected peers per topic they subscribed to.
    pub(crate) topic_peers: BTreeMap<TopicHash, BTreeSet<PeerId>>,
    /// Our subscriptions (keys) and their meshes.
    pub(crate) mesh: BTreeMap<TopicHash, BTreeSet<PeerId>>,
    pub(crate) fanout: BTreeMap<TopicHash, BTreeSet<PeerId>>,
    pub(crate) fanout_last_pub: BTreeMap<TopicHash, Instant>,
    pub(crate) backoffs: Backoffs,
    pub(crate) mcache: MessageCache,
    pub(crate) seen: TimeCache<MessageId>,
    /// Raw-message seen cache: SHA-256 of the received message's fields (topic, data as
    /// received — i.e. still compressed under the lean profile — from, seqno, signature,
    /// key) → its id. A hit is a duplicate handled without calling `message_id_fn` (which
    /// decompresses under the lean profile). Same bound and expiry as `seen`:
    /// `seen_ttl` and `limits.max_seen_entries`.
    pub(crate) seen_raw: TimeMap<[u8; 32], MessageId>,
    pub(crate) promises: Promises,
    pub(crate) score: Option<(PeerScore, PeerScoreThresholds)>,
    pub(crate) pending_validation: HashMap<MessageId, PendingMessage>,
    pub(crate) validation_deadlines: VecDeque<(Instant, MessageId)>,
    pub(crate) events: VecDeque<Event>,
    /// Peers with queued output, round-robin order.
    pub(crate) ready: VecDeque<PeerId>,
    /// Peers that made `publish` refuse with backpressure and have not recovered yet.
    pub(crate) publish_blocked: BTreeSet<PeerId>,
    pub(crate) ready_set: BTreeSet<PeerId>,
    pub(crate) next_heartbeat: Instant,
    pub(crate) next_decay: Instant,
    pub(crate) heartbeat_ticks: u64,
    pub(crate) last_now: Instant,
    pub(crate) seqno: u64,
    pub(crate) counters: Counters,
}

impl std::fmt::Debug for Gossipsub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossipsub")
            .field("peers", &self.peers.len())
            .field("topics", &self.mesh.keys().collect::<Vec<_>>())
            .field("fanout", &self.fanout.len())
            .field("pending_validation", &self.pending_validation.len())
            .field("events", &self.events.len())
            .field("next_heartbeat", &self.next_heartbeat)
            .finish_non_exhaustive()
    }
}

impl Gossipsub {
    /// A router with `config`, whose random choices are drawn from a ChaCha20 RNG seeded
    /// with `seed`. The first heartbeat is due at `now + heartbeat_initial_delay`.
    pub fn new(now: Instant, config: Config, seed: [u8; 32]) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        let seqno = rand::RngCore::next_u64(&mut rng);
        let score = config.scoring.as_ref().map(|s| {
            (
                PeerScore::new(
                    s.params.clone(),
                    config.seen_ttl,
                    config.limits.max_seen_entries,
                ),
                s.thresholds.clone(),
            )
        });
        let next_decay = now
            + config
                .scoring
                .as_ref()
                .map_or(Duration::from_secs(1), |s| s.params.decay_interval);
        let backoffs = Backoffs::new(config.limits.max_backoff_entries);
        Ok(Self {
            mcache: MessageCache::new(
                config.history_length,
                config.history_gossip,
                config.limits.max_mcache_entries,
                config.limits.max_mcache_bytes,
            ),
            seen: TimeCache::with_byte_cap(
                config.seen_ttl,
                config.limits.max_seen_entries,
                config.limits.max_seen_bytes,
                |id| id.as_bytes().len() + SEEN_ENTRY_OVERHEAD,
            ),
            seen_raw: TimeMap::with_byte_cap(
                config.seen_ttl,
                config.limits.max_seen_entries,
                config.limits.max_seen_bytes,
                |_| 32 + SEEN_ENTRY_OVERHEAD,
            ),
            next_heartbeat: now + config.heartbeat_initial_delay,
            config,
            rng,
            peers: BTreeMap::new(),
            topic_peers: BTreeMap::new(),
            mesh: BTreeMap::new(),
            fanout: BTreeMap::new(),
            fanout_last_pub: BTreeMap::new(),
            backoffs,
            promises: Promises::default(),
            score,
            pending_validation: HashMap::new(),
            validation_deadlines: VecDeque::new(),
            events: VecDeque::new(),
            ready: VecDeque::new(),
            publish_blocked: BTreeSet::new(),
            ready_set: BTreeSet::new(),
            next_decay,
            heartbeat_ticks: 0,
            last_now: now,
            seqno,
            counters: Counters::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ----- peers -------------------------------------------------------------------

    /// A peer's `/meshsub` stream is up. Queues our subscriptions to it.
    pub fn handle_peer_connected(
        &mut self,
        now: Instant,
        peer: PeerId,
        conn: PeerConnection,
    ) -> Result<(), PeerError> {
        self.last_now = now;
        if let Some(state) = self.peers.get_mut(&peer) {
            // A reconnect / replaced stream: update what we know, resend subscriptions.
            state.conn = conn;
        } else {
            if self.peers.len() >= self.config.limits.max_peers {
                return Err(PeerError::TooManyPeers);
            }
            self.peers.insert(
                peer,
                PeerState {
                    conn,
                    topics: BTreeSet::new(),
                    queue: PeerQueue::default(),
                    dont_send: dont_send::DontSend::default(),
                    ihave_received: 0,
                    iasked: 0,
                    subscription_changes: 0,
                    last_sent: now,
                    paused: false,
                },
            );
        }
        if let Some((score, _)) = &mut self.score {
            score.add_peer(peer, conn.ip);
        }
        let topics: Vec<TopicHash> = self.mesh.keys().cloned().collect();
        if let Some(state) = self.peers.get_mut(&peer) {
            for topic in &topics {
                state.queue.subscription(topic, true);
            }
        }
        if !topics.is_empty() {
            self.mark_ready(peer);
        }
        tracing::debug!(%peer, version = ?conn.version, "gossipsub peer connected");
        Ok(())
    }

    /// The peer's connection (or gossip stream) is gone: drops all its state.
    pub fn handle_peer_disconnected(&mut self, now: Instant, peer: PeerId) {
        self.last_now = now;
        let Some(state) = self.peers.remove(&peer) else {
            return;
        };
        // Keep the departed peer's drops in the totals (counters never go back).
        self.counters.dropped_normal += state.queue.dropped_normal;
        self.counters.dropped_priority += state.queue.dropped_priority;
        self.counters.dropped_gossip_ids += state.queue.dropped_gossip_ids;
        for topic in &state.topics {
            if let Some(set) = self.topic_peers.get_mut(topic) {
                set.remove(&peer);
                if set.is_empty() {
                    self.topic_peers.remove(topic);
                }
            }
        }
        for (topic, mesh) in self.mesh.iter_mut() {
            if mesh.remove(&peer) {
                if let Some((score, _)) = &mut self.score {
                    score.prune(&peer, topic);
                }
            }
        }
        for fanout in self.fanout.values_mut() {
            fanout.remove(&peer);
        }
        self.promises.remove_peer(&peer);
        if let Some((score, _)) = &mut self.score {
            score.remove_peer(now, &peer);
        }
        self.check_publish_ready(&peer);
        self.ready_set.remove(&peer);
        self.ready.retain(|p| *p != peer);
        tracing::debug!(%peer, "gossipsub peer disconnected");
    }

    /// The host's stream to `peer` is blocked (`true`) or writable again (`false`). While
    /// blocked, [`Gossipsub::poll_outbound`] skips the peer and its bounded queue fills;
    /// overflow drops forwards first and reports [`Event::SlowPeer`].
    pub fn handle_peer_blocked(&mut self, now: Instant, peer: PeerId, blocked: bool) {
        self.last_now = now;
        if let Some(state) = self.peers.get_mut(&peer) {
            state.paused = blocked;
            let has_output = !state.queue.is_empty();
            if !blocked && has_output {
                self.mark_ready(peer);
            }
        }
    }

    /// The host holds `bytes` of gossip for `peer` that it has not yet handed to the
    /// transport (its stream buffer). They count against the peer's byte budget
    /// ([`crate::Limits::max_normal_queue_bytes`]); report after every write and
    /// whenever the transport took bytes.
    pub fn handle_peer_unsent(&mut self, now: Instant, peer: PeerId, bytes: usize) {
        self.last_now = now;
        if let Some(state) = self.peers.get_mut(&peer) {
            state.queue.set_unsent(bytes);
            state.queue.settle_episode(&self.config.limits);
        }
        self.check_publish_ready(&peer);
    }

    /// Ends a publish refusal once one of the peers that caused it drained below half
    /// its priority budget (or left): emits [`Event::PublishReady`].
    fn check_publish_ready(&mut self, peer: &PeerId) {
        if !self.publish_blocked.contains(peer) {
            return;
        }
        let recovered = self
            .peers
            .get(peer)
            .is_none_or(|s| s.queue.priority_recovered(&self.config.limits));
        if recovered {
            // One peer with room is enough for the next publish to go out.
            self.publish_blocked.clear();
            self.push_event(Event::PublishReady);
        }
    }

    /// Bytes queued for `peer` in the router (both lanes; 0 for an unknown peer).
    pub fn queued_bytes(&self, peer: &PeerId) -> usize {
        self.peers.get(peer).map_or(0, |s| s.queue.queued_bytes())
    }

    /// Frames queued for `peer` in the router (both lanes; 0 for an unknown peer).
    pub fn queued_frames(&self, peer: &PeerId) -> usize {
        self.peers
            .get(peer)
            .map_or(0, |s| s.queue.priority_len() + s.queue.normal_len())
    }

    /// Since when `peer` has been in an overflow episode (frames dropped, not yet
    /// drained below half its budget), if it is.
    pub fn overflow_since(&self, peer: &PeerId) -> Option<Instant> {
        self.peers.get(peer).and_then(|s| s.queue.overflow_since)
    }

    /// Whether `peer` is connected (as far as gossipsub knows).
    pub fn is_connected(&self, peer: &PeerId) -> bool {
        self.peers.contains_key(peer)
    }

    // ----- inbound -----------------------------------------------------------------

    /// Processes one inbound frame (the RPC protobuf, length prefix already stripped by
    /// [`crate::wire::FrameDecoder`]).
    ///
    /// Subscriptions, messages and control are decoded and acted on independently: a
    /// malformed section is skipped and reported in the error, the rest still applies.
    pub fn handle_rpc(&mut self, now: Instant, from: PeerId, frame: Bytes) -> Result<(), RpcError> {
        self.handle_received_rpc(
            now,
            from,
            ReceivedFrame {
                body: frame,
                wire: None,
            },
        )
    }

    /// [`Gossipsub::handle_rpc`] for a frame from [`crate::wire::FrameDecoder::decode_received`]:
    /// when the frame carries exactly one message and nothing else, the frame as
    /// received (`wire`) is what gets forwarded and cached — no re-encoded copy.
    pub fn handle_received_rpc(
        &mut self,
        now: Instant,
        from: PeerId,
        received: ReceivedFrame,
    ) -> Result<(), RpcError> {
        let ReceivedFrame { body: frame, wire } = received;
        self.last_now = now;
        self.counters.rpcs_received += 1;
        if !self.peers.contains_key(&from) {
            return Err(RpcError::UnknownPeer);
        }
        let max = self.config.limits.max_transmit_size;
        if frame.len() > max {
            self.counters.frames_too_large += 1;
            return Err(RpcError::FrameTooLarge {
                len: frame.len(),
                max,
            });
        }
        if let Some((score, thresholds)) = &self.score {
            if score.score(&from) < thresholds.graylist_threshold {
                self.counters.graylisted_rpcs += 1;
                return Err(RpcError::Graylisted);
            }
        }
        let rpc = decode_rpc(&frame, &self.config.limits);
        let refused = rpc.subscriptions_refused;
        let reusable = wire.filter(|_| forwardable_as_received(&rpc, frame.len()));
        let mut dropped = rpc.dropped_sections;
        dropped += self.handle_subscriptions(from, rpc.subscriptions);
        for msg in rpc.messages {
            self.handle_message(now, from, msg, reusable.clone());
        }
        // Control: IHAVE/IWANT/GRAFT/PRUNE/IDONTWANT.
        dropped += self.handle_idontwant(now, from, rpc.idontwant);
        self.handle_ihave(now, from, rpc.ihave);
        self.handle_iwant(now, from, rpc.iwant);
        self.handle_graft(now, from, rpc.graft);
        self.handle_prune(now, from, rpc.prune);
        self.counters.rpc_sections_dropped += dropped as u64;
        if refused > 0 {
            self.counters.rpcs_over_subscription_limit += 1;
            if let Some((score, _)) = &mut self.score {
                score.add_penalty(&from, 1);
            }
            let max = self.config.limits.max_subscriptions_per_rpc;
            tracing::debug!(peer = %from, refused, max, "RPC over the subscription limit");
            return Err(RpcError::TooManySubscriptions {
                count: refused,
                max,
            });
        }
        if dropped > 0 {
            tracing::debug!(peer = %from, dropped, "skipped malformed RPC sections");
            return Err(RpcError::PartiallyInvalid { dropped });
        }
        Ok(())
    }

    /// Returns the number of invalid entries.
    fn handle_subscriptions(
        &mut self,
        from: PeerId,
        subs: Vec<crate::wire::proto::SubOpts>,
    ) -> usize {
        let mut invalid = 0;
        let max_topic = self.config.limits.max_topic_len;
        let max_subs = self.config.limits.max_subscriptions_per_peer;
        for sub in subs {
            let (Some(subscribe), Some(topic)) = (sub.subscribe, sub.topic_id) else {
                invalid += 1;
                continue;
            };
            if topic.is_empty() || topic.len() > max_topic {
                invalid += 1;
                continue;
            }
            let Some(state) = self.peers.get_mut(&from) else {
                return invalid;
            };
            if state.subscription_changes
                >= self.config.limits.max_subscription_changes_per_heartbeat
            {
                if state.subscription_changes
                    == self.config.limits.max_subscription_changes_per_heartbeat
                {
                    // First excess change this heartbeat: one behaviour penalty.
                    state.subscription_changes += 1;
                    if let Some((score, _)) = &mut self.score {
                        score.add_penalty(&from, 1);
                    }
                    tracing::debug!(peer = %from, "subscription churn over the limit; ignoring");
                }
                self.counters.subscription_changes_ignored += 1;
                invalid += 1;
                continue;
            }
            let topic = TopicHash::from(topic);
            if subscribe {
                if state.topics.contains(&topic) {
                    continue;
                }
                if state.topics.len() >= max_subs {
                    invalid += 1;
                    continue;
                }
                state.topics.insert(topic.clone());
                state.subscription_changes += 1;
                self.topic_peers
                    .entry(topic.clone())
                    .or_default()
                    .insert(from);
                self.push_event(Event::Subscribed { peer: from, topic });
            } else {
                if !state.topics.remove(&topic) {
                    continue;
                }
                state.subscription_changes += 1;
                if let Some(set) = self.topic_peers.get_mut(&topic) {
                    set.remove(&from);
                    if set.is_empty() {
                        self.topic_peers.remove(&topic);
                    }
                }
                if let Some(mesh) = self.mesh.get_mut(&topic) {
                    if mesh.remove(&from) {
                        if let Some((score, _)) = &mut self.score {
                            score.prune(&from, &topic);
                        }
                    }
                }
                if let Some(fanout) = self.fanout.get_mut(&topic) {
                    fanout.remove(&from);
                }
                self.push_event(Event::Unsubscribed { peer: from, topic });
            }
        }
        invalid
    }

    // ----- commands ----------------------------------------------------------------

    /// Subscribes to `topic`: announces it to every peer and grafts up to D peers (fanout
    /// peers first). Returns `false` if already subscribed.
    pub fn subscribe(
        &mut self,
        now: Instant,
        topic: &TopicHash,
    ) -> Result<bool, SubscriptionError> {
        self.last_now = now;
        if topic.as_str().is_empty() || topic.as_str().len() > self.config.limits.max_topic_len {
            return Err(SubscriptionError::InvalidTopic);
        }
        if self.mesh.contains_key(topic) {
            return Ok(false);
        }
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in peers {
            if let Some(state) = self.peers.get_mut(&peer) {
                state.queue.subscription(topic, true);
            }
            self.mark_ready(peer);
        }
        // JOIN: fanout peers first, then other eligible peers, up to D.
        let mut mesh = BTreeSet::new();
        if let Some(fanout) = self.fanout.remove(topic) {
            for peer in fanout {
                if mesh.len() < self.config.mesh_n && self.is_graft_candidate(now, topic, &peer) {
                    mesh.insert(peer);
                }
            }
        }
        self.fanout_last_pub.remove(topic);
        if mesh.len() < self.config.mesh_n {
            let need = self.config.mesh_n - mesh.len();
            let candidates = self.graft_candidates(now, topic, &mesh, |_| true);
            for peer in self.sample(candidates, need) {
                mesh.insert(peer);
            }
        }
        self.mesh.insert(topic.clone(), BTreeSet::new());
        for peer in mesh {
            self.graft_peer(now, topic, peer);
        }
        Ok(true)
    }

    /// Unsubscribes from `topic`: PRUNEs the mesh (with `unsubscribe_backoff`) and
    /// announces the change. Returns `false` if not subscribed.
    pub fn unsubscribe(
        &mut self,
        now: Instant,
        topic: &TopicHash,
    ) -> Result<bool, SubscriptionError> {
        self.last_now = now;
        if topic.as_str().is_empty() || topic.as_str().len() > self.config.limits.max_topic_len {
            return Err(SubscriptionError::InvalidTopic);
        }
        let Some(mesh) = self.mesh.remove(topic) else {
            return Ok(false);
        };
        let backoff = self.config.unsubscribe_backoff;
        for peer in mesh {
            if let Some((score, _)) = &mut self.score {
                score.prune(&peer, topic);
            }
            self.send_prune(now, topic, peer, backoff, false);
        }
        let peers: Vec<PeerId> = self.peers.keys().copied().collect();
        for peer in peers {
            if let Some(state) = self.peers.get_mut(&peer) {
                state.queue.subscription(topic, false);
            }
            self.mark_ready(peer);
        }
        Ok(true)
    }

    /// Sets the application-specific score (P5) of a connected peer. Returns `false` if
    /// scoring is off or the peer is unknown.
    pub fn set_application_score(&mut self, peer: &PeerId, score: f64) -> bool {
        match &mut self.score {
            Some((s, _)) => s.set_application_score(peer, score),
            None => false,
        }
    }

    // ----- getters -----------------------------------------------------------------

    /// Topics we are subscribed to.
    pub fn topics(&self) -> impl Iterator<Item = &TopicHash> {
        self.mesh.keys()
    }

    /// Our mesh peers for `topic`.
    pub fn mesh_peers(&self, topic: &TopicHash) -> impl Iterator<Item = &PeerId> {
        self.mesh.get(topic).into_iter().flatten()
    }

    /// Our fanout peers for `topic`.
    pub fn fanout_peers(&self, topic: &TopicHash) -> impl Iterator<Item = &PeerId> {
        self.fanout.get(topic).into_iter().flatten()
    }

    /// Connected peers subscribed to `topic`.
    pub fn subscribed_peers(&self, topic: &TopicHash) -> impl Iterator<Item = &PeerId> {
        self.topic_peers.get(topic).into_iter().flatten()
    }

    /// The score of `peer` (0 with scoring off or for unknown peers).
    pub fn peer_score(&self, peer: &PeerId) -> f64 {
        self.score_of(peer)
    }

    /// Whether `(topic, peer)` is in PRUNE backoff at `now`.
    pub fn is_backoff(&self, now: Instant, topic: &TopicHash, peer: &PeerId) -> bool {
        self.backoffs.is_backoff(now, topic, peer, Duration::ZERO)
    }

    /// A snapshot of gauges and counters.
    pub fn stats(&self) -> Stats {
        let mut topics: BTreeMap<TopicHash, TopicStats> = BTreeMap::new();
        for (topic, mesh) in &self.mesh {
            topics.entry(topic.clone()).or_default().mesh_peers = mesh.len();
        }
        for (topic, fanout) in &self.fanout {
            topics.entry(topic.clone()).or_default().fanout_peers = fanout.len();
        }
        for (topic, stats) in topics.iter_mut() {
            stats.subscribed_peers = self.topic_peers.get(topic).map_or(0, BTreeSet::len);
        }
        let mut counters = self.counters.clone();
        counters.backoffs_evicted = self.backoffs.evicted;
        counters.seen_evicted_early = self.seen.evicted_early();
        counters.mcache_evicted_early = self.mcache.evicted_early();
        let mut peers = BTreeMap::new();
        let (mut queued_frames, mut queued_bytes) = (0, 0);
        for (peer, state) in &self.peers {
            let q = &state.queue;
            counters.dropped_normal += q.dropped_normal;
            counters.dropped_priority += q.dropped_priority;
            counters.dropped_gossip_ids += q.dropped_gossip_ids;
            queued_frames += q.priority_len() + q.normal_len();
            queued_bytes += q.queued_bytes();
            peers.insert(
                *peer,
                PeerStats {
                    priority_queue_len: q.priority_len(),
                    normal_queue_len: q.normal_len(),
                    queued_bytes: q.queued_bytes(),
                    dropped_normal: q.dropped_normal,
                    dropped_priority: q.dropped_priority,
                    score: self.score_of(peer),
                    topics: state.topics.len(),
                },
            );
        }
        Stats {
            topics,
            peers,
            counters,
            queued_frames,
            queued_bytes,
            mcache_len: self.mcache.len(),
            mcache_bytes: self.mcache.bytes(),
            seen_len: self.seen.len(),
            backoff_len: self.backoffs.len(),
            pending_validation: self.pending_validation.len(),
        }
    }

    // ----- outputs and timers --------------------------------------------------------

    /// The next application event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next frame to write, round-robin over peers with queued output (peers marked
    /// blocked with [`Gossipsub::handle_peer_blocked`] are skipped).
    pub fn poll_outbound(&mut self) -> Option<Outbound> {
        while let Some(peer) = self.ready.pop_front() {
            self.ready_set.remove(&peer);
            let max = self.config.limits.max_transmit_size;
            let Some(state) = self.peers.get_mut(&peer) else {
                continue;
            };
            if state.paused {
                continue;
            }
            let Some((frame, lane)) = state.queue.pop(max) else {
                continue;
            };
            state.queue.settle_episode(&self.config.limits);
            if !state.queue.is_empty() {
                self.ready_set.insert(peer);
                self.ready.push_back(peer);
            }
            self.check_publish_ready(&peer);
            return Some(Outbound {
                to: peer,
                frame,
                lane,
            });
        }
        None
    }

    /// The next peer with newly queued output, for hosts that pull frames per peer
    /// with [`Gossipsub::poll_outbound_to`] when its stream can take them (peers marked
    /// blocked are skipped). A peer is returned again once more output is queued for
    /// it; frames the host leaves in the queue wait there (bounded by the peer's
    /// budget) until the host pulls them.
    pub fn poll_ready_peer(&mut self) -> Option<PeerId> {
        while let Some(peer) = self.ready.pop_front() {
            self.ready_set.remove(&peer);
            if self.peers.get(&peer).is_some_and(|s| !s.paused) {
                return Some(peer);
            }
        }
        None
    }

    /// The next frame for one specific peer (for hosts that pull per stream when it
    /// becomes writable): pending control first, then own publishes, then forwards.
    /// Ignores the blocked flag.
    pub fn poll_outbound_to(&mut self, peer: &PeerId) -> Option<Outbound> {
        let max = self.config.limits.max_transmit_size;
        let state = self.peers.get_mut(peer)?;
        let (frame, lane) = state.queue.pop(max)?;
        state.queue.settle_episode(&self.config.limits);
        self.check_publish_ready(peer);
        Some(Outbound {
            to: *peer,
            frame,
            lane,
        })
    }

    /// The earliest deadline; `Some(last_now)` while output is queued.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timeout_with_reason().map(|(at, _)| at)
    }

    /// Why [`Gossipsub::poll_timeout`] returns what it returns.
    pub fn timeout_reason(&self) -> Option<TimeoutReason> {
        self.timeout_with_reason().map(|(_, reason)| reason)
    }

    fn timeout_with_reason(&self) -> Option<(Instant, TimeoutReason)> {
        let has_output = self
            .ready
            .iter()
            .any(|p| self.peers.get(p).is_some_and(|s| !s.paused));
        if has_output {
            return Some((self.last_now, TimeoutReason::QueuedIo));
        }
        let mut best = (self.next_heartbeat, TimeoutReason::Heartbeat);
        if self.score.is_some() && self.next_decay < best.0 {
            best = (self.next_decay, TimeoutReason::ScoreDecay);
        }
        if let Some((at, _)) = self.validation_deadlines.front() {
            if *at < best.0 {
                best = (*at, TimeoutReason::ValidationTimeout);
            }
        }
        Some(best)
    }

    /// Runs every timer due at `now`: validation timeouts, score decay, heartbeat.
    /// Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        self.expire_validations(now);
        if now >= self.next_decay {
            if let Some((score, _)) = &mut self.score {
                score.refresh(now);
                self.next_decay = now + score.decay_interval();
            } else {
                self.next_decay = now + Duration::from_secs(1);
            }
        }
        if now >= self.next_heartbeat {
            self.heartbeat(now);
            self.next_heartbeat = now + self.config.heartbeat_interval;
        }
    }

    // ----- helpers -----------------------------------------------------------------

    pub(crate) fn score_of(&self, peer: &PeerId) -> f64 {
        self.score.as_ref().map_or(0.0, |(s, _)| s.score(peer))
    }

    pub(crate) fn thresholds(&self) -> Option<&PeerScoreThresholds> {
        self.score.as_ref().map(|(_, t)| t)
    }

    pub(crate) fn push_event(&mut self, event: Event) {
        if self.events.len() >= self.config.limits.max_pending_events {
            self.counters.events_dropped += 1;
            return;
        }
        self.events.push_back(event);
    }

    pub(crate) fn mark_ready(&mut self, peer: PeerId) {
        let Some(state) = self.peers.get(&peer) else {
            return;
        };
        if state.paused || state.queue.is_empty() {
            return;
        }
        if self.ready_set.insert(peer) {
            self.ready.push_back(peer);
        }
    }

    /// Whether `peer` may be grafted on `topic` now.
    pub(crate) fn is_graft_candidate(
        &self,
        now: Instant,
        topic: &TopicHash,
        peer: &PeerId,
    ) -> bool {
        let slack = self.config.heartbeat_interval * self.config.backoff_slack;
        self.peers
            .get(peer)
            .is_some_and(|s| s.topics.contains(topic))
            && !self.config.direct_peers.contains(peer)
            && !self.backoffs.is_backoff(now, topic, peer, slack)
            && self.score_of(peer) >= 0.0
    }

    /// Sorted graft candidates not in `exclude` that satisfy `filter`.
    pub(crate) fn graft_candidates(
        &self,
        now: Instant,
        topic: &TopicHash,
        exclude: &BTreeSet<PeerId>,
        filter: impl Fn(&PeerState) -> bool,
    ) -> Vec<PeerId> {
        self.topic_peers
            .get(topic)
            .into_iter()
            .flatten()
            .filter(|p| !exclude.contains(p))
            .filter(|p| self.is_graft_candidate(now, topic, p))
            .filter(|p| self.peers.get(p).is_some_and(&filter))
            .copied()
            .collect()
    }

    /// Up to `n` peers chosen uniformly from `candidates` (sorted input ⇒ deterministic).
    pub(crate) fn sample(&mut self, mut candidates: Vec<PeerId>, n: usize) -> Vec<PeerId> {
        use rand::seq::SliceRandom;
        candidates.shuffle(&mut self.rng);
        candidates.truncate(n);
        candidates
    }

    /// Adds `peer` to our mesh for `topic` and queues a GRAFT.
    pub(crate) fn graft_peer(&mut self, now: Instant, topic: &TopicHash, peer: PeerId) {
        let Some(mesh) = self.mesh.get_mut(topic) else {
            return;
        };
        if !mesh.insert(peer) {
            return;
        }
        if let Some((score, _)) = &mut self.score {
            score.graft(now, &peer, topic);
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.queue.graft(topic);
            state.last_sent = now;
        }
        self.counters.graft_sent += 1;
        self.mark_ready(peer);
    }

    /// Queues a PRUNE for `topic` to `peer` with `backoff` (and PX if `px`), and records
    /// the backoff on our side. Does not touch the mesh.
    pub(crate) fn send_prune(
        &mut self,
        now: Instant,
        topic: &TopicHash,
        peer: PeerId,
        backoff: Duration,
        px: bool,
    ) {
        self.backoffs.update(topic, peer, now + backoff);
        let Some(version) = self.peers.get(&peer).map(|s| s.conn.version) else {
            return;
        };
        let mut prune = PendingPrune::default();
        if version.supports_backoff_and_px() {
            prune.backoff = Some(backoff.as_secs());
            if px && self.config.do_px {
                prune.peers = self.px_peers(topic, peer);
            }
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.queue.prune(topic, prune);
            state.last_sent = now;
        }
        self.counters.prune_sent += 1;
        self.mark_ready(peer);
    }
}

/// True when an RPC body of `body_len` bytes is exactly `RPC { publish: [msg] }` for its
/// one decoded message: nothing else, and no unknown or padding fields (the lengths of
/// the canonical encoding match), so the frame as received can be sent on unchanged.
fn forwardable_as_received(rpc: &crate::wire::DecodedRpc, body_len: usize) -> bool {
    let [msg] = rpc.messages.as_slice() else {
        return false;
    };
    if rpc.dropped_sections != 0
        || rpc.subscriptions_refused != 0
        || !rpc.subscriptions.is_empty()
        || !rpc.ihave.is_empty()
        || !rpc.iwant.is_empty()
        || !rpc.graft.is_empty()
        || !rpc.prune.is_empty()
        || !rpc.idontwant.is_empty()
    {
        return false;
    }
    let msg_len = prost::Message::encoded_len(msg);
    1 + crate::wire::uvarint_len(msg_len as u64) + msg_len == body_len
}
