//! libp2p keys: the host [`Keypair`] (secp256k1) and the [`PublicKey`] of any peer
//! (secp256k1, Ed25519, ECDSA P-256), with the canonical libp2p key protobuf.

mod ecdsa;
mod ed25519;
mod proto;
mod secp256k1;

pub use ecdsa::EcdsaPublicKey;
pub use ed25519::Ed25519PublicKey;
pub use proto::KeyType;
pub use secp256k1::{Keypair, Secp256k1PublicKey};

use crate::error::DecodingError;
use crate::PeerId;

/// The public key of a libp2p peer.
///
/// We only generate secp256k1 host keys, but peers may present any of the key types
/// below (rust-libp2p nodes often use Ed25519). RSA keys are not supported: no Ethereum
/// client uses them, and decoding one returns [`DecodingError::UnsupportedKeyType`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum PublicKey {
    /// secp256k1 (SEC1 compressed point in the protobuf).
    Secp256k1(Secp256k1PublicKey),
    /// Ed25519 (32 raw bytes in the protobuf).
    Ed25519(Ed25519PublicKey),
    /// ECDSA over NIST P-256 (DER SubjectPublicKeyInfo in the protobuf).
    Ecdsa(EcdsaPublicKey),
}

impl PublicKey {
    /// The protobuf key type of this key.
    pub fn key_type(&self) -> KeyType {
        match self {
            PublicKey::Secp256k1(_) => KeyType::Secp256k1,
            PublicKey::Ed25519(_) => KeyType::Ed25519,
            PublicKey::Ecdsa(_) => KeyType::Ecdsa,
        }
    }

    /// Verifies a libp2p signature of `msg` made with this key:
    /// secp256k1 and ECDSA are ECDSA over SHA-256(msg) with a DER signature (high-S is
    /// rejected for secp256k1, as rust-libp2p does); Ed25519 is RFC 8032.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::Secp256k1(k) => k.verify(msg, signature),
            PublicKey::Ed25519(k) => k.verify(msg, signature),
            PublicKey::Ecdsa(k) => k.verify(msg, signature),
        }
    }

    /// The key's `Data` field in the libp2p `PublicKey` protobuf.
    pub fn data_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Secp256k1(k) => k.to_bytes().to_vec(),
            PublicKey::Ed25519(k) => k.to_bytes().to_vec(),
            PublicKey::Ecdsa(k) => k.to_spki_der(),
        }
    }

    /// Canonical libp2p `PublicKey` protobuf: `08 <type> 12 <len> <data>`.
    pub fn encode_protobuf(&self) -> Vec<u8> {
        proto::encode_public(self.key_type(), &self.data_bytes())
    }

    /// Decodes a libp2p `PublicKey` protobuf. Only the canonical encoding is accepted
    /// (exactly fields 1 and 2, in order, minimal varints, nothing else), because these
    /// bytes are hashed into PeerIds and signed in TLS.
    pub fn decode_protobuf(bytes: &[u8]) -> Result<Self, DecodingError> {
        let (key_type, data) = proto::decode_public(bytes)?;
        match key_type {
            KeyType::Secp256k1 => Ok(PublicKey::Secp256k1(Secp256k1PublicKey::from_bytes(&data)?)),
            KeyType::Ed25519 => Ok(PublicKey::Ed25519(Ed25519PublicKey::from_bytes(&data)?)),
            KeyType::Ecdsa => Ok(PublicKey::Ecdsa(EcdsaPublicKey::from_spki_der(&data)?)),
            KeyType::Rsa => Err(DecodingError::UnsupportedKeyType(KeyType::Rsa as i32)),
        }
    }

    /// The PeerId of this key.
    pub fn to_peer_id(&self) -> PeerId {
        PeerId::from_public_key(self)
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PublicKey::{:?}({})",
            self.key_type(),
            hex::encode(self.data_bytes())
        )
    }
}

impl From<Secp256k1PublicKey> for PublicKey {
    fn from(k: Secp256k1PublicKey) -> Self {
        PublicKey::Secp256k1(k)
    }
}
