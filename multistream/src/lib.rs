//! # leanp2p-multistream
//!
//! multistream-select 1.0 protocol negotiation, run once at the start of every QUIC stream,
//! as a sans-IO state machine: one [`Negotiation`] per stream, bytes in, bytes out, no
//! clock, no I/O. Wire-compatible with rust-libp2p's `multistream-select` (V1 and V1Lazy)
//! and go-libp2p.
//!
//! ## Drain rule
//! After constructing a [`Negotiation`] and after **every** `handle_*` call: call
//! [`Negotiation::poll_output`] until it returns `None`, writing each buffer to the stream
//! in order; then check [`Negotiation::outcome`]. Any error from `handle_*` is final: reset
//! the stream (both directions). There are no timers here; the host applies a negotiation
//! timeout (rust-libp2p uses 10 s per substream upgrade) and resets the stream when it fires.
//!
//! ## Roles and modes
//! * **Dialer** (opened the stream): [`Negotiation::dialer`] proposes a [`ProtocolSet`] in
//!   preference order, header and first proposal in one buffer, falls back to the next
//!   candidate on `na`, fails with [`NegotiationError::NoProtocolInCommon`] after the last.
//! * **Listener** (accepted the stream): [`Negotiation::listener`] sends its header at once,
//!   echoes the first supported proposal, answers `na` otherwise and answers `ls`.
//! * **V1Lazy** ([`Version::V1Lazy`], dialer only): when it proposes its last (for a single
//!   protocol: its only) candidate, the dialer settles optimistically.
//!   [`Negotiation::ready_to_send`] then returns the protocol at once, and the host may
//!   write application bytes right after draining `poll_output` — header, proposal and
//!   request go out in one write. The listener's header and echo are consumed later
//!   ([`Negotiation::outcome`] confirms); an `na` fails with
//!   [`NegotiationError::LazyRejected`]. Listeners accept lazy dialers without any setting.
//!
//! ## Leftover bytes
//! Bytes that arrive after the final negotiation frame (a lazy dialer's request, a fast
//! listener's response) belong to the application: they come back as
//! [`Negotiated::leftover`]. Input may be split at any byte boundary; the result is the
//! same.
//!
//! ## Allocation
//! Protocol ids are [`ProtocolId`]s — a `&'static str` or a shared `Arc<str>`, so cloning
//! never allocates. A [`ProtocolSet`] pre-encodes every frame once; a negotiation's output
//! is zero-copy slices of it, and the input path copies only frames split across reads.
//! With [`Negotiation::handle_input_bytes`] the leftover is a zero-copy slice too.
//!
//! ## Limits
//! See [`Limits`]: at most `max_line_len` (default 1024) buffered input bytes per stream,
//! at most `max_attempts` (default 16) `na`/`ls` answers, at most `max_ls_entries`
//! (default 128) entries in a received `ls` response. Peer bytes never panic; every
//! failure is a typed [`NegotiationError`].
//!
//! ## Example
//! ```
//! use leanp2p_multistream::{Config, Negotiation, ProtocolId, ProtocolSet, Version};
//!
//! const PING: ProtocolId = ProtocolId::from_static("/ipfs/ping/1.0.0");
//! let config = Config { version: Version::V1Lazy, ..Config::default() };
//! let mut dialer = Negotiation::dialer(ProtocolSet::single(PING).unwrap(), &config).unwrap();
//! let mut listener = Negotiation::listener(ProtocolSet::single(PING).unwrap(), &config).unwrap();
//!
//! // Dialer: header + proposal in one buffer, then (lazy) the request right behind it.
//! let mut to_listener = Vec::new();
//! while let Some(b) = dialer.poll_output() { to_listener.extend_from_slice(&b); }
//! assert_eq!(dialer.ready_to_send(), Some(&PING));
//! to_listener.extend_from_slice(b"request");
//!
//! // Listener: agrees; the request is leftover for the ping handler.
//! listener.handle_input(&to_listener).unwrap();
//! let mut to_dialer = Vec::new();
//! while let Some(b) = listener.poll_output() { to_dialer.extend_from_slice(&b); }
//! let agreed = listener.outcome().unwrap().unwrap();
//! assert_eq!((agreed.protocol, &agreed.leftover[..]), (PING, &b"request"[..]));
//!
//! // Dialer: consumes header + echo; the response bytes are its leftover.
//! to_dialer.extend_from_slice(b"response");
//! dialer.handle_input(&to_dialer).unwrap();
//! assert_eq!(dialer.poll_output(), None);
//! let confirmed = dialer.outcome().unwrap().unwrap();
//! assert_eq!(&confirmed.leftover[..], b"response");
//! ```

mod codec;
pub mod error;
mod limits;
mod negotiation;
mod protocol_id;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

#[cfg(test)]
mod tests;

pub use codec::MAX_FRAME_LEN;
pub use error::{
    ConfigError, Expected, MessageKind, NegotiationError, ProtocolIdError, ProtocolSetError,
};
pub use limits::{Config, Limits, Version};
pub use negotiation::{Negotiated, Negotiation, Role};
pub use protocol_id::{ProtocolId, ProtocolSet, MAX_PROTOCOL_ID_LEN};
