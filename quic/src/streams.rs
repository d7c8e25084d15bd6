//! Stream commands: one bidirectional QUIC stream is one libp2p stream.
//!
//! None of these take `now`: they only change stream state; the packets they cause go
//! out on the next [`Endpoint::poll_transmit`] drain.

use bytes::Bytes;
use quinn_proto::{Dir, VarInt};

use crate::connection::{Conn, ConnState};
use crate::endpoint::Endpoint;
use crate::error::{OpenStreamError, ReadError, StreamError, WriteError};
use crate::event::{ConnId, Event, StreamId};

/// Why a command could not find an established connection.
enum Access {
    Unknown,
    NotConnected,
}

impl From<Access> for OpenStreamError {
    fn from(access: Access) -> Self {
        match access {
            Access::Unknown => Self::UnknownConnection,
            Access::NotConnected => Self::NotConnected,
        }
    }
}

impl From<Access> for WriteError {
    fn from(access: Access) -> Self {
        match access {
            Access::Unknown => Self::UnknownConnection,
            Access::NotConnected => Self::NotConnected,
        }
    }
}

impl From<Access> for ReadError {
    fn from(access: Access) -> Self {
        match access {
            Access::Unknown => Self::UnknownConnection,
            Access::NotConnected => Self::NotConnected,
        }
    }
}

impl From<Access> for StreamError {
    fn from(access: Access) -> Self {
        match access {
            Access::Unknown => Self::UnknownConnection,
            Access::NotConnected => Self::NotConnected,
        }
    }
}

impl Endpoint {
    fn established(&mut self, conn: ConnId) -> Result<&mut Conn, Access> {
        let c = self.conns.get_mut(&conn).ok_or(Access::Unknown)?;
        match c.state {
            ConnState::Established { .. } if !c.quinn.is_closed() => Ok(c),
            _ => Err(Access::NotConnected),
        }
    }

    /// Opens a bidirectional stream; we are its multistream-select dialer. Nothing is
    /// sent until the first write (or finish).
    pub fn open_bi(&mut self, conn: ConnId) -> Result<StreamId, OpenStreamError> {
        let c = self.established(conn)?;
        let stream = c
            .quinn
            .streams()
            .open(Dir::Bi)
            .ok_or(OpenStreamError::LimitReached)?;
        Ok(StreamId(stream))
    }

    /// Writes as much of `data` as flow control (stream and connection windows, quinn's
    /// send window) allows and returns how many leading bytes were taken (0 when blocked).
    /// Whenever fewer bytes than offered were taken, [`Event::Writable`] for this stream
    /// follows once credit returns: keep the rest and retry then — or use
    /// [`crate::SendBuffer`], which does exactly that. Never skip the untaken bytes.
    pub fn write(
        &mut self,
        conn: ConnId,
        stream: StreamId,
        data: &[u8],
    ) -> Result<usize, WriteError> {
        if data.is_empty() {
            self.established(conn)?;
            return Ok(0);
        }
        let c = self.established(conn)?;
        let mut written = 0;
        // Keep offering the rest until quinn says Blocked: only a write that returned
        // Blocked makes quinn report Writable once credit returns. A partial write alone
        // would leave the caller waiting forever.
        while let Some(rest) = data.get(written..).filter(|rest| !rest.is_empty()) {
            match c.quinn.send_stream(stream.0).write(rest) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(quinn_proto::WriteError::Blocked) => break,
                Err(error) if written > 0 => {
                    // Report the bytes taken; the error shows on the next write.
                    tracing::trace!(%error, "write ended early");
                    break;
                }
                Err(quinn_proto::WriteError::Stopped(code)) => {
                    self.mark_for_transmit(conn);
                    return Err(WriteError::Stopped(code.into_inner()));
                }
                Err(quinn_proto::WriteError::ClosedStream) => {
                    return Err(WriteError::ClosedStream);
                }
            }
        }
        if written > 0 {
            self.mark_for_transmit(conn);
        }
        Ok(written)
    }

    /// [`Endpoint::write`] for owned chunks, without copying: QUIC keeps references to the
    /// chunks' bytes until the peer acknowledges them. Takes bytes in order from the front
    /// of `chunks` as flow control allows and returns how many it took (0 when blocked).
    /// Every chunk taken completely is left empty, a partly taken one is advanced past the
    /// bytes taken, and the rest are untouched; on error nothing was taken. Whenever fewer
    /// bytes than offered were taken, [`Event::Writable`] for this stream follows once
    /// credit returns: offer the rest again then ([`crate::SendBuffer::flush_to`] does).
    pub fn write_chunks(
        &mut self,
        conn: ConnId,
        stream: StreamId,
        chunks: &mut [Bytes],
    ) -> Result<usize, WriteError> {
        let c = self.established(conn)?;
        let mut written = 0;
        // Chunks before `first` were taken completely (and are empty now).
        let mut first = 0;
        // As in `write`: offer the rest until quinn says Blocked, so that it reports
        // Writable once credit returns.
        loop {
            while chunks.get(first).is_some_and(Bytes::is_empty) {
                first += 1;
            }
            let Some(rest) = chunks.get_mut(first..).filter(|rest| !rest.is_empty()) else {
                break;
            };
            match c.quinn.send_stream(stream.0).write_chunks(rest) {
                Ok(taken) if taken.bytes == 0 => break,
                Ok(taken) => {
                    written += taken.bytes;
                    first += taken.chunks;
                }
                Err(quinn_proto::WriteError::Blocked) => break,
                Err(error) if written > 0 => {
                    // Report the bytes taken; the error shows on the next write.
                    tracing::trace!(%error, "write ended early");
                    break;
                }
                Err(quinn_proto::WriteError::Stopped(code)) => {
                    self.mark_for_transmit(conn);
                    return Err(WriteError::Stopped(code.into_inner()));
                }
                Err(quinn_proto::WriteError::ClosedStream) => {
                    return Err(WriteError::ClosedStream);
                }
            }
        }
        if written > 0 {
            self.mark_for_transmit(conn);
        }
        Ok(written)
    }

    /// Sends FIN after the data already written (libp2p `close_write`).
    pub fn finish(&mut self, conn: ConnId, stream: StreamId) -> Result<(), StreamError> {
        let c = self.established(conn)?;
        let result = c.quinn.send_stream(stream.0).finish();
        match result {
            Ok(()) => {
                self.mark_for_transmit(conn);
                Ok(())
            }
            Err(quinn_proto::FinishError::Stopped(code)) => {
                self.mark_for_transmit(conn);
                Err(StreamError::Stopped(code.into_inner()))
            }
            Err(quinn_proto::FinishError::ClosedStream) => Err(StreamError::ClosedStream),
        }
    }

    /// Resets the whole libp2p stream: RESET_STREAM on our send side and STOP_SENDING
    /// on our receive side, both with `code` (rust-libp2p uses 0). Fails only if both
    /// halves were already closed.
    pub fn reset(&mut self, conn: ConnId, stream: StreamId, code: u64) -> Result<(), StreamError> {
        let code = VarInt::from_u64(code).map_err(|_| StreamError::InvalidCode)?;
        let c = self.established(conn)?;
        let send = c.quinn.send_stream(stream.0).reset(code);
        let recv = c.quinn.recv_stream(stream.0).stop(code);
        if send.is_err() && recv.is_err() {
            return Err(StreamError::ClosedStream);
        }
        self.mark_for_transmit(conn);
        Ok(())
    }

    /// Stops our receive side only (STOP_SENDING with `code`); unread data is discarded.
    pub fn stop(&mut self, conn: ConnId, stream: StreamId, code: u64) -> Result<(), StreamError> {
        let code = VarInt::from_u64(code).map_err(|_| StreamError::InvalidCode)?;
        let c = self.established(conn)?;
        c.quinn
            .recv_stream(stream.0)
            .stop(code)
            .map_err(|_| StreamError::ClosedStream)?;
        self.mark_for_transmit(conn);
        Ok(())
    }

    /// Sets the send priority of a stream (higher goes first; default 0). Useful to keep
    /// gossip ahead of bulk responses on one connection.
    pub fn set_priority(
        &mut self,
        conn: ConnId,
        stream: StreamId,
        priority: i32,
    ) -> Result<(), StreamError> {
        let c = self.established(conn)?;
        c.quinn
            .send_stream(stream.0)
            .set_priority(priority)
            .map_err(|_| StreamError::ClosedStream)
    }

    /// Reads up to `max` bytes in order. `Ok(None)` means nothing more right now; if the
    /// stream ended, [`Event::Finished`] (peer FIN, everything read) or [`Event::Reset`]
    /// is queued exactly once, and later reads return [`ReadError::ClosedStream`].
    /// Reading frees receive window, so read promptly: an unread stream stalls its sender.
    pub fn read(
        &mut self,
        conn: ConnId,
        stream: StreamId,
        max: usize,
    ) -> Result<Option<Bytes>, ReadError> {
        let c = self.established(conn)?;
        let mut recv = c.quinn.recv_stream(stream.0);
        let mut chunks = recv.read(true).map_err(|_| ReadError::ClosedStream)?;
        if max == 0 {
            // Finalizing an untouched read changes nothing.
            let _ = chunks.finalize();
            return Ok(None);
        }
        let outcome = chunks.next(max);
        let should_transmit = chunks.finalize().should_transmit();
        if should_transmit {
            self.mark_for_transmit(conn);
        }
        match outcome {
            Ok(Some(chunk)) => Ok(Some(chunk.bytes)),
            Ok(None) => {
                self.events.push_back(Event::Finished { conn, stream });
                Ok(None)
            }
            Err(quinn_proto::ReadError::Blocked) => Ok(None),
            Err(quinn_proto::ReadError::Reset(code)) => {
                self.events.push_back(Event::Reset {
                    conn,
                    stream,
                    code: code.into_inner(),
                });
                self.mark_for_transmit(conn);
                Ok(None)
            }
        }
    }
}
