//! The lean devnet workload, shared by `leanp2p devnet` (N reactors on 127.0.0.1) and
//! `leanp2p sim` (the deterministic simulator), so the two cannot drift. Its payload
//! format and req/resp server are also the ones `leanp2p node` uses.
//!
//! * `schedule`: the plan — slots, the round-robin proposer, attestations from every
//!   present node, the late joiner, who dials whom, who must receive what;
//! * `payload`: the one payload format (CLI.md header: send time + sequence number,
//!   used by `leanp2p node` too) and the workload messages built on it;
//! * `driver`: [`NodeDriver`], one node's workload as a sans-IO machine over a
//!   `leanp2p_host::Node` (events and run time in; publish / request / respond out);
//! * `store`: the block store;
//! * `serve`: the one status / blocks_by_range / blocks_by_root server, over the store
//!   (devnet, sim) or synthetic blocks (`leanp2p node --serve-block-size`);
//! * `sync`: status on connect and the late joiner's sync;
//! * `report`: delivery, percentiles, the JSON `summary` and the human table;
//! * `timeline`: bytes, connections and blocks per node over time (sampled by the
//!   harness);
//! * `html` and `charts`: the `--report FILE.html` page (SVG charts by `plotters`).

mod args;
mod charts;
mod driver;
pub(crate) mod html;
pub(crate) mod payload;
mod report;
mod schedule;
pub(crate) mod serve;
mod store;
mod sync;
mod timeline;

pub(crate) use args::WorkloadArgs;
pub(crate) use driver::{DialTarget, NodeDriver};
pub(crate) use report::{Percentiles, Report};
pub(crate) use schedule::Workload;
pub(crate) use timeline::Timeline;
