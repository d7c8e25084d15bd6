//! Scenario tests of [`leanp2p_quic::Endpoint`] through its public API, on the in-memory
//! [`leanp2p_testkit::QuicNet`]: N endpoints on a simulated clock with seeded latency,
//! loss, reordering and an MTU. One test binary (submodules) to keep link time down.
//!
//! Tests that need crate internals stay as unit tests next to the code (`src/timer.rs`,
//! `src/config.rs`, `src/send_buffer.rs`, `src/fuzzing.rs`); none of them needs a network.

// Tests abort on a broken fixture.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod flood;
mod handshake;
mod liveness;
mod robustness;
mod streams;
mod transfer;
