//! The libp2p key protobufs (proto2), via `prost`:
//!
//! ```text
//! enum KeyType { RSA = 0; Ed25519 = 1; Secp256k1 = 2; ECDSA = 3; }
//! message PublicKey  { required KeyType Type = 1; required bytes Data = 2; }
//! message PrivateKey { required KeyType Type = 1; required bytes Data = 2; }
//! ```
//!
//! libp2p requires the deterministic encoding (field 1 then field 2, minimal varints, no
//! other fields). prost encodes exactly that; on decode we re-encode what prost parsed and
//! require the result to equal the input, which rejects unknown, repeated, reordered and
//! non-minimally encoded fields in one check.

use prost::Message;

use crate::error::DecodingError;

/// libp2p key type, as numbered in the key protobuf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum KeyType {
    /// RSA (decoding is not supported by this crate).
    Rsa = 0,
    /// Ed25519.
    Ed25519 = 1,
    /// secp256k1 (the Ethereum host key).
    Secp256k1 = 2,
    /// ECDSA over NIST P-256.
    Ecdsa = 3,
}

/// `PublicKey` protobuf message.
#[derive(Clone, PartialEq, prost::Message)]
struct PublicKeyPb {
    #[prost(enumeration = "KeyType", required, tag = "1")]
    key_type: i32,
    #[prost(bytes = "vec", required, tag = "2")]
    data: Vec<u8>,
}

/// `PrivateKey` protobuf message (same layout as `PublicKey`).
#[derive(Clone, PartialEq, prost::Message)]
struct PrivateKeyPb {
    #[prost(enumeration = "KeyType", required, tag = "1")]
    key_type: i32,
    #[prost(bytes = "vec", required, tag = "2")]
    data: Vec<u8>,
}

pub(crate) fn encode_public(key_type: KeyType, data: &[u8]) -> Vec<u8> {
    PublicKeyPb {
        key_type: key_type as i32,
        data: data.to_vec(),
    }
    .encode_to_vec()
}

pub(crate) fn encode_private(key_type: KeyType, data: &[u8]) -> Vec<u8> {
    PrivateKeyPb {
        key_type: key_type as i32,
        data: data.to_vec(),
    }
    .encode_to_vec()
}

fn checked_type(raw: i32) -> Result<KeyType, DecodingError> {
    KeyType::try_from(raw).map_err(|_| DecodingError::UnsupportedKeyType(raw))
}

pub(crate) fn decode_public(bytes: &[u8]) -> Result<(KeyType, Vec<u8>), DecodingError> {
    let pb = PublicKeyPb::decode(bytes).map_err(|_| DecodingError::Protobuf)?;
    if pb.encoded_len() != bytes.len() || pb.encode_to_vec() != bytes {
        return Err(DecodingError::NonCanonicalProtobuf);
    }
    Ok((checked_type(pb.key_type)?, pb.data))
}

pub(crate) fn decode_private(
    bytes: &[u8],
) -> Result<(KeyType, zeroize::Zeroizing<Vec<u8>>), DecodingError> {
    let pb = PrivateKeyPb::decode(bytes).map_err(|_| DecodingError::Protobuf)?;
    let data = zeroize::Zeroizing::new(pb.data.clone());
    let canonical = zeroize::Zeroizing::new(pb.encode_to_vec());
    let mut pb = pb;
    zeroize::Zeroize::zeroize(&mut pb.data);
    if canonical.as_slice() != bytes {
        return Err(DecodingError::NonCanonicalProtobuf);
    }
    Ok((checked_type(pb.key_type)?, data))
}
