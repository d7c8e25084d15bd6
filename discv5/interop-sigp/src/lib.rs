//! Tests only: see `tests/loopback.rs`.
