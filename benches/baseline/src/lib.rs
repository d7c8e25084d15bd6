//! Shared pieces of the baseline binaries (`quinn-perf`, `libp2p-gossip-perf`,
//! `libp2p-gossip-node`): flag parsing, the process's CPU time and peak RSS, the lean
//! gossip payload and message id, the rust-libp2p gossip node ([`gossip`]), and the one
//! JSON object the perf binaries print (the fields of `leanp2p perf`, see
//! `shared/CLI.md`: `workload`, `bytes`, `elapsed_s`, `mb_per_s`, `msgs_per_s`, `cpu_s`,
//! `max_rss_kib`, plus path stats where the stack exposes them).
//!
//! These binaries are measuring tools, not library code: they read the wall clock, and
//! their payloads come from fixed generators (no OS randomness in the data).

pub mod gossip;

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// Lean message-id domain for data that snappy-decompresses.
const DOMAIN_VALID_SNAPPY: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
/// Lean message-id domain for data that does not.
const DOMAIN_INVALID_SNAPPY: [u8; 4] = [0x00, 0x00, 0x00, 0x00];
/// Largest decompressed gossip payload (lean `MAX_PAYLOAD_SIZE`, 10 MiB).
pub const MAX_PAYLOAD_SIZE: usize = 10 * 1024 * 1024;
/// The lean block topic on the default network, as leanp2p's perf uses it.
pub const BLOCK_TOPIC: &str = "/leanconsensus/12345678/block/ssz_snappy";

/// `--name value` flags of a command line, after the program name.
#[derive(Debug, Default)]
pub struct Flags {
    values: BTreeMap<String, String>,
}

impl Flags {
    /// Parses `--name value` pairs (and `--name=value`); anything else is an error.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut values = BTreeMap::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let Some(name) = arg.strip_prefix("--") else {
                return Err(format!("unexpected argument {arg:?}"));
            };
            let (name, value) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => {
                    let value = args
                        .next()
                        .ok_or_else(|| format!("--{name} needs a value"))?;
                    (name.to_string(), value)
                }
            };
            values.insert(name, value);
        }
        Ok(Self { values })
    }

    /// The flag's value parsed as `T`, or `default` when absent.
    pub fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.values.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: cannot parse {v:?}")),
        }
    }

    /// The flag's string value, or `default`.
    pub fn get_str(&self, name: &str, default: &str) -> String {
        self.values
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    }

    /// Fails on a flag not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), String> {
        match self.values.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(format!("unknown flag --{k}")),
            None => Ok(()),
        }
    }
}

/// Prints `msg` on stderr and exits with code 2 (bad arguments), as `leanp2p` does.
pub fn usage_error(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(2)
}

/// CPU time (user + system, seconds) and peak RSS (KiB) of this process, from
/// `getrusage(RUSAGE_SELF)`; `None` if the call fails.
pub fn resource_usage() -> (Option<f64>, Option<i64>) {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(usage) => {
            let secs = |tv: nix::sys::time::TimeVal| {
                tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1_000_000.0
            };
            (
                Some(round3(secs(usage.user_time()) + secs(usage.system_time()))),
                // Linux reports ru_maxrss in KiB.
                Some(usage.max_rss()),
            )
        }
        Err(_) => (None, None),
    }
}

/// Rounds to three decimals.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The common result fields: `bytes` moved in `elapsed`, `msgs` messages (gossip) or
/// `None` (bulk), and this process's CPU time and peak RSS (read now).
pub fn result_json(
    workload: &str,
    implementation: &str,
    bytes: u64,
    msgs: Option<u64>,
    elapsed: Duration,
) -> serde_json::Map<String, serde_json::Value> {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let (cpu_s, max_rss_kib) = resource_usage();
    let mut out = serde_json::Map::new();
    out.insert("workload".into(), workload.into());
    out.insert("impl".into(), implementation.into());
    out.insert("bytes".into(), bytes.into());
    out.insert("elapsed_s".into(), round3_6(secs).into());
    out.insert("mb_per_s".into(), round3(bytes as f64 / secs / 1e6).into());
    out.insert(
        "msgs_per_s".into(),
        msgs.map_or(serde_json::Value::Null, |m| round3(m as f64 / secs).into()),
    );
    out.insert("cpu_s".into(), cpu_s.into());
    out.insert("max_rss_kib".into(), max_rss_kib.into());
    out
}

/// Rounds to six decimals (elapsed seconds of short runs).
fn round3_6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// A gossip payload of `len` bytes in the shape `leanp2p node` publishes: 8 bytes
/// big-endian send time (µs since the Unix epoch), 8 bytes big-endian sequence number,
/// then pseudo-random bytes (xorshift seeded by `seq`, so each message is unique).
pub fn gossip_payload(len: usize, seq: u64, send_time_us: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(len.max(16));
    data.extend_from_slice(&send_time_us.to_be_bytes());
    data.extend_from_slice(&seq.to_be_bytes());
    let mut x = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len.max(16));
    data
}

/// Snappy *block* compression (the lean / Ethereum gossip encoding).
pub fn snappy_compress(data: &[u8]) -> Result<Vec<u8>, snap::Error> {
    snap::raw::Encoder::new().compress_vec(data)
}

/// The lean message id: `SHA256(domain ‖ u64_le(len(topic)) ‖ topic ‖ payload)[..20]`,
/// with the decompressed payload under the valid-snappy domain, else the raw data under
/// the invalid-snappy domain.
pub fn lean_message_id(topic: &str, data: &[u8]) -> Vec<u8> {
    let decompressed = snap::raw::decompress_len(data)
        .ok()
        .filter(|&len| len <= MAX_PAYLOAD_SIZE)
        .and_then(|_| snap::raw::Decoder::new().decompress_vec(data).ok());
    let mut hasher = Sha256::new();
    match &decompressed {
        Some(_) => hasher.update(DOMAIN_VALID_SNAPPY),
        None => hasher.update(DOMAIN_INVALID_SNAPPY),
    }
    hasher.update((topic.len() as u64).to_le_bytes());
    hasher.update(topic.as_bytes());
    hasher.update(decompressed.as_deref().unwrap_or(data));
    hasher.finalize()[..20].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_pairs_and_reject_strays() {
        let f = Flags::parse(["--streams", "8", "--workload=bulk"].map(String::from)).unwrap();
        assert_eq!(f.get("streams", 1u32).unwrap(), 8);
        assert_eq!(f.get_str("workload", "x"), "bulk");
        assert_eq!(f.get("count", 7u32).unwrap(), 7);
        assert!(f.only(&["streams"]).is_err());
        assert!(Flags::parse(["8".to_string()]).is_err());
        assert!(Flags::parse(["--size".to_string()]).is_err());
    }

    #[test]
    fn payload_has_header_and_length() {
        let p = gossip_payload(1024, 5, 77);
        assert_eq!(p.len(), 1024);
        assert_eq!(&p[..8], &77u64.to_be_bytes());
        assert_eq!(&p[8..16], &5u64.to_be_bytes());
        assert_ne!(gossip_payload(1024, 6, 77)[16..], p[16..]);
    }

    #[test]
    fn lean_id_uses_decompressed_payload_when_valid() {
        let payload = gossip_payload(4096, 1, 0);
        let compressed = snappy_compress(&payload).unwrap();
        let id = lean_message_id(BLOCK_TOPIC, &compressed);
        let mut h = Sha256::new();
        h.update(DOMAIN_VALID_SNAPPY);
        h.update((BLOCK_TOPIC.len() as u64).to_le_bytes());
        h.update(BLOCK_TOPIC.as_bytes());
        h.update(&payload);
        assert_eq!(id, h.finalize()[..20].to_vec());
        // Not snappy: the raw bytes under the other domain.
        let raw = [0xffu8; 8];
        let mut h = Sha256::new();
        h.update(DOMAIN_INVALID_SNAPPY);
        h.update((BLOCK_TOPIC.len() as u64).to_le_bytes());
        h.update(BLOCK_TOPIC.as_bytes());
        h.update(raw);
        assert_eq!(
            lean_message_id(BLOCK_TOPIC, &raw),
            h.finalize()[..20].to_vec()
        );
    }

    #[test]
    fn lean_id_matches_leanp2p_gossipsub() {
        for data in [
            snappy_compress(&gossip_payload(300 * 1024, 9, 1)).unwrap(),
            vec![1, 2, 3],
        ] {
            let ours = leanp2p_gossipsub::lean::message_id(BLOCK_TOPIC, &data);
            assert_eq!(
                ours.as_bytes(),
                lean_message_id(BLOCK_TOPIC, &data).as_slice()
            );
        }
    }
}
