//! Identify: `/ipfs/id/1.0.0` (query on connect and periodically, answer) and
//! `/ipfs/id/push/1.0.0` (accept and merge; send when our listen addresses change).

pub(crate) mod proto;

use leanp2p_identity::{Multiaddr, PublicKey};

pub use proto::IdentifyError;
pub(crate) use proto::IdentifyMessage;

/// What a peer told us about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct PeerInfo {
    /// Its public key (checked against its PeerId).
    pub public_key: Option<PublicKey>,
    /// `protocolVersion`.
    pub protocol_version: Option<String>,
    /// `agentVersion`.
    pub agent_version: Option<String>,
    /// Addresses it listens on (undecodable ones are skipped).
    pub listen_addrs: Vec<Multiaddr>,
    /// Protocols it accepts inbound.
    pub protocols: Vec<String>,
    /// Our address as it sees it.
    pub observed_addr: Option<Multiaddr>,
}

impl PeerInfo {
    /// Whether the peer accepts `protocol` inbound.
    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p == protocol)
    }

    /// Applies a push: fields present in `update` replace ours, absent ones stay.
    pub(crate) fn merge(&mut self, update: PeerInfo) {
        if update.public_key.is_some() {
            self.public_key = update.public_key;
        }
        if update.protocol_version.is_some() {
            self.protocol_version = update.protocol_version;
        }
        if update.agent_version.is_some() {
            self.agent_version = update.agent_version;
        }
        if !update.listen_addrs.is_empty() {
            self.listen_addrs = update.listen_addrs;
        }
        if !update.protocols.is_empty() {
            self.protocols = update.protocols;
        }
        if update.observed_addr.is_some() {
            self.observed_addr = update.observed_addr;
        }
    }
}
