//! libp2p TLS 1.3 authentication (libp2p TLS spec), as used inside QUIC.
//!
//! Each side presents exactly one self-signed X.509 certificate whose key is a fresh
//! ECDSA P-256 key, carrying the libp2p extension (OID 1.3.6.1.4.1.53594.1.1): a DER
//! `SignedKey { publicKey, signature }` where `publicKey` is the host key protobuf and
//! `signature` is the host-key signature over `"libp2p-tls-handshake:" ‖ SPKI` of the
//! certificate key. Verifying that extension proves the peer's [`PeerId`](crate::PeerId).
//!
//! * [`generate_certificate`] builds our certificate (rcgen, ring backend).
//! * [`verify_certificate`] / [`Libp2pCertificate::parse`] check a peer certificate
//!   (x509-parser for the structure, ring for signatures).
//! * [`make_client_config`] / [`make_server_config`] build rustls configurations (ring
//!   provider, TLS 1.3 only, ALPN `libp2p`, mutual authentication) with the libp2p
//!   verifiers [`Libp2pServerCertVerifier`] / [`Libp2pClientCertVerifier`].
//! * After a handshake, [`peer_id_from_certificates`] turns the session's peer
//!   certificates into the verified PeerId; [`certificate_error_of`] recovers the typed
//!   [`CertificateError`] from a failed handshake's `rustls::Error`.
//!
//! ## Randomness and time
//! Our choices (certificate key, serial number) come from the caller's RNG. ring draws its
//! own randomness for ECDSA nonces when signing the certificate and the handshake, and
//! rustls for key shares and handshake randoms: that stays inside the crypto provider.
//! Verification time is an argument (`now`); inside handshakes it is rustls' `now`, which
//! the embedder controls through rustls' `TimeProvider`.
//!
//! ## Limits
//! Certificates longer than [`MAX_CERTIFICATE_LEN`] bytes are rejected before parsing.

mod certificate;
mod config;
mod error;
mod verifier;
mod verify;

/// The rustls this crate builds its configurations with (0.23, ring provider); use it so
/// the configurations fit the QUIC layer's rustls.
pub use rustls;

pub use certificate::generate_certificate;
pub use config::{crypto_provider, make_client_config, make_server_config};
pub use error::{CertificateError, TlsError};
pub use verifier::{certificate_error_of, Libp2pClientCertVerifier, Libp2pServerCertVerifier};
pub use verify::{
    peer_id_from_certificates, verify_certificate, verify_certificate_at_unix, Libp2pCertificate,
};

/// The ALPN protocol id both sides must negotiate.
pub const ALPN: &[u8] = b"libp2p";

/// Prefix of the message the host key signs: `"libp2p-tls-handshake:" ‖ SPKI`.
pub const SIGNING_PREFIX: &[u8] = b"libp2p-tls-handshake:";

/// DER contents of the libp2p extension OID 1.3.6.1.4.1.53594.1.1.
pub const LIBP2P_EXTENSION_OID: &[u8] =
    &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x83, 0xa2, 0x5a, 0x01, 0x01];

/// Largest peer certificate we parse, in bytes. Real libp2p certificates are 400–700
/// bytes with EC keys and under 3 KiB with RSA-4096 keys.
pub const MAX_CERTIFICATE_LEN: usize = 16 * 1024;
