//! libp2p TLS cross-checks against rust-libp2p (`libp2p-tls` 0.7):
//! certificates made by one side are verified by the other with the right PeerId, and
//! in-memory TLS 1.3 handshakes run between our rustls configs and theirs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::sync::Arc;
use std::time::SystemTime;

use leanp2p_identity::tls::rustls::pki_types::{CertificateDer, ServerName};
use leanp2p_identity::tls::rustls::{self, ClientConnection, ServerConnection};
use leanp2p_identity::tls::{self, CertificateError};
use leanp2p_identity::{Keypair, PeerId};
use libp2p::identity as their_identity;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn our_key(i: u8) -> Keypair {
    Keypair::from_secret_bytes(&[i; 32]).unwrap()
}

/// rust-libp2p keypairs of the three key types we must verify.
fn their_keys() -> Vec<their_identity::Keypair> {
    let secp = their_identity::secp256k1::SecretKey::try_from_bytes([7u8; 32]).unwrap();
    vec![
        their_identity::Keypair::from(their_identity::secp256k1::Keypair::from(secp)),
        their_identity::Keypair::ed25519_from_bytes([8u8; 32]).unwrap(),
        their_identity::Keypair::generate_ecdsa(),
    ]
}

fn to_ours(peer: &libp2p::PeerId) -> PeerId {
    PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

#[test]
fn their_certificates_pass_our_verifier() {
    for key in their_keys() {
        let (cert, _) = libp2p_tls::certificate::generate(&key).unwrap();
        let expected = to_ours(&key.public().to_peer_id());
        assert_eq!(
            tls::verify_certificate(cert.as_ref(), SystemTime::now()),
            Ok(expected)
        );
        assert_eq!(tls::peer_id_from_certificates(&[cert]), Ok(expected));
    }
}

#[test]
fn our_certificates_pass_their_parser() {
    for i in 1..=4u8 {
        let key = our_key(i);
        let (cert, _) = tls::generate_certificate(&key, &mut rng(u64::from(i))).unwrap();
        let parsed = libp2p_tls::certificate::parse(&cert).unwrap();
        assert_eq!(to_ours(&parsed.peer_id()), key.peer_id());
        assert_eq!(parsed.peer_id().to_string(), key.peer_id().to_string());
    }
}

#[derive(Debug)]
enum Failure {
    Client(rustls::Error),
    // Read through `Debug` when a handshake that should pass fails.
    #[allow(dead_code)]
    Server(rustls::Error),
}

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

fn handshake(
    client: rustls::ClientConfig,
    server: rustls::ServerConfig,
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

fn their_peer_of(certs: Option<&[CertificateDer<'_>]>) -> PeerId {
    let certs = certs.unwrap();
    assert_eq!(certs.len(), 1);
    to_ours(&libp2p_tls::certificate::parse(&certs[0]).unwrap().peer_id())
}

#[test]
fn our_client_handshakes_with_their_server() {
    let ours = our_key(1);
    for theirs in their_keys() {
        let their_peer = to_ours(&theirs.public().to_peer_id());
        let client = tls::make_client_config(&ours, Some(their_peer), &mut rng(10)).unwrap();
        let server = libp2p_tls::make_server_config(&theirs).unwrap();
        let (client, server) = handshake(client, server).unwrap();
        assert_eq!(
            tls::peer_id_from_certificates(client.peer_certificates().unwrap()),
            Ok(their_peer)
        );
        assert_eq!(their_peer_of(server.peer_certificates()), ours.peer_id());
        assert_eq!(client.alpn_protocol(), Some(&b"libp2p"[..]));
    }
}

#[test]
fn their_client_handshakes_with_our_server() {
    let ours = our_key(2);
    for theirs in their_keys() {
        let their_peer = to_ours(&theirs.public().to_peer_id());
        let our_peer_for_them = libp2p::PeerId::from_bytes(ours.peer_id().as_bytes()).unwrap();
        // Their client (aws-lc-rs, prefer-post-quantum) offers X25519MLKEM768 first; our
        // ring server does not have it and settles on x25519.
        let client = libp2p_tls::make_client_config(&theirs, Some(our_peer_for_them)).unwrap();
        let server = tls::make_server_config(&ours, &mut rng(11)).unwrap();
        let (client, server) = handshake(client, server).unwrap();
        assert_eq!(their_peer_of(client.peer_certificates()), ours.peer_id());
        assert_eq!(
            tls::peer_id_from_certificates(server.peer_certificates().unwrap()),
            Ok(their_peer)
        );
        assert_eq!(server.alpn_protocol(), Some(&b"libp2p"[..]));
        assert_eq!(
            server.negotiated_key_exchange_group().unwrap().name(),
            rustls::NamedGroup::X25519
        );
    }
}

#[test]
fn our_client_rejects_their_server_with_an_unexpected_peer_id() {
    let theirs = their_identity::Keypair::ed25519_from_bytes([9u8; 32]).unwrap();
    let presented = to_ours(&theirs.public().to_peer_id());
    let expected = our_key(5).peer_id();
    let client = tls::make_client_config(&our_key(1), Some(expected), &mut rng(12)).unwrap();
    let server = libp2p_tls::make_server_config(&theirs).unwrap();
    let Err(Failure::Client(error)) = handshake(client, server) else {
        panic!("our client must reject the wrong peer");
    };
    assert_eq!(
        tls::certificate_error_of(&error),
        Some(&CertificateError::PeerIdMismatch {
            expected,
            presented
        })
    );
}

#[test]
fn their_client_rejects_our_server_with_an_unexpected_peer_id() {
    let theirs = their_identity::Keypair::ed25519_from_bytes([10u8; 32]).unwrap();
    let someone_else = libp2p::PeerId::from_bytes(our_key(6).peer_id().as_bytes()).unwrap();
    let client = libp2p_tls::make_client_config(&theirs, Some(someone_else)).unwrap();
    let server = tls::make_server_config(&our_key(1), &mut rng(13)).unwrap();
    assert!(matches!(handshake(client, server), Err(Failure::Client(_))));
}
