//! cargo-fuzz target `discv5_machine`: one input through `leanp2p_fuzz::run`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leanp2p_fuzz::run("discv5_machine", data));
