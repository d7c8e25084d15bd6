//! Plain `fn(&[u8])` fuzz entry points (feature `fuzzing`), used by the cargo-fuzz targets
//! `discv5_packet` (the packet decoder, [`discv5_packet`]) and `discv5_machine` (a
//! machine with a session and requests in flight fed a sequence of packets,
//! [`discv5_machine`]) and replayed by the fuzz crate's corpus test.

mod machine_target;

pub use machine_target::{discv5_machine, discv5_machine_seeds};

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Instant;

use leanp2p_identity::{Enr, Keypair};

use crate::machine::{Config, Discv5};
use crate::message::Message;
use crate::node_id::NodeId;
use crate::packet::{
    decode_packet, encode_whoareyou, AuthData, MASKING_IV_SIZE, STATIC_HEADER_SIZE,
};

/// Secret key of node B in the discv5 wire test vectors (the vectors' packets are masked
/// for it, so they make good seeds).
const NODE_B_KEY: [u8; 32] = [
    0x66, 0xfb, 0x62, 0xbf, 0xbd, 0x66, 0xb9, 0x17, 0x7a, 0x13, 0x8c, 0x1e, 0x5c, 0xdd, 0xbe, 0x4f,
    0x7c, 0x30, 0xc3, 0x43, 0xe9, 0x4e, 0x68, 0xdf, 0x87, 0x69, 0x45, 0x9c, 0xb1, 0xcd, 0xe6, 0x28,
];
/// Secret key of node A in the test vectors.
const NODE_A_KEY: [u8; 32] = [
    0xee, 0xf7, 0x7a, 0xcb, 0x6c, 0x6a, 0x6e, 0xeb, 0xc5, 0xb3, 0x63, 0xa4, 0x75, 0xac, 0x58, 0x3e,
    0xc7, 0xec, 0xcd, 0xb4, 0x2b, 0x64, 0x81, 0x42, 0x4c, 0x60, 0xf5, 0x9a, 0xa3, 0x26, 0x54, 0x7f,
];

const ADDR_A: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9000);
const ADDR_B: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9001);

/// A machine on 127.0.0.1:`port` with key `secret`, RNG seed `[seed; 32]`.
fn new_machine(
    t0: Instant,
    secret: &[u8; 32],
    port: u16,
    seed: u8,
    config: Config,
) -> Option<Discv5> {
    let key = Keypair::from_secret_bytes(secret).ok()?;
    let enr = Enr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(port)
        .build(&key)
        .ok()?;
    Discv5::new(t0, config, key, enr, [seed; 32]).ok()
}

/// Node B's ID, the masking key of every packet addressed to B.
fn node_b_id() -> Option<NodeId> {
    static ID: OnceLock<Option<NodeId>> = OnceLock::new();
    *ID.get_or_init(|| {
        let key = Keypair::from_secret_bytes(&NODE_B_KEY).ok()?;
        Some(NodeId::from_public_key(key.secp256k1_public()))
    })
}

/// `bytes` with its header masked for `dest`: the static header (bytes 16..39 after the
/// IV) and then as much `authdata` as its unmasked `authdata-size` field announces and
/// the input holds. The fuzzer writes the header in clear; the decoder then reaches the
/// flag and the `authdata` of every packet kind instead of stopping at the protocol ID.
pub(crate) fn mask_header(dest: &NodeId, bytes: &[u8]) -> Vec<u8> {
    use aes::cipher::{KeyIvInit, StreamCipher};
    let mut out = bytes.to_vec();
    let header_start = MASKING_IV_SIZE;
    let static_end = header_start + STATIC_HEADER_SIZE;
    if out.len() < static_end {
        return out;
    }
    let authdata_size = usize::from(u16::from_be_bytes([
        out[static_end - 2],
        out[static_end - 1],
    ]));
    let header_end = static_end.saturating_add(authdata_size).min(out.len());
    let mut key = [0u8; 16];
    key.copy_from_slice(&dest.as_bytes()[..16]);
    let mut iv = [0u8; MASKING_IV_SIZE];
    iv.copy_from_slice(&out[..MASKING_IV_SIZE]);
    let mut cipher = ctr::Ctr128BE::<aes::Aes128>::new(&key.into(), &iv.into());
    cipher.apply_keystream(&mut out[header_start..header_end]);
    out
}

/// The packet decoder alone (target `discv5_packet`): `data` as a packet for node B,
/// then `data` with its header masked for B (`mask_header`), then as a bare message
/// plaintext. A decoded packet must re-encode to the same header, a WHOAREYOU to the
/// same bytes, and a handshake's record is decoded (and its signature checked) too.
pub fn discv5_packet(data: &[u8]) {
    let _ = Message::decode(data);
    let Some(local) = node_b_id() else {
        return;
    };
    check_decode(&local, data);
    check_decode(&local, &mask_header(&local, data));
}

/// Decodes `bytes` for `local` and checks what a decoded packet promises.
fn check_decode(local: &NodeId, bytes: &[u8]) {
    let Ok(packet) = decode_packet(local, bytes) else {
        return;
    };
    let ad = &packet.authenticated_data;
    assert_eq!(ad.len() + packet.message.len(), bytes.len());
    assert_eq!(ad[..MASKING_IV_SIZE], packet.masking_iv);
    assert_eq!(
        packet.header.encode().as_deref(),
        Ok(&ad[MASKING_IV_SIZE..])
    );
    match &packet.header.auth {
        AuthData::WhoAreYou { id_nonce, enr_seq } => {
            assert!(packet.message.is_empty());
            let (again, challenge) = encode_whoareyou(
                packet.masking_iv,
                local,
                packet.header.nonce,
                *id_nonce,
                *enr_seq,
            );
            assert_eq!(again, bytes);
            assert_eq!(&challenge, ad);
        }
        AuthData::Handshake { record, .. } => {
            if let Some(record) = record {
                let _ = Enr::decode_rlp(record);
            }
            let _ = packet.open(&[0u8; 16]);
        }
        AuthData::Message { .. } => {
            let _ = packet.open(&[0u8; 16]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{FLAG_HANDSHAKE, FLAG_WHOAREYOU, PROTOCOL_ID, VERSION};

    /// An unmasked header of `flag` with `authdata`, after a zero IV.
    fn clear_packet(flag: u8, authdata: &[u8], message: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; MASKING_IV_SIZE];
        out.extend_from_slice(PROTOCOL_ID);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.push(flag);
        out.extend_from_slice(&[7u8; 12]);
        out.extend_from_slice(&(authdata.len() as u16).to_be_bytes());
        out.extend_from_slice(authdata);
        out.extend_from_slice(message);
        out
    }

    #[test]
    fn clear_headers_reach_the_whoareyou_and_handshake_authdata() {
        let local = node_b_id().unwrap();
        let whoareyou = clear_packet(FLAG_WHOAREYOU, &[1u8; 24], &[]);
        let masked = mask_header(&local, &whoareyou);
        let packet = decode_packet(&local, &masked).unwrap();
        assert!(matches!(
            packet.header.auth,
            AuthData::WhoAreYou { enr_seq, .. } if enr_seq == u64::from_be_bytes([1; 8])
        ));
        discv5_packet(&whoareyou);
        // A handshake with a (bad) record: sig-size 64, eph-key-size 33.
        let mut authdata = vec![9u8; 32];
        authdata.extend_from_slice(&[64, 33]);
        authdata.extend_from_slice(&[5u8; 64 + 33]);
        authdata.extend_from_slice(&[0xc1, 0x80]);
        let handshake = clear_packet(FLAG_HANDSHAKE, &authdata, &[0u8; 20]);
        let masked = mask_header(&local, &handshake);
        let packet = decode_packet(&local, &masked).unwrap();
        assert!(matches!(
            &packet.header.auth,
            AuthData::Handshake { record: Some(r), .. } if r == &[0xc1, 0x80]
        ));
        discv5_packet(&handshake);
    }

    /// A deterministic stand-in for the fuzzer on stable: mutations of the wire vectors
    /// and of message plaintexts (byte flips, truncations, splices, insertions).
    #[test]
    fn mutated_seeds_do_not_panic() {
        use rand_core::{RngCore, SeedableRng};
        let hex = |s: &str| {
            let s: String = s.split_whitespace().collect();
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>()
        };
        let mut seeds: Vec<Vec<u8>> = [
            crate::packet::tests::PING_PACKET,
            crate::packet::tests::WHOAREYOU_PACKET,
            crate::packet::tests::HANDSHAKE_PACKET,
            crate::packet::tests::HANDSHAKE_ENR_PACKET,
        ]
        .iter()
        .map(|s| hex(s))
        .collect();
        let id = crate::message::RequestId::from_u64(7);
        seeds.push(Message::Ping { id, enr_seq: 3 }.encode());
        seeds.push(
            Message::FindNode {
                id,
                distances: vec![0, 255, 256],
            }
            .encode(),
        );
        seeds.push(clear_packet(FLAG_WHOAREYOU, &[3u8; 24], &[]));
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([42; 32]);
        for round in 0..2000 {
            let mut data = seeds[round % seeds.len()].clone();
            for _ in 0..=(rng.next_u32() % 4) {
                let len = data.len().max(1);
                let at = rng.next_u32() as usize % len;
                match rng.next_u32() % 4 {
                    0 if !data.is_empty() => data[at] ^= 1 << (rng.next_u32() % 8),
                    1 => data.truncate(at),
                    2 => data.insert(at.min(data.len()), rng.next_u32() as u8),
                    _ => {
                        let other = &seeds[rng.next_u32() as usize % seeds.len()];
                        data.extend_from_slice(&other[..other.len() / 2]);
                    }
                }
            }
            discv5_packet(&data);
        }
    }
}
