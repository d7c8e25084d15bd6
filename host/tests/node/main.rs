//! Scenario tests of [`leanp2p_host::Node`] through its public API, on the in-memory
//! [`leanp2p_testkit::Net`]: N nodes on a simulated clock, datagrams queued between them
//! with a fixed latency, every random choice seeded. One test binary (submodules) to
//! keep link time down.
//!
//! Tests that need crate internals stay as unit tests next to the code; the stream table
//! is read through [`leanp2p_host::Node::stream_info`], and misbehaving peers write raw
//! bytes through [`leanp2p_host::Node::raw_endpoint_mut`].

// Tests abort on a broken fixture.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod app;
mod conn_manager;
mod events;
mod gossip;
mod limits;
mod limits_conn;
mod peer_target;
mod reqresp;
mod routing;

use std::time::Instant;

use leanp2p_host::Config;
use leanp2p_testkit::Net;

/// [`Net::new`] with `n` nodes and `config(i)`, its clock starting now (only durations
/// between instants matter).
fn net(n: usize, config: impl Fn(usize) -> Config) -> Net {
    Net::new(Instant::now(), n, config).unwrap()
}
