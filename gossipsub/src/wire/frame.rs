//! Length-prefixed framing: `uvarint(len) ‖ RPC protobuf`, repeated on a stream.

use bytes::{BufMut, Bytes, BytesMut};
use leanp2p_identity::varint::{self, Frame, LengthPrefixError, MAX_VARINT_LEN};

use crate::error::FrameError;

/// Prefixes `body` with its uvarint length.
pub fn prefix_frame(body: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(body.len() + MAX_VARINT_LEN);
    put_uvarint(&mut buf, body.len() as u64);
    buf.put_slice(body);
    buf.freeze()
}

/// Appends `value` as a uvarint.
pub(crate) fn put_uvarint(buf: &mut BytesMut, value: u64) {
    let mut tmp = unsigned_varint::encode::u64_buffer();
    buf.put_slice(unsigned_varint::encode::u64(value, &mut tmp));
}

/// Splits exactly one complete frame `uvarint(len) ‖ body` and returns the body.
pub fn decode_frame(frame: &Bytes, max_len: usize) -> Result<Bytes, FrameError> {
    let mut rest: &[u8] = frame;
    let len = match varint::LengthPrefixReader::new(max_len).read(&mut rest) {
        Ok(Some(len)) => len,
        Ok(None) => return Err(FrameError::Truncated),
        Err(e) => return Err(frame_error(e)),
    };
    let prefix_len = frame.len() - rest.len();
    match rest.len().cmp(&len) {
        std::cmp::Ordering::Less => Err(FrameError::Truncated),
        std::cmp::Ordering::Greater => Err(FrameError::TrailingBytes),
        std::cmp::Ordering::Equal => Ok(frame.slice(prefix_len..)),
    }
}

/// Incremental decoder for the bytes of an inbound `/meshsub` stream: the shared
/// [`varint::FrameReader`], its errors mapped to [`FrameError`].
///
/// It buffers at most one frame (plus a ≤ 10-byte prefix): the length is checked against
/// `max_frame` as soon as the prefix is complete, before any body byte is buffered, so a
/// peer announcing a huge frame costs nothing. Frames that arrive whole in one chunk are
/// returned without copying.
#[derive(Debug)]
pub struct FrameDecoder {
    reader: varint::FrameReader,
}

impl FrameDecoder {
    /// A decoder accepting frames of at most `max_frame` bytes (without the prefix).
    pub fn new(max_frame: usize) -> Self {
        Self {
            reader: varint::FrameReader::new(varint::LengthPrefixReader::new(max_frame))
                .keep_prefix(),
        }
    }

    /// Bytes of the current, incomplete frame buffered (its prefix and the body bytes
    /// received so far).
    pub fn buffered(&self) -> usize {
        self.reader.buffered()
    }

    /// Consumes bytes from `input` until one frame is complete, and returns its body.
    ///
    /// Returns `Ok(None)` when `input` is exhausted without completing a frame. Call it
    /// in a loop while `input` is not empty. After an error the stream is unusable (the
    /// host should reset it).
    pub fn decode(&mut self, input: &mut Bytes) -> Result<Option<Bytes>, FrameError> {
        Ok(self.decode_received(input)?.map(|frame| frame.body))
    }

    /// As [`FrameDecoder::decode`], but also returns the whole frame (prefix and body
    /// in one allocation) whenever it is at hand without a copy, for
    /// [`crate::Gossipsub::handle_received_rpc`] to forward as it is.
    pub fn decode_received(
        &mut self,
        input: &mut Bytes,
    ) -> Result<Option<ReceivedFrame>, FrameError> {
        let mut rest: &[u8] = input;
        let frame = match self.reader.next_frame(&mut rest) {
            // A borrowed body ends where `rest` starts: slice it out of `input`, no copy.
            Ok(Some(Frame::Borrowed(body))) => Some(Err(body.len())),
            Ok(Some(Frame::Owned(whole))) => Some(Ok(Bytes::from(whole))),
            Ok(None) => None,
            Err(e) => return Err(frame_error(e)),
        };
        let used = input.len() - rest.len();
        let consumed = input.split_to(used);
        Ok(frame.map(|frame| match frame {
            // The reader keeps the canonical prefix in front of an owned body.
            Ok(whole) => {
                let prefix = unsigned_varint::decode::u64(&whole)
                    .map_or(0, |(_, body)| whole.len() - body.len());
                ReceivedFrame {
                    body: whole.slice(prefix..),
                    wire: Some(whole),
                }
            }
            Err(len) => {
                let prefix_here = used - len;
                let body = consumed.slice(prefix_here..);
                // The reader only accepts minimal prefixes: when all of it came in this
                // input, `consumed` is the whole frame as the sender wrote it.
                let wire = (prefix_here == uvarint_len(len as u64)).then_some(consumed);
                ReceivedFrame { body, wire }
            }
        }))
    }
}

/// One frame from [`FrameDecoder::decode_received`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// The RPC protobuf (what [`FrameDecoder::decode`] returns).
    pub body: Bytes,
    /// `uvarint(body.len()) ‖ body` sharing the body's allocation, when the frame was
    /// received in one piece of memory (else `None`).
    pub wire: Option<Bytes>,
}

/// Bytes of the shortest uvarint encoding of `value`.
pub(crate) fn uvarint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Maps a length-prefix error of the shared reader to this crate's [`FrameError`].
fn frame_error(e: LengthPrefixError) -> FrameError {
    match e {
        LengthPrefixError::TooLarge { len, max } => FrameError::TooLarge { len, max },
        _ => FrameError::BadLengthPrefix,
    }
}
