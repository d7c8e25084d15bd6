#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leanp2p_fuzz::run("node_pair", data));
