//! cargo-fuzz target `reqresp_request`: one input through `leanp2p_fuzz::run`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leanp2p_fuzz::run("reqresp_request", data));
