//! Application protocols on raw streams: the embedder registers protocol ids, opens
//! streams with them, and gets the bytes of inbound and outbound streams as events. The
//! host runs multistream-select, applies the negotiation timeout, the per-stream send
//! limit and the per-connection inbound cap ([`crate::Limits::max_inbound_app_streams`]).

use std::fmt;

use leanp2p_identity::PeerId;
use leanp2p_quic::{ConnId, StreamId};

/// Handle of one application stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AppStream {
    /// The connection it lives on.
    pub conn: ConnId,
    /// The QUIC stream.
    pub stream: StreamId,
}

impl fmt::Display for AppStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.conn, self.stream)
    }
}

/// Why an application-protocol command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AppStreamError {
    /// The protocol id is not valid for multistream-select, or is one the host serves
    /// itself (gossipsub, req/resp, identify, ping).
    #[error("invalid or reserved protocol id {0:?}")]
    InvalidProtocol(String),
    /// No connection to the peer.
    #[error("not connected to {0}")]
    NotConnected(PeerId),
    /// QUIC refused to open a stream (peer stream limit).
    #[error("cannot open stream: {0}")]
    Open(#[from] leanp2p_quic::OpenStreamError),
    /// The stream is unknown, finished on our side, or reset.
    #[error("unknown or closed stream")]
    UnknownStream,
    /// The write would exceed [`crate::Limits::max_stream_send_buffer`]; nothing was
    /// queued.
    #[error("stream send buffer full")]
    BufferFull,
}
