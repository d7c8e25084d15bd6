//! leanp2p-discv5 against the `discv5` crate (sigp, as used by Lighthouse), over
//! 127.0.0.1 UDP with ephemeral ports.
//!
//! Our machine runs in a thread with a blocking `std::net::UdpSocket` and the wall clock
//! (the sans-IO machine itself never reads it); the discv5 crate runs on tokio. Every
//! wait is bounded (`support::DEADLINE`, and the network test bounds its total time).
//!
//! * `pairs`: handshakes started by either side, PING/PONG with the observed address,
//!   FINDNODE [0] and FINDNODE served from each side's table, TALKREQ both ways, and a
//!   record update with a higher `seq` fetched by the other side in both directions.
//! * `network`: 5 of ours + 5 of theirs with one bootnode; iterative lookups on both
//!   implementations find every node.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

mod network;
mod pairs;
mod support;
