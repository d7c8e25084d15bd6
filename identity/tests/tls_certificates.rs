//! Certificates we build (round trip, structure, determinism) and hand-crafted
//! certificates that break one rule each (built with rcgen, like real peers do).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod tls_common;

use der::asn1::OctetString;
use der::Encode;
use leanp2p_identity::tls::{self, CertificateError, Libp2pCertificate};
use leanp2p_identity::{DecodingError, Keypair};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tls_common::{signed_key, Recipe};
use x509_parser::prelude::{FromDer, X509Certificate};

/// 2026-11-21T00:00:00Z.
const NOW_UNIX: u64 = 1_795_219_200;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_UNIX)
}

fn key(i: u8) -> Keypair {
    Keypair::from_secret_bytes(&[i; 32]).unwrap()
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

#[test]
fn generated_certificate_round_trips_to_our_peer_id() {
    for i in 1..=5u8 {
        let keypair = key(i);
        let (cert, _) = tls::generate_certificate(&keypair, &mut rng(u64::from(i))).unwrap();
        assert_eq!(
            tls::verify_certificate(cert.as_ref(), now()),
            Ok(keypair.peer_id())
        );
    }
}

#[test]
fn generated_certificate_has_the_rust_libp2p_shape() {
    let keypair = key(1);
    let (cert, private_key) = tls::generate_certificate(&keypair, &mut rng(1)).unwrap();
    let (_, x509) = X509Certificate::from_der(cert.as_ref()).unwrap();
    assert_eq!(x509.version().0, 2, "v3");
    assert!(x509.issuer().as_raw() == [0x30, 0x00] && x509.subject().as_raw() == [0x30, 0x00]);
    assert_eq!(x509.validity().not_before.timestamp(), 157_766_400); // 1975-01-01
    assert_eq!(x509.validity().not_after.timestamp(), 67_090_118_400); // 4096-01-01
    assert_eq!(
        x509.signature_algorithm.algorithm.to_id_string(),
        "1.2.840.10045.4.3.2"
    );
    assert_eq!(x509.public_key().raw.len(), 91, "P-256 SPKI");
    let extensions = x509.extensions();
    assert_eq!(extensions.len(), 1);
    assert_eq!(extensions[0].oid.to_id_string(), "1.3.6.1.4.1.53594.1.1");
    assert!(extensions[0].critical);
    // SignedKey starts with the 37-byte secp256k1 key protobuf.
    let value = extensions[0].value;
    assert_eq!(&value[2..4], &[0x04, 37]);
    assert_eq!(&value[4..41], keypair.public().encode_protobuf().as_slice());
    assert!(matches!(
        private_key,
        tls::rustls::pki_types::PrivateKeyDer::Pkcs8(_)
    ));
}

#[test]
fn certificate_key_and_serial_come_from_the_callers_rng() {
    let keypair = key(1);
    let (a, _) = tls::generate_certificate(&keypair, &mut rng(42)).unwrap();
    let (b, _) = tls::generate_certificate(&keypair, &mut rng(42)).unwrap();
    let (c, _) = tls::generate_certificate(&keypair, &mut rng(43)).unwrap();
    let parse = |der: &[u8]| {
        let (_, x509) = X509Certificate::from_der(der).unwrap();
        (x509.raw_serial().to_vec(), x509.public_key().raw.to_vec())
    };
    let (a, b, c) = (parse(a.as_ref()), parse(b.as_ref()), parse(c.as_ref()));
    assert_eq!(a, b);
    assert_ne!(a.0, c.0);
    assert_ne!(a.1, c.1);
    assert_eq!(a.0.len(), 8);
    assert!(
        a.0[0] & 0x80 == 0 && a.0[0] != 0,
        "positive, minimal serial"
    );
}

#[test]
fn crafted_certificate_with_rcgen_is_accepted() {
    let cert = Recipe::new(key(3)).build();
    assert_eq!(tls::verify_certificate(&cert, now()), Ok(key(3).peer_id()));
}

#[test]
fn extension_signed_by_another_key_is_rejected() {
    let mut recipe = Recipe::new(key(4));
    recipe.claimed_public_key = key(5).public().encode_protobuf();
    assert_eq!(
        tls::verify_certificate(&recipe.build(), now()),
        Err(CertificateError::ExtensionSignatureInvalid)
    );
}

#[test]
fn extension_signing_another_certificate_key_is_rejected() {
    let mut recipe = Recipe::new(key(4));
    recipe.sign_foreign_spki = true;
    assert_eq!(
        tls::verify_certificate(&recipe.build(), now()),
        Err(CertificateError::ExtensionSignatureInvalid)
    );
}

#[test]
fn tampering_with_the_extension_after_signing_is_rejected() {
    let (cert, _) = tls::generate_certificate(&key(1), &mut rng(1)).unwrap();
    let mut bytes = cert.as_ref().to_vec();
    // The last byte of the host-key signature inside the extension: the TBS ends right
    // before the outer `30 0a 06 08 2a8648ce3d040302` signature algorithm.
    let outer_alg = [
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
    let tbs_end = bytes.windows(12).rposition(|w| w == outer_alg).unwrap();
    bytes[tbs_end - 1] ^= 0x55;
    assert_eq!(
        tls::verify_certificate(&bytes, now()),
        Err(CertificateError::SelfSignatureInvalid)
    );
}

#[test]
fn expired_and_not_yet_valid_certificates_are_rejected() {
    let mut recipe = Recipe::new(key(1));
    recipe.not_before = Some((1990, 1, 1));
    recipe.not_after = Some((2000, 1, 1));
    assert!(matches!(
        tls::verify_certificate(&recipe.build(), now()),
        Err(CertificateError::Expired {
            not_after: 946_684_800,
            ..
        })
    ));
    let mut recipe = Recipe::new(key(1));
    recipe.not_before = Some((2100, 1, 1));
    assert!(matches!(
        tls::verify_certificate(&recipe.build(), now()),
        Err(CertificateError::NotYetValid {
            not_before: 4_102_444_800,
            ..
        })
    ));
}

/// rcgen writes UTCTime (two-digit years) for 1950–2049: `49` must be 2049 and `99`
/// must be 1999.
#[test]
fn two_digit_utctime_years_follow_rfc_5280() {
    let mut recipe = Recipe::new(key(1));
    recipe.not_before = Some((1950, 1, 1));
    recipe.not_after = Some((2049, 12, 31));
    let cert = recipe.build();
    assert_eq!(tls::verify_certificate(&cert, now()), Ok(key(1).peer_id()));
    let parsed = Libp2pCertificate::parse(&cert).unwrap();
    assert_eq!(parsed.validity_unix(), (-631_152_000, 2_524_521_600));

    let mut recipe = Recipe::new(key(1));
    recipe.not_after = Some((1999, 6, 1));
    assert!(matches!(
        tls::verify_certificate(&recipe.build(), now()),
        Err(CertificateError::Expired {
            not_after: 928_195_200,
            ..
        })
    ));
}

#[test]
fn missing_and_duplicate_libp2p_extensions_are_rejected() {
    let mut recipe = Recipe::new(key(1));
    recipe.libp2p_extension_count = 0;
    assert_eq!(
        tls::verify_certificate(&recipe.build(), now()),
        Err(CertificateError::MissingExtension)
    );
    let mut recipe = Recipe::new(key(1));
    recipe.libp2p_extension_count = 2;
    assert_eq!(
        tls::verify_certificate(&recipe.build(), now()),
        Err(CertificateError::DuplicateExtension(
            "1.3.6.1.4.1.53594.1.1".into()
        ))
    );
}

#[test]
fn non_critical_libp2p_extension_is_accepted() {
    let mut recipe = Recipe::new(key(2));
    recipe.libp2p_critical = false;
    assert_eq!(
        tls::verify_certificate(&recipe.build(), now()),
        Ok(key(2).peer_id())
    );
}

#[test]
fn unknown_extensions_are_ignored_unless_critical() {
    let unknown = || rcgen::CustomExtension::from_oid_content(&[1, 2, 3, 4], vec![0x05, 0x00]);
    let mut recipe = Recipe::new(key(2));
    recipe.extra_extensions.push(unknown());
    assert_eq!(
        tls::verify_certificate(&recipe.build(), now()),
        Ok(key(2).peer_id())
    );

    let mut critical = unknown();
    critical.set_criticality(true);
    let mut recipe = Recipe::new(key(2));
    recipe.extra_extensions.push(critical);
    assert_eq!(
        tls::verify_certificate(&recipe.build(), now()),
        Err(CertificateError::UnsupportedCriticalExtension(
            "1.2.3.4".into()
        ))
    );
}

#[test]
fn malformed_signed_key_is_rejected() {
    let good = signed_key(&key(1).public().encode_protobuf(), &[0x30, 0x00]);
    let mut trailing = good.clone();
    trailing.push(0x00);
    let mut inner_trailing = good.clone();
    inner_trailing[1] += 2;
    inner_trailing.extend_from_slice(&[0x05, 0x00]); // a NULL inside the SEQUENCE
    let one_field = vec![OctetString::new(vec![1u8, 2]).unwrap()]
        .to_der()
        .unwrap();
    for value in [
        trailing,
        inner_trailing,
        one_field,
        vec![],
        vec![0x30, 0x00],
    ] {
        let mut recipe = Recipe::new(key(1));
        recipe.extension_value = Some(value);
        assert_eq!(
            tls::verify_certificate(&recipe.build(), now()),
            Err(CertificateError::MalformedSignedKey)
        );
    }
}

#[test]
fn unsupported_host_key_types_are_rejected() {
    // An RSA key protobuf (type 0): not supported by this stack.
    let mut recipe = Recipe::new(key(1));
    recipe.claimed_public_key = vec![0x08, 0x00, 0x12, 0x02, 0x30, 0x00];
    assert_eq!(
        tls::verify_certificate(&recipe.build(), now()),
        Err(CertificateError::HostKey(
            DecodingError::UnsupportedKeyType(0)
        ))
    );
}

#[test]
fn p384_and_ed25519_certificate_keys_are_accepted() {
    for algorithm in [&rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_ED25519] {
        let mut recipe = Recipe::new(key(6));
        recipe.algorithm = algorithm;
        assert_eq!(
            tls::verify_certificate(&recipe.build(), now()),
            Ok(key(6).peer_id())
        );
    }
}

#[test]
fn handshake_signature_must_match_the_certificate_key() {
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    use tls::rustls::pki_types::PrivateKeyDer;
    use tls::rustls::SignatureScheme;

    let (cert, private_key) = tls::generate_certificate(&key(1), &mut rng(7)).unwrap();
    let PrivateKeyDer::Pkcs8(pkcs8) = private_key else {
        panic!("PKCS#8 expected")
    };
    let random = SystemRandom::new();
    let signer = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_ASN1_SIGNING,
        pkcs8.secret_pkcs8_der(),
        &random,
    )
    .unwrap();
    let message = b"TLS 1.3, server CertificateVerify\x00transcript";
    let signature = signer.sign(&random, message).unwrap();
    let parsed = Libp2pCertificate::parse(cert.as_ref()).unwrap();
    let p256 = SignatureScheme::ECDSA_NISTP256_SHA256;
    assert_eq!(
        parsed.verify_handshake_signature(p256, message, signature.as_ref()),
        Ok(())
    );
    assert_eq!(
        parsed.verify_handshake_signature(p256, b"another transcript", signature.as_ref()),
        Err(CertificateError::HandshakeSignatureInvalid)
    );
    for scheme in [
        SignatureScheme::ECDSA_NISTP384_SHA384,
        SignatureScheme::ED25519,
        SignatureScheme::RSA_PSS_SHA256,
    ] {
        assert!(matches!(
            parsed.verify_handshake_signature(scheme, message, signature.as_ref()),
            Err(CertificateError::HandshakeSchemeMismatch(_))
        ));
    }
}

/// Replaces every occurrence of `from` with `to` (same length) in `der`.
fn replace_all(der: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut count = 0;
    let mut i = 0;
    while i + from.len() <= der.len() {
        if &der[i..i + from.len()] == from {
            der[i..i + from.len()].copy_from_slice(to);
            count += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    count
}

#[test]
fn unsupported_and_mismatched_signature_schemes_are_rejected() {
    const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
    const CURVE_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    const CURVE_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    const ED25519: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
    const ED448: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x71];
    let unsupported = |der: &[u8]| {
        matches!(
            tls::verify_certificate(der, now()),
            Err(CertificateError::UnsupportedSignatureScheme(_))
        )
    };

    // P-384 key signed with SHA-256 (both algorithm fields rewritten).
    let mut recipe = Recipe::new(key(1));
    recipe.algorithm = &rcgen::PKCS_ECDSA_P384_SHA384;
    let p384 = recipe.build();
    let mut mismatched = p384.clone();
    assert_eq!(replace_all(&mut mismatched, ECDSA_SHA384, ECDSA_SHA256), 2);
    assert!(unsupported(&mismatched));

    // P-521 key (curve OID rewritten in the SPKI).
    let mut p521 = p384;
    assert_eq!(replace_all(&mut p521, CURVE_P384, CURVE_P521), 1);
    assert!(unsupported(&p521));

    // P-256 key signed with SHA-512.
    let mut p256_sha512 = Recipe::new(key(1)).build();
    assert_eq!(replace_all(&mut p256_sha512, ECDSA_SHA256, ECDSA_SHA512), 2);
    assert!(unsupported(&p256_sha512));

    // Ed448 key (only the SPKI algorithm rewritten; the signature algorithm stays Ed25519).
    let mut recipe = Recipe::new(key(1));
    recipe.algorithm = &rcgen::PKCS_ED25519;
    let mut ed448 = recipe.build();
    // Occurrences: TBS signature algorithm, SPKI algorithm, outer signature algorithm.
    let positions: Vec<usize> = (0..ed448.len() - ED25519.len())
        .filter(|&i| &ed448[i..i + ED25519.len()] == ED25519)
        .collect();
    assert_eq!(positions.len(), 3);
    let spki_alg = positions[1];
    ed448[spki_alg..spki_alg + ED448.len()].copy_from_slice(ED448);
    assert!(
        unsupported(&ed448),
        "{:?}",
        tls::verify_certificate(&ed448, now())
    );
}
