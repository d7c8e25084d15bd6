//! Length-delimited messages: `uvarint(len) ‖ bytes`, the framing libp2p
//! applications use for protobuf request/response protocols (Charon's
//! `/charon/parsigex/2.0.0`, identify, ...). No compression, no result byte:
//! every response chunk is a `Success`, so error chunks cannot be sent (a
//! responder that cannot answer just finishes or resets the stream).
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use super::{check_encode_len, prefix_error, Codec, Decode};
use crate::error::{DecodeError, EncodeError};
use crate::message::{ResponseChunk, ResponseCode};
use crate::protocol::ProtocolLimits;
use bytes::Bytes;
use leanp2p_identity::varint::{self, Frame, FrameReader, LengthPrefixReader};

/// The length-delimited codec.
#[derive(Debug, Clone, Copy, Default)]
pub struct LengthDelimitedCodec;

impl Codec for LengthDelimitedCodec {
    fn encode_request(
        &self,
        body: &[u8],
        limits: &ProtocolLimits,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        check_encode_len(body.len(), limits.min_request_size, limits.max_request_size)?;
        varint::write(body.len() as u64, out);
        out.extend_from_slice(body);
        Ok(())
    }

    fn encode_response_chunk(
        &self,
        chunk: &ResponseChunk,
        limits: &ProtocolLimits,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        if !chunk.is_success() {
            return Err(EncodeError::UnsupportedCode(chunk.code));
        }
        check_encode_len(
            chunk.payload.len(),
            limits.min_response_size,
            limits.max_response_size,
        )?;
        varint::write(chunk.payload.len() as u64, out);
        out.extend_from_slice(&chunk.payload);
        Ok(())
    }

    fn request_decoder(&self, limits: &ProtocolLimits) -> Box<dyn Decode<Bytes>> {
        Box::new(RequestDecoder {
            message: Message::new(limits.min_request_size, limits.max_request_size),
            done: false,
        })
    }

    fn response_decoder(&self, limits: &ProtocolLimits) -> Box<dyn Decode<ResponseChunk>> {
        Box::new(ResponseDecoder {
            message: Message::new(limits.min_response_size, limits.max_response_size),
        })
    }
}

/// One `uvarint ‖ bytes` message, reusable: the shared [`FrameReader`] with the
/// protocol's `[min, max]` bounds.
#[derive(Debug)]
struct Message {
    reader: FrameReader,
}

impl Message {
    fn new(min: usize, max: usize) -> Self {
        Self {
            reader: FrameReader::new(LengthPrefixReader::new(max).with_min(min)),
        }
    }

    fn is_idle(&self) -> bool {
        !self.reader.is_mid_frame()
    }

    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Bytes>, DecodeError> {
        Ok(match self.reader.next_frame(input).map_err(prefix_error)? {
            Some(Frame::Borrowed(body)) => Some(Bytes::copy_from_slice(body)),
            Some(Frame::Owned(body)) => Some(Bytes::from(body)),
            None => None,
        })
    }
}

#[derive(Debug)]
struct RequestDecoder {
    message: Message,
    done: bool,
}

impl Decode<Bytes> for RequestDecoder {
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Bytes>, DecodeError> {
        if self.done {
            return if input.is_empty() {
                Ok(None)
            } else {
                Err(DecodeError::TrailingData)
            };
        }
        let item = self.message.decode(input)?;
        self.done = item.is_some();
        Ok(item)
    }

    fn finish(&mut self) -> Result<(), DecodeError> {
        match (self.done, self.message.is_idle()) {
            (true, _) => Ok(()),
            (false, true) => Err(DecodeError::MissingRequest),
            (false, false) => Err(DecodeError::Truncated),
        }
    }
}

#[derive(Debug)]
struct ResponseDecoder {
    message: Message,
}

impl Decode<ResponseChunk> for ResponseDecoder {
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<ResponseChunk>, DecodeError> {
        Ok(self.message.decode(input)?.map(|payload| ResponseChunk {
            code: ResponseCode::Success,
            payload,
        }))
    }

    fn finish(&mut self) -> Result<(), DecodeError> {
        if self.message.is_idle() {
            Ok(())
        } else {
            Err(DecodeError::Truncated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let limits = ProtocolLimits {
            max_request_size: 300,
            max_response_size: 300,
            ..ProtocolLimits::default()
        };
        let body = vec![7u8; 200];
        let mut wire = Vec::new();
        LengthDelimitedCodec
            .encode_request(&body, &limits, &mut wire)
            .unwrap();
        assert_eq!(&wire[..2], &[0xc8, 0x01]);
        let mut dec = LengthDelimitedCodec.request_decoder(&limits);
        let mut input = wire.as_slice();
        assert_eq!(dec.decode(&mut input).unwrap().unwrap(), body);
        dec.finish().unwrap();

        let err = ResponseChunk::error(ResponseCode::ServerError, Bytes::new());
        assert!(LengthDelimitedCodec
            .encode_response_chunk(&err, &limits, &mut Vec::new())
            .is_err());

        let mut dec = LengthDelimitedCodec.request_decoder(&limits);
        let mut big: &[u8] = &[0xad, 0x02];
        assert_eq!(
            dec.decode(&mut big),
            Err(DecodeError::LengthTooLarge {
                declared: 301,
                max: 300
            })
        );
    }
}
