//! Peer scoring for lean networks, in the spirit of Lighthouse's beacon-chain parameters
//! scaled to lean's 4-second slots.
//!
//! * **Thresholds** as Lighthouse: gossip −4 000, publish −8 000, graylist −16 000,
//!   accept PX ≥ 100 (effectively only from peers that earned it), opportunistic graft 5.
//! * **Decay** once per slot to 1 % (`decay_to_zero`); scores of disconnected peers are
//!   kept 100 slots, so a reconnect does not wash a penalty away.
//! * **P1 time in mesh**: up to 10 points after an hour in a topic's mesh.
//! * **P2 first deliveries**: up to 40 points per topic, decaying over 20 slots.
//! * **P3/P3b mesh delivery deficits: off.** With one block per slot and sparse
//!   attestation subnets an honest mesh peer often has nothing to deliver in a window;
//!   Lighthouse switched these off for the same reason.
//! * **P4 invalid messages**: −200 × topic weight per invalid message, squared,
//!   decaying over an hour: a dozen rejected blocks graylist a peer.
//! * **P5 application score** weight 1 (the embedder's own judgement).
//! * **P6 IP colocation**: above 8 peers from one IP, −50 per extra peer squared;
//!   loopback is whitelisted so local devnets are not penalised.
//! * **P7 behaviour penalties** (GRAFT during backoff, broken IWANT promises,
//!   subscription churn over the limit): above 6, −40 per excess penalty squared,
//!   decaying over 10 minutes: a GRAFT flood during backoff graylists the peer within
//!   about 26 penalties.
//! * Positive score per topic capped at 50.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::config::ScoreConfig;
use crate::lean::{LeanTopic, TopicKind};
use crate::score::{PeerScoreParams, PeerScoreThresholds, TopicScoreParams};

/// The lean slot (the decay interval and the time-in-mesh quantum).
pub const SLOT: Duration = Duration::from_secs(4);

/// The factor that decays a counter to `decay_to_zero` (1 %) after `slots` decays.
fn decay_over(slots: f64) -> f64 {
    0.01f64.powf(1.0 / slots)
}

/// Parameters of one topic: `weight` is its share of the score, `first_cap` how many
/// first deliveries count (about what an honest peer delivers over 20 slots).
fn topic_params(weight: f64, first_cap: f64) -> TopicScoreParams {
    let mesh_cap = 3600.0 / SLOT.as_secs_f64();
    TopicScoreParams {
        topic_weight: weight,
        time_in_mesh_weight: 10.0 / mesh_cap,
        time_in_mesh_quantum: SLOT,
        time_in_mesh_cap: mesh_cap,
        first_message_deliveries_weight: 40.0 / first_cap,
        first_message_deliveries_decay: decay_over(20.0),
        first_message_deliveries_cap: first_cap,
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        invalid_message_deliveries_weight: -200.0,
        invalid_message_deliveries_decay: decay_over(900.0),
        ..TopicScoreParams::default()
    }
}

/// The lean score configuration for the topics of `network` (block, aggregation and
/// attestation subnets `0..attestation_subnets`); see the module docs for the values.
pub fn scoring(network: &str, attestation_subnets: u64) -> ScoreConfig {
    let mut topics = BTreeMap::new();
    topics.insert(
        LeanTopic::new(network, TopicKind::Block).hash(),
        topic_params(0.5, 23.0),
    );
    topics.insert(
        LeanTopic::new(network, TopicKind::Aggregation).hash(),
        topic_params(0.5, 100.0),
    );
    let subnet_weight = 1.0 / attestation_subnets.max(1) as f64;
    for subnet in 0..attestation_subnets {
        topics.insert(
            LeanTopic::new(network, TopicKind::Attestation(subnet)).hash(),
            topic_params(subnet_weight, 100.0),
        );
    }
    let params = PeerScoreParams {
        topics,
        topic_score_cap: 50.0,
        app_specific_weight: 1.0,
        ip_colocation_factor_weight: -50.0,
        ip_colocation_factor_threshold: 8.0,
        ip_colocation_factor_whitelist: BTreeSet::from([
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]),
        behaviour_penalty_weight: -40.0,
        behaviour_penalty_threshold: 6.0,
        behaviour_penalty_decay: decay_over(150.0),
        decay_interval: SLOT,
        decay_to_zero: 0.01,
        retain_score: SLOT * 100,
    };
    let thresholds = PeerScoreThresholds {
        gossip_threshold: -4000.0,
        publish_threshold: -8000.0,
        graylist_threshold: -16000.0,
        accept_px_threshold: 100.0,
        opportunistic_graft_threshold: 5.0,
    };
    ScoreConfig { params, thresholds }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_lean_score_config_is_valid_and_covers_every_lean_topic() {
        let config = scoring("devnet0", 4);
        config.params.validate().unwrap();
        config.thresholds.validate().unwrap();
        assert_eq!(config.params.topics.len(), 2 + 4);
        let decay = decay_over(20.0);
        assert!((decay.powi(20) - 0.01).abs() < 1e-9);
    }

    #[test]
    fn a_graft_flood_reaches_the_graylist_within_about_26_penalties() {
        let config = scoring("devnet0", 1);
        let p = &config.params;
        let score = |penalties: f64| {
            let excess = (penalties - p.behaviour_penalty_threshold).max(0.0);
            p.behaviour_penalty_weight * excess * excess
        };
        assert!(score(6.0) == 0.0);
        assert!(score(20.0) > config.thresholds.graylist_threshold);
        assert!(score(27.0) < config.thresholds.graylist_threshold);
    }
}
