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

/// Sliding window of `history_length` heartbeats of messages.
#[derive(Debug)]
pub(crate) struct MessageCache {
    msgs: HashMap<MessageId, CachedMessage>,
    /// Newest window first.
    history: VecDeque<Vec<(MessageId, TopicHash)>>,
    gossip: usize,
    max_entries: usize,
}

impl MessageCache {
    pub(crate) fn new(history_length: usize, history_gossip: usize, max_entries: usize) -> Self {
        let mut history = VecDeque::with_capacity(history_length);
        history.resize_with(history_length.max(1), Vec::new);
        Self {
            msgs: HashMap::new(),
            history,
            gossip: history_gossip,
            max_entries,
        }
    }

    /// Caches a message; `false` if already present or the cache is full.
    pub(crate) fn put(&mut self, id: &MessageId, topic: &TopicHash, frame: Bytes) -> bool {
        if self.msgs.contains_key(id) || self.msgs.len() >= self.max_entries {
            return false;
        }
        self.msgs.insert(
            id.clone(),
            CachedMessage {
                frame,
                iwant_counts: BTreeMap::new(),
            },
        );
        if let Some(window) = self.history.front_mut() {
            window.push((id.clone(), topic.clone()));
        }
        true
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

    /// Ids of `topic` in the gossip windows, oldest window last.
    pub(crate) fn gossip_ids(&self, topic: &TopicHash) -> Vec<MessageId> {
        self.history
            .iter()
            .take(self.gossip)
            .flat_map(|window| window.iter())
            .filter(|(_, t)| t == topic)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Moves to the next heartbeat window, dropping the oldest.
    pub(crate) fn shift(&mut self) {
        if let Some(oldest) = self.history.pop_back() {
            for (id, _) in oldest {
                self.msgs.remove(&id);
            }
        }
        self.history.push_front(Vec::new());
    }

    pub(crate) fn len(&self) -> usize {
        self.msgs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_shift_and_gossip() {
        let mut cache = MessageCache::new(3, 2, 10);
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
        let mut cache = MessageCache::new(2, 1, 1);
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
}
