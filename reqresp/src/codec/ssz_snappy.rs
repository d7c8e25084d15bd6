//! Ethereum `ssz_snappy`: `uvarint(ssz_len) ‖ snappy_framed(ssz)` requests and
//! `result ‖ uvarint(ssz_len) ‖ snappy_framed(ssz)` response chunks.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use super::{check_encode_len, prefix_error, response_bounds, Codec, Decode};
use crate::error::{DecodeError, EncodeError};
use crate::message::{ResponseChunk, ResponseCode};
use crate::protocol::ProtocolLimits;
use crate::snappy::{self, FrameDecoder, STREAM_IDENTIFIER};
use bytes::Bytes;
use leanp2p_identity::varint::{self, LengthPrefixReader};

/// The Ethereum `ssz_snappy` codec. Payloads are opaque SSZ bytes; typed
/// messages for the lean protocols are in [`lean`](crate::lean).
#[derive(Debug, Clone, Copy, Default)]
pub struct SszSnappyCodec;

impl SszSnappyCodec {
    /// Appends `uvarint(len) ‖ framed(payload)`.
    fn encode_payload(payload: &[u8], out: &mut Vec<u8>) {
        varint::write(payload.len() as u64, out);
        out.reserve(snappy::max_compressed_len(payload.len()));
        snappy::encode_framed(payload, out);
    }
}

impl Codec for SszSnappyCodec {
    fn encode_request(
        &self,
        body: &[u8],
        limits: &ProtocolLimits,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        check_encode_len(body.len(), limits.min_request_size, limits.max_request_size)?;
        Self::encode_payload(body, out);
        Ok(())
    }

    fn encode_response_chunk(
        &self,
        chunk: &ResponseChunk,
        limits: &ProtocolLimits,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        let (min, max) = response_bounds(chunk.code, limits);
        check_encode_len(chunk.payload.len(), min, max)?;
        out.push(chunk.code.to_u8());
        Self::encode_payload(&chunk.payload, out);
        Ok(())
    }

    fn request_decoder(&self, limits: &ProtocolLimits) -> Box<dyn Decode<Bytes>> {
        Box::new(RequestDecoder::new(
            limits.min_request_size,
            limits.max_request_size,
        ))
    }

    fn response_decoder(&self, limits: &ProtocolLimits) -> Box<dyn Decode<ResponseChunk>> {
        Box::new(ResponseDecoder::new(limits.clone()))
    }
}

/// Decoder state for one `uvarint ‖ frames` payload: the shared length-prefix reader
/// (bounds checked before any allocation), then the snappy frames.
#[derive(Debug)]
struct Payload {
    prefix: LengthPrefixReader,
    frames: Option<FrameDecoder>,
}

impl Payload {
    /// A payload whose declared length must lie in `[min, max]`.
    fn new(min: usize, max: usize) -> Self {
        Self {
            prefix: LengthPrefixReader::new(max).with_min(min),
            frames: None,
        }
    }

    /// Advances; `Ok(Some(payload))` when complete (then ready for the next payload).
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, DecodeError> {
        loop {
            let Some(frames) = &mut self.frames else {
                let Some(len) = self.prefix.read(input).map_err(prefix_error)? else {
                    return Ok(None);
                };
                if len == 0 {
                    return Ok(Some(Vec::new()));
                }
                self.frames = Some(FrameDecoder::new(len));
                continue;
            };
            if !frames.decode(input)? {
                return Ok(None);
            }
            return Ok(self.frames.take().map(FrameDecoder::into_output));
        }
    }

    fn is_idle(&self) -> bool {
        self.frames.is_none() && self.prefix.is_empty()
    }
}

/// Matches an optional bare stream identifier after a zero-length payload.
/// Returns how many identifier bytes matched so far, or `None` on a mismatch
/// (with the matched prefix to replay).
fn match_identifier(matched: &mut usize, input: &mut &[u8]) -> Option<bool> {
    let cur: &[u8] = std::mem::take(input);
    let mut used = 0;
    for &b in cur {
        if STREAM_IDENTIFIER.get(*matched) != Some(&b) {
            *input = cur.get(used..).unwrap_or_default();
            return None;
        }
        *matched += 1;
        used += 1;
        if *matched == STREAM_IDENTIFIER.len() {
            break;
        }
    }
    *input = cur.get(used..).unwrap_or_default();
    Some(*matched == STREAM_IDENTIFIER.len())
}

#[derive(Debug)]
enum RequestState {
    Payload(Payload),
    /// A zero-length request was decoded; a bare stream identifier may follow.
    EmptyTail {
        matched: usize,
    },
    Done,
}

/// Incremental `ssz_snappy` request decoder.
#[derive(Debug)]
pub(crate) struct RequestDecoder {
    state: RequestState,
}

impl RequestDecoder {
    pub(crate) fn new(min: usize, max: usize) -> Self {
        Self {
            state: RequestState::Payload(Payload::new(min, max)),
        }
    }
}

impl Decode<Bytes> for RequestDecoder {
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Bytes>, DecodeError> {
        match &mut self.state {
            RequestState::Payload(p) => {
                let Some(body) = p.decode(input)? else {
                    return Ok(None);
                };
                self.state = if body.is_empty() {
                    RequestState::EmptyTail { matched: 0 }
                } else {
                    RequestState::Done
                };
                Ok(Some(Bytes::from(body)))
            }
            RequestState::EmptyTail { matched } => match match_identifier(matched, input) {
                None => Err(DecodeError::TrailingData),
                Some(true) => {
                    self.state = RequestState::Done;
                    if input.is_empty() {
                        Ok(None)
                    } else {
                        Err(DecodeError::TrailingData)
                    }
                }
                Some(false) => Ok(None),
            },
            RequestState::Done if input.is_empty() => Ok(None),
            RequestState::Done => Err(DecodeError::TrailingData),
        }
    }

    fn finish(&mut self) -> Result<(), DecodeError> {
        match &self.state {
            RequestState::Payload(p) if p.is_idle() => Err(DecodeError::MissingRequest),
            RequestState::Payload(_) => Err(DecodeError::Truncated),
            RequestState::EmptyTail { matched: 0 } | RequestState::Done => Ok(()),
            RequestState::EmptyTail { .. } => Err(DecodeError::Truncated),
        }
    }
}

#[derive(Debug)]
enum ResponseState {
    Code,
    Payload {
        code: ResponseCode,
        payload: Payload,
    },
    /// A zero-length chunk was decoded; a bare stream identifier may follow.
    EmptyTail {
        matched: usize,
    },
}

/// Incremental `ssz_snappy` response decoder.
#[derive(Debug)]
pub(crate) struct ResponseDecoder {
    limits: ProtocolLimits,
    state: ResponseState,
    /// Identifier-prefix bytes to re-read as the start of the next chunk.
    replay: Vec<u8>,
}

impl ResponseDecoder {
    pub(crate) fn new(limits: ProtocolLimits) -> Self {
        Self {
            limits,
            state: ResponseState::Code,
            replay: Vec::new(),
        }
    }

    /// One step; consumes at least one byte or changes state.
    fn step(&mut self, input: &mut &[u8]) -> Result<Option<ResponseChunk>, DecodeError> {
        match &mut self.state {
            ResponseState::Code => {
                let cur: &[u8] = std::mem::take(input);
                if let Some((&b, rest)) = cur.split_first() {
                    *input = rest;
                    let code = ResponseCode::from_u8(b);
                    let (min, max) = response_bounds(code, &self.limits);
                    self.state = ResponseState::Payload {
                        code,
                        payload: Payload::new(min, max),
                    };
                }
                Ok(None)
            }
            ResponseState::Payload { code, payload } => {
                let code = *code;
                let Some(body) = payload.decode(input)? else {
                    return Ok(None);
                };
                self.state = if body.is_empty() {
                    ResponseState::EmptyTail { matched: 0 }
                } else {
                    ResponseState::Code
                };
                Ok(Some(ResponseChunk {
                    code,
                    payload: Bytes::from(body),
                }))
            }
            ResponseState::EmptyTail { matched } => {
                match match_identifier(matched, input) {
                    None => {
                        let prefix = *matched;
                        // Not an identifier: the matched bytes start the next chunk.
                        let mut replay =
                            STREAM_IDENTIFIER.get(..prefix).unwrap_or_default().to_vec();
                        replay.append(&mut self.replay);
                        self.replay = replay;
                        self.state = ResponseState::Code;
                    }
                    Some(true) => self.state = ResponseState::Code,
                    Some(false) => {}
                }
                Ok(None)
            }
        }
    }
}

impl Decode<ResponseChunk> for ResponseDecoder {
    fn decode(&mut self, input: &mut &[u8]) -> Result<Option<ResponseChunk>, DecodeError> {
        loop {
            if !self.replay.is_empty() {
                let replay = std::mem::take(&mut self.replay);
                let mut rest: &[u8] = &replay;
                let item = self.step(&mut rest)?;
                // `step` may have put back a prefix it took from `rest`; it comes first.
                self.replay.extend_from_slice(rest);
                if item.is_some() {
                    return Ok(item);
                }
                continue;
            }
            if input.is_empty() {
                return Ok(None);
            }
            if let Some(item) = self.step(input)? {
                return Ok(Some(item));
            }
        }
    }

    fn finish(&mut self) -> Result<(), DecodeError> {
        // `decode` only returns `None` with the replay buffer empty, so leftover
        // replay bytes or a partial identifier mean a truncated chunk.
        match &self.state {
            ResponseState::Code | ResponseState::EmptyTail { matched: 0 }
                if self.replay.is_empty() =>
            {
                Ok(())
            }
            _ => Err(DecodeError::Truncated),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ProtocolLimits {
        ProtocolLimits {
            max_request_size: 1000,
            max_response_size: 1000,
            ..ProtocolLimits::default()
        }
    }

    fn decode_all(wire: &[u8]) -> Result<Vec<ResponseChunk>, DecodeError> {
        let mut dec = SszSnappyCodec.response_decoder(&limits());
        let mut input = wire;
        let mut out = Vec::new();
        while let Some(c) = dec.decode(&mut input)? {
            out.push(c);
        }
        dec.finish()?;
        Ok(out)
    }

    #[test]
    fn empty_error_message_with_and_without_bare_identifier() {
        let ok = ResponseChunk::success(vec![1, 2, 3]);
        let empty = ResponseChunk::error(ResponseCode::ServerError, Bytes::new());
        let mut wire = Vec::new();
        SszSnappyCodec
            .encode_response_chunk(&empty, &limits(), &mut wire)
            .unwrap();
        assert_eq!(wire, [2, 0]);
        SszSnappyCodec
            .encode_response_chunk(&ok, &limits(), &mut wire)
            .unwrap();
        assert_eq!(decode_all(&wire).unwrap(), vec![empty.clone(), ok.clone()]);

        // Other encoders write a bare stream identifier for empty payloads.
        let mut other = vec![2, 0];
        other.extend_from_slice(&STREAM_IDENTIFIER);
        SszSnappyCodec
            .encode_response_chunk(&ok, &limits(), &mut other)
            .unwrap();
        assert_eq!(decode_all(&other).unwrap(), vec![empty.clone(), ok]);

        // A zero-length chunk followed by a 0xff request-specific code is not swallowed.
        let mut tricky = vec![2, 0];
        let specific = ResponseChunk::error(
            ResponseCode::RequestSpecific(0xff),
            Bytes::from_static(b"x"),
        );
        SszSnappyCodec
            .encode_response_chunk(&specific, &limits(), &mut tricky)
            .unwrap();
        assert_eq!(decode_all(&tricky).unwrap(), vec![empty, specific]);
    }

    #[test]
    fn empty_request_then_identifier_only() {
        let mut dec = RequestDecoder::new(0, 10);
        let mut input: &[u8] = &[0];
        assert_eq!(dec.decode(&mut input).unwrap(), Some(Bytes::new()));
        let mut ident: &[u8] = &STREAM_IDENTIFIER;
        assert_eq!(dec.decode(&mut ident).unwrap(), None);
        dec.finish().unwrap();
        let mut more: &[u8] = &[1];
        assert_eq!(dec.decode(&mut more), Err(DecodeError::TrailingData));
    }

    #[test]
    fn request_finish_states() {
        let mut dec = RequestDecoder::new(0, 10);
        assert_eq!(dec.finish(), Err(DecodeError::MissingRequest));
        let mut half: &[u8] = &[4, 0xff];
        assert_eq!(dec.decode(&mut half).unwrap(), None);
        assert_eq!(dec.finish(), Err(DecodeError::Truncated));
    }
}
