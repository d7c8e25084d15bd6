//! IWANT follow-up promises: a peer that announced a message with IHAVE and was asked
//! for it must deliver within `iwant_followup_time`, or it gets a P7 penalty.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use leanp2p_identity::PeerId;

use crate::types::MessageId;

#[derive(Debug, Default)]
pub(crate) struct Promises {
    by_id: HashMap<MessageId, BTreeMap<PeerId, Instant>>,
    per_peer: BTreeMap<PeerId, usize>,
}

impl Promises {
    /// Records that `peer` promised `ids` by `expires`, at most `max_per_peer` open ones.
    pub(crate) fn add(
        &mut self,
        peer: PeerId,
        ids: &[MessageId],
        expires: Instant,
        max_per_peer: usize,
    ) {
        for id in ids {
            let count = self.per_peer.entry(peer).or_insert(0);
            if *count >= max_per_peer {
                return;
            }
            let peers = self.by_id.entry(id.clone()).or_default();
            if peers.insert(peer, expires).is_none() {
                *count += 1;
            }
        }
    }

    /// The message arrived (from anyone): every promise for it is kept.
    pub(crate) fn delivered(&mut self, id: &MessageId) {
        if let Some(peers) = self.by_id.remove(id) {
            for peer in peers.keys() {
                self.decrement(peer);
            }
        }
    }

    /// Removes and counts expired promises per peer.
    pub(crate) fn take_broken(&mut self, now: Instant) -> BTreeMap<PeerId, usize> {
        let mut broken = BTreeMap::new();
        self.by_id.retain(|_, peers| {
            peers.retain(|peer, expires| {
                if *expires < now {
                    *broken.entry(*peer).or_insert(0) += 1;
                    false
                } else {
                    true
                }
            });
            !peers.is_empty()
        });
        for (peer, n) in &broken {
            if let Some(count) = self.per_peer.get_mut(peer) {
                *count = count.saturating_sub(*n);
                if *count == 0 {
                    self.per_peer.remove(peer);
                }
            }
        }
        broken
    }

    pub(crate) fn remove_peer(&mut self, peer: &PeerId) {
        self.by_id.retain(|_, peers| {
            peers.remove(peer);
            !peers.is_empty()
        });
        self.per_peer.remove(peer);
    }

    fn decrement(&mut self, peer: &PeerId) {
        if let Some(count) = self.per_peer.get_mut(peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_peer.remove(peer);
            }
        }
    }
}
