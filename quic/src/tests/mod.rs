//! Scenario tests on the in-memory [`pair::Pair`] network.

mod handshake;
mod liveness;
mod pair;
mod robustness;
mod streams;
mod transfer;
