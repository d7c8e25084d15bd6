//! Parsing and verifying a peer's libp2p TLS certificate (libp2p TLS spec, "Peer
//! Authentication"), and the signature checks rustls delegates to us.

use std::time::{SystemTime, UNIX_EPOCH};

use der::asn1::{AnyRef, BitStringRef};
use der::{Decode, Reader, SliceReader, Tag, Tagged};
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use rustls::pki_types::CertificateDer;
use rustls::SignatureScheme;
use x509_parser::asn1_rs::Oid;
use x509_parser::certificate::{X509Certificate, X509CertificateParser};
use x509_parser::nom::Parser;
use x509_parser::signature_algorithm::RsaSsaPssParams;
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use super::certificate::SignedKey;
use super::error::CertificateError;
use super::{LIBP2P_EXTENSION_OID, MAX_CERTIFICATE_LEN, SIGNING_PREFIX};
use crate::{PeerId, PublicKey};

// DER contents (without tag and length) of the object identifiers we recognise.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_CURVE_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_CURVE_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
const OID_RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
const OID_RSA_PKCS1_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_RSA_PKCS1_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const OID_RSA_PKCS1_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const OID_MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

/// Signature schemes we accept for the TLS 1.3 CertificateVerify, most preferred first.
pub(crate) const SUPPORTED_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA256,
    SignatureScheme::RSA_PKCS1_SHA512,
    SignatureScheme::RSA_PKCS1_SHA384,
    SignatureScheme::RSA_PKCS1_SHA256,
];

/// Whether [`Libp2pCertificate::parse_inner`] verifies the self-signature and the
/// libp2p extension signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureChecks {
    /// Verify both (every externally reachable path).
    Verify,
    /// Skip both: only for a certificate verified earlier in the same handshake.
    AlreadyVerified,
}

/// The kind of key in the certificate's SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CertKeyKind {
    P256,
    P384,
    Ed25519,
    Rsa,
}

/// A parsed libp2p TLS certificate whose structure, self-signature and libp2p extension
/// have been verified (but not its validity window: see [`Libp2pCertificate::check_validity_at`]).
///
/// Borrows the DER bytes it was parsed from.
#[derive(Debug)]
pub struct Libp2pCertificate<'a> {
    x509: X509Certificate<'a>,
    key_kind: CertKeyKind,
    host_key: PublicKey,
    peer_id: PeerId,
}

impl<'a> Libp2pCertificate<'a> {
    /// Parses `der` and runs every check of the libp2p TLS spec except the validity window:
    /// at most [`MAX_CERTIFICATE_LEN`] bytes, strict DER framing of the unsigned outer layer
    /// with nothing trailing, X.509 v3, no unique ids, exactly one libp2p
    /// extension and no other critical extension, a supported (key, signature algorithm)
    /// pair, a valid self-signature, and a valid host-key signature over
    /// `"libp2p-tls-handshake:" ‖ SubjectPublicKeyInfo`.
    pub fn parse(der: &'a [u8]) -> Result<Self, CertificateError> {
        Self::parse_inner(der, SignatureChecks::Verify)
    }

    /// [`Self::parse`], optionally without the two signature checks: for a certificate
    /// that already passed them in this handshake (rustls only asks for the
    /// CertificateVerify check after the certificate verifier accepted the certificate).
    pub(crate) fn parse_inner(
        der: &'a [u8],
        checks: SignatureChecks,
    ) -> Result<Self, CertificateError> {
        if der.len() > MAX_CERTIFICATE_LEN {
            return Err(CertificateError::TooLarge(der.len()));
        }
        check_outer_framing(der)?;
        let (rest, x509) = X509CertificateParser::new()
            .with_deep_parse_extensions(false)
            .parse(der)
            .map_err(|e| CertificateError::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertificateError::Malformed(format!(
                "{} bytes after the certificate",
                rest.len()
            )));
        }
        // X509Version(2) is v3.
        if x509.tbs_certificate.version.0 != 2 {
            return Err(CertificateError::NotVersion3);
        }
        if x509.tbs_certificate.issuer_uid.is_some() || x509.tbs_certificate.subject_uid.is_some() {
            return Err(CertificateError::UniqueIdPresent);
        }
        if x509.tbs_certificate.signature != x509.signature_algorithm {
            return Err(CertificateError::SignatureAlgorithmMismatch);
        }

        let signed_key_der = libp2p_extension_value(&x509)?;
        let key_kind = cert_key_kind(x509.public_key())?;
        let self_algorithm = self_signature_algorithm(key_kind, &x509.signature_algorithm)?;
        let spki = x509.public_key();
        // Unused bits in the key's BIT STRING never occur for the supported key types.
        if spki.subject_public_key.unused_bits != 0 || x509.signature_value.unused_bits != 0 {
            return Err(CertificateError::Malformed(
                "BIT STRING with unused bits".into(),
            ));
        }
        let signed_key = SignedKey::decode_der(signed_key_der)?;
        let host_key = PublicKey::decode_protobuf(signed_key.public_key)?;

        if checks == SignatureChecks::Verify {
            UnparsedPublicKey::new(self_algorithm, spki.subject_public_key.data.as_ref())
                .verify(
                    x509.tbs_certificate.as_ref(),
                    x509.signature_value.data.as_ref(),
                )
                .map_err(|_| CertificateError::SelfSignatureInvalid)?;
            let mut message = Vec::with_capacity(SIGNING_PREFIX.len() + spki.raw.len());
            message.extend_from_slice(SIGNING_PREFIX);
            message.extend_from_slice(spki.raw);
            if !host_key.verify(&message, signed_key.signature) {
                return Err(CertificateError::ExtensionSignatureInvalid);
            }
        }
        let peer_id = host_key.to_peer_id();
        Ok(Self {
            x509,
            key_kind,
            host_key,
            peer_id,
        })
    }

    /// The PeerId this certificate proves.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The host public key from the libp2p extension.
    pub fn host_public_key(&self) -> &PublicKey {
        &self.host_key
    }

    /// `notBefore` and `notAfter`, in seconds since the Unix epoch.
    pub fn validity_unix(&self) -> (i64, i64) {
        let validity = &self.x509.tbs_certificate.validity;
        (
            validity.not_before.timestamp(),
            validity.not_after.timestamp(),
        )
    }

    /// Checks `notBefore ≤ now ≤ notAfter`, `now` in seconds since the Unix epoch.
    /// Two-digit UTCTime years are read as RFC 5280 says (50–99 → 19YY, 00–49 → 20YY).
    pub fn check_validity_at(&self, now_unix: i64) -> Result<(), CertificateError> {
        let (not_before, not_after) = self.validity_unix();
        if now_unix < not_before {
            return Err(CertificateError::NotYetValid {
                not_before,
                now: now_unix,
            });
        }
        if now_unix > not_after {
            return Err(CertificateError::Expired {
                not_after,
                now: now_unix,
            });
        }
        Ok(())
    }

    /// Verifies a TLS 1.3 handshake signature (CertificateVerify) made with the
    /// certificate key. `scheme` must be one the certificate key can produce: ECDSA with
    /// the key's own curve and hash, Ed25519, or RSA-PSS for RSA keys.
    pub fn verify_handshake_signature(
        &self,
        scheme: SignatureScheme,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), CertificateError> {
        let algorithm: &'static dyn VerificationAlgorithm = match (self.key_kind, scheme) {
            (CertKeyKind::P256, SignatureScheme::ECDSA_NISTP256_SHA256) => {
                &signature::ECDSA_P256_SHA256_ASN1
            }
            (CertKeyKind::P384, SignatureScheme::ECDSA_NISTP384_SHA384) => {
                &signature::ECDSA_P384_SHA384_ASN1
            }
            (CertKeyKind::Ed25519, SignatureScheme::ED25519) => &signature::ED25519,
            (CertKeyKind::Rsa, SignatureScheme::RSA_PSS_SHA256) => {
                &signature::RSA_PSS_2048_8192_SHA256
            }
            (CertKeyKind::Rsa, SignatureScheme::RSA_PSS_SHA384) => {
                &signature::RSA_PSS_2048_8192_SHA384
            }
            (CertKeyKind::Rsa, SignatureScheme::RSA_PSS_SHA512) => {
                &signature::RSA_PSS_2048_8192_SHA512
            }
            _ => {
                return Err(CertificateError::HandshakeSchemeMismatch(format!(
                    "{scheme:?}"
                )))
            }
        };
        UnparsedPublicKey::new(
            algorithm,
            self.x509.public_key().subject_public_key.data.as_ref(),
        )
        .verify(message, signature)
        .map_err(|_| CertificateError::HandshakeSignatureInvalid)
    }
}

/// Parses and fully verifies a peer's certificate at time `now` and returns its PeerId.
///
/// This is [`Libp2pCertificate::parse`] plus the validity-window check. A `now` before
/// the Unix epoch is treated as negative seconds.
pub fn verify_certificate(cert_der: &[u8], now: SystemTime) -> Result<PeerId, CertificateError> {
    verify_certificate_at_unix(cert_der, unix_seconds(now))
}

/// [`verify_certificate`] with `now` given in seconds since the Unix epoch.
pub fn verify_certificate_at_unix(
    cert_der: &[u8],
    now_unix: i64,
) -> Result<PeerId, CertificateError> {
    let certificate = Libp2pCertificate::parse(cert_der)?;
    certificate.check_validity_at(now_unix)?;
    Ok(certificate.peer_id())
}

/// After a handshake: the peer's certificates as the TLS session reports them (e.g.
/// quinn-proto's `peer_identity()`) → the verified PeerId.
///
/// Requires exactly one certificate and re-runs [`Libp2pCertificate::parse`]. The validity
/// window is not re-checked: the handshake verifier already checked it with rustls' clock.
pub fn peer_id_from_certificates(certs: &[CertificateDer<'_>]) -> Result<PeerId, CertificateError> {
    match certs {
        [] => Err(CertificateError::NoCertificate),
        [single] => Ok(Libp2pCertificate::parse(single.as_ref())?.peer_id()),
        chain => Err(CertificateError::ChainNotAllowed(chain.len())),
    }
}

/// Seconds since the Unix epoch (negative before it, saturating far outside `i64`).
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Strict DER check of the unsigned outer layer, which x509-parser reads leniently:
/// `Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }`
/// with canonical lengths, nothing trailing, and `signatureAlgorithm` byte-identical to
/// the `signature` field inside the (signed) TBS certificate. Without this, bytes outside
/// the signed part could be altered without the certificate being rejected.
fn check_outer_framing(der: &[u8]) -> Result<(), CertificateError> {
    fn framing(der: &[u8]) -> der::Result<bool> {
        let mut reader = SliceReader::new(der)?;
        let (tbs, outer_algorithm) = reader.sequence(|outer| {
            let tbs = AnyRef::decode(outer)?;
            let algorithm = AnyRef::decode(outer)?;
            BitStringRef::decode(outer)?;
            Ok((tbs, algorithm))
        })?;
        reader.finish(())?;
        if tbs.tag() != Tag::Sequence || outer_algorithm.tag() != Tag::Sequence {
            return Ok(false);
        }
        // TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, ... }
        let mut fields = SliceReader::new(tbs.value())?;
        let mut field = AnyRef::decode(&mut fields)?;
        if field.tag().is_context_specific() {
            field = AnyRef::decode(&mut fields)?; // the serial number
        }
        if field.tag() != Tag::Integer {
            return Ok(false);
        }
        let inner_algorithm = AnyRef::decode(&mut fields)?;
        Ok(inner_algorithm == outer_algorithm)
    }
    match framing(der) {
        Ok(true) => Ok(()),
        Ok(false) => Err(CertificateError::SignatureAlgorithmMismatch),
        Err(e) => Err(CertificateError::Malformed(e.to_string())),
    }
}

/// The value of the single libp2p extension. Rejects a missing or repeated libp2p
/// extension, any repeated extension, and any other critical extension.
fn libp2p_extension_value<'a>(x509: &X509Certificate<'a>) -> Result<&'a [u8], CertificateError> {
    let extensions = x509.extensions();
    let mut oids: Vec<&[u8]> = extensions.iter().map(|ext| ext.oid.as_bytes()).collect();
    oids.sort_unstable();
    if let Some(pair) = oids.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(CertificateError::DuplicateExtension(oid_text(pair[0])));
    }
    let mut value = None;
    for extension in extensions {
        if extension.oid.as_bytes() == LIBP2P_EXTENSION_OID {
            // The libp2p extension may or may not be marked critical.
            value = Some(extension.value);
        } else if extension.critical {
            return Err(CertificateError::UnsupportedCriticalExtension(
                extension.oid.to_id_string(),
            ));
        }
    }
    value.ok_or(CertificateError::MissingExtension)
}

/// Dotted text of a DER OID body, for error messages.
fn oid_text(der_body: &[u8]) -> String {
    Oid::new(der_body.into()).to_id_string()
}

/// Largest RSA certificate key accepted (ring itself goes up to 8192 bits).
pub(crate) const MAX_RSA_KEY_BITS: usize = 4096;

/// Classifies the certificate key; unsupported keys (P-521, Ed448, DSA, ...) are rejected.
fn cert_key_kind(spki: &SubjectPublicKeyInfo<'_>) -> Result<CertKeyKind, CertificateError> {
    let algorithm = spki.algorithm.algorithm.as_bytes();
    if algorithm == OID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|params| Oid::try_from(params).ok())
            .ok_or(CertificateError::UnsupportedSignatureScheme(
                "EC key without a named curve",
            ))?;
        match curve.as_bytes() {
            OID_CURVE_P256 => Ok(CertKeyKind::P256),
            OID_CURVE_P384 => Ok(CertKeyKind::P384),
            _ => Err(CertificateError::UnsupportedSignatureScheme(
                "EC curve other than P-256/P-384",
            )),
        }
    } else if algorithm == OID_ED25519 {
        Ok(CertKeyKind::Ed25519)
    } else if algorithm == OID_RSA_ENCRYPTION {
        // ring verifies RSA keys up to 8192 bits; a peer choosing the largest key makes
        // every handshake cost it little and us a lot. rust-libp2p's peers use 2048.
        let bits = match spki.parsed() {
            Ok(x509_parser::public_key::PublicKey::RSA(key)) => key.key_size(),
            _ => {
                return Err(CertificateError::UnsupportedSignatureScheme(
                    "malformed RSA public key",
                ))
            }
        };
        if bits > MAX_RSA_KEY_BITS {
            return Err(CertificateError::UnsupportedSignatureScheme(
                "RSA key larger than 4096 bits",
            ));
        }
        Ok(CertKeyKind::Rsa)
    } else {
        Err(CertificateError::UnsupportedSignatureScheme(
            "certificate key algorithm",
        ))
    }
}

/// The ring algorithm that verifies the certificate's self-signature, given the key kind
/// and the certificate's signature algorithm. Mismatched pairs (P-384 with SHA-256, ...),
/// SHA-1 and unknown algorithms are rejected.
fn self_signature_algorithm(
    key_kind: CertKeyKind,
    algorithm: &AlgorithmIdentifier<'_>,
) -> Result<&'static dyn VerificationAlgorithm, CertificateError> {
    let oid = algorithm.algorithm.as_bytes();
    let unsupported = CertificateError::UnsupportedSignatureScheme;
    match key_kind {
        CertKeyKind::P256 if oid == OID_ECDSA_SHA256 => Ok(&signature::ECDSA_P256_SHA256_ASN1),
        CertKeyKind::P384 if oid == OID_ECDSA_SHA384 => Ok(&signature::ECDSA_P384_SHA384_ASN1),
        CertKeyKind::P256 | CertKeyKind::P384 => Err(unsupported(
            "ECDSA signature hash does not match the key's curve",
        )),
        CertKeyKind::Ed25519 if oid == OID_ED25519 => Ok(&signature::ED25519),
        CertKeyKind::Ed25519 => Err(unsupported("Ed25519 key with a non-Ed25519 signature")),
        CertKeyKind::Rsa => match oid {
            OID_RSA_PKCS1_SHA256 => Ok(&signature::RSA_PKCS1_2048_8192_SHA256),
            OID_RSA_PKCS1_SHA384 => Ok(&signature::RSA_PKCS1_2048_8192_SHA384),
            OID_RSA_PKCS1_SHA512 => Ok(&signature::RSA_PKCS1_2048_8192_SHA512),
            OID_RSA_PSS => rsa_pss_algorithm(algorithm),
            _ => Err(unsupported("RSA signature algorithm")),
        },
    }
}

/// RSA-PSS: the parameters must name SHA-256/384/512, MGF1 with the same hash, a salt as
/// long as the hash and the standard trailer, which is what ring verifies.
fn rsa_pss_algorithm(
    algorithm: &AlgorithmIdentifier<'_>,
) -> Result<&'static dyn VerificationAlgorithm, CertificateError> {
    let bad = CertificateError::UnsupportedSignatureScheme("RSA-PSS parameters");
    let params = algorithm.parameters.as_ref().ok_or(bad.clone())?;
    let params = RsaSsaPssParams::try_from(params).map_err(|_| bad.clone())?;
    let hash = params.hash_algorithm_oid().as_bytes();
    let mask = params.mask_gen_algorithm().map_err(|_| bad.clone())?;
    if mask.mgf.as_bytes() != OID_MGF1
        || mask.hash.as_bytes() != hash
        || params.trailer_field() != 1
    {
        return Err(bad);
    }
    let (algorithm, salt_len): (&'static dyn VerificationAlgorithm, u32) = match hash {
        OID_SHA256 => (&signature::RSA_PSS_2048_8192_SHA256, 32),
        OID_SHA384 => (&signature::RSA_PSS_2048_8192_SHA384, 48),
        OID_SHA512 => (&signature::RSA_PSS_2048_8192_SHA512, 64),
        _ => return Err(bad),
    };
    if params.salt_length() != salt_len {
        return Err(bad);
    }
    Ok(algorithm)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DER of an RSA SubjectPublicKeyInfo with a `bits`-bit modulus.
    fn rsa_spki(bits: usize) -> Vec<u8> {
        fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            match body.len() {
                n if n < 0x80 => out.push(n as u8),
                n if n < 0x100 => out.extend([0x81, n as u8]),
                n => out.extend([0x82, (n >> 8) as u8, n as u8]),
            }
            out.extend_from_slice(body);
            out
        }
        let mut modulus = vec![0u8];
        modulus.push(0x80);
        modulus.extend(std::iter::repeat_n(0x5a, bits / 8 - 1));
        let mut rsa_key = tlv(0x02, &modulus);
        rsa_key.extend(tlv(0x02, &[0x01, 0x00, 0x01]));
        let rsa_key = tlv(0x30, &rsa_key);
        let mut bit_string = vec![0u8];
        bit_string.extend(rsa_key);
        let mut algorithm = tlv(0x06, OID_RSA_ENCRYPTION);
        algorithm.extend([0x05, 0x00]);
        let mut spki = tlv(0x30, &algorithm);
        spki.extend(tlv(0x03, &bit_string));
        tlv(0x30, &spki)
    }

    #[test]
    fn rsa_certificate_keys_above_4096_bits_are_refused() {
        use x509_parser::prelude::FromDer;
        for (bits, ok) in [(2048, true), (4096, true), (4104, false), (8192, false)] {
            let der = rsa_spki(bits);
            let (_, spki) = SubjectPublicKeyInfo::from_der(&der).unwrap();
            assert_eq!(cert_key_kind(&spki).is_ok(), ok, "{bits} bits");
        }
    }

    #[test]
    fn unix_seconds_handles_both_sides_of_the_epoch() {
        use std::time::Duration;
        assert_eq!(unix_seconds(UNIX_EPOCH + Duration::from_secs(5)), 5);
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }

    #[test]
    fn supported_schemes_exclude_legacy_and_p521() {
        assert!(!SUPPORTED_SCHEMES.contains(&SignatureScheme::ECDSA_NISTP521_SHA512));
        assert!(!SUPPORTED_SCHEMES.contains(&SignatureScheme::RSA_PKCS1_SHA1));
        assert!(!SUPPORTED_SCHEMES.contains(&SignatureScheme::ED448));
    }
}
