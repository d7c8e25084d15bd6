//! Property tests: round trips of every encoding, and decoders never panic on junk.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use leanp2p_identity::{keyfile, Keypair, Multiaddr, PeerId, Protocol, PublicKey};
use proptest::prelude::*;

fn any_keypair() -> impl Strategy<Value = Keypair> {
    any::<[u8; 32]>().prop_filter_map("valid scalar", |b| Keypair::from_secret_bytes(&b).ok())
}

fn any_peer_id() -> impl Strategy<Value = PeerId> {
    prop_oneof![
        any_keypair().prop_map(|k| k.peer_id()),
        any::<[u8; 32]>().prop_map(|d| {
            let mut mh = vec![0x12, 32];
            mh.extend(d);
            PeerId::from_bytes(&mh).unwrap()
        }),
    ]
}

fn any_protocol() -> impl Strategy<Value = Protocol> {
    let dns = "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\\.[a-z]{2,6}){0,2}";
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Protocol::Ip4(o.into())),
        any::<[u8; 16]>().prop_map(|o| Protocol::Ip6(o.into())),
        dns.prop_map(Protocol::Dns),
        dns.prop_map(Protocol::Dns4),
        dns.prop_map(Protocol::Dns6),
        any::<u16>().prop_map(Protocol::Tcp),
        any::<u16>().prop_map(Protocol::Udp),
        Just(Protocol::Quic),
        Just(Protocol::QuicV1),
        any_peer_id().prop_map(Protocol::P2p),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn peer_id_text_and_binary_round_trip(peer in any_peer_id()) {
        prop_assert_eq!(PeerId::from_bytes(peer.as_bytes()).unwrap(), peer);
        prop_assert_eq!(peer.to_string().parse::<PeerId>().unwrap(), peer);
        prop_assert_eq!(peer.to_cid_string().parse::<PeerId>().unwrap(), peer);
    }

    #[test]
    fn keys_round_trip_and_sign(kp in any_keypair(), msg in proptest::collection::vec(any::<u8>(), 0..256)) {
        let pb = kp.public().encode_protobuf();
        prop_assert_eq!(PublicKey::decode_protobuf(&pb).unwrap(), kp.public());
        prop_assert!(kp.public().verify(&msg, &kp.sign(&msg)));
        let text = keyfile::format_node_key(&kp);
        prop_assert_eq!(keyfile::parse_node_key(&text).unwrap().peer_id(), kp.peer_id());
    }

    #[test]
    fn multiaddr_text_and_binary_round_trip(parts in proptest::collection::vec(any_protocol(), 0..8)) {
        let addr: Multiaddr = parts.into_iter().collect();
        prop_assert_eq!(Multiaddr::from_bytes(&addr.to_bytes()).unwrap(), addr.clone());
        prop_assert_eq!(addr.to_string().parse::<Multiaddr>().unwrap(), addr);
    }

    #[test]
    fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = PeerId::from_bytes(&data);
        let _ = PublicKey::decode_protobuf(&data);
        let _ = Keypair::from_protobuf_encoding(&data);
        let _ = Multiaddr::from_bytes(&data);
        let text = String::from_utf8_lossy(&data);
        let _ = text.parse::<PeerId>();
        let _ = text.parse::<Multiaddr>();
        let _ = keyfile::parse_node_key(&text);
    }

    #[test]
    fn text_decoders_never_panic(text in "(/[a-z0-9-]{0,8}(/[ -~]{0,12})?){0,6}") {
        let _ = text.parse::<Multiaddr>();
        let _ = text.parse::<PeerId>();
    }
}
