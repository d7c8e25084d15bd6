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
