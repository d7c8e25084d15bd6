//! The lean devnet workload, shared by `leanp2p devnet` (N reactors on 127.0.0.1) and
//! `leanp2p sim` (the deterministic simulator), so the two cannot drift.
//!
//! * `schedule`: the plan — slots, the round-robin proposer, attestations from every
//!   present node, the late joiner, who dials whom, who must receive what;
//! * `payload`: message bytes (CLI.md header: send time + sequence number);
//! * `driver`: [`NodeDriver`], one node's workload as a sans-IO machine over a
//!   `leanp2p_host::Node` (events and run time in; publish / request / respond out);
//! * `store` and `sync`: the block store, status, blocks_by_range / blocks_by_root
//!   serving and the late joiner's sync;
//! * `report`: delivery, percentiles, the JSON `summary` and the human table.

mod args;
mod driver;
mod payload;
mod report;
mod schedule;
mod store;
mod sync;

pub(crate) use args::WorkloadArgs;
pub(crate) use driver::{DialTarget, NodeDriver};
pub(crate) use report::{Percentiles, Report};
pub(crate) use schedule::Workload;
