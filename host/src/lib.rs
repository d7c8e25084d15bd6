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
//! [`Node::drive`] does all of that in one call, in the right order, and returns the
//! next deadline. Two nodes joined by hand in memory, driven only by `drive`:
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use leanp2p_host::{lean, Datagram, Keypair, Node, NodeEvent};
//!
//! let t0 = Instant::now(); // tests inject time: t0 + Duration
//! let addrs: [SocketAddr; 2] = [
//!     "127.0.0.1:9000".parse().unwrap(),
//!     "127.0.0.1:9001".parse().unwrap(),
//! ];
//! let mut nodes = [1u8, 2].map(|i| {
//!     let key = Keypair::from_secret_bytes(&[i; 32]).unwrap(); // seeded keys
//!     Node::new(t0, lean::config("example/0.1"), &key, [i; 32]).unwrap()
//! });
//! let b = nodes[1].local_peer_id();
//! nodes[0].dial(t0, addrs[1], Some(b)).unwrap();
//!
//! let (mut now, mut buf, mut connected) = (t0, Vec::new(), false);
//! let mut wire: Vec<(usize, Vec<u8>)> = Vec::new(); // (to, datagram)
//! while !connected && now < t0 + Duration::from_secs(5) {
//!     for (to, data) in std::mem::take(&mut wire) {
//!         let remote = addrs[1 - to];
//!         let datagram = Datagram { remote, local_ip: None, ecn: None, data: &data };
//!         nodes[to].handle_datagram(now, datagram);
//!     }
//!     for i in 0..2 {
//!         nodes[i].drive(
//!             now,
//!             &mut buf,
//!             |out| wire.extend(out.datagrams().map(|d| (1 - i, d.to_vec()))),
//!             |_node, event| connected |= matches!(event, NodeEvent::Connected { .. }),
//!         );
//!     }
//!     now += Duration::from_millis(1);
//! }
//! assert!(connected);
//! ```
//!
//! Inside, the node drains its children within its own handlers (QUIC events, gossipsub
//! frames, req/resp stream operations, their events) and translates them into its own
//! queues; only `poll_transmit` passes straight through to QUIC.
//!
//! # Embedding in your runtime
//!
//! `leanp2p-host` plus a runtime is all an embedder needs: the crate re-exports the
//! types of its API ([`Bytes`], [`ProtocolId`], [`Keypair`], the lean req/resp messages
//! [`Status`], [`Checkpoint`], [`BlocksByRootRequest`], [`BlocksByRangeRequest`], and the
//! snappy helpers for gossip payloads [`snappy_compress`] / [`snappy_decompress`]). The
//! `leanp2p-mio` crate is one ready-made driver; this crate's examples show two more,
//! `examples/tokio.rs` (tokio `UdpSocket`s) and `examples/blocking.rs` (a plain loop over
//! `std::net::UdpSocket`, no async). What every driver must get right:
//!
//! * **One owner.** One task (or thread) owns the [`Node`] and its socket(s). It waits
//!   for the first of: a datagram, a command, the node's deadline; applies it; then
//!   calls [`Node::drive`]. Other tasks never touch the node: they send the owner
//!   commands, e.g. `Box<dyn FnOnce(&mut Node, Instant) + Send>` closures over a channel
//!   (the owner runs each with its `now`), and receive events over another channel.
//! * **Deadlines.** The deadline `drive` returns may already be in the past: that means
//!   "run again now", not "sleep". tokio's `sleep_until` returns at once for a past
//!   instant; a blocking loop must not call `UdpSocket::set_read_timeout` with a zero
//!   duration (std refuses it) and should skip the wait instead. `None` means no timer
//!   is armed: wait for a datagram or command only.
//! * **Time.** Pass the same monotonic `now` to every call of one wakeup. Under tokio's
//!   paused clock (`tokio::time::pause`, `#[tokio::test(start_paused = true)]`) read
//!   time as `tokio::time::Instant::now().into_std()` and sleep with
//!   `tokio::time::sleep_until(tokio::time::Instant::from_std(deadline))`:
//!   `std::time::Instant::now()` does not follow the paused clock.
//! * **Receiving.** Use a receive buffer as large as the largest datagram the socket can
//!   hand you: 65,535 bytes covers any UDP payload and a GRO batch (split a GRO batch by
//!   the stride the kernel reports and pass each datagram separately). A truncated
//!   datagram fails decryption and is lost. Fill [`Datagram::local_ip`] and
//!   [`Datagram::ecn`] with `None` when the socket cannot report them (no `IP_PKTINFO`,
//!   no TOS/ECN control messages): the node works without them.
//! * **Sending.** [`Node::poll_transmit`] clears `buf` and writes the datagram into
//!   `buf[..transmit.size]`; [`Node::drive`] hands it over as an [`Outgoing`]. A
//!   [`Transmit`] with `segment_size: Some(n)` is a GSO batch of `n`-byte datagrams:
//!   send it with `UDP_SEGMENT`, or split it ([`Outgoing::datagrams`]) and send each.
//!   Batches only appear when `quic::Config::max_gso_segments` is above 1 (default 1).
//!   If a send fails (`WouldBlock`, `ENOBUFS`, an unreachable destination), drop the
//!   datagram and go on: QUIC sees a loss and retransmits. Do not block the owner task
//!   retrying it. Frequent `WouldBlock`s cost throughput: raise the socket's `SO_SNDBUF`
//!   (`leanp2p-mio` asks for 8 MiB), or drive [`Node::poll_transmit`] yourself and hold
//!   the one transmit that did not fit until the socket is writable, as `leanp2p-mio`
//!   does ([`Node::drive`] always drains everything).
//! * **Seeds.** [`Node::new`] takes a 32-byte seed for every random choice it makes
//!   (QUIC connection IDs, gossip peer sampling, ping payloads, redial jitter). In
//!   production fill it from the operating system (for example `getrandom::fill` or
//!   `rand::rngs::OsRng`) and load the host key from the node's key file
//!   ([`Keypair::from_secret_bytes`]); a fixed seed in production makes those choices
//!   predictable. In tests use fixed keys and seeds (`[i; 32]`), so runs repeat.
//! * **Listening.** [`Node::listen`] only records an address to advertise (identify)
//!   and to refuse dials to ourselves; the node accepts inbound connections on any
//!   datagram you hand it, listening or not.
//! * **Publishing.** [`Node::publish`] returns [`PublishError::InsufficientPeers`] until
//!   some connected peer's subscription to the topic is known: wait for
//!   [`NodeEvent::Subscribed`] for that topic before the first publish.
//! * **Shutdown.** [`Node::disconnect`] each peer, call `drive` once more so the
//!   CONNECTION_CLOSE leaves, then drop the node and the socket.
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
mod drive;
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
pub use drive::{Outgoing, MAX_DRIVE_ROUNDS};
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

pub use leanp2p_gossipsub::lean::{snappy_compress, snappy_decompress};
pub use leanp2p_gossipsub::{
    MessageId, PublishError, SnappyError, SubscriptionError, TopicHash, Validation, ValidationError,
};
pub use leanp2p_identity::{Keypair, Multiaddr, PeerId, PublicKey};
pub use leanp2p_multistream::ProtocolId;
pub use leanp2p_quic::{ConnId, Datagram, Direction, Ecn, StreamId, Transmit};
pub use leanp2p_reqresp::lean::{
    BlocksByRangeRequest, BlocksByRootRequest, Checkpoint, Root, SszError, Status,
};
pub use leanp2p_reqresp::{
    CancelError, ChannelId, RequestError, RequestId, RespondError, ResponseChunk, ResponseCode,
};

/// Shared, cheaply cloned byte buffers (the `bytes` crate), as taken by
/// [`Node::publish`], [`Node::request`] and [`ResponseChunk::success`].
pub use bytes::Bytes;
