//! The command line documents itself: every flag each subcommand's `--help` lists is in
//! the repository's CLI reference (`docs/CLI.md`), and `--help` shows the output fields
//! beyond the contract (perf's thread CPU fields, the node's event extras, devnet/sim
//! flags like `--slot-ms`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_leanp2p");
const REFERENCE: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/CLI.md"));
const COMMANDS: [&str; 7] = ["keygen", "peer-id", "enr", "node", "devnet", "sim", "perf"];

fn help(command: &str) -> String {
    let out = Command::new(BIN)
        .args([command, "--help"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{command} --help");
    String::from_utf8(out.stdout).unwrap()
}

/// The long flags of an option list (`      --slot-ms <SLOT_MS>  …`).
fn flags(help: &str) -> Vec<String> {
    help.lines()
        .map(str::trim_start)
        .map(|l| {
            l.strip_prefix("-h, ")
                .or(l.strip_prefix("-V, "))
                .unwrap_or(l)
        })
        .filter(|l| l.starts_with("--"))
        .filter_map(|l| l.split([' ', '=']).next())
        // Description lines such as `--server: address to listen on` are not flags.
        .filter(|f| f[2..].chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .filter(|f| *f != "--help" && *f != "--version")
        .map(str::to_string)
        .collect()
}

#[test]
fn every_flag_in_help_is_in_the_reference() {
    let mut missing = Vec::new();
    let mut total = 0;
    for command in COMMANDS {
        for flag in flags(&help(command)) {
            total += 1;
            if !REFERENCE.contains(&format!("`{flag}")) && !REFERENCE.contains(&format!(" {flag} "))
            {
                missing.push(format!("{command} {flag}"));
            }
        }
    }
    assert!(total > 60, "only {total} flags found");
    assert!(missing.is_empty(), "not in docs/CLI.md: {missing:?}");
}

#[test]
fn help_shows_the_flags_and_fields_beyond_the_contract() {
    let perf = help("perf");
    for text in [
        "--direction",
        "--server",
        "--listen",
        "--peer",
        "--gso-segments",
        "cpu_threads_s",
        "cpu_bound_mb_per_s",
    ] {
        assert!(perf.contains(text), "perf --help lacks {text}");
    }
    for command in ["devnet", "sim"] {
        let text = help(command);
        for flag in [
            "--slot-ms",
            "--block-size",
            "--late-joiner-after-slots",
            "--report",
        ] {
            assert!(text.contains(flag), "{command} --help lacks {flag}");
        }
        assert!(text.contains("trace_hash") && text.contains("per_node"));
    }
    assert!(help("sim").contains("--jitter"));
    let node = help("node");
    for text in [
        "decoded_size",
        "protocol_version",
        "root_mismatch",
        "output_lines_dropped",
        "\"event\" first, then \"t_ms\"",
        "--request-blocks",
    ] {
        assert!(node.contains(text), "node --help lacks {text}");
    }
}
