//! Small shared types: ids, topics, protocol versions, outbound frames.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use leanp2p_identity::PeerId;

/// A message id (lean: 20 bytes). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(Arc<[u8]>);

impl MessageId {
    /// Wraps raw id bytes.
    pub fn new(bytes: &[u8]) -> Self {
        Self(Arc::from(bytes))
    }

    /// The raw id bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId(")?;
        for b in self.0.iter() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0.iter() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A topic id. Topic strings are used verbatim (rust-libp2p `IdentTopic`). Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicHash(Arc<str>);

impl TopicHash {
    /// A topic from its string.
    pub fn new(topic: &str) -> Self {
        Self(Arc::from(topic))
    }

    /// The topic string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for TopicHash {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for TopicHash {
    fn from(s: String) -> Self {
        Self(Arc::from(s))
    }
}

impl fmt::Debug for TopicHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TopicHash({})", &self.0)
    }
}

impl fmt::Display for TopicHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The negotiated `/meshsub` version of a peer; features are gated on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// `/meshsub/1.0.0`: no backoff field, no PX, no IDONTWANT.
    V1_0,
    /// `/meshsub/1.1.0`: scoring, PX, PRUNE backoff.
    V1_1,
    /// `/meshsub/1.2.0`: v1.1 plus IDONTWANT.
    V1_2,
}

/// The protocol ids we speak, most preferred first (offer/accept in this order).
/// `/meshsub/1.3.0` is deliberately absent: a dialer offering it first gets `na` and
/// falls back to 1.2.0.
pub const PROTOCOL_IDS: [&str; 3] = ["/meshsub/1.2.0", "/meshsub/1.1.0", "/meshsub/1.0.0"];

impl ProtocolVersion {
    /// Maps a negotiated protocol id to a version. `/meshsub/1.3.0` maps to
    /// [`ProtocolVersion::V1_2`] (we implement none of the 1.3 extensions, which are
    /// optional and skipped on the wire). Unknown ids give `None`.
    pub fn from_protocol_id(id: &str) -> Option<Self> {
        match id {
            "/meshsub/1.3.0" | "/meshsub/1.2.0" => Some(Self::V1_2),
            "/meshsub/1.1.0" => Some(Self::V1_1),
            "/meshsub/1.0.0" => Some(Self::V1_0),
            _ => None,
        }
    }

    /// The protocol id string of this version.
    pub fn protocol_id(self) -> &'static str {
        match self {
            Self::V1_0 => "/meshsub/1.0.0",
            Self::V1_1 => "/meshsub/1.1.0",
            Self::V1_2 => "/meshsub/1.2.0",
        }
    }

    /// Whether PRUNE carries backoff and peer exchange (v1.1+).
    pub fn supports_backoff_and_px(self) -> bool {
        self >= Self::V1_1
    }

    /// Whether IDONTWANT may be sent to this peer (v1.2+).
    pub fn supports_idontwant(self) -> bool {
        self >= Self::V1_2
    }
}

/// What the host knows about a newly connected gossipsub peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerConnection {
    /// The negotiated `/meshsub` version.
    pub version: ProtocolVersion,
    /// `true` if we dialed the peer (outbound connection; counts towards `D_out`).
    pub outbound: bool,
    /// The peer's IP address, for the P6 IP-colocation score (optional).
    pub ip: Option<IpAddr>,
}

impl PeerConnection {
    /// A connection with the given version and direction and no IP information.
    pub fn new(version: ProtocolVersion, outbound: bool) -> Self {
        Self {
            version,
            outbound,
            ip: None,
        }
    }
}

/// The lane an outbound frame was queued in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lane {
    /// Control (subscriptions, GRAFT/PRUNE/IWANT/IDONTWANT, IHAVE) and our own publishes.
    Priority,
    /// Forwarded messages and IWANT replies; dropped first under pressure.
    Normal,
}

/// One length-prefixed frame to write on the peer's outbound `/meshsub` stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// Destination peer.
    pub to: PeerId,
    /// `uvarint(len) ‖ RPC protobuf`, ready to write.
    pub frame: Bytes,
    /// Lane it was queued in.
    pub lane: Lane,
}

/// The application's verdict on a delivered message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Validation {
    /// Valid: cache and forward it.
    Accept,
    /// Invalid: drop it and penalise the senders (P4).
    Reject,
    /// Not forwarded, not penalised (e.g. too old, not interesting).
    Ignore,
}
