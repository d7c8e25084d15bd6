//! Wire codecs. A [`Codec`] turns request bodies and response chunks into
//! stream bytes and back; the machine is the same for every codec.
//!
//! Two codecs are built in: [`SszSnappyCodec`] (Ethereum `ssz_snappy`) and
//! [`LengthDelimitedCodec`] (uvarint length + raw bytes, e.g. protobuf). An
//! application registers its own by implementing [`Codec`] and [`Decode`] and
//! passing it in a [`ProtocolConfig`](crate::ProtocolConfig).

mod length_delimited;
mod ssz_snappy;

pub use length_delimited::LengthDelimitedCodec;
pub use ssz_snappy::SszSnappyCodec;

use crate::error::{DecodeError, EncodeError};
use crate::message::ResponseChunk;
use crate::protocol::ProtocolLimits;
use bytes::Bytes;
use std::fmt;

/// An incremental decoder for one direction of one stream.
///
/// Implementations must never panic on any input, must check declared
/// lengths against the limits they were built with before allocating, and
/// must buffer at most one message.
pub trait Decode<T>: Send + fmt::Debug {
    /// Consumes bytes from the front of `input` and returns a message once one
    /// is complete. Bytes after that message stay in `input`; call again to
    /// continue. Returns `Ok(None)` only when `input` has been exhausted.
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<T>, DecodeError>;

    /// The peer finished its side of the stream. `Ok` if the stream ended on
    /// a message boundary (possibly before any message), `Err(Truncated)` or
    /// another error otherwise.
    fn finish(&mut self) -> Result<(), DecodeError>;
}

/// A request/response wire format.
pub trait Codec: Send + Sync + fmt::Debug {
    /// Appends the wire form of a request `body` to `out`. The caller has
    /// already checked `body` against `limits`.
    fn encode_request(
        &self,
        body: &[u8],
        limits: &ProtocolLimits,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError>;

    /// Appends the wire form of one response chunk to `out`.
    fn encode_response_chunk(
        &self,
        chunk: &ResponseChunk,
        limits: &ProtocolLimits,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError>;

    /// A decoder for one inbound request stream. It yields at most one
    /// request; any byte after it is `DecodeError::TrailingData`.
    fn request_decoder(&self, limits: &ProtocolLimits) -> Box<dyn Decode<Bytes>>;

    /// A decoder for one response stream, yielding chunks.
    fn response_decoder(&self, limits: &ProtocolLimits) -> Box<dyn Decode<ResponseChunk>>;
}

/// Checks `len` against `[min, max]` for an encoder.
pub(crate) fn check_encode_len(len: usize, min: usize, max: usize) -> Result<(), EncodeError> {
    if len > max {
        return Err(EncodeError::PayloadTooLarge { len, max });
    }
    if len < min {
        return Err(EncodeError::PayloadTooSmall { len, min });
    }
    Ok(())
}

/// Checks a declared length against `[min, max]` for a decoder, before allocation.
pub(crate) fn check_declared_len(
    declared: u64,
    min: usize,
    max: usize,
) -> Result<usize, DecodeError> {
    let len =
        usize::try_from(declared).map_err(|_| DecodeError::LengthTooLarge { declared, max })?;
    if len > max {
        return Err(DecodeError::LengthTooLarge { declared, max });
    }
    if len < min {
        return Err(DecodeError::LengthTooSmall { declared, min });
    }
    Ok(len)
}

/// The `[min, max]` payload bounds of a response chunk with `code`.
pub(crate) fn response_bounds(
    code: crate::ResponseCode,
    limits: &ProtocolLimits,
) -> (usize, usize) {
    if code.is_success() {
        (limits.min_response_size, limits.max_response_size)
    } else {
        (0, limits.max_error_message_size)
    }
}
