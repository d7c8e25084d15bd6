//! Bounded per-peer outbound queues.
//!
//! Each peer has three parts, popped in this order:
//! 1. **pending control**, coalesced per topic (SUBSCRIBE/UNSUBSCRIBE, GRAFT/PRUNE are
//!    idempotent per topic, so the latest wins) plus IHAVE/IWANT/IDONTWANT id lists with
//!    hard caps. GRAFT, PRUNE and subscriptions are never dropped.
//! 2. the **priority lane**: our own publishes (bounded in frames and bytes).
//! 3. the **normal lane**: forwards and IWANT replies (bounded; dropped first).
//!
//! Frames are `Bytes` shared between peers, so a message forwarded to D peers is stored
//! once.
//!
//! This is the only outgoing gossip queue per peer: a host pulls frames from it per
//! writable stream ([`crate::Gossipsub::poll_outbound_to`]) and reports the bytes it
//! still holds unsent for the peer ([`crate::Gossipsub::handle_peer_unsent`]), which
//! count against the same byte budget: forwards are admitted while queued + unsent <
//! `Limits::max_normal_queue_bytes`, own publishes while it is <
//! `Limits::max_priority_queue_bytes`; control is never dropped. The first drop starts
//! an overflow episode (one `Event::SlowPeer`); it ends once the peer holds less than
//! half the normal budget.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use crate::limits::Limits;
use crate::types::{Lane, TopicHash};
use crate::wire::encode_control_frame;
use crate::wire::proto::{
    ControlGraft, ControlIDontWant, ControlIHave, ControlIWant, ControlMessage, ControlPrune,
    PeerInfo, SubOpts,
};

/// A PRUNE waiting to be sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PendingPrune {
    pub(crate) peers: Vec<PeerInfo>,
    pub(crate) backoff: Option<u64>,
}

/// Control waiting to be sent to one peer.
#[derive(Debug, Default)]
pub(crate) struct PendingControl {
    subscriptions: BTreeMap<TopicHash, bool>,
    graft: BTreeSet<TopicHash>,
    prune: BTreeMap<TopicHash, PendingPrune>,
    ihave: Vec<ControlIHave>,
    ihave_ids: usize,
    iwant: Vec<Vec<u8>>,
    idontwant: Vec<Vec<u8>>,
    keepalive: bool,
}

impl PendingControl {
    fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
            && self.graft.is_empty()
            && self.prune.is_empty()
            && self.ihave.is_empty()
            && self.iwant.is_empty()
            && self.idontwant.is_empty()
            && !self.keepalive
    }
}

/// Outcome of a push to a lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    /// The lane was full; the frame was dropped.
    Dropped,
}

/// The outbound queue of one peer.
#[derive(Debug, Default)]
pub(crate) struct PeerQueue {
    control: PendingControl,
    priority: VecDeque<Bytes>,
    priority_bytes: usize,
    normal: VecDeque<Bytes>,
    normal_bytes: usize,
    /// Frames dropped from the normal lane (forwards, IWANT replies).
    pub(crate) dropped_normal: u64,
    /// Own publishes refused because the priority lane was full.
    pub(crate) dropped_priority: u64,
    /// Gossip ids (IHAVE / IWANT / IDONTWANT) dropped because of the caps.
    pub(crate) dropped_gossip_ids: u64,
    /// Bytes the host still holds unsent for this peer (its stream buffer), as last
    /// reported; they count against the byte budget.
    unsent: usize,
    /// Since when frames have been dropped without the peer draining below half the
    /// normal budget (the overflow episode).
    pub(crate) overflow_since: Option<Instant>,
}

impl PeerQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.control.is_empty() && self.priority.is_empty() && self.normal.is_empty()
    }

    pub(crate) fn priority_len(&self) -> usize {
        self.priority.len()
    }

    pub(crate) fn normal_len(&self) -> usize {
        self.normal.len()
    }

    pub(crate) fn queued_bytes(&self) -> usize {
        self.priority_bytes + self.normal_bytes
    }

    /// Queued bytes plus what the host reported unsent: what the budget bounds.
    fn held_bytes(&self) -> usize {
        self.queued_bytes().saturating_add(self.unsent)
    }

    /// Records the bytes the host still holds unsent for the peer.
    pub(crate) fn set_unsent(&mut self, bytes: usize) {
        self.unsent = bytes;
    }

    /// Ends the overflow episode once the peer holds less than half the normal
    /// budget. Returns whether it ended now.
    pub(crate) fn settle_episode(&mut self, limits: &Limits) -> bool {
        if self.overflow_since.is_some() && self.held_bytes() < limits.max_normal_queue_bytes / 2 {
            self.overflow_since = None;
            return true;
        }
        false
    }

    pub(crate) fn subscription(&mut self, topic: &TopicHash, subscribe: bool) {
        self.control.subscriptions.insert(topic.clone(), subscribe);
    }

    pub(crate) fn graft(&mut self, topic: &TopicHash) {
        self.control.prune.remove(topic);
        self.control.graft.insert(topic.clone());
    }

    pub(crate) fn prune(&mut self, topic: &TopicHash, prune: PendingPrune) {
        self.control.graft.remove(topic);
        self.control.prune.insert(topic.clone(), prune);
    }

    pub(crate) fn ihave(&mut self, topic: &TopicHash, ids: Vec<Vec<u8>>, limits: &Limits) {
        let room = limits
            .max_ids_per_control_entry
            .saturating_mul(2)
            .saturating_sub(self.control.ihave_ids);
        let mut ids = ids;
        if ids.len() > room {
            self.dropped_gossip_ids += (ids.len() - room) as u64;
            ids.truncate(room);
        }
        if ids.is_empty() {
            return;
        }
        self.control.ihave_ids += ids.len();
        self.control.ihave.push(ControlIHave {
            topic_id: Some(topic.to_string()),
            message_ids: ids,
        });
    }

    pub(crate) fn iwant(&mut self, ids: Vec<Vec<u8>>, limits: &Limits) {
        push_capped(
            &mut self.control.iwant,
            ids,
            limits.max_ids_per_control_entry,
            &mut self.dropped_gossip_ids,
        );
    }

    pub(crate) fn idontwant(&mut self, ids: Vec<Vec<u8>>, limits: &Limits) {
        push_capped(
            &mut self.control.idontwant,
            ids,
            limits.max_ids_per_control_entry,
            &mut self.dropped_gossip_ids,
        );
    }

    /// Queues an empty control RPC (keep-alive) if nothing else is queued.
    pub(crate) fn keepalive(&mut self) {
        if self.is_empty() {
            self.control.keepalive = true;
        }
    }

    /// Whether [`PeerQueue::push_priority`] would take a frame now.
    pub(crate) fn priority_has_room(&self, limits: &Limits) -> bool {
        self.priority.len() < limits.max_priority_queue_frames
            && self.held_bytes() < limits.max_priority_queue_bytes
    }

    /// Whether the peer drained below half its priority budget (publishing may resume).
    pub(crate) fn priority_recovered(&self, limits: &Limits) -> bool {
        self.priority.len() <= limits.max_priority_queue_frames / 2
            && self.held_bytes() <= limits.max_priority_queue_bytes / 2
    }

    pub(crate) fn push_priority(&mut self, frame: Bytes, limits: &Limits) -> Pushed {
        if self.priority.len() >= limits.max_priority_queue_frames
            || self.held_bytes() >= limits.max_priority_queue_bytes
        {
            self.dropped_priority += 1;
            return Pushed::Dropped;
        }
        self.priority_bytes += frame.len();
        self.priority.push_back(frame);
        Pushed::Queued
    }

    pub(crate) fn push_normal(&mut self, frame: Bytes, limits: &Limits) -> Pushed {
        if self.normal.len() >= limits.max_normal_queue_frames
            || self.held_bytes() >= limits.max_normal_queue_bytes
        {
            self.dropped_normal += 1;
            return Pushed::Dropped;
        }
        self.normal_bytes += frame.len();
        self.normal.push_back(frame);
        Pushed::Queued
    }

    /// Next frame: pending control first, then priority, then normal.
    pub(crate) fn pop(&mut self, max_transmit_size: usize) -> Option<(Bytes, Lane)> {
        if !self.control.is_empty() {
            let mut frames = encode_control(std::mem::take(&mut self.control), max_transmit_size);
            if !frames.is_empty() {
                let first = frames.remove(0);
                // Split control frames go ahead of the priority lane (never dropped).
                for frame in frames.into_iter().rev() {
                    self.priority_bytes += frame.len();
                    self.priority.push_front(frame);
                }
                return Some((first, Lane::Priority));
            }
        }
        if let Some(frame) = self.priority.pop_front() {
            self.priority_bytes -= frame.len();
            return Some((frame, Lane::Priority));
        }
        if let Some(frame) = self.normal.pop_front() {
            self.normal_bytes -= frame.len();
            return Some((frame, Lane::Normal));
        }
        None
    }
}

fn push_capped(list: &mut Vec<Vec<u8>>, ids: Vec<Vec<u8>>, cap: usize, dropped: &mut u64) {
    for id in ids {
        if list.len() >= cap {
            *dropped += 1;
        } else {
            list.push(id);
        }
    }
}

/// Encodes pending control as one frame, or several if one would exceed the frame limit.
fn encode_control(control: PendingControl, max_transmit_size: usize) -> Vec<Bytes> {
    let subscriptions: Vec<SubOpts> = control
        .subscriptions
        .into_iter()
        .map(|(topic, subscribe)| SubOpts {
            subscribe: Some(subscribe),
            topic_id: Some(topic.to_string()),
            ..SubOpts::default()
        })
        .collect();
    let graft: Vec<ControlGraft> = control
        .graft
        .into_iter()
        .map(|topic| ControlGraft {
            topic_id: Some(topic.to_string()),
        })
        .collect();
    let prune: Vec<ControlPrune> = control
        .prune
        .into_iter()
        .map(|(topic, p)| ControlPrune {
            topic_id: Some(topic.to_string()),
            peers: p.peers,
            backoff: p.backoff,
        })
        .collect();
    let iwant = if control.iwant.is_empty() {
        Vec::new()
    } else {
        vec![ControlIWant {
            message_ids: control.iwant,
        }]
    };
    let idontwant = if control.idontwant.is_empty() {
        Vec::new()
    } else {
        vec![ControlIDontWant {
            message_ids: control.idontwant,
        }]
    };
    let cm = ControlMessage {
        ihave: control.ihave,
        iwant,
        graft,
        prune,
        idontwant,
    };
    let has_control = !(cm.ihave.is_empty()
        && cm.iwant.is_empty()
        && cm.graft.is_empty()
        && cm.prune.is_empty()
        && cm.idontwant.is_empty());
    let control_opt = if has_control || control.keepalive {
        Some(cm)
    } else {
        None
    };
    let frame = encode_control_frame(subscriptions.clone(), control_opt.clone());
    if frame.len() <= max_transmit_size + 10 {
        return vec![frame];
    }
    // Too big for one frame: membership changes first, then each gossip entry alone.
    let mut frames = Vec::new();
    let Some(cm) = control_opt else {
        return vec![frame];
    };
    frames.push(encode_control_frame(
        subscriptions,
        Some(ControlMessage {
            graft: cm.graft,
            prune: cm.prune,
            ..Default::default()
        }),
    ));
    for ihave in cm.ihave {
        frames.push(encode_control_frame(
            Vec::new(),
            Some(ControlMessage {
                ihave: vec![ihave],
                ..Default::default()
            }),
        ));
    }
    for iwant in cm.iwant {
        frames.push(encode_control_frame(
            Vec::new(),
            Some(ControlMessage {
                iwant: vec![iwant],
                ..Default::default()
            }),
        ));
    }
    for idw in cm.idontwant {
        frames.push(encode_control_frame(
            Vec::new(),
            Some(ControlMessage {
                idontwant: vec![idw],
                ..Default::default()
            }),
        ));
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_first_then_priority_then_normal_and_caps() {
        let limits = Limits {
            max_normal_queue_frames: 1,
            max_priority_queue_frames: 1,
            ..Limits::default()
        };
        let mut q = PeerQueue::default();
        assert_eq!(
            q.push_normal(Bytes::from_static(b"n1"), &limits),
            Pushed::Queued
        );
        assert_eq!(
            q.push_normal(Bytes::from_static(b"n2"), &limits),
            Pushed::Dropped
        );
        assert_eq!(
            q.push_priority(Bytes::from_static(b"p1"), &limits),
            Pushed::Queued
        );
        assert_eq!(
            q.push_priority(Bytes::from_static(b"p2"), &limits),
            Pushed::Dropped
        );
        let t = TopicHash::new("t");
        q.graft(&t);
        q.prune(&t, PendingPrune::default());
        q.graft(&t);
        let (frame, lane) = q.pop(1 << 20).unwrap();
        assert_eq!(lane, Lane::Priority);
        // GRAFT t only (the PRUNE was superseded): 2e-less small frame.
        assert_eq!(&frame[..], &[7, 0x1a, 5, 0x1a, 3, 0x0a, 1, b't'][..]);
        assert_eq!(
            q.pop(1 << 20).unwrap(),
            (Bytes::from_static(b"p1"), Lane::Priority)
        );
        assert_eq!(
            q.pop(1 << 20).unwrap(),
            (Bytes::from_static(b"n1"), Lane::Normal)
        );
        assert!(q.pop(1 << 20).is_none());
        assert_eq!((q.dropped_normal, q.dropped_priority), (1, 1));
        assert!(q.is_empty());
    }

    fn frame(len: usize) -> Bytes {
        Bytes::from(vec![0u8; len])
    }

    fn budget(normal: usize, priority: usize) -> Limits {
        Limits {
            max_normal_queue_bytes: normal,
            max_priority_queue_bytes: priority,
            ..Limits::default()
        }
    }

    #[test]
    fn forwards_stop_at_the_budget_priority_uses_the_reserve() {
        let limits = budget(100, 150);
        let mut q = PeerQueue::default();
        // The host holds 30 bytes unsent for the peer: they count.
        q.set_unsent(30);
        assert_eq!(q.push_normal(frame(60), &limits), Pushed::Queued);
        // 90 < 100: one more frame fits and crosses the cap.
        assert_eq!(q.push_normal(frame(20), &limits), Pushed::Queued);
        assert_eq!(q.push_normal(frame(1), &limits), Pushed::Dropped);
        // 110 < 150: priority still fits (and crosses the reserve).
        assert_eq!(q.push_priority(frame(45), &limits), Pushed::Queued);
        assert_eq!(q.push_priority(frame(1), &limits), Pushed::Dropped);
        assert_eq!((q.dropped_normal, q.dropped_priority), (1, 1));
        assert_eq!(q.queued_bytes(), 125);
        // Priority first, then forwards in order.
        assert_eq!(q.pop(1 << 20).map(|(f, _)| f.len()), Some(45));
        assert_eq!(q.pop(1 << 20).map(|(f, _)| f.len()), Some(60));
        assert_eq!(q.pop(1 << 20).map(|(f, _)| f.len()), Some(20));
        assert!(q.pop(1 << 20).is_none());
        assert!(q.is_empty());
        assert_eq!(q.queued_bytes(), 0);
    }

    #[test]
    fn an_oversized_frame_fits_an_empty_queue() {
        let limits = budget(100, 150);
        let mut q = PeerQueue::default();
        assert_eq!(q.push_normal(frame(500), &limits), Pushed::Queued);
        assert_eq!(q.push_priority(frame(1), &limits), Pushed::Dropped);
        assert_eq!(q.priority_len() + q.normal_len(), 1);
        assert_eq!(q.queued_bytes(), 500);
    }

    #[test]
    fn an_episode_ends_below_half_the_normal_budget() {
        let limits = budget(100, 150);
        let mut q = PeerQueue {
            overflow_since: Some(std::time::Instant::now()),
            ..PeerQueue::default()
        };
        q.set_unsent(50);
        assert!(!q.settle_episode(&limits), "50 is not below half of 100");
        q.set_unsent(49);
        assert!(q.settle_episode(&limits));
        assert!(q.overflow_since.is_none());
    }
}
