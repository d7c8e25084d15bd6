//! Ethereum Node Records (EIP-778), as lean-quickstart uses them for bootnodes.
//!
//! A record is the RLP list `[signature, seq, k1, v1, k2, v2, …]` (keys sorted, unique,
//! at most [`MAX_RECORD_SIZE`] bytes), shown as `enr:` + base64url without padding.
//! Only the "v4" identity scheme exists: `signature` is the 64-byte `r ‖ s` secp256k1
//! ECDSA signature of `keccak256(rlp([seq, k1, v1, …]))`, and the `secp256k1` key holds
//! the 33-byte compressed public key — the same key as the node's libp2p host key, so a
//! record maps straight to a dialable `/ip4/…/udp/<quic>/quic-v1/p2p/<PeerId>`.
//!
//! RLP framing uses `alloy-rlp` (canonical lengths enforced) and keccak256 comes from
//! `sha3`. Values of unknown keys are kept verbatim, so a decoded record re-encodes to the
//! same bytes and its signature stays valid.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use alloy_rlp::{Decodable, Encodable, Header};
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::Signature;
use sha3::{Digest, Keccak256};

use crate::error::EnrError;
use crate::{Keypair, Multiaddr, PeerId, PublicKey, Secp256k1PublicKey};

/// Largest encoded record EIP-778 allows.
pub const MAX_RECORD_SIZE: usize = 300;
/// Longest `enr:` text accepted (base64 of [`MAX_RECORD_SIZE`] bytes plus the prefix).
const MAX_TEXT_LEN: usize = 4 + MAX_RECORD_SIZE.div_ceil(3) * 4;

/// A verified Ethereum Node Record with the "v4" identity scheme.
#[derive(Clone, PartialEq, Eq)]
pub struct Enr {
    seq: u64,
    /// key → the value's complete RLP item (header included), exactly as encoded.
    pairs: BTreeMap<Vec<u8>, Vec<u8>>,
    signature: [u8; 64],
    public_key: Secp256k1PublicKey,
    /// The whole record as RLP (what `to_text` encodes).
    encoded: Vec<u8>,
}

impl Enr {
    /// Starts building a record of our own.
    pub fn builder() -> EnrBuilder {
        EnrBuilder::default()
    }

    /// Decodes and verifies a record from its RLP bytes.
    pub fn decode_rlp(bytes: &[u8]) -> Result<Self, EnrError> {
        if bytes.len() > MAX_RECORD_SIZE {
            return Err(EnrError::TooLarge(bytes.len()));
        }
        let mut buf = bytes;
        let list = Header::decode(&mut buf).map_err(rlp_err)?;
        if !list.list {
            return Err(EnrError::NotAList);
        }
        if buf.len() != list.payload_length {
            return Err(EnrError::Rlp(
                "record length does not match its list header".into(),
            ));
        }
        let signature_item = Header::decode_bytes(&mut buf, false).map_err(rlp_err)?;
        let signature: [u8; 64] = signature_item
            .try_into()
            .map_err(|_| EnrError::BadSignatureLength(signature_item.len()))?;
        // Everything after the signature is the signed content's list payload.
        let content_payload = buf;
        let seq = u64::decode(&mut buf).map_err(rlp_err)?;
        let mut pairs = BTreeMap::new();
        let mut last_key: Option<&[u8]> = None;
        while !buf.is_empty() {
            let key = Header::decode_bytes(&mut buf, false).map_err(rlp_err)?;
            if last_key.is_some_and(|last| last >= key) {
                return Err(EnrError::UnsortedKeys);
            }
            last_key = Some(key);
            if buf.is_empty() {
                return Err(EnrError::MissingValue);
            }
            let value = take_item(&mut buf)?;
            pairs.insert(key.to_vec(), value.to_vec());
        }
        match pairs.get(b"id".as_slice()).map(|v| string_value(v)) {
            Some(Ok(b"v4")) => {}
            Some(Ok(other)) => {
                return Err(EnrError::UnknownScheme(
                    String::from_utf8_lossy(other).into_owned(),
                ))
            }
            Some(Err(e)) => return Err(e),
            None => return Err(EnrError::MissingKey("id")),
        }
        let key_item = pairs
            .get(b"secp256k1".as_slice())
            .ok_or(EnrError::MissingKey("secp256k1"))?;
        let public_key = Secp256k1PublicKey::from_bytes(string_value(key_item)?)
            .map_err(|_| EnrError::InvalidValue("secp256k1"))?;

        let digest = Keccak256::digest(list_with_payload(content_payload));
        let sig = Signature::from_slice(&signature).map_err(|_| EnrError::BadSignature)?;
        public_key
            .verifying_key()
            .verify_prehash(&digest, &sig)
            .map_err(|_| EnrError::BadSignature)?;
        Ok(Self {
            seq,
            pairs,
            signature,
            public_key,
            encoded: bytes.to_vec(),
        })
    }

    /// The record as RLP bytes.
    pub fn to_rlp(&self) -> &[u8] {
        &self.encoded
    }

    /// The text form: `enr:` + base64url without padding.
    pub fn to_text(&self) -> String {
        format!(
            "enr:{}",
            data_encoding::BASE64URL_NOPAD.encode(&self.encoded)
        )
    }

    /// Sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The 64-byte `r ‖ s` signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The node's secp256k1 key (also its libp2p host key).
    pub fn public_key(&self) -> &Secp256k1PublicKey {
        &self.public_key
    }

    /// The node's libp2p PeerId.
    pub fn peer_id(&self) -> PeerId {
        PeerId::from_public_key(&PublicKey::Secp256k1(self.public_key.clone()))
    }

    /// The discv5 node id: keccak256 of the uncompressed public key without its `04` tag.
    pub fn node_id(&self) -> [u8; 32] {
        let uncompressed = self.public_key.to_uncompressed_bytes();
        Keccak256::digest(&uncompressed[1..]).into()
    }

    /// The raw content of the byte-string value under `key`, if present.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.pairs
            .get(key.as_bytes())
            .and_then(|item| string_value(item).ok())
    }

    /// The complete RLP item under `key` (for list-valued keys such as `eth`).
    pub fn get_raw_rlp(&self, key: &str) -> Option<&[u8]> {
        self.pairs.get(key.as_bytes()).map(Vec::as_slice)
    }

    /// All keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.pairs.keys().map(Vec::as_slice)
    }

    /// `ip` (IPv4 address).
    pub fn ip4(&self) -> Option<Ipv4Addr> {
        let octets: [u8; 4] = self.get("ip")?.try_into().ok()?;
        Some(octets.into())
    }

    /// `ip6` (IPv6 address).
    pub fn ip6(&self) -> Option<Ipv6Addr> {
        let octets: [u8; 16] = self.get("ip6")?.try_into().ok()?;
        Some(octets.into())
    }

    fn port(&self, key: &str) -> Option<u16> {
        let mut item = self.pairs.get(key.as_bytes())?.as_slice();
        u16::decode(&mut item).ok().filter(|_| item.is_empty())
    }

    /// `udp` port (discovery).
    pub fn udp4(&self) -> Option<u16> {
        self.port("udp")
    }

    /// `udp6` port.
    pub fn udp6(&self) -> Option<u16> {
        self.port("udp6")
    }

    /// `tcp` port.
    pub fn tcp4(&self) -> Option<u16> {
        self.port("tcp")
    }

    /// `tcp6` port.
    pub fn tcp6(&self) -> Option<u16> {
        self.port("tcp6")
    }

    /// `quic` port (libp2p over QUIC, IPv4).
    pub fn quic4(&self) -> Option<u16> {
        self.port("quic")
    }

    /// `quic6` port (libp2p over QUIC, IPv6).
    pub fn quic6(&self) -> Option<u16> {
        self.port("quic6")
    }

    /// `eth2`: the SSZ `ENRForkID` bytes (fork digest, next fork version and epoch).
    pub fn eth2(&self) -> Option<&[u8]> {
        self.get("eth2")
    }

    /// `attnets`: the attestation subnet bitvector bytes.
    pub fn attnets(&self) -> Option<&[u8]> {
        self.get("attnets")
    }

    /// `is_aggregator`: lean devnets mark aggregator nodes with a one-byte boolean
    /// (an empty value, i.e. RLP `0x80`, reads as `false`).
    pub fn is_aggregator(&self) -> Option<bool> {
        match self.get("is_aggregator")? {
            [] | [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }

    /// Every QUIC v1 address the record advertises: `ip`+`quic`, then `ip6`+`quic6`
    /// (each with `/p2p/<PeerId>`).
    pub fn quic_multiaddrs(&self) -> Vec<Multiaddr> {
        let peer = Some(self.peer_id());
        let v4 = self
            .ip4()
            .zip(self.quic4())
            .map(|(ip, port)| SocketAddr::from((ip, port)));
        let v6 = self
            .ip6()
            .zip(self.quic6())
            .map(|(ip, port)| SocketAddr::from((ip, port)));
        v4.into_iter()
            .chain(v6)
            .map(|addr| Multiaddr::quic_v1(addr, peer))
            .collect()
    }

    /// The QUIC socket address the record advertises (IPv4 preferred), if any.
    pub fn quic_socket_addr(&self) -> Option<SocketAddr> {
        if let (Some(ip), Some(port)) = (self.ip4(), self.quic4()) {
            return Some(SocketAddr::from((ip, port)));
        }
        if let (Some(ip), Some(port)) = (self.ip6(), self.quic6()) {
            return Some(SocketAddr::from((ip, port)));
        }
        None
    }

    /// The address to dial: the first of [`Enr::quic_multiaddrs`] (IPv4 preferred).
    pub fn to_quic_multiaddr(&self) -> Result<Multiaddr, EnrError> {
        self.quic_multiaddrs()
            .into_iter()
            .next()
            .ok_or(EnrError::NoQuicAddress)
    }
}

impl FromStr for Enr {
    type Err = EnrError;

    /// Parses `enr:<base64url>` (padding tolerated, surrounding whitespace trimmed).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() > MAX_TEXT_LEN + 2 {
            return Err(EnrError::TooLarge(s.len() / 4 * 3));
        }
        let body = s.strip_prefix("enr:").ok_or(EnrError::MissingPrefix)?;
        let body = body.trim_end_matches('=');
        let bytes = data_encoding::BASE64URL_NOPAD
            .decode(body.as_bytes())
            .map_err(|_| EnrError::InvalidBase64)?;
        Self::decode_rlp(&bytes)
    }
}

impl fmt::Display for Enr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for Enr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enr")
            .field("seq", &self.seq)
            .field("peer_id", &self.peer_id())
            .field("ip4", &self.ip4())
            .field("quic4", &self.quic4())
            .field("ip6", &self.ip6())
            .field("quic6", &self.quic6())
            .finish_non_exhaustive()
    }
}

/// Builds and signs a record of our own.
#[derive(Clone, Debug, Default)]
pub struct EnrBuilder {
    seq: u64,
    pairs: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl EnrBuilder {
    /// Sequence number (default 0); bump it whenever the record's contents change.
    pub fn seq(&mut self, seq: u64) -> &mut Self {
        self.seq = seq;
        self
    }

    fn bytes(&mut self, key: &str, value: &[u8]) -> &mut Self {
        let mut item = Vec::with_capacity(value.len() + 3);
        value.encode(&mut item);
        self.pairs.insert(key.as_bytes().to_vec(), item);
        self
    }

    fn int(&mut self, key: &str, value: u64) -> &mut Self {
        let mut item = Vec::with_capacity(9);
        value.encode(&mut item);
        self.pairs.insert(key.as_bytes().to_vec(), item);
        self
    }

    /// `ip`.
    pub fn ip4(&mut self, ip: Ipv4Addr) -> &mut Self {
        self.bytes("ip", &ip.octets())
    }

    /// `ip6`.
    pub fn ip6(&mut self, ip: Ipv6Addr) -> &mut Self {
        self.bytes("ip6", &ip.octets())
    }

    /// `udp`.
    pub fn udp4(&mut self, port: u16) -> &mut Self {
        self.int("udp", port.into())
    }

    /// `udp6`.
    pub fn udp6(&mut self, port: u16) -> &mut Self {
        self.int("udp6", port.into())
    }

    /// `tcp`.
    pub fn tcp4(&mut self, port: u16) -> &mut Self {
        self.int("tcp", port.into())
    }

    /// `tcp6`.
    pub fn tcp6(&mut self, port: u16) -> &mut Self {
        self.int("tcp6", port.into())
    }

    /// `quic`.
    pub fn quic4(&mut self, port: u16) -> &mut Self {
        self.int("quic", port.into())
    }

    /// `quic6`.
    pub fn quic6(&mut self, port: u16) -> &mut Self {
        self.int("quic6", port.into())
    }

    /// `eth2` (SSZ `ENRForkID` bytes).
    pub fn eth2(&mut self, fork_id: &[u8]) -> &mut Self {
        self.bytes("eth2", fork_id)
    }

    /// `attnets` (bitvector bytes).
    pub fn attnets(&mut self, bits: &[u8]) -> &mut Self {
        self.bytes("attnets", bits)
    }

    /// `is_aggregator` as a one-byte boolean.
    pub fn is_aggregator(&mut self, yes: bool) -> &mut Self {
        self.bytes("is_aggregator", &[u8::from(yes)])
    }

    /// Any other key, with a byte-string value.
    pub fn raw(&mut self, key: &str, value: &[u8]) -> &mut Self {
        self.bytes(key, value)
    }

    /// Signs the record with `key` ("v4" scheme) and returns it, verified.
    pub fn build(&self, key: &Keypair) -> Result<Enr, EnrError> {
        let mut pairs = self.pairs.clone();
        let mut item = Vec::new();
        b"v4".as_slice().encode(&mut item);
        pairs.insert(b"id".to_vec(), item);
        let mut item = Vec::new();
        key.secp256k1_public()
            .to_bytes()
            .as_slice()
            .encode(&mut item);
        pairs.insert(b"secp256k1".to_vec(), item);

        let mut content = Vec::new();
        self.seq.encode(&mut content);
        for (k, v) in &pairs {
            k.as_slice().encode(&mut content);
            content.extend_from_slice(v);
        }
        let digest = Keccak256::digest(list_with_payload(&content));
        let sig: Signature = key
            .signing_key()
            .sign_prehash(&digest)
            .map_err(|_| EnrError::BadSignature)?;
        let sig = sig.normalize_s().unwrap_or(sig);
        let mut payload = Vec::with_capacity(content.len() + 66);
        let sig_bytes: [u8; 64] = sig.to_bytes().into();
        sig_bytes.as_slice().encode(&mut payload);
        payload.extend_from_slice(&content);
        let record = list_with_payload(&payload);
        if record.len() > MAX_RECORD_SIZE {
            return Err(EnrError::TooLarge(record.len()));
        }
        Enr::decode_rlp(&record)
    }
}

fn rlp_err(e: alloy_rlp::Error) -> EnrError {
    EnrError::Rlp(e.to_string())
}

/// An RLP list with the given (already encoded) payload.
fn list_with_payload(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 3);
    Header {
        list: true,
        payload_length: payload.len(),
    }
    .encode(&mut out);
    out.extend_from_slice(payload);
    out
}

/// Splits one complete RLP item (header + payload) off the front of `buf`.
fn take_item<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], EnrError> {
    let start = *buf;
    let header = Header::decode(buf).map_err(rlp_err)?;
    let header_len = start.len() - buf.len();
    let total = header_len
        .checked_add(header.payload_length)
        .filter(|&t| t <= start.len())
        .ok_or_else(|| EnrError::Rlp("item longer than the record".into()))?;
    let (item, rest) = start.split_at(total);
    *buf = rest;
    Ok(item)
}

/// The content of an RLP byte-string item.
fn string_value(item: &[u8]) -> Result<&[u8], EnrError> {
    let mut buf = item;
    let bytes = Header::decode_bytes(&mut buf, false).map_err(rlp_err)?;
    Ok(bytes)
}
