//! Length-prefixed framing: `uvarint(len) ‖ RPC protobuf`, repeated on a stream.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::FrameError;

/// Longest uvarint length prefix (u64).
const MAX_PREFIX_LEN: usize = 10;

/// Prefixes `body` with its uvarint length.
pub fn prefix_frame(body: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(body.len() + MAX_PREFIX_LEN);
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
    let (len, rest) = match unsigned_varint::decode::u64(frame) {
        Ok(v) => v,
        Err(unsigned_varint::decode::Error::Insufficient) => return Err(FrameError::Truncated),
        Err(_) => return Err(FrameError::BadLengthPrefix),
    };
    if len > max_len as u64 {
        return Err(FrameError::TooLarge { len, max: max_len });
    }
    let prefix_len = frame.len() - rest.len();
    let len = len as usize;
    match rest.len().cmp(&len) {
        std::cmp::Ordering::Less => Err(FrameError::Truncated),
        std::cmp::Ordering::Greater => Err(FrameError::TrailingBytes),
        std::cmp::Ordering::Equal => Ok(frame.slice(prefix_len..)),
    }
}

/// Incremental decoder for the bytes of an inbound `/meshsub` stream.
///
/// It buffers at most one frame (plus a ≤ 10-byte prefix): the length is checked against
/// `max_frame` as soon as the prefix is complete, before any body byte is buffered, so a
/// peer announcing a huge frame costs nothing. Frames that arrive whole in one chunk are
/// returned without copying.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame: usize,
    prefix: [u8; MAX_PREFIX_LEN],
    prefix_len: usize,
    /// Body length once the prefix is complete.
    body_len: Option<usize>,
    body: BytesMut,
}

impl FrameDecoder {
    /// A decoder accepting frames of at most `max_frame` bytes (without the prefix).
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame,
            prefix: [0; MAX_PREFIX_LEN],
            prefix_len: 0,
            body_len: None,
            body: BytesMut::new(),
        }
    }

    /// Bytes currently buffered (partial prefix + partial body).
    pub fn buffered(&self) -> usize {
        self.prefix_len + self.body.len()
    }

    /// Consumes bytes from `input` until one frame is complete, and returns its body.
    ///
    /// Returns `Ok(None)` when `input` is exhausted without completing a frame. Call it
    /// in a loop while `input` is not empty. After an error the stream is unusable (the
    /// host should reset it).
    pub fn decode(&mut self, input: &mut Bytes) -> Result<Option<Bytes>, FrameError> {
        loop {
            let Some(body_len) = self.body_len else {
                if input.is_empty() {
                    return Ok(None);
                }
                // Fast path: nothing buffered and the prefix is complete in `input`.
                if self.prefix_len == 0 {
                    if let Ok((len, rest)) = unsigned_varint::decode::u64(input) {
                        let used = input.len() - rest.len();
                        input.advance(used);
                        self.start_body(len)?;
                        continue;
                    }
                }
                let byte = input.get_u8();
                if self.prefix_len >= MAX_PREFIX_LEN {
                    return Err(FrameError::BadLengthPrefix);
                }
                self.prefix[self.prefix_len] = byte;
                self.prefix_len += 1;
                if byte & 0x80 == 0 {
                    let len = match unsigned_varint::decode::u64(&self.prefix[..self.prefix_len]) {
                        Ok((len, _)) => len,
                        Err(_) => return Err(FrameError::BadLengthPrefix),
                    };
                    self.prefix_len = 0;
                    self.start_body(len)?;
                }
                continue;
            };
            if self.body.is_empty() && input.len() >= body_len {
                self.body_len = None;
                return Ok(Some(input.split_to(body_len)));
            }
            let need = body_len - self.body.len();
            let take = need.min(input.len());
            self.body.extend_from_slice(&input[..take]);
            input.advance(take);
            if self.body.len() == body_len {
                self.body_len = None;
                return Ok(Some(std::mem::take(&mut self.body).freeze()));
            }
            return Ok(None);
        }
    }

    fn start_body(&mut self, len: u64) -> Result<(), FrameError> {
        if len > self.max_frame as u64 {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame,
            });
        }
        let len = len as usize;
        self.body_len = Some(len);
        // Reserve lazily: never more than what actually arrives.
        self.body = BytesMut::new();
        Ok(())
    }
}
