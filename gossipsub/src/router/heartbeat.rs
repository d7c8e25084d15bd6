//! The heartbeat: mesh maintenance, fanout upkeep, gossip emission, cache shifts.

use std::collections::BTreeSet;
use std::time::Instant;

use leanp2p_identity::PeerId;

use super::Gossipsub;
use crate::event::Event;
use crate::types::{MessageId, TopicHash};

impl Gossipsub {
    pub(crate) fn heartbeat(&mut self, now: Instant) {
        self.counters.heartbeats += 1;
        self.heartbeat_ticks += 1;

        // Broken IWANT promises: P7.
        let broken = self.promises.take_broken(now);
        for (peer, count) in broken {
            self.counters.broken_promises += count as u64;
            if let Some((score, _)) = &mut self.score {
                score.add_penalty(&peer, count);
            }
        }

        let topics: Vec<TopicHash> = self.mesh.keys().cloned().collect();
        for topic in &topics {
            self.maintain_mesh(now, topic);
        }
        self.maintain_fanout(now);
        self.emit_gossip(now);

        // Shifts and expiries.
        self.mcache.shift();
        self.seen.expire(now);
        self.seen_raw.expire(now);
        let slack = self.config.heartbeat_interval * self.config.backoff_slack;
        self.backoffs.expire(now, slack);
        let keepalive = self.config.idle_keepalive;
        let mut idle = Vec::new();
        for (peer, state) in self.peers.iter_mut() {
            state.ihave_received = 0;
            state.iasked = 0;
            state.subscription_changes = 0;
            state.dont_send.expire(now);
            if let Some(keepalive) = keepalive {
                if now.saturating_duration_since(state.last_sent) >= keepalive
                    && state.queue.is_empty()
                {
                    state.queue.keepalive();
                    state.last_sent = now;
                    idle.push(*peer);
                }
            }
        }
        for peer in idle {
            self.mark_ready(peer);
        }

        // Direct peers: ask the host to (re)dial the missing ones.
        if self.config.direct_connect_ticks > 0
            && self.heartbeat_ticks % self.config.direct_connect_ticks == 0
        {
            let missing: Vec<PeerId> = self
                .config
                .direct_peers
                .iter()
                .filter(|p| !self.peers.contains_key(p))
                .copied()
                .collect();
            for peer in missing {
                self.push_event(Event::DialDirectPeer { peer });
            }
        }
    }

    fn maintain_mesh(&mut self, now: Instant, topic: &TopicHash) {
        let prune_backoff = self.config.prune_backoff;
        let Some(mesh) = self.mesh.get(topic).cloned() else {
            return;
        };
        // Negative-score peers and peers that left the topic go.
        let mut mesh_now = BTreeSet::new();
        for peer in mesh {
            let subscribed = self
                .peers
                .get(&peer)
                .is_some_and(|s| s.topics.contains(topic));
            if !subscribed {
                self.remove_from_mesh(topic, &peer);
                continue;
            }
            if self.score_of(&peer) < 0.0 {
                self.remove_from_mesh(topic, &peer);
                self.send_prune(now, topic, peer, prune_backoff, false);
                continue;
            }
            mesh_now.insert(peer);
        }

        let (d, d_lo, d_hi) = (
            self.config.mesh_n,
            self.config.mesh_n_low,
            self.config.mesh_n_high,
        );
        if mesh_now.len() < d_lo {
            let candidates = self.graft_candidates(now, topic, &mesh_now, |_| true);
            let need = d - mesh_now.len();
            for peer in self.sample(candidates, need) {
                mesh_now.insert(peer);
                self.graft_peer(now, topic, peer);
            }
        } else if mesh_now.len() > d_hi {
            self.prune_oversubscribed(now, topic, &mut mesh_now);
        }

        // Keep at least D_out outbound peers.
        if mesh_now.len() >= d_lo {
            let outbound = mesh_now.iter().filter(|p| self.is_outbound(p)).count();
            if outbound < self.config.mesh_outbound_min {
                let need = self.config.mesh_outbound_min - outbound;
                let candidates = self.graft_candidates(now, topic, &mesh_now, |s| s.conn.outbound);
                for peer in self.sample(candidates, need) {
                    mesh_now.insert(peer);
                    self.graft_peer(now, topic, peer);
                }
            }
        }

        // Opportunistic grafting.
        let ticks = self.config.opportunistic_graft_ticks;
        if ticks > 0 && self.heartbeat_ticks % ticks == 0 && mesh_now.len() > 1 {
            if let Some(threshold) = self.thresholds().map(|t| t.opportunistic_graft_threshold) {
                let mut scores: Vec<f64> = mesh_now.iter().map(|p| self.score_of(p)).collect();
                scores.sort_by(|a, b| a.total_cmp(b));
                let median = scores[scores.len() / 2];
                if median < threshold {
                    let candidates: Vec<PeerId> = self
                        .graft_candidates(now, topic, &mesh_now, |_| true)
                        .into_iter()
                        .filter(|p| self.score_of(p) > median)
                        .collect();
                    let n = self.config.opportunistic_graft_peers;
                    for peer in self.sample(candidates, n) {
                        mesh_now.insert(peer);
                        self.graft_peer(now, topic, peer);
                    }
                }
            }
        }
    }

    fn is_outbound(&self, peer: &PeerId) -> bool {
        self.peers.get(peer).is_some_and(|s| s.conn.outbound)
    }

    fn remove_from_mesh(&mut self, topic: &TopicHash, peer: &PeerId) {
        if let Some(mesh) = self.mesh.get_mut(topic) {
            if mesh.remove(peer) {
                if let Some((score, _)) = &mut self.score {
                    score.prune(peer, topic);
                }
            }
        }
    }

    /// More than D_hi peers: keep the D_score best, fill to D at random while keeping
    /// D_out outbound peers, PRUNE (with PX) the rest.
    fn prune_oversubscribed(
        &mut self,
        now: Instant,
        topic: &TopicHash,
        mesh: &mut BTreeSet<PeerId>,
    ) {
        use rand::seq::SliceRandom;
        let d = self.config.mesh_n;
        let mut peers: Vec<PeerId> = mesh.iter().copied().collect();
        peers.shuffle(&mut self.rng);
        // Stable sort by score (descending) after the shuffle: ties stay random.
        let scores: std::collections::BTreeMap<PeerId, f64> =
            peers.iter().map(|p| (*p, self.score_of(p))).collect();
        peers.sort_by(|a, b| scores[b].total_cmp(&scores[a]));
        let retain = self.config.retain_scores.min(d);
        let (best, rest) = peers.split_at(retain);
        let mut rest = rest.to_vec();
        rest.shuffle(&mut self.rng);
        let mut keep: Vec<PeerId> = best.to_vec();
        keep.extend(rest.iter().take(d - retain));
        let mut removed: Vec<PeerId> = rest.into_iter().skip(d - retain).collect();
        // Ensure D_out outbound peers among the kept ones.
        let mut outbound = keep.iter().filter(|p| self.is_outbound(p)).count();
        while outbound < self.config.mesh_outbound_min {
            let Some(pos_in) = removed.iter().position(|p| self.is_outbound(p)) else {
                break;
            };
            // Replace the last kept inbound peer outside the score-retained prefix.
            let Some(pos_out) = keep.iter().rposition(|p| !self.is_outbound(p)) else {
                break;
            };
            let incoming = removed.remove(pos_in);
            let outgoing = std::mem::replace(&mut keep[pos_out], incoming);
            removed.push(outgoing);
            outbound += 1;
        }
        let prune_backoff = self.config.prune_backoff;
        for peer in removed {
            mesh.remove(&peer);
            self.remove_from_mesh(topic, &peer);
            self.send_prune(now, topic, peer, prune_backoff, true);
        }
    }

    fn maintain_fanout(&mut self, now: Instant) {
        let ttl = self.config.fanout_ttl;
        let expired: Vec<TopicHash> = self
            .fanout_last_pub
            .iter()
            .filter(|(_, last)| now.saturating_duration_since(**last) >= ttl)
            .map(|(t, _)| t.clone())
            .collect();
        for topic in expired {
            self.fanout.remove(&topic);
            self.fanout_last_pub.remove(&topic);
        }
        let publish_threshold = self
            .thresholds()
            .map_or(f64::NEG_INFINITY, |t| t.publish_threshold);
        let topics: Vec<TopicHash> = self.fanout.keys().cloned().collect();
        for topic in topics {
            let Some(current) = self.fanout.get(&topic).cloned() else {
                continue;
            };
            let mut kept: BTreeSet<PeerId> = current
                .into_iter()
                .filter(|p| self.peers.get(p).is_some_and(|s| s.topics.contains(&topic)))
                .filter(|p| self.score_of(p) >= publish_threshold)
                .collect();
            if kept.len() < self.config.mesh_n {
                let candidates: Vec<PeerId> = self
                    .topic_peers
                    .get(&topic)
                    .into_iter()
                    .flatten()
                    .filter(|p| !kept.contains(p) && !self.config.direct_peers.contains(p))
                    .filter(|p| self.score_of(p) >= publish_threshold)
                    .copied()
                    .collect();
                let need = self.config.mesh_n - kept.len();
                kept.extend(self.sample(candidates, need));
            }
            self.fanout.insert(topic, kept);
        }
    }

    fn emit_gossip(&mut self, now: Instant) {
        let gossip_threshold = self
            .thresholds()
            .map_or(f64::NEG_INFINITY, |t| t.gossip_threshold);
        let topics: BTreeSet<TopicHash> = self
            .mesh
            .keys()
            .chain(self.fanout.keys())
            .cloned()
            .collect();
        for topic in topics {
            let ids = self.mcache.gossip_ids(&topic);
            if ids.is_empty() {
                continue;
            }
            let empty = BTreeSet::new();
            let mesh = self.mesh.get(&topic).unwrap_or(&empty);
            let fanout = self.fanout.get(&topic).unwrap_or(&empty);
            let candidates: Vec<PeerId> = self
                .topic_peers
                .get(&topic)
                .into_iter()
                .flatten()
                .filter(|p| !mesh.contains(p) && !fanout.contains(p))
                .filter(|p| !self.config.direct_peers.contains(p))
                .filter(|p| self.score_of(p) >= gossip_threshold)
                .copied()
                .collect();
            let factor = (self.config.gossip_factor * candidates.len() as f64) as usize;
            let n = self.config.gossip_lazy.max(factor);
            let chosen = self.sample(candidates, n);
            for peer in chosen {
                let mut peer_ids: Vec<MessageId> = ids.clone();
                if peer_ids.len() > self.config.max_ihave_length {
                    use rand::seq::SliceRandom;
                    peer_ids.shuffle(&mut self.rng);
                    peer_ids.truncate(self.config.max_ihave_length);
                }
                // Skip ids the peer said it does not want.
                let Some(state) = self.peers.get_mut(&peer) else {
                    continue;
                };
                let raw: Vec<Vec<u8>> = peer_ids
                    .iter()
                    .filter(|id| !state.dont_send.contains(now, id))
                    .map(|id| id.as_bytes().to_vec())
                    .collect();
                if raw.is_empty() {
                    continue;
                }
                state.queue.ihave(&topic, raw, &self.config.limits);
                state.last_sent = now;
                self.counters.ihave_sent += 1;
                self.mark_ready(peer);
            }
        }
    }
}
