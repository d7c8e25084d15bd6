//! Argument parsing and dispatch. Errors are one line on stderr with exit code 2.

mod congestion;
mod devnet;
mod discovery;
mod enr;
mod help;
mod jsonl;
mod keys;
mod node;
mod perf;
mod sim;
mod workload;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for bad arguments or unusable inputs (CLI.md).
const EXIT_USAGE: u8 = 2;

/// leanp2p: a sans-IO libp2p stack for Ethereum lean-consensus clients.
#[derive(Debug, Parser)]
#[command(name = "leanp2p", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a new secp256k1 node key in the lean-quickstart format.
    ///
    /// With --out FILE: writes 64 hex characters and a newline to FILE (mode 0600) and prints
    /// the PeerId on stdout. Without it: prints the key file contents on stdout (so
    /// `leanp2p keygen > node.key` works) and the PeerId on stderr.
    Keygen(keys::KeygenArgs),
    /// Print the PeerId (16Uiu2HA…) of a node key, and nothing else, on stdout.
    PeerId(keys::PeerIdArgs),
    /// Print our ENR (EIP-778, "v4") and, on a second line, the QUIC multiaddr other nodes
    /// will dial — the record to put in a lean-quickstart `nodes.yaml`.
    Enr(enr::EnrArgs),
    /// Run one node until --run-secs, --exit-when-done or SIGINT/SIGTERM (graceful close,
    /// then a summary). Exit code 0 when every requested action succeeded, 3 when a target
    /// was missed, 2 for bad arguments.
    #[command(after_help = help::NODE_OUTPUT)]
    Node(Box<node::NodeArgs>),
    /// The demo: N nodes in this process on 127.0.0.1, each on its own reactor thread,
    /// gossiping lean-sized blocks and attestations; a late joiner syncs with status and
    /// blocks_by_range / blocks_by_root. A live progress line, then a summary table (or
    /// one JSON `summary` line). Exit 0 when every message arrived and the joiner synced,
    /// 3 otherwise.
    #[command(after_help = help::WORKLOAD_OUTPUT)]
    Devnet(Box<devnet::DevnetArgs>),
    /// The devnet workload on the deterministic simulator (virtual clock): delivery,
    /// propagation percentiles and a trace hash equal for equal arguments.
    #[command(after_help = help::WORKLOAD_OUTPUT)]
    Sim(Box<sim::SimArgs>),
    /// Throughput benchmark over the full stack on loopback (or against a libp2p perf
    /// server): prints one JSON object; exit 0 when the workload completed, 3 when not.
    #[command(after_help = help::PERF_OUTPUT)]
    Perf(Box<perf::PerfArgs>),
}

/// A command failure: printed as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    #[error(transparent)]
    KeyFile(#[from] leanp2p_identity::KeyFileError),
    #[error("one of --node-key FILE or --key-hex HEX is required")]
    MissingKey,
    #[error(transparent)]
    Enr(#[from] leanp2p_identity::EnrError),
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("{0}")]
    BadFlag(String),
    #[error("{0}")]
    Node(String),
}

/// Parses `args` and runs the command.
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help / --version
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let rendered = err.render().to_string();
            let line = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            eprintln!("leanp2p: {}", line.trim_start_matches("error: "));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut stdout = std::io::stdout().lock();
    let result = match cli.command {
        Command::Keygen(args) => keys::keygen(&args, &mut stdout).map(|()| 0),
        Command::PeerId(args) => keys::peer_id(&args, &mut stdout).map(|()| 0),
        Command::Enr(args) => enr::enr(&args, &mut stdout).map(|()| 0),
        Command::Devnet(args) => {
            drop(stdout);
            return exit_with(devnet::run(&args));
        }
        Command::Sim(args) => {
            drop(stdout);
            return exit_with(sim::run(&args));
        }
        Command::Perf(args) => {
            drop(stdout);
            return exit_with(perf::run(&args));
        }
        Command::Node(args) => {
            // `node` writes its own lines (stdout is locked per line there).
            drop(stdout);
            return match node::run(&args) {
                Ok(code) => ExitCode::from(code),
                Err(err) => {
                    eprintln!("leanp2p: {err}");
                    ExitCode::from(EXIT_USAGE)
                }
            };
        }
    };
    match result.and_then(|code| stdout.flush().map(|()| code).map_err(CliError::Stdout)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("leanp2p: {err}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The exit code of a command that prints its own output (usage errors: one line, 2).
fn exit_with(result: Result<u8, CliError>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("leanp2p: {err}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}
