//! Node Discovery v5 in the simulator: an optional [`Discv5`] machine per node on its
//! own virtual socket (`10.0.x.y:`[`DISCOVERY_PORT`]), its datagrams carried by the same
//! links as QUIC (latency, jitter, loss, bandwidth queue, partitions).
//!
//! It mirrors what `leanp2p-mio` does for a real node (`runtime-mio/src/discovery.rs`):
//! bootnode records made contactable, a lookup of a random node ID every
//! [`SimDiscoveryConfig::lookup_interval`] (the first at once), the machine's deadline
//! folded into the node's slot of the sim's schedule, and every record seen in an event
//! (a verified session, an updated record, a lookup result) that advertises a QUIC
//! address handed to [`leanp2p_host::Node::add_peer_address`], so the node's connection
//! manager dials it while under its `target_peers`.
//!
//! A driver can react to the events itself ([`Sim::set_discovery_hook`]: ask a new node
//! for its table, ping a record, ...), as it would with the mio runtime's
//! `DiscoveryConfig::on_event`.
//!
//! Determinism: the machine's seed and the lookup targets come from a ChaCha20 stream
//! keyed by the sim seed, the node index and the node's restart count; every discovery
//! event goes into the trace (`Debug`, prefixed `discv5 `).

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use leanp2p_discv5::{Discv5, Event, FedRecords, NodeId};
use leanp2p_identity::Enr;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

use super::{NodeIdx, Sim, SimError, Socket, SIM_PORT};

/// UDP port of every simulated node's discovery socket (its QUIC socket is
/// [`SIM_PORT`]).
pub const DISCOVERY_PORT: u16 = SIM_PORT + 1;

pub use leanp2p_discv5::MAX_FED_RECORDS;

/// Discovery settings of one simulated node ([`Sim::enable_discovery`]).
#[derive(Clone, Debug)]
pub struct SimDiscoveryConfig {
    /// The machine's configuration. The default is the machine's default without the
    /// per-/24 table limits ([`leanp2p_discv5::Config::table_ip_limits`] `None`): the
    /// sim's addresses share `10.0.x.0/24` subnets, 255 nodes each.
    pub machine: leanp2p_discv5::Config,
    /// Records made contactable when the machine starts (and again after a restart).
    /// A record of the node itself is skipped.
    pub bootnodes: Vec<Enr>,
    /// Interval of random-target lookups; the first runs when the machine starts.
    /// Must be positive. Default 30 s (the mio runtime's default).
    pub lookup_interval: Duration,
    /// Hand discovered QUIC addresses to the node's address book. Default `true`.
    pub feed_address_book: bool,
}

impl Default for SimDiscoveryConfig {
    fn default() -> Self {
        Self {
            machine: leanp2p_discv5::Config {
                table_ip_limits: None,
                ..leanp2p_discv5::Config::default()
            },
            bootnodes: Vec::new(),
            lookup_interval: Duration::from_secs(30),
            feed_address_book: true,
        }
    }
}

/// Counters of one node's discovery socket (kept across restarts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimDiscoveryStats {
    /// Datagrams handed to the machine.
    pub datagrams_received: u64,
    /// Datagrams the machine sent (before the link decided their fate).
    pub datagrams_sent: u64,
    /// Random lookups started.
    pub lookups_started: u64,
    /// Random lookups the machine refused (nothing known yet, or too many running).
    pub lookups_refused: u64,
    /// Records handed to the node's address book.
    pub addresses_fed: u64,
    /// Records the node's address book refused.
    pub addresses_refused: u64,
    /// Records without a QUIC address.
    pub records_skipped: u64,
}

/// A driver's reaction to a node's discovery events ([`Sim::set_discovery_hook`]).
type DiscoveryHook = Box<dyn FnMut(&mut Discv5, Instant, &Event) + Send>;

/// A node's discovery: its configuration and record, and the machine while the node
/// runs.
pub(super) struct NodeDiscovery {
    config: SimDiscoveryConfig,
    enr: Enr,
    addr: SocketAddr,
    /// Machines started so far (the seed of the next one depends on it).
    generation: u64,
    running: Option<Running>,
    stats: SimDiscoveryStats,
    /// Called with every event of the machine (kept across restarts).
    hook: Option<DiscoveryHook>,
}

/// A running machine and what the sim remembers beside it.
struct Running {
    machine: Discv5,
    /// Lookup targets.
    rng: ChaCha20Rng,
    next_lookup: Instant,
    /// Records handed to the node (at most [`MAX_FED_RECORDS`]).
    fed: FedRecords,
    /// Sim nodes whose record this machine has seen in an event. Only records of sim
    /// nodes are counted, so it holds at most as many entries as the sim has nodes.
    seen: BTreeSet<NodeIdx>,
}

impl NodeDiscovery {
    /// The machine's deadline or the next random lookup, whichever is first; `None`
    /// while the node is crashed.
    pub(super) fn deadline(&self) -> Option<Instant> {
        let running = self.running.as_ref()?;
        Some(
            running
                .machine
                .poll_timeout()
                .map_or(running.next_lookup, |at| at.min(running.next_lookup)),
        )
    }

    /// Drops the machine (the node crashed).
    pub(super) fn stop(&mut self) {
        self.running = None;
    }
}

impl Sim {
    // ----- discovery: public API -------------------------------------------------------

    /// Node `idx`'s discovery socket address: `10.0.x.y:`[`DISCOVERY_PORT`] (bound only
    /// once [`Sim::enable_discovery`] ran). Panics on an unknown index.
    pub fn discovery_addr(&self, idx: NodeIdx) -> SocketAddr {
        SocketAddr::new(self.nodes[idx.0].addr.ip(), DISCOVERY_PORT)
    }

    /// Node `idx`'s discovery record: `seq` 1, `ip4` of its virtual address, `udp4`
    /// [`DISCOVERY_PORT`], `quic4` [`SIM_PORT`], signed with the node's key. The same
    /// record whether or not discovery is on (bootnode records can be made first).
    pub fn node_enr(&self, idx: NodeIdx) -> Result<Enr, SimError> {
        let entry = self.nodes.get(idx.0).ok_or(SimError::UnknownNode(idx))?;
        let mut builder = Enr::builder();
        builder.seq(1);
        match entry.addr.ip() {
            IpAddr::V4(ip) => builder.ip4(ip).udp4(DISCOVERY_PORT).quic4(SIM_PORT),
            IpAddr::V6(ip) => builder.ip6(ip).udp6(DISCOVERY_PORT).quic6(SIM_PORT),
        };
        Ok(builder.build(&entry.key)?)
    }

    /// Turns discovery on for node `idx`: binds its discovery socket, starts a machine
    /// with the node's record ([`Sim::node_enr`]), makes `config.bootnodes` contactable
    /// and schedules the first random lookup now. Returns the node's record. Refused
    /// (nothing changed) for a crashed node, a node with discovery already on, a zero
    /// lookup interval or a bootnode record without a UDP endpoint.
    pub fn enable_discovery(
        &mut self,
        idx: NodeIdx,
        config: SimDiscoveryConfig,
    ) -> Result<Enr, SimError> {
        let entry = self.nodes.get(idx.0).ok_or(SimError::UnknownNode(idx))?;
        if entry.node.is_none() {
            return Err(SimError::Crashed(idx));
        }
        if entry.discovery.is_some() {
            return Err(SimError::DiscoveryEnabled(idx));
        }
        if config.lookup_interval.is_zero() {
            return Err(SimError::ZeroLookupInterval);
        }
        let enr = self.node_enr(idx)?;
        let mut discovery = NodeDiscovery {
            config,
            addr: self.discovery_addr(idx),
            enr,
            generation: 0,
            running: None,
            stats: SimDiscoveryStats::default(),
            hook: None,
        };
        discovery.running = Some(self.start_machine(idx.0, &mut discovery)?);
        let enr = discovery.enr.clone();
        self.by_addr
            .insert(discovery.addr, (idx.0, Socket::Discovery));
        self.by_node_id.insert(NodeId(enr.node_id()), idx.0);
        self.nodes[idx.0].discovery = Some(discovery);
        self.drain_discovery(idx.0);
        Ok(enr)
    }

    /// Turns discovery on for every node, in index order, each with `config` plus the
    /// records of `bootnodes` (a bootnode gets the other bootnodes). Stops at the first
    /// refusal (the nodes before it keep discovery on).
    pub fn enable_discovery_all(
        &mut self,
        bootnodes: &[NodeIdx],
        config: &SimDiscoveryConfig,
    ) -> Result<(), SimError> {
        let records = bootnodes
            .iter()
            .map(|&b| self.node_enr(b))
            .collect::<Result<Vec<_>, _>>()?;
        for idx in self.indices().collect::<Vec<_>>() {
            let mut node_config = config.clone();
            node_config.bootnodes.extend(
                bootnodes
                    .iter()
                    .zip(&records)
                    .filter(|(b, _)| **b != idx)
                    .map(|(_, r)| r.clone()),
            );
            self.enable_discovery(idx, node_config)?;
        }
        Ok(())
    }

    /// Calls `hook(machine, now, event)` with every event of node `idx`'s discovery
    /// machine from now on (after the event went into the trace and its records to the
    /// address book), replacing an earlier hook; it may give the machine commands (they
    /// are drained as usual). The hook stays across a restart of the node. Refused while
    /// discovery is off. The hook must be deterministic for the trace to be.
    pub fn set_discovery_hook(
        &mut self,
        idx: NodeIdx,
        hook: impl FnMut(&mut Discv5, Instant, &Event) + Send + 'static,
    ) -> Result<(), SimError> {
        let entry = self
            .nodes
            .get_mut(idx.0)
            .ok_or(SimError::UnknownNode(idx))?;
        let discovery = entry
            .discovery
            .as_mut()
            .ok_or(SimError::DiscoveryDisabled(idx))?;
        discovery.hook = Some(Box::new(hook));
        Ok(())
    }

    /// Node `idx`'s discovery machine, or `None` while discovery is off or the node is
    /// crashed.
    pub fn discovery(&self, idx: NodeIdx) -> Option<&Discv5> {
        let discovery = self.nodes.get(idx.0)?.discovery.as_ref()?;
        discovery.running.as_ref().map(|r| &r.machine)
    }

    /// Runs `f(machine, now)` on node `idx`'s discovery machine (a command: `lookup`,
    /// `talk_request`, ...) and then drains it (the drain rule; events go to the trace
    /// and records to the address book as usual).
    pub fn with_discovery<R>(
        &mut self,
        idx: NodeIdx,
        f: impl FnOnce(&mut Discv5, Instant) -> R,
    ) -> Result<R, SimError> {
        let now = self.now;
        let entry = self
            .nodes
            .get_mut(idx.0)
            .ok_or(SimError::UnknownNode(idx))?;
        let discovery = entry
            .discovery
            .as_mut()
            .ok_or(SimError::DiscoveryDisabled(idx))?;
        let running = discovery.running.as_mut().ok_or(SimError::Crashed(idx))?;
        let result = f(&mut running.machine, now);
        self.drain_discovery(idx.0);
        Ok(result)
    }

    /// The sim nodes whose records node `idx`'s machine has seen in an event since it
    /// started (a verified session, an updated record, a lookup or FINDNODE answer), or
    /// `None` while discovery is off or the node is crashed.
    pub fn discovered(&self, idx: NodeIdx) -> Option<&BTreeSet<NodeIdx>> {
        let discovery = self.nodes.get(idx.0)?.discovery.as_ref()?;
        discovery.running.as_ref().map(|r| &r.seen)
    }

    /// Node `idx`'s discovery counters, or `None` while discovery is off.
    pub fn discovery_stats(&self, idx: NodeIdx) -> Option<SimDiscoveryStats> {
        Some(self.nodes.get(idx.0)?.discovery.as_ref()?.stats)
    }

    // ----- discovery: driving ----------------------------------------------------------

    /// A fresh machine for node `i` (generation `discovery.generation`, then counted),
    /// bootnodes added, first lookup due now.
    fn start_machine(
        &mut self,
        i: usize,
        discovery: &mut NodeDiscovery,
    ) -> Result<Running, SimError> {
        let mut hasher = Sha256::new();
        hasher.update(b"leanp2p-sim discv5");
        hasher.update(self.seed.to_le_bytes());
        hasher.update((i as u64).to_le_bytes());
        hasher.update(discovery.generation.to_le_bytes());
        let mut rng = ChaCha20Rng::from_seed(hasher.finalize().into());
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        let key = self.nodes[i].key.clone();
        let mut machine = Discv5::new(
            self.now,
            discovery.config.machine.clone(),
            key,
            discovery.enr.clone(),
            seed,
        )?;
        let own = NodeId(discovery.enr.node_id());
        for enr in &discovery.config.bootnodes {
            if NodeId(enr.node_id()) != own {
                machine.add_enr(enr.clone())?;
            }
        }
        discovery.generation += 1;
        Ok(Running {
            machine,
            rng,
            next_lookup: self.now,
            fed: FedRecords::default(),
            seen: BTreeSet::new(),
        })
    }

    /// After [`Sim::restart`]: a fresh machine if node `i` has discovery.
    pub(super) fn restart_discovery(&mut self, i: usize) -> Result<(), SimError> {
        let Some(mut discovery) = self.nodes[i].discovery.take() else {
            return Ok(());
        };
        let started = self.start_machine(i, &mut discovery);
        let result = started.map(|running| discovery.running = Some(running));
        self.nodes[i].discovery = Some(discovery);
        self.drain_discovery(i);
        result
    }

    /// Hands a datagram to node `i`'s machine and drains it; `false` if the node has no
    /// running machine.
    pub(super) fn deliver_discovery(&mut self, i: usize, from: SocketAddr, data: &[u8]) -> bool {
        let now = self.now;
        let Some(discovery) = self.nodes[i].discovery.as_mut() else {
            return false;
        };
        let Some(running) = discovery.running.as_mut() else {
            return false;
        };
        discovery.stats.datagrams_received += 1;
        running.machine.handle_packet(now, from, data);
        self.drain_discovery(i);
        true
    }

    /// Node `i`'s discovery deadline: the machine's timers if due, a random lookup if
    /// due, then the drain.
    pub(super) fn discovery_timeout(&mut self, i: usize) {
        let now = self.now;
        let Some(discovery) = self.nodes[i].discovery.as_mut() else {
            return;
        };
        let Some(running) = discovery.running.as_mut() else {
            return;
        };
        if running.machine.poll_timeout().is_some_and(|at| at <= now) {
            running.machine.handle_timeout(now);
        }
        if running.next_lookup <= now {
            running.next_lookup = now + discovery.config.lookup_interval;
            let mut target = [0u8; 32];
            running.rng.fill_bytes(&mut target);
            match running.machine.lookup(now, NodeId(target)) {
                Ok(_) => discovery.stats.lookups_started += 1,
                Err(_) => discovery.stats.lookups_refused += 1,
            }
        }
        self.drain_discovery(i);
    }

    /// The drain rule for node `i`'s machine: datagrams onto the links, then events into
    /// the trace, the seen set, the node's address book and the hook (whose commands
    /// are drained in the same loop); then the node is drained if
    /// it was given addresses, and the schedule deadline is refreshed.
    pub(super) fn drain_discovery(&mut self, i: usize) {
        // Taken out for the duration, so routing and feeding can borrow the rest.
        let Some(mut discovery) = self.nodes[i].discovery.take() else {
            return;
        };
        let mut fed_any = false;
        if let Some(running) = discovery.running.as_mut() {
            loop {
                while let Some(transmit) = running.machine.poll_transmit() {
                    discovery.stats.datagrams_sent += 1;
                    let size = transmit.bytes.len();
                    self.route_datagrams(i, discovery.addr, transmit.dest, size, &transmit.bytes);
                }
                let Some(event) = running.machine.poll_event() else {
                    break;
                };
                self.record_discovery_event(i, &event);
                for enr in event.records() {
                    // Derived once: it decompresses the record's public key.
                    let id = NodeId(enr.node_id());
                    if let Some(&seen) = self.by_node_id.get(&id) {
                        if seen != i {
                            running.seen.insert(NodeIdx(seen));
                        }
                    }
                    if discovery.config.feed_address_book {
                        fed_any |= self.feed(i, running, &mut discovery.stats, id, enr);
                    }
                }
                if let Some(hook) = discovery.hook.as_mut() {
                    hook(&mut running.machine, self.now, &event);
                }
            }
        }
        self.nodes[i].discovery = Some(discovery);
        if fed_any {
            self.drain(i);
        } else {
            self.update_deadline(i);
        }
    }

    /// Hands `enr` (node `id`)'s QUIC address to node `i`'s address book unless it was
    /// handed over at this `seq` already; `true` if the node took a command.
    fn feed(
        &mut self,
        i: usize,
        running: &mut Running,
        stats: &mut SimDiscoveryStats,
        id: NodeId,
        enr: &Enr,
    ) -> bool {
        if id == running.machine.local_id() || !running.fed.is_new(enr) {
            return false;
        }
        let Some(addr) = enr.quic_socket_addr() else {
            stats.records_skipped += 1;
            return false;
        };
        let Some(node) = self.nodes[i].node.as_mut() else {
            return false;
        };
        running.fed.remember(enr);
        match node.add_peer_address(self.now, enr.peer_id(), addr) {
            Ok(_) => stats.addresses_fed += 1,
            Err(_) => stats.addresses_refused += 1,
        }
        true
    }

    /// Adds `(offset, node, "discv5 " + Debug of event)` to the trace.
    fn record_discovery_event(&mut self, node: usize, event: &Event) {
        use std::fmt::Write as _;
        self.record_header(node);
        self.trace.update(b"discv5 ");
        let mut sink = super::HashSink(&mut self.trace);
        // Writing into a hasher cannot fail (see `record_event`).
        let _ = write!(sink, "{event:?}");
        self.trace.update([0xff]);
    }
}
