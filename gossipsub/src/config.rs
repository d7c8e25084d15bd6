//! Router configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use leanp2p_identity::{Keypair, PeerId};
use sha2::{Digest, Sha256};

use crate::error::ConfigError;
use crate::limits::Limits;
use crate::score::{PeerScoreParams, PeerScoreThresholds};
use crate::types::{MessageId, TopicHash};
use crate::wire::proto::Message;

/// Computes the id of a message. Must be a pure function of the message.
pub type MessageIdFn = fn(&Message) -> MessageId;

/// Reads the declared decoded length of a message's data without decoding it (lean: the
/// snappy block header, [`crate::lean::declared_payload_len`]); `None` if unreadable.
pub type PayloadLenFn = fn(&[u8]) -> Option<u64>;

/// How messages are authored and checked.
#[derive(Clone)]
pub enum SignaturePolicy {
    /// No `from`, `seqno`, `signature` or `key` are sent; received messages carrying any
    /// of them are rejected (Ethereum / lean default; rust-libp2p `Anonymous`).
    StrictNoSign,
    /// Messages are signed with this key; received messages must carry a valid
    /// signature from the author in `from` (secp256k1, Ed25519 or ECDSA keys).
    StrictSign(Box<Keypair>),
}

impl fmt::Debug for SignaturePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::StrictNoSign => f.write_str("StrictNoSign"),
            Self::StrictSign(key) => write!(f, "StrictSign({})", key.peer_id()),
        }
    }
}

/// Peer scoring parameters; `None` in [`Config::scoring`] turns scoring off (every score
/// is 0, so every threshold check passes).
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreConfig {
    /// Weights, caps and decays.
    pub params: PeerScoreParams,
    /// Gossip / publish / graylist / PX / opportunistic-graft thresholds.
    pub thresholds: PeerScoreThresholds,
}

/// The default message id: `from ‖ seqno` when both are present (signed messages),
/// otherwise `SHA256(topic ‖ data)[..20]`.
pub fn default_message_id(msg: &Message) -> MessageId {
    match (&msg.from, &msg.seqno) {
        (Some(from), Some(seqno)) => {
            let mut id = Vec::with_capacity(from.len() + seqno.len());
            id.extend_from_slice(from);
            id.extend_from_slice(seqno);
            MessageId::new(&id)
        }
        _ => {
            let mut hasher = Sha256::new();
            hasher.update(msg.topic.as_bytes());
            hasher.update(msg.data.as_deref().unwrap_or_default());
            MessageId::new(&hasher.finalize()[..20])
        }
    }
}

/// Gossipsub router configuration. Field names follow the spec / rust-libp2p; defaults are
/// the rust-libp2p defaults, except `max_transmit_size` (lean size) and StrictNoSign. Use
/// [`crate::lean::config`] for the lean profile.
#[derive(Clone, Debug)]
pub struct Config {
    /// D: target mesh degree.
    pub mesh_n: usize,
    /// D_lo: graft below this.
    pub mesh_n_low: usize,
    /// D_hi: prune above this.
    pub mesh_n_high: usize,
    /// D_score: peers kept by score when pruning an oversubscribed mesh.
    pub retain_scores: usize,
    /// D_out: minimum outbound peers kept in each mesh.
    pub mesh_outbound_min: usize,
    /// D_lazy: minimum peers gossiped to per topic per heartbeat.
    pub gossip_lazy: usize,
    /// Fraction of eligible peers gossiped to (if more than D_lazy).
    pub gossip_factor: f64,
    /// Heartbeat period.
    pub heartbeat_interval: Duration,
    /// Delay of the first heartbeat after construction.
    pub heartbeat_initial_delay: Duration,
    /// Fanout state of a topic is dropped after this long without a publish.
    pub fanout_ttl: Duration,
    /// Number of heartbeat windows kept in the message cache.
    pub history_length: usize,
    /// Number of most recent windows announced in IHAVE.
    pub history_gossip: usize,
    /// How long a message id is remembered for de-duplication.
    pub seen_ttl: Duration,
    /// Backoff after a PRUNE (sent or received without a backoff field).
    pub prune_backoff: Duration,
    /// Backoff announced in the PRUNEs sent when we unsubscribe.
    pub unsubscribe_backoff: Duration,
    /// Extra heartbeats waited after a backoff expires before re-grafting.
    pub backoff_slack: u32,
    /// A GRAFT this soon after our PRUNE is penalised twice.
    pub graft_flood_threshold: Duration,
    /// Publish to every subscribed peer above the publish threshold, not just the mesh.
    pub flood_publish: bool,
    /// Heartbeats between opportunistic-grafting rounds.
    pub opportunistic_graft_ticks: u64,
    /// Peers grafted per opportunistic-grafting round.
    pub opportunistic_graft_peers: usize,
    /// Most message ids requested from one peer per heartbeat (and per IHAVE entry sent).
    pub max_ihave_length: usize,
    /// Most IHAVE control messages accepted from one peer per heartbeat.
    pub max_ihave_messages: usize,
    /// A peer that does not deliver an IWANTed message within this time breaks its promise.
    pub iwant_followup_time: Duration,
    /// Most times one message is sent to one peer in reply to IWANT.
    pub gossip_retransmission: u32,
    /// Send peer exchange in PRUNEs.
    pub do_px: bool,
    /// Peers included in a PX PRUNE.
    pub prune_peers: usize,
    /// IDONTWANT is sent for messages whose data is larger than this (v1.2 peers).
    pub idontwant_message_size_threshold: usize,
    /// How long an IDONTWANT received from a peer is honoured.
    pub idontwant_ttl: Duration,
    /// `true`: messages are forwarded only after [`crate::Gossipsub::report_validation`];
    /// `false`: messages are delivered and forwarded at once.
    pub validate_messages: bool,
    /// A message not validated within this time is dropped as if ignored.
    pub validation_timeout: Duration,
    /// Signature policy.
    pub signature_policy: SignaturePolicy,
    /// Message id function.
    pub message_id_fn: MessageIdFn,
    /// Exact length of valid message ids (lean: 20). Ids of other lengths in
    /// IHAVE/IWANT/IDONTWANT are ignored. `None` accepts any length up to
    /// `limits.max_message_id_len`.
    pub message_id_len: Option<usize>,
    /// Accept messages whose `from` is our own PeerId (StrictSign only).
    pub allow_self_origin: bool,
    /// Per-topic maximum data size (stricter than `limits.max_transmit_size`).
    pub topic_max_message_size: BTreeMap<TopicHash, usize>,
    /// Reads the declared decoded (decompressed) length of a message's data; `None` (the
    /// default) means data is not encoded and `topic_max_payload_size` is not checked.
    /// [`crate::lean::config`] sets the snappy header reader.
    pub payload_len_fn: Option<PayloadLenFn>,
    /// Per-topic cap on the declared decoded payload length (read with `payload_len_fn`).
    /// Checked before the message id is computed — under the lean profile, before
    /// anything is decompressed; a message declaring more is rejected as invalid (P4).
    /// Data whose length cannot be read is not rejected by this check. Empty by default
    /// (lean topics name the network, so the application fills it in, e.g. small caps
    /// for attestation subnets).
    pub topic_max_payload_size: BTreeMap<TopicHash, usize>,
    /// Direct (explicit) peers: always forwarded to, never grafted.
    pub direct_peers: BTreeSet<PeerId>,
    /// Heartbeats between reconnect requests for disconnected direct peers.
    pub direct_connect_ticks: u64,
    /// Send an empty control RPC to a peer that got nothing for this long (keeps
    /// rust-libp2p handlers alive). `None` disables it.
    pub idle_keepalive: Option<Duration>,
    /// Peer scoring; `None` disables it.
    pub scoring: Option<ScoreConfig>,
    /// Buffer and processing limits.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            mesh_n: 6,
            mesh_n_low: 5,
            mesh_n_high: 12,
            retain_scores: 4,
            mesh_outbound_min: 2,
            gossip_lazy: 6,
            gossip_factor: 0.25,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_initial_delay: Duration::from_millis(100),
            fanout_ttl: Duration::from_secs(60),
            history_length: 5,
            history_gossip: 3,
            seen_ttl: Duration::from_secs(120),
            prune_backoff: Duration::from_secs(60),
            unsubscribe_backoff: Duration::from_secs(10),
            backoff_slack: 1,
            graft_flood_threshold: Duration::from_secs(10),
            flood_publish: true,
            opportunistic_graft_ticks: 60,
            opportunistic_graft_peers: 2,
            max_ihave_length: 5_000,
            max_ihave_messages: 10,
            iwant_followup_time: Duration::from_secs(3),
            gossip_retransmission: 3,
            do_px: false,
            prune_peers: 16,
            idontwant_message_size_threshold: 1_000,
            idontwant_ttl: Duration::from_secs(3),
            validate_messages: true,
            validation_timeout: Duration::from_secs(10),
            signature_policy: SignaturePolicy::StrictNoSign,
            message_id_fn: default_message_id,
            message_id_len: None,
            allow_self_origin: false,
            topic_max_message_size: BTreeMap::new(),
            payload_len_fn: None,
            topic_max_payload_size: BTreeMap::new(),
            direct_peers: BTreeSet::new(),
            direct_connect_ticks: 300,
            idle_keepalive: Some(Duration::from_secs(20)),
            scoring: None,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// Checks degrees (`D_out < D_lo ≤ D ≤ D_hi`, `D_out ≤ D/2`, `D_score ≤ D`), history
    /// windows, periods, score parameters and limits.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.mesh_outbound_min < self.mesh_n_low
            && self.mesh_n_low <= self.mesh_n
            && self.mesh_n <= self.mesh_n_high
            && self.mesh_outbound_min <= self.mesh_n / 2
            && self.retain_scores <= self.mesh_n)
        {
            return Err(ConfigError::InvalidMeshParams);
        }
        if self.history_gossip > self.history_length || self.history_length == 0 {
            return Err(ConfigError::Inconsistent(
                "history_gossip must be ≤ history_length ≥ 1",
            ));
        }
        if self.heartbeat_interval.is_zero() {
            return Err(ConfigError::Inconsistent(
                "heartbeat_interval must be positive",
            ));
        }
        if !(0.0..=1.0).contains(&self.gossip_factor) {
            return Err(ConfigError::Inconsistent("gossip_factor must be in [0, 1]"));
        }
        if let Some(score) = &self.scoring {
            score.params.validate()?;
            score.thresholds.validate()?;
        }
        self.limits.validate()
    }

    /// The data size limit of `topic`.
    pub fn max_message_size(&self, topic: &TopicHash) -> usize {
        self.topic_max_message_size
            .get(topic)
            .copied()
            .unwrap_or(self.limits.max_transmit_size)
            .min(self.limits.max_transmit_size)
    }
}
