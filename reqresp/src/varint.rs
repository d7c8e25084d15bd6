//! Incremental unsigned LEB128 (protobuf-style uvarint) length prefixes.
#![deny(clippy::indexing_slicing, clippy::unwrap_used)]

use crate::error::DecodeError;

/// Most bytes a `u64` uvarint may take.
pub const MAX_VARINT_LEN: usize = 10;

/// Accumulates a uvarint across arbitrary input splits (at most 10 bytes).
#[derive(Debug, Default, Clone)]
pub(crate) struct VarintReader {
    buf: [u8; MAX_VARINT_LEN],
    len: usize,
}

impl VarintReader {
    /// `true` if no byte of the varint was read yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Consumes bytes from `input` until the varint is complete.
    pub(crate) fn read(&mut self, input: &mut &[u8]) -> Result<Option<u64>, DecodeError> {
        let cur: &[u8] = std::mem::take(input);
        let mut used = 0;
        let mut done = false;
        for &b in cur {
            let slot = self
                .buf
                .get_mut(self.len)
                .ok_or(DecodeError::VarintOverflow)?;
            *slot = b;
            self.len += 1;
            used += 1;
            if b & 0x80 == 0 {
                done = true;
                break;
            }
            if self.len == MAX_VARINT_LEN {
                return Err(DecodeError::VarintOverflow);
            }
        }
        *input = cur.get(used..).unwrap_or_default();
        if !done {
            return Ok(None);
        }
        let bytes = self.buf.get(..self.len).unwrap_or_default();
        let value = match unsigned_varint::decode::u64(bytes) {
            Ok((v, _)) => v,
            Err(unsigned_varint::decode::Error::NotMinimal) => {
                return Err(DecodeError::VarintNotMinimal)
            }
            Err(_) => return Err(DecodeError::VarintOverflow),
        };
        self.len = 0;
        Ok(Some(value))
    }
}

/// Appends the uvarint encoding of `value` to `out`.
pub(crate) fn write(value: u64, out: &mut Vec<u8>) {
    let mut buf = unsigned_varint::encode::u64_buffer();
    out.extend_from_slice(unsigned_varint::encode::u64(value, &mut buf));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_across_splits_and_rejects_bad_forms() {
        let mut out = Vec::new();
        write(300, &mut out);
        assert_eq!(out, [0xac, 0x02]);
        let mut r = VarintReader::default();
        let mut a: &[u8] = &out[..1];
        assert_eq!(r.read(&mut a).unwrap(), None);
        let mut b: &[u8] = &[0x02, 0x77];
        assert_eq!(r.read(&mut b).unwrap(), Some(300));
        assert_eq!(b, &[0x77]);

        let mut r = VarintReader::default();
        let mut non_minimal: &[u8] = &[0x80, 0x00];
        assert_eq!(r.read(&mut non_minimal), Err(DecodeError::VarintNotMinimal));

        let mut r = VarintReader::default();
        let mut long: &[u8] = &[0xff; 11];
        assert_eq!(r.read(&mut long), Err(DecodeError::VarintOverflow));
    }
}
