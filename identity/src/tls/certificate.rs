//! Building our libp2p TLS certificate.
//!
//! The certificate is self-signed with a fresh ECDSA P-256 key (unrelated to the host key)
//! and carries the libp2p extension: a DER `SignedKey` with our host public key and the
//! host-key signature over `"libp2p-tls-handshake:" ‖ SubjectPublicKeyInfo(cert key)`.

use der::asn1::OctetStringRef;
use der::{Decode, DecodeValue, Encode, EncodeValue, Header, Length, Reader, Sequence, Writer};
use p256::pkcs8::EncodePrivateKey;
use rand_core::CryptoRngCore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::error::CertificateError;
use super::SIGNING_PREFIX;
use crate::Keypair;

/// Length of the random certificate serial number, in bytes.
const SERIAL_LEN: usize = 8;

/// The DER value of the libp2p extension:
///
/// ```text
/// SignedKey ::= SEQUENCE { publicKey OCTET STRING, signature OCTET STRING }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignedKey<'a> {
    /// The host `PublicKey` protobuf.
    pub(crate) public_key: &'a [u8],
    /// Host-key signature over `"libp2p-tls-handshake:" ‖ SPKI`.
    pub(crate) signature: &'a [u8],
}

impl<'a> DecodeValue<'a> for SignedKey<'a> {
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        reader.read_nested(header.length, |reader| {
            let public_key = OctetStringRef::decode(reader)?;
            let signature = OctetStringRef::decode(reader)?;
            Ok(SignedKey {
                public_key: public_key.as_bytes(),
                signature: signature.as_bytes(),
            })
        })
    }
}

impl EncodeValue for SignedKey<'_> {
    fn value_len(&self) -> der::Result<Length> {
        OctetStringRef::new(self.public_key)?.encoded_len()?
            + OctetStringRef::new(self.signature)?.encoded_len()?
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        OctetStringRef::new(self.public_key)?.encode(writer)?;
        OctetStringRef::new(self.signature)?.encode(writer)
    }
}

impl<'a> Sequence<'a> for SignedKey<'a> {}

impl<'a> SignedKey<'a> {
    /// Decodes strict DER; trailing bytes are an error.
    pub(crate) fn decode_der(bytes: &'a [u8]) -> Result<Self, CertificateError> {
        Self::from_der(bytes).map_err(|_| CertificateError::MalformedSignedKey)
    }

    /// Encodes as DER.
    pub(crate) fn encode_der(&self) -> Result<Vec<u8>, CertificateError> {
        self.to_der()
            .map_err(|e| CertificateError::Generation(e.to_string()))
    }
}

/// Builds our libp2p TLS certificate and its private key.
///
/// * The certificate key is a fresh ECDSA P-256 key drawn from `rng`; the serial number
///   comes from `rng` too. The host `keypair` signs the libp2p extension (deterministic
///   RFC 6979 ECDSA, so no randomness there).
/// * ring signs the certificate itself with the P-256 key and draws that ECDSA nonce
///   from its own system randomness; the same holds for the TLS key shares and the
///   CertificateVerify signature rustls makes with this key during handshakes. That
///   randomness lives inside the crypto provider; everything leanp2p chooses comes from
///   `rng`.
/// * Validity is 1975-01-01 to 4096-01-01 (UTC), issuer and subject are empty, and the
///   libp2p extension is marked critical, as rust-libp2p does.
///
/// Returns the certificate DER and the PKCS#8 DER of the certificate key, ready for rustls.
pub fn generate_certificate(
    keypair: &Keypair,
    rng: &mut impl CryptoRngCore,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), CertificateError> {
    let generation = |e: &dyn std::fmt::Display| CertificateError::Generation(e.to_string());

    let cert_secret = p256::SecretKey::random(rng);
    let pkcs8 = cert_secret.to_pkcs8_der().map_err(|e| generation(&e))?;
    let pkcs8_key = PrivatePkcs8KeyDer::from(pkcs8.as_bytes());
    let cert_key =
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8_key, &rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| generation(&e))?;

    let spki = cert_key.public_key_der();
    let mut signed_message = Vec::with_capacity(SIGNING_PREFIX.len() + spki.len());
    signed_message.extend_from_slice(SIGNING_PREFIX);
    signed_message.extend_from_slice(&spki);
    let host_public_key = keypair.public().encode_protobuf();
    let host_signature = keypair.sign(&signed_message);
    let extension_value = SignedKey {
        public_key: &host_public_key,
        signature: &host_signature,
    }
    .encode_der()?;

    let mut extension =
        rcgen::CustomExtension::from_oid_content(LIBP2P_EXTENSION_OID_ARCS, extension_value);
    extension.set_criticality(true);

    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.custom_extensions = vec![extension];
    params.serial_number = Some(random_serial(rng));

    let certificate = params.self_signed(&cert_key).map_err(|e| generation(&e))?;
    Ok((
        certificate.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec())),
    ))
}

/// The libp2p extension OID as arcs, for rcgen.
const LIBP2P_EXTENSION_OID_ARCS: &[u64] = &[1, 3, 6, 1, 4, 1, 53594, 1, 1];

/// A positive, non-zero serial number of [`SERIAL_LEN`] random bytes.
fn random_serial(rng: &mut impl CryptoRngCore) -> rcgen::SerialNumber {
    let mut serial = [0u8; SERIAL_LEN];
    rng.fill_bytes(&mut serial);
    serial[0] &= 0x7f; // positive without a leading zero byte
    serial[0] |= 0x01; // never zero, and the first byte is never a redundant 0x00
    rcgen::SerialNumber::from_slice(&serial)
}
