//! secp256k1: the host key of Ethereum nodes.

use k256::ecdsa::signature::{Signer, Verifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::proto::{self, KeyType};
use super::PublicKey;
use crate::error::{DecodingError, SecretKeyError};
use crate::PeerId;

/// A secp256k1 host keypair.
///
/// Signatures follow libp2p: ECDSA over SHA-256(msg) with an RFC 6979 nonce, DER-encoded,
/// always low-S. The secret scalar is zeroized on drop (k256 does this).
#[derive(Clone)]
pub struct Keypair {
    secret: SigningKey,
    public: Secp256k1PublicKey,
}

impl Keypair {
    /// Builds a keypair from a 32-byte big-endian secret scalar. Zero and values ≥ the
    /// curve order are rejected.
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Result<Self, SecretKeyError> {
        let secret =
            SigningKey::from_bytes(secret.into()).map_err(|_| SecretKeyError::OutOfRange)?;
        Ok(Self::from_signing_key(secret))
    }

    /// Generates a fresh keypair from a caller-provided cryptographic RNG. The library
    /// never draws randomness on its own; pass `rand_core::OsRng` (or a seeded RNG in tests).
    pub fn generate<R: CryptoRngCore>(rng: &mut R) -> Self {
        Self::from_signing_key(SigningKey::random(rng))
    }

    fn from_signing_key(secret: SigningKey) -> Self {
        let public = Secp256k1PublicKey(*secret.verifying_key());
        Self { secret, public }
    }

    /// The 32-byte big-endian secret scalar (wrapped so it is wiped when dropped).
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes().into())
    }

    /// The secp256k1 public key.
    pub fn secp256k1_public(&self) -> &Secp256k1PublicKey {
        &self.public
    }

    /// The public key as a libp2p [`PublicKey`].
    pub fn public(&self) -> PublicKey {
        PublicKey::Secp256k1(self.public.clone())
    }

    /// This key's PeerId (always starts with `16Uiu2HA` in text form).
    pub fn peer_id(&self) -> PeerId {
        PeerId::from_public_key(&self.public())
    }

    /// libp2p signature of `msg`: DER ECDSA over SHA-256(msg), low-S.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let sig: Signature = self.secret.sign(msg);
        // k256 always produces low-S; normalisation is a no-op kept for clarity.
        let sig = sig.normalize_s().unwrap_or(sig);
        sig.to_der().as_bytes().to_vec()
    }

    /// The underlying k256 signing key, for callers that need raw ECDSA (e.g. ENR).
    pub fn signing_key(&self) -> &SigningKey {
        &self.secret
    }

    /// Canonical libp2p `PrivateKey` protobuf (`08 02 12 20 <scalar>`).
    pub fn to_protobuf_encoding(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(proto::encode_private(
            KeyType::Secp256k1,
            self.secret_bytes().as_slice(),
        ))
    }

    /// Decodes a libp2p `PrivateKey` protobuf holding a secp256k1 key.
    pub fn from_protobuf_encoding(bytes: &[u8]) -> Result<Self, DecodingError> {
        let (key_type, data) = proto::decode_private(bytes)?;
        if key_type != KeyType::Secp256k1 {
            return Err(DecodingError::UnsupportedKeyType(key_type as i32));
        }
        let secret: &[u8; 32] =
            data.as_slice()
                .try_into()
                .map_err(|_| DecodingError::InvalidLength {
                    expected: 32,
                    actual: data.len(),
                })?;
        Self::from_secret_bytes(secret).map_err(|_| DecodingError::InvalidKey)
    }
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keypair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// A secp256k1 public key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secp256k1PublicKey(VerifyingKey);

impl Secp256k1PublicKey {
    /// Parses the 33-byte SEC1 compressed point (`02`/`03` ‖ X), the only form libp2p key
    /// protobufs and ENRs carry. Other SEC1 forms are rejected so that a key always
    /// re-encodes to the bytes it was decoded from (PeerIds hash those bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodingError> {
        if bytes.len() != 33 {
            return Err(DecodingError::InvalidLength {
                expected: 33,
                actual: bytes.len(),
            });
        }
        if !matches!(bytes.first(), Some(0x02 | 0x03)) {
            return Err(DecodingError::InvalidKey);
        }
        VerifyingKey::from_sec1_bytes(bytes)
            .map(Self)
            .map_err(|_| DecodingError::InvalidKey)
    }

    /// The 33-byte SEC1 compressed point (`02`/`03` ‖ X).
    pub fn to_bytes(&self) -> [u8; 33] {
        let point = self.0.to_encoded_point(true);
        let mut out = [0u8; 33];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// The 65-byte SEC1 uncompressed point (`04` ‖ X ‖ Y).
    pub fn to_uncompressed_bytes(&self) -> [u8; 65] {
        let point = self.0.to_encoded_point(false);
        let mut out = [0u8; 65];
        out.copy_from_slice(point.as_bytes());
        out
    }

    /// Verifies a DER ECDSA signature over SHA-256(msg). High-S signatures are rejected,
    /// as rust-libp2p's k256 verifier does.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_der(signature) else {
            return false;
        };
        if sig.normalize_s().is_some() {
            // normalize_s returns Some only when S was high: non-canonical.
            return false;
        }
        self.0.verify(msg, &sig).is_ok()
    }

    /// The underlying k256 verifying key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl std::hash::Hash for Secp256k1PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.to_bytes().hash(state)
    }
}

impl std::fmt::Debug for Secp256k1PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secp256k1PublicKey({})", hex::encode(self.to_bytes()))
    }
}
