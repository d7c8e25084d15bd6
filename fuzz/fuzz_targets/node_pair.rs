//! cargo-fuzz target `node_pair`: one input through `leanp2p_fuzz::run`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leanp2p_fuzz::run("node_pair", data));
