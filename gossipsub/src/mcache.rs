//! Message cache: recent validated messages for IWANT replies and IHAVE gossip.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bytes::Bytes;
use leanp2p_identity::PeerId;

use crate::types::{MessageId, TopicHash};

/// A cached message, stored as its ready-to-send frame.
#[derive(Debug)]
pub(crate) struct CachedMessage {
    /// `uvarint(len) ‖ RPC { publish: [message] }`.
    pub(crate) frame: Bytes,
    /// How often each peer got it in reply to IWANT.
    iwant_counts: BTreeMap<PeerId, u32>,
}

/// Bookkeeping bytes charged per cached message on top of its frame: the map entry, the
/// id (twice: map key and window entry), the topic hash in the window and the IWANT
/// counter map.
const ENTRY_OVERHEAD: usize = 192;

/// Bytes a cached frame of `len` bytes is charged against the budget.
fn weight(len: usize) -> usize {
    len.saturating_add(ENTRY_OVERHEAD)
}

/// Sliding window of `history_length` heartbeats of messages, bounded in entries and in
/// bytes (each message weighs its frame plus [`ENTRY_OVERHEAD`]).
///
/// When a new message would take the cache over `max_bytes`, the oldest cached messages
/// are evicted first (counted in [`MessageCache::evicted_early`]); gossip (IHAVE) only
/// advertises messages still cached, so an eviction never makes us promise what we
/// cannot serve.
#[derive(Debug)]
pub(crate) struct MessageCache {
    msgs: HashMap<MessageId, CachedMessage>,
    /// Newest window first; each window oldest entry first.
    history: VecDeque<VecDeque<(MessageId, TopicHash)>>,
    gossip: usize,
    max_entries: usize,
    /// Frame bytes of the cached messages.
    bytes: usize,
    max_bytes: usize,
    evicted_early: u64,
}

impl MessageCache {
    pub(crate) fn new(
        history_length: usize,
        history_gossip: usize,
        max_entries: usize,
        max_bytes: usize,
    ) -> Self {
        let mut history = VecDeque::with_capacity(history_length);
        history.resize_with(history_length.max(1), VecDeque::new);
        Self {
            msgs: HashMap::new(),
            history,
            gossip: history_gossip,
            max_entries,
            bytes: 0,
            max_bytes,
            evicted_early: 0,
        }
    }

    /// Caches a message, evicting the oldest cached ones if it would not fit in the byte
    /// budget otherwise; `false` if already present, larger than the whole budget, or
    /// the cache is full of entries.
    pub(crate) fn put(&mut self, id: &MessageId, topic: &TopicHash, frame: Bytes) -> bool {
        if self.msgs.contains_key(id)
            || self.msgs.len() >= self.max_entries
            || weight(frame.len()) > self.max_bytes
        {
            return false;
        }
        while self.bytes + weight(frame.len()) > self.max_bytes {
            if !self.evict_oldest() {
                break;
            }
        }
        self.bytes += weight(frame.len());
        self.msgs.insert(
            id.clone(),
            CachedMessage {
                frame,
                iwant_counts: BTreeMap::new(),
            },
        );
        if let Some(window) = self.history.front_mut() {
            window.push_back((id.clone(), topic.clone()));
        }
        true
    }

    /// Drops the oldest cached message; `false` if there is none.
    fn evict_oldest(&mut self) -> bool {
        for window in self.history.iter_mut().rev() {
            while let Some((id, _)) = window.pop_front() {
                if let Some(msg) = self.msgs.remove(&id) {
                    self.bytes -= weight(msg.frame.len());
                    self.evicted_early += 1;
                    return true;
                }
            }
        }
        false
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, id: &MessageId) -> bool {
        self.msgs.contains_key(id)
    }

    /// The frame for an IWANT reply to `peer`, unless it was already sent `max` times.
    pub(crate) fn get_for_iwant(
        &mut self,
        id: &MessageId,
        peer: PeerId,
        max: u32,
    ) -> Option<Bytes> {
        let msg = self.msgs.get_mut(id)?;
        let count = msg.iwant_counts.entry(peer).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(msg.frame.clone())
    }

    /// Ids of `topic` in the gossip windows that are still cached, oldest window last.
    pub(crate) fn gossip_ids(&self, topic: &TopicHash) -> Vec<MessageId> {
        self.history
            .iter()
            .take(self.gossip)
            .flat_map(|window| window.iter())
            .filter(|(id, t)| t == topic && self.msgs.contains_key(id))
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Moves to the next heartbeat window, dropping the oldest.
    pub(crate) fn shift(&mut self) {
        if let Some(oldest) = self.history.pop_back() {
            for (id, _) in oldest {
                if let Some(msg) = self.msgs.remove(&id) {
                    self.bytes -= weight(msg.frame.len());
                }
            }
        }
        self.history.push_front(VecDeque::new());
    }

    pub(crate) fn len(&self) -> usize {
        self.msgs.len()
    }

    /// Bytes held: frames plus per-entry bookkeeping.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages evicted before their window expired, to stay within the byte budget.
    pub(crate) fn evicted_early(&self) -> u64 {
        self.evicted_early
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_shift_and_gossip() {
        let mut cache = MessageCache::new(3, 2, 10, 1 << 20);
        let t = TopicHash::new("t");
        let ids: Vec<_> = (0u8..3).map(|i| MessageId::new(&[i])).collect();
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                cache.shift();
            }
            assert!(cache.put(id, &t, Bytes::from_static(b"x")));
        }
        // ids[0] is in the third window: cached but not gossiped; after one shift it is gone.
        assert!(cache.contains(&ids[0]));
        assert_eq!(cache.gossip_ids(&t), vec![ids[2].clone(), ids[1].clone()]);
        cache.shift();
        assert!(!cache.contains(&ids[0]));
        assert!(cache.gossip_ids(&TopicHash::new("other")).is_empty());
    }

    #[test]
    fn iwant_retransmission_cap_and_size_cap() {
        let mut cache = MessageCache::new(2, 1, 1, 1 << 20);
        let t = TopicHash::new("t");
        let id = MessageId::new(b"a");
        let peer = leanp2p_identity::Keypair::from_secret_bytes(&[1; 32])
            .unwrap()
            .peer_id();
        assert!(cache.put(&id, &t, Bytes::from_static(b"x")));
        assert!(
            !cache.put(&MessageId::new(b"b"), &t, Bytes::new()),
            "cap of 1 entry"
        );
        assert!(cache.get_for_iwant(&id, peer, 2).is_some());
        assert!(cache.get_for_iwant(&id, peer, 2).is_some());
        assert!(cache.get_for_iwant(&id, peer, 2).is_none());
    }

    #[test]
    fn byte_budget_evicts_the_oldest_and_gossip_skips_evicted() {
        let four = weight(4);
        let mut cache = MessageCache::new(3, 3, 100, 2 * four + 2);
        let t = TopicHash::new("t");
        let ids: Vec<_> = (0u8..4).map(|i| MessageId::new(&[i])).collect();
        let frame = || Bytes::from_static(b"four");
        assert!(cache.put(&ids[0], &t, frame()));
        cache.shift();
        assert!(cache.put(&ids[1], &t, frame()));
        assert_eq!((cache.bytes(), cache.evicted_early()), (2 * four, 0));
        // A third would not fit: the oldest (ids[0], an older window) goes.
        assert!(cache.put(&ids[2], &t, frame()));
        assert!(!cache.contains(&ids[0]) && cache.contains(&ids[1]));
        assert_eq!((cache.bytes(), cache.evicted_early()), (2 * four, 1));
        assert_eq!(cache.gossip_ids(&t), vec![ids[1].clone(), ids[2].clone()]);
        // Larger than the whole budget: refused, nothing evicted.
        let big = Bytes::from(vec![0u8; 2 * four]);
        assert!(!cache.put(&ids[3], &t, big));
        assert_eq!((cache.len(), cache.evicted_early()), (2, 1));
        // Expiry by window still releases bytes (ids[1] and ids[2] share a window).
        cache.shift();
        cache.shift();
        assert_eq!((cache.len(), cache.bytes()), (2, 2 * four));
        cache.shift();
        assert_eq!((cache.len(), cache.bytes()), (0, 0));
    }
}
