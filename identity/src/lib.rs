//! # leanp2p-identity
//!
//! Who a peer is, and how we prove who we are:
//!
//! * [`Keypair`] — our secp256k1 host key (k256). Generation takes a caller-provided RNG;
//!   the library never draws randomness or reads the clock on its own.
//! * [`PublicKey`] — any peer's key: secp256k1, Ed25519 or ECDSA P-256, with the canonical
//!   libp2p key protobuf ([`PublicKey::encode_protobuf`] / [`PublicKey::decode_protobuf`]).
//! * [`PeerId`] — multihash of the key protobuf, base58btc text (`16Uiu2HA…`), CIDv1 parsing.
//! * [`Multiaddr`] — the `/ip4|ip6|dns*/…/udp|tcp/…/quic-v1/p2p/…` subset, text and binary.
//! * [`keyfile`] — lean-quickstart node-key files (64 hex characters, mode 0600).
//! * [`Enr`] — EIP-778 node records ("v4" scheme): decode, verify, build, and map to
//!   the QUIC multiaddr to dial (lean-quickstart `nodes.yaml` bootnodes).
//! * [`tls`] — libp2p TLS certificates (build and verify) and rustls configurations.
//! * [`varint`] — the one incremental uvarint length-prefix / frame reader every leanp2p
//!   codec uses.
//! * [`spec`] — spec constants shared by several crates ([`spec::MAX_PAYLOAD_SIZE`]).
//!
//! ```
//! use leanp2p_identity::{Keypair, Multiaddr, PeerId};
//!
//! // A host key from 32 secret bytes (a node-key file holds them as 64 hex characters).
//! let key = Keypair::from_secret_bytes(&[7; 32]).unwrap();
//! let peer: PeerId = key.peer_id();
//! assert!(peer.to_base58().starts_with("16Uiu2HA"));
//! assert_eq!(peer.to_base58().parse::<PeerId>().unwrap(), peer);
//!
//! // The QUIC multiaddr other nodes dial, and back to what a dialler needs.
//! let addr = Multiaddr::quic_v1("127.0.0.1:9000".parse().unwrap(), Some(peer));
//! assert_eq!(addr.to_string(), format!("/ip4/127.0.0.1/udp/9000/quic-v1/p2p/{peer}"));
//! let (socket, expected) = addr.to_quic_v1_target().unwrap();
//! assert_eq!((socket.port(), expected), (9000, Some(peer)));
//! ```
//!
//! ## Drain rule
//! This crate has no state machines, so there is nothing to drain: every function is a pure
//! computation on its arguments, and the [`varint`] readers are plain incremental decoders
//! with nothing to poll. (Every stateful leanp2p crate documents the rule: after any
//! `handle_*` or command, drain `poll_transmit`/`poll_outbound`, then `poll_event`, then
//! read `poll_timeout`.)
//!
//! ## Limits
//! Decoders accept untrusted bytes and never panic: key protobufs must be canonical, PeerIds
//! are at most 44 bytes, multiaddrs at most [`multiaddr::MAX_COMPONENTS`] components with DNS
//! names of at most [`multiaddr::MAX_DNS_NAME_LEN`] bytes.

pub mod enr;
pub mod error;
pub mod keyfile;
mod keys;
pub mod multiaddr;
mod peer_id;
pub mod spec;
pub mod tls;
pub mod varint;

pub use enr::{Enr, EnrBuilder};
pub use error::{
    DecodingError, EnrError, KeyFileError, MultiaddrError, PeerIdError, SecretKeyError,
};
pub use keys::{EcdsaPublicKey, Ed25519PublicKey, KeyType, Keypair, PublicKey, Secp256k1PublicKey};
pub use multiaddr::{Multiaddr, Protocol};
pub use peer_id::{PeerId, MAX_INLINE_KEY_LENGTH};

/// Plain `fn(&[u8])` entry points for the cargo-fuzz targets (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use super::*;

    /// Feeds arbitrary bytes to every binary and text decoder of this crate, and checks
    /// that whatever decodes re-encodes to something that decodes to the same value.
    pub fn decode_all(data: &[u8]) {
        if let Ok(peer) = PeerId::from_bytes(data) {
            assert_eq!(PeerId::from_bytes(peer.as_bytes()), Ok(peer));
            assert_eq!(peer.to_string().parse::<PeerId>(), Ok(peer));
        }
        if let Ok(key) = PublicKey::decode_protobuf(data) {
            assert_eq!(key.encode_protobuf(), data);
        }
        let _ = Keypair::from_protobuf_encoding(data);
        if let Ok(addr) = Multiaddr::from_bytes(data) {
            assert_eq!(Multiaddr::from_bytes(&addr.to_bytes()).as_ref(), Ok(&addr));
        }
        if let Ok(text) = std::str::from_utf8(data) {
            if let Ok(peer) = text.parse::<PeerId>() {
                assert_eq!(peer.to_string().parse::<PeerId>(), Ok(peer));
            }
            if let Ok(addr) = text.parse::<Multiaddr>() {
                assert_eq!(addr.to_string().parse::<Multiaddr>().as_ref(), Ok(&addr));
            }
            let _ = keyfile::parse_node_key(text);
            if let Ok(enr) = text.parse::<Enr>() {
                assert_eq!(enr.to_text().parse::<Enr>().as_ref(), Ok(&enr));
            }
        }
        if let Ok(enr) = Enr::decode_rlp(data) {
            assert_eq!(enr.to_rlp(), data);
            let _ = enr.quic_multiaddrs();
        }
    }

    /// Feeds arbitrary bytes to the libp2p TLS certificate verifier (at a fixed time,
    /// 2027-01-15) and checks that an accepted certificate also passes the
    /// post-handshake path with the same PeerId.
    pub fn verify_certificate(data: &[u8]) {
        const NOW_UNIX: i64 = 1_800_000_000;
        if let Ok(peer) = tls::verify_certificate_at_unix(data, NOW_UNIX) {
            let der = tls::rustls::pki_types::CertificateDer::from(data);
            assert_eq!(tls::peer_id_from_certificates(&[der]), Ok(peer));
        }
    }
}
