//! A per-stream send queue that never loses or reorders a byte under flow control.
//!
//! QUIC accepts only as many bytes as the peer's stream and connection windows (and
//! quinn's send window) allow: [`crate::Endpoint::write`] returns how many it took. A
//! writer that drops the remainder, or advances its offset past it, leaves a hole the
//! receiver can never fill (the zquic bug in quic.md §4.1). [`SendBuffer`] holds whole
//! frames (e.g. length-prefixed gossip RPCs) and feeds them to the stream as credit
//! allows; call [`SendBuffer::flush_to`] after pushing and on every
//! [`crate::Event::Writable`] for the stream.
//!
//! [`SendBuffer::flush_to`] hands the queued frames to QUIC as owned [`Bytes`] chunks
//! ([`crate::Endpoint::write_chunks`]): QUIC keeps references to them until they are
//! acknowledged instead of copying every byte once more.

use std::collections::VecDeque;

use bytes::{Buf, Bytes};

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
    /// Unsent frames in order; never an empty one. The front frame has already been cut
    /// past the bytes the stream accepted from it.
    frames: VecDeque<Bytes>,
    /// Unsent bytes over all frames.
    buffered: usize,
    limit: usize,
}

impl SendBuffer {
    /// An empty buffer holding at most `limit` unsent bytes.
    pub fn new(limit: usize) -> Self {
        Self {
            frames: VecDeque::new(),
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
        while let Some(front) = self.frames.front_mut() {
            let offered = front.len();
            let accepted = write(front)?.min(offered);
            total += accepted;
            self.buffered -= accepted;
            if accepted == offered {
                self.frames.pop_front();
            } else {
                front.advance(accepted);
                break;
            }
        }
        Ok(total)
    }

    /// Feeds the queued frames, in order, as owned chunks to `write` (at most two calls:
    /// the queue's storage may wrap around) until it takes fewer bytes than offered or the
    /// queue is empty. Returns the number of bytes written in this call.
    ///
    /// `write` must behave like quinn's `SendStream::write_chunks`: take bytes from the
    /// front only, leave every chunk it took completely as an empty `Bytes`, advance a
    /// partly taken chunk past the bytes it took, leave the rest untouched, and return
    /// how many bytes it took. On error it must have taken nothing; the error is returned
    /// and every unsent byte stays queued.
    pub fn flush_chunks<F>(&mut self, mut write: F) -> Result<usize, WriteError>
    where
        F: FnMut(&mut [Bytes]) -> Result<usize, WriteError>,
    {
        let mut total = 0;
        loop {
            let buffered = self.buffered;
            let (first, second) = self.frames.as_mut_slices();
            if first.is_empty() {
                break;
            }
            let whole_queue = second.is_empty();
            let offered = if whole_queue {
                buffered
            } else {
                first.iter().map(Bytes::len).sum()
            };
            let accepted = write(first)?.min(offered);
            total += accepted;
            self.buffered -= accepted;
            while self.frames.front().is_some_and(Bytes::is_empty) {
                self.frames.pop_front();
            }
            if whole_queue || accepted < offered {
                break;
            }
        }
        Ok(total)
    }

    /// Writes the queued frames into stream `stream` of connection `conn` without copying
    /// them ([`SendBuffer::flush_chunks`] into [`Endpoint::write_chunks`]).
    pub fn flush_to(
        &mut self,
        endpoint: &mut Endpoint,
        conn: ConnId,
        stream: StreamId,
    ) -> Result<usize, WriteError> {
        self.flush_chunks(|chunks| endpoint.write_chunks(conn, stream, chunks))
    }

    /// Drops everything queued (e.g. after the stream was reset). Returns the bytes dropped.
    pub fn clear(&mut self) -> usize {
        let dropped = self.buffered;
        self.frames.clear();
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

    /// Takes up to `credit` bytes from the front of `chunks` the way quinn's
    /// `write_chunks` does, appending them to `out`.
    fn take_chunks(chunks: &mut [Bytes], credit: &mut usize, out: &mut Vec<u8>) -> usize {
        let mut taken = 0;
        for chunk in chunks.iter_mut() {
            if *credit == 0 {
                break;
            }
            let n = chunk.len().min(*credit);
            out.extend_from_slice(&chunk.split_to(n));
            *credit -= n;
            taken += n;
        }
        taken
    }

    #[test]
    fn chunk_flush_errors_keep_the_data() {
        let mut buffer = SendBuffer::new(100);
        buffer.push(Bytes::from_static(b"abc")).unwrap();
        assert_eq!(
            buffer.flush_chunks(|_| Err(WriteError::Stopped(7))),
            Err(WriteError::Stopped(7))
        );
        assert_eq!(buffer.buffered_bytes(), 3);
        assert_eq!(buffer.queued_frames(), 1);
    }

    #[test]
    fn chunk_flush_resumes_mid_frame_and_across_a_wrapped_queue() {
        let mut buffer = SendBuffer::new(100);
        // Make the deque's storage wrap: fill it, send two frames, push two more.
        buffer.frames.reserve_exact(4);
        for frame in [&b"ab"[..], b"cd", b"ef", b"gh"] {
            buffer.push(Bytes::copy_from_slice(frame)).unwrap();
        }
        let mut out = Vec::new();
        let mut credit = 4;
        let flushed = buffer.flush_chunks(|chunks| Ok(take_chunks(chunks, &mut credit, &mut out)));
        assert_eq!(flushed, Ok(4));
        for frame in [&b"ij"[..], b"kl"] {
            buffer.push(Bytes::copy_from_slice(frame)).unwrap();
        }
        if buffer.frames.capacity() == 4 {
            assert!(!buffer.frames.as_slices().1.is_empty(), "queue should wrap");
        }
        let mut credit = 3;
        let flushed = buffer.flush_chunks(|chunks| Ok(take_chunks(chunks, &mut credit, &mut out)));
        assert_eq!(flushed, Ok(3));
        assert_eq!(buffer.buffered_bytes(), 5);
        assert_eq!(buffer.queued_frames(), 3);
        let mut credit = usize::MAX;
        let flushed = buffer.flush_chunks(|chunks| Ok(take_chunks(chunks, &mut credit, &mut out)));
        assert_eq!(flushed, Ok(5));
        assert!(buffer.is_empty());
        assert_eq!(buffer.queued_frames(), 0);
        assert_eq!(out, b"abcdefghijkl");
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

        /// Pushes interleaved with chunk flushes under random credit (so the queue wraps
        /// around): the bytes out are the bytes in, in order; the count never drifts.
        #[test]
        fn chunk_flushes_never_lose_or_reorder(
            steps in proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 0..300), 0usize..400),
                1..80,
            ),
        ) {
            let mut buffer = SendBuffer::new(usize::MAX);
            let mut expected = Vec::new();
            let mut out = Vec::new();
            for (frame, credit) in &steps {
                expected.extend_from_slice(frame);
                buffer.push(Bytes::from(frame.clone())).unwrap();
                let mut credit = *credit;
                let before = buffer.buffered_bytes();
                let flushed = buffer
                    .flush_chunks(|chunks| Ok(take_chunks(chunks, &mut credit, &mut out)))
                    .unwrap();
                prop_assert_eq!(before - flushed, buffer.buffered_bytes());
                prop_assert_eq!(buffer.buffered_bytes() + out.len(), expected.len());
            }
            let mut credit = usize::MAX;
            buffer
                .flush_chunks(|chunks| Ok(take_chunks(chunks, &mut credit, &mut out)))
                .unwrap();
            prop_assert!(buffer.is_empty());
            prop_assert_eq!(buffer.queued_frames(), 0);
            prop_assert_eq!(out, expected);
        }
    }
}
