//! Peer scoring v1.1 (P1–P7): counters, decay and the score function.

mod params;

pub use params::{PeerScoreParams, PeerScoreThresholds, TopicScoreParams};

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use leanp2p_identity::PeerId;

use crate::types::{MessageId, TopicHash};

/// Per-topic counters of one peer.
#[derive(Clone, Debug, Default)]
struct TopicStats {
    /// Graft time, when in the mesh.
    grafted_at: Option<Instant>,
    mesh_time: Duration,
    first_message_deliveries: f64,
    mesh_message_deliveries_active: bool,
    mesh_message_deliveries: f64,
    mesh_failure_penalty: f64,
    invalid_message_deliveries: f64,
}

#[derive(Clone, Debug)]
struct PeerStats {
    connected: bool,
    /// When the stats of a disconnected peer are forgotten.
    expire: Option<Instant>,
    topics: BTreeMap<TopicHash, TopicStats>,
    ip: Option<IpAddr>,
    behaviour_penalty: f64,
    application_score: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeliveryStatus {
    Unknown,
    Valid(Instant),
    Invalid,
    Ignored,
}

#[derive(Clone, Debug)]
struct DeliveryRecord {
    status: DeliveryStatus,
    /// Peers that delivered a duplicate while the message was being validated.
    peers: BTreeSet<PeerId>,
}

/// Score keeping for all known peers.
#[derive(Debug)]
pub(crate) struct PeerScore {
    params: PeerScoreParams,
    peers: BTreeMap<PeerId, PeerStats>,
    ips: BTreeMap<IpAddr, BTreeSet<PeerId>>,
    deliveries: HashMap<MessageId, DeliveryRecord>,
    delivery_order: VecDeque<(Instant, MessageId)>,
    delivery_ttl: Duration,
    max_deliveries: usize,
}

impl PeerScore {
    pub(crate) fn new(
        params: PeerScoreParams,
        delivery_ttl: Duration,
        max_deliveries: usize,
    ) -> Self {
        Self {
            params,
            peers: BTreeMap::new(),
            ips: BTreeMap::new(),
            deliveries: HashMap::new(),
            delivery_order: VecDeque::new(),
            delivery_ttl,
            max_deliveries,
        }
    }

    pub(crate) fn decay_interval(&self) -> Duration {
        self.params.decay_interval
    }

    /// The score of `peer` (0 for unknown peers).
    pub(crate) fn score(&self, peer: &PeerId) -> f64 {
        let Some(stats) = self.peers.get(peer) else {
            return 0.0;
        };
        let mut score = 0.0;
        for (topic, ts) in &stats.topics {
            let Some(tp) = self.params.topics.get(topic) else {
                continue;
            };
            let mut topic_score = 0.0;
            if ts.grafted_at.is_some() {
                let p1 = (ts.mesh_time.as_secs_f64() / tp.time_in_mesh_quantum.as_secs_f64())
                    .min(tp.time_in_mesh_cap);
                topic_score += p1 * tp.time_in_mesh_weight;
            }
            topic_score += ts.first_message_deliveries * tp.first_message_deliveries_weight;
            if ts.mesh_message_deliveries_active
                && ts.mesh_message_deliveries < tp.mesh_message_deliveries_threshold
            {
                let deficit = tp.mesh_message_deliveries_threshold - ts.mesh_message_deliveries;
                topic_score += deficit * deficit * tp.mesh_message_deliveries_weight;
            }
            topic_score += ts.mesh_failure_penalty * tp.mesh_failure_penalty_weight;
            topic_score += ts.invalid_message_deliveries
                * ts.invalid_message_deliveries
                * tp.invalid_message_deliveries_weight;
            score += topic_score * tp.topic_weight;
        }
        if self.params.topic_score_cap > 0.0 && score > self.params.topic_score_cap {
            score = self.params.topic_score_cap;
        }
        score += stats.application_score * self.params.app_specific_weight;
        if let Some(ip) = stats.ip {
            if !self.params.ip_colocation_factor_whitelist.contains(&ip) {
                let count = self.ips.get(&ip).map_or(0, BTreeSet::len) as f64;
                if count > self.params.ip_colocation_factor_threshold {
                    let surplus = count - self.params.ip_colocation_factor_threshold;
                    score += surplus * surplus * self.params.ip_colocation_factor_weight;
                }
            }
        }
        if stats.behaviour_penalty > self.params.behaviour_penalty_threshold {
            let excess = stats.behaviour_penalty - self.params.behaviour_penalty_threshold;
            score += excess * excess * self.params.behaviour_penalty_weight;
        }
        score
    }

    pub(crate) fn add_peer(&mut self, peer: PeerId, ip: Option<IpAddr>) {
        let stats = self.peers.entry(peer).or_insert_with(|| PeerStats {
            connected: true,
            expire: None,
            topics: BTreeMap::new(),
            ip: None,
            behaviour_penalty: 0.0,
            application_score: 0.0,
        });
        stats.connected = true;
        stats.expire = None;
        if let Some(old) = stats.ip.take() {
            if let Some(set) = self.ips.get_mut(&old) {
                set.remove(&peer);
                if set.is_empty() {
                    self.ips.remove(&old);
                }
            }
        }
        if let Some(ip) = ip {
            stats.ip = Some(ip);
            self.ips.entry(ip).or_default().insert(peer);
        }
    }

    /// Marks `peer` disconnected: applies mesh failure penalties and keeps its counters for
    /// `retain_score` if its score is not positive (so reconnecting does not reset it).
    pub(crate) fn remove_peer(&mut self, now: Instant, peer: &PeerId) {
        let score = self.score(peer);
        let Some(stats) = self.peers.get_mut(peer) else {
            return;
        };
        if let Some(ip) = stats.ip {
            if let Some(set) = self.ips.get_mut(&ip) {
                set.remove(peer);
                if set.is_empty() {
                    self.ips.remove(&ip);
                }
            }
        }
        if score > 0.0 {
            self.peers.remove(peer);
            return;
        }
        for (topic, ts) in stats.topics.iter_mut() {
            ts.first_message_deliveries = 0.0;
            if let Some(tp) = self.params.topics.get(topic) {
                apply_mesh_failure(ts, tp);
            }
            ts.grafted_at = None;
            ts.mesh_message_deliveries_active = false;
        }
        stats.connected = false;
        stats.expire = Some(now + self.params.retain_score);
    }

    pub(crate) fn graft(&mut self, now: Instant, peer: &PeerId, topic: &TopicHash) {
        if let Some(ts) = self.topic_stats(peer, topic) {
            ts.grafted_at = Some(now);
            ts.mesh_time = Duration::ZERO;
            ts.mesh_message_deliveries_active = false;
        }
    }

    pub(crate) fn prune(&mut self, peer: &PeerId, topic: &TopicHash) {
        let Some(tp) = self.params.topics.get(topic).cloned() else {
            return;
        };
        if let Some(ts) = self.topic_stats(peer, topic) {
            apply_mesh_failure(ts, &tp);
            ts.grafted_at = None;
            ts.mesh_message_deliveries_active = false;
        }
    }

    /// P7: adds `count` to the behaviour penalty counter.
    pub(crate) fn add_penalty(&mut self, peer: &PeerId, count: usize) {
        if let Some(stats) = self.peers.get_mut(peer) {
            stats.behaviour_penalty += count as f64;
        }
    }

    /// P5: sets the application-specific score.
    pub(crate) fn set_application_score(&mut self, peer: &PeerId, score: f64) -> bool {
        match self.peers.get_mut(peer) {
            Some(stats) => {
                stats.application_score = score;
                true
            }
            None => false,
        }
    }

    /// Decays every counter, updates mesh times and forgets expired disconnected peers.
    pub(crate) fn refresh(&mut self, now: Instant) {
        let params = &self.params;
        self.peers.retain(|_, stats| {
            if !stats.connected {
                return stats.expire.is_none_or(|expire| now < expire);
            }
            for (topic, ts) in stats.topics.iter_mut() {
                let Some(tp) = params.topics.get(topic) else {
                    continue;
                };
                ts.first_message_deliveries = decay(
                    ts.first_message_deliveries,
                    tp.first_message_deliveries_decay,
                    params,
                );
                ts.mesh_message_deliveries = decay(
                    ts.mesh_message_deliveries,
                    tp.mesh_message_deliveries_decay,
                    params,
                );
                ts.mesh_failure_penalty = decay(
                    ts.mesh_failure_penalty,
                    tp.mesh_failure_penalty_decay,
                    params,
                );
                ts.invalid_message_deliveries = decay(
                    ts.invalid_message_deliveries,
                    tp.invalid_message_deliveries_decay,
                    params,
                );
                if let Some(grafted_at) = ts.grafted_at {
                    ts.mesh_time = now.saturating_duration_since(grafted_at);
                    if ts.mesh_time > tp.mesh_message_deliveries_activation {
                        ts.mesh_message_deliveries_active = true;
                    }
                }
            }
            stats.behaviour_penalty = decay(
                stats.behaviour_penalty,
                params.behaviour_penalty_decay,
                params,
            );
            true
        });
        while let Some((at, _)) = self.delivery_order.front() {
            if now.saturating_duration_since(*at) < self.delivery_ttl {
                break;
            }
            if let Some((_, id)) = self.delivery_order.pop_front() {
                self.deliveries.remove(&id);
            }
        }
    }

    /// A new message from `from` entered validation.
    pub(crate) fn validate_message(&mut self, now: Instant, _from: &PeerId, id: &MessageId) {
        if self.deliveries.contains_key(id) {
            return;
        }
        if self.deliveries.len() >= self.max_deliveries {
            if let Some((_, old)) = self.delivery_order.pop_front() {
                self.deliveries.remove(&old);
            }
        }
        self.deliveries.insert(
            id.clone(),
            DeliveryRecord {
                status: DeliveryStatus::Unknown,
                peers: BTreeSet::new(),
            },
        );
        self.delivery_order.push_back((now, id.clone()));
    }

    /// The message was accepted: P2 for the first deliverer, P3 for duplicates seen during
    /// validation.
    pub(crate) fn deliver_message(
        &mut self,
        now: Instant,
        from: &PeerId,
        id: &MessageId,
        topic: &TopicHash,
    ) {
        self.mark_first_delivery(from, topic);
        let peers = match self.deliveries.get_mut(id) {
            Some(record) => {
                record.status = DeliveryStatus::Valid(now);
                std::mem::take(&mut record.peers)
            }
            None => BTreeSet::new(),
        };
        for peer in peers {
            if peer != *from {
                self.mark_duplicate_delivery(now, &peer, topic, None);
            }
        }
    }

    /// The message failed validation (`invalid`) or was ignored.
    pub(crate) fn reject_message(
        &mut self,
        from: &PeerId,
        id: &MessageId,
        topic: &TopicHash,
        invalid: bool,
    ) {
        let peers = match self.deliveries.get_mut(id) {
            Some(record) => {
                record.status = if invalid {
                    DeliveryStatus::Invalid
                } else {
                    DeliveryStatus::Ignored
                };
                std::mem::take(&mut record.peers)
            }
            None => BTreeSet::new(),
        };
        if invalid {
            self.mark_invalid(from, topic);
            for peer in peers {
                self.mark_invalid(&peer, topic);
            }
        }
    }

    /// A message that failed checks before validation (bad signature, forbidden fields):
    /// P4 for the sender only.
    pub(crate) fn reject_invalid(&mut self, from: &PeerId, topic: &TopicHash) {
        self.mark_invalid(from, topic);
    }

    /// `from` delivered a message we had already seen.
    pub(crate) fn duplicated_message(
        &mut self,
        now: Instant,
        from: &PeerId,
        id: &MessageId,
        topic: &TopicHash,
    ) {
        let Some(record) = self.deliveries.get_mut(id) else {
            return;
        };
        if !record.peers.insert(*from) {
            return;
        }
        match record.status {
            DeliveryStatus::Unknown => {}
            DeliveryStatus::Valid(validated) => {
                self.mark_duplicate_delivery(now, from, topic, Some(validated));
            }
            DeliveryStatus::Invalid => self.mark_invalid(from, topic),
            DeliveryStatus::Ignored => {}
        }
    }

    fn mark_first_delivery(&mut self, peer: &PeerId, topic: &TopicHash) {
        let Some(tp) = self.params.topics.get(topic).cloned() else {
            return;
        };
        if let Some(ts) = self.topic_stats(peer, topic) {
            ts.first_message_deliveries =
                (ts.first_message_deliveries + 1.0).min(tp.first_message_deliveries_cap);
            if ts.grafted_at.is_some() {
                ts.mesh_message_deliveries =
                    (ts.mesh_message_deliveries + 1.0).min(tp.mesh_message_deliveries_cap);
            }
        }
    }

    fn mark_duplicate_delivery(
        &mut self,
        now: Instant,
        peer: &PeerId,
        topic: &TopicHash,
        validated: Option<Instant>,
    ) {
        let Some(tp) = self.params.topics.get(topic).cloned() else {
            return;
        };
        if let Some(ts) = self.topic_stats(peer, topic) {
            if ts.grafted_at.is_none() {
                return;
            }
            if let Some(validated) = validated {
                if now.saturating_duration_since(validated) > tp.mesh_message_deliveries_window {
                    return;
                }
            }
            ts.mesh_message_deliveries =
                (ts.mesh_message_deliveries + 1.0).min(tp.mesh_message_deliveries_cap);
        }
    }

    fn mark_invalid(&mut self, peer: &PeerId, topic: &TopicHash) {
        if !self.params.topics.contains_key(topic) {
            return;
        }
        if let Some(ts) = self.topic_stats(peer, topic) {
            ts.invalid_message_deliveries += 1.0;
        }
    }

    /// Topic counters of a known peer for a scored topic.
    fn topic_stats(&mut self, peer: &PeerId, topic: &TopicHash) -> Option<&mut TopicStats> {
        if !self.params.topics.contains_key(topic) {
            return None;
        }
        let stats = self.peers.get_mut(peer)?;
        Some(stats.topics.entry(topic.clone()).or_default())
    }
}

fn apply_mesh_failure(ts: &mut TopicStats, tp: &TopicScoreParams) {
    if ts.mesh_message_deliveries_active
        && ts.mesh_message_deliveries < tp.mesh_message_deliveries_threshold
    {
        let deficit = tp.mesh_message_deliveries_threshold - ts.mesh_message_deliveries;
        ts.mesh_failure_penalty += deficit * deficit;
    }
}

fn decay(value: f64, factor: f64, params: &PeerScoreParams) -> f64 {
    let v = value * factor;
    if v.abs() < params.decay_to_zero {
        0.0
    } else {
        v
    }
}
