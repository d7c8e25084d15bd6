//! `leanp2p node`: one node on a mio reactor, with an optional load generator and
//! machine-readable output (CLI.md "`leanp2p node` flags" and "JSON event lines").
//!
//! * `args`: flags and their validation (bad input → exit 2);
//! * `run`: setup, the loop, graceful close, summary;
//! * `events`: `NodeEvent` → JSON lines, counters, reactions;
//! * `blocks`: `--request-blocks` (the blocks_by_root client; requests are answered —
//!   status, blocks_by_range, blocks_by_root with `--serve-block-size` synthetic blocks —
//!   by the workload's one server, `workload::serve`, and payloads follow the one format
//!   of `workload::payload`);
//! * `metrics`: `--metrics-addr` (OpenMetrics text at `/metrics`: `prometheus-client`
//!   series and histograms, served by `tiny_http`);
//! * `publisher`: the `--publish-*` load generator thread;
//! * `bootnodes`, `output`, `session`, `summary`: helpers.

mod args;
mod blocks;
mod bootnodes;
mod events;
mod metrics;
mod output;
mod publisher;
mod run;
mod session;
mod summary;

pub(crate) use args::NodeArgs;
pub(crate) use run::run;
