//! Content both sides agree on: seeded payloads, blocks by root and slot, the two
//! nodes' status messages, and what a lean responder answers.

use leanp2p_gossipsub::lean as gossip_lean;
use leanp2p_reqresp::lean as rr_lean;
use rand::{RngCore, SeedableRng};

use crate::support::{RANGE_BLOCK_SIZE, ROOT_BLOCK_SIZE};

/// `len` seeded pseudo-random (incompressible) bytes.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

/// A lean gossip payload: snappy block of `len` seeded bytes starting with `seed` (so
/// every message, and its lean message id, is distinct).
pub fn gossip_payload(seed: u64, len: usize) -> Vec<u8> {
    let mut ssz = random_bytes(seed, len);
    ssz[..8].copy_from_slice(&seed.to_le_bytes());
    gossip_lean::snappy_compress(&ssz, gossip_lean::MAX_PAYLOAD_SIZE).unwrap()
}

/// The block stored under `root`: `root ‖ seeded bytes`, `size` bytes in all.
pub fn block_for_root(root: &[u8; 32], size: usize) -> Vec<u8> {
    let mut block = vec![0u8; size];
    rand::rngs::StdRng::from_seed(*root).fill_bytes(&mut block);
    block[..32].copy_from_slice(root);
    block
}

/// The root of the block at `slot`.
pub fn slot_root(slot: u64) -> [u8; 32] {
    let mut root = [0x5a; 32];
    root[..8].copy_from_slice(&slot.to_le_bytes());
    root
}

pub fn our_status() -> rr_lean::Status {
    rr_lean::Status {
        finalized: rr_lean::Checkpoint {
            root: [0x11; 32],
            slot: 64,
        },
        head: rr_lean::Checkpoint {
            root: [0x12; 32],
            slot: 100,
        },
    }
}

pub fn their_status() -> rr_lean::Status {
    rr_lean::Status {
        finalized: rr_lean::Checkpoint {
            root: [0x21; 32],
            slot: 96,
        },
        head: rr_lean::Checkpoint {
            root: [0x22; 32],
            slot: 130,
        },
    }
}

/// The success chunks a lean responder with `status` sends for `body` on `protocol`, or
/// why the request is invalid.
pub fn lean_response(
    protocol: &str,
    body: &[u8],
    status: rr_lean::Status,
) -> Result<Vec<Vec<u8>>, String> {
    if protocol == rr_lean::STATUS.as_str() {
        rr_lean::Status::from_ssz(body).map_err(|e| e.to_string())?;
        Ok(vec![status.to_ssz().unwrap()])
    } else if protocol == rr_lean::BLOCKS_BY_ROOT.as_str()
        || protocol == rr_lean::BLOCKS_BY_ROOT_LEGACY.as_str()
    {
        let request = rr_lean::BlocksByRootRequest::from_ssz(body).map_err(|e| e.to_string())?;
        Ok(request
            .roots
            .iter()
            .map(|root| block_for_root(root, ROOT_BLOCK_SIZE))
            .collect())
    } else if protocol == rr_lean::BLOCKS_BY_RANGE.as_str() {
        let request = rr_lean::BlocksByRangeRequest::from_ssz(body).map_err(|e| e.to_string())?;
        if request.count == 0 || request.count > 64 {
            return Err(format!("count {} outside 1..=64", request.count));
        }
        Ok((request.start_slot..request.start_slot + request.count)
            .map(|slot| block_for_root(&slot_root(slot), RANGE_BLOCK_SIZE))
            .collect())
    } else {
        Err(format!("unknown protocol {protocol}"))
    }
}
