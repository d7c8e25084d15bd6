//! leanp2p host: the composed libp2p node for lean-consensus clients.
//!
//! A [`Node`] owns one [`leanp2p_quic::Endpoint`], one [`leanp2p_gossipsub::Gossipsub`]
//! router and one [`leanp2p_reqresp::ReqResp`] machine, and routes every QUIC stream
//! between them. It is the one state machine an embedder drives: like the QUIC endpoint
//! it never reads the clock, opens sockets or draws unseeded randomness. Time comes in
//! as `now`, datagrams through [`Node::handle_datagram`] and go out through
//! [`Node::poll_transmit`]; every random choice derives from the seed of [`Node::new`].
//!
//! # Driving a node (the drain rule)
//!
//! After **any** `handle_*` call or command (`listen`, `dial`, `disconnect`,
//! `subscribe`, `publish`, `report_validation`, `request`, `respond`, ...): drain
//! [`Node::poll_transmit`] until `None` (sending each datagram), then
//! [`Node::poll_event`] until `None`, then read [`Node::poll_timeout`] and sleep until
//! that instant or the next datagram, then call [`Node::handle_timeout`]. While output is
//! queued, `poll_timeout` returns the last `now` seen ([`TimeoutReason::QueuedIo`]), so a
//! driver never sleeps on pending work; while the node [`Pacer`] holds traffic back it
//! returns the pacing deadline ([`TimeoutReason::Pacing`]).
//!
//! ```no_run
//! # use std::time::Instant;
//! # use leanp2p_host::{Node, NodeEvent};
//! # fn send(_: &[u8], _: &leanp2p_quic::Transmit) {}
//! # fn drive(node: &mut Node, now: Instant) {
//! let mut buf = Vec::new();
//! while let Some(transmit) = node.poll_transmit(now, &mut buf) {
//!     send(&buf[..transmit.size], &transmit);
//! }
//! while let Some(event) = node.poll_event() {
//!     if let NodeEvent::Message { .. } = event { /* validate, report_validation */ }
//! }
//! let _wake_at = node.poll_timeout();
//! # }
//! ```
//!
//! Inside, the node drains its children within its own handlers (QUIC events, gossipsub
//! frames, req/resp stream operations, their events) and translates them into its own
//! queues; only `poll_transmit` passes straight through to QUIC.
//!
//! # Streams
//!
//! Every stream runs multistream-select 1.0 first (V1Lazy when we offer a single
//! protocol, so header, proposal and request leave in one write), under
//! [`Limits::negotiation_timeout`]. Agreed streams go to their owner:
//!
//! * `/meshsub/1.2.0|1.1.0|1.0.0`: exactly one outbound stream per peer, on the peer's
//!   gossip connection, fed from the peer's one queue in the router (see *Memory* below) through
//!   a [`leanp2p_quic::SendBuffer`] (whole frames, in order; `Writable` refills it).
//!   Inbound gossip streams are read on every connection; a newer one on the same
//!   connection replaces the older. A failed outbound stream is recreated at most
//!   [`Limits::max_gossip_stream_attempts`] times.
//! * Req/resp protocols of [`Config::reqresp`]: one stream per request.
//! * `/ipfs/id/1.0.0` and `/ipfs/id/push/1.0.0`: see [`PeerInfo`].
//! * `/ipfs/ping/1.0.0`: both roles, RTT in [`Stats::ping_rtt`].
//! * Application protocols registered with [`Node::register_protocol`]: raw streams,
//!   bytes delivered as [`NodeEvent::AppStreamData`] ([`AppStream`] handles).
//!
//! Each stream buffers at most [`Limits::max_stream_send_buffer`] unsent bytes, and each
//! connection accepts a bounded number of inbound streams per protocol.
//!
//! # Double connections
//!
//! Two connections to one peer (a simultaneous dial, or both sides keeping the other as
//! a known peer) are both kept. Our `/meshsub` stream goes on our *outbound* leg when
//! we have one (else the inbound one); both ends apply this rule, so each writes its
//! one stream on the leg it dialled and reads the peer's on the other, and the pair
//! converges after at most one move. When our outbound leg comes up after gossip
//! started on the inbound one, the old stream is finished once its buffered frames are
//! written and a new one opens on the outbound leg (the peer sees a new inbound
//! `/meshsub` stream, which rust-libp2p accepts in place of the old). When the leg
//! carrying our stream closes, the stream moves to the surviving leg at once; queued
//! frames wait in the peer's router queue and are not lost.
//!
//! # Connections
//!
//! A connection that no protocol needs (no gossip stream either way, no request in
//! flight, not our leg to a known peer) is closed after
//! [`Config::idle_connection_timeout`]; keep-alive comes from QUIC
//! ([`leanp2p_quic::Config`]) and [`Config::gossip_keepalive`]. Known peers, bootnodes,
//! the peer target, redial backoff, the peer caps and the connection caps (per peer,
//! per IP) are the connection manager's: see
//! [`ConnManagerConfig`] (and [`STABLE_CONNECTION`]), [`Node::add_known_peer`],
//! [`Node::add_bootnode`] and [`Node::add_peer_address`]. Peers whose gossipsub score
//! falls below the graylist threshold are disconnected; dialling ourselves is refused.

//! # Memory: what a slow peer can cost
//!
//! [`Node::buffered_bytes`] (and [`Stats::buffered_bytes`]) counts what the node holds
//! unsent per peer. Each bound is documented where it is set:
//!
//! * gossip: one queue per peer (in the router) plus its stream buffer, under one byte
//!   budget — the overflow policy, the `SlowPeer` episode and the slow-peer disconnect
//!   are on [`Limits::gossip_peer_buffer`];
//! * responses: [`Node::respond`] and [`Limits::response_high_water`] (refuse with
//!   [`RespondError::QueueFull`], go on at [`NodeEvent::ResponseWritable`]);
//! * every other stream: [`Limits::max_stream_send_buffer`];
//! * below the host, QUIC: [`leanp2p_quic::Config::send_window`] and the peer's credit.
//!
//! The repository's `docs/ARCHITECTURE.md` has the table of every queue and budget, the
//! data paths, and the host's internals (`node/` routes, `connection/` owns streams, the
//! timer table).

//! # Pacing, stats, lean profile
//!
//! [`PacerConfig`] / [`Node::set_pacer`] install a node-level [`Pacer`] ([`NullPacer`] by
//! default, [`TokenBucket`] to cap aggregate egress). [`Node::stats`] returns gauges and
//! counters named after the leanMetrics `lean_*` series. [`lean`] holds the lean-consensus
//! defaults (topics, message id, caps, protocol ids, gossip parameters) and
//! [`lean::config`] builds the node configuration from them.
//!
//! # Determinism
//!
//! Maps whose order reaches output are `BTreeMap`s; every random choice (QUIC, gossipsub,
//! ping payloads, redial jitter) derives from the seed. rustls draws its handshake
//! randomness from `ring`, so two runs agree on behaviour and timing, not byte for byte.

mod app_streams;
mod config;
mod conn_manager;
mod connection;
mod error;
mod event;
mod identify;
pub mod lean;
mod limits;
mod node;
mod pacer;
mod peer_target;
mod stats;
mod timer;

pub use app_streams::{AppStream, AppStreamError};
pub use config::{Config, IdentifyConfig, PingConfig};
pub use conn_manager::ConnManagerConfig;
pub use error::{ConfigError, DialError, DisconnectError, ListenError};
pub use event::{DisconnectReason, NodeEvent, PingFailure};
pub use identify::{IdentifyError, PeerInfo};
pub use limits::Limits;
pub use node::diagnostics::{StreamInfo, StreamRole};
pub use node::{Node, IDENTIFY_PROTOCOL, IDENTIFY_PUSH_PROTOCOL, PING_PROTOCOL};
pub use pacer::{NullPacer, Pacer, PacerConfig, TokenBucket};
pub use peer_target::STABLE_CONNECTION;
pub use stats::{Counters, Stats};
pub use timer::TimeoutReason;

pub use leanp2p_gossipsub::{
    MessageId, PublishError, SubscriptionError, TopicHash, Validation, ValidationError,
};
pub use leanp2p_identity::{Keypair, Multiaddr, PeerId, PublicKey};
pub use leanp2p_multistream::ProtocolId;
pub use leanp2p_quic::{ConnId, Datagram, Direction, StreamId, Transmit};
pub use leanp2p_reqresp::{
    CancelError, ChannelId, RequestError, RequestId, RespondError, ResponseChunk, ResponseCode,
};
