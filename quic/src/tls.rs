//! libp2p TLS (from `leanp2p_identity::tls`) wrapped for quinn.
//!
//! Each endpoint generates its certificate once for the server side and once for the
//! client side. A dial clones the client configuration and installs a fresh verifier
//! that pins the expected PeerId and records why it rejected a certificate, so a failed
//! dial can say which PeerId the peer actually proved.

use std::sync::{Arc, Mutex};

use leanp2p_identity::tls::rustls;
use leanp2p_identity::tls::{certificate_error_of, CertificateError, Libp2pServerCertVerifier};
use leanp2p_identity::{Keypair, PeerId};
use quinn_proto::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::error::{ConfigError, DialError};

/// Server name a client puts in its ClientHello (as rust-libp2p; not verified, SNI off).
pub(crate) const SERVER_NAME: &str = "l";

/// Where a dial's verifier leaves the reason it rejected the server's certificate.
pub(crate) type RejectionSlot = Arc<Mutex<Option<CertificateError>>>;

/// TLS state of one endpoint. Cloning shares the server configuration and copies the
/// client template (both immutable once built).
#[derive(Clone)]
pub(crate) struct Tls {
    server: Arc<QuicServerConfig>,
    client: rustls::ClientConfig,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// Builds both configurations; `seed` drives certificate key and serial generation.
    pub(crate) fn new(keypair: &Keypair, seed: [u8; 32]) -> Result<Self, ConfigError> {
        #[cfg(feature = "fuzzing")]
        if crate::fuzzing::tls_memo_enabled() {
            return crate::fuzzing::memoized_tls(keypair, seed, Self::generate);
        }
        Self::generate(keypair, seed)
    }

    /// [`Tls::new`] without the fuzzing memo: always generates both certificates.
    pub(crate) fn generate(keypair: &Keypair, seed: [u8; 32]) -> Result<Self, ConfigError> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let server = leanp2p_identity::tls::make_server_config(keypair, &mut rng)
            .map_err(|e| ConfigError::Tls(e.to_string()))?;
        let server =
            QuicServerConfig::try_from(server).map_err(|e| ConfigError::Tls(e.to_string()))?;
        let client = leanp2p_identity::tls::make_client_config(keypair, None, &mut rng)
            .map_err(|e| ConfigError::Tls(e.to_string()))?;
        // Fail at construction, not at the first dial, if quinn cannot use it.
        QuicClientConfig::try_from(client.clone()).map_err(|e| ConfigError::Tls(e.to_string()))?;
        Ok(Self {
            server: Arc::new(server),
            client,
        })
    }

    /// The quinn server crypto configuration.
    pub(crate) fn server_config(&self) -> Arc<QuicServerConfig> {
        self.server.clone()
    }

    /// A client configuration whose verifier requires `expected` (any valid libp2p
    /// certificate if `None`), plus the slot where it records a rejection.
    pub(crate) fn client_config(
        &self,
        expected: Option<PeerId>,
    ) -> Result<(Arc<QuicClientConfig>, RejectionSlot), DialError> {
        let slot = RejectionSlot::default();
        let mut client = self.client.clone();
        client
            .dangerous()
            .set_certificate_verifier(Arc::new(RecordingVerifier {
                inner: Libp2pServerCertVerifier::new(expected),
                rejection: slot.clone(),
            }));
        let client =
            QuicClientConfig::try_from(client).map_err(|e| DialError::Tls(e.to_string()))?;
        Ok((Arc::new(client), slot))
    }
}

/// [`Libp2pServerCertVerifier`] that remembers why it rejected a certificate.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Libp2pServerCertVerifier,
    rejection: RejectionSlot,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if let Err(error) = &result {
            if let Some(reason) = certificate_error_of(error) {
                let mut slot = self
                    .rejection
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                *slot = Some(reason.clone());
            }
        }
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The rejection a dial's verifier recorded, if any.
pub(crate) fn take_rejection(slot: &RejectionSlot) -> Option<CertificateError> {
    slot.lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .take()
}

/// The PeerId proven by the peer's certificate, once the handshake has produced it.
pub(crate) fn peer_id_of(session: &dyn quinn_proto::crypto::Session) -> Option<PeerId> {
    let identity = session.peer_identity()?;
    let certs = identity.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    leanp2p_identity::tls::peer_id_from_certificates(&certs).ok()
}
