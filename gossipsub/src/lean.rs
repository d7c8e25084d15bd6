//! The lean-consensus profile: topics, snappy-block payloads, message ids, parameters.
//!
//! Everything lean-specific lives here; the router only sees a [`Config`] whose
//! `message_id_fn` and parameters come from [`config`].

use std::fmt;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{Config, SignaturePolicy};
use crate::error::{SnappyError, TopicError};
use crate::types::{MessageId, TopicHash};
use crate::wire::proto::Message;

/// First 4 bytes hashed into the id of a message whose data snappy-decompresses.
pub const MESSAGE_DOMAIN_VALID_SNAPPY: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
/// First 4 bytes hashed into the id of a message whose data does not decompress.
pub const MESSAGE_DOMAIN_INVALID_SNAPPY: [u8; 4] = [0x00, 0x00, 0x00, 0x00];
/// Largest decompressed gossip payload: the spec's `MAX_PAYLOAD_SIZE` (10 MiB), defined
/// once in [`leanp2p_identity::spec`] and shared with req/resp.
pub use leanp2p_identity::spec::MAX_PAYLOAD_SIZE;
/// Length of a lean message id.
pub const MESSAGE_ID_LEN: usize = 20;
/// The leanSpec lstar network name (`GOSSIP_DIGEST`).
pub const DEFAULT_NETWORK: &str = "12345678";
/// Topic prefix.
pub const TOPIC_PREFIX: &str = "leanconsensus";
/// Topic encoding suffix.
pub const TOPIC_ENCODING: &str = "ssz_snappy";

/// Kind of a lean gossip topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TopicKind {
    /// `block`: `SignedBlock`.
    Block,
    /// `aggregation`: `SignedAggregatedAttestation`.
    Aggregation,
    /// `attestation_<subnet>`: `SignedAttestation` of one subnet.
    Attestation(u64),
}

impl fmt::Display for TopicKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Block => f.write_str("block"),
            Self::Aggregation => f.write_str("aggregation"),
            Self::Attestation(subnet) => write!(f, "attestation_{subnet}"),
        }
    }
}

impl TopicKind {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "block" => Some(Self::Block),
            "aggregation" => Some(Self::Aggregation),
            _ => {
                let digits = name.strip_prefix("attestation_")?;
                // Canonical decimal only: no sign, no leading zeros (except "0").
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || (digits.len() > 1 && digits.starts_with('0'))
                {
                    return None;
                }
                digits.parse().ok().map(Self::Attestation)
            }
        }
    }
}

/// A lean topic `/leanconsensus/<network>/<kind>/ssz_snappy`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeanTopic {
    /// Network name (e.g. [`DEFAULT_NETWORK`]).
    pub network: String,
    /// Topic kind.
    pub kind: TopicKind,
}

impl LeanTopic {
    /// A topic of `kind` on `network`.
    pub fn new(network: &str, kind: TopicKind) -> Self {
        Self {
            network: network.to_owned(),
            kind,
        }
    }

    /// The topic string.
    pub fn to_topic_string(&self) -> String {
        format!(
            "/{TOPIC_PREFIX}/{}/{}/{TOPIC_ENCODING}",
            self.network, self.kind
        )
    }

    /// The topic id used on the wire.
    pub fn hash(&self) -> TopicHash {
        TopicHash::from(self.to_topic_string())
    }

    /// Parses a topic string and checks that it belongs to `network`.
    pub fn parse(topic: &str, network: &str) -> Result<Self, TopicError> {
        let mut parts = topic.split('/');
        let (Some(""), Some(prefix), Some(net), Some(name), Some(encoding), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TopicError::Malformed);
        };
        if prefix != TOPIC_PREFIX || encoding != TOPIC_ENCODING || net.is_empty() {
            return Err(TopicError::Malformed);
        }
        let kind = TopicKind::parse(name).ok_or(TopicError::UnknownKind)?;
        if net != network {
            return Err(TopicError::WrongNetwork);
        }
        Ok(Self::new(net, kind))
    }
}

/// The declared decompressed length of a snappy block (its uvarint header).
pub fn snappy_decompressed_len(data: &[u8]) -> Result<u64, SnappyError> {
    match unsigned_varint::decode::u64(data) {
        Ok((len, _)) => Ok(len),
        Err(_) => Err(SnappyError::BadHeader),
    }
}

/// The declared decompressed length of snappy-block gossip data, read from its header
/// without decompressing (a [`crate::config::PayloadLenFn`]); `None` if the header is bad.
pub fn declared_payload_len(data: &[u8]) -> Option<u64> {
    snappy_decompressed_len(data).ok()
}

/// Snappy *block* compression (gossip payloads; req/resp uses the framed format).
pub fn snappy_compress(data: &[u8], max_len: usize) -> Result<Vec<u8>, SnappyError> {
    if data.len() > max_len {
        return Err(SnappyError::InputTooLarge {
            len: data.len(),
            max: max_len,
        });
    }
    snap::raw::Encoder::new()
        .compress_vec(data)
        .map_err(|_| SnappyError::Corrupt)
}

/// Snappy *block* decompression with a cap on the decompressed size.
///
/// The declared size is read from the header and checked against `max_len` before
/// anything is allocated; the input length is checked against
/// `snap::raw::max_compress_len(max_len)` first.
pub fn snappy_decompress(data: &[u8], max_len: usize) -> Result<Vec<u8>, SnappyError> {
    let max_compressed = snap::raw::max_compress_len(max_len);
    if data.len() > max_compressed {
        return Err(SnappyError::CompressedTooLarge {
            len: data.len(),
            max: max_compressed,
        });
    }
    let declared = snappy_decompressed_len(data)?;
    if declared > max_len as u64 {
        return Err(SnappyError::DeclaredTooLarge {
            declared,
            max: max_len,
        });
    }
    #[cfg(test)]
    DECOMPRESSIONS.with(|n| n.set(n.get() + 1));
    snap::raw::Decoder::new()
        .decompress_vec(data)
        .map_err(|_| SnappyError::Corrupt)
}

#[cfg(test)]
thread_local! {
    /// Snappy decompressions run on this thread (tests count work with it; the router is
    /// synchronous, so a test's router decompresses on the test's thread).
    pub(crate) static DECOMPRESSIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// The lean (Altair-style) message id:
/// `SHA256(domain ‖ u64_le(len(topic)) ‖ topic ‖ payload)[..20]`, where payload is the
/// decompressed data (valid-snappy domain) or the raw data (invalid-snappy domain).
pub fn message_id(topic: &str, data: &[u8]) -> MessageId {
    let mut hasher = Sha256::new();
    match snappy_decompress(data, MAX_PAYLOAD_SIZE) {
        Ok(decompressed) => {
            hasher.update(MESSAGE_DOMAIN_VALID_SNAPPY);
            hasher.update((topic.len() as u64).to_le_bytes());
            hasher.update(topic.as_bytes());
            hasher.update(&decompressed);
        }
        Err(_) => {
            hasher.update(MESSAGE_DOMAIN_INVALID_SNAPPY);
            hasher.update((topic.len() as u64).to_le_bytes());
            hasher.update(topic.as_bytes());
            hasher.update(data);
        }
    }
    MessageId::new(&hasher.finalize()[..MESSAGE_ID_LEN])
}

/// The lean message id as a [`crate::MessageIdFn`].
pub fn message_id_fn(msg: &Message) -> MessageId {
    message_id(&msg.topic, msg.data.as_deref().unwrap_or_default())
}

pub use crate::lean_score::{scoring, SLOT};

/// Lean gossipsub parameters (leanSpec / ethlambda / zeam): D=8, D_lo=6, D_hi=12,
/// D_lazy=6, heartbeat 700 ms, fanout TTL 60 s, history 6 / gossip 3, seen TTL 24 s,
/// StrictNoSign, lean message id, max transmit size 12 234 442, explicit validation,
/// PX off, IDONTWANT threshold 1 000 bytes. Scoring is off here because its topic
/// parameters depend on the network name: set `scoring` with [`scoring`] (the host's
/// `lean::config` does).
pub fn config() -> Config {
    Config {
        mesh_n: 8,
        mesh_n_low: 6,
        mesh_n_high: 12,
        gossip_lazy: 6,
        retain_scores: 4,
        mesh_outbound_min: 2,
        heartbeat_interval: Duration::from_millis(700),
        fanout_ttl: Duration::from_secs(60),
        history_length: 6,
        history_gossip: 3,
        seen_ttl: Duration::from_secs(24),
        prune_backoff: Duration::from_secs(60),
        unsubscribe_backoff: Duration::from_secs(10),
        signature_policy: SignaturePolicy::StrictNoSign,
        message_id_fn,
        message_id_len: Some(MESSAGE_ID_LEN),
        payload_len_fn: Some(declared_payload_len),
        allow_self_origin: true,
        do_px: false,
        scoring: None,
        validate_messages: true,
        idontwant_message_size_threshold: 1_000,
        ..Config::default()
    }
}
