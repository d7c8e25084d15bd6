//! Constants of the Ethereum consensus / leanSpec networking specs that more than one
//! leanp2p crate needs. Each is defined here once; the protocol crates re-export it.

/// `MAX_PAYLOAD_SIZE` of the consensus specs and leanSpec (10 MiB): the largest
/// uncompressed SSZ payload of a gossip message (`leanp2p_gossipsub::lean`) or of a
/// req/resp request or response chunk (`leanp2p_reqresp`).
pub const MAX_PAYLOAD_SIZE: usize = 10 * 1024 * 1024;
