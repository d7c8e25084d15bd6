//! Error types, one per operation.
//!
//! Caller misuse (an unknown connection, dialling ourselves) returns an `Err` and leaves
//! the node unchanged. Anything a remote peer does is handled inside the node (stream
//! reset, connection close, counter) and reported through [`crate::NodeEvent`]s.
//! Gossip and req/resp commands return the errors of the layer that refuses them
//! (`gossipsub::PublishError`, `reqresp::RequestError`, ...), re-exported from the crate
//! root.

use std::net::SocketAddr;

use leanp2p_identity::{MultiaddrError, PeerId};

/// Why [`crate::Node::new`] rejected its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A host [`crate::Limits`] value is out of range.
    #[error("invalid host limit: {0}")]
    InvalidLimit(&'static str),
    /// A host setting (identify, ping, connection manager, pacer) is out of range.
    #[error("invalid host setting: {0}")]
    InvalidSetting(&'static str),
    /// The QUIC configuration was rejected.
    #[error("quic: {0}")]
    Quic(#[from] leanp2p_quic::ConfigError),
    /// The gossipsub configuration was rejected.
    #[error("gossipsub: {0}")]
    Gossipsub(#[from] leanp2p_gossipsub::ConfigError),
    /// The req/resp configuration was rejected.
    #[error("reqresp: {0}")]
    ReqResp(#[from] leanp2p_reqresp::ConfigError),
    /// The multistream-select configuration was rejected.
    #[error("multistream: {0}")]
    Multistream(#[from] leanp2p_multistream::ConfigError),
    /// A protocol id (from a req/resp or application protocol) is not valid for
    /// multistream-select.
    #[error("invalid protocol id {0:?}")]
    InvalidProtocolId(String),
}

/// Why [`crate::Node::dial`] did not start a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    /// The address is one of our own listen addresses, or the PeerId is ours.
    #[error("refusing to dial ourselves")]
    SelfDial,
    /// The multiaddr is not a `/ip4|ip6/…/udp/…/quic-v1[/p2p/…]` address.
    #[error("unsupported multiaddr: {0}")]
    UnsupportedAddress(#[from] MultiaddrError),
    /// A bootnode multiaddr has no `/p2p/<PeerId>` part.
    #[error("bootnode address has no /p2p part")]
    MissingPeerId,
    /// The outbound peer limit ([`crate::ConnManagerConfig::max_outbound_peers`]) is reached.
    #[error("outbound peer limit reached")]
    TooManyPeers,
    /// The QUIC endpoint refused the dial.
    #[error("quic: {0}")]
    Quic(#[from] leanp2p_quic::DialError),
}

/// Why [`crate::Node::disconnect`] or [`crate::Node::close_connection`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectError {
    /// No established connection with that handle.
    #[error("unknown connection")]
    UnknownConnection,
    /// No connection to that peer.
    #[error("not connected to {0}")]
    NotConnected(PeerId),
}

/// Why [`crate::Node::listen`] refused an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// Port 0 or an unspecified IP cannot be advertised; pass the socket's real address.
    #[error("cannot advertise {0}")]
    Unadvertisable(SocketAddr),
}
