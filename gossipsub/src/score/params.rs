//! Peer-score parameters and thresholds (gossipsub v1.1).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use crate::error::ConfigError;
use crate::types::TopicHash;

/// Score thresholds. Constraints: `graylist ≤ publish ≤ gossip ≤ 0`, `accept_px ≥ 0`,
/// `opportunistic_graft ≥ 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerScoreThresholds {
    /// Below this, no gossip is sent to or accepted from the peer.
    pub gossip_threshold: f64,
    /// Below this, our own publishes are not sent to the peer.
    pub publish_threshold: f64,
    /// Below this, every RPC from the peer is ignored.
    pub graylist_threshold: f64,
    /// PX from a peer is accepted only at or above this.
    pub accept_px_threshold: f64,
    /// Opportunistic grafting triggers when the mesh median falls below this.
    pub opportunistic_graft_threshold: f64,
}

impl Default for PeerScoreThresholds {
    fn default() -> Self {
        Self {
            gossip_threshold: -10.0,
            publish_threshold: -50.0,
            graylist_threshold: -80.0,
            accept_px_threshold: 10.0,
            opportunistic_graft_threshold: 20.0,
        }
    }
}

impl PeerScoreThresholds {
    /// Checks the ordering constraints.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.gossip_threshold > 0.0 {
            return Err(ConfigError::InvalidScore("gossip_threshold must be ≤ 0"));
        }
        if self.publish_threshold > 0.0 || self.publish_threshold > self.gossip_threshold {
            return Err(ConfigError::InvalidScore(
                "publish_threshold must be ≤ gossip_threshold",
            ));
        }
        if self.graylist_threshold > 0.0 || self.graylist_threshold > self.publish_threshold {
            return Err(ConfigError::InvalidScore(
                "graylist_threshold must be ≤ publish_threshold",
            ));
        }
        if self.accept_px_threshold < 0.0 {
            return Err(ConfigError::InvalidScore("accept_px_threshold must be ≥ 0"));
        }
        if self.opportunistic_graft_threshold < 0.0 {
            return Err(ConfigError::InvalidScore(
                "opportunistic_graft_threshold must be ≥ 0",
            ));
        }
        Ok(())
    }
}

/// Global peer-score parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerScoreParams {
    /// Per-topic parameters; topics not listed do not contribute P1–P4.
    pub topics: BTreeMap<TopicHash, TopicScoreParams>,
    /// Cap on the (positive) sum of topic contributions; 0 = no cap.
    pub topic_score_cap: f64,
    /// P5 weight (application-specific score).
    pub app_specific_weight: f64,
    /// P6 weight (IP colocation), ≤ 0.
    pub ip_colocation_factor_weight: f64,
    /// P6 threshold: peers per IP tolerated without penalty (≥ 1).
    pub ip_colocation_factor_threshold: f64,
    /// IPs exempt from P6.
    pub ip_colocation_factor_whitelist: BTreeSet<IpAddr>,
    /// P7 weight (behaviour penalty), ≤ 0.
    pub behaviour_penalty_weight: f64,
    /// P7 counter value tolerated without penalty.
    pub behaviour_penalty_threshold: f64,
    /// P7 counter decay per decay interval, in (0, 1).
    pub behaviour_penalty_decay: f64,
    /// How often counters decay.
    pub decay_interval: Duration,
    /// Counters below this become 0.
    pub decay_to_zero: f64,
    /// How long the score of a disconnected peer is remembered.
    pub retain_score: Duration,
}

impl Default for PeerScoreParams {
    fn default() -> Self {
        Self {
            topics: BTreeMap::new(),
            topic_score_cap: 3600.0,
            app_specific_weight: 10.0,
            ip_colocation_factor_weight: -5.0,
            ip_colocation_factor_threshold: 10.0,
            ip_colocation_factor_whitelist: BTreeSet::new(),
            behaviour_penalty_weight: -10.0,
            behaviour_penalty_threshold: 0.0,
            behaviour_penalty_decay: 0.2,
            decay_interval: Duration::from_secs(1),
            decay_to_zero: 0.1,
            retain_score: Duration::from_secs(3600),
        }
    }
}

fn is_decay(x: f64) -> bool {
    x > 0.0 && x < 1.0
}

impl PeerScoreParams {
    /// Checks signs, ranges and every topic's parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for topic in self.topics.values() {
            topic.validate()?;
        }
        if self.topic_score_cap < 0.0 {
            return Err(ConfigError::InvalidScore("topic_score_cap must be ≥ 0"));
        }
        if self.ip_colocation_factor_weight > 0.0 {
            return Err(ConfigError::InvalidScore(
                "ip_colocation_factor_weight must be ≤ 0",
            ));
        }
        if self.ip_colocation_factor_weight != 0.0 && self.ip_colocation_factor_threshold < 1.0 {
            return Err(ConfigError::InvalidScore(
                "ip_colocation_factor_threshold must be ≥ 1",
            ));
        }
        if self.behaviour_penalty_weight > 0.0 {
            return Err(ConfigError::InvalidScore(
                "behaviour_penalty_weight must be ≤ 0",
            ));
        }
        if self.behaviour_penalty_weight != 0.0 && !is_decay(self.behaviour_penalty_decay) {
            return Err(ConfigError::InvalidScore(
                "behaviour_penalty_decay must be in (0, 1)",
            ));
        }
        if self.decay_interval.is_zero() {
            return Err(ConfigError::InvalidScore("decay_interval must be positive"));
        }
        if !is_decay(self.decay_to_zero) {
            return Err(ConfigError::InvalidScore("decay_to_zero must be in (0, 1)"));
        }
        Ok(())
    }
}

/// Per-topic score parameters (P1–P4).
#[derive(Clone, Debug, PartialEq)]
pub struct TopicScoreParams {
    /// Weight of this topic's sum, ≥ 0.
    pub topic_weight: f64,
    /// P1 weight (time in mesh), ≥ 0.
    pub time_in_mesh_weight: f64,
    /// P1 quantum.
    pub time_in_mesh_quantum: Duration,
    /// P1 cap.
    pub time_in_mesh_cap: f64,
    /// P2 weight (first deliveries), ≥ 0.
    pub first_message_deliveries_weight: f64,
    /// P2 decay.
    pub first_message_deliveries_decay: f64,
    /// P2 cap.
    pub first_message_deliveries_cap: f64,
    /// P3 weight (mesh delivery deficit), ≤ 0.
    pub mesh_message_deliveries_weight: f64,
    /// P3 decay.
    pub mesh_message_deliveries_decay: f64,
    /// P3 cap.
    pub mesh_message_deliveries_cap: f64,
    /// P3 threshold: deliveries expected per decay horizon.
    pub mesh_message_deliveries_threshold: f64,
    /// Duplicates within this time after validation still count as mesh deliveries.
    pub mesh_message_deliveries_window: Duration,
    /// P3 only applies after the peer was in the mesh this long.
    pub mesh_message_deliveries_activation: Duration,
    /// P3b weight (mesh failure penalty), ≤ 0.
    pub mesh_failure_penalty_weight: f64,
    /// P3b decay.
    pub mesh_failure_penalty_decay: f64,
    /// P4 weight (invalid messages), ≤ 0.
    pub invalid_message_deliveries_weight: f64,
    /// P4 decay.
    pub invalid_message_deliveries_decay: f64,
}

impl Default for TopicScoreParams {
    fn default() -> Self {
        Self {
            topic_weight: 0.5,
            time_in_mesh_weight: 1.0,
            time_in_mesh_quantum: Duration::from_millis(1),
            time_in_mesh_cap: 3600.0,
            first_message_deliveries_weight: 1.0,
            first_message_deliveries_decay: 0.5,
            first_message_deliveries_cap: 2000.0,
            mesh_message_deliveries_weight: -1.0,
            mesh_message_deliveries_decay: 0.5,
            mesh_message_deliveries_cap: 100.0,
            mesh_message_deliveries_threshold: 20.0,
            mesh_message_deliveries_window: Duration::from_millis(10),
            mesh_message_deliveries_activation: Duration::from_secs(5),
            mesh_failure_penalty_weight: -1.0,
            mesh_failure_penalty_decay: 0.5,
            invalid_message_deliveries_weight: -1.0,
            invalid_message_deliveries_decay: 0.3,
        }
    }
}

impl TopicScoreParams {
    /// Checks signs and ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(bool, &'static str); 12] = [
            (self.topic_weight >= 0.0, "topic_weight must be ≥ 0"),
            (
                self.time_in_mesh_weight >= 0.0,
                "time_in_mesh_weight must be ≥ 0",
            ),
            (
                !self.time_in_mesh_quantum.is_zero(),
                "time_in_mesh_quantum must be positive",
            ),
            (self.time_in_mesh_cap >= 0.0, "time_in_mesh_cap must be ≥ 0"),
            (
                self.first_message_deliveries_weight >= 0.0,
                "first_message_deliveries_weight ≥ 0",
            ),
            (
                is_decay(self.first_message_deliveries_decay),
                "first_message_deliveries_decay",
            ),
            (
                self.mesh_message_deliveries_weight <= 0.0,
                "mesh_message_deliveries_weight ≤ 0",
            ),
            (
                is_decay(self.mesh_message_deliveries_decay),
                "mesh_message_deliveries_decay",
            ),
            (
                self.mesh_message_deliveries_threshold > 0.0,
                "mesh_message_deliveries_threshold",
            ),
            (
                self.mesh_failure_penalty_weight <= 0.0,
                "mesh_failure_penalty_weight ≤ 0",
            ),
            (
                is_decay(self.mesh_failure_penalty_decay),
                "mesh_failure_penalty_decay",
            ),
            (
                self.invalid_message_deliveries_weight <= 0.0
                    && is_decay(self.invalid_message_deliveries_decay),
                "invalid_message_deliveries weight ≤ 0 and decay in (0, 1)",
            ),
        ];
        for (ok, what) in checks {
            if !ok {
                return Err(ConfigError::InvalidScore(what));
            }
        }
        Ok(())
    }
}
