//! Wire test vectors (`discv5-wire-test-vectors.md`) and malformed-packet cases.

use aes::cipher::{KeyIvInit, StreamCipher};
use k256::ecdsa::SigningKey;
use leanp2p_identity::{Enr, Keypair};

use super::*;
use crate::crypto;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).unwrap()
}
fn id(s: &str) -> NodeId {
    NodeId(h(s).try_into().unwrap())
}

const NODE_A_KEY: &str = "eef77acb6c6a6eebc5b363a475ac583ec7eccdb42b6481424c60f59aa326547f";
const NODE_B_KEY: &str = "66fb62bfbd66b9177a138c1e5cddbe4f7c30c343e94e68df8769459cb1cde628";
const NODE_A: &str = "aaaa8419e9f49d0083561b48287df592939a8d19947d8c0ef88f2a4856a69fbb";
const NODE_B: &str = "bbbb9d047f0488c0b5a93c1c3f2d8bafc7c8ff337024a55434a0d0555de64db9";
const EPH_PUBKEY: &str = "039a003ba6517b473fa0cd74aefe99dadfdb34627f90fec6362df85803908f53a5";

pub(crate) const PING_PACKET: &str =
    "00000000000000000000000000000000088b3d4342774649325f313964a39e55
    ea96c005ad52be8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3
    4c4f53245d08dab84102ed931f66d1492acb308fa1c6715b9d139b81acbdcc";
pub(crate) const WHOAREYOU_PACKET: &str =
    "00000000000000000000000000000000088b3d434277464933a1ccc59f5967ad
    1d6035f15e528627dde75cd68292f9e6c27d6b66c8100a873fcbaed4e16b8d";
pub(crate) const HANDSHAKE_PACKET: &str =
    "00000000000000000000000000000000088b3d4342774649305f313964a39e55
    ea96c005ad521d8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3
    4c4f53245d08da4bb252012b2cba3f4f374a90a75cff91f142fa9be3e0a5f3ef
    268ccb9065aeecfd67a999e7fdc137e062b2ec4a0eb92947f0d9a74bfbf44dfb
    a776b21301f8b65efd5796706adff216ab862a9186875f9494150c4ae06fa4d1
    f0396c93f215fa4ef524f1eadf5f0f4126b79336671cbcf7a885b1f8bd2a5d83
    9cf8";
pub(crate) const HANDSHAKE_ENR_PACKET: &str =
    "00000000000000000000000000000000088b3d4342774649305f313964a39e55
    ea96c005ad539c8c7560413a7008f16c9e6d2f43bbea8814a546b7409ce783d3
    4c4f53245d08da4bb23698868350aaad22e3ab8dd034f548a1c43cd246be9856
    2fafa0a1fa86d8e7a3b95ae78cc2b988ded6a5b59eb83ad58097252188b902b2
    1481e30e5e285f19735796706adff216ab862a9186875f9494150c4ae06fa4d1
    f0396c93f215fa4ef524e0ed04c3c21e39b1868e1ca8105e585ec17315e755e6
    cfc4dd6cb7fd8e1a1f55e49b4b5eb024221482105346f3c82b15fdaae36a3bb1
    2a494683b4a3c7f2ae41306252fed84785e2bbff3b022812d0882f06978df84a
    80d443972213342d04b9048fc3b1d5fcb1df0f822152eced6da4d3f6df27e70e
    4539717307a0208cd208d65093ccab5aa596a34d7511401987662d8cf62b1394
    71";

/// `0x01 || rlp([0x00000001, enr_seq])`.
fn ping_plaintext(enr_seq: u8) -> Vec<u8> {
    vec![0x01, 0xc6, 0x84, 0, 0, 0, 1, enr_seq]
}

fn keypair(hex_key: &str) -> Keypair {
    Keypair::from_secret_bytes(&h(hex_key).try_into().unwrap()).unwrap()
}

#[test]
fn vector_node_ids() {
    let a = keypair(NODE_A_KEY);
    let b = keypair(NODE_B_KEY);
    assert_eq!(NodeId::from_public_key(a.secp256k1_public()), id(NODE_A));
    assert_eq!(NodeId::from_public_key(b.secp256k1_public()), id(NODE_B));
}

#[test]
fn vector_ping_message_packet() {
    let bytes = h(PING_PACKET);
    let packet = decode_packet(&id(NODE_B), &bytes).unwrap();
    assert_eq!(packet.header.nonce, [0xff; 12]);
    assert_eq!(packet.header.auth, AuthData::Message { src_id: id(NODE_A) });
    let pt = packet.open(&[0u8; 16]).unwrap();
    assert_eq!(pt, ping_plaintext(2));
    // Re-encoding with the same IV, nonce and key gives the same bytes.
    let again = encode_message_packet(
        packet.masking_iv,
        &id(NODE_B),
        &packet.header,
        &[0u8; 16],
        &pt,
    )
    .unwrap();
    assert_eq!(again, bytes);
    assert_eq!(packet.open(&[1u8; 16]), Err(PacketError::DecryptionFailed));
}

#[test]
fn vector_whoareyou_packet() {
    let bytes = h(WHOAREYOU_PACKET);
    let packet = decode_packet(&id(NODE_B), &bytes).unwrap();
    assert_eq!(packet.header.nonce.to_vec(), h("0102030405060708090a0b0c"));
    assert_eq!(
        packet.header.auth,
        AuthData::WhoAreYou {
            id_nonce: h("0102030405060708090a0b0c0d0e0f10").try_into().unwrap(),
            enr_seq: 0
        }
    );
    assert!(packet.message.is_empty());
    assert_eq!(
        packet.authenticated_data,
        h("000000000000000000000000000000006469736376350001010102030405060708090a0b0c00180102030405060708090a0b0c0d0e0f100000000000000000")
    );
    let (again, challenge) = encode_whoareyou(
        packet.masking_iv,
        &id(NODE_B),
        packet.header.nonce,
        h("0102030405060708090a0b0c0d0e0f10").try_into().unwrap(),
        0,
    );
    assert_eq!(again, bytes);
    assert_eq!(challenge, packet.authenticated_data);
}

/// Node B's side of a handshake vector: checks authdata, the ID signature, the key
/// derivation and the message; returns the decoded record, if any.
fn check_handshake_vector(packet_hex: &str, challenge: &str, read_key: &str) -> Option<Vec<u8>> {
    let bytes = h(packet_hex);
    let b = keypair(NODE_B_KEY);
    let a = keypair(NODE_A_KEY);
    let packet = decode_packet(&id(NODE_B), &bytes).unwrap();
    assert_eq!(packet.header.nonce, [0xff; 12]);
    let AuthData::Handshake {
        src_id,
        id_signature,
        eph_pubkey,
        record,
    } = packet.header.auth.clone()
    else {
        panic!("not a handshake: {:?}", packet.header.auth)
    };
    assert_eq!(src_id, id(NODE_A));
    assert_eq!(eph_pubkey.to_vec(), h(EPH_PUBKEY));
    let challenge = h(challenge);
    crypto::verify_id_nonce(
        a.secp256k1_public().verifying_key(),
        &id_signature,
        &challenge,
        &eph_pubkey,
        &id(NODE_B),
    )
    .unwrap();
    let secret = crypto::ecdh(&eph_pubkey, &b.secret_bytes()).unwrap();
    let keys = crypto::derive_keys(&secret, &id(NODE_A), &id(NODE_B), &challenge);
    assert_eq!(keys.initiator_key.to_vec(), h(read_key));
    assert_eq!(packet.open(&keys.initiator_key).unwrap(), ping_plaintext(1));
    // Node A's side: the same inputs encode the same packet.
    let sig = crypto::sign_id_nonce(a.signing_key(), &challenge, &eph_pubkey, &id(NODE_B)).unwrap();
    assert_eq!(sig, id_signature);
    let again = encode_message_packet(
        packet.masking_iv,
        &id(NODE_B),
        &packet.header,
        &keys.initiator_key,
        &ping_plaintext(1),
    )
    .unwrap();
    assert_eq!(again, bytes);
    record
}

#[test]
fn vector_ping_handshake_packet() {
    let record = check_handshake_vector(
        HANDSHAKE_PACKET,
        "000000000000000000000000000000006469736376350001010102030405060708090a0b0c00180102030405060708090a0b0c0d0e0f100000000000000001",
        "4f9fac6de7567d1e3b1241dffe90f662",
    );
    assert!(record.is_none());
}

#[test]
fn vector_ping_handshake_packet_with_enr() {
    let record = check_handshake_vector(
        HANDSHAKE_ENR_PACKET,
        "000000000000000000000000000000006469736376350001010102030405060708090a0b0c00180102030405060708090a0b0c0d0e0f100000000000000000",
        "53b1c075f41876423154e157470c2f48",
    )
    .expect("record present");
    let enr = Enr::decode_rlp(&record).unwrap();
    assert_eq!(enr.node_id(), *id(NODE_A).as_bytes());
    assert_eq!(enr.seq(), 1);
}

#[test]
fn ephemeral_key_of_vector() {
    let (_, public) = crypto::ephemeral_keypair(
        h("0288ef00023598499cb6c940146d050d2b1fb914198c327f76aad590bead68b6")
            .try_into()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(public.to_vec(), h(EPH_PUBKEY));
    let _ = SigningKey::from_slice(&h(NODE_A_KEY)).unwrap();
}

/// Masks `header` (unmasked `static-header || authdata`) for `dest` and appends `tail`.
fn masked(dest: &NodeId, header: &[u8], tail: &[u8]) -> Vec<u8> {
    let iv = [7u8; 16];
    let mut out = iv.to_vec();
    let mut hdr = header.to_vec();
    let mut key = [0u8; 16];
    key.copy_from_slice(&dest.as_bytes()[..16]);
    ctr::Ctr128BE::<aes::Aes128>::new(&key.into(), &iv.into()).apply_keystream(&mut hdr);
    out.extend_from_slice(&hdr);
    out.extend_from_slice(tail);
    out
}

fn static_header(version: u16, flag: u8, authdata_size: u16) -> Vec<u8> {
    let mut out = PROTOCOL_ID.to_vec();
    out.extend_from_slice(&version.to_be_bytes());
    out.push(flag);
    out.extend_from_slice(&[9u8; 12]);
    out.extend_from_slice(&authdata_size.to_be_bytes());
    out
}

#[test]
fn size_limits() {
    let dest = id(NODE_B);
    assert_eq!(
        decode_packet(&dest, &[]).err(),
        Some(PacketError::TooSmall(0))
    );
    assert_eq!(
        decode_packet(&dest, &[0; 62]).err(),
        Some(PacketError::TooSmall(62))
    );
    assert_eq!(
        decode_packet(&dest, &[0; 1281]).err(),
        Some(PacketError::TooLarge(1281))
    );
    let bytes = h(PING_PACKET);
    assert_eq!(
        decode_packet(&dest, &bytes[..62]).err(),
        Some(PacketError::TooSmall(62))
    );
}

#[test]
fn wrong_masking_key_is_protocol_mismatch() {
    let bytes = h(PING_PACKET);
    assert_eq!(
        decode_packet(&id(NODE_A), &bytes).err(),
        Some(PacketError::WrongProtocolId)
    );
}

#[test]
fn malformed_headers() {
    let dest = id(NODE_B);
    let mut hdr = static_header(2, 0, 32);
    hdr.extend_from_slice(&[1; 32]);
    assert_eq!(
        decode_packet(&dest, &masked(&dest, &hdr, &[0; 16])).err(),
        Some(PacketError::UnsupportedVersion(2))
    );
    let mut hdr = static_header(1, 3, 32);
    hdr.extend_from_slice(&[1; 32]);
    assert_eq!(
        decode_packet(&dest, &masked(&dest, &hdr, &[0; 16])).err(),
        Some(PacketError::UnknownFlag(3))
    );
    let mut hdr = static_header(1, 0, 40);
    hdr.extend_from_slice(&[1; 24]);
    assert_eq!(
        decode_packet(&dest, &masked(&dest, &hdr, &[])).err(),
        Some(PacketError::AuthDataOverflow(40))
    );
    let mut hdr = static_header(1, 0, 24);
    hdr.extend_from_slice(&[1; 24]);
    assert_eq!(
        decode_packet(&dest, &masked(&dest, &hdr, &[0; 16])).err(),
        Some(PacketError::BadAuthDataSize { flag: 0, size: 24 })
    );
    let mut hdr = static_header(1, 0, 32);
    hdr.extend_from_slice(&[1; 32]);
    assert_eq!(
        decode_packet(&dest, &masked(&dest, &hdr, &[0; 15])).err(),
        Some(PacketError::MessageTooShort(15))
    );
    let mut hdr = static_header(1, 1, 24);
    hdr.extend_from_slice(&[1; 24]);
    assert_eq!(
        decode_packet(&dest, &masked(&dest, &hdr, &[0; 1])).err(),
        Some(PacketError::WhoAreYouWithMessage(1))
    );
    let mut hdr = static_header(1, 1, 25);
    hdr.extend_from_slice(&[1; 25]);
    assert_eq!(
        decode_packet(&dest, &masked(&dest, &hdr, &[])).err(),
        Some(PacketError::BadAuthDataSize { flag: 1, size: 25 })
    );
}

#[test]
fn malformed_handshakes() {
    let dest = id(NODE_B);
    let mut hdr = static_header(1, 2, 30);
    hdr.extend_from_slice(&[1; 30]);
    assert_eq!(
        decode_packet(&dest, &masked(&dest, &hdr, &[0; 16])).err(),
        Some(PacketError::BadAuthDataSize { flag: 2, size: 30 })
    );
    let with_sizes = |sig: u8, key: u8, size: u16| {
        let mut hdr = static_header(1, 2, size);
        hdr.extend_from_slice(&[1; 32]);
        hdr.push(sig);
        hdr.push(key);
        hdr.extend_from_slice(&vec![5; usize::from(size) - 34]);
        masked(&dest, &hdr, &[0; 16])
    };
    assert_eq!(
        decode_packet(&dest, &with_sizes(65, 33, 131)).err(),
        Some(PacketError::UnsupportedSignatureSize(65))
    );
    assert_eq!(
        decode_packet(&dest, &with_sizes(64, 65, 163)).err(),
        Some(PacketError::UnsupportedKeySize(65))
    );
    assert_eq!(
        decode_packet(&dest, &with_sizes(64, 33, 100)).err(),
        Some(PacketError::BadAuthDataSize { flag: 2, size: 100 })
    );
    let bytes = with_sizes(64, 33, 131);
    let ok = decode_packet(&dest, &bytes).unwrap();
    assert!(matches!(
        ok.header.auth,
        AuthData::Handshake { record: None, .. }
    ));
}

#[test]
fn oversized_message_is_refused_on_encode() {
    let header = Header {
        nonce: [0; 12],
        auth: AuthData::Message { src_id: id(NODE_A) },
    };
    let err = encode_message_packet([0; 16], &id(NODE_B), &header, &[0; 16], &[0; 1200]);
    assert!(matches!(err, Err(PacketError::TooLarge(_))));
}
