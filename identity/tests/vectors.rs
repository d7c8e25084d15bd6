//! Every key / PeerId / multiaddr / node-key vector of `shared/protocols/identity.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use leanp2p_identity::{
    keyfile, KeyFileError, KeyType, Keypair, Multiaddr, PeerId, Protocol, PublicKey,
};

fn keypair(hex_secret: &str) -> Keypair {
    let bytes: [u8; 32] = hex::decode(hex_secret).unwrap().try_into().unwrap();
    Keypair::from_secret_bytes(&bytes).unwrap()
}

/// (private key, compressed public key, PeerId) from identity.md §2.
const SECP_VECTORS: &[(&str, &str, &str)] = &[
    (
        "53dadf1d5a164d6b4acdb15e24aa4c5b1d3461bdbd42abedb0a4404d56ced8fb",
        "037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99",
        "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY",
    ),
    (
        "bdf953adc161873ba026330c56450453f582e3c4ee6cb713644794bcfdd85fe5",
        "02130c9c6175ae620f43db5682a7e4366bec1be688c9cf44254e49168dd37a0cac",
        "16Uiu2HAkvi2sxT75Bpq1c7yV2FjnSQJJ432d6jeshbmfdJss1i6f",
    ),
    (
        "af27950128b49cda7e7bc9fcb7b0270f7a3945aa7543326f3bfdbd57d2a97a32",
        "039fc7a653b0519f30a45e0ede0e0206c8d1308ea44184fba61e4b91e2b32e04d2",
        "16Uiu2HAmPQhkD6Zg5Co2ee8ShshkiY4tDePKFARPpCS2oKSLj1E1",
    ),
    (
        "c2bbdac5e876b3e9d4b8b6b8c2bbdac5e876b3e9d4b8b6b8c2bbdac5e876b3e9",
        "03b353c607ce9861361106b81e1b17c4539e1dd4cb60873630405ccf29a6f4850d",
        "16Uiu2HAmQj1RDNAxopeeeCFPRr3zhJYmH6DEPHYKmxLViLahWcFE",
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000001",
        "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "16Uiu2HAm3cuhhRL2msUuLF62KRSfneFDx94RsuouyW25Ho42cFMq",
    ),
];

/// Public-key-only vectors: (compressed key, PeerId).
const PUBKEY_VECTORS: &[(&str, &str)] = &[
    (
        "0206dc6968726765b820f050263ececf7f71e4955892776c0970542efd689d2382",
        "16Uiu2HAkutTMoTzDw1tCvSRtu6YoixJwS46S1ZFxW8hSx9fWHiPs",
    ),
    (
        "026b053094d1112bce799dc8026040ae6d4eb574157929f1598172061f753d9b1b",
        "16Uiu2HAm2dSCBFxuge46aEt7U1oejtYuBUZXxASHqmcfVmk4gsbx",
    ),
];

#[test]
fn secp256k1_keys_map_to_expected_peer_ids() {
    for (secret, public, peer) in SECP_VECTORS {
        let kp = keypair(secret);
        assert_eq!(hex::encode(kp.secp256k1_public().to_bytes()), *public);
        assert_eq!(kp.peer_id().to_string(), *peer);
        assert_eq!(peer.parse::<PeerId>().unwrap(), kp.peer_id());
        assert_eq!(hex::encode(kp.secret_bytes().as_slice()), *secret);
    }
    for (public, peer) in PUBKEY_VECTORS {
        let mut pb = hex::decode("08021221").unwrap();
        pb.extend(hex::decode(public).unwrap());
        let key = PublicKey::decode_protobuf(&pb).unwrap();
        assert_eq!(key.to_peer_id().to_string(), *peer);
        // identity multihash: the key is recoverable from the PeerId
        assert_eq!(peer.parse::<PeerId>().unwrap().to_public_key(), Some(key));
    }
}

#[test]
fn spec_vector_byte_level() {
    let kp = keypair(SECP_VECTORS[0].0);
    assert_eq!(
        hex::encode(kp.to_protobuf_encoding().as_slice()),
        format!("08021220{}", SECP_VECTORS[0].0)
    );
    let pb = kp.public().encode_protobuf();
    assert_eq!(hex::encode(&pb), format!("08021221{}", SECP_VECTORS[0].1));
    assert_eq!(pb.len(), 37);
    let peer = kp.peer_id();
    assert_eq!(
        hex::encode(peer.as_bytes()),
        format!("0025{}", hex::encode(&pb))
    );
    assert_eq!(
        peer.to_cid_string(),
        "bafzaajiiaijcca3xo7uzjzcsyilaj6i54cj44qk7kqzpoao5rti2pjx6udtdbp6kte"
    );
    let from_cid: PeerId = "bafzaajiiaijcca3xo7uzjzcsyilaj6i54cj44qk7kqzpoao5rti2pjx6udtdbp6kte"
        .parse()
        .unwrap();
    assert_eq!(from_cid, peer);
    let round = Keypair::from_protobuf_encoding(&kp.to_protobuf_encoding()).unwrap();
    assert_eq!(round.peer_id(), peer);
}

#[test]
fn ed25519_and_ecdsa_peer_ids() {
    let ed =
        hex::decode("080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e")
            .unwrap();
    let key = PublicKey::decode_protobuf(&ed).unwrap();
    assert_eq!(key.key_type(), KeyType::Ed25519);
    assert_eq!(
        key.to_peer_id().to_string(),
        "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq"
    );

    // ECDSA P-256 host key from libp2p/specs tls.md vector 2 (inside its SignedKey).
    let ecdsa = hex::decode(concat!(
        "0803125b3059301306072a8648ce3d020106082a8648ce3d03010703420004bf30511f909414ebdd",
        "3242178fd290f093a551cf75c973155de0bb5a96fedf6cb5d52da7563e794b512f66e60c7f55ba8a",
        "3acf3dd72a801980d205e8a1ad29f2"
    ))
    .unwrap();
    assert_eq!(ecdsa.len(), 95);
    let key = PublicKey::decode_protobuf(&ecdsa).unwrap();
    assert_eq!(key.key_type(), KeyType::Ecdsa);
    let peer = key.to_peer_id();
    assert_eq!(
        peer.to_string(),
        "QmfXbAwNjJLXfesgztEHe8HwgVDCMMpZ9Eax1HYq6hn9uE"
    );
    assert_eq!(
        peer.as_bytes()[0],
        0x12,
        "sha2-256 multihash for keys > 42 bytes"
    );
    assert_eq!(peer.to_public_key(), None);
}

#[test]
fn key_protobuf_must_be_canonical() {
    let good = hex::decode(format!("08021221{}", SECP_VECTORS[0].1)).unwrap();
    assert!(PublicKey::decode_protobuf(&good).is_ok());
    // fields swapped
    let mut swapped = hex::decode(format!("1221{}", SECP_VECTORS[0].1)).unwrap();
    swapped.extend([0x08, 0x02]);
    assert!(PublicKey::decode_protobuf(&swapped).is_err());
    // trailing unknown field
    let mut extra = good.clone();
    extra.extend([0x18, 0x01]);
    assert!(PublicKey::decode_protobuf(&extra).is_err());
    // non-minimal varint for the type
    let mut overlong = vec![0x08, 0x82, 0x00];
    overlong.extend(&good[2..]);
    assert!(PublicKey::decode_protobuf(&overlong).is_err());
    // RSA is not supported, unknown types are typed errors
    assert!(PublicKey::decode_protobuf(&[0x08, 0x00, 0x12, 0x01, 0x00]).is_err());
    assert!(PublicKey::decode_protobuf(&[0x08, 0x09, 0x12, 0x01, 0x00]).is_err());
    // only the 33-byte compressed SEC1 form is accepted
    for tag in [0x00, 0x04, 0x05] {
        let mut bad_tag = good.clone();
        bad_tag[4] = tag;
        assert!(
            PublicKey::decode_protobuf(&bad_tag).is_err(),
            "tag {tag:#x}"
        );
    }
    let kp = keypair(SECP_VECTORS[0].0);
    let mut uncompressed = vec![0x08, 0x02, 0x12, 0x41];
    uncompressed.extend(kp.secp256k1_public().to_uncompressed_bytes());
    assert!(PublicKey::decode_protobuf(&uncompressed).is_err());
    // x not on the curve (x = 5 has no square root mod p on secp256k1)
    let mut off_curve = vec![0x08, 0x02, 0x12, 0x21, 0x02];
    off_curve.extend([0u8; 31]);
    off_curve.push(0x05);
    assert!(PublicKey::decode_protobuf(&off_curve).is_err());
}

#[test]
fn signatures_are_der_low_s_and_high_s_is_rejected() {
    use k256::ecdsa::Signature;
    let kp = keypair(SECP_VECTORS[1].0);
    let msg = b"libp2p-tls-handshake:example";
    let sig = kp.sign(msg);
    assert_eq!(sig[0], 0x30, "DER SEQUENCE");
    let parsed = Signature::from_der(&sig).unwrap();
    assert!(parsed.normalize_s().is_none(), "we emit low-S");
    assert!(kp.public().verify(msg, &sig));
    assert!(!kp.public().verify(b"other message", &sig));
    // Same signature with S replaced by n - S: mathematically valid, but non-canonical.
    let (r, s) = parsed.split_scalars();
    let high = Signature::from_scalars(r, -*s).unwrap();
    assert!(high.normalize_s().is_some());
    assert!(!kp.public().verify(msg, high.to_der().as_bytes()));
    assert!(!kp.public().verify(msg, &[]));
    assert!(!kp.public().verify(msg, &[0x30, 0x00]));
}

#[test]
fn generation_uses_the_callers_rng_deterministically() {
    use rand_chacha::rand_core::SeedableRng;
    let a = Keypair::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(7));
    let b = Keypair::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(7));
    let c = Keypair::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(8));
    assert_eq!(a.peer_id(), b.peer_id());
    assert_ne!(a.peer_id(), c.peer_id());
    assert!(a.peer_id().to_string().starts_with("16Uiu2HA"));
}

#[test]
fn secret_scalar_range_is_checked() {
    assert!(Keypair::from_secret_bytes(&[0u8; 32]).is_err());
    assert!(Keypair::from_secret_bytes(&[0xff; 32]).is_err());
    let n =
        hex::decode("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141").unwrap();
    assert!(Keypair::from_secret_bytes(&n.clone().try_into().unwrap()).is_err());
    let mut n_minus_1: [u8; 32] = n.try_into().unwrap();
    n_minus_1[31] -= 1;
    assert!(Keypair::from_secret_bytes(&n_minus_1).is_ok());
}

#[test]
fn multiaddr_vectors() {
    let text =
        "/ip4/127.0.0.1/udp/9000/quic-v1/p2p/16Uiu2HAkvi2sxT75Bpq1c7yV2FjnSQJJ432d6jeshbmfdJss1i6f";
    let bin = "047f0000019102 2328cd03a50327 00250802122102130c9c6175ae620f43db5682a7e4366bec1be688c9cf44254e49168dd37a0cac"
        .replace(' ', "");
    let addr: Multiaddr = text.parse().unwrap();
    assert_eq!(hex::encode(addr.to_bytes()), bin);
    assert_eq!(
        Multiaddr::from_bytes(&hex::decode(&bin).unwrap()).unwrap(),
        addr
    );
    assert_eq!(addr.to_string(), text);
    let (sock, peer) = addr.to_quic_v1_target().unwrap();
    assert_eq!(sock, "127.0.0.1:9000".parse().unwrap());
    assert_eq!(
        peer.unwrap().to_string(),
        "16Uiu2HAkvi2sxT75Bpq1c7yV2FjnSQJJ432d6jeshbmfdJss1i6f"
    );
    assert_eq!(addr.peer_id(), peer);
    assert_eq!(
        addr.without_peer_id().to_string(),
        "/ip4/127.0.0.1/udp/9000/quic-v1"
    );

    let v6: Multiaddr = "/ip6/::1/udp/9001/quic-v1".parse().unwrap();
    assert_eq!(
        hex::encode(v6.to_bytes()),
        "2900000000000000000000000000000001910223 29cd03".replace(' ', "")
    );
    assert_eq!(Multiaddr::quic_v1("[::1]:9001".parse().unwrap(), None), v6);

    // `/ipfs/` is an alias of `/p2p/` when parsing; the CID form of the PeerId is accepted.
    let alias: Multiaddr =
        "/ip4/127.0.0.1/udp/9000/quic-v1/ipfs/16Uiu2HAkvi2sxT75Bpq1c7yV2FjnSQJJ432d6jeshbmfdJss1i6f"
            .parse()
            .unwrap();
    assert_eq!(alias, addr);
    let cid = addr.peer_id().unwrap().to_cid_string();
    let with_cid: Multiaddr = format!("/ip4/127.0.0.1/udp/9000/quic-v1/p2p/{cid}")
        .parse()
        .unwrap();
    assert_eq!(with_cid, addr);
    assert!(matches!(addr.protocols()[2], Protocol::QuicV1));
}

#[test]
fn node_key_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zeam_0.key");
    // exactly what lean-quickstart's `echo` writes
    std::fs::write(&path, format!("{}\n", SECP_VECTORS[1].0)).unwrap();
    let kp = keyfile::read_node_key(&path).unwrap();
    assert_eq!(kp.peer_id().to_string(), SECP_VECTORS[1].2);

    for variant in [
        format!("0x{}", SECP_VECTORS[1].0),
        format!("  {}\r\n\n", SECP_VECTORS[1].0),
        SECP_VECTORS[1].0.to_uppercase(),
    ] {
        assert_eq!(
            keyfile::parse_node_key(&variant).unwrap().peer_id(),
            kp.peer_id()
        );
    }
    assert!(matches!(
        keyfile::parse_node_key("abcd"),
        Err(KeyFileError::WrongLength(4))
    ));
    assert!(matches!(
        keyfile::parse_node_key(&"g".repeat(64)),
        Err(KeyFileError::NotHex('g'))
    ));
    assert!(matches!(
        keyfile::parse_node_key(&"0".repeat(64)),
        Err(KeyFileError::Scalar(_))
    ));
    assert!(matches!(
        keyfile::parse_node_key(&"f".repeat(64)),
        Err(KeyFileError::Scalar(_))
    ));
    assert!(matches!(
        keyfile::read_node_key(dir.path().join("missing.key")),
        Err(KeyFileError::Io { .. })
    ));

    let out = dir.path().join("new.key");
    keyfile::write_node_key(&out, &kp).unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("{}\n", SECP_VECTORS[1].0)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // an existing world-readable file is tightened too
        std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
        keyfile::write_node_key(&out, &kp).unwrap();
        let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
