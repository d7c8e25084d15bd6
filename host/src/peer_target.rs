//! The address book and the peer target: while fewer than
//! [`crate::ConnManagerConfig::target_peers`] peers are connected, the node dials peers
//! it knows an address for but is not connected to.
//!
//! Addresses come from [`Node::add_peer_address`] (discovery, ENRs), from identify (the
//! listen addresses of every peer we talked to, so a peer that leaves can be dialled
//! again later), and from known peers and bootnodes (which the connection manager
//! redials on its own, forever). Gossipsub peer exchange carries PeerIds without
//! verified addresses: a suggested peer with an address in the book is made due at
//! once.
//!
//! The book is bounded ([`crate::ConnManagerConfig::max_address_book`]); identify may
//! fill at most half of it; when full, the stalest candidate ([`STALE_FAILURES`] or more
//! consecutive failures, not connected, not being dialled) is evicted for a new address,
//! else the new one is refused (counted in [`crate::Counters::address_book_refused`]).
//!
//! Every candidate has the connection manager's capped exponential backoff with seeded
//! jitter: a failed dial, or a connection that ends within [`STABLE_CONNECTION`], counts
//! as a failure; candidates are picked in PeerId order through the node's seeded RNG.
//! Target dials never take the node over
//! [`crate::ConnManagerConfig::max_outbound_peers`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use leanp2p_identity::PeerId;
use leanp2p_quic::ConnId;

/// A connection that lasts at least this long resets its candidate's failure count; a
/// shorter one (the peer refused us after the handshake, say for its peer limit) counts
/// as a failed dial, so such peers are not hammered.
pub const STABLE_CONNECTION: Duration = Duration::from_secs(10);

/// Consecutive failures after which a candidate is stale: when the book is full, the
/// stalest one (most failures, not connected, not being dialled) makes room.
pub const STALE_FAILURES: u32 = 3;

/// Where an address came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressSource {
    /// [`crate::Node::add_peer_address`]: the application (discovery, ENRs).
    Application,
    /// A peer's identify listen addresses: at most half the book, so peers that come
    /// and go cannot crowd out what the application supplied.
    Identify,
}

/// A dialable address for a peer and its dial state.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) addr: SocketAddr,
    pub(crate) source: AddressSource,
    /// Consecutive failures (failed dials and short-lived connections).
    pub(crate) failures: u32,
    /// Not dialled before this instant.
    pub(crate) next_dial: Instant,
    /// Our target dial in progress.
    pub(crate) dialing: Option<ConnId>,
    /// When the peer's current connection came up.
    pub(crate) connected_at: Option<Instant>,
    /// We disconnected it for misbehaviour (graylisted, slow): redial only after the
    /// longest backoff.
    pub(crate) penalized: bool,
}

/// The address book, in PeerId order.
pub(crate) type AddressBook = BTreeMap<PeerId, Candidate>;
