//! Handles, result codes and response chunks.

use bytes::Bytes;
use std::fmt;

/// Identifies one outbound request. Allocated by [`ReqResp::request`](crate::ReqResp::request),
/// never reused within one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The raw counter value (for logs).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req#{}", self.0)
    }
}

/// Identifies one inbound request the application may answer with
/// [`ReqResp::respond`](crate::ReqResp::respond). Never reused within one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelId(pub(crate) u64);

impl ChannelId {
    /// The raw counter value (for logs).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chan#{}", self.0)
    }
}

/// The host's handle for one stream. The machine never interprets it; it only
/// compares it. A host typically stores its connection index and the QUIC
/// stream id here, so no side table is needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamKey {
    /// The host's connection handle.
    pub conn: u64,
    /// The host's stream handle within that connection.
    pub stream: u64,
}

impl StreamKey {
    /// A key from the host's connection and stream handles.
    pub fn new(conn: u64, stream: u64) -> Self {
        Self { conn, stream }
    }
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.conn, self.stream)
    }
}

/// The result byte in front of every `ssz_snappy` response chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    /// 0: the payload is the response object.
    Success,
    /// 1: the request was malformed; payload is an `ErrorMessage`.
    InvalidRequest,
    /// 2: the responder failed; payload is an `ErrorMessage`.
    ServerError,
    /// 3: the responder does not have the data or is rate limiting.
    ResourceUnavailable,
    /// 4..=127: reserved codes (treated like `ServerError` by leanSpec/ethlambda).
    /// The value must be in 4..=127.
    Reserved(u8),
    /// 128..=255: request-specific error codes (treated like `InvalidRequest`
    /// by leanSpec/ethlambda). The value must be in 128..=255.
    RequestSpecific(u8),
}

impl ResponseCode {
    /// Decodes a result byte (total: every byte has a meaning).
    pub fn from_u8(b: u8) -> Self {
        match b {
            0 => Self::Success,
            1 => Self::InvalidRequest,
            2 => Self::ServerError,
            3 => Self::ResourceUnavailable,
            4..=127 => Self::Reserved(b),
            _ => Self::RequestSpecific(b),
        }
    }

    /// The result byte on the wire.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::InvalidRequest => 1,
            Self::ServerError => 2,
            Self::ResourceUnavailable => 3,
            Self::Reserved(b) | Self::RequestSpecific(b) => b,
        }
    }

    /// `true` for [`ResponseCode::Success`].
    pub fn is_success(self) -> bool {
        self == Self::Success
    }
}

/// One response chunk: a result code and its payload (the SSZ response object
/// for `Success`, the `ErrorMessage` bytes otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseChunk {
    /// The result code.
    pub code: ResponseCode,
    /// The uncompressed payload.
    pub payload: Bytes,
}

impl ResponseChunk {
    /// A `Success` chunk carrying `payload`.
    pub fn success(payload: impl Into<Bytes>) -> Self {
        Self {
            code: ResponseCode::Success,
            payload: payload.into(),
        }
    }

    /// An error chunk with `code` and an `ErrorMessage` (at most 256 bytes,
    /// by convention UTF-8 text).
    pub fn error(code: ResponseCode, message: impl Into<Bytes>) -> Self {
        Self {
            code,
            payload: message.into(),
        }
    }

    /// `true` when the code is `Success`.
    pub fn is_success(&self) -> bool {
        self.code.is_success()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_codes_round_trip_every_byte() {
        for b in 0..=255u8 {
            let code = ResponseCode::from_u8(b);
            assert_eq!(code.to_u8(), b);
            assert_eq!(code.is_success(), b == 0);
        }
        assert_eq!(ResponseCode::from_u8(3), ResponseCode::ResourceUnavailable);
        assert_eq!(ResponseCode::from_u8(4), ResponseCode::Reserved(4));
        assert_eq!(
            ResponseCode::from_u8(200),
            ResponseCode::RequestSpecific(200)
        );
    }
}
