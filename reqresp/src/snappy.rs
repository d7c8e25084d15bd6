//! The snappy *framing* format (google/snappy `framing_format.txt`), as used by
//! Ethereum req/resp: an encoder that produces the same bytes as the `snap`
//! crate's `FrameEncoder`, and an incremental, bounded decoder.
//!
//! The decoder is told the exact uncompressed length up front (the req/resp
//! length prefix) and a budget of framed bytes; it never buffers more than one
//! chunk (at most [`MAX_CHUNK_LEN`] bytes), never decompresses past the declared
//! length, checks every chunk's length header *before* buffering or
//! decompressing it, and verifies the masked CRC32C of every data chunk.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use crate::error::SnappyError;

/// The stream identifier chunk every framed stream starts with.
pub const STREAM_IDENTIFIER: [u8; 10] =
    [0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'];
/// Largest uncompressed size of one data chunk (64 KiB).
pub const MAX_BLOCK_SIZE: usize = 65_536;
/// Largest chunk body accepted: a checksum plus the worst-case snappy block of
/// [`MAX_BLOCK_SIZE`] bytes (`32 + n + n/6`).
pub const MAX_CHUNK_LEN: usize = 4 + 32 + MAX_BLOCK_SIZE + MAX_BLOCK_SIZE / 6;

const CHUNK_COMPRESSED: u8 = 0x00;
const CHUNK_UNCOMPRESSED: u8 = 0x01;
const CHUNK_PADDING: u8 = 0xfe;
const CHUNK_STREAM_IDENTIFIER: u8 = 0xff;
const STREAM_IDENTIFIER_BODY: &[u8; 6] = b"sNaPpY";
const CHECKSUM_MASK_DELTA: u32 = 0xa282_ead8;

/// The req/resp budget of framed bytes for a payload of `n` uncompressed bytes
/// (`32 + n + n/6`, snappy's worst case), saturating.
pub fn max_compressed_len(n: usize) -> usize {
    n.saturating_add(n / 6).saturating_add(32)
}

/// The masked CRC32C (Castagnoli) of `data`, as stored in data chunks.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
        .rotate_right(15)
        .wrapping_add(CHECKSUM_MASK_DELTA)
}

/// Appends the framed encoding of `data` to `out`, byte-identical to the `snap`
/// crate's `FrameEncoder`: nothing for empty input; otherwise the stream
/// identifier followed by one chunk per 64 KiB block, compressed unless
/// compression saves less than an eighth.
pub fn encode_framed(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(&STREAM_IDENTIFIER);
    let mut encoder = snap::raw::Encoder::new();
    for block in data.chunks(MAX_BLOCK_SIZE) {
        let checksum = masked_crc32c(block);
        let header_at = out.len();
        out.extend_from_slice(&[0; 8]);
        let body_at = out.len();
        out.resize(body_at + snap::raw::max_compress_len(block.len()), 0);
        let compressed = out
            .get_mut(body_at..)
            .map(|dst| encoder.compress(block, dst))
            .and_then(Result::ok);
        let (chunk_type, body_len) = match compressed {
            Some(n) if n < block.len() - block.len() / 8 => {
                out.truncate(body_at + n);
                (CHUNK_COMPRESSED, n)
            }
            _ => {
                out.truncate(body_at);
                out.extend_from_slice(block);
                (CHUNK_UNCOMPRESSED, block.len())
            }
        };
        // body_len + 4 <= MAX_CHUNK_LEN < 2^24, so three bytes hold it.
        let len = (body_len + 4) as u32;
        let mut header = [0u8; 8];
        header[0] = chunk_type;
        header[1..4].copy_from_slice(&len.to_le_bytes()[..3]);
        header[4..8].copy_from_slice(&checksum.to_le_bytes());
        if let Some(slot) = out.get_mut(header_at..header_at + 8) {
            slot.copy_from_slice(&header);
        }
    }
}

/// The framed encoding of `data` as a new vector.
pub fn framed(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(max_compressed_len(data.len()));
    encode_framed(data, &mut out);
    out
}

#[derive(Debug)]
enum State {
    /// Reading the 4-byte chunk header.
    Header,
    /// Buffering a chunk body of `len` bytes.
    Body { chunk_type: u8, len: usize },
    /// Skipping `remaining` bytes of a padding or reserved skippable chunk.
    Skip { remaining: usize },
}

/// Incremental decoder of one framed stream whose uncompressed length is known.
///
/// Feed bytes with [`FrameDecoder::decode`] until it returns `Ok(true)`; the
/// bytes after that point belong to whatever follows the stream and are left
/// in the input slice. Memory use is the decoded payload (grown as data
/// arrives, never ahead of it) plus one chunk.
#[derive(Debug)]
pub struct FrameDecoder {
    expected: usize,
    budget: usize,
    consumed: usize,
    seen_identifier: bool,
    state: State,
    header: [u8; 4],
    header_len: usize,
    body: Vec<u8>,
    out: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder for a stream that decompresses to exactly `expected` bytes and
    /// spans at most `max_compressed_len(expected)` framed bytes.
    pub fn new(expected: usize) -> Self {
        Self::with_budget(expected, max_compressed_len(expected))
    }

    /// A decoder with an explicit budget of framed bytes.
    pub fn with_budget(expected: usize, budget: usize) -> Self {
        Self {
            expected,
            budget,
            consumed: 0,
            seen_identifier: false,
            state: State::Header,
            header: [0; 4],
            header_len: 0,
            body: Vec::new(),
            out: Vec::new(),
        }
    }

    /// `true` once all `expected` bytes were decoded.
    pub fn is_done(&self) -> bool {
        self.out.len() == self.expected
    }

    /// Consumes bytes from the front of `input`. Returns `Ok(true)` when the
    /// payload is complete (no further byte is consumed then).
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<bool, SnappyError> {
        while !self.is_done() {
            let cur: &[u8] = std::mem::take(input);
            if cur.is_empty() {
                return Ok(false);
            }
            match self.state {
                State::Header => {
                    let want = 4 - self.header_len;
                    let take = want.min(cur.len());
                    let (head, rest) = cur.split_at(take);
                    if let Some(dst) = self.header.get_mut(self.header_len..self.header_len + take)
                    {
                        dst.copy_from_slice(head);
                    }
                    *input = rest;
                    self.header_len += take;
                    self.charge(take)?;
                    if self.header_len == 4 {
                        self.header_len = 0;
                        self.start_chunk()?;
                    }
                }
                State::Body { chunk_type, len } => {
                    let want = len - self.body.len();
                    let take = want.min(cur.len());
                    let (head, rest) = cur.split_at(take);
                    self.body.extend_from_slice(head);
                    *input = rest;
                    if self.body.len() == len {
                        self.finish_chunk(chunk_type)?;
                        self.body.clear();
                        self.state = State::Header;
                    }
                }
                State::Skip { remaining } => {
                    let take = remaining.min(cur.len());
                    *input = cur.get(take..).unwrap_or_default();
                    self.state = if remaining == take {
                        State::Header
                    } else {
                        State::Skip {
                            remaining: remaining - take,
                        }
                    };
                }
            }
        }
        Ok(true)
    }

    /// The decoded payload (complete only if [`FrameDecoder::is_done`]).
    pub fn into_output(self) -> Vec<u8> {
        self.out
    }

    fn charge(&mut self, n: usize) -> Result<(), SnappyError> {
        self.consumed = self.consumed.saturating_add(n);
        if self.consumed > self.budget {
            return Err(SnappyError::CompressedBudgetExceeded {
                budget: self.budget,
            });
        }
        Ok(())
    }

    fn start_chunk(&mut self) -> Result<(), SnappyError> {
        let [chunk_type, a, b, c] = self.header;
        let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
        if !self.seen_identifier && chunk_type != CHUNK_STREAM_IDENTIFIER {
            return Err(SnappyError::MissingStreamIdentifier);
        }
        let bad_len = || SnappyError::BadChunkLength { chunk_type, len };
        match chunk_type {
            CHUNK_STREAM_IDENTIFIER if len != STREAM_IDENTIFIER_BODY.len() => {
                return Err(SnappyError::BadStreamIdentifier)
            }
            CHUNK_COMPRESSED | CHUNK_UNCOMPRESSED if !(4..=MAX_CHUNK_LEN).contains(&len) => {
                return Err(bad_len())
            }
            CHUNK_UNCOMPRESSED if len - 4 > MAX_BLOCK_SIZE => return Err(bad_len()),
            0x02..=0x7f => return Err(SnappyError::ReservedChunkType(chunk_type)),
            _ => {}
        }
        // The whole chunk must fit the budget: refuse before buffering it.
        self.charge(len)?;
        if chunk_type == CHUNK_UNCOMPRESSED {
            let allowed = self.expected - self.out.len();
            if len - 4 > allowed {
                return Err(SnappyError::DecompressedTooLarge {
                    len: len - 4,
                    allowed,
                });
            }
        }
        self.state = match chunk_type {
            CHUNK_PADDING | 0x80..=0xfd => {
                if len == 0 {
                    State::Header
                } else {
                    State::Skip { remaining: len }
                }
            }
            _ => {
                self.body.reserve_exact(len);
                State::Body { chunk_type, len }
            }
        };
        if let State::Body { len: 0, .. } = self.state {
            self.state = State::Header;
        }
        Ok(())
    }

    fn finish_chunk(&mut self, chunk_type: u8) -> Result<(), SnappyError> {
        if chunk_type == CHUNK_STREAM_IDENTIFIER {
            if self.body.as_slice() != STREAM_IDENTIFIER_BODY {
                return Err(SnappyError::BadStreamIdentifier);
            }
            self.seen_identifier = true;
            return Ok(());
        }
        let (crc, data) = self
            .body
            .split_at_checked(4)
            .ok_or(SnappyError::BadChunkLength {
                chunk_type,
                len: self.body.len(),
            })?;
        let stored = u32::from_le_bytes([
            crc.first().copied().unwrap_or_default(),
            crc.get(1).copied().unwrap_or_default(),
            crc.get(2).copied().unwrap_or_default(),
            crc.get(3).copied().unwrap_or_default(),
        ]);
        let start = self.out.len();
        let allowed = self.expected - start;
        if chunk_type == CHUNK_COMPRESSED {
            // Snappy's own length header, checked before allocating for it.
            let len = snap::raw::decompress_len(data).map_err(|_| SnappyError::CorruptBlock)?;
            if len > allowed.min(MAX_BLOCK_SIZE) {
                return Err(SnappyError::DecompressedTooLarge {
                    len,
                    allowed: allowed.min(MAX_BLOCK_SIZE),
                });
            }
            self.out.resize(start + len, 0);
            let dst = self.out.get_mut(start..).unwrap_or_default();
            let written = snap::raw::Decoder::new()
                .decompress(data, dst)
                .map_err(|_| SnappyError::CorruptBlock)?;
            if written != len {
                return Err(SnappyError::CorruptBlock);
            }
        } else {
            self.out.extend_from_slice(data);
        }
        let computed = masked_crc32c(self.out.get(start..).unwrap_or_default());
        if computed != stored {
            return Err(SnappyError::ChecksumMismatch { stored, computed });
        }
        Ok(())
    }
}

/// Decodes a complete framed stream that must decompress to exactly
/// `expected` bytes and contain nothing else.
pub fn decode_framed(mut input: &[u8], expected: usize) -> Result<Vec<u8>, SnappyError> {
    let mut decoder = FrameDecoder::new(expected);
    if !decoder.decode(&mut input)? {
        return Err(SnappyError::Truncated);
    }
    if !input.is_empty() {
        return Err(SnappyError::TrailingBytes);
    }
    Ok(decoder.into_output())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn snap_frame(data: &[u8]) -> Vec<u8> {
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(data).unwrap();
        enc.into_inner().unwrap()
    }

    #[test]
    fn crc32c_check_value_and_mask() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc32c(&[0xde, 0xad, 0xbe, 0xef]), 0x91a0_ce90);
        assert_eq!(crc32c::crc32c(&[0u8; 80]), 0x2035_e21c);
        assert_eq!(masked_crc32c(&[0u8; 80]), 0x66bb_2b43);
    }

    #[test]
    fn spec_vectors_encode_exactly() {
        assert!(framed(&[]).is_empty());
        assert_eq!(
            framed(&hex("deadbeef")),
            hex("ff060000734e61507059 01 080000 90cea091 deadbeef")
        );
        assert_eq!(
            framed(&[0; 80]),
            hex("ff060000734e61507059 00 0d0000 432bbb66 500000fe01003a0100")
        );
        let mut root_req = vec![4, 0, 0, 0];
        root_req.extend_from_slice(&[0x11; 32]);
        assert_eq!(
            framed(&root_req),
            hex("ff060000734e61507059 00 0e0000 15a190f8 2410 04000000 117a0100")
        );
        assert_eq!(
            framed(b"not found"),
            hex("ff060000734e61507059 01 0d0000 dc89c009 6e6f7420666f756e64")
        );
    }

    #[test]
    fn spec_vectors_decode_including_alternative_compressed_form() {
        let alt = hex("ff060000734e61507059 00 0a0000 90cea091 040cdeadbeef");
        assert_eq!(decode_framed(&alt, 4).unwrap(), hex("deadbeef"));
        let plain = hex("ff060000734e61507059 01 080000 90cea091 deadbeef");
        assert_eq!(decode_framed(&plain, 4).unwrap(), hex("deadbeef"));
    }

    #[test]
    fn large_payload_splits_into_64k_blocks_like_snap() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let ours = framed(&data);
        assert_eq!(ours, snap_frame(&data));
        // ff(6) 00(3325) 00(1868)
        assert_eq!(&ours[..10], &STREAM_IDENTIFIER);
        assert_eq!(&ours[10..14], &[0x00, 0xfd, 0x0c, 0x00]);
        assert_eq!(ours.len(), 10 + 4 + 3325 + 4 + 1868);
        assert_eq!(decode_framed(&ours, data.len()).unwrap(), data);
    }

    #[test]
    fn byte_at_a_time_decoding() {
        let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 13) as u8).collect();
        let enc = framed(&data);
        let mut dec = FrameDecoder::new(data.len());
        for b in &enc {
            assert!(!dec.is_done());
            let mut one: &[u8] = std::slice::from_ref(b);
            dec.decode(&mut one).unwrap();
            assert!(one.is_empty());
        }
        assert!(dec.is_done());
        assert_eq!(dec.into_output(), data);
    }

    #[test]
    fn stops_exactly_at_declared_length() {
        let mut enc = framed(b"hello");
        enc.extend_from_slice(&[0x00, 0x42]);
        let mut input = enc.as_slice();
        let mut dec = FrameDecoder::new(5);
        assert!(dec.decode(&mut input).unwrap());
        assert_eq!(input, &[0x00, 0x42]);
    }

    #[test]
    fn rejects_bad_streams() {
        let good = hex("ff060000734e61507059 01 080000 90cea091 deadbeef");
        // no identifier
        assert_eq!(
            decode_framed(&good[10..], 4),
            Err(SnappyError::MissingStreamIdentifier)
        );
        // bad checksum
        let mut bad = good.clone();
        bad[14] ^= 1;
        assert!(matches!(
            decode_framed(&bad, 4),
            Err(SnappyError::ChecksumMismatch { .. })
        ));
        // reserved unskippable chunk
        let mut reserved = good[..10].to_vec();
        reserved.extend_from_slice(&[0x02, 0, 0, 0]);
        assert_eq!(
            decode_framed(&reserved, 4),
            Err(SnappyError::ReservedChunkType(2))
        );
        // more data than declared
        assert!(matches!(
            decode_framed(&good, 3),
            Err(SnappyError::DecompressedTooLarge { .. })
        ));
        // bad identifier body
        let mut ident = good.clone();
        ident[5] = b'x';
        assert_eq!(
            decode_framed(&ident, 4),
            Err(SnappyError::BadStreamIdentifier)
        );
    }

    #[test]
    fn skips_padding_and_repeated_identifiers() {
        let mut s = STREAM_IDENTIFIER.to_vec();
        s.extend_from_slice(&[0xfe, 3, 0, 0, 9, 9, 9]);
        s.extend_from_slice(&STREAM_IDENTIFIER);
        s.extend_from_slice(&[0x80, 0, 0, 0]);
        s.extend_from_slice(&hex("01 080000 90cea091 deadbeef"));
        let mut input = s.as_slice();
        let mut dec = FrameDecoder::with_budget(4, 100);
        assert!(dec.decode(&mut input).unwrap());
        assert_eq!(dec.into_output(), hex("deadbeef"));
        // The default budget (32 + n + n/6) refuses this much padding.
        assert!(decode_framed(&s, 4).is_err());
    }

    #[test]
    fn compressed_bomb_rejected_by_length_header_before_decompressing() {
        // A compressed chunk whose snappy header claims 60 000 bytes for a 10-byte payload.
        let mut s = STREAM_IDENTIFIER.to_vec();
        let block = [0xe0, 0xd4, 0x03, 0x00]; // varint 60000 followed by junk
        s.push(0x00);
        s.extend_from_slice(&((block.len() + 4) as u32).to_le_bytes()[..3]);
        s.extend_from_slice(&[0; 4]);
        s.extend_from_slice(&block);
        assert!(matches!(
            decode_framed(&s, 10),
            Err(SnappyError::DecompressedTooLarge { len: 60_000, .. })
        ));
    }

    #[test]
    fn padding_beyond_budget_rejected_before_buffering() {
        let mut s = STREAM_IDENTIFIER.to_vec();
        s.extend_from_slice(&[0xfe, 0xff, 0xff, 0x00]);
        let mut input = s.as_slice();
        let mut dec = FrameDecoder::new(10);
        assert!(matches!(
            dec.decode(&mut input),
            Err(SnappyError::CompressedBudgetExceeded { .. })
        ));
    }
}
