//! In-memory TLS 1.3 handshakes between our rustls client and server configurations:
//! bytes are copied between a `ClientConnection` and a `ServerConnection` by hand.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;

mod tls_common;

use leanp2p_identity::tls::rustls::client::danger::ServerCertVerifier;
use leanp2p_identity::tls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use leanp2p_identity::tls::rustls::sign::{CertifiedKey, SingleCertAndKey};
use leanp2p_identity::tls::rustls::{
    self, ClientConfig, ClientConnection, ServerConfig, ServerConnection,
};
use leanp2p_identity::tls::{self, CertificateError, Libp2pServerCertVerifier};
use leanp2p_identity::{Keypair, PeerId};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use tls_common::Recipe;

fn key(i: u8) -> Keypair {
    Keypair::from_secret_bytes(&[i; 32]).unwrap()
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Which side's `process_new_packets` failed first, and how.
#[derive(Debug)]
enum Failure {
    Client(rustls::Error),
    Server(rustls::Error),
}

/// Moves every pending TLS record from `from` to `to`, processing as it goes.
fn pump(
    from: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl Sized>>,
    to: &mut impl std::ops::DerefMut<Target = rustls::ConnectionCommon<impl Sized>>,
) -> Result<bool, rustls::Error> {
    let mut wire = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut wire).unwrap();
    }
    let moved = !wire.is_empty();
    let mut pending = wire.as_slice();
    while !pending.is_empty() {
        to.read_tls(&mut pending).unwrap();
        to.process_new_packets()?;
    }
    Ok(moved)
}

/// Runs the handshake to completion (bounded number of flights).
fn handshake(
    client: ClientConfig,
    server: ServerConfig,
) -> Result<(ClientConnection, ServerConnection), Failure> {
    let name = ServerName::try_from("l").unwrap();
    let mut client = ClientConnection::new(Arc::new(client), name).unwrap();
    let mut server = ServerConnection::new(Arc::new(server)).unwrap();
    for _ in 0..16 {
        let to_server = pump(&mut client, &mut server).map_err(Failure::Server)?;
        let to_client = pump(&mut server, &mut client).map_err(Failure::Client)?;
        if !to_server && !to_client && !client.is_handshaking() && !server.is_handshaking() {
            return Ok((client, server));
        }
    }
    panic!("handshake did not finish in 16 flights");
}

fn peer_of(certs: Option<&[CertificateDer<'_>]>) -> PeerId {
    tls::peer_id_from_certificates(certs.unwrap()).unwrap()
}

#[test]
fn both_sides_learn_the_other_peer_id() {
    let (alice, bob) = (key(1), key(2));
    let client = tls::make_client_config(&alice, None, &mut rng(1)).unwrap();
    let server = tls::make_server_config(&bob, &mut rng(2)).unwrap();
    let (client, server) = handshake(client, server).unwrap();

    assert_eq!(peer_of(client.peer_certificates()), bob.peer_id());
    assert_eq!(peer_of(server.peer_certificates()), alice.peer_id());
    assert_eq!(client.alpn_protocol(), Some(&b"libp2p"[..]));
    assert_eq!(server.alpn_protocol(), Some(&b"libp2p"[..]));
    assert_eq!(
        client.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    // SNI is disabled on our client, whatever name it was given.
    assert_eq!(server.server_name(), None);
    let suite = client.negotiated_cipher_suite().unwrap().suite();
    assert!(tls::crypto_provider()
        .cipher_suites
        .iter()
        .any(|s| s.suite() == suite));
}

#[test]
fn expected_peer_id_that_matches_is_accepted() {
    let (alice, bob) = (key(1), key(2));
    let client = tls::make_client_config(&alice, Some(bob.peer_id()), &mut rng(3)).unwrap();
    let server = tls::make_server_config(&bob, &mut rng(4)).unwrap();
    let (client, _server) = handshake(client, server).unwrap();
    assert_eq!(peer_of(client.peer_certificates()), bob.peer_id());
}

#[test]
fn expected_peer_id_mismatch_fails_with_both_ids_in_the_error() {
    let (alice, bob, carol) = (key(1), key(2), key(3));
    let client = tls::make_client_config(&alice, Some(carol.peer_id()), &mut rng(5)).unwrap();
    let server = tls::make_server_config(&bob, &mut rng(6)).unwrap();
    let Err(Failure::Client(error)) = handshake(client, server) else {
        panic!("the client must reject the server");
    };
    assert_eq!(
        tls::certificate_error_of(&error),
        Some(&CertificateError::PeerIdMismatch {
            expected: carol.peer_id(),
            presented: bob.peer_id()
        })
    );
    let message = error.to_string();
    assert!(message.contains(&carol.peer_id().to_string()), "{message}");
    assert!(message.contains(&bob.peer_id().to_string()), "{message}");
}

#[test]
fn server_requires_a_client_certificate() {
    let provider = Arc::new(tls::crypto_provider());
    let mut anonymous = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Libp2pServerCertVerifier::new(None)))
        .with_no_client_auth();
    anonymous.alpn_protocols = vec![tls::ALPN.to_vec()];
    let server = tls::make_server_config(&key(2), &mut rng(7)).unwrap();
    match handshake(anonymous, server) {
        Err(Failure::Server(rustls::Error::NoCertificatesPresented)) => {}
        other => panic!("expected the server to demand a certificate, got {other:?}"),
    }
}

#[test]
fn server_rejects_a_client_without_the_libp2p_alpn() {
    let mut client = tls::make_client_config(&key(1), None, &mut rng(8)).unwrap();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let server = tls::make_server_config(&key(2), &mut rng(9)).unwrap();
    match handshake(client, server) {
        Err(Failure::Server(rustls::Error::NoApplicationProtocol)) => {}
        other => panic!("expected no_application_protocol, got {other:?}"),
    }
}

/// A client config with our verifier and certificate but only the given key-exchange group.
fn client_with_group(group: &'static dyn rustls::crypto::SupportedKxGroup) -> ClientConfig {
    let mut provider = tls::crypto_provider();
    provider.kx_groups = vec![group];
    let (cert, key) = tls::generate_certificate(&key(1), &mut rng(10)).unwrap();
    let signing_key = provider.key_provider.load_private_key(key).unwrap();
    let certified = CertifiedKey::new(vec![cert], signing_key);
    let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Libp2pServerCertVerifier::new(None)))
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    config.alpn_protocols = vec![tls::ALPN.to_vec()];
    config
}

#[test]
fn server_accepts_each_libp2p_key_exchange_group() {
    use rustls::crypto::ring::kx_group;
    for group in [kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1] {
        let server = tls::make_server_config(&key(2), &mut rng(11)).unwrap();
        let (client, server) = handshake(client_with_group(group), server).unwrap();
        assert_eq!(
            client.negotiated_key_exchange_group().unwrap().name(),
            group.name()
        );
        assert_eq!(peer_of(server.peer_certificates()), key(1).peer_id());
    }
}

#[test]
fn client_rejects_a_server_presenting_a_chain_of_two() {
    let bob = key(2);
    let (first, first_key) = tls::generate_certificate(&bob, &mut rng(12)).unwrap();
    let (second, _) = tls::generate_certificate(&bob, &mut rng(13)).unwrap();
    let provider = tls::crypto_provider();
    let signing_key = provider.key_provider.load_private_key(first_key).unwrap();
    let certified = CertifiedKey::new(vec![first, second], signing_key);
    let mut server = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(Arc::new(tls::Libp2pClientCertVerifier::new()))
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified)));
    server.alpn_protocols = vec![tls::ALPN.to_vec()];
    let client = tls::make_client_config(&key(1), None, &mut rng(14)).unwrap();
    let Err(Failure::Client(error)) = handshake(client, server) else {
        panic!("the client must reject a chain");
    };
    assert_eq!(
        tls::certificate_error_of(&error),
        Some(&CertificateError::ChainNotAllowed(2))
    );
}

#[test]
fn verifier_ignores_the_server_name_and_rejects_intermediates() {
    let bob = key(2);
    let (cert, _) = tls::generate_certificate(&bob, &mut rng(15)).unwrap();
    let verifier = Libp2pServerCertVerifier::new(Some(bob.peer_id()));
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_795_219_200));
    for name in ["l", "example.com", "127.0.0.1"] {
        let name = ServerName::try_from(name).unwrap();
        assert!(verifier
            .verify_server_cert(&cert, &[], &name, &[], now)
            .is_ok());
        let error = verifier
            .verify_server_cert(&cert, std::slice::from_ref(&cert), &name, &[], now)
            .unwrap_err();
        assert_eq!(
            tls::certificate_error_of(&error),
            Some(&CertificateError::ChainNotAllowed(2))
        );
    }
    assert_eq!(
        verifier.supported_verify_schemes()[1],
        rustls::SignatureScheme::ECDSA_NISTP256_SHA256
    );
}

/// A rustls signing identity from a crafted certificate and its PKCS#8 key.
fn certified(cert: Vec<u8>, pkcs8: Vec<u8>) -> Arc<CertifiedKey> {
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(pkcs8.into());
    let signing_key = tls::crypto_provider()
        .key_provider
        .load_private_key(key)
        .unwrap();
    Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(cert)],
        signing_key,
    ))
}

/// Our server configuration, but presenting a crafted certificate.
fn server_presenting(recipe: Recipe) -> ServerConfig {
    let (cert, key) = recipe.build_with_key();
    let mut config = ServerConfig::builder_with_provider(Arc::new(tls::crypto_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(Arc::new(tls::Libp2pClientCertVerifier::new()))
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified(cert, key))));
    config.alpn_protocols = vec![tls::ALPN.to_vec()];
    config
}

/// Our client configuration, but presenting a crafted certificate.
fn client_presenting(recipe: Recipe) -> ClientConfig {
    let (cert, key) = recipe.build_with_key();
    let mut config = ClientConfig::builder_with_provider(Arc::new(tls::crypto_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Libp2pServerCertVerifier::new(None)))
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified(cert, key))));
    config.alpn_protocols = vec![tls::ALPN.to_vec()];
    config
}

fn expired(signer: Keypair) -> Recipe {
    let mut recipe = Recipe::new(signer);
    recipe.not_before = Some((1990, 1, 1));
    recipe.not_after = Some((2000, 1, 1));
    recipe
}

fn tampered(signer: Keypair) -> Recipe {
    let mut recipe = Recipe::new(signer);
    recipe.sign_foreign_spki = true;
    recipe
}

#[test]
fn client_rejects_an_expired_server_certificate() {
    let client = tls::make_client_config(&key(1), None, &mut rng(20)).unwrap();
    let Err(Failure::Client(error)) = handshake(client, server_presenting(expired(key(2)))) else {
        panic!("the client must reject an expired certificate");
    };
    assert!(matches!(
        tls::certificate_error_of(&error),
        Some(CertificateError::Expired {
            not_after: 946_684_800,
            ..
        })
    ));
}

#[test]
fn client_rejects_a_server_certificate_with_a_tampered_extension() {
    let client = tls::make_client_config(&key(1), None, &mut rng(21)).unwrap();
    let Err(Failure::Client(error)) = handshake(client, server_presenting(tampered(key(2)))) else {
        panic!("the client must reject a bad extension");
    };
    assert_eq!(
        tls::certificate_error_of(&error),
        Some(&CertificateError::ExtensionSignatureInvalid)
    );
}

#[test]
fn server_rejects_expired_and_tampered_client_certificates() {
    for (recipe, check) in [(expired(key(1)), "expired"), (tampered(key(1)), "tampered")] {
        let server = tls::make_server_config(&key(2), &mut rng(22)).unwrap();
        let Err(Failure::Server(error)) = handshake(client_presenting(recipe), server) else {
            panic!("the server must reject the {check} client certificate");
        };
        match (check, tls::certificate_error_of(&error)) {
            ("expired", Some(CertificateError::Expired { .. })) => {}
            ("tampered", Some(CertificateError::ExtensionSignatureInvalid)) => {}
            other => panic!("unexpected rejection {other:?}"),
        }
    }
}

/// Peers may use P-384 or Ed25519 certificate keys: the CertificateVerify signature is
/// then checked with that key's scheme.
#[test]
fn handshakes_with_p384_and_ed25519_certificate_keys() {
    for algorithm in [&rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_ED25519] {
        let mut server_recipe = Recipe::new(key(2));
        server_recipe.algorithm = algorithm;
        let mut client_recipe = Recipe::new(key(1));
        client_recipe.algorithm = algorithm;
        let (client, server) = handshake(
            client_presenting(client_recipe),
            server_presenting(server_recipe),
        )
        .unwrap();
        assert_eq!(peer_of(client.peer_certificates()), key(2).peer_id());
        assert_eq!(peer_of(server.peer_certificates()), key(1).peer_id());
    }
}
