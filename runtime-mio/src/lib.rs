//! # leanp2p-mio
//!
//! The runtime of leanp2p: a thin [`mio`] reactor over UDP sockets that drives one
//! [`leanp2p_host::Node`]. With the `leanp2p` command line (package `leanp2p-cli`) this
//! is the only code that reads the clock, opens sockets or spawns threads; every protocol
//! layer below it is a sans-IO state machine.
//!
//! Two ways to embed it:
//! * on your own thread: [`Reactor::bind`], then [`Reactor::run`] with a callback that
//!   receives every [`leanp2p_host::NodeEvent`] together with `&mut Node` (so it can
//!   validate, respond or publish at once);
//! * on a thread of its own: [`spawn`] gives a [`ReactorHandle`] (commands in, woken
//!   through a `mio::Waker`) and a channel of events out.
//!
//! Two nodes on their own reactor threads over loopback UDP, one dialling the other:
//!
//! ```
//! use std::time::{Duration, Instant};
//! use leanp2p_host::{lean, Keypair, Node, NodeEvent};
//! use leanp2p_mio::{spawn, Reactor, ReactorConfig};
//!
//! let keys = [1u8, 2].map(|i| Keypair::from_secret_bytes(&[i; 32]).unwrap());
//! let [a, b] = [0, 1].map(|i| {
//!     // Production: load the key file and draw the seed from the OS; fixed for the example.
//!     let config = lean::config("example/0.1");
//!     let node = Node::new(Instant::now(), config, &keys[i], [i as u8; 32]).unwrap();
//!     let localhost = ["127.0.0.1:0".parse().unwrap()];
//!     let reactor = Reactor::bind(node, &localhost, ReactorConfig::default());
//!     spawn(reactor.unwrap(), "leanp2p-example").unwrap()
//! });
//! let (b_addr, b_peer) = (b.local_addrs[0], keys[1].peer_id());
//! // Commands are closures run on the reactor's thread with its `now`.
//! a.handle.run(move |node, now| drop(node.dial(now, b_addr, Some(b_peer)))).unwrap();
//! loop {
//!     let (_at, event) = a.events.recv_timeout(Duration::from_secs(10)).unwrap();
//!     if let NodeEvent::Connected { peer, .. } = event {
//!         assert_eq!(peer, b_peer);
//!         break;
//!     }
//! }
//! for reactor in [a, b] {
//!     reactor.handle.shutdown().unwrap();
//!     reactor.join.join().unwrap().unwrap();
//! }
//! ```
//!
//! ## Discovery
//! Optionally the reactor also runs Node Discovery v5 ([`leanp2p_discv5::Discv5`]) on a
//! UDP socket of its own ([`DiscoverySocket`], [`Reactor::with_discovery`]): bootnode
//! records, periodic random lookups, its timers folded into the sleep, and every
//! discovered record with a QUIC address that passes [`DiscoveryConfig::filter`] fed to
//! [`leanp2p_host::Node::add_peer_address`], so the connection manager dials it while the
//! node is under its peer target.
//!
//! ## Drain rule
//! The reactor applies the stack's drain rule on every wakeup: after any `handle_*` or
//! command it drains `poll_transmit` until `None`, then `poll_event` until `None`, then
//! sleeps until `poll_timeout` (rounded up to the next millisecond). While output is queued
//! the node's deadline is "now", so the reactor never sleeps on pending work.
//!
//! ## Limits
//! Work per wakeup is capped ([`ReactorConfig`]): datagrams read per socket, transmits
//! sent, commands applied. At most one transmit is held back on `WouldBlock`.
//!
//! ## UDP
//! Sockets go through `quinn-udp`: a QUIC GSO batch (`Transmit::segment_size`) is sent
//! in one `sendmsg` with `UDP_SEGMENT` where the kernel supports it (one call per
//! datagram otherwise, or after the kernel refused GSO once); reads use `recvmmsg` with
//! GRO, and each received buffer is split by its stride into the datagrams the node sees.
//! ECN codepoints and the destination IP (`IP_PKTINFO`) are passed both ways.
//! `SO_SNDBUF`/`SO_RCVBUF` are raised ([`ReactorConfig`]) and what the kernel granted is in
//! [`IoStats`]. GSO batches only happen when the node's `quic::Config::max_gso_segments`
//! is above 1: set it from [`probe_gso_segments`].

mod discovery;
mod reactor;
mod udp;

pub use discovery::{
    DiscoveryConfig, DiscoveryEventHook, DiscoverySocket, DiscoveryStats, EnrFilter,
};
pub use reactor::{
    spawn, Command, IoStats, NodeCommand, Reactor, ReactorClosed, ReactorConfig, ReactorError,
    ReactorHandle, SpawnedReactor, EVENT_RETRY,
};
pub use udp::probe_gso_segments;
