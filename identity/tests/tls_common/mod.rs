//! Shared helper of the TLS tests: hand-crafted libp2p certificates (built with rcgen,
//! like real peers do) that can break one rule at a time.

#![allow(clippy::unwrap_used, dead_code)]

use der::asn1::OctetString;
use der::Encode;
use leanp2p_identity::Keypair;

pub const LIBP2P_OID: &[u64] = &[1, 3, 6, 1, 4, 1, 53594, 1, 1];

/// DER `SignedKey { publicKey, signature }`.
pub fn signed_key(public_key: &[u8], signature: &[u8]) -> Vec<u8> {
    vec![
        OctetString::new(public_key).unwrap(),
        OctetString::new(signature).unwrap(),
    ]
    .to_der()
    .unwrap()
}

/// What to put into a crafted certificate.
pub struct Recipe {
    /// The host key that signs the extension.
    pub signer: Keypair,
    /// The host key whose protobuf goes into the extension (normally `signer`'s).
    pub claimed_public_key: Vec<u8>,
    /// The certificate key algorithm.
    pub algorithm: &'static rcgen::SignatureAlgorithm,
    /// Sign the SPKI of another key instead of the certificate's own.
    pub sign_foreign_spki: bool,
    /// Replace the extension value entirely.
    pub extension_value: Option<Vec<u8>>,
    pub libp2p_critical: bool,
    pub libp2p_extension_count: usize,
    pub extra_extensions: Vec<rcgen::CustomExtension>,
    pub not_before: Option<(i32, u8, u8)>,
    pub not_after: Option<(i32, u8, u8)>,
}

impl Recipe {
    pub fn new(signer: Keypair) -> Self {
        Self {
            claimed_public_key: signer.public().encode_protobuf(),
            signer,
            algorithm: &rcgen::PKCS_ECDSA_P256_SHA256,
            sign_foreign_spki: false,
            extension_value: None,
            libp2p_critical: true,
            libp2p_extension_count: 1,
            extra_extensions: Vec::new(),
            not_before: None,
            not_after: None,
        }
    }

    pub fn build(self) -> Vec<u8> {
        self.build_with_key().0
    }

    /// The certificate DER and the PKCS#8 DER of its key.
    pub fn build_with_key(self) -> (Vec<u8>, Vec<u8>) {
        let cert_key = rcgen::KeyPair::generate_for(self.algorithm).unwrap();
        let spki = if self.sign_foreign_spki {
            rcgen::KeyPair::generate_for(self.algorithm)
                .unwrap()
                .public_key_der()
        } else {
            cert_key.public_key_der()
        };
        let mut message = b"libp2p-tls-handshake:".to_vec();
        message.extend_from_slice(&spki);
        let value = self
            .extension_value
            .unwrap_or_else(|| signed_key(&self.claimed_public_key, &self.signer.sign(&message)));
        let mut params = rcgen::CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for _ in 0..self.libp2p_extension_count {
            let mut ext = rcgen::CustomExtension::from_oid_content(LIBP2P_OID, value.clone());
            ext.set_criticality(self.libp2p_critical);
            params.custom_extensions.push(ext);
        }
        params.custom_extensions.extend(self.extra_extensions);
        if let Some((y, m, d)) = self.not_before {
            params.not_before = rcgen::date_time_ymd(y, m, d);
        }
        if let Some((y, m, d)) = self.not_after {
            params.not_after = rcgen::date_time_ymd(y, m, d);
        }
        let cert = params.self_signed(&cert_key).unwrap().der().to_vec();
        (cert, cert_key.serialize_der())
    }
}
