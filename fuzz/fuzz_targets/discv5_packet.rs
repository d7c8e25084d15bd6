//! cargo-fuzz target `discv5_packet`: one input through `leanp2p_fuzz::run`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leanp2p_fuzz::run("discv5_packet", data));
