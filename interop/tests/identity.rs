//! Cross-check against rust-libp2p's `libp2p-identity`: for many random keys, PeerIds,
//! key protobufs and signatures agree both ways, for every key type a peer may use.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use leanp2p_identity::{Keypair, PeerId, PublicKey};
use libp2p::identity as theirs;
use rand::{RngCore, SeedableRng};

const KEYS: usize = 200;

fn rng() -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(0x1ea9_2026)
}

#[test]
fn secp256k1_peer_ids_and_signatures_agree() {
    let mut rng = rng();
    let mut checked = 0;
    while checked < KEYS {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let Ok(ours) = Keypair::from_secret_bytes(&secret) else {
            continue;
        };
        let their_secret = theirs::secp256k1::SecretKey::try_from_bytes(secret).unwrap();
        let their_kp: theirs::Keypair = theirs::secp256k1::Keypair::from(their_secret).into();

        // PeerIds and protobufs
        let their_peer = their_kp.public().to_peer_id();
        assert_eq!(ours.peer_id().to_string(), their_peer.to_string());
        assert_eq!(ours.peer_id().as_bytes(), their_peer.to_bytes().as_slice());
        assert_eq!(
            their_peer.to_string().parse::<PeerId>().unwrap(),
            ours.peer_id()
        );
        assert_eq!(
            ours.public().encode_protobuf(),
            their_kp.public().encode_protobuf()
        );
        assert_eq!(
            ours.to_protobuf_encoding().as_slice(),
            their_kp.to_protobuf_encoding().unwrap().as_slice()
        );

        // signatures both ways
        let mut msg = vec![0u8; (rng.next_u32() % 512) as usize];
        rng.fill_bytes(&mut msg);
        let our_sig = ours.sign(&msg);
        assert!(their_kp.public().verify(&msg, &our_sig));
        let their_sig = their_kp.sign(&msg).unwrap();
        assert!(ours.public().verify(&msg, &their_sig));
        // deterministic RFC 6979 nonces: identical signatures
        assert_eq!(our_sig, their_sig);
        checked += 1;
    }
}

#[test]
fn ed25519_keys_from_rust_libp2p_verify_here() {
    let mut rng = rng();
    for _ in 0..KEYS {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let kp: theirs::Keypair = theirs::ed25519::Keypair::from(
            theirs::ed25519::SecretKey::try_from_bytes(&mut seed).unwrap(),
        )
        .into();
        let key = PublicKey::decode_protobuf(&kp.public().encode_protobuf()).unwrap();
        assert_eq!(
            key.to_peer_id().to_string(),
            kp.public().to_peer_id().to_string()
        );
        assert!(key.to_peer_id().to_string().starts_with("12D3KooW"));
        let msg = seed;
        let sig = kp.sign(&msg).unwrap();
        assert!(key.verify(&msg, &sig));
        assert!(!key.verify(b"another message", &sig));
    }
}

#[test]
fn ecdsa_p256_keys_from_rust_libp2p_verify_here() {
    let mut rng = rng();
    let mut checked = 0;
    while checked < 50 {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let Ok(sk) = theirs::ecdsa::SecretKey::try_from_bytes(secret) else {
            continue;
        };
        let kp: theirs::Keypair = theirs::ecdsa::Keypair::from(sk).into();
        let pb = kp.public().encode_protobuf();
        let key = PublicKey::decode_protobuf(&pb).unwrap();
        assert_eq!(key.encode_protobuf(), pb);
        let peer = key.to_peer_id();
        assert_eq!(peer.to_string(), kp.public().to_peer_id().to_string());
        assert!(peer.to_string().starts_with("Qm"));
        let sig = kp.sign(&secret).unwrap();
        assert!(key.verify(&secret, &sig));
        checked += 1;
    }
}
