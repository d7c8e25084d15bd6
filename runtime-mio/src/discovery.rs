//! Node Discovery v5 on the reactor: a UDP socket of its own driving a
//! [`leanp2p_discv5::Discv5`] machine, and the records it finds fed to the node's address
//! book.
//!
//! Set up with [`DiscoverySocket::bind`] (so the record can carry the bound `udp` port),
//! then [`crate::Reactor::with_discovery`]. On every loop turn the reactor:
//! * reads discovery datagrams (at most [`crate::ReactorConfig::max_datagrams_per_wakeup`]
//!   per wakeup) into [`Discv5::handle_packet`];
//! * runs the machine's timers ([`Discv5::poll_timeout`] is folded into the reactor's
//!   sleep) and starts a lookup of a random node ID every
//!   [`DiscoveryConfig::lookup_interval`] (the first one at once);
//! * sends what [`Discv5::poll_transmit`] yields (a datagram that hits `WouldBlock` is
//!   dropped and counted: discv5 requests are retried by the machine);
//! * hands every record seen in an event (a verified session, a lookup result, an updated
//!   record) that advertises a QUIC address and passes [`DiscoveryConfig::filter`] to
//!   [`Node::add_peer_address`]; the node's connection manager then dials such peers
//!   while it is under its [`leanp2p_host::ConnManagerConfig::target_peers`].
//!
//! Every other discovery event is passed to [`DiscoveryConfig::on_event`] if set.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leanp2p_discv5::{Discv5, Event, FedRecords, NodeId};
use leanp2p_host::Node;
use leanp2p_identity::Enr;

use crate::reactor::{Reactor, ReactorError};

/// The discovery socket's token (the waker is `usize::MAX`, QUIC sockets their index).
pub(crate) const DISCOVERY: mio::Token = mio::Token(usize::MAX - 1);

/// Largest datagram read: discv5 packets are at most 1,280 bytes, anything longer is
/// dropped by the machine (a truncated read is longer than 1,280 too).
const RECV_BUFFER: usize = 1_500;

/// A filter on discovered records: only those passing it reach the node's address book.
pub type EnrFilter = Arc<dyn Fn(&Enr) -> bool + Send + Sync>;

/// A callback for discovery events (after the reactor has used them).
pub type DiscoveryEventHook = Box<dyn FnMut(&mut Discv5, Instant, &Event) + Send>;

/// Discovery settings.
pub struct DiscoveryConfig {
    /// Records made contactable before the first lookup ([`Discv5::add_enr`]).
    pub bootnodes: Vec<Enr>,
    /// Interval of random-target lookups; the first runs at once. Default 30 s.
    pub lookup_interval: Duration,
    /// Only records passing it are fed to the node (e.g. the right `eth2` / network
    /// field). `None`: every record with a QUIC address. Default `None`.
    pub filter: Option<EnrFilter>,
    /// Called with every discovery event (TALKREQs to answer, lookups the application
    /// started, ...). Default `None`.
    pub on_event: Option<DiscoveryEventHook>,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            bootnodes: Vec::new(),
            lookup_interval: Duration::from_secs(30),
            filter: None,
            on_event: None,
        }
    }
}

impl std::fmt::Debug for DiscoveryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryConfig")
            .field("bootnodes", &self.bootnodes.len())
            .field("lookup_interval", &self.lookup_interval)
            .field("filter", &self.filter.is_some())
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

/// Counters of the discovery socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiscoveryStats {
    /// Datagrams read.
    pub datagrams_received: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams dropped on `WouldBlock` or another send error.
    pub send_errors: u64,
    /// Receive errors other than `WouldBlock`.
    pub recv_errors: u64,
    /// Random lookups started.
    pub lookups_started: u64,
    /// Records handed to [`Node::add_peer_address`].
    pub addresses_fed: u64,
    /// Records without a QUIC address, or refused by the filter.
    pub records_skipped: u64,
}

/// A bound, non-blocking discovery UDP socket (bind first, so the local record can
/// carry the port).
#[derive(Debug)]
pub struct DiscoverySocket {
    socket: mio::net::UdpSocket,
    local: SocketAddr,
}

impl DiscoverySocket {
    /// Binds `addr` (port 0 picks a free port).
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let socket = mio::net::UdpSocket::bind(addr)?;
        let local = socket.local_addr()?;
        Ok(Self { socket, local })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

/// The discovery machine and its socket, owned by the reactor.
pub(crate) struct Discovery {
    machine: Discv5,
    socket: DiscoverySocket,
    config: DiscoveryConfig,
    next_lookup: Instant,
    random: RandomState,
    lookup_counter: u64,
    fed: FedRecords,
    recv_buf: Vec<u8>,
    /// Stopped reading at the per-wakeup cap: read again before sleeping.
    pub(crate) more_to_read: bool,
    stats: DiscoveryStats,
}

impl Discovery {
    pub(crate) fn new(
        now: Instant,
        mut machine: Discv5,
        socket: DiscoverySocket,
        config: DiscoveryConfig,
    ) -> Self {
        for enr in &config.bootnodes {
            if let Err(error) = machine.add_enr(enr.clone()) {
                tracing::warn!(%error, enr = %enr.to_text(), "discovery bootnode ignored");
            }
        }
        if let Some(port) = machine.local_enr().udp4() {
            if port != socket.local.port() {
                tracing::warn!(
                    enr_udp = port,
                    bound = %socket.local,
                    "the local record's udp port is not the discovery socket's"
                );
            }
        }
        tracing::info!(local = %socket.local, "discovery listening");
        Self {
            machine,
            socket,
            config,
            next_lookup: now,
            random: RandomState::new(),
            lookup_counter: 0,
            fed: FedRecords::default(),
            recv_buf: vec![0; RECV_BUFFER],
            more_to_read: false,
            stats: DiscoveryStats::default(),
        }
    }

    /// When the reactor must wake for discovery: the machine's deadline or the next
    /// random lookup.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let lookup = Some(self.next_lookup);
        [self.machine.poll_timeout(), lookup]
            .into_iter()
            .flatten()
            .min()
    }

    /// Reads up to `cap` datagrams into the machine.
    pub(crate) fn read(&mut self, now: Instant, cap: usize) {
        for _ in 0..cap {
            match self.socket.socket.recv_from(&mut self.recv_buf) {
                Ok((n, from)) => {
                    self.stats.datagrams_received += 1;
                    let data = self.recv_buf.get(..n).unwrap_or_default();
                    self.machine.handle_packet(now, from, data);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.more_to_read = false;
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stats.recv_errors += 1;
                    tracing::debug!(error = %e, "discovery recv failed");
                }
            }
        }
        // Cut off by the cap: read again without sleeping.
        self.more_to_read = true;
    }

    /// Timers, random lookups, then the drain rule: transmits, then events (records to
    /// the node).
    pub(crate) fn drive(&mut self, now: Instant, node: &mut Node) {
        if self.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.machine.handle_timeout(now);
        }
        if now >= self.next_lookup {
            self.next_lookup = now + self.config.lookup_interval;
            let target = self.random_target();
            match self.machine.lookup(now, target) {
                Ok(_) => self.stats.lookups_started += 1,
                Err(error) => tracing::debug!(%error, "discovery lookup not started"),
            }
        }
        self.flush();
        while let Some(event) = self.machine.poll_event() {
            for enr in event.records() {
                self.feed(now, node, enr);
            }
            if let Some(hook) = self.config.on_event.as_mut() {
                hook(&mut self.machine, now, &event);
            }
        }
        // A hook may have queued work (a TALKRESP, a lookup): send it now.
        self.flush();
    }

    /// Sends every queued datagram; one that fails (`WouldBlock` included) is dropped.
    fn flush(&mut self) {
        while let Some(transmit) = self.machine.poll_transmit() {
            match self.socket.socket.send_to(&transmit.bytes, transmit.dest) {
                Ok(_) => self.stats.datagrams_sent += 1,
                Err(e) => {
                    self.stats.send_errors += 1;
                    tracing::debug!(error = %e, to = %transmit.dest, "discovery send failed");
                }
            }
        }
    }

    /// Hands `enr`'s QUIC address to the node if it passes the filter and was not handed
    /// over at this `seq` already.
    fn feed(&mut self, now: Instant, node: &mut Node, enr: &Enr) {
        if NodeId(enr.node_id()) == self.machine.local_id() || !self.fed.is_new(enr) {
            return;
        }
        let addr = enr.quic_socket_addr();
        let passes = self.config.filter.as_ref().is_none_or(|f| f(enr));
        let Some(addr) = addr.filter(|_| passes) else {
            self.stats.records_skipped += 1;
            return;
        };
        self.fed.remember(enr);
        let peer = enr.peer_id();
        match node.add_peer_address(now, peer, addr) {
            Ok(_) => {
                self.stats.addresses_fed += 1;
                tracing::debug!(%peer, %addr, "discovered peer");
            }
            Err(error) => tracing::debug!(%peer, %error, "discovered address refused"),
        }
    }

    /// A node ID from the OS-seeded hasher state (lookups need no reproducibility).
    fn random_target(&mut self) -> NodeId {
        self.lookup_counter += 1;
        let mut target = [0u8; 32];
        for (i, chunk) in target.chunks_mut(8).enumerate() {
            let mut hasher = self.random.build_hasher();
            hasher.write_u64(self.lookup_counter);
            hasher.write_usize(i);
            chunk.copy_from_slice(&hasher.finish().to_be_bytes());
        }
        NodeId(target)
    }
}

impl Reactor {
    /// Adds discovery: `socket` (bound with [`DiscoverySocket::bind`]) drives `machine`
    /// (whose local record should carry the socket's `udp` port and the node's `quic`
    /// port), `config.bootnodes` are made contactable, and discovered QUIC addresses go
    /// to the node's address book (see the module docs).
    pub fn with_discovery(
        mut self,
        machine: Discv5,
        mut socket: DiscoverySocket,
        config: DiscoveryConfig,
    ) -> Result<Self, ReactorError> {
        let local = socket.local;
        self.poll
            .registry()
            .register(&mut socket.socket, DISCOVERY, mio::Interest::READABLE)
            .map_err(|source| ReactorError::Bind {
                addr: local,
                source,
            })?;
        self.discovery = Some(Discovery::new(Instant::now(), machine, socket, config));
        Ok(self)
    }

    /// The discovery machine, if discovery is on.
    pub fn discovery(&self) -> Option<&Discv5> {
        self.discovery.as_ref().map(|d| &d.machine)
    }

    /// The discovery machine, mutably (only between runs; from other threads use a
    /// [`DiscoveryConfig::on_event`] hook).
    pub fn discovery_mut(&mut self) -> Option<&mut Discv5> {
        self.discovery.as_mut().map(|d| &mut d.machine)
    }

    /// The discovery socket's bound address, if discovery is on.
    pub fn discovery_addr(&self) -> Option<SocketAddr> {
        self.discovery.as_ref().map(|d| d.socket.local)
    }

    /// Discovery socket counters, if discovery is on.
    pub fn discovery_stats(&self) -> Option<DiscoveryStats> {
        self.discovery.as_ref().map(|d| d.stats)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::Ipv4Addr;

    use leanp2p_identity::Keypair;

    use super::*;

    fn record(secret: u8, quic: Option<u16>, network: &[u8]) -> Enr {
        let key = Keypair::from_secret_bytes(&[secret; 32]).unwrap();
        let mut builder = Enr::builder();
        builder.ip4(Ipv4Addr::LOCALHOST).udp4(9000).eth2(network);
        if let Some(port) = quic {
            builder.quic4(port);
        }
        builder.build(&key).unwrap()
    }

    #[test]
    fn quic_address_needs_an_ip_and_a_quic_port() {
        assert_eq!(
            record(1, Some(9001), b"a").quic_socket_addr(),
            Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 9001)))
        );
        assert_eq!(record(1, None, b"a").quic_socket_addr(), None);
    }

    #[test]
    fn only_records_with_quic_that_pass_the_filter_reach_the_address_book() {
        let t0 = Instant::now();
        let key = Keypair::from_secret_bytes(&[7; 32]).unwrap();
        let mut node = Node::new(t0, leanp2p_host::Config::default(), &key, [7; 32]).unwrap();
        let own = record(7, Some(9007), b"a");
        let machine = Discv5::new(t0, leanp2p_discv5::Config::default(), key, own, [7; 32]);
        let socket = DiscoverySocket::bind((Ipv4Addr::LOCALHOST, 0).into()).unwrap();
        let config = DiscoveryConfig {
            filter: Some(Arc::new(|enr: &Enr| enr.eth2() == Some(&b"a"[..]))),
            ..DiscoveryConfig::default()
        };
        let mut discovery = Discovery::new(t0, machine.unwrap(), socket, config);
        let good = record(1, Some(9001), b"a");
        discovery.feed(t0, &mut node, &good);
        discovery.feed(t0, &mut node, &good); // same seq: not handed over twice
        discovery.feed(t0, &mut node, &record(2, None, b"a"));
        discovery.feed(t0, &mut node, &record(3, Some(9003), b"b"));
        let book: Vec<_> = node.address_book().map(|(p, a)| (*p, a)).collect();
        assert_eq!(
            book,
            vec![(
                good.peer_id(),
                SocketAddr::from((Ipv4Addr::LOCALHOST, 9001))
            )]
        );
        assert_eq!(discovery.stats.addresses_fed, 1);
        assert_eq!(discovery.stats.records_skipped, 2);
        // The first random lookup is due at once (no table yet: nothing to ask).
        assert_eq!(discovery.poll_timeout(), Some(t0));
        assert_ne!(discovery.random_target(), discovery.random_target());
    }
}
