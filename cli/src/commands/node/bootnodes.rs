//! `--bootnodes FILE`: the lean-quickstart `nodes.yaml` list of ENRs and multiaddrs.

use std::path::Path;

use super::super::CliError;

/// Largest `nodes.yaml` we read (a devnet list is a few KiB).
const MAX_BOOTNODES_FILE: u64 = 1 << 20;

/// Reads a lean-quickstart `nodes.yaml`.
///
/// The file is a flat YAML sequence of scalars (`- enr:-IW4…` or `- /ip4/…`), so a line
/// parser is enough and avoids a YAML dependency (`serde_yaml` is unmaintained): every
/// line is either blank, a `#` comment, or `- <value>` with an optional quoted value and
/// trailing ` #` comment. Anything else (nested maps, flow sequences) is rejected with
/// the line number rather than guessed at.
pub(crate) fn read_bootnodes_file(path: &Path) -> Result<Vec<String>, CliError> {
    let unreadable =
        |e: std::io::Error| CliError::BadFlag(format!("--bootnodes {}: {e}", path.display()));
    let len = std::fs::metadata(path).map_err(unreadable)?.len();
    if len > MAX_BOOTNODES_FILE {
        return Err(CliError::BadFlag(format!(
            "--bootnodes {}: larger than {MAX_BOOTNODES_FILE} bytes",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(unreadable)?;
    parse_bootnodes_yaml(&text).map_err(|(line, reason)| {
        CliError::BadFlag(format!("--bootnodes {}:{line}: {reason}", path.display()))
    })
}

/// Parses the flat YAML list; errors carry the 1-based line number.
pub(crate) fn parse_bootnodes_yaml(text: &str) -> Result<Vec<String>, (usize, &'static str)> {
    let mut entries = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line == "---" {
            continue;
        }
        let Some(value) = line.strip_prefix('-') else {
            return Err((index + 1, "expected a list item `- <enr or multiaddr>`"));
        };
        let value = value.split(" #").next().unwrap_or("").trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        if value.is_empty() {
            return Err((index + 1, "empty list item"));
        }
        entries.push(value.to_string());
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_yaml_lines_are_parsed_and_junk_is_rejected() {
        let text = "# devnet\n- enr:-IW4QA\n-   \"/ip4/1.2.3.4/udp/9000/quic-v1\" # comment\n\n";
        assert_eq!(
            parse_bootnodes_yaml(text).unwrap(),
            ["enr:-IW4QA", "/ip4/1.2.3.4/udp/9000/quic-v1"]
        );
        assert_eq!(parse_bootnodes_yaml("nodes:\n").unwrap_err().0, 1);
        assert_eq!(parse_bootnodes_yaml("- a\n-\n").unwrap_err().0, 2);
    }
}
