//! rustls client and server configurations for libp2p TLS (as used inside QUIC).

use std::sync::Arc;

use rand_core::CryptoRngCore;
use rustls::client::{ResolvesClientCert, Resumption};
use rustls::crypto::ring::{cipher_suite, kx_group};
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, NoServerSessionStorage, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ServerConfig, SignatureScheme, SupportedCipherSuite};

use super::certificate::generate_certificate;
use super::error::TlsError;
use super::verifier::{Libp2pClientCertVerifier, Libp2pServerCertVerifier};
use super::ALPN;
use crate::{Keypair, PeerId};

/// The ring crypto provider restricted to what libp2p TLS negotiates:
///
/// * cipher suites: the three TLS 1.3 suites. With hardware AES (x86 AES-NI + PCLMULQDQ,
///   aarch64 AES + PMULL) the order is AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305;
///   without it ChaCha20-Poly1305 comes first (it is faster in software). AES-128-GCM is
///   always present: QUIC Initial packets need it.
/// * key-exchange groups: x25519, secp256r1, secp384r1 (x25519 first). Peers that lead
///   with a group we lack (e.g. X25519MLKEM768) get a HelloRetryRequest from rustls.
pub fn crypto_provider() -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = cipher_suites(has_aes_acceleration());
    provider.kx_groups = vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1];
    provider
}

/// The TLS 1.3 cipher suites in preference order.
fn cipher_suites(aes_accelerated: bool) -> Vec<SupportedCipherSuite> {
    let aes128 = cipher_suite::TLS13_AES_128_GCM_SHA256;
    let aes256 = cipher_suite::TLS13_AES_256_GCM_SHA384;
    let chacha = cipher_suite::TLS13_CHACHA20_POLY1305_SHA256;
    if aes_accelerated {
        vec![aes128, aes256, chacha]
    } else {
        vec![chacha, aes128, aes256]
    }
}

/// Whether this CPU has AES and carry-less multiplication instructions (so AES-GCM is
/// fast). A property of the machine, not of time or randomness.
fn has_aes_acceleration() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(target_arch = "aarch64")]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// Our certificate and its signing key, packaged for rustls.
///
/// Built with `CertifiedKey::new` rather than rustls' `with_single_cert` /
/// `with_client_auth_cert`: those re-parse the certificate with webpki to compare keys,
/// and webpki refuses the critical libp2p extension. The certificate and key come from
/// [`generate_certificate`] together, so they match by construction.
fn certified_key(
    keypair: &Keypair,
    provider: &CryptoProvider,
    rng: &mut impl CryptoRngCore,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let (certificate, key) = generate_certificate(keypair, rng)?;
    let signing_key = provider.key_provider.load_private_key(key)?;
    Ok(Arc::new(CertifiedKey::new(vec![certificate], signing_key)))
}

/// Presents our one certificate to every peer (no SNI or CA-hint based selection).
#[derive(Debug)]
struct OwnCertificate(Arc<CertifiedKey>);

impl ResolvesClientCert for OwnCertificate {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

impl ResolvesServerCert for OwnCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// The rustls client configuration for dialling a libp2p peer.
///
/// TLS 1.3 only, ring provider ([`crypto_provider`]), ALPN `libp2p`, SNI disabled (the
/// server name passed to rustls/quinn is ignored: use any, e.g. `"l"`), no session
/// resumption or early data. Presents a fresh certificate for `keypair`
/// ([`generate_certificate`], drawing the certificate key and serial from `rng`) and
/// verifies the server with [`Libp2pServerCertVerifier`]: when `expected_peer` is set, a
/// server proving another PeerId fails the handshake with
/// [`super::CertificateError::PeerIdMismatch`].
pub fn make_client_config(
    keypair: &Keypair,
    expected_peer: Option<PeerId>,
    rng: &mut impl CryptoRngCore,
) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(crypto_provider());
    let certified = certified_key(keypair, &provider, rng)?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Libp2pServerCertVerifier::new(expected_peer)))
        .with_client_cert_resolver(Arc::new(OwnCertificate(certified)));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.enable_sni = false;
    config.resumption = Resumption::disabled();
    config.enable_early_data = false;
    Ok(config)
}

/// The rustls server configuration for accepting libp2p peers.
///
/// TLS 1.3 only, ring provider ([`crypto_provider`]), ALPN `libp2p`, SNI ignored, mutual
/// authentication (a client certificate is requested and mandatory, checked by
/// [`Libp2pClientCertVerifier`]), no session tickets or early data. Presents a fresh
/// certificate for `keypair` ([`generate_certificate`], drawing from `rng`).
pub fn make_server_config(
    keypair: &Keypair,
    rng: &mut impl CryptoRngCore,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(crypto_provider());
    let certified = certified_key(keypair, &provider, rng)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(Libp2pClientCertVerifier::new()))
        .with_cert_resolver(Arc::new(OwnCertificate(certified)));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    config.max_early_data_size = 0;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aes_128_gcm_is_always_offered() {
        for accelerated in [true, false] {
            let suites = cipher_suites(accelerated);
            assert_eq!(suites.len(), 3);
            assert!(suites.contains(&cipher_suite::TLS13_AES_128_GCM_SHA256));
        }
        assert_eq!(
            cipher_suites(true)[0],
            cipher_suite::TLS13_AES_128_GCM_SHA256
        );
        assert_eq!(
            cipher_suites(false)[0],
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256
        );
    }

    #[test]
    fn provider_has_exactly_the_libp2p_groups() {
        let provider = crypto_provider();
        let names: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            names,
            [
                rustls::NamedGroup::X25519,
                rustls::NamedGroup::secp256r1,
                rustls::NamedGroup::secp384r1
            ]
        );
        assert!(provider.cipher_suites.iter().all(|s| s.tls13().is_some()));
    }
}
