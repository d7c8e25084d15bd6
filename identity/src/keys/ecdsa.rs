//! ECDSA P-256 public keys (verification only).

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;

use crate::error::DecodingError;

/// Upper bound on the SPKI DER we accept for a P-256 key (the canonical form is 91 bytes).
const MAX_SPKI_LEN: usize = 256;

/// An ECDSA P-256 public key.
///
/// The DER SubjectPublicKeyInfo the peer sent is kept verbatim: it is what the peer's
/// PeerId hashes, so re-encoding could change the PeerId.
#[derive(Clone, PartialEq, Eq)]
pub struct EcdsaPublicKey {
    key: VerifyingKey,
    spki_der: Vec<u8>,
}

impl EcdsaPublicKey {
    /// Parses a DER SubjectPublicKeyInfo of a P-256 key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, DecodingError> {
        if der.len() > MAX_SPKI_LEN {
            return Err(DecodingError::InvalidKey);
        }
        let key = VerifyingKey::from_public_key_der(der).map_err(|_| DecodingError::InvalidKey)?;
        Ok(Self {
            key,
            spki_der: der.to_vec(),
        })
    }

    /// The DER SubjectPublicKeyInfo, exactly as received.
    pub fn to_spki_der(&self) -> Vec<u8> {
        self.spki_der.clone()
    }

    /// Verifies a DER ECDSA signature over SHA-256(msg).
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_der(signature) else {
            return false;
        };
        self.key.verify(msg, &sig).is_ok()
    }
}

impl std::hash::Hash for EcdsaPublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.spki_der.hash(state)
    }
}

impl std::fmt::Debug for EcdsaPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EcdsaPublicKey({})", hex::encode(&self.spki_der))
    }
}
