//! GRAFT, PRUNE, IHAVE, IWANT and IDONTWANT handling.

use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_identity::PeerId;

use super::Gossipsub;
use crate::event::{Event, PxPeer};
use crate::types::{Lane, MessageId, TopicHash};
use crate::wire::proto::{
    ControlGraft, ControlIDontWant, ControlIHave, ControlIWant, ControlPrune,
};

impl Gossipsub {
    fn valid_id(&self, id: &[u8]) -> bool {
        !id.is_empty()
            && id.len() <= self.config.limits.max_message_id_len
            && self.config.message_id_len.is_none_or(|len| id.len() == len)
    }

    /// Records IDONTWANT ids. Returns the number of invalid ids.
    ///
    /// Only from peers that negotiated `/meshsub/1.2.0` (others' are ignored and
    /// counted). At most `max_ids_per_control_entry` ids per entry and
    /// `max_idontwant_ids_per_rpc` per RPC are looked at; the rest are dropped and
    /// counted. Each id costs O(1) amortised: the per-peer memory is bounded by
    /// `max_idontwant_per_peer`; at the cap further ids are ignored (counted) until
    /// remembered notices expire.
    pub(crate) fn handle_idontwant(
        &mut self,
        now: Instant,
        from: PeerId,
        entries: Vec<ControlIDontWant>,
    ) -> usize {
        if entries.is_empty() {
            return 0;
        }
        let Some(version) = self.peers.get(&from).map(|s| s.conn.version) else {
            return 0;
        };
        if !version.supports_idontwant() {
            let ids: usize = entries.iter().map(|e| e.message_ids.len()).sum();
            self.counters.idontwant_unsupported += ids as u64;
            tracing::debug!(peer = %from, ids, "IDONTWANT from a peer without /meshsub/1.2.0");
            return 0;
        }
        let limits = &self.config.limits;
        let max_ids = limits.max_ids_per_control_entry;
        let mut budget = limits.max_idontwant_ids_per_rpc;
        let cap = limits.max_idontwant_per_peer;
        let (max_len, exact_len) = (limits.max_message_id_len, self.config.message_id_len);
        let valid = |id: &[u8]| {
            !id.is_empty() && id.len() <= max_len && exact_len.is_none_or(|len| id.len() == len)
        };
        let expires = now + self.config.idontwant_ttl;
        let mut invalid = 0;
        let mut received = 0u64;
        let mut dropped = 0u64;
        let Some(state) = self.peers.get_mut(&from) else {
            return 0;
        };
        state.dont_send.expire(now);
        for entry in entries {
            let n = entry.message_ids.len();
            let take = n.min(max_ids).min(budget);
            budget -= take;
            dropped += (n - take) as u64;
            for id in entry.message_ids.into_iter().take(take) {
                if !valid(&id) {
                    invalid += 1;
                    continue;
                }
                received += 1;
                // At the cap, further ids are ignored until notices expire: no copy, no
                // hashing, no eviction (a flood past the cap costs a length check per id).
                if state.dont_send.is_full(cap) {
                    dropped += 1;
                    continue;
                }
                dropped += state
                    .dont_send
                    .insert(now, MessageId::new(&id), expires, cap)
                    as u64;
            }
        }
        self.counters.idontwant_received += received;
        self.counters.idontwant_dropped += dropped;
        invalid
    }

    /// IHAVE: request unseen ids (caps per heartbeat), record promises.
    pub(crate) fn handle_ihave(&mut self, now: Instant, from: PeerId, entries: Vec<ControlIHave>) {
        if entries.is_empty() {
            return;
        }
        self.counters.ihave_received += entries.len() as u64;
        if let Some(t) = self.thresholds() {
            if self.score_of(&from) < t.gossip_threshold {
                self.counters.ihave_ignored += entries.len() as u64;
                return;
            }
        }
        let max_ihave_messages = self.config.max_ihave_messages;
        let max_ihave_length = self.config.max_ihave_length;
        let mut wanted: Vec<MessageId> = Vec::new();
        let mut wanted_set: std::collections::HashSet<MessageId> = std::collections::HashSet::new();
        for entry in entries {
            let Some(state) = self.peers.get_mut(&from) else {
                return;
            };
            state.ihave_received += 1;
            if state.ihave_received > max_ihave_messages || state.iasked >= max_ihave_length {
                self.counters.ihave_ignored += 1;
                continue;
            }
            let Some(topic) = entry.topic_id else {
                self.counters.ihave_ignored += 1;
                continue;
            };
            if !self.mesh.contains_key(&TopicHash::new(&topic)) {
                self.counters.ihave_ignored += 1;
                continue;
            }
            for id in entry
                .message_ids
                .into_iter()
                .take(self.config.limits.max_ids_per_control_entry)
            {
                if !self.valid_id(&id) {
                    continue;
                }
                let id = MessageId::new(&id);
                if !self.seen.contains(&id) && wanted_set.insert(id.clone()) {
                    wanted.push(id);
                }
            }
        }
        if wanted.is_empty() {
            return;
        }
        let Some(state) = self.peers.get(&from) else {
            return;
        };
        let room = max_ihave_length.saturating_sub(state.iasked);
        let wanted = if wanted.len() > room {
            self.sample_ids(wanted, room)
        } else {
            wanted
        };
        if wanted.is_empty() {
            return;
        }
        let expires = now + self.config.iwant_followup_time;
        self.promises.add(
            from,
            &wanted,
            expires,
            self.config.limits.max_promises_per_peer,
        );
        let n = wanted.len();
        if let Some(state) = self.peers.get_mut(&from) {
            state.iasked += n;
            state.queue.iwant(
                wanted.iter().map(|id| id.as_bytes().to_vec()).collect(),
                &self.config.limits,
            );
            state.last_sent = now;
        }
        self.counters.iwant_sent += n as u64;
        self.mark_ready(from);
    }

    fn sample_ids(&mut self, mut ids: Vec<MessageId>, n: usize) -> Vec<MessageId> {
        use rand::seq::SliceRandom;
        ids.shuffle(&mut self.rng);
        ids.truncate(n);
        ids
    }

    /// IWANT: reply with cached messages (each at most `gossip_retransmission` times).
    pub(crate) fn handle_iwant(&mut self, now: Instant, from: PeerId, entries: Vec<ControlIWant>) {
        if entries.is_empty() {
            return;
        }
        if let Some(t) = self.thresholds() {
            if self.score_of(&from) < t.gossip_threshold {
                return;
            }
        }
        let max_ids = self.config.limits.max_ids_per_control_entry;
        let mut frames: Vec<Bytes> = Vec::new();
        let mut seen_ids = 0usize;
        for entry in entries {
            for id in entry.message_ids {
                seen_ids += 1;
                if seen_ids > max_ids {
                    break;
                }
                if !self.valid_id(&id) {
                    continue;
                }
                self.counters.iwant_received += 1;
                let id = MessageId::new(&id);
                if let Some(frame) =
                    self.mcache
                        .get_for_iwant(&id, from, self.config.gossip_retransmission)
                {
                    frames.push(frame);
                }
            }
        }
        for frame in frames {
            if self.queue_frame(now, from, frame, Lane::Normal) {
                self.counters.iwant_replies += 1;
            }
        }
    }

    /// GRAFT: accept into the mesh or answer with PRUNE (direct peer, backoff, score,
    /// full mesh for inbound peers).
    pub(crate) fn handle_graft(&mut self, now: Instant, from: PeerId, entries: Vec<ControlGraft>) {
        for entry in entries {
            self.counters.graft_received += 1;
            let Some(topic) = entry.topic_id else {
                continue;
            };
            let topic = TopicHash::new(&topic);
            let Some(mesh) = self.mesh.get(&topic) else {
                continue; // not subscribed: ignore
            };
            if mesh.contains(&from) {
                continue;
            }
            let prune_backoff = self.config.prune_backoff;
            if self.config.direct_peers.contains(&from) {
                tracing::debug!(peer = %from, %topic, "GRAFT from a direct peer");
                self.send_prune(now, &topic, from, prune_backoff, false);
                continue;
            }
            if let Some(until) = self.backoffs.get(&topic, &from) {
                if now < until {
                    self.counters.backoff_violations += 1;
                    // The PRUNE was sent at `until - prune_backoff`; grafting within
                    // graft_flood_threshold of it is penalised twice.
                    let pruned_at = until.checked_sub(prune_backoff).unwrap_or(until);
                    let penalty = if now < pruned_at + self.config.graft_flood_threshold {
                        2
                    } else {
                        1
                    };
                    if let Some((score, _)) = &mut self.score {
                        score.add_penalty(&from, penalty);
                    }
                    // Answer with the remaining backoff (do not extend it).
                    let remaining = until
                        .saturating_duration_since(now)
                        .max(Duration::from_secs(1));
                    self.send_prune(now, &topic, from, remaining, false);
                    continue;
                }
            }
            if self.score_of(&from) < 0.0 {
                self.send_prune(now, &topic, from, prune_backoff, false);
                continue;
            }
            let outbound = self.peers.get(&from).is_some_and(|s| s.conn.outbound);
            let mesh_len = self.mesh.get(&topic).map_or(0, |m| m.len());
            if mesh_len >= self.config.mesh_n_high && !outbound {
                self.send_prune(now, &topic, from, prune_backoff, true);
                continue;
            }
            if let Some(mesh) = self.mesh.get_mut(&topic) {
                mesh.insert(from);
            }
            if let Some((score, _)) = &mut self.score {
                score.graft(now, &from, &topic);
            }
        }
    }

    /// PRUNE: leave the mesh, honour the backoff, accept PX if the score allows it.
    pub(crate) fn handle_prune(&mut self, now: Instant, from: PeerId, entries: Vec<ControlPrune>) {
        for entry in entries {
            self.counters.prune_received += 1;
            let Some(topic) = entry.topic_id else {
                continue;
            };
            let topic = TopicHash::new(&topic);
            // Only topics we are subscribed to: backoffs and PX for arbitrary topic
            // strings would let a peer grow our tables at will.
            let Some(mesh) = self.mesh.get_mut(&topic) else {
                continue;
            };
            if mesh.remove(&from) {
                if let Some((score, _)) = &mut self.score {
                    score.prune(&from, &topic);
                }
            }
            let backoff = entry
                .backoff
                .map(|s| Duration::from_secs(s.min(24 * 3600)))
                .unwrap_or(self.config.prune_backoff);
            self.backoffs.update(&topic, from, now + backoff);
            if entry.peers.is_empty() {
                continue;
            }
            if let Some(t) = self.thresholds() {
                if self.score_of(&from) < t.accept_px_threshold {
                    continue;
                }
            }
            let max = self.config.limits.max_px_peers_per_prune;
            let peers: Vec<PxPeer> = entry
                .peers
                .into_iter()
                .take(max)
                .filter_map(|info| {
                    let peer_id = PeerId::from_bytes(info.peer_id.as_deref()?).ok()?;
                    Some(PxPeer {
                        peer_id,
                        signed_peer_record: info.signed_peer_record.map(Bytes::from),
                    })
                })
                .filter(|p| !self.peers.contains_key(&p.peer_id))
                .collect();
            if !peers.is_empty() {
                self.counters.px_peers_received += peers.len() as u64;
                self.push_event(Event::PeerExchange { from, topic, peers });
            }
        }
    }
}
