//! The rust-libp2p gossip node both gossip baselines run (`libp2p-gossip-perf`: two nodes
//! in one process; `libp2p-gossip-node`: one node per process): QUIC, gossipsub,
//! secp256k1 keys, with gossipsub set up the way Ethereum clients set it up — anonymous
//! authenticity and validation, 10 MiB `max_transmit_size`, the lean mesh parameters and
//! explicit validation (receivers accept each message).

use std::time::Duration;

use anyhow::anyhow;
use libp2p::gossipsub::{self, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::Swarm;
use sha2::{Digest, Sha256};

use crate::{lean_message_id, MAX_PAYLOAD_SIZE};

/// A rust-libp2p node running only gossipsub.
pub type GossipNode = Swarm<gossipsub::Behaviour>;

/// How message ids are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgId {
    /// The lean message id ([`lean_message_id`]).
    Lean,
    /// The first 20 bytes of SHA-256 of the wire data (`leanp2p node --msg-id sha256`).
    Sha256,
}

impl MsgId {
    /// Parses `lean` or `sha256`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "lean" => Ok(Self::Lean),
            "sha256" => Ok(Self::Sha256),
            other => Err(format!("--msg-id {other}: expected lean or sha256")),
        }
    }

    /// The id of `data` published on `topic`.
    pub fn id(self, topic: &str, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Lean => lean_message_id(topic, data),
            Self::Sha256 => Sha256::digest(data)[..20].to_vec(),
        }
    }
}

/// Gossipsub as lean / Ethereum clients configure it, with message ids from `msg_id`.
pub fn gossip_config(msg_id: MsgId) -> anyhow::Result<gossipsub::Config> {
    gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .message_id_fn(move |m: &gossipsub::Message| {
            MessageId::new(&msg_id.id(m.topic.as_str(), &m.data))
        })
        .max_transmit_size(MAX_PAYLOAD_SIZE)
        .validate_messages()
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .gossip_lazy(6)
        .mesh_outbound_min(2)
        .heartbeat_interval(Duration::from_millis(700))
        // Only shortens the wait for the first mesh; nothing is timed before it.
        .heartbeat_initial_delay(Duration::from_millis(100))
        .fanout_ttl(Duration::from_secs(60))
        .history_length(6)
        .history_gossip(3)
        .duplicate_cache_time(Duration::from_secs(24))
        .prune_backoff(Duration::from_secs(60))
        .idontwant_message_size_threshold(1_000)
        .build()
        .map_err(|e| anyhow!("gossipsub config: {e}"))
}

/// A node with a fresh secp256k1 key on tokio, QUIC only.
pub fn build_node(msg_id: MsgId) -> anyhow::Result<GossipNode> {
    let config = gossip_config(msg_id)?;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(
        libp2p::identity::Keypair::generate_secp256k1(),
    )
    .with_tokio()
    .with_quic()
    .with_behaviour(move |_key| {
        Ok(gossipsub::Behaviour::new(
            MessageAuthenticity::Anonymous,
            config,
        )?)
    })
    .map_err(|e| anyhow!("behaviour: {e}"))?
    .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
    .build();
    Ok(swarm)
}
