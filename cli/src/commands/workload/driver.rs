//! [`NodeDriver`]: the workload of one node as a sans-IO machine over a [`Node`]. Inputs
//! are the node's events and the run time (`t`, since time zero of the run); outputs are
//! commands on the node (subscribe, add known peers, publish, validate, request,
//! respond). It never reads a clock and draws no randomness of its own, so the devnet
//! (real sockets, wall clock) and the simulator (virtual clock) run the same code.
//!
//! Driving it: call [`NodeDriver::handle_timeout`] when the run time reaches
//! [`NodeDriver::poll_timeout`], and [`NodeDriver::handle_event`] with every event the
//! node emits. The harness drains the node afterwards (the stack's drain rule).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_gossipsub::lean::{snappy_compress, snappy_decompress};
use leanp2p_host::lean::{self, LeanTopic, TopicKind};
use leanp2p_host::{Node, NodeEvent, PeerId, TopicHash, Validation};

use super::payload::{self, Header, Kind, MsgKey};
use super::schedule::{Publication, Workload};
use super::serve::BlockServer;
use super::store::{BlockStore, Insert};
use super::sync::SyncState;
use super::timeline::Timeline;

/// A peer a node keeps a connection to (dialled and redialled as a known peer).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DialTarget {
    pub peer: PeerId,
    pub addr: SocketAddr,
}

/// Req/resp counters of one node.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RpcStats {
    pub status_ok: u64,
    pub status_failed: u64,
    pub status_served: u64,
    pub range_requests: u64,
    pub range_blocks: u64,
    pub root_requests: u64,
    pub root_blocks: u64,
    pub requests_failed: u64,
    pub requests_served: u64,
    pub blocks_served: u64,
    /// Response chunks that were not a requested block.
    pub bad_blocks: u64,
}

/// What one node saw and did.
#[derive(Debug, Default)]
pub(crate) struct NodeStats {
    pub published: u64,
    pub published_bytes: u64,
    pub publish_errors: u64,
    /// First receipt of each message: propagation latency in ms.
    pub received: BTreeMap<MsgKey, f64>,
    /// Messages delivered again after their first receipt, or our own messages.
    pub duplicates: u64,
    /// Gossip messages delivered by the node (all of them).
    pub gossip_messages: u64,
    /// Their bytes as received (snappy).
    pub gossip_bytes: u64,
    /// Messages that were not workload messages (rejected).
    pub invalid_messages: u64,
    pub connections: u64,
    pub disconnections: u64,
    pub rpc: RpcStats,
    /// Run time at which the node started.
    pub started_at: Option<Duration>,
    /// The late joiner: run time at which its chain was complete up to the best head
    /// its peers announced.
    pub synced_at: Option<Duration>,
}

/// Topics of the workload.
#[derive(Clone, Debug)]
struct Topics {
    block: TopicHash,
    attestation: TopicHash,
    all: Vec<TopicHash>,
}

/// One node's workload.
#[derive(Debug)]
pub(crate) struct NodeDriver {
    pub(super) index: usize,
    pub(super) workload: Arc<Workload>,
    dial: Vec<DialTarget>,
    topics: Topics,
    start_at: Duration,
    started: bool,
    plan: Vec<Publication>,
    next: usize,
    pub(super) store: BlockStore,
    /// Answers status / blocks requests from `store`.
    pub(super) server: BlockServer,
    pub(super) stats: NodeStats,
    pub(super) sync: SyncState,
    peers: BTreeSet<PeerId>,
    greeted: BTreeSet<PeerId>,
    fresh_latencies: Vec<f64>,
    delivered: u64,
    /// Connected peers at our last publication (before the end of the run, when the
    /// harness closes connections).
    peers_at_last_publish: usize,
    /// Bytes, connections and blocks over time (the `--report` page).
    timeline: Timeline,
}

impl NodeDriver {
    /// The driver of node `index`, which will dial `dial`.
    pub(crate) fn new(index: usize, workload: Arc<Workload>, dial: Vec<DialTarget>) -> Self {
        let network = workload.network.as_str();
        let topics = Topics {
            block: LeanTopic::new(network, TopicKind::Block).hash(),
            attestation: LeanTopic::new(network, TopicKind::Attestation(0)).hash(),
            all: lean::topics(network, 1),
        };
        Self {
            index,
            start_at: workload.start_time(index),
            plan: workload.publications_of(index),
            workload,
            dial,
            topics,
            started: false,
            next: 0,
            store: BlockStore::default(),
            server: BlockServer::default(),
            stats: NodeStats::default(),
            sync: SyncState::default(),
            peers: BTreeSet::new(),
            greeted: BTreeSet::new(),
            fresh_latencies: Vec::new(),
            delivered: 0,
            peers_at_last_publish: 0,
            timeline: Timeline::default(),
        }
    }

    /// Samples the node's timeline at run time `t` once it has started. The harness
    /// calls this often (a point is kept per [`Timeline::interval`]); `last` forces the
    /// final point.
    pub(crate) fn sample(&mut self, node: &Node, t: Duration, last: bool) {
        if self.started {
            let end = self.workload.end();
            self.timeline.sample(node, self.store.len(), t, end, last);
        }
    }

    /// The sampled timeline.
    pub(crate) fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The node's index in the run.
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// Counters and receipts.
    pub(crate) fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// The block store.
    pub(crate) fn store(&self) -> &BlockStore {
        &self.store
    }

    /// Connected peers.
    pub(crate) fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// Connected peers at our last publication (what the report shows: by the end of
    /// the run the harness may be closing connections).
    pub(crate) fn final_peer_count(&self) -> usize {
        self.peers_at_last_publish
    }

    /// Expected messages received so far (first receipts).
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Latencies (ms) of expected deliveries since the last call (live progress).
    pub(crate) fn take_fresh_latencies(&mut self) -> Vec<f64> {
        std::mem::take(&mut self.fresh_latencies)
    }

    /// Next run time at which [`NodeDriver::handle_timeout`] has work.
    pub(crate) fn poll_timeout(&self) -> Option<Duration> {
        if !self.started {
            return Some(self.start_at);
        }
        self.plan.get(self.next).map(|p| p.at)
    }

    /// Starts the node and publishes what is due at run time `t`.
    pub(crate) fn handle_timeout(&mut self, node: &mut Node, now: Instant, t: Duration) {
        if !self.started {
            if t < self.start_at {
                return;
            }
            self.start(node, now, t);
        }
        while let Some(publication) = self.plan.get(self.next).copied() {
            if publication.at > t {
                break;
            }
            self.next += 1;
            self.publish(node, now, t, publication.key);
        }
    }

    fn start(&mut self, node: &mut Node, now: Instant, t: Duration) {
        self.started = true;
        self.stats.started_at = Some(t);
        for topic in &self.topics.all {
            if let Err(e) = node.subscribe(now, topic) {
                tracing::warn!(node = self.index, %e, "subscribe");
            }
        }
        for target in &self.dial {
            if let Err(e) = node.add_known_peer(now, target.peer, target.addr) {
                tracing::warn!(node = self.index, %e, "add_known_peer");
            }
        }
    }

    /// Payload timestamp of run time `t`, in µs.
    fn stamp_us(&self, t: Duration) -> u64 {
        let t_us = u64::try_from(t.as_micros()).unwrap_or(u64::MAX);
        self.workload.clock_base_us.saturating_add(t_us)
    }

    fn publish(&mut self, node: &mut Node, now: Instant, t: Duration, key: MsgKey) {
        self.peers_at_last_publish = self.peers.len();
        let (topic, size) = match key.kind {
            Kind::Block => (&self.topics.block, self.workload.block_size),
            Kind::Attestation => (&self.topics.attestation, self.workload.attestation_size),
        };
        // A block builds on our head; an attestation votes for it.
        let (head, _) = self.store.head();
        let data = payload::build(self.workload.seed, key, self.stamp_us(t), &head, size);
        let wire = match snappy_compress(&data, lean::MAX_PAYLOAD_SIZE) {
            Ok(wire) => wire,
            Err(e) => {
                self.stats.publish_errors += 1;
                tracing::warn!(node = self.index, %e, "snappy");
                return;
            }
        };
        let wire_len = wire.len() as u64;
        match node.publish(now, topic, Bytes::from(wire)) {
            Ok(_) => {
                self.stats.published += 1;
                self.stats.published_bytes += wire_len;
                if key.kind == Kind::Block {
                    self.store.insert(Bytes::from(data));
                }
            }
            Err(e) => {
                self.stats.publish_errors += 1;
                tracing::debug!(node = self.index, ?key, %e, "publish failed");
            }
        }
    }

    /// Handles one event of the node at run time `t`.
    pub(crate) fn handle_event(
        &mut self,
        node: &mut Node,
        now: Instant,
        t: Duration,
        event: NodeEvent,
    ) {
        match event {
            NodeEvent::Connected { peer, .. } => {
                self.stats.connections += 1;
                self.peers.insert(peer);
                if self.greeted.insert(peer) {
                    self.request_status(node, now, peer);
                }
            }
            NodeEvent::Disconnected { peer, .. } => {
                self.stats.disconnections += 1;
                if !node.is_connected(&peer) {
                    self.peers.remove(&peer);
                }
            }
            NodeEvent::Message {
                id,
                propagation_source,
                topic,
                data,
            } => {
                self.stats.gossip_messages += 1;
                self.stats.gossip_bytes += data.len() as u64;
                let decoded = snappy_decompress(&data, lean::MAX_PAYLOAD_SIZE).ok();
                let header = decoded.as_deref().and_then(payload::parse).filter(|h| {
                    let expected_topic = match h.key.kind {
                        Kind::Block => &self.topics.block,
                        Kind::Attestation => &self.topics.attestation,
                    };
                    *expected_topic == topic
                });
                let verdict = if header.is_some() {
                    Validation::Accept
                } else {
                    Validation::Reject
                };
                if let Err(e) = node.report_validation(now, &id, propagation_source, verdict) {
                    tracing::debug!(node = self.index, %e, "report_validation");
                }
                match (header, decoded) {
                    (Some(header), Some(decoded)) => {
                        self.on_delivery(t, &header);
                        if header.key.kind == Kind::Block {
                            self.on_block(t, Bytes::from(decoded), propagation_source);
                        }
                    }
                    _ => self.stats.invalid_messages += 1,
                }
            }
            NodeEvent::InboundRequest {
                channel,
                peer,
                protocol,
                body,
            } => self.serve(node, now, channel, peer, protocol.as_str(), &body),
            NodeEvent::ResponseWritable { channel } => self.resume_serving(node, now, channel),
            NodeEvent::InboundAborted { channel, .. } => self.server.abort(channel),
            NodeEvent::Response {
                request,
                peer,
                payload,
            } => self.on_response(t, request, peer, payload),
            NodeEvent::RequestCompleted { request, .. } => self.on_request_end(t, request, None),
            NodeEvent::RequestFailed {
                request, reason, ..
            } => self.on_request_end(t, request, Some(reason.to_string())),
            _ => {}
        }
        self.flush_wanted(node, now);
    }

    fn on_delivery(&mut self, t: Duration, header: &Header) {
        let key = header.key;
        if key.publisher as usize == self.index || self.stats.received.contains_key(&key) {
            self.stats.duplicates += 1;
            return;
        }
        let now_us = self.stamp_us(t);
        let latency_ms = now_us.saturating_sub(header.sent_us) as f64 / 1000.0;
        self.stats.received.insert(key, latency_ms);
        if self.workload.expects(self.index, &key) {
            self.delivered += 1;
            self.fresh_latencies.push(latency_ms);
        }
    }

    /// Stores a block from gossip or a response; asks for its parent if missing.
    pub(super) fn on_block(&mut self, t: Duration, data: Bytes, from: PeerId) -> Insert {
        let inserted = self.store.insert(data);
        if let Insert::Added { parent, .. } = inserted {
            self.sync.want(&self.store, parent, from);
            self.check_synced(t);
        }
        inserted
    }

    /// The late joiner is synced once its chain is complete up to the best head its
    /// peers announced.
    pub(super) fn check_synced(&mut self, t: Duration) {
        if self.stats.synced_at.is_some() || !self.workload.is_joiner(self.index) {
            return;
        }
        let best = self.sync.best_peer_head();
        let (_, head_slot) = self.store.head();
        if best > 0 && head_slot >= best && self.store.missing_ancestor().is_none() {
            self.stats.synced_at = Some(t);
        }
    }
}
