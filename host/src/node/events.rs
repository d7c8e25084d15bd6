//! The node's event queue: per-peer budgets instead of one shared cap.
//!
//! Every queued event is charged to the peer that caused it (one event plus its payload
//! bytes). When a peer's charge reaches [`Limits::max_peer_queued_events`] or
//! [`Limits::max_peer_queued_event_bytes`], the node stops reading that peer's streams
//! (QUIC flow control then pushes back on the peer) until the application has drained
//! the peer below half of both; when the whole queue reaches
//! [`Limits::max_queued_events`] or [`Limits::max_queued_event_bytes`], reading pauses
//! for every peer the same way. So one peer cannot push out another's events.
//!
//! Events the application cannot afford to lose (messages, requests, responses,
//! connection and stream lifecycle) are never dropped: they are bounded by the pause
//! instead (one read budget of overshoot per stream). Informational events (subscription
//! changes, peer exchange, slow peer, identify, ping results) are dropped and counted
//! once the whole queue is at its cap. A subscription change that undoes one still in
//! the queue cancels it (a subscribe/unsubscribe toggle flood costs nothing here).

use std::collections::{BTreeSet, HashMap, VecDeque};

use leanp2p_gossipsub::TopicHash;
use leanp2p_identity::PeerId;

use crate::event::NodeEvent;
use crate::limits::Limits;

/// Cancelled entries tolerated before [`EventQueue::compact`] runs.
const COMPACT_MIN: usize = 64;

/// What [`EventQueue::push`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued.
    Queued,
    /// Cancelled against a queued opposite subscription change (or a duplicate).
    Collapsed,
    /// Dropped: informational and the queue is at its cap.
    Dropped,
}

#[derive(Debug)]
struct Entry {
    /// `None` once cancelled by a later subscription change.
    event: Option<NodeEvent>,
    peer: Option<PeerId>,
    bytes: usize,
}

/// Charge of one peer.
#[derive(Debug, Default, Clone, Copy)]
struct Load {
    events: usize,
    bytes: usize,
}

/// The bounded, per-peer-budgeted event queue (see the module docs).
#[derive(Debug)]
pub(crate) struct EventQueue {
    entries: VecDeque<Entry>,
    /// Sequence number of `entries[0]`.
    head_seq: u64,
    /// Live (not cancelled) entries.
    live: usize,
    bytes: usize,
    per_peer: HashMap<PeerId, Load>,
    /// Queued subscription changes by (peer, topic): their sequence numbers.
    pending_subs: HashMap<(PeerId, TopicHash), u64>,
    /// Peers over their budget (reading paused).
    paused: BTreeSet<PeerId>,
    /// Whole queue over its cap (reading paused for everyone).
    all_paused: bool,
    /// Peers (or everyone, `None`) whose pause ended since the last
    /// [`EventQueue::take_resumed`].
    resumed: Vec<Option<PeerId>>,
    max_events: usize,
    max_bytes: usize,
    max_peer_events: usize,
    max_peer_bytes: usize,
    /// Times a peer (or everyone) went over budget.
    pub(crate) pauses: u64,
}

impl EventQueue {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            entries: VecDeque::new(),
            head_seq: 0,
            live: 0,
            bytes: 0,
            per_peer: HashMap::new(),
            pending_subs: HashMap::new(),
            paused: BTreeSet::new(),
            all_paused: false,
            resumed: Vec::new(),
            max_events: limits.max_queued_events,
            max_bytes: limits.max_queued_event_bytes,
            max_peer_events: limits.max_peer_queued_events,
            max_peer_bytes: limits.max_peer_queued_event_bytes,
            pauses: 0,
        }
    }

    /// Events waiting for the application.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Payload bytes held by queued events.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether reading from `peer`'s streams must wait for the application.
    pub(crate) fn is_paused(&self, peer: &PeerId) -> bool {
        self.all_paused || self.paused.contains(peer)
    }

    /// Queues `event`, charged to `peer` (see the module docs).
    pub(crate) fn push(&mut self, event: NodeEvent, peer: Option<PeerId>) -> Pushed {
        if let Some(key) = subscription_key(&event) {
            if let Some(&seq) = self.pending_subs.get(&key) {
                // A change for the same (peer, topic) is still queued: this one either
                // undoes it (drop both) or repeats it (drop this one).
                let opposite = self
                    .entry(seq)
                    .and_then(|e| e.event.as_ref())
                    .is_some_and(|queued| !same_kind(queued, &event));
                if opposite {
                    self.cancel(seq);
                    self.pending_subs.remove(&key);
                }
                return Pushed::Collapsed;
            }
        }
        if is_informational(&event) && self.live >= self.max_events {
            return Pushed::Dropped;
        }
        let bytes = payload_bytes(&event);
        let seq = self.head_seq + self.entries.len() as u64;
        if let Some(key) = subscription_key(&event) {
            self.pending_subs.insert(key, seq);
        }
        self.live += 1;
        self.bytes += bytes;
        if let Some(peer) = peer {
            let load = self.per_peer.entry(peer).or_default();
            load.events += 1;
            load.bytes += bytes;
            if (load.events >= self.max_peer_events || load.bytes >= self.max_peer_bytes)
                && self.paused.insert(peer)
            {
                self.pauses += 1;
            }
        }
        if !self.all_paused && (self.live >= self.max_events || self.bytes >= self.max_bytes) {
            self.all_paused = true;
            self.pauses += 1;
        }
        self.entries.push_back(Entry {
            event: Some(event),
            peer,
            bytes,
        });
        Pushed::Queued
    }

    /// The oldest live event.
    pub(crate) fn pop(&mut self) -> Option<NodeEvent> {
        while let Some(entry) = self.entries.pop_front() {
            let seq = self.head_seq;
            self.head_seq += 1;
            let Some(event) = entry.event else {
                continue;
            };
            if let Some(key) = subscription_key(&event) {
                if self.pending_subs.get(&key) == Some(&seq) {
                    self.pending_subs.remove(&key);
                }
            }
            self.release(entry.peer, entry.bytes);
            return Some(event);
        }
        None
    }

    /// Peers whose pause ended since the last call (`None`: the whole-queue pause).
    pub(crate) fn take_resumed(&mut self) -> Vec<Option<PeerId>> {
        std::mem::take(&mut self.resumed)
    }

    fn entry(&self, seq: u64) -> Option<&Entry> {
        let index = usize::try_from(seq.checked_sub(self.head_seq)?).ok()?;
        self.entries.get(index)
    }

    fn cancel(&mut self, seq: u64) {
        let Some(index) = seq
            .checked_sub(self.head_seq)
            .and_then(|i| usize::try_from(i).ok())
        else {
            return;
        };
        let Some(entry) = self.entries.get_mut(index) else {
            return;
        };
        if entry.event.take().is_some() {
            let (peer, bytes) = (entry.peer, entry.bytes);
            self.release(peer, bytes);
            if index + 1 == self.entries.len() {
                self.entries.pop_back();
            }
            self.compact();
        }
    }

    /// Uncharges one event; ends pauses that fell below half of their limits.
    fn release(&mut self, peer: Option<PeerId>, bytes: usize) {
        self.live -= 1;
        self.bytes -= bytes;
        if let Some(peer) = peer {
            if let Some(load) = self.per_peer.get_mut(&peer) {
                load.events -= 1;
                load.bytes -= bytes;
                let below = load.events <= self.max_peer_events / 2
                    && load.bytes <= self.max_peer_bytes / 2;
                if load.events == 0 {
                    self.per_peer.remove(&peer);
                }
                if below && self.paused.remove(&peer) {
                    self.resumed.push(Some(peer));
                }
            }
        }
        if self.all_paused && self.live <= self.max_events / 2 && self.bytes <= self.max_bytes / 2 {
            self.all_paused = false;
            self.resumed.push(None);
        }
    }

    /// Drops cancelled entries once they outnumber the live ones (amortised O(1) per
    /// cancel; keeps a toggle flood from growing the queue with tombstones).
    fn compact(&mut self) {
        let cancelled = self.entries.len() - self.live;
        if cancelled <= COMPACT_MIN || cancelled <= self.live {
            return;
        }
        self.entries.retain(|e| e.event.is_some());
        self.pending_subs.clear();
        for (index, entry) in self.entries.iter().enumerate() {
            if let Some(key) = entry.event.as_ref().and_then(subscription_key) {
                self.pending_subs.insert(key, self.head_seq + index as u64);
            }
        }
    }
}

/// The (peer, topic) of a subscription change.
fn subscription_key(event: &NodeEvent) -> Option<(PeerId, TopicHash)> {
    match event {
        NodeEvent::Subscribed { peer, topic } | NodeEvent::Unsubscribed { peer, topic } => {
            Some((*peer, topic.clone()))
        }
        _ => None,
    }
}

fn same_kind(a: &NodeEvent, b: &NodeEvent) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// Events the node may drop (and count) when the queue is at its cap: the application
/// can learn their content again (subscriptions and identify from the peer's next
/// update, ping from the next round, slowness from the next overflow).
fn is_informational(event: &NodeEvent) -> bool {
    matches!(
        event,
        NodeEvent::Subscribed { .. }
            | NodeEvent::Unsubscribed { .. }
            | NodeEvent::PeerExchange { .. }
            | NodeEvent::SlowPeer { .. }
            | NodeEvent::Identified { .. }
            | NodeEvent::PingSuccess { .. }
            | NodeEvent::PingFailed { .. }
    )
}

/// Payload bytes an event holds.
fn payload_bytes(event: &NodeEvent) -> usize {
    match event {
        NodeEvent::Message { data, .. } => data.len(),
        NodeEvent::InboundRequest { body, .. } => body.len(),
        NodeEvent::Response { payload, .. } => payload.len(),
        NodeEvent::AppStreamData { data, .. } => data.len(),
        NodeEvent::PeerExchange { peers, .. } => peers.len() * 128,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use bytes::Bytes;
    use leanp2p_gossipsub::MessageId;

    fn peer(i: u8) -> PeerId {
        let key = leanp2p_identity::Keypair::from_secret_bytes(&[i; 32]).unwrap();
        key.peer_id()
    }

    fn limits(peer_events: usize, events: usize) -> Limits {
        Limits {
            max_peer_queued_events: peer_events,
            max_queued_events: events,
            ..Limits::default()
        }
    }

    fn message(from: PeerId, len: usize) -> NodeEvent {
        NodeEvent::Message {
            id: MessageId::new(&[1; 20]),
            propagation_source: from,
            topic: TopicHash::new("t"),
            data: Bytes::from(vec![0; len]),
        }
    }

    fn sub(p: PeerId, topic: &str, on: bool) -> NodeEvent {
        let topic = TopicHash::new(topic);
        if on {
            NodeEvent::Subscribed { peer: p, topic }
        } else {
            NodeEvent::Unsubscribed { peer: p, topic }
        }
    }

    #[test]
    fn a_toggle_flood_collapses_and_leaves_no_tombstones_behind() {
        let mut q = EventQueue::new(&limits(1024, 65_536));
        let p = peer(1);
        for k in 0..100_000 {
            let topic = format!("t{}", k % 7);
            q.push(sub(p, &topic, (k / 7) % 2 == 0), Some(p));
            assert!(q.entries.len() <= 2 * COMPACT_MIN + 2 * q.len() + 1);
        }
        assert!(q.len() <= 7);
        // Whatever is left is each topic's net change, in order.
        let mut seen = BTreeSet::new();
        while let Some(event) = q.pop() {
            let (peer, topic) = subscription_key(&event).unwrap();
            assert_eq!(peer, p);
            assert!(seen.insert(topic));
        }
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn a_peer_over_budget_is_paused_until_drained_to_half() {
        let mut q = EventQueue::new(&limits(4, 1000));
        let (a, b) = (peer(1), peer(2));
        for _ in 0..4 {
            assert_eq!(q.push(message(a, 10), Some(a)), Pushed::Queued);
        }
        assert!(q.is_paused(&a));
        assert!(!q.is_paused(&b));
        assert_eq!(q.pauses, 1);
        // Never dropped, even past the budget.
        assert_eq!(q.push(message(a, 10), Some(a)), Pushed::Queued);
        q.push(message(b, 10), Some(b));
        for _ in 0..2 {
            q.pop().unwrap();
            assert!(q.take_resumed().is_empty());
        }
        q.pop().unwrap(); // a: 2 left = half of 4
        assert_eq!(q.take_resumed(), vec![Some(a)]);
        assert!(!q.is_paused(&a));
        assert_eq!(q.bytes(), 30);
    }

    #[test]
    fn at_the_node_cap_only_informational_events_are_dropped() {
        let mut q = EventQueue::new(&limits(1000, 4));
        let p = peer(1);
        for _ in 0..4 {
            q.push(message(p, 1), Some(p));
        }
        assert!(q.is_paused(&peer(9)), "everyone pauses at the node cap");
        assert_eq!(q.push(sub(p, "x", true), Some(p)), Pushed::Dropped);
        assert_eq!(q.push(message(p, 1), Some(p)), Pushed::Queued);
        assert_eq!(q.len(), 5);
        for _ in 0..3 {
            q.pop().unwrap();
        }
        assert_eq!(q.take_resumed(), vec![None]);
        assert!(!q.is_paused(&peer(9)));
    }

    #[test]
    fn byte_budgets_pause_too() {
        let mut q = EventQueue::new(&Limits {
            max_peer_queued_event_bytes: 100,
            ..Limits::default()
        });
        let p = peer(1);
        q.push(message(p, 60), Some(p));
        assert!(!q.is_paused(&p));
        q.push(message(p, 60), Some(p));
        assert!(q.is_paused(&p));
        q.pop().unwrap();
        assert!(q.is_paused(&p), "60 bytes left > half of 100");
        q.pop().unwrap();
        assert!(!q.is_paused(&p));
    }
}
