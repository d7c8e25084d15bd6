//! Events for the application / host.

use bytes::Bytes;
use leanp2p_identity::PeerId;

use crate::types::{MessageId, TopicHash};

/// A peer suggested by peer exchange (PRUNE `peers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PxPeer {
    /// The suggested peer.
    pub peer_id: PeerId,
    /// Its signed peer record envelope, if one was sent (not verified here).
    pub signed_peer_record: Option<Bytes>,
}

/// Something the application or host should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A new message. With `validate_messages` it is forwarded only after
    /// [`crate::Gossipsub::report_validation`]`(id, propagation_source, Accept)`.
    Message {
        /// Message id (lean: 20 bytes).
        id: MessageId,
        /// The peer we received it from.
        propagation_source: PeerId,
        /// Topic.
        topic: TopicHash,
        /// Payload as sent (lean: snappy block of SSZ).
        data: Bytes,
        /// The verified author under StrictSign, `None` under StrictNoSign.
        author: Option<PeerId>,
    },
    /// A peer subscribed to a topic.
    Subscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A peer unsubscribed from a topic.
    Unsubscribed {
        /// The peer.
        peer: PeerId,
        /// The topic.
        topic: TopicHash,
    },
    /// A peer pruned us and suggested other peers (accepted only if its score is at least
    /// `accept_px_threshold`). The host may dial them.
    PeerExchange {
        /// The pruning peer.
        from: PeerId,
        /// The topic we were pruned from.
        topic: TopicHash,
        /// Suggested peers.
        peers: Vec<PxPeer>,
    },
    /// A peer's outbound queue overflowed and frames were dropped (reported at most once
    /// per heartbeat per peer).
    SlowPeer {
        /// The slow peer.
        peer: PeerId,
        /// Total frames dropped for this peer so far.
        dropped: u64,
    },
    /// A configured direct peer is not connected; the host should dial it.
    DialDirectPeer {
        /// The direct peer.
        peer: PeerId,
    },
    /// A peer that made [`crate::Gossipsub::publish`] return
    /// [`crate::PublishError::Backpressure`] has drained below half its priority budget
    /// (or left): publish again (once per refusal).
    PublishReady,
}
