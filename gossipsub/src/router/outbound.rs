//! Queueing frames to peers, slow-peer reporting, peer-exchange candidates.

use std::time::Instant;

use bytes::Bytes;
use leanp2p_identity::PeerId;

use super::Gossipsub;
use crate::event::Event;
use crate::queue::Pushed;
use crate::types::{Lane, TopicHash};
use crate::wire::proto::PeerInfo;

impl Gossipsub {
    /// Queues a message frame; returns whether it was queued. A drop is counted; the
    /// first drop of an overflow episode is reported as [`Event::SlowPeer`].
    pub(crate) fn queue_frame(
        &mut self,
        now: Instant,
        peer: PeerId,
        frame: Bytes,
        lane: Lane,
    ) -> bool {
        let limits = &self.config.limits;
        let Some(state) = self.peers.get_mut(&peer) else {
            return false;
        };
        let pushed = match lane {
            Lane::Priority => state.queue.push_priority(frame, limits),
            Lane::Normal => state.queue.push_normal(frame, limits),
        };
        match pushed {
            Pushed::Queued => {
                state.last_sent = now;
                self.mark_ready(peer);
                true
            }
            Pushed::Dropped => {
                if state.queue.overflow_since.is_none() {
                    state.queue.overflow_since = Some(now);
                    let dropped = state.queue.dropped_normal + state.queue.dropped_priority;
                    self.counters.slow_peer_events += 1;
                    tracing::debug!(%peer, dropped, "slow gossipsub peer: queue full");
                    self.push_event(Event::SlowPeer { peer, dropped });
                }
                false
            }
        }
    }

    /// Up to `prune_peers` other subscribed peers with non-negative score, for PX.
    pub(crate) fn px_peers(&mut self, topic: &TopicHash, exclude: PeerId) -> Vec<PeerInfo> {
        let candidates: Vec<PeerId> = self
            .topic_peers
            .get(topic)
            .into_iter()
            .flatten()
            .filter(|p| **p != exclude && self.score_of(p) >= 0.0)
            .copied()
            .collect();
        let n = self.config.prune_peers;
        self.sample(candidates, n)
            .into_iter()
            .map(|p| PeerInfo {
                peer_id: Some(p.to_bytes()),
                signed_peer_record: None,
            })
            .collect()
    }
}
