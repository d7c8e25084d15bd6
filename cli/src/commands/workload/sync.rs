//! Req/resp of the workload: status on every new connection, serving status /
//! blocks_by_range / blocks_by_root from the block store (through the one server,
//! `serve`), and syncing: a node that learns of a head it lacks asks that peer for the
//! head by root and for the slots below it by range, then chases any parent it still
//! lacks by root.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_host::lean;
use leanp2p_host::{ChannelId, Node, PeerId, ProtocolId, RequestId};
use leanp2p_reqresp::lean::{BlocksByRangeRequest, BlocksByRootRequest, Root, Status};

use super::driver::NodeDriver;
use super::payload::{self, Kind};
use super::serve::{BlockSource, Served};
use super::store::{BlockStore, Insert, ZERO_ROOT};

/// Roots per blocks_by_root request (the protocol's limit).
const MAX_ROOTS_PER_REQUEST: usize = 1024;
/// Blocks per blocks_by_range request (the protocol's limit).
const MAX_RANGE_COUNT: u64 = 1024;
/// Times a root is requested before the node gives up on it.
const MAX_ROOT_ATTEMPTS: u8 = 3;

/// An outbound request in flight.
#[derive(Debug)]
enum Pending {
    Status,
    Range { start: u64, count: u64 },
    Root { roots: BTreeSet<Root> },
}

/// Sync bookkeeping. Bounded by the run: at most one entry per scheduled block.
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    requests: BTreeMap<RequestId, (PeerId, Pending)>,
    in_flight_roots: BTreeSet<Root>,
    /// Roots to fetch, with the peer that should have them.
    wanted: BTreeMap<Root, PeerId>,
    attempts: BTreeMap<Root, u8>,
    /// A blocks_by_range request to send: `(peer, start slot, count)`.
    wanted_range: Option<(PeerId, u64, u64)>,
    best_peer_head: u64,
}

impl SyncState {
    /// Highest head slot a peer announced.
    pub(crate) fn best_peer_head(&self) -> u64 {
        self.best_peer_head
    }

    /// Remembers to fetch `root` from `peer` unless it is stored or on its way.
    pub(crate) fn want(&mut self, store: &BlockStore, root: Root, peer: PeerId) {
        if root == ZERO_ROOT || store.contains(&root) || self.in_flight_roots.contains(&root) {
            return;
        }
        if self.attempts.get(&root).copied().unwrap_or(0) >= MAX_ROOT_ATTEMPTS {
            return;
        }
        self.wanted.entry(root).or_insert(peer);
    }

    fn range_in_flight(&self) -> bool {
        self.requests
            .values()
            .any(|(_, p)| matches!(p, Pending::Range { .. }))
    }
}

impl NodeDriver {
    /// Sends our status to a newly connected peer.
    pub(super) fn request_status(&mut self, node: &mut Node, now: Instant, peer: PeerId) {
        let body = match BlockSource::Store(&self.store).status().to_ssz() {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(%e, "status encoding");
                return;
            }
        };
        self.send_request(node, now, peer, &lean::STATUS, body, Pending::Status);
    }

    fn send_request(
        &mut self,
        node: &mut Node,
        now: Instant,
        peer: PeerId,
        protocol: &ProtocolId,
        body: Vec<u8>,
        pending: Pending,
    ) -> bool {
        match node.request(now, peer, protocol, Bytes::from(body)) {
            Ok(id) => {
                match &pending {
                    Pending::Status => {}
                    Pending::Range { .. } => self.stats.rpc.range_requests += 1,
                    Pending::Root { roots } => {
                        self.stats.rpc.root_requests += 1;
                        self.sync.in_flight_roots.extend(roots.iter().copied());
                    }
                }
                self.sync.requests.insert(id, (peer, pending));
                true
            }
            Err(e) => {
                tracing::debug!(node = self.index, %peer, %e, %protocol, "request refused");
                match pending {
                    Pending::Status => self.stats.rpc.status_failed += 1,
                    _ => self.stats.rpc.requests_failed += 1,
                }
                false
            }
        }
    }

    /// Answers an inbound request from the store (the one server, [`super::serve::BlockServer`]).
    pub(super) fn serve(
        &mut self,
        node: &mut Node,
        now: Instant,
        channel: ChannelId,
        peer: PeerId,
        protocol: &str,
        body: &[u8],
    ) {
        let source = BlockSource::Store(&self.store);
        match self
            .server
            .serve(&source, node, now, channel, protocol, body)
        {
            Ok(outcome) => {
                if let Some(theirs) = outcome.peer_status {
                    self.stats.rpc.status_served += 1;
                    self.sync.best_peer_head = self.sync.best_peer_head.max(theirs.head.slot);
                }
                self.on_served(outcome.served);
            }
            Err(e) => tracing::debug!(node = self.index, %peer, %e, protocol, "respond failed"),
        }
    }

    /// A paused response may go on (`ResponseWritable`).
    pub(super) fn resume_serving(&mut self, node: &mut Node, now: Instant, channel: ChannelId) {
        match self.server.resume(node, now, channel) {
            Ok(served) => self.on_served(served),
            Err(e) => tracing::debug!(node = self.index, %e, "respond failed"),
        }
    }

    /// Counts a response that was sent in full.
    fn on_served(&mut self, served: Option<Served>) {
        if let Some(served) = served {
            self.stats.rpc.blocks_served += served.blocks;
            self.stats.rpc.requests_served += 1;
        }
    }

    /// One response chunk.
    pub(super) fn on_response(
        &mut self,
        t: Duration,
        request: RequestId,
        peer: PeerId,
        chunk: Bytes,
    ) {
        let Some((_, pending)) = self.sync.requests.get(&request) else {
            return;
        };
        match pending {
            Pending::Status => match Status::from_ssz(&chunk) {
                Ok(status) => {
                    self.stats.rpc.status_ok += 1;
                    self.on_peer_status(peer, status);
                }
                Err(_) => self.stats.rpc.status_failed += 1,
            },
            Pending::Range { start, count } => {
                let (start, count) = (*start, *count);
                let in_range = payload::parse(&chunk).is_some_and(|h| {
                    h.key.kind == Kind::Block
                        && h.key.slot >= start
                        && h.key.slot < start.saturating_add(count)
                });
                if !in_range {
                    self.stats.rpc.bad_blocks += 1;
                    return;
                }
                if let Insert::Added { .. } = self.on_block(t, chunk, peer) {
                    self.stats.rpc.range_blocks += 1;
                }
            }
            Pending::Root { roots } => {
                if !roots.contains(&payload::root_of(&chunk)) {
                    self.stats.rpc.bad_blocks += 1;
                    return;
                }
                if let Insert::Added { .. } = self.on_block(t, chunk, peer) {
                    self.stats.rpc.root_blocks += 1;
                }
            }
        }
    }

    /// A peer's status: fetch its head if we lack it (by root), and the slots between
    /// our head and its head (by range).
    fn on_peer_status(&mut self, peer: PeerId, status: Status) {
        let head = status.head;
        self.sync.best_peer_head = self.sync.best_peer_head.max(head.slot);
        let (_, our_slot) = self.store.head();
        if head.slot <= our_slot || head.root == ZERO_ROOT || self.store.contains(&head.root) {
            return;
        }
        self.sync.want(&self.store, head.root, peer);
        if head.slot > our_slot + 1 && !self.sync.range_in_flight() {
            let start = our_slot + 1;
            let count = (head.slot - start).min(MAX_RANGE_COUNT);
            self.sync.wanted_range = Some((peer, start, count));
        }
    }

    /// The end of a request (`error` set when it failed).
    pub(super) fn on_request_end(
        &mut self,
        t: Duration,
        request: RequestId,
        error: Option<String>,
    ) {
        let Some((peer, pending)) = self.sync.requests.remove(&request) else {
            return;
        };
        if let Some(error) = &error {
            tracing::debug!(node = self.index, %peer, error, "request failed");
        }
        match pending {
            Pending::Status => {
                if error.is_some() {
                    self.stats.rpc.status_failed += 1;
                }
            }
            Pending::Range { .. } => {
                if error.is_some() {
                    self.stats.rpc.requests_failed += 1;
                }
            }
            Pending::Root { roots } => {
                if error.is_some() {
                    self.stats.rpc.requests_failed += 1;
                }
                for root in roots {
                    self.sync.in_flight_roots.remove(&root);
                    // Not delivered: try again (another peer if this one is gone).
                    self.sync.want(&self.store, root, peer);
                }
            }
        }
        // Whatever arrived may have completed the chain; look for a gap below it.
        if let Some(missing) = self.store.missing_ancestor() {
            self.sync.want(&self.store, missing, peer);
        }
        self.check_synced(t);
    }

    /// Sends the sync requests that are due: a wanted range first, then (once no range
    /// is in flight) the wanted roots, one request per peer.
    pub(super) fn flush_wanted(&mut self, node: &mut Node, now: Instant) {
        if let Some((peer, start, count)) = self.sync.wanted_range.take() {
            let body = BlocksByRangeRequest {
                start_slot: start,
                count,
            }
            .to_ssz();
            if let Ok(body) = body {
                let protocol = lean::BLOCKS_BY_RANGE;
                let pending = Pending::Range { start, count };
                self.send_request(node, now, peer, &protocol, body, pending);
            }
        }
        if self.sync.wanted.is_empty() || self.sync.range_in_flight() {
            return;
        }
        let wanted = std::mem::take(&mut self.sync.wanted);
        let fallback = node.connected_peers().min().copied();
        let mut by_peer: BTreeMap<PeerId, BTreeSet<Root>> = BTreeMap::new();
        for (root, source) in wanted {
            if self.store.contains(&root) || self.sync.in_flight_roots.contains(&root) {
                continue;
            }
            let ask = if node.is_connected(&source) {
                Some(source)
            } else {
                fallback
            };
            match ask {
                Some(peer) => {
                    by_peer.entry(peer).or_default().insert(root);
                }
                // Nobody to ask yet: keep it for later.
                None => {
                    self.sync.wanted.insert(root, source);
                }
            }
        }
        for (peer, roots) in by_peer {
            for batch in roots
                .into_iter()
                .collect::<Vec<_>>()
                .chunks(MAX_ROOTS_PER_REQUEST)
            {
                for root in batch {
                    *self.sync.attempts.entry(*root).or_insert(0) += 1;
                }
                let request = BlocksByRootRequest {
                    roots: batch.to_vec(),
                };
                let Ok(body) = request.to_ssz() else {
                    continue;
                };
                let pending = Pending::Root {
                    roots: batch.iter().copied().collect(),
                };
                let protocol = lean::BLOCKS_BY_ROOT;
                self.send_request(node, now, peer, &protocol, body, pending);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use leanp2p_host::{NodeEvent, ResponseCode};
    use leanp2p_reqresp::FailureReason;
    use leanp2p_sim::{NodeIdx, Sim};

    use super::*;
    use crate::commands::workload::payload::{build, root_of, MsgKey};
    use crate::commands::workload::schedule::tests::workload;

    /// Two simulated nodes: `a` is driven by the test (raw requests), `b` by a driver
    /// whose store holds blocks 1..=3.
    struct Pair {
        sim: Sim,
        a: NodeIdx,
        b: NodeIdx,
        driver: NodeDriver,
        a_events: Vec<NodeEvent>,
        roots: Vec<Root>,
    }

    impl Pair {
        fn new() -> Self {
            Self::with_blocks(3, 1000)
        }

        /// `b`'s store holds `count` chained blocks of `size` bytes.
        fn with_blocks(count: u64, size: usize) -> Self {
            let mut sim = Sim::new(5);
            let a = sim.add_node(lean::config("test")).unwrap();
            let b = sim.add_node(lean::config("test")).unwrap();
            sim.set_auto_validate(b, false);
            let mut driver = NodeDriver::new(1, Arc::new(workload(2, 5, None)), Vec::new());
            let mut parent = ZERO_ROOT;
            let mut roots = Vec::new();
            for slot in 1..=count {
                let block = build(1, MsgKey::new(slot, Kind::Block, 0), 0, &parent, size);
                parent = root_of(&block);
                roots.push(parent);
                driver.store.insert(Bytes::from(block));
            }
            sim.dial(a, b).unwrap();
            let mut pair = Self {
                sim,
                a,
                b,
                driver,
                a_events: Vec::new(),
                roots,
            };
            pair.run(Duration::from_secs(1));
            assert!(pair.sim.node(a).unwrap().is_connected(&pair.sim.peer_id(b)));
            pair
        }

        fn run(&mut self, d: Duration) {
            let epoch = self.sim.epoch();
            let end = self.sim.now() + d;
            while self.sim.next_wakeup().is_some_and(|w| w <= end) {
                self.sim.step();
                for event in self.sim.drain_events(self.b) {
                    let driver = &mut self.driver;
                    self.sim
                        .with_node(self.b, |node, now| {
                            driver.handle_event(node, now, now - epoch, event);
                        })
                        .unwrap();
                }
                self.a_events.extend(self.sim.drain_events(self.a));
            }
        }

        /// Sends a raw request from `a` to `b`; returns the chunks and the failure.
        fn request(
            &mut self,
            protocol: &ProtocolId,
            body: Vec<u8>,
        ) -> (Vec<Bytes>, Option<FailureReason>) {
            let peer = self.sim.peer_id(self.b);
            let id = self
                .sim
                .with_node(self.a, |node, now| {
                    node.request(now, peer, protocol, Bytes::from(body))
                })
                .unwrap()
                .unwrap();
            self.run(Duration::from_secs(2));
            let mut chunks = Vec::new();
            let mut failure = None;
            let mut ended = false;
            for event in self.a_events.drain(..) {
                match event {
                    NodeEvent::Response {
                        request, payload, ..
                    } if request == id => chunks.push(payload),
                    NodeEvent::RequestCompleted { request, .. } if request == id => ended = true,
                    NodeEvent::RequestFailed {
                        request, reason, ..
                    } if request == id => {
                        ended = true;
                        failure = Some(reason);
                    }
                    _ => {}
                }
            }
            assert!(ended, "request {protocol} did not end");
            (chunks, failure)
        }
    }

    fn range(start_slot: u64, count: u64) -> Vec<u8> {
        BlocksByRangeRequest { start_slot, count }.to_ssz().unwrap()
    }

    #[test]
    fn serves_status_range_and_root_from_the_store() {
        let mut pair = Pair::new();
        let (chunks, failure) = pair.request(&lean::STATUS, Status::default().to_ssz().unwrap());
        assert!(failure.is_none());
        let status = Status::from_ssz(&chunks[0]).unwrap();
        assert_eq!((status.head.root, status.head.slot), (pair.roots[2], 3));

        let (chunks, failure) = pair.request(&lean::BLOCKS_BY_RANGE, range(2, 10));
        assert!(failure.is_none());
        let got: Vec<Root> = chunks.iter().map(|c| root_of(c)).collect();
        assert_eq!(got, pair.roots[1..].to_vec());

        let body = BlocksByRootRequest {
            roots: vec![pair.roots[0], [7; 32], pair.roots[2]],
        }
        .to_ssz()
        .unwrap();
        let (chunks, failure) = pair.request(&lean::BLOCKS_BY_ROOT, body);
        assert!(failure.is_none());
        let got: Vec<Root> = chunks.iter().map(|c| root_of(c)).collect();
        assert_eq!(got, vec![pair.roots[0], pair.roots[2]]);
        assert_eq!(pair.driver.stats.rpc.blocks_served, 4);
    }

    #[test]
    fn bad_requests_get_error_responses_and_nothing_breaks() {
        let mut pair = Pair::new();
        for (protocol, body) in [
            (lean::BLOCKS_BY_RANGE, range(1, 0)),
            (lean::BLOCKS_BY_RANGE, range(1, 5000)),
        ] {
            let (chunks, failure) = pair.request(&protocol, body);
            assert!(chunks.is_empty());
            assert!(
                matches!(
                    failure,
                    Some(FailureReason::ErrorResponse {
                        code: ResponseCode::InvalidRequest,
                        ..
                    })
                ),
                "{failure:?}"
            );
        }
        // Malformed SSZ of an allowed size (a bad container offset): an error response.
        let mut body = vec![5, 0, 0, 0];
        body.extend_from_slice(&[9; 32]);
        let (chunks, failure) = pair.request(&lean::BLOCKS_BY_ROOT, body);
        assert!(chunks.is_empty());
        assert!(
            matches!(
                failure,
                Some(FailureReason::ErrorResponse {
                    code: ResponseCode::InvalidRequest,
                    ..
                })
            ),
            "{failure:?}"
        );
        // Still serving afterwards.
        let (chunks, failure) = pair.request(&lean::BLOCKS_BY_RANGE, range(1, 3));
        assert!(failure.is_none());
        assert_eq!(chunks.len(), 3);
    }

    #[test]
    fn a_response_larger_than_the_send_queue_is_paced_not_cut() {
        // 20 blocks of 1 MB: more than QUIC's send window takes at once plus the 1 MiB
        // response high-water mark, so `respond` pushes back (`QueueFull`) and the rest
        // goes out on `ResponseWritable` (without the pacing this response is cut short).
        let mut pair = Pair::with_blocks(20, 1_000_000);
        let (chunks, failure) = pair.request(&lean::BLOCKS_BY_RANGE, range(1, 20));
        assert!(failure.is_none(), "{failure:?}");
        let got: Vec<Root> = chunks.iter().map(|c| root_of(c)).collect();
        assert_eq!(got, pair.roots);
        assert_eq!(pair.driver.stats.rpc.blocks_served, 20);
        assert_eq!(pair.driver.stats.rpc.requests_served, 1);
    }
}
