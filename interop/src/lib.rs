//! Test-only crate. The tests in `tests/` run leanp2p against rust-libp2p (the `libp2p`
//! crate from crates.io) and other reference implementations. Nothing here ships.
