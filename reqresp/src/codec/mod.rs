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
use leanp2p_identity::varint::LengthPrefixError;
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

/// Maps an error of the shared length-prefix reader (which checks the declared length
/// against `[min, max]` before any allocation) to a [`DecodeError`].
pub(crate) fn prefix_error(e: LengthPrefixError) -> DecodeError {
    match e {
        LengthPrefixError::NotMinimal => DecodeError::VarintNotMinimal,
        LengthPrefixError::TooLarge { len, max } => {
            DecodeError::LengthTooLarge { declared: len, max }
        }
        LengthPrefixError::TooSmall { len, min } => {
            DecodeError::LengthTooSmall { declared: len, min }
        }
        _ => DecodeError::VarintOverflow,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use leanp2p_identity::varint;

    /// Both codecs read their length prefix with the shared reader: split prefixes are
    /// reassembled, and malformed ones keep this crate's error variants.
    #[test]
    fn length_prefix_across_splits_and_bad_forms() {
        let limits = ProtocolLimits {
            max_request_size: 1000,
            ..ProtocolLimits::default()
        };
        let codecs: [&dyn Codec; 2] = [&SszSnappyCodec, &LengthDelimitedCodec];
        for codec in codecs {
            let mut out = Vec::new();
            varint::write(300, &mut out);
            assert_eq!(out, [0xac, 0x02]);
            let mut dec = codec.request_decoder(&limits);
            let mut a: &[u8] = &out[..1];
            assert_eq!(dec.decode(&mut a), Ok(None));
            assert_eq!(dec.finish(), Err(DecodeError::Truncated));

            let mut dec = codec.request_decoder(&limits);
            let mut non_minimal: &[u8] = &[0x80, 0x00];
            assert_eq!(
                dec.decode(&mut non_minimal),
                Err(DecodeError::VarintNotMinimal)
            );

            let mut dec = codec.request_decoder(&limits);
            let mut long: &[u8] = &[0xff; 11];
            assert_eq!(dec.decode(&mut long), Err(DecodeError::VarintOverflow));

            let mut dec = codec.request_decoder(&limits);
            let mut big: &[u8] = &[0xe9, 0x07];
            assert_eq!(
                dec.decode(&mut big),
                Err(DecodeError::LengthTooLarge {
                    declared: 1001,
                    max: 1000
                })
            );
        }
        // The split prefix completes: 300 bytes of body follow.
        let mut wire = vec![0xac];
        let mut dec = LengthDelimitedCodec.request_decoder(&limits);
        let mut a: &[u8] = &wire;
        assert_eq!(dec.decode(&mut a), Ok(None));
        wire = vec![0x02];
        wire.extend_from_slice(&[7; 300]);
        let mut b: &[u8] = &wire;
        assert_eq!(dec.decode(&mut b), Ok(Some(Bytes::from(vec![7; 300]))));
        dec.finish().unwrap();
    }
}
