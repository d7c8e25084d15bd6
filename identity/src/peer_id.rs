//! `PeerId`: the multihash of a peer's public-key protobuf.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::PeerIdError;
use crate::PublicKey;

/// Multihash code of the identity "hash" (the key protobuf inline).
const IDENTITY_CODE: u8 = 0x00;
/// Multihash code of SHA2-256.
const SHA256_CODE: u8 = 0x12;
/// Key protobufs up to this many bytes are inlined with the identity multihash.
pub const MAX_INLINE_KEY_LENGTH: usize = 42;
/// Largest binary PeerId: `00 2a` + 42 inline bytes.
const MAX_PEER_ID_LEN: usize = 2 + MAX_INLINE_KEY_LENGTH;
/// CIDv1 version byte.
const CID_V1: u8 = 0x01;
/// Multicodec `libp2p-key`.
const LIBP2P_KEY_CODEC: u8 = 0x72;

/// A libp2p peer identity: the multihash of the peer's `PublicKey` protobuf.
///
/// `Copy` and fixed-size (no heap), so it can be used freely as a map key and handle.
/// Text form is the legacy base58btc multihash (`16Uiu2HA…` for secp256k1, `12D3KooW…`
/// for Ed25519, `Qm…` for longer keys); [`FromStr`] also accepts the CIDv1 form
/// (`bafz…`, base32 with multibase prefix `b`, or base58 with prefix `z`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    // Ord compares the length first; any total order is fine for deterministic maps.
    len: u8,
    bytes: [u8; MAX_PEER_ID_LEN],
}

impl PeerId {
    /// The PeerId of `key`: identity multihash when the protobuf is ≤ 42 bytes,
    /// SHA-256 multihash otherwise.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let pb = key.encode_protobuf();
        let mut bytes = [0u8; MAX_PEER_ID_LEN];
        if pb.len() <= MAX_INLINE_KEY_LENGTH {
            bytes[0] = IDENTITY_CODE;
            bytes[1] = pb.len() as u8; // ≤ 42 < 0x80: a one-byte varint
            bytes[2..2 + pb.len()].copy_from_slice(&pb);
            Self {
                len: (2 + pb.len()) as u8,
                bytes,
            }
        } else {
            bytes[0] = SHA256_CODE;
            bytes[1] = 32;
            bytes[2..34].copy_from_slice(&Sha256::digest(&pb));
            Self { len: 34, bytes }
        }
    }

    /// Parses the binary multihash form. Accepted: identity multihash with ≤ 42 bytes of
    /// digest, or SHA2-256 with exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PeerIdError> {
        let (&code, rest) = bytes.split_first().ok_or(PeerIdError::Empty)?;
        let (&digest_len, digest) = rest.split_first().ok_or(PeerIdError::Truncated)?;
        let digest_len = usize::from(digest_len);
        match code {
            IDENTITY_CODE if digest_len > MAX_INLINE_KEY_LENGTH => {
                return Err(PeerIdError::InlineKeyTooLong(digest_len))
            }
            IDENTITY_CODE => {}
            SHA256_CODE if digest_len != 32 => {
                return Err(PeerIdError::BadDigestLength(digest_len))
            }
            SHA256_CODE => {}
            other => return Err(PeerIdError::UnsupportedMultihash(other)),
        }
        if digest.len() != digest_len {
            return Err(PeerIdError::Truncated);
        }
        let mut out = [0u8; MAX_PEER_ID_LEN];
        out[..bytes.len()].copy_from_slice(bytes);
        Ok(Self {
            len: bytes.len() as u8,
            bytes: out,
        })
    }

    /// The binary multihash.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The binary multihash, owned.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }

    /// The legacy base58btc text form (what [`Display`](fmt::Display) prints).
    pub fn to_base58(&self) -> String {
        bs58::encode(self.as_bytes()).into_string()
    }

    /// The CIDv1 text form: multibase base32 (prefix `b`) of `01 72 ‖ multihash`.
    pub fn to_cid_string(&self) -> String {
        let mut cid = Vec::with_capacity(2 + self.as_bytes().len());
        cid.extend_from_slice(&[CID_V1, LIBP2P_KEY_CODEC]);
        cid.extend_from_slice(self.as_bytes());
        format!(
            "b{}",
            data_encoding::BASE32_NOPAD
                .encode(&cid)
                .to_ascii_lowercase()
        )
    }

    /// The public key inlined in an identity-multihash PeerId (secp256k1, Ed25519), if any.
    pub fn to_public_key(&self) -> Option<PublicKey> {
        let bytes = self.as_bytes();
        if bytes.first() != Some(&IDENTITY_CODE) {
            return None;
        }
        PublicKey::decode_protobuf(bytes.get(2..)?).ok()
    }

    /// Whether this PeerId was derived from `key`.
    pub fn matches(&self, key: &PublicKey) -> bool {
        *self == Self::from_public_key(key)
    }

    /// Parses the legacy base58btc form (`1…`, `Qm…`, `16Uiu2HA…`, `12D3KooW…`).
    fn from_base58(s: &str) -> Result<Self, PeerIdError> {
        let mut buf = [0u8; 64];
        let n = bs58::decode(s)
            .onto(&mut buf[..])
            .map_err(|_| PeerIdError::InvalidBase58)?;
        Self::from_bytes(buf.get(..n).ok_or(PeerIdError::InvalidBase58)?)
    }

    /// Parses the CIDv1 multibase form (base32 `b`/`B` or base58btc `z`).
    fn from_cid(s: &str) -> Result<Self, PeerIdError> {
        let mut chars = s.chars();
        let prefix = chars.next().ok_or(PeerIdError::Empty)?;
        let body = chars.as_str();
        if body.len() > 128 {
            return Err(PeerIdError::InvalidCid);
        }
        let cid = match prefix {
            'b' => data_encoding::BASE32_NOPAD
                .decode(body.to_ascii_uppercase().as_bytes())
                .map_err(|_| PeerIdError::InvalidCid)?,
            'B' => data_encoding::BASE32_NOPAD
                .decode(body.as_bytes())
                .map_err(|_| PeerIdError::InvalidCid)?,
            'z' => bs58::decode(body)
                .into_vec()
                .map_err(|_| PeerIdError::InvalidCid)?,
            other => return Err(PeerIdError::UnsupportedMultibase(other)),
        };
        match cid.as_slice() {
            [CID_V1, LIBP2P_KEY_CODEC, multihash @ ..] => Self::from_bytes(multihash),
            _ => Err(PeerIdError::InvalidCid),
        }
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base58())
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

impl FromStr for PeerId {
    type Err = PeerIdError;

    /// Starts with `1` or `Qm`: bare base58btc multihash; otherwise a multibase CIDv1.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.starts_with('1') || s.starts_with("Qm") {
            Self::from_base58(s)
        } else {
            Self::from_cid(s)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_multihashes() {
        assert_eq!(PeerId::from_bytes(&[]), Err(PeerIdError::Empty));
        assert_eq!(PeerId::from_bytes(&[0x00]), Err(PeerIdError::Truncated));
        assert_eq!(
            PeerId::from_bytes(&[0x00, 3, 1, 2]),
            Err(PeerIdError::Truncated)
        );
        assert_eq!(
            PeerId::from_bytes(&[0x00, 43]),
            Err(PeerIdError::InlineKeyTooLong(43))
        );
        assert_eq!(
            PeerId::from_bytes(&[0x12, 31]),
            Err(PeerIdError::BadDigestLength(31))
        );
        assert_eq!(
            PeerId::from_bytes(&[0x13, 0]),
            Err(PeerIdError::UnsupportedMultihash(0x13))
        );
        assert!("".parse::<PeerId>().is_err());
        assert!("x123".parse::<PeerId>().is_err());
        assert!("Qm".parse::<PeerId>().is_err());
    }
}
