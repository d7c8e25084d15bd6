//! leanp2p quic: libp2p over QUIC v1 as a sans-IO endpoint on `quinn-proto`.
//!
//! An [`Endpoint`] owns a `quinn_proto::Endpoint` and all of its connections and hides
//! quinn's endpoint⇄connection event exchange. It never reads the clock, opens sockets or
//! draws unseeded randomness: time comes in as `now`, datagrams come in through
//! [`Endpoint::handle_datagram`] and go out through [`Endpoint::poll_transmit`], and every
//! random choice derives from the seed given to [`Endpoint::new`].
//!
//! * Security: libp2p TLS 1.3 (ALPN `libp2p`) from `leanp2p_identity::tls` on both
//!   sides. [`Event::Connected`] is emitted only once the peer's certificate is verified
//!   and its PeerId known; a dial whose peer proves another PeerId ends in
//!   [`Event::DialFailed`] with [`DialFailure::WrongPeerId`].
//! * Streams: one bidirectional QUIC stream is one libp2p stream; either side opens them,
//!   on inbound and outbound connections alike ([`Event::StreamOpened`]).
//! * Flow control: [`Endpoint::write`] returns how many bytes were accepted; the caller
//!   keeps the rest until [`Event::Writable`]. [`SendBuffer`] does that bookkeeping.
//! * Liveness: keep-alive PINGs every [`Config::keep_alive_interval`] (5 s); a silent
//!   peer is declared lost after [`Config::max_idle_timeout`] (10 s) with
//!   [`CloseReason::TimedOut`]; a peer's CONNECTION_CLOSE is reported at once.
//!
//! # Driving an endpoint (the drain rule)
//!
//! After **any** `handle_*` call or command (`dial`, `open_bi`, `write`, `finish`,
//! `reset`, `stop`, `read`, `close`): drain [`Endpoint::poll_transmit`] until `None`
//! (sending each datagram), then [`Endpoint::poll_event`] until `None`, then read
//! [`Endpoint::poll_timeout`] and sleep until that instant or the next datagram. While
//! output is queued, `poll_timeout` returns the last `now` the endpoint saw (reason
//! [`TimeoutReason::QueuedIo`]), so a driver can never sleep on pending work. Reading
//! streams promptly matters: QUIC grants the peer more credit only as data is read.
//! Each input or command queues a bounded number of events (a datagram carries at most
//! a few dozen frames); the event queue stays small as long as the caller drains it.
//!
//! Two endpoints joined by hand in memory, every datagram delivered one millisecond
//! later, until both report the verified peer:
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use leanp2p_identity::Keypair;
//! use leanp2p_quic::{Config, Datagram, Endpoint, Event};
//!
//! let t0 = Instant::now(); // tests inject time: t0 + Duration
//! let addrs: [SocketAddr; 2] = [
//!     "127.0.0.1:9000".parse().unwrap(),
//!     "127.0.0.1:9001".parse().unwrap(),
//! ];
//! let keys = [1u8, 2].map(|i| Keypair::from_secret_bytes(&[i; 32]).unwrap()); // seeded
//! let mut endpoints =
//!     [0, 1].map(|i| Endpoint::new(Config::default(), &keys[i], [i as u8; 32]).unwrap());
//! endpoints[0].dial(t0, addrs[1], Some(keys[1].peer_id())).unwrap();
//!
//! let (mut now, mut buf, mut connected) = (t0, Vec::new(), [false; 2]);
//! let mut wire: Vec<(usize, Vec<u8>)> = Vec::new(); // (to, datagram)
//! while connected != [true; 2] && now < t0 + Duration::from_secs(5) {
//!     for (to, data) in std::mem::take(&mut wire) {
//!         let remote = addrs[1 - to];
//!         let datagram = Datagram { remote, local_ip: None, ecn: None, data: &data };
//!         endpoints[to].handle_datagram(now, datagram);
//!     }
//!     for i in 0..2 {
//!         let endpoint = &mut endpoints[i];
//!         if endpoint.poll_timeout().is_some_and(|t| t <= now) {
//!             endpoint.handle_timeout(now);
//!         }
//!         // The drain rule: transmits, then events, then the deadline.
//!         while let Some(transmit) = endpoint.poll_transmit(now, &mut buf) {
//!             wire.push((1 - i, buf[..transmit.size].to_vec()));
//!         }
//!         while let Some(event) = endpoint.poll_event() {
//!             if let Event::Connected { peer, .. } = event {
//!                 assert_eq!(peer, keys[1 - i].peer_id());
//!                 connected[i] = true;
//!             }
//!         }
//!     }
//!     now += Duration::from_millis(1);
//! }
//! assert_eq!(connected, [true; 2]);
//! ```
//!
//! # Timeout reasons
//!
//! [`Endpoint::timeout_reason`] says why `poll_timeout` returned its deadline:
//! [`TimeoutReason::QueuedIo`] (drain first), [`TimeoutReason::Pacing`] (quinn's pacer
//! holds the next packet — pacing is visible only as this earlier deadline),
//! [`TimeoutReason::Handshake`], [`TimeoutReason::KeepAlive`], [`TimeoutReason::Idle`],
//! [`TimeoutReason::Recovery`] (loss detection, PTO, delayed ACK, key discard, path
//! validation, CID rotation) and [`TimeoutReason::Closing`] (draining period).
//!
//! # Wire settings
//!
//! Mirrors rust-libp2p: QUIC version 1 only, `max_idle_timeout` 10 s, keep-alive 5 s,
//! 256 concurrent bidirectional streams, no unidirectional streams, no datagrams, stream
//! window 10 MB, connection window 15 MB, MTU discovery up to 1452, no server migration,
//! server name `l`. The congestion controller is [`CongestionController::Cubic`] unless
//! configured otherwise (NewReno, BBR).
//!
//! # Determinism
//!
//! All of quinn's randomness and our certificate generation come from the seed, but
//! rustls draws its handshake randomness (client random, key shares) from `ring`, so two
//! runs with one seed agree on behaviour and timing, not byte for byte.

mod config;
mod connection;
mod endpoint;
mod error;
mod event;
mod limits;
mod send_buffer;
mod stats;
mod streams;
mod timer;
mod tls;
mod translate;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use config::{Config, CongestionController};
pub use endpoint::Endpoint;
pub use error::{
    CloseError, ConfigError, DialError, DialFailure, OpenStreamError, ReadError, StreamError,
    WriteError,
};
pub use event::{CloseReason, ConnId, Datagram, Direction, Ecn, Event, StreamId, Transmit};
pub use limits::Limits;
pub use send_buffer::{SendBuffer, SendBufferFull};
pub use stats::{ConnectionStats, EndpointStats};
pub use timer::TimeoutReason;
