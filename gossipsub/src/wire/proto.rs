//! Protobuf types of the gossipsub RPC (proto2, `rpc.proto` of the libp2p pubsub spec).
//!
//! Field numbers are the wire contract and must never change. Byte fields that carry
//! payloads use [`Bytes`] so that decoding from a `Bytes` frame does not copy the data.
//! Unknown fields (for example the v1.3 `partial` extension, field 10 of `RPC`, or
//! `ControlExtensions`, field 6 of `ControlMessage`) are skipped by prost's decoder.

use bytes::Bytes;

/// `message RPC`: one frame on a `/meshsub` stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Rpc {
    /// Field 1: subscription changes of the sender.
    #[prost(message, repeated, tag = "1")]
    pub subscriptions: Vec<SubOpts>,
    /// Field 2: published / forwarded messages.
    #[prost(message, repeated, tag = "2")]
    pub publish: Vec<Message>,
    /// Field 3: control messages (IHAVE, IWANT, GRAFT, PRUNE, IDONTWANT).
    #[prost(message, optional, tag = "3")]
    pub control: Option<ControlMessage>,
}

/// `message RPC.SubOpts`: one subscription change.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SubOpts {
    /// Field 1: `true` = subscribe, `false` = unsubscribe.
    #[prost(bool, optional, tag = "1")]
    pub subscribe: Option<bool>,
    /// Field 2: the topic string, used verbatim as the topic id.
    #[prost(string, optional, tag = "2")]
    pub topic_id: Option<String>,
    /// Field 3 (v1.3 partial-messages extension): decoded so that re-encoding is
    /// lossless (rust-libp2p sends it as `false`); never set or acted on by us.
    #[prost(bool, optional, tag = "3")]
    pub requests_partial: Option<bool>,
    /// Field 4 (v1.3 partial-messages extension): as `requests_partial`.
    #[prost(bool, optional, tag = "4")]
    pub supports_partial: Option<bool>,
}

/// `message Message`: a published message.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Message {
    /// Field 1: author PeerId bytes (StrictSign only; must be absent under StrictNoSign).
    #[prost(bytes = "bytes", optional, tag = "1")]
    pub from: Option<Bytes>,
    /// Field 2: payload (lean: snappy block of SSZ bytes).
    #[prost(bytes = "bytes", optional, tag = "2")]
    pub data: Option<Bytes>,
    /// Field 3: 8-byte big-endian sequence number (StrictSign only).
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub seqno: Option<Bytes>,
    /// Field 4 (required in proto2): the topic string.
    #[prost(string, required, tag = "4")]
    pub topic: String,
    /// Field 5: signature over `"libp2p-pubsub:" ‖ Message without fields 5 and 6`.
    #[prost(bytes = "bytes", optional, tag = "5")]
    pub signature: Option<Bytes>,
    /// Field 6: author public key protobuf, when it cannot be recovered from `from`.
    #[prost(bytes = "bytes", optional, tag = "6")]
    pub key: Option<Bytes>,
}

/// `message ControlMessage`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ControlMessage {
    /// Field 1: IHAVE announcements.
    #[prost(message, repeated, tag = "1")]
    pub ihave: Vec<ControlIHave>,
    /// Field 2: IWANT requests.
    #[prost(message, repeated, tag = "2")]
    pub iwant: Vec<ControlIWant>,
    /// Field 3: GRAFT requests.
    #[prost(message, repeated, tag = "3")]
    pub graft: Vec<ControlGraft>,
    /// Field 4: PRUNE notices.
    #[prost(message, repeated, tag = "4")]
    pub prune: Vec<ControlPrune>,
    /// Field 5: IDONTWANT notices (v1.2).
    #[prost(message, repeated, tag = "5")]
    pub idontwant: Vec<ControlIDontWant>,
}

/// `message ControlIHave`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ControlIHave {
    /// Field 1: topic of the announced messages.
    #[prost(string, optional, tag = "1")]
    pub topic_id: Option<String>,
    /// Field 2: announced message ids.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub message_ids: Vec<Vec<u8>>,
}

/// `message ControlIWant`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ControlIWant {
    /// Field 1: requested message ids.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub message_ids: Vec<Vec<u8>>,
}

/// `message ControlGraft`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ControlGraft {
    /// Field 1: topic to join the sender's mesh on.
    #[prost(string, optional, tag = "1")]
    pub topic_id: Option<String>,
}

/// `message ControlPrune`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ControlPrune {
    /// Field 1: topic the receiver was removed from.
    #[prost(string, optional, tag = "1")]
    pub topic_id: Option<String>,
    /// Field 2: peer exchange candidates (v1.1).
    #[prost(message, repeated, tag = "2")]
    pub peers: Vec<PeerInfo>,
    /// Field 3: backoff in seconds (v1.1).
    #[prost(uint64, optional, tag = "3")]
    pub backoff: Option<u64>,
}

/// `message PeerInfo` (peer exchange).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PeerInfo {
    /// Field 1: PeerId bytes.
    #[prost(bytes = "vec", optional, tag = "1")]
    pub peer_id: Option<Vec<u8>>,
    /// Field 2: signed peer record envelope (passed through, not verified here).
    #[prost(bytes = "vec", optional, tag = "2")]
    pub signed_peer_record: Option<Vec<u8>>,
}

/// `message ControlIDontWant` (v1.2).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ControlIDontWant {
    /// Field 1: ids the sender already has.
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub message_ids: Vec<Vec<u8>>,
}
