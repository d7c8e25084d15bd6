//! `leanp2p`: the command-line node of the leanp2p stack.
//!
//! The command line is a contract (`docs/CLI.md`): devnet scripts and test harnesses rely
//! on its names and output. Subcommands: `keygen`, `peer-id`, `enr`, `node`, `devnet`,
//! `sim` and `perf`.

mod commands;

use std::process::ExitCode;

fn main() -> ExitCode {
    commands::run(std::env::args_os())
}
