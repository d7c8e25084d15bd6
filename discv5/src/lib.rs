//! # leanp2p-discv5
//!
//! Node Discovery v5.1 (devp2p `discv5-wire.md`, `discv5-theory.md`) as a sans-IO state
//! machine. [`Discv5`] never reads the clock, opens a socket or draws OS randomness: every
//! input carries `now`, and nonces, ephemeral keys and request IDs come from a ChaCha20
//! RNG seeded in [`Discv5::new`].
//!
//! Layers, bottom up:
//! * [`packet`]: static header, AES-128-CTR header masking, the ordinary / WHOAREYOU /
//!   handshake packet kinds, and the AES-128-GCM message seal (`masking-iv || header` as
//!   additional data). Every malformation is a typed [`packet::PacketError`].
//! * [`crypto`]: ECDH (compressed shared point), HKDF-SHA256 session keys, the ID-nonce
//!   signature ("v4" identity scheme, secp256k1).
//! * [`message`]: PING, PONG, FINDNODE, NODES, TALKREQ, TALKRESP (RLP).
//! * [`session`]: session keys per `(node ID, UDP address)` in a bounded LRU cache.
//! * [`table`]: the Kademlia table (256 buckets of 16, replacement caches, /24 limits).
//! * [`machine`]: [`Discv5`], which runs handshakes, requests, answers, liveness PINGs,
//!   iterative lookups ([`Discv5::lookup`], α = 3; [`Discv5::lookup_matching`] reports
//!   only records passing an [`EnrPredicate`]), table refresh lookups
//!   ([`Config::refresh_interval`]) and PONG-vote external address detection
//!   ([`Event::ExternalAddress`]).
//!
//! ## Driving it
//!
//! * Datagrams received on the discovery socket go to [`Discv5::handle_packet`] with the
//!   sender's address.
//! * Commands: [`Discv5::add_enr`] (make a node contactable), [`Discv5::ping`],
//!   [`Discv5::find_node`], [`Discv5::talk_request`], [`Discv5::talk_response`] (answer an
//!   [`Event::TalkRequest`]), [`Discv5::update_local_enr`], [`Discv5::lookup`].
//! * Requests to a node without a session are sent with random keys, answered by
//!   WHOAREYOU, and re-sent in a handshake packet; requests issued meanwhile wait until the
//!   session exists. A request times out after [`Config::request_timeout`] and is re-sent
//!   [`Config::request_retries`] times before [`Event::RequestFailed`].
//! * PING and FINDNODE are answered by the machine itself (PONG carries the observed
//!   address; FINDNODE is served from the table, distance 0 is our own record).
//!
//! ## Example
//!
//! Two machines wired in memory: node A pings node B; the first request runs the
//! WHOAREYOU handshake, and A gets B's PONG.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddr};
//! use std::time::Instant;
//! use leanp2p_discv5::{Config, Discv5, Event};
//! use leanp2p_identity::{Enr, Keypair};
//!
//! let now = Instant::now();
//! let mut nodes = Vec::new();
//! let mut addrs = Vec::new();
//! for i in 0..2u8 {
//!     let key = Keypair::from_secret_bytes(&[i + 1; 32]).unwrap(); // seeded keys
//!     let port = 9000 + u16::from(i);
//!     let enr = Enr::builder().ip4(Ipv4Addr::LOCALHOST).udp4(port).build(&key).unwrap();
//!     nodes.push(Discv5::new(now, Config::default(), key, enr, [i; 32]).unwrap());
//!     addrs.push(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
//! }
//! let b_enr = nodes[1].local_enr().clone();
//! let b_id = nodes[1].local_id();
//! nodes[0].add_enr(b_enr).unwrap();
//! nodes[0].ping(now, b_id).unwrap();
//! // The drain rule, by hand: move datagrams until nothing moves.
//! let mut pong = false;
//! for _ in 0..10 {
//!     for i in 0..2 {
//!         while let Some(t) = nodes[i].poll_transmit() {
//!             let to = addrs.iter().position(|a| *a == t.dest).unwrap();
//!             nodes[to].handle_packet(now, addrs[i], &t.bytes);
//!         }
//!         while let Some(event) = nodes[i].poll_event() {
//!             pong |= i == 0 && matches!(event, Event::Pong { .. });
//!         }
//!     }
//! }
//! assert!(pong);
//! ```
//!
//! ## Drain rule
//!
//! After **any** `handle_*` call or command, drain [`Discv5::poll_transmit`] until `None`
//! (send each [`Transmit`] to its `dest`), then [`Discv5::poll_event`] until `None`, then
//! re-arm the timer from [`Discv5::poll_timeout`] and call [`Discv5::handle_timeout`] when
//! it is due. While output is queued, `poll_timeout` returns the last `now` seen, so a
//! driver never sleeps on pending work.
//!
//! ## Bounds
//!
//! Packets are 63..=1280 bytes. Request IDs ≤ 8 bytes; FINDNODE ≤ 32 distances; NODES
//! ≤ 16 records per message, `total` ≤ 16 and ≤ 16 records kept per request. Sessions:
//! [`Config::session_capacity`] (LRU, default 1,000). Contacts: [`Config::contact_capacity`]
//! (default 4,096, oldest dropped). Requests in flight or queued:
//! [`Config::max_active_requests`] (1,024). Outstanding challenges:
//! [`Config::max_challenges`] (1,024). WHOAREYOU per IP: [`Config::whoareyou_per_ip`] per
//! [`Config::whoareyou_window`] (16 per second) over at most
//! [`Config::whoareyou_tracked_ips`] IPs. Inbound TALKREQs awaiting an answer:
//! [`Config::max_inbound_talk`] (128). Output queues: [`Config::max_queued_transmits`] and
//! [`Config::max_queued_events`] (4,096 each). Lookups: [`Config::max_lookups`] (16), each
//! ≤ 64 candidates and ≤ 64 queries. PONG votes: [`Config::pong_vote_capacity`] (32).
//! Records from NODES answers already verified, by their bytes (an unchanged record is
//! not verified again): [`Config::verified_record_cache`] (1,024, then it starts over).
//! Table: 256 × 16 entries plus 256 × 8 replacements. Every packet, message, record or
//! request dropped at a bound is counted in [`Stats`]; contacts and lookup candidates
//! beyond their caps are forgotten oldest / farthest first.
//!
//! ## Simultaneous handshakes
//!
//! When two nodes start handshakes with each other at once, the one with the larger node
//! ID does not challenge the other's packet (its own handshake wins, counted in
//! [`Stats::challenges_yielded`]); the other side's request is re-sent over the session
//! that handshake creates. Both end with the same keys and no retry.
//!
//! ## Not yet
//!
//! Topic advertisement (REGTOPIC/TOPICQUERY) is not implemented; see `discv5/README.md`.
//! The runtime drives the machine in `leanp2p-mio` (`Reactor::with_discovery`); the
//! loopback interop tests against the `discv5` crate live in
//! `interop/tests/discv5/`.

pub mod crypto;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod machine;
pub mod message;
pub mod node_id;
pub mod packet;
pub mod session;
pub mod table;

pub use machine::{
    udp_endpoint, CommandError, Config, Direction, Discv5, EnrPredicate, Event, FedRecords,
    InboundTalkId, LookupId, RequestError, Stats, TimeoutReason, Transmit, MAX_FED_RECORDS,
};
pub use message::{Message, RequestId};
pub use node_id::NodeId;
