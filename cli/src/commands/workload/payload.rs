//! Workload messages (before snappy). They follow the CLI.md payload format — 8 bytes
//! big-endian send time (µs), 8 bytes big-endian sequence number — and then carry what
//! the workload needs to check itself:
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

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use leanp2p_reqresp::lean::Root;

/// Bytes before the random filler.
pub(crate) const HEADER_LEN: usize = 61;
/// Publisher indices must fit in the sequence number's low 20 bits.
pub(crate) const MAX_PUBLISHERS: usize = 1 << 20;

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

/// Builds a message of `size` bytes (at least [`HEADER_LEN`]).
pub(crate) fn build(seed: u64, key: MsgKey, sent_us: u64, root: &Root, size: usize) -> Vec<u8> {
    let mut data = vec![0u8; size.max(HEADER_LEN)];
    data[..8].copy_from_slice(&sent_us.to_be_bytes());
    data[8..16].copy_from_slice(&key.seq().to_be_bytes());
    data[16] = match key.kind {
        Kind::Block => 0,
        Kind::Attestation => 1,
    };
    data[17..25].copy_from_slice(&key.slot.to_be_bytes());
    data[25..29].copy_from_slice(&key.publisher.to_be_bytes());
    data[29..61].copy_from_slice(root);
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    rng.set_stream(key.seq());
    rng.fill_bytes(&mut data[HEADER_LEN..]);
    data
}

/// Parses a message header; `None` for anything that is not a workload message.
pub(crate) fn parse(data: &[u8]) -> Option<Header> {
    let be64 = |r: std::ops::Range<usize>| -> Option<u64> {
        Some(u64::from_be_bytes(data.get(r)?.try_into().ok()?))
    };
    let sent_us = be64(0..8)?;
    let seq = be64(8..16)?;
    let kind = match *data.get(16)? {
        0 => Kind::Block,
        1 => Kind::Attestation,
        _ => return None,
    };
    let slot = be64(17..25)?;
    let publisher = u32::from_be_bytes(data.get(25..29)?.try_into().ok()?);
    let root: Root = data.get(29..61)?.try_into().ok()?;
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
    fn messages_round_trip_and_are_deterministic() {
        let key = MsgKey::new(7, Kind::Block, 3);
        let a = build(1, key, 123_456, &[9; 32], 1000);
        assert_eq!(a.len(), 1000);
        let h = parse(&a).unwrap();
        assert_eq!(h.key, key);
        assert_eq!(h.sent_us, 123_456);
        assert_eq!(h.root, [9; 32]);
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
