//! A per-stream send queue that never loses or reorders a byte under flow control.
//!
//! QUIC accepts only as many bytes as the peer's stream and connection windows (and
//! quinn's send window) allow: [`crate::Endpoint::write`] returns how many it took. A
//! writer that drops the remainder, or advances its offset past it, leaves a hole the
//! receiver can never fill (the zquic bug in quic.md §4.1). [`SendBuffer`] holds whole
//! frames (e.g. length-prefixed gossip RPCs) and feeds them to the stream as credit
//! allows; call [`SendBuffer::flush_to`] after pushing and on every
//! [`crate::Event::Writable`] for the stream.

use std::collections::VecDeque;

use bytes::Bytes;

use crate::endpoint::Endpoint;
use crate::error::WriteError;
use crate::event::{ConnId, StreamId};

/// [`SendBuffer::push`] refused a frame: it would exceed the buffer's byte limit. Nothing
/// was queued; the caller decides whether to drop the frame or apply backpressure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("send buffer full: {buffered} + {frame} > {limit} bytes")]
pub struct SendBufferFull {
    /// Bytes already queued.
    pub buffered: usize,
    /// Size of the refused frame.
    pub frame: usize,
    /// The buffer's limit.
    pub limit: usize,
}

/// Bounded FIFO of frames waiting for stream credit.
#[derive(Debug, Clone)]
pub struct SendBuffer {
    frames: VecDeque<Bytes>,
    /// Bytes of `frames[0]` already accepted by the stream.
    front_written: usize,
    /// Unsent bytes over all frames.
    buffered: usize,
    limit: usize,
}

impl SendBuffer {
    /// An empty buffer holding at most `limit` unsent bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            frames: VecDeque::new(),
            front_written: 0,
            buffered: 0,
            limit,
        }
    }

    /// Queues a whole frame, or nothing if it would exceed the limit. An empty frame is
    /// accepted and ignored.
    pub fn push(&mut self, frame: Bytes) -> Result<(), SendBufferFull> {
        if frame.is_empty() {
            return Ok(());
        }
        if !self.has_room(frame.len()) {
            return Err(SendBufferFull {
                buffered: self.buffered,
                frame: frame.len(),
                limit: self.limit,
            });
        }
        self.buffered += frame.len();
        self.frames.push_back(frame);
        Ok(())
    }

    /// Whether a frame of `len` bytes would fit.
    pub fn has_room(&self, len: usize) -> bool {
        self.buffered
            .checked_add(len)
            .is_some_and(|total| total <= self.limit)
    }

    /// Unsent bytes.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }

    /// Frames not yet completely sent (a partially sent frame counts).
    pub fn queued_frames(&self) -> usize {
        self.frames.len()
    }

    /// Whether everything has been handed to the stream.
    pub fn is_empty(&self) -> bool {
        self.buffered == 0
    }

    /// The byte limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Feeds queued bytes, in order, to `write` until it accepts fewer bytes than offered
    /// (flow control) or the queue is empty. `write` returns how many leading bytes of the
    /// slice it took. Returns the number of bytes written in this call. On error the
    /// unsent bytes stay queued and the error is returned.
    pub fn flush<F>(&mut self, mut write: F) -> Result<usize, WriteError>
    where
        F: FnMut(&[u8]) -> Result<usize, WriteError>,
    {
        let mut total = 0;
        while let Some(front) = self.frames.front() {
            let pending = front.get(self.front_written..).unwrap_or_default();
            let offered = pending.len();
            let accepted = write(pending)?.min(offered);
            total += accepted;
            self.buffered -= accepted;
            if accepted == offered {
                self.frames.pop_front();
                self.front_written = 0;
            } else {
                self.front_written += accepted;
                break;
            }
        }
        Ok(total)
    }

    /// [`SendBuffer::flush`] into stream `stream` of connection `conn`.
    pub fn flush_to(
        &mut self,
        endpoint: &mut Endpoint,
        conn: ConnId,
        stream: StreamId,
    ) -> Result<usize, WriteError> {
        self.flush(|bytes| endpoint.write(conn, stream, bytes))
    }

    /// Drops everything queued (e.g. after the stream was reset). Returns the bytes dropped.
    pub fn clear(&mut self) -> usize {
        let dropped = self.buffered;
        self.frames.clear();
        self.front_written = 0;
        self.buffered = 0;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn push_respects_limit_and_keeps_frames_whole() {
        let mut buffer = SendBuffer::new(10);
        assert!(buffer.push(Bytes::from_static(b"012345")).is_ok());
        assert_eq!(
            buffer.push(Bytes::from_static(b"67890")),
            Err(SendBufferFull {
                buffered: 6,
                frame: 5,
                limit: 10
            })
        );
        assert!(buffer.push(Bytes::from_static(b"6789")).is_ok());
        assert_eq!(buffer.buffered_bytes(), 10);
        assert!(buffer.push(Bytes::new()).is_ok());
        assert_eq!(buffer.queued_frames(), 2);
    }

    #[test]
    fn partial_writes_resume_at_the_right_byte() {
        let mut buffer = SendBuffer::new(100);
        buffer.push(Bytes::from_static(b"hello ")).unwrap();
        buffer.push(Bytes::from_static(b"world")).unwrap();
        let mut out = Vec::new();
        let mut credit = 4;
        let written = buffer
            .flush(|bytes| {
                let n = bytes.len().min(credit);
                credit -= n;
                out.extend_from_slice(&bytes[..n]);
                Ok(n)
            })
            .unwrap();
        assert_eq!(written, 4);
        assert_eq!(buffer.buffered_bytes(), 7);
        let written = buffer
            .flush(|bytes| {
                out.extend_from_slice(bytes);
                Ok(bytes.len())
            })
            .unwrap();
        assert_eq!(written, 7);
        assert_eq!(out, b"hello world");
        assert!(buffer.is_empty());
    }

    #[test]
    fn errors_keep_the_data() {
        let mut buffer = SendBuffer::new(100);
        buffer.push(Bytes::from_static(b"abc")).unwrap();
        assert_eq!(
            buffer.flush(|_| Err(WriteError::Stopped(7))),
            Err(WriteError::Stopped(7))
        );
        assert_eq!(buffer.buffered_bytes(), 3);
        assert_eq!(buffer.clear(), 3);
        assert!(buffer.is_empty());
    }

    proptest! {
        /// Random frame sizes against random credit grants: the bytes that come out are
        /// exactly the bytes that went in, in order, and accounting never drifts.
        #[test]
        fn never_loses_or_reorders(
            frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..40),
            credits in proptest::collection::vec(0usize..200, 1..200),
        ) {
            let mut buffer = SendBuffer::new(usize::MAX);
            let mut expected = Vec::new();
            for frame in &frames {
                expected.extend_from_slice(frame);
                buffer.push(Bytes::from(frame.clone())).unwrap();
            }
            let mut out = Vec::new();
            for credit in credits.iter().cycle().take(10_000) {
                if buffer.is_empty() {
                    break;
                }
                let mut credit = *credit;
                buffer.flush(|bytes| {
                    let n = bytes.len().min(credit);
                    credit -= n;
                    out.extend_from_slice(&bytes[..n]);
                    Ok(n)
                }).unwrap();
                prop_assert_eq!(buffer.buffered_bytes() + out.len(), expected.len());
            }
            if credits.iter().any(|c| *c > 0) {
                prop_assert!(buffer.is_empty());
                prop_assert_eq!(out, expected);
            }
        }
    }
}
