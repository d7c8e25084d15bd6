//! The discv5 "v4" handshake cryptography: ECDH, HKDF session keys, the ID-nonce
//! signature, and AES-128-GCM message sealing.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Nonce};
use hkdf::Hkdf;
use k256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use k256::ecdsa::{Signature, SigningKey, VerifyingKey};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use k256::{PublicKey, SecretKey};
use sha2::{Digest, Sha256};

use crate::node_id::NodeId;

/// Prefix of the ID-signature input.
const ID_SIGNATURE_TEXT: &[u8] = b"discovery v5 identity proof";
/// Prefix of the HKDF info.
const KDF_INFO_TEXT: &[u8] = b"discovery v5 key agreement";

/// Length of a compressed secp256k1 public key (the ephemeral key in a handshake).
pub const PUBLIC_KEY_SIZE: usize = 33;
/// Length of a "v4" ID signature (`r || s`).
pub const SIGNATURE_SIZE: usize = 64;
/// Length of an AES-GCM tag appended to every message.
pub const TAG_SIZE: usize = 16;

/// An AES-128 session key.
pub type Key = [u8; 16];

/// Failures of the handshake cryptography.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A public key is not a valid compressed secp256k1 point.
    #[error("invalid secp256k1 public key")]
    InvalidPublicKey,
    /// A secret key is zero or out of range.
    #[error("invalid secp256k1 secret key")]
    InvalidSecretKey,
    /// Signing failed (never for valid keys).
    #[error("signing failed")]
    SigningFailed,
    /// The ID signature does not verify.
    #[error("ID signature does not verify")]
    BadIdSignature,
    /// AES-GCM authentication failed.
    #[error("message authentication failed")]
    DecryptionFailed,
}

/// ECDH as discv5 defines it: the compressed encoding (33 bytes, `02/03 || x`) of
/// `public_key * secret_key`.
pub fn ecdh(public_key: &[u8], secret_key: &[u8; 32]) -> Result<[u8; 33], CryptoError> {
    let public =
        PublicKey::from_sec1_bytes(public_key).map_err(|_| CryptoError::InvalidPublicKey)?;
    let secret = SecretKey::from_slice(secret_key).map_err(|_| CryptoError::InvalidSecretKey)?;
    let shared = (public.to_projective() * *secret.to_nonzero_scalar()).to_affine();
    let encoded = shared.to_encoded_point(true);
    encoded
        .as_bytes()
        .try_into()
        .map_err(|_| CryptoError::InvalidPublicKey)
}

/// The two session keys a handshake derives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SessionKeys {
    /// Key of messages sent by the handshake initiator (node A).
    pub initiator_key: Key,
    /// Key of messages sent by the recipient (node B).
    pub recipient_key: Key,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKeys(..)")
    }
}

/// HKDF-SHA256 key derivation: salt `challenge_data`, IKM the ECDH `secret`, info
/// `"discovery v5 key agreement" || node-id-A || node-id-B`, 32 bytes of output.
pub fn derive_keys(
    secret: &[u8; 33],
    initiator: &NodeId,
    recipient: &NodeId,
    challenge_data: &[u8],
) -> SessionKeys {
    let mut info = Vec::with_capacity(KDF_INFO_TEXT.len() + 64);
    info.extend_from_slice(KDF_INFO_TEXT);
    info.extend_from_slice(initiator.as_bytes());
    info.extend_from_slice(recipient.as_bytes());
    let hk = Hkdf::<Sha256>::new(Some(challenge_data), secret);
    let mut okm = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 8,160-byte limit: `expand` cannot fail here.
    let _ = hk.expand(&info, &mut okm);
    let mut keys = SessionKeys {
        initiator_key: [0; 16],
        recipient_key: [0; 16],
    };
    keys.initiator_key.copy_from_slice(&okm[..16]);
    keys.recipient_key.copy_from_slice(&okm[16..]);
    keys
}

/// `sha256("discovery v5 identity proof" || challenge-data || ephemeral-pubkey || node-id-B)`.
fn id_signature_digest(challenge_data: &[u8], ephemeral_pubkey: &[u8], dest: &NodeId) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(ID_SIGNATURE_TEXT);
    hasher.update(challenge_data);
    hasher.update(ephemeral_pubkey);
    hasher.update(dest.as_bytes());
    hasher.finalize().into()
}

/// Signs the ID-nonce proof with the node's static key (64-byte `r || s`, low `s`).
pub fn sign_id_nonce(
    key: &SigningKey,
    challenge_data: &[u8],
    ephemeral_pubkey: &[u8],
    dest: &NodeId,
) -> Result<[u8; 64], CryptoError> {
    let digest = id_signature_digest(challenge_data, ephemeral_pubkey, dest);
    let sig: Signature = key
        .sign_prehash(&digest)
        .map_err(|_| CryptoError::SigningFailed)?;
    let sig = sig.normalize_s().unwrap_or(sig);
    Ok(sig.to_bytes().into())
}

/// Verifies an ID-nonce proof made by the holder of `key` for `dest` (ourselves).
pub fn verify_id_nonce(
    key: &VerifyingKey,
    signature: &[u8],
    challenge_data: &[u8],
    ephemeral_pubkey: &[u8],
    dest: &NodeId,
) -> Result<(), CryptoError> {
    let sig = Signature::from_slice(signature).map_err(|_| CryptoError::BadIdSignature)?;
    let digest = id_signature_digest(challenge_data, ephemeral_pubkey, dest);
    key.verify_prehash(&digest, &sig)
        .map_err(|_| CryptoError::BadIdSignature)
}

/// A fresh ephemeral key pair from `secret` (32 random bytes): returns the secret and the
/// compressed public key, or `None` if the bytes are not a valid scalar (retry).
pub fn ephemeral_keypair(secret: [u8; 32]) -> Option<([u8; 32], [u8; 33])> {
    let sk = SecretKey::from_slice(&secret).ok()?;
    let pk = sk.public_key().to_encoded_point(true);
    let pk: [u8; 33] = pk.as_bytes().try_into().ok()?;
    Some((secret, pk))
}

/// AES-128-GCM encryption of `plaintext` with additional data `aad`; the tag is appended.
pub fn encrypt_message(key: &Key, nonce: &[u8; 12], plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
    let cipher = Aes128Gcm::new(key.into());
    // Encryption only fails for plaintexts beyond 64 GiB.
    cipher
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default()
}

/// AES-128-GCM decryption and authentication.
pub fn decrypt_message(
    key: &Key,
    nonce: &[u8; 12],
    ciphertext: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes128Gcm::new(key.into());
    cipher
        .decrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::DecryptionFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }
    fn h32(s: &str) -> [u8; 32] {
        h(s).try_into().unwrap()
    }

    const CHALLENGE: &str = "000000000000000000000000000000006469736376350001010102030405060708090a0b0c00180102030405060708090a0b0c0d0e0f100000000000000000";
    const NODE_A: &str = "aaaa8419e9f49d0083561b48287df592939a8d19947d8c0ef88f2a4856a69fbb";
    const NODE_B: &str = "bbbb9d047f0488c0b5a93c1c3f2d8bafc7c8ff337024a55434a0d0555de64db9";

    #[test]
    fn vector_ecdh() {
        let shared = ecdh(
            &h("039961e4c2356d61bedb83052c115d311acb3a96f5777296dcf297351130266231"),
            &h32("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736"),
        )
        .unwrap();
        assert_eq!(
            shared.to_vec(),
            h("033b11a2a1f214567e1537ce5e509ffd9b21373247f2a3ff6841f4976f53165e7e")
        );
    }

    #[test]
    fn vector_key_derivation() {
        let secret = ecdh(
            &h("0317931e6e0840220642f230037d285d122bc59063221ef3226b1f403ddc69ca91"),
            &h32("fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736"),
        )
        .unwrap();
        let keys = derive_keys(
            &secret,
            &NodeId(h32(NODE_A)),
            &NodeId(h32(NODE_B)),
            &h(CHALLENGE),
        );
        assert_eq!(
            keys.initiator_key.to_vec(),
            h("dccc82d81bd610f4f76d3ebe97a40571")
        );
        assert_eq!(
            keys.recipient_key.to_vec(),
            h("ac74bb8773749920b0d3a8881c173ec5")
        );
    }

    #[test]
    fn vector_id_nonce_signing() {
        let key = SigningKey::from_slice(&h(
            "fb757dc581730490a1d7a00deea65e9b1936924caaea8f44d476014856b68736",
        ))
        .unwrap();
        let eph = h("039961e4c2356d61bedb83052c115d311acb3a96f5777296dcf297351130266231");
        let dest = NodeId(h32(NODE_B));
        let sig = sign_id_nonce(&key, &h(CHALLENGE), &eph, &dest).unwrap();
        let expected = h("94852a1e2318c4e5e9d422c98eaf19d1d90d876b29cd06ca7cb7546d0fff7b484fe86c09a064fe72bdbef73ba8e9c34df0cd2b53e9d65528c2c7f336d5dfc6e6");
        assert_eq!(sig.to_vec(), expected);
        verify_id_nonce(key.verifying_key(), &expected, &h(CHALLENGE), &eph, &dest).unwrap();
        // Any other destination fails.
        assert_eq!(
            verify_id_nonce(
                key.verifying_key(),
                &expected,
                &h(CHALLENGE),
                &eph,
                &NodeId(h32(NODE_A))
            ),
            Err(CryptoError::BadIdSignature)
        );
    }

    #[test]
    fn vector_aes_gcm() {
        let key: Key = h("9f2d77db7004bf8a1a85107ac686990b").try_into().unwrap();
        let nonce: [u8; 12] = h("27b5af763c446acd2749fe8e").try_into().unwrap();
        let ad = h("93a7400fa0d6a694ebc24d5cf570f65d04215b6ac00757875e3f3a5f42107903");
        let ct = encrypt_message(&key, &nonce, &h("01c20101"), &ad);
        assert_eq!(ct, h("a5d12a2d94b8ccb3ba55558229867dc13bfa3648"));
        assert_eq!(
            decrypt_message(&key, &nonce, &ct, &ad).unwrap(),
            h("01c20101")
        );
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert_eq!(
            decrypt_message(&key, &nonce, &bad, &ad),
            Err(CryptoError::DecryptionFailed)
        );
    }

    #[test]
    fn bad_keys_are_errors() {
        assert_eq!(
            ecdh(&[5u8; 33], &[1u8; 32]).err(),
            Some(CryptoError::InvalidPublicKey)
        );
        assert!(ephemeral_keypair([0u8; 32]).is_none());
    }
}
