//! Crate-level tests, split by feature.

mod harness;
mod machine;
mod proptests;
mod rate_limits;
mod vectors;
