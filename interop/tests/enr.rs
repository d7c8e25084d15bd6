//! Cross-check against the `enr` crate (sigp/enr, the reference Rust ENR implementation):
//! records we build decode there, and records it builds decode here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::str::FromStr;

use leanp2p_identity::{Enr, Keypair};
use rand::{RngCore, SeedableRng};

type TheirEnr = enr::Enr<k256::ecdsa::SigningKey>;

fn keys(n: usize) -> Vec<[u8; 32]> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(778);
    let mut out = Vec::new();
    while out.len() < n {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        if Keypair::from_secret_bytes(&secret).is_ok() {
            out.push(secret);
        }
    }
    out
}

#[test]
fn our_records_decode_in_the_enr_crate() {
    for (i, secret) in keys(50).into_iter().enumerate() {
        let kp = Keypair::from_secret_bytes(&secret).unwrap();
        let port = 9000 + i as u16;
        let ours = Enr::builder()
            .seq(i as u64 + 1)
            .ip4([127, 0, 0, 1].into())
            .udp4(port)
            .quic4(port)
            .ip6("::1".parse().unwrap())
            .quic6(port + 1)
            .build(&kp)
            .unwrap();
        let theirs = TheirEnr::from_str(&ours.to_text()).unwrap();
        assert_eq!(theirs.seq(), i as u64 + 1);
        assert_eq!(theirs.ip4(), Some([127, 0, 0, 1].into()));
        assert_eq!(theirs.udp4(), Some(port));
        assert_eq!(theirs.get_decodable::<u16>("quic").unwrap().unwrap(), port);
        assert_eq!(
            theirs.get_decodable::<u16>("quic6").unwrap().unwrap(),
            port + 1
        );
        assert_eq!(theirs.node_id().raw(), ours.node_id());
        assert_eq!(
            theirs.public_key().to_encoded_point(true).as_bytes(),
            ours.public_key().to_bytes().as_slice()
        );
        assert_eq!(theirs.to_base64(), ours.to_text());
    }
}

#[test]
fn their_records_decode_here() {
    for (i, secret) in keys(50).into_iter().enumerate() {
        let key = k256::ecdsa::SigningKey::from_slice(&secret).unwrap();
        let port = 9000 + i as u16;
        let mut builder = TheirEnr::builder();
        builder.ip4([127, 0, 0, 1].into()).udp4(port).tcp4(port + 2);
        builder.add_value("quic", &port);
        builder.add_value("is_aggregator", &[1u8].as_slice());
        let theirs = builder.build(&key).unwrap();
        let ours: Enr = theirs.to_base64().parse().unwrap();
        assert_eq!(ours.seq(), theirs.seq());
        assert_eq!(ours.tcp4(), Some(port + 2));
        assert_eq!(ours.node_id(), theirs.node_id().raw());
        assert_eq!(ours.is_aggregator(), Some(true));
        let kp = Keypair::from_secret_bytes(&secret).unwrap();
        assert_eq!(
            ours.to_quic_multiaddr().unwrap().to_string(),
            format!("/ip4/127.0.0.1/udp/{port}/quic-v1/p2p/{}", kp.peer_id())
        );
        assert_eq!(ours.to_text(), theirs.to_base64());
    }
}
