//! The one payload format of the CLI. Every gossip message `leanp2p` publishes starts
//! with the CLI.md header — 8 bytes big-endian send time (µs), 8 bytes big-endian
//! sequence number — so any receiver can compute latency ([`stamp`], [`read_header`],
//! [`latency_ms`], [`unix_micros`]). `leanp2p node --publish-*` follows the header with
//! random bytes; the devnet / sim workload follows it with what it needs to check itself
//! ([`build`], [`parse`]):
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | send time, µs (since the Unix epoch on the devnet, virtual on the simulator) |
//! | 8..16 | sequence number: `slot << 24 \| kind << 20 \| publisher` |
//! | 16 | kind (0 block, 1 attestation) |
//! | 17..25 | slot |
//! | 25..29 | publisher (node index) |
//! | 29..61 | block: parent root; attestation: the attester's head root |
//! | 61.. | pseudo-random bytes drawn from the seed and the sequence number |
//!
//! A block's root is the SHA-256 of these bytes.

use std::time::{SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use leanp2p_reqresp::lean::Root;

/// Bytes of the CLI.md header (send time + sequence number).
pub(crate) const HEADER_LEN: usize = 16;
/// Bytes of a workload message before its random filler.
pub(crate) const MESSAGE_HEADER_LEN: usize = 61;
/// Publisher indices must fit in the sequence number's low 20 bits.
pub(crate) const MAX_PUBLISHERS: usize = 1 << 20;
/// Latencies above this (µs) are treated as clock trouble, not measurements.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Microseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Writes the CLI.md header into `payload[..16]` (nothing if `payload` is shorter).
pub(crate) fn stamp(payload: &mut [u8], sent_micros: u64, seq: u64) {
    if let Some(header) = payload.get_mut(..HEADER_LEN) {
        header[..8].copy_from_slice(&sent_micros.to_be_bytes());
        header[8..].copy_from_slice(&seq.to_be_bytes());
    }
}

/// The CLI.md header of a received payload: `(send time in µs, sequence number)`.
pub(crate) fn read_header(payload: &[u8]) -> Option<(u64, u64)> {
    let time = payload.get(..8)?.try_into().ok()?;
    let seq = payload.get(8..HEADER_LEN)?.try_into().ok()?;
    Some((u64::from_be_bytes(time), u64::from_be_bytes(seq)))
}

/// Latency in ms from a send time to `now_micros`; `None` when the clocks disagree
/// (negative) or the time is absurd (more than an hour).
pub(crate) fn latency_ms(sent_micros: u64, now_micros: u64) -> Option<f64> {
    let delta = now_micros.checked_sub(sent_micros)?;
    (delta < MAX_LATENCY_US).then(|| delta as f64 / 1000.0)
}

/// Message kinds of the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// One per slot, from the proposer, on the block topic.
    Block,
    /// One per present node per slot, on `attestation_0`.
    Attestation,
}

/// Identifies one workload message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct MsgKey {
    /// Slot (1-based).
    pub slot: u64,
    /// Block or attestation.
    pub kind: Kind,
    /// Index of the publishing node.
    pub publisher: u32,
}

impl MsgKey {
    /// The key of `publisher`'s `kind` message of `slot`.
    pub(crate) fn new(slot: u64, kind: Kind, publisher: usize) -> Self {
        Self {
            slot,
            kind,
            publisher: u32::try_from(publisher).unwrap_or(u32::MAX),
        }
    }

    /// The CLI.md sequence number.
    pub(crate) fn seq(&self) -> u64 {
        let kind = match self.kind {
            Kind::Block => 0u64,
            Kind::Attestation => 1,
        };
        (self.slot << 24) | (kind << 20) | (u64::from(self.publisher) & 0xF_FFFF)
    }
}

/// The parsed header of a workload message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// Send time in µs.
    pub sent_us: u64,
    /// The message.
    pub key: MsgKey,
    /// Parent root (block) or head root (attestation).
    pub root: Root,
}

/// Builds a workload message of `size` bytes (at least [`MESSAGE_HEADER_LEN`]).
pub(crate) fn build(seed: u64, key: MsgKey, sent_us: u64, root: &Root, size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size.max(MESSAGE_HEADER_LEN)];
    stamp(&mut data, sent_us, key.seq());
    data[16] = match key.kind {
        Kind::Block => 0,
        Kind::Attestation => 1,
    };
    data[17..25].copy_from_slice(&key.slot.to_be_bytes());
    data[25..29].copy_from_slice(&key.publisher.to_be_bytes());
    data[29..MESSAGE_HEADER_LEN].copy_from_slice(root);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(key.seq());
    rng.fill_bytes(&mut data[MESSAGE_HEADER_LEN..]);
    data
}

/// Parses a workload message header; `None` for anything that is not a workload message.
pub(crate) fn parse(data: &[u8]) -> Option<Header> {
    let (sent_us, seq) = read_header(data)?;
    let kind = match *data.get(16)? {
        0 => Kind::Block,
        1 => Kind::Attestation,
        _ => return None,
    };
    let slot = u64::from_be_bytes(data.get(17..25)?.try_into().ok()?);
    let publisher = u32::from_be_bytes(data.get(25..29)?.try_into().ok()?);
    let root: Root = data.get(29..MESSAGE_HEADER_LEN)?.try_into().ok()?;
    let key = MsgKey {
        slot,
        kind,
        publisher,
    };
    (key.seq() == seq).then_some(Header { sent_us, key, root })
}

/// SHA-256 of a block: its root.
pub(crate) fn root_of(data: &[u8]) -> Root {
    Sha256::digest(data).into()
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

    #[test]
    fn messages_round_trip_and_are_deterministic() {
        let key = MsgKey::new(7, Kind::Block, 3);
        let a = build(1, key, 123_456, &[9; 32], 1000);
        assert_eq!(a.len(), 1000);
        let h = parse(&a).unwrap();
        assert_eq!(h.key, key);
        assert_eq!(h.sent_us, 123_456);
        assert_eq!(h.root, [9; 32]);
        // The CLI.md header reads the same send time and sequence number.
        assert_eq!(read_header(&a), Some((123_456, key.seq())));
        assert_eq!(a, build(1, key, 123_456, &[9; 32], 1000));
        assert_ne!(a, build(2, key, 123_456, &[9; 32], 1000));
        assert_ne!(
            root_of(&a),
            root_of(&build(
                1,
                MsgKey::new(7, Kind::Attestation, 3),
                123_456,
                &[9; 32],
                1000
            ))
        );
        // Short or inconsistent input is not a workload message.
        assert_eq!(parse(&a[..60]), None);
        let mut bad = a.clone();
        bad[16] = 1;
        assert_eq!(parse(&bad), None);
        assert_eq!(key.seq(), (7 << 24) | 3);
    }
}
