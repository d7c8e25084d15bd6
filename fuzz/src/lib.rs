//! The fuzz targets of leanp2p, by name.
//!
//! Each target is a thin wrapper around a crate's `fuzzing` entry point (a plain
//! `fn(&[u8])` behind that crate's `fuzzing` feature). The libFuzzer binaries in
//! `fuzz_targets/` call [`run`]; so does the stable test `tests/replay.rs`, which replays every
//! committed seed (`corpus/<target>/`) and every crash reproducer (`regressions/<target>/`)
//! so CI exercises all targets without nightly.
//!
//! Harness cost: input-independent setup (host keys, peer lists, TLS certificates) is built
//! once per process, not once per input: the crates' fuzzing modules keep fixed, seeded
//! keys in `OnceLock`s, and the QUIC-based targets turn on
//! `leanp2p_quic::fuzzing::memoize_tls` so an endpoint's certificates are generated once
//! per (host key, seed). Every target stays a deterministic function of its input.
//! `examples/exec_rate.rs` measures a target's executions per second on stable.

/// One fuzz target: its name (= the binary in `fuzz_targets/` and the corpus folder) and
/// its entry point.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// Target name.
    pub name: &'static str,
    /// Entry point: must never panic on any input.
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "identity_decode",
        run: leanp2p_identity::fuzzing::decode_all,
    },
    Target {
        name: "tls_certificate",
        run: leanp2p_identity::fuzzing::verify_certificate,
    },
    Target {
        name: "multistream_negotiate",
        run: leanp2p_multistream::fuzzing::negotiate,
    },
    Target {
        name: "multistream_pair",
        run: leanp2p_multistream::fuzzing::pair,
    },
    Target {
        name: "gossip_frame",
        run: leanp2p_gossipsub::fuzzing::gossip_frame,
    },
    Target {
        name: "gossip_rpc",
        run: |data| leanp2p_gossipsub::fuzzing::gossip_rpc(data, std::time::Instant::now()),
    },
    Target {
        name: "gossipsub_ops",
        run: |data| leanp2p_gossipsub::fuzzing::gossipsub_ops(data, std::time::Instant::now()),
    },
    Target {
        name: "snappy_frame",
        run: leanp2p_reqresp::fuzzing::snappy_frame,
    },
    Target {
        name: "reqresp_chunk",
        run: leanp2p_reqresp::fuzzing::reqresp_chunk,
    },
    Target {
        name: "reqresp_request",
        run: leanp2p_reqresp::fuzzing::reqresp_request,
    },
    Target {
        name: "quic_endpoint",
        run: |data| {
            leanp2p_quic::fuzzing::memoize_tls();
            leanp2p_quic::fuzzing::endpoint_datagrams(data, std::time::Instant::now());
        },
    },
    Target {
        name: "node_pair",
        run: |data| {
            leanp2p_quic::fuzzing::memoize_tls();
            leanp2p_sim::fuzzing::node_pair(data);
        },
    },
    Target {
        name: "perf_machine",
        run: |data| leanp2p_perf::fuzzing::perf_machine(data, std::time::Instant::now()),
    },
    Target {
        name: "discv5_packet",
        run: leanp2p_discv5::fuzzing::discv5_packet,
    },
    Target {
        name: "discv5_machine",
        run: |data| leanp2p_discv5::fuzzing::discv5_machine(data, std::time::Instant::now()),
    },
];

/// Runs the target called `name` on `data`. Unknown names panic: that is a bug in the
/// caller (a binary or test naming a target that does not exist).
pub fn run(name: &str, data: &[u8]) {
    match TARGETS.iter().find(|t| t.name == name) {
        Some(target) => (target.run)(data),
        None => panic!("no fuzz target named {name:?}"),
    }
}
