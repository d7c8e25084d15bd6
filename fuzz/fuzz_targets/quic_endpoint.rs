//! cargo-fuzz target `quic_endpoint`: one input through `leanp2p_fuzz::run`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leanp2p_fuzz::run("quic_endpoint", data));
