//! Crate-level tests, split by feature.
