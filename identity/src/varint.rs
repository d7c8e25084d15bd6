//! Unsigned-varint length prefixes: incremental readers for `uvarint(len) ‖ payload`
//! streams, shared by every leanp2p codec (multistream-select frames, gossipsub RPC
//! frames, req/resp `ssz_snappy` and length-delimited messages).
//!
//! * [`LengthPrefixReader`] reads one prefix across arbitrary input splits and checks the
//!   declared length against caller-given bounds the moment the prefix is complete.
//! * [`FrameReader`] adds the payload: it buffers at most one payload of at most the
//!   maximum length, and hands out payloads that arrive whole without copying.
//!
//! Both tell "need more bytes" (`Ok(None)`) apart from a malformed prefix
//! ([`LengthPrefixError`]), and neither allocates before the declared length has passed
//! the bounds. Decoding is that of the `unsigned-varint` crate (multiformats): at most
//! [`MAX_VARINT_LEN`] bytes, minimal encodings only. Protobuf field varints, which may be
//! non-minimal, are not length prefixes and are not read here.
#![deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

/// Most bytes a `u64` uvarint takes.
pub const MAX_VARINT_LEN: usize = 10;

/// Why a length prefix was rejected. Every error is final: the caller must stop reading
/// the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LengthPrefixError {
    /// The prefix is longer than the reader allows (the continuation bit is set on its
    /// last allowed byte), or overflows `u64`.
    #[error("length prefix is too long")]
    TooLong,
    /// The prefix is not minimally encoded (a multi-byte prefix ending in `0x00`).
    #[error("length prefix is not minimally encoded")]
    NotMinimal,
    /// The declared length exceeds the maximum.
    #[error("declared length {len} exceeds the maximum of {max}")]
    TooLarge {
        /// The declared length.
        len: u64,
        /// The maximum.
        max: usize,
    },
    /// The declared length is below the minimum.
    #[error("declared length {len} is below the minimum of {min}")]
    TooSmall {
        /// The declared length.
        len: u64,
        /// The minimum.
        min: usize,
    },
}

/// Appends the uvarint encoding of `value` to `out`.
pub fn write(value: u64, out: &mut Vec<u8>) {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.extend_from_slice(unsigned_varint::encode::u64(value, &mut buf));
}

/// Reads one uvarint length prefix incrementally and checks it against `[min, max]`.
///
/// Reusable: after a complete prefix it is ready for the next one.
#[derive(Debug, Clone)]
pub struct LengthPrefixReader {
    buf: [u8; MAX_VARINT_LEN],
    len: usize,
    max_prefix_len: usize,
    min: usize,
    max: usize,
}

impl LengthPrefixReader {
    /// A reader accepting declared lengths `0..=max` in prefixes of up to
    /// [`MAX_VARINT_LEN`] bytes.
    pub fn new(max: usize) -> Self {
        Self {
            buf: [0; MAX_VARINT_LEN],
            len: 0,
            max_prefix_len: MAX_VARINT_LEN,
            min: 0,
            max,
        }
    }

    /// Also rejects declared lengths below `min` ([`LengthPrefixError::TooSmall`]).
    #[must_use]
    pub fn with_min(mut self, min: usize) -> Self {
        self.min = min;
        self
    }

    /// Rejects prefixes longer than `bytes` (clamped to `1..=MAX_VARINT_LEN`) with
    /// [`LengthPrefixError::TooLong`], as soon as byte number `bytes` still has its
    /// continuation bit set.
    #[must_use]
    pub fn with_max_prefix_len(mut self, bytes: usize) -> Self {
        self.max_prefix_len = bytes.clamp(1, MAX_VARINT_LEN);
        self
    }

    /// The largest declared length accepted.
    pub fn max(&self) -> usize {
        self.max
    }

    /// The smallest declared length accepted.
    pub fn min(&self) -> usize {
        self.min
    }

    /// Bytes of an incomplete prefix read so far (0 between prefixes).
    pub fn partial_len(&self) -> usize {
        self.len
    }

    /// `true` if no byte of the current prefix has been read.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Drops a partially read prefix.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Consumes bytes from the front of `input` up to the end of the prefix.
    ///
    /// Returns `Ok(Some(len))` once the prefix is complete and `len` lies within the
    /// bounds (bytes after the prefix stay in `input`), and `Ok(None)` when `input` was
    /// used up first: call again with more bytes.
    pub fn read(&mut self, input: &mut &[u8]) -> Result<Option<usize>, LengthPrefixError> {
        while let Some((&byte, rest)) = input.split_first() {
            *input = rest;
            let slot = self
                .buf
                .get_mut(self.len)
                .ok_or(LengthPrefixError::TooLong)?;
            *slot = byte;
            self.len += 1;
            if byte & 0x80 == 0 {
                if self.len == MAX_VARINT_LEN && byte > 1 {
                    // Bits past the 64th (`unsigned-varint` would silently drop them).
                    return Err(LengthPrefixError::TooLong);
                }
                let prefix = self.buf.get(..self.len).unwrap_or_default();
                let declared = match unsigned_varint::decode::u64(prefix) {
                    Ok((value, _)) => value,
                    Err(unsigned_varint::decode::Error::NotMinimal) => {
                        return Err(LengthPrefixError::NotMinimal)
                    }
                    Err(_) => return Err(LengthPrefixError::TooLong),
                };
                self.len = 0;
                return self.check(declared).map(Some);
            }
            if self.len >= self.max_prefix_len {
                return Err(LengthPrefixError::TooLong);
            }
        }
        Ok(None)
    }

    /// Checks a declared length against the bounds.
    fn check(&self, declared: u64) -> Result<usize, LengthPrefixError> {
        let too_large = LengthPrefixError::TooLarge {
            len: declared,
            max: self.max,
        };
        let len = usize::try_from(declared).map_err(|_| too_large)?;
        if len > self.max {
            return Err(too_large);
        }
        if len < self.min {
            return Err(LengthPrefixError::TooSmall {
                len: declared,
                min: self.min,
            });
        }
        Ok(len)
    }
}

/// A complete payload returned by [`FrameReader::next_frame`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The whole payload was in the input slice: borrowed from it, not copied.
    Borrowed(&'a [u8]),
    /// The payload was split across inputs and reassembled in the reader's buffer.
    Owned(Vec<u8>),
}

impl Frame<'_> {
    /// The payload bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Self::Borrowed(payload) => payload,
            Self::Owned(payload) => payload,
        }
    }

    /// The payload as an owned vector (copies a borrowed payload).
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            Self::Borrowed(payload) => payload.to_vec(),
            Self::Owned(payload) => payload,
        }
    }
}

/// The payload being read once its prefix is complete.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Declared payload length.
    len: usize,
    /// Size of its prefix in bytes.
    prefix_len: usize,
}

/// Incremental reader of `uvarint(len) ‖ payload` frames, repeated on a stream.
///
/// It buffers at most one payload: the declared length is checked by its
/// [`LengthPrefixReader`] before any payload byte is buffered, and the buffer grows with
/// the bytes that actually arrive, never past the declared length. A payload found whole
/// inside one input slice is returned without copying.
#[derive(Debug)]
pub struct FrameReader {
    prefix: LengthPrefixReader,
    payload: Option<Pending>,
    buf: Vec<u8>,
    /// Owned frames start with the canonical prefix (see [`FrameReader::keep_prefix`]).
    keep_prefix: bool,
    /// Bytes of that prefix at the start of `buf` while a payload is buffered.
    buf_prefix: usize,
}

impl FrameReader {
    /// A reader whose prefixes (bounds, prefix length) are read by `prefix`.
    pub fn new(prefix: LengthPrefixReader) -> Self {
        Self {
            prefix,
            payload: None,
            buf: Vec::new(),
            keep_prefix: false,
            buf_prefix: 0,
        }
    }

    /// Makes every [`Frame::Owned`] this reader returns start with the canonical
    /// (shortest) `uvarint` of the payload length, followed by the payload: the whole
    /// frame, ready to be sent on as it is, in one allocation. Callers strip
    /// `uvarint_len(payload length)` bytes to get the payload. Borrowed frames are
    /// unchanged (the caller has the input they were borrowed from).
    pub fn keep_prefix(mut self) -> Self {
        self.keep_prefix = true;
        self
    }

    /// The prefix reader (and so the bounds) this reader uses.
    pub fn prefix_reader(&self) -> &LengthPrefixReader {
        &self.prefix
    }

    /// Bytes of the current, incomplete frame held by the reader: its prefix (partial or
    /// complete) and the payload bytes received so far.
    pub fn buffered(&self) -> usize {
        match self.payload {
            None => self.prefix.partial_len(),
            Some(pending) => pending.prefix_len + self.buf.len() - self.buf_prefix,
        }
    }

    /// `true` if some bytes of an unfinished frame have been read.
    pub fn is_mid_frame(&self) -> bool {
        self.buffered() > 0
    }

    /// Drops any partial frame and releases the buffer.
    pub fn clear(&mut self) {
        self.prefix.reset();
        self.payload = None;
        self.buf = Vec::new();
        self.buf_prefix = 0;
    }

    /// Reads the next complete frame from the buffered state and `input` (advancing it
    /// past the frame) and returns its payload.
    ///
    /// `Ok(None)` means `input` was used up without completing a frame. Errors are final:
    /// the caller must stop using the reader.
    pub fn next_frame<'a>(
        &mut self,
        input: &mut &'a [u8],
    ) -> Result<Option<Frame<'a>>, LengthPrefixError> {
        loop {
            let Some(pending) = self.payload else {
                let partial = self.prefix.partial_len();
                let before = input.len();
                let Some(len) = self.prefix.read(input)? else {
                    return Ok(None);
                };
                self.payload = Some(Pending {
                    len,
                    prefix_len: partial + (before - input.len()),
                });
                continue;
            };
            let cur: &'a [u8] = input;
            if self.buf.is_empty() {
                if let (Some(payload), Some(rest)) =
                    (cur.get(..pending.len), cur.get(pending.len..))
                {
                    // Fast path: the whole payload is in this input.
                    *input = rest;
                    self.payload = None;
                    return Ok(Some(Frame::Borrowed(payload)));
                }
            }
            if cur.is_empty() {
                return Ok(None);
            }
            if self.keep_prefix && self.buf.is_empty() {
                write(pending.len as u64, &mut self.buf);
                self.buf_prefix = self.buf.len();
            }
            let lead = self.buf_prefix;
            let have = self.buf.len() - lead;
            let take = pending.len.saturating_sub(have).min(cur.len());
            let (now, rest) = cur.split_at(take);
            if self.buf.capacity() - self.buf.len() < take {
                // Grow geometrically, but never past the declared length.
                let target = (have + take).max(have.saturating_mul(2)).min(pending.len);
                self.buf.reserve_exact(target - have);
            }
            self.buf.extend_from_slice(now);
            *input = rest;
            if self.buf.len() - lead < pending.len {
                return Ok(None);
            }
            self.payload = None;
            self.buf_prefix = 0;
            return Ok(Some(Frame::Owned(std::mem::take(&mut self.buf))));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(
        mut input: &[u8],
        reader: LengthPrefixReader,
    ) -> Result<Vec<Vec<u8>>, LengthPrefixError> {
        let mut r = FrameReader::new(reader);
        let mut out = Vec::new();
        while let Some(p) = r.next_frame(&mut input)? {
            out.push(p.into_vec());
        }
        Ok(out)
    }

    #[test]
    fn prefix_reads_across_splits_and_rejects_bad_forms() {
        let mut out = Vec::new();
        write(300, &mut out);
        assert_eq!(out, [0xac, 0x02]);
        let mut r = LengthPrefixReader::new(usize::MAX);
        let mut a: &[u8] = &out[..1];
        assert_eq!(r.read(&mut a), Ok(None));
        assert_eq!(r.partial_len(), 1);
        let mut b: &[u8] = &[0x02, 0x77];
        assert_eq!(r.read(&mut b), Ok(Some(300)));
        assert_eq!(b, &[0x77]);
        assert!(r.is_empty());

        let mut r = LengthPrefixReader::new(usize::MAX);
        let mut non_minimal: &[u8] = &[0x80, 0x00];
        assert_eq!(r.read(&mut non_minimal), Err(LengthPrefixError::NotMinimal));

        // Rejected at the tenth byte, before an eleventh arrives.
        let mut r = LengthPrefixReader::new(usize::MAX);
        let mut long: &[u8] = &[0xff; 11];
        assert_eq!(r.read(&mut long), Err(LengthPrefixError::TooLong));
        assert_eq!(long, &[0xff]);

        // Ten bytes whose last carries bits past the 64th.
        let mut r = LengthPrefixReader::new(usize::MAX);
        let mut overflow: &[u8] = &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02];
        assert_eq!(r.read(&mut overflow), Err(LengthPrefixError::TooLong));
        let mut r = LengthPrefixReader::new(100);
        let mut max: &[u8] = &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(
            r.read(&mut max),
            Err(LengthPrefixError::TooLarge {
                len: u64::MAX,
                max: 100
            })
        );
    }

    #[test]
    fn bounds_and_prefix_length_limit() {
        let mut r = LengthPrefixReader::new(100).with_min(1);
        assert_eq!(
            r.read(&mut &[0xe5, 0x8e, 0x26][..]),
            Err(LengthPrefixError::TooLarge {
                len: 624_485,
                max: 100
            })
        );
        let mut r = LengthPrefixReader::new(100).with_min(1);
        assert_eq!(
            r.read(&mut &[0x00][..]),
            Err(LengthPrefixError::TooSmall { len: 0, min: 1 })
        );
        let mut r = LengthPrefixReader::new(16383).with_max_prefix_len(2);
        assert_eq!(
            r.read(&mut &[0x80, 0x80, 0x01][..]),
            Err(LengthPrefixError::TooLong)
        );
        let mut r = LengthPrefixReader::new(16383).with_max_prefix_len(2);
        assert_eq!(r.read(&mut &[0xff, 0x7f][..]), Ok(Some(16383)));
        assert_eq!((r.min(), r.max()), (0, 16383));
    }

    #[test]
    fn frames_whole_split_and_empty() {
        let mut wire = Vec::new();
        for payload in [&b"abc"[..], b"", &[7; 200]] {
            write(payload.len() as u64, &mut wire);
            wire.extend_from_slice(payload);
        }
        let whole = frames(&wire, LengthPrefixReader::new(200)).unwrap();
        assert_eq!(whole, vec![b"abc".to_vec(), Vec::new(), vec![7; 200]]);
        assert_eq!(
            frames(&wire, LengthPrefixReader::new(199)),
            Err(LengthPrefixError::TooLarge { len: 200, max: 199 })
        );

        // Byte by byte: every frame is reassembled, none is borrowed except empty ones.
        let mut r = FrameReader::new(LengthPrefixReader::new(200));
        let mut got = Vec::new();
        for b in &wire {
            let mut input: &[u8] = std::slice::from_ref(b);
            while let Some(frame) = r.next_frame(&mut input).unwrap() {
                got.push(frame.into_vec());
            }
            assert!(input.is_empty());
        }
        assert_eq!(got, whole);
        assert_eq!(r.buffered(), 0);
        assert!(!r.is_mid_frame());
    }

    #[test]
    fn keep_prefix_returns_owned_frames_whole_with_the_canonical_prefix() {
        let mut r = FrameReader::new(LengthPrefixReader::new(1024)).keep_prefix();
        // 200 declared, the prefix itself split, the payload over two more inputs.
        let mut a: &[u8] = &[0xc8];
        assert_eq!(r.next_frame(&mut a), Ok(None));
        let mut b: &[u8] = &[0x01, 1, 2, 3];
        assert_eq!(r.next_frame(&mut b), Ok(None));
        assert_eq!(r.buffered(), 5);
        let rest = vec![9u8; 197];
        let mut c: &[u8] = &rest;
        let Some(Frame::Owned(v)) = r.next_frame(&mut c).unwrap() else {
            panic!("split payload must be owned");
        };
        assert_eq!(&v[..2], &[0xc8, 0x01]);
        assert_eq!(&v[2..5], &[1, 2, 3]);
        assert_eq!(v.len(), 202);
        assert!(v.capacity() <= 202);
        assert_eq!(r.buffered(), 0);
        // Whole frames are still borrowed, without a prefix.
        let mut d: &[u8] = &[0x01, b'y'];
        assert_eq!(r.next_frame(&mut d), Ok(Some(Frame::Borrowed(b"y"))));
    }

    #[test]
    fn buffered_counts_prefix_and_payload_and_capacity_is_bounded() {
        let mut r = FrameReader::new(LengthPrefixReader::new(1024));
        let mut a: &[u8] = &[0xc8, 0x01, 1, 2, 3];
        assert_eq!(r.next_frame(&mut a), Ok(None));
        assert_eq!(r.buffered(), 5);
        let rest = vec![9u8; 197];
        let mut b: &[u8] = &rest;
        let frame = r.next_frame(&mut b).unwrap().unwrap();
        assert_eq!(frame.as_slice().len(), 200);
        let Frame::Owned(v) = frame else {
            panic!("split payload must be owned");
        };
        assert!(v.capacity() <= 200);
        assert_eq!(r.buffered(), 0);

        let mut r = FrameReader::new(LengthPrefixReader::new(1024));
        let mut c: &[u8] = &[0x05, b'x'];
        assert_eq!(r.next_frame(&mut c), Ok(None));
        assert!(r.is_mid_frame());
        r.clear();
        assert_eq!(r.buffered(), 0);
        let mut d: &[u8] = &[0x01, b'y', 0x01];
        assert_eq!(r.next_frame(&mut d), Ok(Some(Frame::Borrowed(b"y"))));
        assert_eq!(r.next_frame(&mut d), Ok(None));
        assert_eq!(r.buffered(), 1);
        assert_eq!(r.prefix_reader().max(), 1024);
    }
}
