//! ENR (EIP-778) vectors: the EIP's own example and the lean-quickstart records of
//! shared/protocols/identity.md; bad records give typed errors.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use leanp2p_identity::{Enr, EnrError, Keypair, Multiaddr};

/// EIP-778 example record (private key b71c71a6…f291, ip 127.0.0.1, udp 30303, seq 1).
const EIP778: &str = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";
const EIP778_KEY: &str = "b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291";
const EIP778_NODE_ID: &str = "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7";

/// lean-quickstart README record of `zeam_0`.
const ZEAM_0: &str = "enr:-IW4QMn2QUYENcnsEpITZLph3YZee8Y3B92INUje_riQUOFQQ5Zm5kASi7E_IuQoGCWgcmCYrH920Q52kH7tQcWcPhEBgmlkgnY0gmlwhH8AAAGEcXVpY4IjKIlzZWNwMjU2azGhAhMMnGF1rmIPQ9tWgqfkNmvsG-aIyc9EJU5JFo3Tegys";

fn keypair(hex_secret: &str) -> Keypair {
    Keypair::from_secret_bytes(&hex::decode(hex_secret).unwrap().try_into().unwrap()).unwrap()
}

#[test]
fn eip778_example_record() {
    let enr: Enr = EIP778.parse().unwrap();
    assert_eq!(enr.seq(), 1);
    assert_eq!(enr.ip4(), Some("127.0.0.1".parse().unwrap()));
    assert_eq!(enr.udp4(), Some(30303));
    assert_eq!(hex::encode(enr.node_id()), EIP778_NODE_ID);
    assert_eq!(enr.peer_id(), keypair(EIP778_KEY).peer_id());
    assert_eq!(enr.to_text(), EIP778);
    // no quic key: not dialable over QUIC
    assert_eq!(enr.to_quic_multiaddr(), Err(EnrError::NoQuicAddress));
    // the same contents signed by us give the same bytes (RFC 6979 deterministic nonce)
    let ours = Enr::builder()
        .seq(1)
        .ip4("127.0.0.1".parse().unwrap())
        .udp4(30303)
        .build(&keypair(EIP778_KEY))
        .unwrap();
    assert_eq!(ours.to_text(), EIP778);
}

#[test]
fn lean_quickstart_records_map_to_dialable_multiaddrs() {
    let enr: Enr = ZEAM_0.parse().unwrap();
    assert_eq!(enr.seq(), 1);
    assert_eq!(
        hex::encode(enr.public_key().to_bytes()),
        "02130c9c6175ae620f43db5682a7e4366bec1be688c9cf44254e49168dd37a0cac"
    );
    assert_eq!(enr.quic4(), Some(9000));
    let addr = enr.to_quic_multiaddr().unwrap();
    assert_eq!(
        addr,
        "/ip4/127.0.0.1/udp/9000/quic-v1/p2p/16Uiu2HAkvi2sxT75Bpq1c7yV2FjnSQJJ432d6jeshbmfdJss1i6f"
            .parse::<Multiaddr>()
            .unwrap()
    );
    // ream_0's record, rebuilt from its key the way lean-quickstart does (ip + quic 9001)
    let ream = Enr::builder()
        .seq(1)
        .ip4("127.0.0.1".parse().unwrap())
        .quic4(9001)
        .build(&keypair(
            "af27950128b49cda7e7bc9fcb7b0270f7a3945aa7543326f3bfdbd57d2a97a32",
        ))
        .unwrap();
    assert_eq!(
        ream.to_quic_multiaddr().unwrap().to_string(),
        "/ip4/127.0.0.1/udp/9001/quic-v1/p2p/16Uiu2HAmPQhkD6Zg5Co2ee8ShshkiY4tDePKFARPpCS2oKSLj1E1"
    );
}

#[test]
fn built_records_carry_every_field() {
    let kp = keypair(EIP778_KEY);
    let enr = Enr::builder()
        .seq(42)
        .ip4("10.0.0.1".parse().unwrap())
        .ip6("::1".parse().unwrap())
        .udp4(9000)
        .udp6(9001)
        .tcp4(30303)
        .tcp6(30304)
        .quic4(9100)
        .quic6(9101)
        .eth2(&[1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0])
        .attnets(&[0xff; 8])
        .is_aggregator(true)
        .build(&kp)
        .unwrap();
    let back: Enr = enr.to_text().parse().unwrap();
    assert_eq!(back, enr);
    assert_eq!(back.seq(), 42);
    assert_eq!(back.ip6(), Some("::1".parse().unwrap()));
    assert_eq!(
        (back.udp4(), back.udp6(), back.tcp4(), back.tcp6()),
        (Some(9000), Some(9001), Some(30303), Some(30304))
    );
    assert_eq!((back.quic4(), back.quic6()), (Some(9100), Some(9101)));
    assert_eq!(back.eth2().unwrap().len(), 16);
    assert_eq!(back.attnets(), Some([0xff; 8].as_slice()));
    assert_eq!(back.is_aggregator(), Some(true));
    let addrs = back.quic_multiaddrs();
    assert_eq!(addrs.len(), 2);
    assert_eq!(
        addrs[1].to_string(),
        format!("/ip6/::1/udp/9101/quic-v1/p2p/{}", kp.peer_id())
    );
}

fn reencode_with(mut f: impl FnMut(&mut Vec<u8>)) -> Result<Enr, EnrError> {
    let enr: Enr = ZEAM_0.parse().unwrap();
    let mut bytes = enr.to_rlp().to_vec();
    f(&mut bytes);
    Enr::decode_rlp(&bytes)
}

#[test]
fn bad_records_give_typed_errors() {
    // flipped signature byte
    assert_eq!(
        reencode_with(|b| b[5] ^= 1).unwrap_err(),
        EnrError::BadSignature
    );
    // flipped content byte (the ip address)
    let ip_pos = {
        let enr: Enr = ZEAM_0.parse().unwrap();
        let raw = enr.to_rlp().to_vec();
        raw.windows(4).position(|w| w == [0x7f, 0, 0, 1]).unwrap()
    };
    assert_eq!(
        reencode_with(|b| b[ip_pos + 3] = 2).unwrap_err(),
        EnrError::BadSignature
    );
    // truncated
    for cut in [1, 10, 60, 100] {
        let err = reencode_with(|b| b.truncate(b.len() - cut)).unwrap_err();
        assert!(matches!(err, EnrError::Rlp(_)), "cut {cut}: {err:?}");
    }
    assert!(matches!(Enr::decode_rlp(&[]), Err(EnrError::Rlp(_))));
    assert_eq!(
        Enr::decode_rlp(&[0x83, 1, 2, 3]).unwrap_err(),
        EnrError::NotAList
    );
    // oversize
    assert_eq!(
        Enr::decode_rlp(&[0u8; 301]).unwrap_err(),
        EnrError::TooLarge(301)
    );
    assert!(matches!(
        format!("enr:{}", "A".repeat(500)).parse::<Enr>(),
        Err(EnrError::TooLarge(_))
    ));
    // unknown identity scheme: a record with id = "v5" (signature checked after the scheme)
    let v5 = reencode_with(|b| {
        let pos = b
            .windows(4)
            .position(|w| w == [0x82, b'i', b'd', 0x82])
            .unwrap();
        b[pos + 5] = b'5';
    });
    assert_eq!(v5.unwrap_err(), EnrError::UnknownScheme("v5".into()));
    // text errors
    assert_eq!(
        "-IS4QHCY".parse::<Enr>().unwrap_err(),
        EnrError::MissingPrefix
    );
    assert_eq!(
        "enr:!!!!".parse::<Enr>().unwrap_err(),
        EnrError::InvalidBase64
    );
}

#[test]
fn unsorted_or_duplicate_keys_are_rejected() {
    // Build an unsigned-content list by hand: [sig(64 zero bytes), seq=1, "ip", .., "id", ..]
    let mut payload = vec![0xb8, 64];
    payload.extend([0u8; 64]);
    payload.push(0x01);
    payload.extend([0x82, b'i', b'p', 0x84, 127, 0, 0, 1]);
    payload.extend([0x82, b'i', b'd', 0x82, b'v', b'4']);
    let mut record = vec![0xf8, payload.len() as u8];
    record.extend(&payload);
    assert_eq!(
        Enr::decode_rlp(&record).unwrap_err(),
        EnrError::UnsortedKeys
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_bytes_and_text_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Enr::decode_rlp(&data);
            let _ = format!("enr:{}", String::from_utf8_lossy(&data)).parse::<Enr>();
        }

        #[test]
        fn mutated_records_never_panic(pos in 0usize..140, byte in any::<u8>()) {
            let enr: Enr = ZEAM_0.parse().unwrap();
            let mut raw = enr.to_rlp().to_vec();
            if pos < raw.len() {
                raw[pos] = byte;
            }
            if let Ok(back) = Enr::decode_rlp(&raw) {
                prop_assert_eq!(back.to_rlp(), raw.as_slice());
            }
        }
    }
}
