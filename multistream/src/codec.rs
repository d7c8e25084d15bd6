//! Wire format: `uvarint(N) ‖ payload` frames and message classification.
//!
//! The first byte of every message is a length prefix, never payload: a length byte of
//! `0x2F` (47, e.g. `/leanconsensus/req/blocks_by_root/1/ssz_snappy\n`) looks like `/` but
//! is decoded as a length like any other. Nothing here sniffs for un-prefixed lines.
#![warn(clippy::indexing_slicing)]

use leanp2p_identity::varint::{self, LengthPrefixError};

use crate::error::NegotiationError;

/// Largest frame payload in bytes: what a 2-byte uvarint can express, and the most
/// rust-libp2p accepts.
pub const MAX_FRAME_LEN: usize = (1 << 14) - 1;

/// Payload of the multistream-select 1.0 header.
pub(crate) const HEADER_PAYLOAD: &[u8] = b"/multistream/1.0.0\n";
/// Full header frame.
pub(crate) const HEADER_FRAME: &[u8] = b"\x13/multistream/1.0.0\n";
/// Payload of "not available".
const NA_PAYLOAD: &[u8] = b"na\n";
/// Full "not available" frame.
pub(crate) const NA_FRAME: &[u8] = b"\x03na\n";
/// Payload of the list request.
const LS_PAYLOAD: &[u8] = b"ls\n";

/// Appends `uvarint(len)`; `len` must be at most [`MAX_FRAME_LEN`] (2 bytes).
pub(crate) fn put_len_prefix(len: usize, dst: &mut Vec<u8>) {
    debug_assert!(len <= MAX_FRAME_LEN);
    varint::write(len as u64, dst);
}

/// Number of bytes [`put_len_prefix`] writes for `len`.
pub(crate) fn len_prefix_size(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        2
    }
}

/// A received message. Protocol lines are kept as raw payload (including `\n`) so they can
/// be matched byte-exactly against pre-encoded frames without allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    Header,
    NotAvailable,
    ListRequest,
    /// Payload of a protocol line: starts with `/`, ends with the only `\n`, valid UTF-8.
    Protocol(&'a [u8]),
    /// A well-formed `ls` response with this many entries.
    ListResponse(usize),
}

/// Classifies one frame payload, with rust-libp2p's precedence: exact header / `na` / `ls`,
/// then protocol line, then `ls` response, else invalid.
pub(crate) fn classify(
    payload: &[u8],
    max_ls_entries: usize,
) -> Result<Message<'_>, NegotiationError> {
    if payload == HEADER_PAYLOAD {
        return Ok(Message::Header);
    }
    if payload == NA_PAYLOAD {
        return Ok(Message::NotAvailable);
    }
    if payload == LS_PAYLOAD {
        return Ok(Message::ListRequest);
    }
    if let Some((b'\n', name)) = payload.split_last() {
        if name.first() == Some(&b'/') && !name.contains(&b'\n') {
            if std::str::from_utf8(name).is_err() {
                return Err(NegotiationError::InvalidProtocolName);
            }
            return Ok(Message::Protocol(payload));
        }
    }
    parse_list_response(payload, max_ls_entries).map(Message::ListResponse)
}

/// Validates an `ls` response payload (`(uvarint(len) ‖ /name ‖ \n)* ‖ \n`) and counts its
/// entries.
fn parse_list_response(payload: &[u8], max_entries: usize) -> Result<usize, NegotiationError> {
    let mut rest = payload;
    let mut entries = 0usize;
    loop {
        if rest == b"\n" {
            return Ok(entries);
        }
        if entries == max_entries {
            return Err(NegotiationError::InvalidMessage);
        }
        let (len, tail) =
            unsigned_varint::decode::usize(rest).map_err(|_| NegotiationError::InvalidMessage)?;
        let entry = tail.get(..len).ok_or(NegotiationError::InvalidMessage)?;
        match entry.split_last() {
            Some((b'\n', name)) if name.first() == Some(&b'/') => {
                if std::str::from_utf8(name).is_err() {
                    return Err(NegotiationError::InvalidMessage);
                }
            }
            _ => return Err(NegotiationError::InvalidMessage),
        }
        rest = tail.get(len..).ok_or(NegotiationError::InvalidMessage)?;
        entries += 1;
    }
}

/// Incremental frame decoder: the shared [`varint::FrameReader`] with multistream's
/// rules (prefix of at most 2 bytes, minimal, payload `1..=max_len`), its errors mapped to
/// [`NegotiationError`]. Complete frames found inside one input slice are handed out
/// without copying; only a frame split across inputs is buffered (at most `max_len`
/// bytes).
#[derive(Debug)]
pub(crate) struct FrameReader {
    inner: varint::FrameReader,
}

impl FrameReader {
    pub(crate) fn new(max_len: usize) -> Self {
        let prefix = varint::LengthPrefixReader::new(max_len)
            .with_min(1)
            .with_max_prefix_len(len_prefix_size(MAX_FRAME_LEN));
        Self {
            inner: varint::FrameReader::new(prefix),
        }
    }

    /// Bytes of the current, incomplete frame held by the reader (prefix and payload).
    pub(crate) fn buffered(&self) -> usize {
        self.inner.buffered()
    }

    /// `true` if some bytes of an unfinished frame have been read.
    pub(crate) fn is_mid_frame(&self) -> bool {
        self.inner.is_mid_frame()
    }

    /// Drops any partial frame and releases the buffer.
    pub(crate) fn clear(&mut self) {
        self.inner.clear();
    }

    /// Reads the next complete frame from the buffered state and `input` (advancing it),
    /// and returns `f(payload)`. `Ok(None)` means `input` was used up without completing a
    /// frame. Errors are final: the caller must stop using the reader.
    pub(crate) fn next_frame<R>(
        &mut self,
        input: &mut &[u8],
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, NegotiationError> {
        match self.inner.next_frame(input) {
            Ok(frame) => Ok(frame.map(|payload| f(payload.as_slice()))),
            Err(LengthPrefixError::NotMinimal) => Err(NegotiationError::NonMinimalLengthPrefix),
            Err(LengthPrefixError::TooSmall { .. }) => Err(NegotiationError::EmptyMessage),
            Err(LengthPrefixError::TooLarge { len, max }) => Err(NegotiationError::LineTooLong {
                len: usize::try_from(len).unwrap_or(usize::MAX),
                max,
            }),
            Err(_) => Err(NegotiationError::LengthPrefixTooLong),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(mut input: &[u8], max: usize) -> Result<Vec<Vec<u8>>, NegotiationError> {
        let mut r = FrameReader::new(max);
        let mut out = Vec::new();
        while let Some(p) = r.next_frame(&mut input, |p| p.to_vec())? {
            out.push(p);
        }
        Ok(out)
    }

    #[test]
    fn prefix_encoding_matches_unsigned_varint() {
        for len in [0usize, 1, 19, 47, 127, 128, 255, 1024, 16383] {
            let mut ours = Vec::new();
            put_len_prefix(len, &mut ours);
            let mut buf = unsigned_varint::encode::usize_buffer();
            assert_eq!(
                ours,
                unsigned_varint::encode::usize(len, &mut buf),
                "len {len}"
            );
            assert_eq!(ours.len(), len_prefix_size(len));
        }
    }

    #[test]
    fn header_frame_constant_is_prefixed_payload() {
        let mut f = Vec::new();
        put_len_prefix(HEADER_PAYLOAD.len(), &mut f);
        f.extend_from_slice(HEADER_PAYLOAD);
        assert_eq!(f, HEADER_FRAME);
        assert_eq!(
            hex(HEADER_FRAME),
            "132f6d756c746973747265616d2f312e302e300a"
        );
        assert_eq!(hex(NA_FRAME), "036e610a");
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn length_byte_0x2f_is_a_length_not_a_line() {
        // 47-byte payload: the length byte is '/'.
        let name = "/leanconsensus/req/blocks_by_root/1/ssz_snappy";
        let mut wire = vec![0x2f];
        wire.extend_from_slice(name.as_bytes());
        wire.push(b'\n');
        assert_eq!(wire.len(), 48);
        let got = frames(&wire, 1024).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(classify(&got[0], 8), Ok(Message::Protocol(&wire[1..])));
    }

    #[test]
    fn two_byte_prefix_and_limits() {
        let payload = vec![b'x'; 200];
        let mut wire = Vec::new();
        put_len_prefix(200, &mut wire);
        wire.extend_from_slice(&payload);
        assert_eq!(frames(&wire, 1024).unwrap(), vec![payload]);
        assert_eq!(
            frames(&wire, 199),
            Err(NegotiationError::LineTooLong { len: 200, max: 199 })
        );
        assert_eq!(
            frames(&[0x80, 0x80, 0x01], 16383),
            Err(NegotiationError::LengthPrefixTooLong)
        );
        assert_eq!(
            frames(&[0x80, 0x00], 16383),
            Err(NegotiationError::NonMinimalLengthPrefix)
        );
        assert_eq!(frames(&[0x00], 16383), Err(NegotiationError::EmptyMessage));
    }

    #[test]
    fn split_frames_are_reassembled_and_bounded() {
        let mut r = FrameReader::new(1024);
        let mut a: &[u8] = &[0x05, b'/', b'a'];
        assert_eq!(r.next_frame(&mut a, |p| p.to_vec()), Ok(None));
        assert_eq!(r.buffered(), 3);
        assert!(r.is_mid_frame());
        let mut b: &[u8] = &[b'b', b'c', b'\n', 0x03];
        assert_eq!(
            r.next_frame(&mut b, |p| p.to_vec()),
            Ok(Some(b"/abc\n".to_vec()))
        );
        assert_eq!(b, &[0x03]);
        assert_eq!(r.next_frame(&mut b, |p| p.to_vec()), Ok(None));
        assert_eq!(r.buffered(), 1);
    }

    #[test]
    fn classification() {
        assert_eq!(classify(HEADER_PAYLOAD, 8), Ok(Message::Header));
        assert_eq!(classify(b"na\n", 8), Ok(Message::NotAvailable));
        assert_eq!(classify(b"ls\n", 8), Ok(Message::ListRequest));
        assert_eq!(classify(b"/a\n", 8), Ok(Message::Protocol(b"/a\n")));
        // Case-sensitive exactness: these are not na/ls/header.
        assert_eq!(classify(b"NA\n", 8), Err(NegotiationError::InvalidMessage));
        assert_eq!(
            classify(b"/multistream/1.0.0", 8),
            Err(NegotiationError::InvalidMessage)
        );
        assert_eq!(
            classify(b"/a\n/b\n", 8),
            Err(NegotiationError::InvalidMessage)
        );
        assert_eq!(
            classify(b"/\xff\n", 8),
            Err(NegotiationError::InvalidProtocolName)
        );
        assert_eq!(classify(b"\n", 8), Ok(Message::ListResponse(0)));
        // The spec's example list response payload.
        let ls = b"\x11/ipfs/ping/1.0.0\n\x0f/meshsub/1.1.0\n\n";
        assert_eq!(ls.len(), 0x23);
        assert_eq!(classify(ls, 8), Ok(Message::ListResponse(2)));
        assert_eq!(classify(ls, 1), Err(NegotiationError::InvalidMessage));
        assert_eq!(
            classify(b"\x05/ab\n\n", 8),
            Err(NegotiationError::InvalidMessage)
        );
        assert_eq!(
            classify(b"\x03ab\n\n", 8),
            Err(NegotiationError::InvalidMessage)
        );
    }
}
