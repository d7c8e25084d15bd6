//! # leanp2p-testkit
//!
//! Shared test fixtures (a dev-only crate): seeded keypairs, deterministic SSZ-like and
//! lean gossip payloads, a gossipsub router with a formed mesh ([`MeshedRouter`]),
//! [`QuicNet`] (N [`leanp2p_quic::Endpoint`]s joined in memory on a simulated clock, with
//! latency, loss, reordering and an MTU), [`QuicPair`] (a two-node [`QuicNet`] with a
//! bulk-transfer driver) and [`Net`] (N [`leanp2p_host::Node`]s joined in memory on a
//! simulated clock). Used by the benches and by the quic and host integration tests
//! (`quic/tests/endpoint/` runs on [`QuicNet`], `host/tests/node/` on [`Net`]); the fuzz
//! targets keep their own small drivers.
//!
//! Everything here runs on simulated time: no sockets, no threads, and every random choice
//! comes from a fixed seed. Only benches read the wall clock, to measure.
//!
//! The drivers follow the stack's drain rule: after any `handle_*` or command, drain
//! `poll_transmit` until `None`, then `poll_event` until `None`, then read
//! `poll_timeout`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use leanp2p_host::lean;
//! use leanp2p_testkit::{block_topic, lean_gossip_payload, Net};
//!
//! // Two nodes (keys 1 and 2, fixed seeds) on a simulated clock starting at t0.
//! let mut net = Net::new(Instant::now(), 2, |_| lean::config("testkit")).unwrap();
//! let topic = block_topic();
//! let now = net.time;
//! for n in &mut net.nodes {
//!     n.node.subscribe(now, &topic).unwrap();
//! }
//! net.connect(0, 1).unwrap(); // dial and wait until gossip is up both ways
//! net.run_for(Duration::from_secs(2)); // a few heartbeats: subscriptions known, mesh formed
//! let data = lean_gossip_payload(1024, 7).unwrap();
//! let now = net.time;
//! net.nodes[0].node.publish(now, &topic, data.clone()).unwrap();
//! let delivered = net.run_until(Duration::from_secs(5), |net| {
//!     net.nodes[1].events.iter().any(|e| matches!(e,
//!         leanp2p_host::NodeEvent::Message { data: d, .. } if *d == data))
//! });
//! assert!(delivered);
//! ```

mod host_net;
mod quic_net;
mod quic_pair;
mod router;

use std::fmt;

use bytes::Bytes;
use leanp2p_gossipsub::lean::{self, LeanTopic, TopicKind};
use leanp2p_gossipsub::wire::proto::{Message, Rpc, SubOpts};
use leanp2p_gossipsub::TopicHash;
use leanp2p_identity::{Keypair, PeerId};

pub use host_net::{Net, TestNode};
pub use quic_net::{random_payload, DriveStats, LinkConfig, QuicNet, QuicNode, StreamKey};
pub use quic_pair::QuicPair;
pub use router::MeshedRouter;

/// Why a fixture could not be built or driven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixtureError(pub String);

impl fmt::Display for FixtureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bench fixture failed: {}", self.0)
    }
}

impl std::error::Error for FixtureError {}

pub(crate) fn fail(what: impl fmt::Display) -> FixtureError {
    FixtureError(what.to_string())
}

/// The seeded keypair number `i` (secret key `[i; 32]`); `i` must be non-zero.
pub fn keypair(i: u8) -> Result<Keypair, FixtureError> {
    Keypair::from_secret_bytes(&[i; 32]).map_err(|e| fail(format!("keypair {i}: {e}")))
}

/// The PeerId of [`keypair`]`(i)`.
pub fn peer_id(i: u8) -> Result<PeerId, FixtureError> {
    keypair(i).map(|k| k.peer_id())
}

/// `len` deterministic bytes shaped like SSZ: runs of zeros and small integers mixed with
/// pseudo-random 32-byte "roots", so snappy compresses it about as well as a real block.
/// `seed` varies the content.
pub fn ssz_like_payload(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        // xorshift64*: cheap, seeded, good enough for filler bytes.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    while out.len() < len {
        let word = next();
        match word % 4 {
            // A 32-byte root: incompressible.
            0 => {
                for _ in 0..4 {
                    out.extend_from_slice(&next().to_le_bytes());
                }
            }
            // A little-endian u64 field with a small value.
            1 => out.extend_from_slice(&(word >> 48).to_le_bytes()),
            // Zero padding.
            _ => out.extend_from_slice(&[0u8; 24]),
        }
    }
    out.truncate(len);
    out
}

/// A lean gossip payload: [`ssz_like_payload`] of `ssz_len` bytes, snappy block-compressed.
/// Different `seed`s give different message ids.
pub fn lean_gossip_payload(ssz_len: usize, seed: u64) -> Result<Bytes, FixtureError> {
    let ssz = ssz_like_payload(ssz_len, seed);
    lean::snappy_compress(&ssz, lean::MAX_PAYLOAD_SIZE)
        .map(Bytes::from)
        .map_err(|e| fail(format!("snappy: {e}")))
}

/// The lean block topic on the default network.
pub fn block_topic() -> TopicHash {
    LeanTopic::new(lean::DEFAULT_NETWORK, TopicKind::Block).hash()
}

/// The protobuf body (no length prefix) of an RPC carrying one StrictNoSign message.
pub fn message_rpc_body(topic: &TopicHash, data: Bytes) -> Bytes {
    let rpc = Rpc {
        publish: vec![Message {
            data: Some(data),
            topic: topic.as_str().to_owned(),
            ..Message::default()
        }],
        ..Rpc::default()
    };
    Bytes::from(prost::Message::encode_to_vec(&rpc))
}

/// The protobuf body (no length prefix) of an RPC subscribing to `topic`.
pub fn subscribe_rpc_body(topic: &TopicHash) -> Bytes {
    let rpc = Rpc {
        subscriptions: vec![SubOpts {
            subscribe: Some(true),
            topic_id: Some(topic.as_str().to_owned()),
            ..SubOpts::default()
        }],
        ..Rpc::default()
    };
    Bytes::from(prost::Message::encode_to_vec(&rpc))
}
