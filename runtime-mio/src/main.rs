//! `leanp2p`: the command-line node of the leanp2p stack.
//!
//! The command line is a contract (`shared/CLI.md`): devnet scripts and test harnesses rely
//! on its names and output. Subcommands available today: `keygen`, `peer-id`, `enr`, `node`.
//! The others (`devnet`, `sim`, `perf`) arrive with the crates they drive and are absent
//! until then.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::run(std::env::args_os())
}
