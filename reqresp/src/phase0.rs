//! Phase0 Ethereum req/resp protocol ids and configs (`/eth2/beacon_chain/req`),
//! for clients that speak the beacon-chain protocols:
//! `Config::default().with_protocols(phase0::protocols())`.

use crate::limits::{MAX_PAYLOAD_SIZE, MAX_REQUEST_BLOCKS};
use crate::protocol::{ProtocolConfig, ProtocolId, ProtocolLimits};

/// `status/1` (84-byte phase0 Status).
pub const STATUS_V1: ProtocolId =
    ProtocolId::from_static("/eth2/beacon_chain/req/status/1/ssz_snappy");
/// `goodbye/1` (uint64 reason).
pub const GOODBYE_V1: ProtocolId =
    ProtocolId::from_static("/eth2/beacon_chain/req/goodbye/1/ssz_snappy");
/// `ping/1` (uint64 sequence number).
pub const PING_V1: ProtocolId = ProtocolId::from_static("/eth2/beacon_chain/req/ping/1/ssz_snappy");
/// `metadata/1` (empty request, MetaData response).
pub const METADATA_V1: ProtocolId =
    ProtocolId::from_static("/eth2/beacon_chain/req/metadata/1/ssz_snappy");
/// `beacon_blocks_by_range/1` (24-byte request with `step`).
pub const BLOCKS_BY_RANGE_V1: ProtocolId =
    ProtocolId::from_static("/eth2/beacon_chain/req/beacon_blocks_by_range/1/ssz_snappy");
/// `beacon_blocks_by_root/1` (bare `List[Root, 1024]`).
pub const BLOCKS_BY_ROOT_V1: ProtocolId =
    ProtocolId::from_static("/eth2/beacon_chain/req/beacon_blocks_by_root/1/ssz_snappy");

fn fixed(request: usize, response: usize, chunks: u32) -> ProtocolLimits {
    ProtocolLimits {
        min_request_size: request,
        max_request_size: request,
        min_response_size: response,
        max_response_size: response,
        min_response_chunks: chunks,
        max_response_chunks: chunks,
        ..ProtocolLimits::default()
    }
}

/// The phase0 protocols with their SSZ size limits.
pub fn protocols() -> Vec<ProtocolConfig> {
    let blocks = |min_req, max_req| ProtocolLimits {
        min_request_size: min_req,
        max_request_size: max_req,
        min_response_size: 1,
        max_response_size: MAX_PAYLOAD_SIZE,
        max_response_chunks: MAX_REQUEST_BLOCKS,
        ..ProtocolLimits::default()
    };
    vec![
        ProtocolConfig::ssz_snappy(STATUS_V1, fixed(84, 84, 1)),
        ProtocolConfig::ssz_snappy(GOODBYE_V1, fixed(8, 0, 0)),
        ProtocolConfig::ssz_snappy(PING_V1, fixed(8, 8, 1)),
        ProtocolConfig::ssz_snappy(METADATA_V1, fixed(0, 16, 1)),
        ProtocolConfig::ssz_snappy(BLOCKS_BY_RANGE_V1, blocks(24, 24)),
        ProtocolConfig::ssz_snappy(
            BLOCKS_BY_ROOT_V1,
            blocks(32, 32 * MAX_REQUEST_BLOCKS as usize),
        ),
    ]
}
