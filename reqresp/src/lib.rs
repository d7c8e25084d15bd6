//! leanp2p reqresp: Ethereum req/resp (`ssz_snappy`) and custom
//! request/response protocols as a sans-IO state machine.
//!
//! One [`ReqResp`] per node. It never sees QUIC: the host opens and accepts
//! streams, runs multistream-select, and names each stream with a
//! [`StreamKey`] of its choosing. One stream carries one request: the
//! requester writes the request and FINs; the responder writes 0..N response
//! chunks and FINs.
//!
//! # Inputs, commands, outputs
//!
//! * Protocol ids are the multistream crate's [`ProtocolId`] (validated on
//!   construction), shared with the host.
//! * Commands: [`ReqResp::request`], [`ReqResp::cancel`],
//!   [`ReqResp::respond`], [`ReqResp::end_response`].
//! * Host inputs: [`ReqResp::handle_stream_opened`] (inbound, negotiated),
//!   [`ReqResp::handle_outbound_stream_opened`] / [`ReqResp::handle_open_failed`]
//!   (answers to [`StreamOp::Open`]), [`ReqResp::handle_stream_data`],
//!   [`ReqResp::handle_stream_finished`], [`ReqResp::handle_stream_reset`],
//!   [`ReqResp::handle_peer_disconnected`], [`ReqResp::handle_timeout`],
//!   [`ReqResp::handle_stream_unsent`] (the unsent bytes the host holds on a
//!   stream, after every write or flush: this drives response backpressure,
//!   see [`Limits::response_high_water`]; [`Event::ResponseWritable`] says when
//!   a refused channel may send again).
//! * Getters: [`ReqResp::channel_stream`] (a response channel's stream),
//!   [`ReqResp::has_work_for`], [`ReqResp::stats`].
//! * Outputs: [`ReqResp::poll_outbound`] ([`StreamOp`]: open / write /
//!   finish / reset), [`ReqResp::poll_event`] ([`Event`]: inbound request,
//!   response chunk, completed, failed with a typed [`FailureReason`], ...),
//!   [`ReqResp::poll_timeout`] with [`ReqResp::timeout_reason`].
//!
//! Time only enters through the `now` arguments; the machine draws no
//! randomness.
//!
//! # Drain rule
//!
//! After **any** `handle_*` call or command, drain in this order:
//! [`ReqResp::poll_outbound`] until `None`, then [`ReqResp::poll_event`]
//! until `None`, then read [`ReqResp::poll_timeout`]. While output is still
//! queued, `poll_timeout` returns the last `now` seen (reason
//! [`TimeoutReason::QueuedIo`]), so a driver never sleeps on pending work.
//!
//! ```
//! use bytes::Bytes;
//! use leanp2p_identity::Keypair;
//! use leanp2p_reqresp::{lean, Config, ReqResp, StreamKey, StreamOp};
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let peer = Keypair::from_secret_bytes(&[1; 32]).unwrap().peer_id();
//! let mut rr = ReqResp::new(Config::lean()).unwrap();
//! let status = lean::Status::default().to_ssz().unwrap();
//! let id = rr.request(now, peer, &lean::STATUS, Bytes::from(status)).unwrap();
//! // Drain: the host opens a stream for the request.
//! let Some(StreamOp::Open { request, .. }) = rr.poll_outbound() else { unreachable!() };
//! assert_eq!(request, id);
//! rr.handle_outbound_stream_opened(now, id, StreamKey::new(0, 0)).unwrap();
//! assert!(matches!(rr.poll_outbound(), Some(StreamOp::Write { .. })));
//! assert!(matches!(rr.poll_outbound(), Some(StreamOp::Finish { .. })));
//! assert!(rr.poll_outbound().is_none() && rr.poll_event().is_none());
//! assert!(rr.poll_timeout().is_some()); // the request timeout
//! ```
//!
//! # Wire formats and limits
//!
//! [`SszSnappyCodec`]: request `uvarint(len) ‖ snappy_framed(ssz)`, response
//! chunk `result ‖ uvarint(len) ‖ snappy_framed(ssz)`, decoded incrementally
//! across arbitrary splits, declared lengths checked against the protocol's
//! [`ProtocolLimits`] before any allocation or decompression, CRC32C checked
//! ([`snappy`]). [`LengthDelimitedCodec`]: `uvarint(len) ‖ bytes` (protobuf
//! protocols such as Charon's parsigex). Applications add their own codec via
//! [`Codec`]. Node-wide bounds are in [`Limits`].
//!
//! The lean protocols and typed messages are in [`lean`]; the phase0 ids in
//! [`phase0`].

mod codec;
mod config;
mod error;
mod event;
pub mod lean;
mod limits;
mod machine;
mod message;
pub mod phase0;
mod protocol;
mod rate_limit;
pub mod snappy;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

#[cfg(test)]
mod tests;

pub use codec::{Codec, Decode, LengthDelimitedCodec, SszSnappyCodec};
pub use config::{Config, RateLimitAction};
pub use error::{
    CancelError, ConfigError, DecodeError, EncodeError, RequestError, RespondError, SnappyError,
    StreamError,
};
pub use event::{
    AbortReason, Event, FailureReason, OpenFailure, RejectReason, Stats, StreamOp, TimeoutReason,
};
pub use leanp2p_identity::varint::MAX_VARINT_LEN;
pub use limits::{Limits, MAX_ERROR_MESSAGE_SIZE, MAX_PAYLOAD_SIZE, MAX_REQUEST_BLOCKS};
pub use machine::ReqResp;
pub use message::{ChannelId, RequestId, ResponseChunk, ResponseCode, StreamKey};
pub use protocol::{ProtocolConfig, ProtocolId, ProtocolLimits, Quota, RequestFn};
