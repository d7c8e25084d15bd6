//! The libp2p perf protocol, `/perf/1.0.0`, as two sans-IO state machines over any
//! byte-stream API (in leanp2p: the host's application streams).
//!
//! # Wire format
//!
//! From the libp2p specs (`perf/perf.md`): the client opens a stream, writes the number
//! of bytes it wants back as one big-endian `u64`, uploads any number of bytes and
//! finishes its write side. The server reads the 8-byte number, reads (and discards) the
//! upload until the client's end of stream, then writes the requested number of bytes
//! and finishes. Bytes carry no meaning; both sides send zeros.
//!
//! # Inputs, commands, outputs
//!
//! The shape is the one of the req/resp machine: the machines never touch a stream, they
//! tell the caller what to do with [`PerfOp`]s. `S` is the caller's stream handle (any
//! `Copy + Ord` value, e.g. the host's `AppStream`).
//!
//! * [`PerfClient`]: command [`PerfClient::start`] (returns a [`PerfRequestId`] and
//!   queues [`PerfOp::Open`]); inputs [`PerfClient::handle_stream_opened`] /
//!   [`PerfClient::handle_open_failed`] (the answers to `Open`),
//!   [`PerfClient::handle_written`] / [`PerfClient::handle_write_failed`] (the answers
//!   to `Write`), [`PerfClient::handle_data`], [`PerfClient::handle_finished`] and
//!   [`PerfClient::handle_reset`].
//! * [`PerfServer`]: inputs [`PerfServer::handle_stream_opened`] (an inbound stream
//!   negotiated for [`PROTOCOL`]), [`PerfServer::handle_written`] /
//!   [`PerfServer::handle_write_failed`], [`PerfServer::handle_data`],
//!   [`PerfServer::handle_finished`] and [`PerfServer::handle_reset`].
//! * Outputs of both: `poll_outbound` ([`PerfOp`]: open / write / finish / reset, for the
//!   caller to carry out in order) and `poll_event` ([`PerfEvent`]: completed, served,
//!   failed with a typed [`PerfError`]).
//!
//! Time only enters the client, through the `now` arguments (it measures how long each
//! request took). Neither machine has timers, so neither has `poll_timeout`: stream and
//! connection timeouts belong to the host.
//!
//! # Drain rule
//!
//! After **any** `handle_*` call or command, drain in this order: `poll_outbound` until
//! `None`, then `poll_event` until `None`. (The machines have no timers; a machine that
//! had them would be asked for `poll_timeout` last.) Calling `handle_written` while
//! draining is allowed and expected: the drain simply goes on.
//!
//! # Backpressure
//!
//! Explicit and bounded: **at most one [`PerfOp::Write`] per stream is outstanding.**
//! After a `Write { stream, .. }` the machine emits nothing more for that stream until
//! the caller reports the write taken with `handle_written(stream)` (or failed for good
//! with `handle_write_failed(stream)`). A caller whose transport is full keeps that one
//! write, retries it when there is room, and only then calls `handle_written`; every
//! other stream keeps going meanwhile (streams take turns, round robin). A
//! [`PerfOp::Finish`] comes only after the last write of its stream was reported
//! written, so "finish after the queued writes" never needs a queue on the caller's side.
//!
//! ```
//! use leanp2p_perf::{PerfClient, PerfEvent, PerfLimits, PerfOp};
//! use std::time::Instant;
//!
//! let now = Instant::now();
//! let mut client = PerfClient::<u32>::new(PerfLimits::default());
//! let request = client.start(now, 10, 0).unwrap();
//! // Drain: open a stream for the request, answer with its handle (here: 7).
//! assert_eq!(client.poll_outbound(), Some(PerfOp::Open { request }));
//! client.handle_stream_opened(now, request, 7).unwrap();
//! // The 8-byte header; nothing else for stream 7 until it is written.
//! assert!(matches!(client.poll_outbound(), Some(PerfOp::Write { stream: 7, ref bytes }) if bytes.len() == 8));
//! assert_eq!(client.poll_outbound(), None);
//! client.handle_written(now, 7).unwrap();
//! // The upload, then the finish.
//! assert!(matches!(client.poll_outbound(), Some(PerfOp::Write { stream: 7, ref bytes }) if bytes.len() == 10));
//! client.handle_written(now, 7).unwrap();
//! assert_eq!(client.poll_outbound(), Some(PerfOp::Finish { stream: 7 }));
//! assert_eq!(client.poll_outbound(), None);
//! // The server answers 0 bytes and finishes.
//! client.handle_finished(now, 7).unwrap();
//! assert!(matches!(client.poll_event(), Some(PerfEvent::Completed { stream: 7, uploaded: 10, .. })));
//! ```
//!
//! # Limits
//!
//! Every limit is in [`PerfLimits`] or derived from it:
//!
//! * [`PerfLimits::max_streams`]: streams (client: requests, from `start` until they end,
//!   including those waiting for their stream) tracked at once; more are refused with
//!   [`PerfError::TooManyStreams`].
//! * [`PerfLimits::write_chunk`] (at most [`MAX_WRITE_CHUNK`]): bytes per `Write`. With
//!   one outstanding write per stream, the bytes handed out and not yet reported written
//!   are at most `max_streams × max(write_chunk, 8)`, and they are zero-copy slices of
//!   one static block of zeros (only the 8-byte header is allocated).
//! * [`PerfLimits::max_response_bytes`]: the largest response a server agrees to send.
//! * Side queues: resets of streams the machine no longer tracks and events each hold at
//!   most `2 × max_streams` entries (at least 2). A caller that follows the drain rule
//!   never comes near that (one input ends at most one stream); past it the output is
//!   dropped and counted in [`PerfStats::outputs_dropped`].
//!
//! No buffer grows with the transfer: the header is 8 bytes, uploads are counted and
//! dropped, and sent data is a static block of zeros.
//!
//! # Errors
//!
//! A peer that breaks the protocol (stream ends inside the header, more bytes than
//! requested, response bytes before our upload ended, an end of stream before the full
//! response, data after its end of stream) gets its stream reset ([`PerfOp::Reset`]) and
//! a [`PerfEvent::Failed`] with a typed [`PerfError`]; the `handle_*` call returns the
//! same error. Caller misuse (unknown stream or request, a write reported that was never
//! asked for) returns `Err` and changes nothing. Nothing panics on peer data.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::Bound;
use std::time::Duration;

use bytes::Bytes;

mod client;
mod server;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;

pub use client::PerfClient;
pub use server::PerfServer;

/// The protocol id.
pub const PROTOCOL: &str = "/perf/1.0.0";

/// Length of the request header (big-endian `u64`: bytes the client wants back).
pub const HEADER_LEN: usize = 8;

/// Largest single write (the size of the static block of zeros sent as payload).
pub const MAX_WRITE_CHUNK: usize = 256 * 1024;

static ZEROS: [u8; MAX_WRITE_CHUNK] = [0; MAX_WRITE_CHUNK];

/// `n` (at most [`MAX_WRITE_CHUNK`]) zero bytes, without copying.
fn zeros(n: usize) -> Bytes {
    Bytes::from_static(ZEROS.get(..n).unwrap_or(&ZEROS))
}

/// Limits of a perf machine. See the [crate docs](crate#limits) for what they bound.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PerfLimits {
    /// Streams tracked at once (client: requests from [`PerfClient::start`] until they
    /// end, including those waiting for their stream); more are refused
    /// ([`PerfError::TooManyStreams`]). Default 256.
    pub max_streams: usize,
    /// Bytes per [`PerfOp::Write`], clamped to `1..=`[`MAX_WRITE_CHUNK`]. Default 64 KiB.
    pub write_chunk: usize,
    /// Server: the largest response it agrees to send (the spec allows any `u64`; the
    /// spec also says perf must not be enabled on public nodes). Larger requests are
    /// reset with [`PerfError::ResponseTooLarge`]. Default `u64::MAX`.
    pub max_response_bytes: u64,
}

impl Default for PerfLimits {
    fn default() -> Self {
        Self {
            max_streams: 256,
            write_chunk: 64 * 1024,
            max_response_bytes: u64::MAX,
        }
    }
}

impl PerfLimits {
    /// The effective write size.
    fn chunk(&self) -> usize {
        self.write_chunk.clamp(1, MAX_WRITE_CHUNK)
    }

    /// Capacity of each side queue (resets of untracked streams, events).
    fn queue_cap(&self) -> usize {
        self.max_streams.max(1).saturating_mul(2)
    }
}

/// Identifies one client request. Allocated by [`PerfClient::start`], never reused
/// within one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PerfRequestId(u64);

impl PerfRequestId {
    /// The raw counter value (for logs).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PerfRequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "perf#{}", self.0)
    }
}

/// Why a perf stream failed (or a call was refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PerfError {
    /// The stream is not tracked by this machine (never opened, or already over).
    #[error("unknown perf stream")]
    UnknownStream,
    /// Client: the request is unknown, over, or its stream was already given.
    #[error("unknown perf request")]
    UnknownRequest,
    /// The stream is already tracked.
    #[error("perf stream already started")]
    DuplicateStream,
    /// `handle_written` for a stream with no [`PerfOp::Write`] outstanding.
    #[error("no write outstanding on this stream")]
    NoPendingWrite,
    /// [`PerfLimits::max_streams`] streams are in progress.
    #[error("too many perf streams (limit {0})")]
    TooManyStreams(usize),
    /// Server: the client's stream ended after `got` of the 8 header bytes.
    #[error("stream ended after {got} of 8 header bytes")]
    HeaderTruncated {
        /// Header bytes received.
        got: usize,
    },
    /// Server: the client asked for more than [`PerfLimits::max_response_bytes`].
    #[error("response of {requested} bytes requested, limit {max}")]
    ResponseTooLarge {
        /// Bytes requested.
        requested: u64,
        /// The limit.
        max: u64,
    },
    /// Client: the server sent more bytes than requested (or any byte before our upload
    /// ended).
    #[error("peer sent {got} bytes, expected {expected}")]
    UnexpectedData {
        /// Bytes the peer may send at this point.
        expected: u64,
        /// Bytes it sent.
        got: u64,
    },
    /// Server: data arrived after the client finished its side.
    #[error("data after end of stream")]
    DataAfterFinish,
    /// Client: the server finished before sending the whole response.
    #[error("stream ended after {got} of {expected} response bytes")]
    ResponseTruncated {
        /// Bytes expected.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The peer (or the transport) reset the stream.
    #[error("stream reset")]
    Reset,
    /// The transport refused a write for good (`handle_write_failed`: the stream was
    /// closed under us).
    #[error("stream closed by the transport")]
    Closed,
}

/// A stream operation for the caller to carry out, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PerfOp<S> {
    /// Client: open a stream to the server and negotiate [`PROTOCOL`], then call
    /// [`PerfClient::handle_stream_opened`] with its handle, or
    /// [`PerfClient::handle_open_failed`]. The machine does not know peers: the caller
    /// remembers where `request` goes.
    Open {
        /// The request the stream is for.
        request: PerfRequestId,
    },
    /// Write `bytes` on `stream`, then report it with `handle_written(stream)` (or
    /// `handle_write_failed(stream)` if the stream cannot be written any more). Until
    /// then no other op for `stream` comes out; if the transport is full, keep these
    /// bytes and retry when it has room.
    Write {
        /// The stream.
        stream: S,
        /// At most `max(write_chunk, 8)` bytes.
        bytes: Bytes,
    },
    /// Finish (FIN) our write side of `stream`. All its writes were reported written.
    Finish {
        /// The stream.
        stream: S,
    },
    /// Reset `stream` in both directions; the machine no longer tracks it.
    Reset {
        /// The stream.
        stream: S,
    },
}

/// What a perf machine reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PerfEvent<S> {
    /// Client: the request completed (upload written and finished, full response read,
    /// server finished).
    Completed {
        /// The request.
        request: PerfRequestId,
        /// Its stream.
        stream: S,
        /// Bytes uploaded (header excluded).
        uploaded: u64,
        /// Bytes downloaded.
        downloaded: u64,
        /// From [`PerfClient::start`] to completion.
        elapsed: Duration,
    },
    /// Client: the stream for `request` could not be opened
    /// ([`PerfClient::handle_open_failed`]); the request is over.
    OpenFailed {
        /// The request.
        request: PerfRequestId,
    },
    /// Server: the response was written and the stream finished.
    Served {
        /// The stream.
        stream: S,
        /// Bytes received from the client (header excluded).
        received: u64,
        /// Bytes sent back.
        sent: u64,
    },
    /// The stream failed; a [`PerfOp::Reset`] was queued for it unless the peer or the
    /// transport ended it ([`PerfError::Reset`], [`PerfError::Closed`]).
    Failed {
        /// The stream.
        stream: S,
        /// Why.
        error: PerfError,
    },
}

/// Byte and stream counters of a perf machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PerfStats {
    /// Payload bytes (headers excluded) the caller reported written.
    pub bytes_sent: u64,
    /// Payload bytes received (headers excluded).
    pub bytes_received: u64,
    /// Streams that completed (client) or were served (server).
    pub streams_done: u64,
    /// Streams (and client requests whose stream could not be opened) that failed.
    pub streams_failed: u64,
    /// Resets and events dropped because a side queue was full (only when the caller
    /// does not follow the drain rule).
    pub outputs_dropped: u64,
}

/// Shared output plumbing: side queues, counters and the round-robin cursor.
#[derive(Debug)]
struct Outputs<S> {
    /// Resets of streams no longer tracked.
    resets: VecDeque<S>,
    events: VecDeque<PerfEvent<S>>,
    stats: PerfStats,
    /// Capacity of `resets` and of `events`.
    cap: usize,
    /// The stream that had the last turn (fairness).
    cursor: Option<S>,
}

impl<S: Copy + Ord> Outputs<S> {
    fn new(limits: &PerfLimits) -> Self {
        Self {
            resets: VecDeque::new(),
            events: VecDeque::new(),
            stats: PerfStats::default(),
            cap: limits.queue_cap(),
            cursor: None,
        }
    }

    fn event(&mut self, event: PerfEvent<S>) {
        if self.events.len() < self.cap {
            self.events.push_back(event);
        } else {
            self.stats.outputs_dropped += 1;
        }
    }

    fn reset(&mut self, stream: S) {
        if self.resets.len() < self.cap {
            self.resets.push_back(stream);
        } else {
            self.stats.outputs_dropped += 1;
        }
    }

    /// Counts a failed stream, queues its reset if `reset`, reports it; returns `error`.
    fn fail(&mut self, stream: S, error: PerfError, reset: bool) -> PerfError {
        self.stats.streams_failed += 1;
        if reset {
            self.reset(stream);
        }
        self.event(PerfEvent::Failed {
            stream,
            error: error.clone(),
        });
        error
    }

    /// The first stream after the cursor (wrapping around) for which `ready` holds; it
    /// becomes the cursor.
    fn next_turn<V>(&mut self, streams: &BTreeMap<S, V>, ready: impl Fn(&V) -> bool) -> Option<S> {
        let after = match self.cursor {
            Some(c) => streams.range((Bound::Excluded(c), Bound::Unbounded)),
            None => streams.range(..),
        };
        let before = self.cursor.into_iter().flat_map(|c| streams.range(..=c));
        let next = after
            .chain(before)
            .find(|(_, v)| ready(v))
            .map(|(k, _)| *k)?;
        self.cursor = Some(next);
        Some(next)
    }
}

/// Bytes of the next write: `left` capped at `chunk`.
fn next_len(left: u64, chunk: usize) -> usize {
    match usize::try_from(left) {
        Ok(left) => left.min(chunk),
        Err(_) => chunk,
    }
}

/// `a - b` for counters where `b <= a` is an invariant.
fn minus(a: u64, b: u64) -> u64 {
    debug_assert!(b <= a);
    a.saturating_sub(b)
}

#[cfg(test)]
mod tests;
