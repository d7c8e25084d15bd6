//! Published payloads: 8 bytes big-endian send time (µs since the Unix epoch), 8 bytes
//! big-endian sequence number, then pseudo-random bytes (CLI.md).

use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of the time + sequence header.
pub(crate) const HEADER_LEN: usize = 16;

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Writes the header into `payload[..16]` (which must be at least that long).
pub(crate) fn stamp(payload: &mut [u8], sent_micros: u64, seq: u64) {
    if let Some(header) = payload.get_mut(..HEADER_LEN) {
        header[..8].copy_from_slice(&sent_micros.to_be_bytes());
        header[8..].copy_from_slice(&seq.to_be_bytes());
    }
}

/// The header of a received payload: `(send time in µs, sequence number)`.
pub(crate) fn read_header(payload: &[u8]) -> Option<(u64, u64)> {
    let time = payload.get(..8)?.try_into().ok()?;
    let seq = payload.get(8..HEADER_LEN)?.try_into().ok()?;
    Some((u64::from_be_bytes(time), u64::from_be_bytes(seq)))
}

/// Latency in ms from a send time to `now_micros`; `None` when the clocks disagree
/// (negative) or the time is absurd (more than an hour).
pub(crate) fn latency_ms(sent_micros: u64, now_micros: u64) -> Option<f64> {
    let delta = now_micros.checked_sub(sent_micros)?;
    (delta < 3_600_000_000).then(|| delta as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_short_payloads_have_none() {
        let mut p = vec![0xAA; 40];
        stamp(&mut p, 1_700_000_000_000_000, 42);
        assert_eq!(read_header(&p), Some((1_700_000_000_000_000, 42)));
        assert_eq!(p[16], 0xAA);
        assert_eq!(read_header(&p[..15]), None);
        assert_eq!(latency_ms(1_000, 3_500), Some(2.5));
        assert_eq!(latency_ms(3_500, 1_000), None);
    }
}
