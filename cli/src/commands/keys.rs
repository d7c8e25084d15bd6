//! `keygen` and `peer-id`.

use std::io::Write;
use std::path::PathBuf;

use clap::{ArgGroup, Args};
use leanp2p_identity::{keyfile, Keypair};

use super::CliError;

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Write the key to FILE (64 hex characters + newline, mode 0600) instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct PeerIdArgs {
    #[command(flatten)]
    key: KeySource,
}

/// Where a node key comes from: `--node-key FILE` or `--key-hex HEX` (exactly one).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("key").required(true).args(["node_key", "key_hex"])))]
pub(crate) struct KeySource {
    /// Node-key file (64 hex characters, optional 0x, as lean-quickstart writes it).
    #[arg(long, value_name = "FILE")]
    node_key: Option<PathBuf>,
    /// The secret key as 64 hex characters (0x optional).
    #[arg(long, value_name = "HEX")]
    key_hex: Option<String>,
}

impl KeySource {
    pub(crate) fn load(&self) -> Result<Keypair, CliError> {
        match (&self.node_key, &self.key_hex) {
            (Some(path), _) => Ok(keyfile::read_node_key(path)?),
            (None, Some(hex)) => Ok(keyfile::parse_node_key(hex)?),
            (None, None) => Err(CliError::MissingKey),
        }
    }
}

pub(crate) fn keygen(args: &KeygenArgs, stdout: &mut impl Write) -> Result<(), CliError> {
    let key = Keypair::generate(&mut rand_core::OsRng);
    match &args.out {
        Some(path) => {
            keyfile::write_node_key(path, &key)?;
            writeln!(stdout, "{}", key.peer_id()).map_err(CliError::Stdout)
        }
        None => {
            stdout
                .write_all(keyfile::format_node_key(&key).as_bytes())
                .map_err(CliError::Stdout)?;
            eprintln!("{}", key.peer_id());
            Ok(())
        }
    }
}

pub(crate) fn peer_id(args: &PeerIdArgs, stdout: &mut impl Write) -> Result<(), CliError> {
    let key = args.key.load()?;
    writeln!(stdout, "{}", key.peer_id()).map_err(CliError::Stdout)
}
