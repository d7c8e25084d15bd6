//! The `keygen` and `peer-id` contract of docs/CLI.md, run against the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::process::{Command, Output};

const ZEAM_0_KEY: &str = "bdf953adc161873ba026330c56450453f582e3c4ee6cb713644794bcfdd85fe5";
const ZEAM_0_PEER: &str = "16Uiu2HAkvi2sxT75Bpq1c7yV2FjnSQJJ432d6jeshbmfdJss1i6f";

fn leanp2p(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leanp2p"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn peer_id_from_file_and_hex() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zeam_0.key");
    std::fs::write(&path, format!("{ZEAM_0_KEY}\n")).unwrap();
    let out = leanp2p(&["peer-id", "--node-key", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{ZEAM_0_PEER}\n"));

    let out = leanp2p(&["peer-id", "--key-hex", &format!("0x{ZEAM_0_KEY}")]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), format!("{ZEAM_0_PEER}\n"));
}

#[test]
fn keygen_writes_a_0600_key_file_and_prints_its_peer_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.key");
    let out = leanp2p(&["keygen", "--out", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.len(), 65);
    assert!(text.ends_with('\n'));
    assert!(text[..64]
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let printed = stdout(&out);
    assert!(printed.starts_with("16Uiu2HA"));
    let again = leanp2p(&["peer-id", "--node-key", path.to_str().unwrap()]);
    assert_eq!(stdout(&again), printed);
}

#[test]
fn keygen_without_out_prints_the_key_file_contents() {
    let out = leanp2p(&["keygen"]);
    assert!(out.status.success());
    let key = stdout(&out);
    assert_eq!(key.len(), 65);
    let peer = stderr(&out);
    let check = leanp2p(&["peer-id", "--key-hex", key.trim()]);
    assert_eq!(stdout(&check), peer);
    // two runs give two different keys
    assert_ne!(stdout(&leanp2p(&["keygen"])), key);
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.key");
    std::fs::write(&short, "abcd\n").unwrap();
    let zero = dir.path().join("zero.key");
    std::fs::write(&zero, "0".repeat(64)).unwrap();
    let missing = dir.path().join("missing.key");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["peer-id", "--node-key", short.to_str().unwrap()],
            "64 hex characters",
        ),
        (
            vec!["peer-id", "--node-key", zero.to_str().unwrap()],
            "not a valid secp256k1 secret",
        ),
        (
            vec!["peer-id", "--node-key", missing.to_str().unwrap()],
            "missing.key",
        ),
        (vec!["peer-id", "--key-hex", "xyz"], "not hex"),
        (vec!["peer-id"], "required"),
        (
            vec!["peer-id", "--key-hex", ZEAM_0_KEY, "--node-key", "x"],
            "cannot be used",
        ),
        (vec!["no-such-command"], "unrecognized subcommand"),
        (vec!["keygen", "--bogus"], "unexpected argument"),
    ];
    for (args, needle) in cases {
        let out = leanp2p(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn help_exits_zero() {
    let out = leanp2p(&["--help"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("keygen"));
}

#[test]
fn enr_prints_the_record_and_the_dial_address() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zeam_0.key");
    std::fs::write(&path, format!("{ZEAM_0_KEY}\n")).unwrap();
    let out = leanp2p(&[
        "enr",
        "--node-key",
        path.to_str().unwrap(),
        "--ip",
        "127.0.0.1",
        "--quic",
        "9000",
        "--udp",
        "0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The lean-quickstart README record of zeam_0 (seq 1, ip 127.0.0.1, quic 9000, and
    // no `udp`: `--udp 0`).
    assert_eq!(
        stdout(&out),
        format!(
            "enr:-IW4QMn2QUYENcnsEpITZLph3YZee8Y3B92INUje_riQUOFQQ5Zm5kASi7E_IuQoGCWgcmCYrH920Q52kH7tQcWcPhEBgmlkgnY0gmlwhH8AAAGEcXVpY4IjKIlzZWNwMjU2azGhAhMMnGF1rmIPQ9tWgqfkNmvsG-aIyc9EJU5JFo3Tegys\n/ip4/127.0.0.1/udp/9000/quic-v1/p2p/{ZEAM_0_PEER}\n"
        )
    );
    // By default the record carries the discovery port `leanp2p node` binds: QUIC + 1.
    let with_udp = |extra: &[&str]| {
        let mut args = vec!["enr", "--key-hex", ZEAM_0_KEY, "--ip", "127.0.0.1"];
        args.extend_from_slice(extra);
        let out = leanp2p(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let record: leanp2p_identity::Enr = text.lines().next().unwrap().parse().unwrap();
        assert_eq!(record.quic4(), Some(9000));
        assert_eq!(
            text.lines().nth(1).unwrap(),
            format!("/ip4/127.0.0.1/udp/9000/quic-v1/p2p/{ZEAM_0_PEER}")
        );
        record.udp4()
    };
    assert_eq!(with_udp(&["--quic", "9000"]), Some(9001));
    assert_eq!(with_udp(&["--quic", "9000", "--udp", "9100"]), Some(9100));
    let bad = leanp2p(&["enr", "--key-hex", ZEAM_0_KEY, "--ip", "127.0.0.1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("no QUIC address"), "{}", stderr(&bad));
    let bad = leanp2p(&[
        "enr",
        "--key-hex",
        ZEAM_0_KEY,
        "--ip",
        "300.1.1.1",
        "--quic",
        "1",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(stderr(&bad).lines().count(), 1);
}
