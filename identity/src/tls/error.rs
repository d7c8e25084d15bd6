//! Error types of the libp2p TLS module.

use thiserror::Error;

use crate::error::DecodingError;
use crate::PeerId;

/// Building, parsing or verifying a libp2p TLS certificate failed.
///
/// Inside a TLS handshake the verifiers hand this error to rustls wrapped as
/// `rustls::Error::InvalidCertificate(rustls::CertificateError::Other(..))`; use
/// [`crate::tls::certificate_error_of`] to get it back from a `rustls::Error`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The peer presented no certificate at all.
    #[error("the peer presented no certificate")]
    NoCertificate,
    /// The peer presented a chain; libp2p allows exactly one self-signed certificate.
    #[error("the peer presented {0} certificates; libp2p allows exactly one")]
    ChainNotAllowed(usize),
    /// The certificate is larger than [`crate::tls::MAX_CERTIFICATE_LEN`].
    #[error("certificate of {0} bytes exceeds the limit of {max} bytes", max = crate::tls::MAX_CERTIFICATE_LEN)]
    TooLarge(usize),
    /// The bytes are not a DER X.509 certificate (or have trailing bytes).
    #[error("malformed X.509 certificate: {0}")]
    Malformed(String),
    /// The certificate is not an X.509 v3 certificate.
    #[error("certificate version is not v3")]
    NotVersion3,
    /// `issuerUniqueID` or `subjectUniqueID` is present (libp2p forbids them).
    #[error("certificate carries an issuer or subject unique id")]
    UniqueIdPresent,
    /// The signature algorithm inside the TBS certificate differs from the outer one.
    #[error("inner and outer certificate signature algorithms differ")]
    SignatureAlgorithmMismatch,
    /// `now` is before `notBefore`.
    #[error("certificate is not valid yet (notBefore {not_before}, now {now}, unix seconds)")]
    NotYetValid {
        /// `notBefore`, seconds since the Unix epoch.
        not_before: i64,
        /// The verification time, seconds since the Unix epoch.
        now: i64,
    },
    /// `now` is after `notAfter`.
    #[error("certificate has expired (notAfter {not_after}, now {now}, unix seconds)")]
    Expired {
        /// `notAfter`, seconds since the Unix epoch.
        not_after: i64,
        /// The verification time, seconds since the Unix epoch.
        now: i64,
    },
    /// The libp2p extension (OID 1.3.6.1.4.1.53594.1.1) is missing.
    #[error("certificate lacks the libp2p extension")]
    MissingExtension,
    /// An extension (the libp2p one or another) occurs more than once.
    #[error("certificate repeats extension {0}")]
    DuplicateExtension(String),
    /// An extension other than the libp2p one is marked critical.
    #[error("certificate has an unsupported critical extension {0}")]
    UnsupportedCriticalExtension(String),
    /// The libp2p extension value is not a DER `SignedKey`.
    #[error("malformed libp2p SignedKey extension")]
    MalformedSignedKey,
    /// The host public key inside `SignedKey` is not a supported libp2p key protobuf.
    #[error("invalid host public key in the libp2p extension: {0}")]
    HostKey(#[from] DecodingError),
    /// The host-key signature over `"libp2p-tls-handshake:" ‖ SPKI` does not verify.
    #[error("the libp2p extension signature does not verify against the certificate key")]
    ExtensionSignatureInvalid,
    /// The certificate key or its signature algorithm is not one libp2p TLS accepts.
    #[error("unsupported certificate signature scheme: {0}")]
    UnsupportedSignatureScheme(&'static str),
    /// The certificate's self-signature does not verify.
    #[error("the certificate self-signature does not verify")]
    SelfSignatureInvalid,
    /// The TLS handshake used a signature scheme the certificate key cannot produce.
    #[error("handshake signature scheme {0} does not match the certificate key")]
    HandshakeSchemeMismatch(String),
    /// The TLS handshake signature (CertificateVerify) does not verify.
    #[error("the TLS handshake signature does not verify against the certificate key")]
    HandshakeSignatureInvalid,
    /// The peer is valid but not the one we dialled.
    #[error("peer id mismatch: expected {expected}, but the certificate presents {presented}")]
    PeerIdMismatch {
        /// The PeerId the dial address pinned.
        expected: PeerId,
        /// The PeerId the certificate proves.
        presented: PeerId,
    },
    /// Building our own certificate failed.
    #[error("could not build the TLS certificate: {0}")]
    Generation(String),
}

/// Building a rustls client or server configuration failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Our certificate could not be built.
    #[error("{0}")]
    Certificate(#[from] CertificateError),
    /// rustls rejected the configuration.
    #[error("rustls rejected the libp2p TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}
