//! The client side: requests, their streams, uploads and response accounting.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::Instant;

use bytes::Bytes;

use crate::{minus, next_len, zeros, Outputs, PerfError, PerfEvent, PerfLimits, PerfOp};
use crate::{PerfRequestId, PerfStats};

/// A request waiting for its stream.
#[derive(Debug)]
struct Pending {
    started: Instant,
    upload: u64,
    download: u64,
    /// [`PerfOp::Open`] was handed out.
    open_emitted: bool,
}

/// A request on its stream.
#[derive(Debug)]
struct ClientStream {
    request: PerfRequestId,
    started: Instant,
    header_sent: bool,
    upload_total: u64,
    /// Upload bytes not handed out in a `Write` yet.
    upload_left: u64,
    /// Payload bytes of the outstanding `Write` (0 for the header).
    in_flight: Option<u64>,
    finish_sent: bool,
    download_expected: u64,
    downloaded: u64,
    peer_finished: bool,
}

impl ClientStream {
    /// Whether the stream has an op to hand out now.
    fn ready(&self) -> bool {
        self.in_flight.is_none() && !self.finish_sent
    }
}

/// The client side: runs any number of perf requests (each with its own upload and
/// download size), each on a stream it asks the caller to open. See the
/// [crate docs](crate) for the run loop, the drain rule and the limits.
#[derive(Debug)]
pub struct PerfClient<S> {
    limits: PerfLimits,
    next_id: u64,
    pending: BTreeMap<PerfRequestId, Pending>,
    streams: BTreeMap<S, ClientStream>,
    out: Outputs<S>,
    /// The last `now` seen (time of completions found while draining).
    last_now: Option<Instant>,
}

impl<S: Copy + Ord + Debug> PerfClient<S> {
    /// A client with `limits`.
    pub fn new(limits: PerfLimits) -> Self {
        Self {
            out: Outputs::new(&limits),
            limits,
            next_id: 0,
            pending: BTreeMap::new(),
            streams: BTreeMap::new(),
            last_now: None,
        }
    }

    /// Starts a request: upload `upload` bytes, ask for `download` bytes back. Queues
    /// [`PerfOp::Open`]; the result is a [`PerfEvent::Completed`], `OpenFailed` or
    /// `Failed`. Refused (nothing changes) with [`PerfError::TooManyStreams`] when
    /// [`PerfLimits::max_streams`] requests are in progress.
    pub fn start(
        &mut self,
        now: Instant,
        upload: u64,
        download: u64,
    ) -> Result<PerfRequestId, PerfError> {
        self.last_now = Some(now);
        if self.active() >= self.limits.max_streams {
            return Err(PerfError::TooManyStreams(self.limits.max_streams));
        }
        let id = PerfRequestId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        self.pending.insert(
            id,
            Pending {
                started: now,
                upload,
                download,
                open_emitted: false,
            },
        );
        Ok(id)
    }

    /// The caller opened (and negotiated) `stream` for `request`: the header, the upload
    /// and the finish follow as `Write`s and a `Finish`.
    ///
    /// `Err(DuplicateStream)` if `stream` is already in use (nothing changes).
    /// `Err(UnknownRequest)` if `request` is not waiting for a stream (unknown, over,
    /// or its `Open` not handed out yet): the stream is not used and a
    /// [`PerfOp::Reset`] for it is queued.
    pub fn handle_stream_opened(
        &mut self,
        now: Instant,
        request: PerfRequestId,
        stream: S,
    ) -> Result<(), PerfError> {
        self.last_now = Some(now);
        if self.streams.contains_key(&stream) {
            return Err(PerfError::DuplicateStream);
        }
        if !self.pending.get(&request).is_some_and(|p| p.open_emitted) {
            self.out.reset(stream);
            return Err(PerfError::UnknownRequest);
        }
        let Some(p) = self.pending.remove(&request) else {
            return Err(PerfError::UnknownRequest);
        };
        self.streams.insert(
            stream,
            ClientStream {
                request,
                started: p.started,
                header_sent: false,
                upload_total: p.upload,
                upload_left: p.upload,
                in_flight: None,
                finish_sent: false,
                download_expected: p.download,
                downloaded: 0,
                peer_finished: false,
            },
        );
        Ok(())
    }

    /// The caller could not open (or negotiate) the stream for `request`: it ends with
    /// [`PerfEvent::OpenFailed`]. `Err(UnknownRequest)` (nothing changes) if `request`
    /// is not waiting for a stream.
    pub fn handle_open_failed(
        &mut self,
        now: Instant,
        request: PerfRequestId,
    ) -> Result<(), PerfError> {
        self.last_now = Some(now);
        if !self.pending.get(&request).is_some_and(|p| p.open_emitted) {
            return Err(PerfError::UnknownRequest);
        }
        self.pending.remove(&request);
        self.out.stats.streams_failed += 1;
        self.out.event(PerfEvent::OpenFailed { request });
        Ok(())
    }

    /// The outstanding [`PerfOp::Write`] on `stream` was taken by the transport; the
    /// stream's next op can come out. `Err(UnknownStream)` / `Err(NoPendingWrite)`
    /// (nothing changes) for a stream without an outstanding write.
    pub fn handle_written(&mut self, now: Instant, stream: S) -> Result<(), PerfError> {
        self.last_now = Some(now);
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(PerfError::UnknownStream)?;
        let n = s.in_flight.take().ok_or(PerfError::NoPendingWrite)?;
        self.out.stats.bytes_sent += n;
        Ok(())
    }

    /// The transport cannot write `stream` any more (closed under us): it fails with
    /// [`PerfError::Closed`], without a reset. Unknown streams are ignored.
    pub fn handle_write_failed(&mut self, now: Instant, stream: S) {
        self.last_now = Some(now);
        if self.streams.remove(&stream).is_some() {
            self.out.fail(stream, PerfError::Closed, false);
        }
    }

    /// Response bytes arrived on `stream`. More than requested, or any byte before our
    /// upload finished, is a violation: the stream is reset and the error returned.
    pub fn handle_data(&mut self, now: Instant, stream: S, data: &[u8]) -> Result<(), PerfError> {
        self.last_now = Some(now);
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(PerfError::UnknownStream)?;
        let got = data.len() as u64;
        // The server must not answer before our upload ended (it reads to EOF first).
        let allowed = if s.finish_sent {
            minus(s.download_expected, s.downloaded)
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

    /// The server finished its side of `stream`. Before the whole response arrived this
    /// is a violation ([`PerfError::ResponseTruncated`], stream reset).
    pub fn handle_finished(&mut self, now: Instant, stream: S) -> Result<(), PerfError> {
        self.last_now = Some(now);
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

    /// `stream` was reset (by the peer or the transport): it fails with
    /// [`PerfError::Reset`]. Unknown streams are ignored.
    pub fn handle_reset(&mut self, now: Instant, stream: S) {
        self.last_now = Some(now);
        if self.streams.remove(&stream).is_some() {
            self.out.fail(stream, PerfError::Reset, false);
        }
    }

    /// The next stream operation: resets first, then opens (in request order), then one
    /// op of the next stream that has one (round robin; a stream with a write
    /// outstanding has none).
    pub fn poll_outbound(&mut self) -> Option<PerfOp<S>> {
        if let Some(stream) = self.out.resets.pop_front() {
            return Some(PerfOp::Reset { stream });
        }
        if let Some((&request, p)) = self.pending.iter_mut().find(|(_, p)| !p.open_emitted) {
            p.open_emitted = true;
            return Some(PerfOp::Open { request });
        }
        let stream = self.out.next_turn(&self.streams, ClientStream::ready)?;
        let s = self.streams.get_mut(&stream)?;
        if !s.header_sent {
            s.header_sent = true;
            s.in_flight = Some(0);
            let bytes = Bytes::copy_from_slice(&s.download_expected.to_be_bytes());
            return Some(PerfOp::Write { stream, bytes });
        }
        if s.upload_left > 0 {
            let n = next_len(s.upload_left, self.limits.chunk());
            s.upload_left = minus(s.upload_left, n as u64);
            s.in_flight = Some(n as u64);
            return Some(PerfOp::Write {
                stream,
                bytes: zeros(n),
            });
        }
        s.finish_sent = true;
        let now = self.last_now.unwrap_or(s.started);
        self.check_done(now, stream);
        Some(PerfOp::Finish { stream })
    }

    /// The next result.
    pub fn poll_event(&mut self) -> Option<PerfEvent<S>> {
        self.out.events.pop_front()
    }

    /// Requests in progress (waiting for their stream or running on it).
    pub fn active(&self) -> usize {
        self.pending.len() + self.streams.len()
    }

    /// Counters.
    pub fn stats(&self) -> PerfStats {
        self.out.stats
    }

    /// The limits.
    pub fn limits(&self) -> &PerfLimits {
        &self.limits
    }

    fn check_done(&mut self, now: Instant, stream: S) {
        let Some(s) = self.streams.get(&stream) else {
            return;
        };
        if s.finish_sent && s.peer_finished && s.downloaded == s.download_expected {
            self.out.stats.streams_done += 1;
            self.out.event(PerfEvent::Completed {
                request: s.request,
                stream,
                uploaded: s.upload_total,
                downloaded: s.downloaded,
                elapsed: now.saturating_duration_since(s.started),
            });
            self.streams.remove(&stream);
        }
    }
}
