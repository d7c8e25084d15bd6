//! # leanp2p-gossipsub
//!
//! A sans-IO gossipsub router (`/meshsub/1.2.0`, `/1.1.0`, `/1.0.0`) with the
//! lean-consensus profile in [`lean`]. One [`Gossipsub`] per node; peers are
//! [`leanp2p_identity::PeerId`]s. The router never sees streams or sockets and never reads
//! the clock: every input carries `now`, and all random choices come from a ChaCha20 RNG
//! seeded in [`Gossipsub::new`], so the same seed and inputs give the same outputs.
//!
//! ## Driving it
//!
//! * The host keeps one outbound `/meshsub` stream per peer and reports it with
//!   [`Gossipsub::handle_peer_connected`] (negotiated [`ProtocolVersion`], direction, IP)
//!   and [`Gossipsub::handle_peer_disconnected`].
//! * Bytes read from a peer's inbound gossip stream go through a per-stream
//!   [`wire::FrameDecoder`]; each complete frame is passed to [`Gossipsub::handle_rpc`].
//! * [`Gossipsub::poll_outbound`] yields [`Outbound`] frames (length prefix included) to
//!   write on the peer's outbound stream. If a stream is blocked, report it with
//!   [`Gossipsub::handle_peer_blocked`]; that peer's bounded queue then fills, forwards are
//!   dropped first and [`Event::SlowPeer`] is emitted. Other peers are never blocked.
//! * Commands: [`Gossipsub::subscribe`], [`Gossipsub::unsubscribe`],
//!   [`Gossipsub::publish`], [`Gossipsub::report_validation`].
//! * Timers: [`Gossipsub::poll_timeout`] / [`Gossipsub::handle_timeout`] run the
//!   heartbeat, score decay and validation timeouts ([`TimeoutReason`]).
//!
//! ## Drain rule
//!
//! After **any** `handle_*` call or command, drain in this order:
//! [`Gossipsub::poll_outbound`] until `None`, then [`Gossipsub::poll_event`] until `None`,
//! then read [`Gossipsub::poll_timeout`]. While output is queued for a writable peer,
//! `poll_timeout` returns the last `now` seen ([`TimeoutReason::QueuedIo`]), so a driver
//! never sleeps on pending work.
//!
//! Two routers joined by hand (what the host does with `/meshsub` streams), a block
//! published by one and validated by the other:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use bytes::Bytes;
//! use leanp2p_gossipsub::{lean, wire, Event, Gossipsub, Validation};
//! use leanp2p_gossipsub::{PeerConnection, ProtocolVersion};
//! use leanp2p_identity::Keypair;
//!
//! let t0 = Instant::now(); // tests inject time: t0 + Duration
//! let peers = [1u8, 2].map(|i| Keypair::from_secret_bytes(&[i; 32]).unwrap().peer_id());
//! let mut routers = [0u8, 1].map(|i| Gossipsub::new(t0, lean::config(), [i; 32]).unwrap());
//! let topic = lean::LeanTopic::new(lean::DEFAULT_NETWORK, lean::TopicKind::Block).hash();
//! for i in 0..2 {
//!     routers[i].subscribe(t0, &topic).unwrap();
//!     // The host reports a peer once its `/meshsub` stream is negotiated.
//!     let conn = PeerConnection::new(ProtocolVersion::V1_2, i == 0);
//!     routers[i].handle_peer_connected(t0, peers[1 - i], conn).unwrap();
//! }
//! let block = Bytes::from(lean::snappy_compress(b"SSZ block", lean::MAX_PAYLOAD_SIZE).unwrap());
//!
//! let (mut now, mut published, mut delivered) = (t0, false, None);
//! while delivered.is_none() && now < t0 + Duration::from_secs(10) {
//!     // `publish` fails with InsufficientPeers until the peer's subscription is known.
//!     if !published && routers[0].subscribed_peers(&topic).next().is_some() {
//!         routers[0].publish(now, &topic, block.clone()).unwrap();
//!         published = true;
//!     }
//!     for i in 0..2 {
//!         if routers[i].poll_timeout().is_some_and(|t| t <= now) {
//!             routers[i].handle_timeout(now); // heartbeat
//!         }
//!         // The drain rule: outbound frames, then events.
//!         let mut frames = Vec::new();
//!         while let Some(out) = routers[i].poll_outbound() {
//!             frames.push(out.frame);
//!         }
//!         for frame in frames {
//!             let body = wire::decode_frame(&frame, lean::MAX_PAYLOAD_SIZE).unwrap();
//!             routers[1 - i].handle_rpc(now, peers[i], body).unwrap();
//!         }
//!         while let Some(event) = routers[i].poll_event() {
//!             if let Event::Message { id, propagation_source, data, .. } = event {
//!                 let verdict = Validation::Accept; // after checking `data`
//!                 routers[i].report_validation(now, &id, propagation_source, verdict).unwrap();
//!                 delivered = Some(data);
//!             }
//!         }
//!     }
//!     now += Duration::from_millis(100);
//! }
//! assert_eq!(delivered, Some(block));
//! ```
//!
//! ## Validation
//!
//! With `validate_messages` (the default), a received message is checked (signature
//! policy, size, topic, duplicates), IDONTWANT is sent for large messages, and the
//! message is delivered as [`Event::Message`]. It is cached and forwarded only after
//! [`Gossipsub::report_validation`] with [`Validation::Accept`]; `Reject` penalises the
//! senders (P4), `Ignore` and the validation timeout do not.
//!
//! ## Limits
//!
//! Every buffer is bounded by [`Limits`]; bad input from a peer never panics: malformed
//! RPC sections are skipped (the rest of the frame still applies), counted in
//! [`Stats`], and reported through the `Result` of `handle_rpc`.

pub mod config;
pub mod error;
pub mod event;
pub mod lean;
mod lean_score;
pub mod limits;
pub mod stats;
pub mod types;
pub mod wire;

mod backoff;
mod mcache;
mod promises;
mod queue;
mod router;
mod score;
mod seen;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

#[cfg(test)]
mod tests;

pub use config::{
    default_message_id, Config, MessageIdFn, PayloadLenFn, ScoreConfig, SignaturePolicy,
};
pub use error::{
    ConfigError, FrameError, PeerError, PublishError, RpcError, SnappyError, SubscriptionError,
    TopicError, ValidationError,
};
pub use event::{Event, PxPeer};
pub use limits::Limits;
pub use router::{Gossipsub, TimeoutReason};
pub use score::{PeerScoreParams, PeerScoreThresholds, TopicScoreParams};
pub use stats::Stats;
pub use types::{
    Lane, MessageId, Outbound, PeerConnection, ProtocolVersion, TopicHash, Validation, PROTOCOL_IDS,
};
