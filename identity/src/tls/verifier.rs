//! rustls certificate verifiers that implement libp2p peer authentication.
//!
//! Both sides run the same checks ([`Libp2pCertificate::parse`] plus the validity window at
//! rustls' `now`); the client additionally pins the PeerId of the dial address when one is
//! given. No CA roots, no host names: the certificate proves a PeerId, nothing else.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme};

use super::error::CertificateError;
use super::verify::{Libp2pCertificate, SignatureChecks, SUPPORTED_SCHEMES};
use crate::PeerId;

/// Wraps our typed error so rustls carries it (and [`certificate_error_of`] finds it again).
fn to_rustls(error: CertificateError) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(OtherError(Arc::new(error))))
}

/// The libp2p [`CertificateError`] inside a rustls error produced by our verifiers, if any.
///
/// Lets the QUIC layer map a failed handshake to a precise reason (for example
/// [`CertificateError::PeerIdMismatch`] with both PeerIds).
pub fn certificate_error_of(error: &rustls::Error) -> Option<&CertificateError> {
    match error {
        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
            other.0.downcast_ref::<CertificateError>()
        }
        _ => None,
    }
}

/// Verifies one presented certificate (no intermediates allowed) at `now`.
fn verify_presented(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
) -> Result<PeerId, CertificateError> {
    if !intermediates.is_empty() {
        return Err(CertificateError::ChainNotAllowed(1 + intermediates.len()));
    }
    let certificate = Libp2pCertificate::parse(end_entity.as_ref())?;
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    certificate.check_validity_at(now)?;
    Ok(certificate.peer_id())
}

/// Verifies a TLS 1.3 CertificateVerify signature with the key of `cert`.
fn verify_tls13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    // rustls calls this only after the certificate verifier accepted `cert` in this
    // handshake, so the two certificate signatures need not be verified again.
    Libp2pCertificate::parse_inner(cert.as_ref(), SignatureChecks::AlreadyVerified)
        .and_then(|c| c.verify_handshake_signature(dss.scheme, message, dss.signature()))
        .map(|()| HandshakeSignatureValid::assertion())
        .map_err(to_rustls)
}

/// TLS 1.2 is never negotiated (the configs offer TLS 1.3 only); refuse if asked.
fn refuse_tls12() -> Result<HandshakeSignatureValid, rustls::Error> {
    Err(rustls::Error::PeerIncompatible(
        rustls::PeerIncompatible::Tls12NotOfferedOrEnabled,
    ))
}

/// Client-side verifier of the server's certificate.
///
/// Ignores the server name (rust-libp2p dials with `"l"`), requires exactly one valid
/// libp2p certificate and, when constructed with an expected PeerId, requires the
/// certificate to prove exactly that PeerId ([`CertificateError::PeerIdMismatch`]).
#[derive(Debug, Clone)]
pub struct Libp2pServerCertVerifier {
    expected_peer: Option<PeerId>,
}

impl Libp2pServerCertVerifier {
    /// A verifier that accepts any valid libp2p certificate, or only `expected_peer`'s.
    pub fn new(expected_peer: Option<PeerId>) -> Self {
        Self { expected_peer }
    }
}

impl ServerCertVerifier for Libp2pServerCertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let presented = verify_presented(end_entity, intermediates, now).map_err(|error| {
            tracing::debug!(%error, "rejecting the server's libp2p certificate");
            to_rustls(error)
        })?;
        match self.expected_peer {
            Some(expected) if expected != presented => {
                tracing::debug!(%expected, %presented, "server proved a different PeerId than dialled");
                Err(to_rustls(CertificateError::PeerIdMismatch {
                    expected,
                    presented,
                }))
            }
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        refuse_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        SUPPORTED_SCHEMES.to_vec()
    }
}

/// Server-side verifier of the client's certificate: client authentication is offered
/// and mandatory, no CA hints are sent, any valid libp2p certificate is accepted (the
/// PeerId is read from the session afterwards with [`super::peer_id_from_certificates`]).
#[derive(Debug, Clone, Default)]
pub struct Libp2pClientCertVerifier {
    _private: (),
}

impl Libp2pClientCertVerifier {
    /// The verifier.
    pub fn new() -> Self {
        Self::default()
    }
}

impl ClientCertVerifier for Libp2pClientCertVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        verify_presented(end_entity, intermediates, now)
            .map(|_| ClientCertVerified::assertion())
            .map_err(|error| {
                tracing::debug!(%error, "rejecting the client's libp2p certificate");
                to_rustls(error)
            })
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        refuse_tls12()
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        SUPPORTED_SCHEMES.to_vec()
    }
}
