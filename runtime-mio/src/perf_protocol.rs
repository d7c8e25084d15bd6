//! The libp2p perf protocol, `/perf/1.0.0`, as two sans-IO state machines over any
//! byte-stream API (here: the host's application streams).
//!
//! Wire format (libp2p specs, `perf/perf.md`): the client opens a stream, writes the
//! number of bytes it wants back as one big-endian `u64`, uploads any number of bytes and
//! finishes its write side. The server reads the 8-byte number, reads (and discards) the
//! upload until the client's end of stream, then writes the requested number of bytes
//! and finishes. Bytes carry no meaning; both sides send zeros.
//!
//! Shape: inputs are `handle_*` (stream opened, data, end of stream, reset), outputs are
//! written through [`StreamSink`] by `poll_send` (which writes as much as the sink
//! accepts, round robin over streams, and stops when the sink is full — call it again
//! when the transport has room), and results come out of `poll_event`. Drain rule: after
//! any `handle_*` or `start`, call `poll_send`, then `poll_event` until `None`.
//!
//! Limits ([`PerfLimits`]): concurrent streams per machine, bytes per write, and the
//! largest response a server sends. No buffer grows with the transfer: the header is
//! 8 bytes, uploads are counted and dropped, and sent data is a static block of zeros.
//! A peer that breaks the protocol (stream ends inside the header, more bytes than
//! requested, an end of stream before the full response) gets its stream reset and a
//! typed [`PerfError`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// The protocol id.
pub const PROTOCOL: &str = "/perf/1.0.0";

/// Length of the request header (big-endian `u64`: bytes the client wants back).
pub const HEADER_LEN: usize = 8;

/// Largest single write (the static block of zeros sent as payload).
pub const MAX_WRITE_CHUNK: usize = 256 * 1024;

static ZEROS: [u8; MAX_WRITE_CHUNK] = [0; MAX_WRITE_CHUNK];

/// Limits of a perf machine.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PerfLimits {
    /// Streams tracked at once; more are refused ([`PerfError::TooManyStreams`]).
    /// Default 256.
    pub max_streams: usize,
    /// Bytes per write handed to the sink, at most [`MAX_WRITE_CHUNK`]. Default 64 KiB.
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
    fn chunk(&self) -> usize {
        self.write_chunk.clamp(1, MAX_WRITE_CHUNK)
    }
}

/// Why a perf stream failed (or a call was refused).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PerfError {
    /// The stream is not tracked by this machine (never started, or already over).
    #[error("unknown perf stream")]
    UnknownStream,
    /// The stream is already tracked.
    #[error("perf stream already started")]
    DuplicateStream,
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
    /// The sink refused a write for good (stream closed under us).
    #[error("stream closed by the transport")]
    Closed,
}

/// Why a [`StreamSink`] did not take a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkRefusal {
    /// No room now: try again later (nothing was taken).
    Full,
    /// The stream cannot be written any more.
    Closed,
}

/// Where a perf machine writes: the embedder maps these onto its stream API.
pub trait StreamSink<S> {
    /// Queues `data` on `stream`, all or nothing.
    fn write(&mut self, stream: S, data: Bytes) -> Result<(), SinkRefusal>;
    /// Finishes our side of `stream` after the queued bytes.
    fn finish(&mut self, stream: S);
    /// Resets `stream` both ways.
    fn reset(&mut self, stream: S);
}

/// What a perf machine reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PerfEvent<S> {
    /// Client: the stream completed (upload written and finished, full response read,
    /// server finished).
    Completed {
        /// The stream.
        stream: S,
        /// Bytes uploaded (header excluded).
        uploaded: u64,
        /// Bytes downloaded.
        downloaded: u64,
        /// From `start` to completion.
        elapsed: Duration,
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
    /// The stream failed; it was reset (unless the peer reset it).
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
    /// Payload bytes written to the sink (headers excluded).
    pub bytes_sent: u64,
    /// Payload bytes received (headers excluded).
    pub bytes_received: u64,
    /// Streams that completed (client) or were served (server).
    pub streams_done: u64,
    /// Streams that failed.
    pub streams_failed: u64,
}

/// Shared output plumbing: events, pending resets and the round-robin cursor.
#[derive(Debug)]
struct Outputs<S> {
    events: VecDeque<PerfEvent<S>>,
    resets: Vec<S>,
    stats: PerfStats,
    /// The stream after which the next `poll_send` starts (fairness).
    cursor: Option<S>,
}

impl<S: Copy + Ord> Outputs<S> {
    fn new() -> Self {
        Self {
            events: VecDeque::new(),
            resets: Vec::new(),
            stats: PerfStats::default(),
            cursor: None,
        }
    }

    fn fail(&mut self, stream: S, error: PerfError, reset: bool) -> PerfError {
        self.stats.streams_failed += 1;
        if reset {
            self.resets.push(stream);
        }
        self.events.push_back(PerfEvent::Failed {
            stream,
            error: error.clone(),
        });
        error
    }

    /// Streams in round-robin order, starting after the cursor.
    fn order<V>(&self, streams: &BTreeMap<S, V>) -> Vec<S> {
        let mut keys: Vec<S> = streams.keys().copied().collect();
        if let Some(cursor) = self.cursor {
            let split = keys.partition_point(|k| *k <= cursor);
            keys.rotate_left(split);
        }
        keys
    }
}

/// Writes up to `*left` zero bytes to `stream`; returns false if the sink refused
/// (`Closed` is reported through `closed`).
fn write_zeros<S: Copy>(
    sink: &mut impl StreamSink<S>,
    stream: S,
    left: &mut u64,
    chunk: usize,
    sent: &mut u64,
    closed: &mut bool,
) -> bool {
    while *left > 0 {
        let n = usize::try_from(*left).unwrap_or(usize::MAX).min(chunk);
        let data = Bytes::from_static(ZEROS.get(..n).unwrap_or_default());
        match sink.write(stream, data) {
            Ok(()) => {
                *left -= n as u64;
                *sent += n as u64;
            }
            Err(SinkRefusal::Full) => return false,
            Err(SinkRefusal::Closed) => {
                *closed = true;
                return false;
            }
        }
    }
    true
}

// ----- client ---------------------------------------------------------------------------

#[derive(Debug)]
struct ClientStream {
    started: Instant,
    header_sent: bool,
    upload_total: u64,
    upload_left: u64,
    finish_sent: bool,
    download_expected: u64,
    downloaded: u64,
    peer_finished: bool,
}

/// The client side: runs any number of perf streams (each with its own upload and
/// download size) on streams the embedder opened.
#[derive(Debug)]
pub struct PerfClient<S> {
    limits: PerfLimits,
    streams: BTreeMap<S, ClientStream>,
    out: Outputs<S>,
}

impl<S: Copy + Ord + Debug> PerfClient<S> {
    /// A client with `limits`.
    pub fn new(limits: PerfLimits) -> Self {
        Self {
            limits,
            streams: BTreeMap::new(),
            out: Outputs::new(),
        }
    }

    /// Starts the protocol on a freshly opened `stream`: upload `upload` bytes, ask for
    /// `download` bytes back.
    pub fn start(
        &mut self,
        now: Instant,
        stream: S,
        upload: u64,
        download: u64,
    ) -> Result<(), PerfError> {
        if self.streams.contains_key(&stream) {
            return Err(PerfError::DuplicateStream);
        }
        if self.streams.len() >= self.limits.max_streams {
            return Err(PerfError::TooManyStreams(self.limits.max_streams));
        }
        self.streams.insert(
            stream,
            ClientStream {
                started: now,
                header_sent: false,
                upload_total: upload,
                upload_left: upload,
                finish_sent: false,
                download_expected: download,
                downloaded: 0,
                peer_finished: false,
            },
        );
        Ok(())
    }

    /// Response bytes arrived on `stream`.
    pub fn handle_data(&mut self, now: Instant, stream: S, data: &[u8]) -> Result<(), PerfError> {
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(PerfError::UnknownStream)?;
        let got = data.len() as u64;
        // The server must not answer before our upload ended (it reads to EOF first).
        let allowed = if s.finish_sent {
            s.download_expected - s.downloaded
        } else {
            0
        };
        if got > allowed || s.peer_finished {
            let error = PerfError::UnexpectedData {
                expected: allowed,
                got,
            };
            self.streams.remove(&stream);
            return Err(self.out.fail(stream, error, true));
        }
        s.downloaded += got;
        self.out.stats.bytes_received += got;
        self.check_done(now, stream);
        Ok(())
    }

    /// The server finished its side of `stream`.
    pub fn handle_finished(&mut self, now: Instant, stream: S) -> Result<(), PerfError> {
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(PerfError::UnknownStream)?;
        if s.downloaded < s.download_expected {
            let error = PerfError::ResponseTruncated {
                expected: s.download_expected,
                got: s.downloaded,
            };
            self.streams.remove(&stream);
            return Err(self.out.fail(stream, error, true));
        }
        s.peer_finished = true;
        self.check_done(now, stream);
        Ok(())
    }

    /// `stream` was reset (by the peer or the transport).
    pub fn handle_reset(&mut self, stream: S) {
        if self.streams.remove(&stream).is_some() {
            self.out.fail(stream, PerfError::Reset, false);
        }
    }

    /// Writes headers, uploads and finishes as far as `sink` accepts.
    pub fn poll_send(&mut self, now: Instant, sink: &mut impl StreamSink<S>) {
        for stream in self.out.resets.drain(..) {
            sink.reset(stream);
        }
        let chunk = self.limits.chunk();
        let mut closed_streams = Vec::new();
        for stream in self.out.order(&self.streams) {
            let Some(s) = self.streams.get_mut(&stream) else {
                continue;
            };
            if s.finish_sent {
                continue;
            }
            self.out.cursor = Some(stream);
            if !s.header_sent {
                let header = Bytes::copy_from_slice(&s.download_expected.to_be_bytes());
                match sink.write(stream, header) {
                    Ok(()) => s.header_sent = true,
                    Err(SinkRefusal::Full) => continue,
                    Err(SinkRefusal::Closed) => {
                        closed_streams.push(stream);
                        continue;
                    }
                }
            }
            let mut closed = false;
            let done = write_zeros(
                sink,
                stream,
                &mut s.upload_left,
                chunk,
                &mut self.out.stats.bytes_sent,
                &mut closed,
            );
            if closed {
                closed_streams.push(stream);
            } else if done {
                sink.finish(stream);
                s.finish_sent = true;
            }
        }
        for stream in closed_streams {
            self.streams.remove(&stream);
            self.out.fail(stream, PerfError::Closed, false);
        }
        let finished: Vec<S> = self
            .streams
            .iter()
            .filter(|(_, s)| s.finish_sent)
            .map(|(k, _)| *k)
            .collect();
        for stream in finished {
            self.check_done(now, stream);
        }
    }

    /// The next result.
    pub fn poll_event(&mut self) -> Option<PerfEvent<S>> {
        self.out.events.pop_front()
    }

    /// Streams in progress.
    pub fn active(&self) -> usize {
        self.streams.len()
    }

    /// Counters.
    pub fn stats(&self) -> PerfStats {
        self.out.stats
    }

    fn check_done(&mut self, now: Instant, stream: S) {
        let Some(s) = self.streams.get(&stream) else {
            return;
        };
        if s.finish_sent && s.peer_finished && s.downloaded == s.download_expected {
            self.out.stats.streams_done += 1;
            self.out.events.push_back(PerfEvent::Completed {
                stream,
                uploaded: s.upload_total,
                downloaded: s.downloaded,
                elapsed: now.saturating_duration_since(s.started),
            });
            self.streams.remove(&stream);
        }
    }
}

// ----- server ---------------------------------------------------------------------------

#[derive(Debug)]
enum ServerStream {
    /// Reading the 8-byte header.
    Header {
        buf: [u8; HEADER_LEN],
        filled: usize,
    },
    /// Reading the upload until the client finishes.
    Draining { respond: u64, received: u64 },
    /// Writing the response.
    Sending {
        left: u64,
        total: u64,
        received: u64,
    },
}

/// The server side: answers every perf stream the embedder hands it.
#[derive(Debug)]
pub struct PerfServer<S> {
    limits: PerfLimits,
    streams: BTreeMap<S, ServerStream>,
    out: Outputs<S>,
}

impl<S: Copy + Ord + Debug> PerfServer<S> {
    /// A server with `limits`.
    pub fn new(limits: PerfLimits) -> Self {
        Self {
            limits,
            streams: BTreeMap::new(),
            out: Outputs::new(),
        }
    }

    /// A client opened `stream`. Over [`PerfLimits::max_streams`] the stream is reset
    /// (at the next `poll_send`) and the error returned.
    pub fn handle_opened(&mut self, stream: S) -> Result<(), PerfError> {
        if self.streams.contains_key(&stream) {
            return Err(PerfError::DuplicateStream);
        }
        if self.streams.len() >= self.limits.max_streams {
            let error = PerfError::TooManyStreams(self.limits.max_streams);
            return Err(self.out.fail(stream, error, true));
        }
        self.streams.insert(
            stream,
            ServerStream::Header {
                buf: [0; HEADER_LEN],
                filled: 0,
            },
        );
        Ok(())
    }

    /// Bytes arrived on `stream` (any split).
    pub fn handle_data(&mut self, stream: S, mut data: &[u8]) -> Result<(), PerfError> {
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(PerfError::UnknownStream)?;
        if let ServerStream::Header { buf, filled } = s {
            let take = (HEADER_LEN - *filled).min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = buf.get_mut(*filled..*filled + take) {
                dst.copy_from_slice(head);
            }
            *filled += take;
            data = rest;
            if *filled == HEADER_LEN {
                let respond = u64::from_be_bytes(*buf);
                if respond > self.limits.max_response_bytes {
                    let error = PerfError::ResponseTooLarge {
                        requested: respond,
                        max: self.limits.max_response_bytes,
                    };
                    self.streams.remove(&stream);
                    return Err(self.out.fail(stream, error, true));
                }
                *s = ServerStream::Draining {
                    respond,
                    received: 0,
                };
            }
        }
        match s {
            ServerStream::Header { .. } => {}
            ServerStream::Draining { received, .. } => {
                *received += data.len() as u64;
                self.out.stats.bytes_received += data.len() as u64;
            }
            ServerStream::Sending { .. } => {
                if !data.is_empty() {
                    self.streams.remove(&stream);
                    return Err(self.out.fail(stream, PerfError::DataAfterFinish, true));
                }
            }
        }
        Ok(())
    }

    /// The client finished its side of `stream`: the response starts at the next
    /// `poll_send`.
    pub fn handle_finished(&mut self, stream: S) -> Result<(), PerfError> {
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(PerfError::UnknownStream)?;
        match *s {
            ServerStream::Header { filled, .. } => {
                self.streams.remove(&stream);
                let error = PerfError::HeaderTruncated { got: filled };
                Err(self.out.fail(stream, error, true))
            }
            ServerStream::Draining { respond, received } => {
                *s = ServerStream::Sending {
                    left: respond,
                    total: respond,
                    received,
                };
                Ok(())
            }
            ServerStream::Sending { .. } => Ok(()),
        }
    }

    /// `stream` was reset (by the peer or the transport).
    pub fn handle_reset(&mut self, stream: S) {
        if self.streams.remove(&stream).is_some() {
            self.out.fail(stream, PerfError::Reset, false);
        }
    }

    /// Writes responses (and resets) as far as `sink` accepts.
    pub fn poll_send(&mut self, sink: &mut impl StreamSink<S>) {
        for stream in self.out.resets.drain(..) {
            sink.reset(stream);
        }
        let chunk = self.limits.chunk();
        let mut over = Vec::new();
        for stream in self.out.order(&self.streams) {
            let Some(ServerStream::Sending {
                left,
                total,
                received,
            }) = self.streams.get_mut(&stream)
            else {
                continue;
            };
            self.out.cursor = Some(stream);
            let mut closed = false;
            let done = write_zeros(
                sink,
                stream,
                left,
                chunk,
                &mut self.out.stats.bytes_sent,
                &mut closed,
            );
            if closed {
                over.push((stream, Err(PerfError::Closed)));
            } else if done {
                sink.finish(stream);
                over.push((stream, Ok((*received, *total))));
            }
        }
        for (stream, result) in over {
            self.streams.remove(&stream);
            match result {
                Ok((received, sent)) => {
                    self.out.stats.streams_done += 1;
                    self.out.events.push_back(PerfEvent::Served {
                        stream,
                        received,
                        sent,
                    });
                }
                Err(error) => {
                    self.out.fail(stream, error, false);
                }
            }
        }
    }

    /// The next result.
    pub fn poll_event(&mut self) -> Option<PerfEvent<S>> {
        self.out.events.pop_front()
    }

    /// Streams in progress.
    pub fn active(&self) -> usize {
        self.streams.len()
    }

    /// Counters.
    pub fn stats(&self) -> PerfStats {
        self.out.stats
    }
}

#[cfg(test)]
#[path = "perf_protocol_tests.rs"]
mod tests;
