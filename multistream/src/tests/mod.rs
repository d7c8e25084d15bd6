//! Crate-level tests: every flow of the reference (`flows`), and property tests (`props`).

mod flows;
mod props;

use crate::{Config, Negotiation, ProtocolId, ProtocolSet, Version};

pub(crate) const PING: ProtocolId = ProtocolId::from_static("/ipfs/ping/1.0.0");
pub(crate) const MESH_12: ProtocolId = ProtocolId::from_static("/meshsub/1.2.0");
pub(crate) const MESH_11: ProtocolId = ProtocolId::from_static("/meshsub/1.1.0");
pub(crate) const MESH_10: ProtocolId = ProtocolId::from_static("/meshsub/1.0.0");
pub(crate) const BY_ROOT: ProtocolId =
    ProtocolId::from_static("/leanconsensus/req/blocks_by_root/1/ssz_snappy");

pub(crate) const HEADER: &[u8] = b"\x13/multistream/1.0.0\n";
pub(crate) const NA: &[u8] = b"\x03na\n";
pub(crate) const LS: &[u8] = b"\x03ls\n";

/// `uvarint(len+1) ‖ id ‖ \n`.
pub(crate) fn frame(id: &ProtocolId) -> Vec<u8> {
    let line = format!("{id}\n");
    let mut buf = unsigned_varint::encode::usize_buffer();
    let mut out = unsigned_varint::encode::usize(line.len(), &mut buf).to_vec();
    out.extend_from_slice(line.as_bytes());
    out
}

pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

pub(crate) fn set(ids: &[ProtocolId]) -> ProtocolSet {
    ProtocolSet::new(ids.iter().cloned()).unwrap()
}

pub(crate) fn lazy() -> Config {
    Config {
        version: Version::V1Lazy,
        ..Config::default()
    }
}

pub(crate) fn dialer(ids: &[ProtocolId], config: &Config) -> Negotiation {
    Negotiation::dialer(set(ids), config).unwrap()
}

pub(crate) fn listener(ids: &[ProtocolId]) -> Negotiation {
    Negotiation::listener(set(ids), &Config::default()).unwrap()
}

/// Drains `poll_output` into one buffer (the drain rule).
pub(crate) fn drain(n: &mut Negotiation) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(b) = n.poll_output() {
        assert!(!b.is_empty(), "poll_output returned an empty buffer");
        out.extend_from_slice(&b);
    }
    out
}
