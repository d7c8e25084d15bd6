//! The lean-consensus profile in one place: topics, message id, caps, protocol ids and
//! gossip parameters, as used by leanSpec, ethlambda and zeam.
//!
//! The values themselves live with the layer that uses them (the message-id function and
//! mesh parameters in `gossipsub::lean`, the req/resp ids and SSZ limits in
//! `reqresp::lean`); this module gathers them and builds the node [`Config`].

use std::time::Duration;

use leanp2p_gossipsub::TopicHash;

use crate::config::{Config, IdentifyConfig};

pub use leanp2p_gossipsub::lean::{
    message_id, LeanTopic, TopicKind, DEFAULT_NETWORK, MAX_PAYLOAD_SIZE, MESSAGE_ID_LEN,
};
pub use leanp2p_gossipsub::limits::LEAN_MAX_TRANSMIT_SIZE;
pub use leanp2p_reqresp::lean::{
    BLOCKS_BY_RANGE, BLOCKS_BY_ROOT, BLOCKS_BY_ROOT_LEGACY, RESP_TIMEOUT, STATUS,
};

/// Identify `protocolVersion` of lean clients ("same as zeam").
pub const PROTOCOL_VERSION: &str = "/ipfs/0.1.0";

/// Interval of the empty gossipsub RPC on idle gossip streams (zeam: 20 s).
pub const GOSSIP_KEEPALIVE: Duration = Duration::from_secs(20);

/// Attestation subnets [`config`] scores (lean devnets run one).
pub const DEFAULT_ATTESTATION_SUBNETS: u64 = 1;

/// The lean node configuration for [`DEFAULT_NETWORK`]: [`config_for_network`] with
/// [`DEFAULT_ATTESTATION_SUBNETS`].
pub fn config(agent: &str) -> Config {
    config_for_network(agent, DEFAULT_NETWORK, DEFAULT_ATTESTATION_SUBNETS)
}

/// The lean node configuration: gossipsub with the lean parameters (D=8, heartbeat
/// 700 ms, StrictNoSign, lean message id, 12 234 442-byte frames) and **peer scoring
/// on** with the lean parameters for `network`'s topics
/// ([`leanp2p_gossipsub::lean::scoring`]: Lighthouse's thresholds — gossip −4 000,
/// publish −8 000, graylist −16 000 — topic weights for block, aggregation and
/// attestation subnets `0..attestation_subnets`, P3 mesh-delivery deficits off,
/// behaviour penalties for GRAFT floods during backoff, loopback exempt from IP
/// colocation); a graylisted peer is disconnected
/// ([`crate::ConnManagerConfig::disconnect_graylisted`]). Also the lean req/resp
/// protocols (status, blocks_by_root with its legacy alias, blocks_by_range), identify
/// with `protocolVersion` `/ipfs/0.1.0` and `agent` as agent version, the 20 s gossip
/// keep-alive, QUIC with the **BBR** congestion controller (it keeps lean blocks flowing
/// on lossy links where Cubic and NewReno collapse; measured in `benches/README.md`), and
/// host defaults.
pub fn config_for_network(agent: &str, network: &str, attestation_subnets: u64) -> Config {
    let mut config = Config::default();
    // BBR: on lossy links Cubic and NewReno read random loss as congestion and collapse
    // (`leanp2p sim --nodes 50 --loss 0.2`, 60 virtual s, 256 KiB blocks: delivery 1.00
    // with BBR, 0.48 with Cubic, 0.21 with NewReno).
    config
        .quic
        .congestion_controller(leanp2p_quic::CongestionController::Bbr);
    let mut gossipsub = leanp2p_gossipsub::lean::config();
    gossipsub.scoring = Some(leanp2p_gossipsub::lean::scoring(
        network,
        attestation_subnets,
    ));
    let identify = IdentifyConfig {
        protocol_version: PROTOCOL_VERSION.to_string(),
        agent_version: agent.to_string(),
        ..IdentifyConfig::default()
    };
    config
        .gossipsub(gossipsub)
        .reqresp(leanp2p_reqresp::Config::lean())
        .identify(identify)
        .gossip_keepalive(Some(GOSSIP_KEEPALIVE));
    config
}

/// The topics a lean node subscribes to on `network`: block, aggregation, and the
/// attestation subnets `0..attestation_subnets`.
pub fn topics(network: &str, attestation_subnets: u64) -> Vec<TopicHash> {
    let mut topics = vec![
        LeanTopic::new(network, TopicKind::Block).hash(),
        LeanTopic::new(network, TopicKind::Aggregation).hash(),
    ];
    topics.extend(
        (0..attestation_subnets).map(|s| LeanTopic::new(network, TopicKind::Attestation(s)).hash()),
    );
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lean_config_is_valid_and_serves_the_lean_protocols() {
        let config = config("leanp2p/test");
        config.validate().unwrap();
        assert_eq!(
            config.gossipsub.limits.max_transmit_size,
            LEAN_MAX_TRANSMIT_SIZE
        );
        let t0 = std::time::Instant::now();
        let key = leanp2p_identity::Keypair::from_secret_bytes(&[1; 32]).unwrap();
        let node = crate::Node::new(t0, config, &key, [0; 32]).unwrap();
        let protocols = node.protocols();
        for id in [
            STATUS.as_str(),
            BLOCKS_BY_ROOT.as_str(),
            BLOCKS_BY_ROOT_LEGACY.as_str(),
            BLOCKS_BY_RANGE.as_str(),
            "/meshsub/1.2.0",
            crate::IDENTIFY_PROTOCOL,
            crate::PING_PROTOCOL,
        ] {
            assert!(protocols.iter().any(|p| p == id), "{id} missing");
        }
        assert_eq!(
            node.config().gossipsub.idle_keepalive,
            Some(GOSSIP_KEEPALIVE)
        );
    }

    #[test]
    fn topics_follow_the_lean_format() {
        let topics = topics(DEFAULT_NETWORK, 2);
        let names: Vec<&str> = topics.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "/leanconsensus/12345678/block/ssz_snappy",
                "/leanconsensus/12345678/aggregation/ssz_snappy",
                "/leanconsensus/12345678/attestation_0/ssz_snappy",
                "/leanconsensus/12345678/attestation_1/ssz_snappy",
            ]
        );
    }
}
