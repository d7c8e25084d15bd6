//! The lean-consensus req/resp protocols: ids, typed SSZ messages (via
//! `ssz_rs`) and protocol configs with their limits and default quotas.
//!
//! Blocks travel as opaque SSZ bytes: the consensus client owns the
//! `SignedBlock` schema.

use crate::limits::{MAX_PAYLOAD_SIZE, MAX_REQUEST_BLOCKS};
use crate::protocol::{ProtocolConfig, ProtocolId, ProtocolLimits, Quota};
use ssz_rs::prelude::*;
use std::time::Duration;

/// `/leanconsensus/req/status/1/ssz_snappy`: request and response are one [`Status`].
pub const STATUS: ProtocolId = ProtocolId::from_static("/leanconsensus/req/status/1/ssz_snappy");
/// `/leanconsensus/req/blocks_by_root/1/ssz_snappy`: [`BlocksByRootRequest`] → 0..N blocks.
pub const BLOCKS_BY_ROOT: ProtocolId =
    ProtocolId::from_static("/leanconsensus/req/blocks_by_root/1/ssz_snappy");
/// The legacy name of [`BLOCKS_BY_ROOT`] used by older zeam/ream/lantern/qlean builds.
pub const BLOCKS_BY_ROOT_LEGACY: ProtocolId =
    ProtocolId::from_static("/leanconsensus/req/lean_blocks_by_root/1/ssz_snappy");
/// `/leanconsensus/req/blocks_by_range/1/ssz_snappy`: [`BlocksByRangeRequest`] → 0..count blocks.
pub const BLOCKS_BY_RANGE: ProtocolId =
    ProtocolId::from_static("/leanconsensus/req/blocks_by_range/1/ssz_snappy");

/// SSZ size of [`Status`].
pub const STATUS_SIZE: usize = 80;
/// SSZ size of [`BlocksByRangeRequest`].
pub const BLOCKS_BY_RANGE_REQUEST_SIZE: usize = 16;
/// Largest SSZ size of a [`BlocksByRootRequest`] (offset + 1024 roots).
pub const BLOCKS_BY_ROOT_REQUEST_MAX_SIZE: usize = 4 + 32 * MAX_REQUEST_BLOCKS as usize;
/// `MIN_SLOTS_FOR_BLOCK_REQUESTS`: the window of slots a BlocksByRange responder must serve.
pub const MIN_SLOTS_FOR_BLOCK_REQUESTS: u64 = 3600;
/// leanSpec `RESP_TIMEOUT`.
pub const RESP_TIMEOUT: Duration = Duration::from_secs(10);

/// A 32-byte block root.
pub type Root = [u8; 32];

/// Why an SSZ message could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SszError {
    /// Bytes that are not a valid encoding of the named type.
    #[error("invalid SSZ encoding of {type_name} ({len} bytes)")]
    Invalid {
        /// The message type.
        type_name: &'static str,
        /// Length of the input.
        len: usize,
    },
    /// More than 1024 roots in a [`BlocksByRootRequest`].
    #[error("{0} roots exceed the limit of 1024")]
    TooManyRoots(usize),
    /// `ssz_rs` refused to serialize the value.
    #[error("SSZ serialization of {0} failed")]
    Serialize(&'static str),
}

/// A checkpoint: `{ root: Bytes32, slot: uint64 }`, 40 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SimpleSerialize)]
pub struct Checkpoint {
    /// Block root.
    pub root: Root,
    /// Slot.
    pub slot: u64,
}

/// `Status = { finalized: Checkpoint, head: Checkpoint }`, 80 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SimpleSerialize)]
pub struct Status {
    /// Latest finalized checkpoint.
    pub finalized: Checkpoint,
    /// Head of the canonical chain.
    pub head: Checkpoint,
}

/// `BlocksByRangeRequest = { start_slot: uint64, count: uint64 }`, 16 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, SimpleSerialize)]
pub struct BlocksByRangeRequest {
    /// First slot.
    pub start_slot: u64,
    /// Number of slots (1..=1024).
    pub count: u64,
}

/// `BlocksByRootRequest = Container { roots: List[Bytes32, 1024] }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlocksByRootRequest {
    /// Requested roots, at most 1024.
    pub roots: Vec<Root>,
}

#[derive(Debug, Default, PartialEq, Eq, SimpleSerialize)]
struct BlocksByRootWire {
    roots: List<Root, 1024>,
}

/// What a BlocksByRange responder should do with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RangeCheck {
    /// Serve `[start_slot, start_slot + count)`.
    Serve,
    /// `count` is 0 or above 1024: answer `InvalidRequest`.
    InvalidCount,
    /// `start_slot` is older than the serving window: answer `ResourceUnavailable`.
    OutsideWindow,
}

fn invalid(type_name: &'static str, len: usize) -> SszError {
    SszError::Invalid { type_name, len }
}

impl Status {
    /// SSZ encoding (80 bytes).
    pub fn to_ssz(&self) -> Result<Vec<u8>, SszError> {
        ssz_rs::serialize(self).map_err(|_| SszError::Serialize("Status"))
    }

    /// Decodes exactly 80 bytes.
    pub fn from_ssz(bytes: &[u8]) -> Result<Self, SszError> {
        if bytes.len() != STATUS_SIZE {
            return Err(invalid("Status", bytes.len()));
        }
        ssz_rs::deserialize(bytes).map_err(|_| invalid("Status", bytes.len()))
    }
}

impl BlocksByRangeRequest {
    /// SSZ encoding (16 bytes).
    pub fn to_ssz(&self) -> Result<Vec<u8>, SszError> {
        ssz_rs::serialize(self).map_err(|_| SszError::Serialize("BlocksByRangeRequest"))
    }

    /// Decodes exactly 16 bytes.
    pub fn from_ssz(bytes: &[u8]) -> Result<Self, SszError> {
        if bytes.len() != BLOCKS_BY_RANGE_REQUEST_SIZE {
            return Err(invalid("BlocksByRangeRequest", bytes.len()));
        }
        ssz_rs::deserialize(bytes).map_err(|_| invalid("BlocksByRangeRequest", bytes.len()))
    }

    /// The responder's checks (leanSpec): count in 1..=1024 and `start_slot`
    /// within [`MIN_SLOTS_FOR_BLOCK_REQUESTS`] of `current_slot`.
    pub fn check(&self, current_slot: u64) -> RangeCheck {
        if self.count == 0 || self.count > u64::from(MAX_REQUEST_BLOCKS) {
            RangeCheck::InvalidCount
        } else if self.start_slot < current_slot.saturating_sub(MIN_SLOTS_FOR_BLOCK_REQUESTS) {
            RangeCheck::OutsideWindow
        } else {
            RangeCheck::Serve
        }
    }
}

impl BlocksByRootRequest {
    /// SSZ encoding as the one-field container (`04000000 ‖ roots`).
    pub fn to_ssz(&self) -> Result<Vec<u8>, SszError> {
        let mut roots = List::<Root, 1024>::default();
        if self.roots.len() > MAX_REQUEST_BLOCKS as usize {
            return Err(SszError::TooManyRoots(self.roots.len()));
        }
        for root in &self.roots {
            roots.push(*root);
        }
        ssz_rs::serialize(&BlocksByRootWire { roots })
            .map_err(|_| SszError::Serialize("BlocksByRootRequest"))
    }

    /// Decodes the container form, and (tolerantly) the older bare
    /// `List[Root, 1024]` form some clients still send.
    pub fn from_ssz(bytes: &[u8]) -> Result<Self, SszError> {
        let len = bytes.len();
        if len % 32 == 4 && bytes.get(..4) == Some(&[4, 0, 0, 0][..]) {
            let wire: BlocksByRootWire =
                ssz_rs::deserialize(bytes).map_err(|_| invalid("BlocksByRootRequest", len))?;
            return Ok(Self {
                roots: wire.roots.iter().copied().collect(),
            });
        }
        if len % 32 == 0 && len <= 32 * MAX_REQUEST_BLOCKS as usize {
            let roots = bytes
                .chunks_exact(32)
                .map(|c| {
                    let mut r = [0u8; 32];
                    r.copy_from_slice(c);
                    r
                })
                .collect();
            return Ok(Self { roots });
        }
        Err(invalid("BlocksByRootRequest", len))
    }
}

/// Number of roots in an encoded BlocksByRoot request (either form), for
/// quotas and the chunk cap.
pub fn blocks_by_root_count(body: &[u8]) -> u64 {
    let roots = if body.len() % 32 == 4 {
        body.len() / 32
    } else {
        body.len().div_ceil(32)
    };
    roots as u64
}

/// `count` of an encoded BlocksByRange request (clamped to 1024), for quotas
/// and the chunk cap.
pub fn blocks_by_range_count(body: &[u8]) -> u64 {
    BlocksByRangeRequest::from_ssz(body).map_or(1, |r| r.count.min(u64::from(MAX_REQUEST_BLOCKS)))
}

/// Default inbound quota for Status: 5 per 15 s (Lighthouse).
pub const STATUS_QUOTA: Quota = Quota::n_every(5, Duration::from_secs(15));
/// Default inbound quota for block requests: 1024 blocks per 10 s, charged per block.
pub const BLOCKS_QUOTA: Quota = Quota::n_every(MAX_REQUEST_BLOCKS as u64, Duration::from_secs(10));

/// The Status protocol: 80-byte request, exactly one 80-byte response chunk.
pub fn status_protocol() -> ProtocolConfig {
    ProtocolConfig::ssz_snappy(
        STATUS,
        ProtocolLimits {
            min_request_size: STATUS_SIZE,
            max_request_size: STATUS_SIZE,
            min_response_size: STATUS_SIZE,
            max_response_size: STATUS_SIZE,
            min_response_chunks: 1,
            max_response_chunks: 1,
            ..ProtocolLimits::default()
        },
    )
    .with_inbound_quota(Some(STATUS_QUOTA))
}

fn block_response_limits() -> ProtocolLimits {
    ProtocolLimits {
        min_response_size: 1,
        max_response_size: MAX_PAYLOAD_SIZE,
        max_response_chunks: MAX_REQUEST_BLOCKS,
        ..ProtocolLimits::default()
    }
}

/// BlocksByRoot under its current id, with the legacy id as an alias
/// (accepted inbound, offered second when dialing).
pub fn blocks_by_root_protocol() -> ProtocolConfig {
    let mut p = ProtocolConfig::ssz_snappy(
        BLOCKS_BY_ROOT,
        ProtocolLimits {
            min_request_size: 4,
            max_request_size: BLOCKS_BY_ROOT_REQUEST_MAX_SIZE,
            ..block_response_limits()
        },
    )
    .with_alias(BLOCKS_BY_ROOT_LEGACY)
    .with_inbound_quota(Some(BLOCKS_QUOTA));
    p.request_cost = Some(blocks_by_root_count);
    p.response_chunk_cap = Some(blocks_by_root_count);
    p
}

/// BlocksByRange: 16-byte request, up to `count` block chunks.
pub fn blocks_by_range_protocol() -> ProtocolConfig {
    let mut p = ProtocolConfig::ssz_snappy(
        BLOCKS_BY_RANGE,
        ProtocolLimits {
            min_request_size: BLOCKS_BY_RANGE_REQUEST_SIZE,
            max_request_size: BLOCKS_BY_RANGE_REQUEST_SIZE,
            ..block_response_limits()
        },
    )
    .with_inbound_quota(Some(BLOCKS_QUOTA));
    p.request_cost = Some(blocks_by_range_count);
    p.response_chunk_cap = Some(blocks_by_range_count);
    p
}

/// All lean protocols: Status, BlocksByRoot (+ legacy alias), BlocksByRange.
pub fn protocols() -> Vec<ProtocolConfig> {
    vec![
        status_protocol(),
        blocks_by_root_protocol(),
        blocks_by_range_protocol(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_layout_matches_spec() {
        let s = Status {
            finalized: Checkpoint {
                root: [1; 32],
                slot: 0x0102,
            },
            head: Checkpoint {
                root: [2; 32],
                slot: 7,
            },
        };
        let b = s.to_ssz().unwrap();
        assert_eq!(b.len(), 80);
        assert_eq!(&b[..32], &[1; 32]);
        assert_eq!(&b[32..40], &[2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[40..72], &[2; 32]);
        assert_eq!(&b[72..80], &[7, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Status::from_ssz(&b).unwrap(), s);
        assert!(Status::from_ssz(&b[..79]).is_err());
        assert_eq!(Status::default().to_ssz().unwrap(), vec![0; 80]);
    }

    #[test]
    fn blocks_by_root_is_a_container_with_offset() {
        let req = BlocksByRootRequest {
            roots: vec![[0x11; 32]],
        };
        let b = req.to_ssz().unwrap();
        assert_eq!(&b[..4], &[4, 0, 0, 0]);
        assert_eq!(&b[4..], &[0x11; 32]);
        assert_eq!(BlocksByRootRequest::from_ssz(&b).unwrap(), req);
        // tolerant: bare list
        assert_eq!(BlocksByRootRequest::from_ssz(&[0x11; 32]).unwrap(), req);
        assert_eq!(
            BlocksByRootRequest::default().to_ssz().unwrap(),
            vec![4, 0, 0, 0]
        );
        assert_eq!(blocks_by_root_count(&b), 1);
        assert_eq!(blocks_by_root_count(&[0x11; 64]), 2);
        let too_many = BlocksByRootRequest {
            roots: vec![[0; 32]; 1025],
        };
        assert_eq!(too_many.to_ssz(), Err(SszError::TooManyRoots(1025)));
        // a bad offset is rejected
        let mut bad = b.clone();
        bad[0] = 8;
        assert!(BlocksByRootRequest::from_ssz(&bad).is_err());
    }

    #[test]
    fn blocks_by_range_layout_and_checks() {
        let r = BlocksByRangeRequest {
            start_slot: 5,
            count: 10,
        };
        let b = r.to_ssz().unwrap();
        assert_eq!(b, [5, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(BlocksByRangeRequest::from_ssz(&b).unwrap(), r);
        assert_eq!(blocks_by_range_count(&b), 10);
        assert_eq!(r.check(100), RangeCheck::Serve);
        assert_eq!(
            BlocksByRangeRequest {
                start_slot: 5,
                count: 0
            }
            .check(0),
            RangeCheck::InvalidCount
        );
        assert_eq!(
            BlocksByRangeRequest {
                start_slot: 5,
                count: 1025
            }
            .check(0),
            RangeCheck::InvalidCount
        );
        assert_eq!(r.check(5000), RangeCheck::OutsideWindow);
    }
}
