//! Ed25519 public keys (verification only: peers may use them, we never generate them).

use ed25519_dalek::{Signature, VerifyingKey};

use crate::error::DecodingError;

/// An Ed25519 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519PublicKey(VerifyingKey);

impl Ed25519PublicKey {
    /// Parses the 32 raw key bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodingError> {
        let raw: &[u8; 32] = bytes.try_into().map_err(|_| DecodingError::InvalidLength {
            expected: 32,
            actual: bytes.len(),
        })?;
        VerifyingKey::from_bytes(raw)
            .map(Self)
            .map_err(|_| DecodingError::InvalidKey)
    }

    /// The 32 raw key bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Verifies an RFC 8032 signature (64 bytes) of `msg`, with strict checks against
    /// malleable and small-order inputs.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        self.0.verify_strict(msg, &sig).is_ok()
    }
}

impl std::hash::Hash for Ed25519PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_bytes().hash(state)
    }
}

impl std::fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ed25519PublicKey({})", hex::encode(self.to_bytes()))
    }
}
