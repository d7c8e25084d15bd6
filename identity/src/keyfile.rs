//! Node-key files as lean-quickstart writes them: 64 hex characters and a newline.
//!
//! Reading follows the ethlambda loader: trim surrounding whitespace, strip an optional
//! `0x`/`0X`, hex-decode exactly 32 bytes, and reject a zero or out-of-range scalar.
//! Writing creates the file with mode 0600 (owner read/write only) on Unix.

use std::io::Write;
use std::path::Path;

use crate::error::KeyFileError;
use crate::Keypair;

/// Parses node-key text (the contents of a `<node>.key` file, or a `--key-hex` value).
pub fn parse_node_key(text: &str) -> Result<Keypair, KeyFileError> {
    let trimmed = text.trim();
    let hex_text = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    if let Some(bad) = hex_text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(KeyFileError::NotHex(bad));
    }
    if hex_text.len() != 64 {
        return Err(KeyFileError::WrongLength(hex_text.chars().count()));
    }
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hex_text, secret.as_mut_slice())
        .map_err(|_| KeyFileError::WrongLength(hex_text.len()))?;
    Ok(Keypair::from_secret_bytes(&secret)?)
}

/// Reads a node-key file.
pub fn read_node_key(path: impl AsRef<Path>) -> Result<Keypair, KeyFileError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_node_key(&text)
}

/// The node-key file contents for `key`: 64 lowercase hex characters and `\n`.
pub fn format_node_key(key: &Keypair) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(format!("{}\n", hex::encode(key.secret_bytes().as_slice())))
}

/// Writes `key` to `path` in the lean-quickstart format, creating or truncating the file.
/// On Unix the file gets mode 0600 (also when it already existed).
pub fn write_node_key(path: impl AsRef<Path>, key: &Keypair) -> Result<(), KeyFileError> {
    let path = path.as_ref();
    let io_err = |source| KeyFileError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_err)?;
    }
    file.write_all(format_node_key(key).as_bytes())
        .map_err(io_err)?;
    file.sync_all().map_err(io_err)
}
