//! The server side: header parsing, upload draining, response writing.

use std::collections::BTreeMap;
use std::fmt::Debug;

use crate::{minus, next_len, zeros, Outputs, PerfError, PerfEvent, PerfLimits, PerfOp};
use crate::{PerfStats, HEADER_LEN};

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
        /// Bytes not handed out in a `Write` yet.
        left: u64,
        total: u64,
        received: u64,
        /// Bytes of the outstanding `Write`.
        in_flight: Option<u64>,
    },
}

impl ServerStream {
    /// Whether the stream has an op to hand out now.
    fn ready(&self) -> bool {
        matches!(
            self,
            ServerStream::Sending {
                in_flight: None,
                ..
            }
        )
    }
}

/// The server side: answers every perf stream the caller hands it. See the
/// [crate docs](crate) for the run loop, the drain rule and the limits.
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
            out: Outputs::new(&limits),
            limits,
            streams: BTreeMap::new(),
        }
    }

    /// A client opened `stream` (negotiated for [`crate::PROTOCOL`]).
    ///
    /// `Err(DuplicateStream)` if it is already tracked (nothing changes). Over
    /// [`PerfLimits::max_streams`] the stream is refused: a [`PerfOp::Reset`] is queued,
    /// a `Failed` event reported and `Err(TooManyStreams)` returned.
    pub fn handle_stream_opened(&mut self, stream: S) -> Result<(), PerfError> {
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

    /// Bytes arrived on `stream` (any split). A request over
    /// [`PerfLimits::max_response_bytes`] or data after the client's end of stream is a
    /// violation: the stream is reset and the error returned.
    pub fn handle_data(&mut self, stream: S, mut data: &[u8]) -> Result<(), PerfError> {
        let s = self
            .streams
            .get_mut(&stream)
            .ok_or(PerfError::UnknownStream)?;
        if let ServerStream::Header { buf, filled } = s {
            let take = HEADER_LEN.saturating_sub(*filled).min(data.len());
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
    /// `poll_outbound`. Inside the header this is a violation
    /// ([`PerfError::HeaderTruncated`], stream reset). A second finish is ignored.
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
                    in_flight: None,
                };
                Ok(())
            }
            ServerStream::Sending { .. } => Ok(()),
        }
    }

    /// The outstanding [`PerfOp::Write`] on `stream` was taken by the transport; the
    /// stream's next op can come out. `Err(UnknownStream)` / `Err(NoPendingWrite)`
    /// (nothing changes) for a stream without an outstanding write.
    pub fn handle_written(&mut self, stream: S) -> Result<(), PerfError> {
        let Some(ServerStream::Sending { in_flight, .. }) = self.streams.get_mut(&stream) else {
            return Err(if self.streams.contains_key(&stream) {
                PerfError::NoPendingWrite
            } else {
                PerfError::UnknownStream
            });
        };
        let n = in_flight.take().ok_or(PerfError::NoPendingWrite)?;
        self.out.stats.bytes_sent += n;
        Ok(())
    }

    /// The transport cannot write `stream` any more (closed under us): it fails with
    /// [`PerfError::Closed`], without a reset. Unknown streams are ignored.
    pub fn handle_write_failed(&mut self, stream: S) {
        if self.streams.remove(&stream).is_some() {
            self.out.fail(stream, PerfError::Closed, false);
        }
    }

    /// `stream` was reset (by the peer or the transport): it fails with
    /// [`PerfError::Reset`]. Unknown streams are ignored.
    pub fn handle_reset(&mut self, stream: S) {
        if self.streams.remove(&stream).is_some() {
            self.out.fail(stream, PerfError::Reset, false);
        }
    }

    /// The next stream operation: resets first, then one op of the next responding
    /// stream that has one (round robin; a stream with a write outstanding has none).
    /// The `Finish` of a stream comes with its [`PerfEvent::Served`].
    pub fn poll_outbound(&mut self) -> Option<PerfOp<S>> {
        if let Some(stream) = self.out.resets.pop_front() {
            return Some(PerfOp::Reset { stream });
        }
        let stream = self.out.next_turn(&self.streams, ServerStream::ready)?;
        let Some(ServerStream::Sending {
            left,
            total,
            received,
            in_flight,
        }) = self.streams.get_mut(&stream)
        else {
            return None;
        };
        if *left > 0 {
            let n = next_len(*left, self.limits.chunk());
            *left = minus(*left, n as u64);
            *in_flight = Some(n as u64);
            return Some(PerfOp::Write {
                stream,
                bytes: zeros(n),
            });
        }
        let (received, sent) = (*received, *total);
        self.streams.remove(&stream);
        self.out.stats.streams_done += 1;
        self.out.event(PerfEvent::Served {
            stream,
            received,
            sent,
        });
        Some(PerfOp::Finish { stream })
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

    /// The limits.
    pub fn limits(&self) -> &PerfLimits {
        &self.limits
    }
}
