//! Node Discovery v5 for `leanp2p node`, `devnet` and `sim`: the local record (`ip`,
//! `udp` = the discovery socket, `quic` = the QUIC listener), the machine's settings, the
//! record of which peers discovery found and how a node explores ([`Found::explorer`]),
//! and the per-node discovery figures of the `devnet` / `sim` summary ([`Outcome`]). The
//! reactor (`leanp2p_mio::Reactor::with_discovery`) or the simulator
//! (`leanp2p_sim::Sim::enable_discovery`) does the rest: records with a QUIC address go
//! to the node's address book, and the connection manager dials them while the node is
//! under its peer target.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leanp2p_discv5::{Config as MachineConfig, Discv5, Event, NodeId};
use leanp2p_host::{Keypair, PeerId};
use leanp2p_identity::Enr;
use leanp2p_mio::{DiscoveryConfig, DiscoveryEventHook, DiscoverySocket, Reactor};
use serde_json::{json, Value};

use super::CliError;

/// Default peer target with discovery on (`--target-peers`): a lean devnet is small.
pub(crate) const DEFAULT_TARGET_PEERS: usize = 8;

/// Most peers remembered as found by discovery (a devnet has at most a few dozen); more
/// are not recorded (they still reach the address book).
const MAX_FOUND: usize = 4096;

/// The discovery port `node` and `enr` use without `--discovery-port` / `--udp`: the
/// QUIC port + 1 (QUIC and discv5 both run over UDP, so they need two ports); QUIC port
/// 0 (any free port) gives 0 too. `None` for QUIC port 65535.
pub(crate) fn default_discovery_port(quic: u16) -> Option<u16> {
    if quic == 0 {
        Some(0)
    } else {
        quic.checked_add(1)
    }
}

/// The peers discovery reported with a QUIC address (in a verified session, a lookup
/// result or an updated record), shared between the reactor's hook and the harness.
#[derive(Clone, Debug, Default)]
pub(crate) struct Found(Arc<Mutex<BTreeSet<PeerId>>>);

impl Found {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<PeerId>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The peers found so far.
    pub(crate) fn peers(&self) -> BTreeSet<PeerId> {
        self.lock().clone()
    }

    /// A hook for [`DiscoveryConfig::on_event`]: [`Found::explorer`], boxed.
    fn hook(&self, local: PeerId, target: usize) -> DiscoveryEventHook {
        Box::new(self.explorer(local, target))
    }

    /// What a node does with each discovery event (the reactor's hook; the simulator's
    /// `Sim::set_discovery_hook` in `leanp2p sim`): records every dialable peer other
    /// than `local` that the event carries and, while fewer than `target` are found,
    /// explores: every node we get a session with is asked once for its whole table
    /// ([`WIDE_DISTANCES`]), and every new dialable record in the answer is pinged, so a
    /// session (and the driver's hand-over to the address book) follows. Random lookups
    /// ask only the distances around their target; in a small network they can miss
    /// nodes for a long time. Deterministic: its sets are ordered.
    pub(crate) fn explorer(
        &self,
        local: PeerId,
        target: usize,
    ) -> impl FnMut(&mut Discv5, Instant, &Event) + Send + 'static {
        let found = self.clone();
        // Nodes asked for their table, and records pinged: each at most once.
        let mut asked: BTreeSet<NodeId> = BTreeSet::new();
        let mut pinged: BTreeSet<NodeId> = BTreeSet::new();
        move |machine: &mut Discv5, now: Instant, event: &Event| {
            let records: &[Enr] = match event {
                Event::SessionEstablished { enr, .. } | Event::EnrUpdated { enr, .. } => {
                    std::slice::from_ref(enr)
                }
                Event::LookupFinished { closest, .. } => closest,
                _ => &[],
            };
            let dialable = |enr: &Enr| enr.peer_id() != local && enr.quic_socket_addr().is_some();
            let mut peers = found.lock();
            for enr in records.iter().filter(|e| dialable(e)) {
                if peers.len() < MAX_FOUND {
                    peers.insert(enr.peer_id());
                }
            }
            // A record without a QUIC address may be an old one (a `udp`-only bootnode
            // entry): a PING makes the machine fetch a newer one, announced as
            // `EnrUpdated`.
            if let Event::SessionEstablished { node, enr, .. } = event {
                if enr.quic_socket_addr().is_none() {
                    if let Err(e) = machine.ping(now, *node) {
                        tracing::debug!(%e, "discovery: ping not sent");
                    }
                }
            }
            if peers.len() >= target {
                return;
            }
            match event {
                Event::SessionEstablished { node, .. }
                    if asked.len() < MAX_FOUND && asked.insert(*node) =>
                {
                    if let Err(e) = machine.find_node(now, *node, &WIDE_DISTANCES) {
                        tracing::debug!(%e, "discovery: table request not sent");
                    }
                }
                Event::Nodes { enrs, .. } => {
                    for enr in enrs.iter().filter(|e| dialable(e)) {
                        if peers.contains(&enr.peer_id()) {
                            continue;
                        }
                        let node = NodeId(enr.node_id());
                        if pinged.len() >= MAX_FOUND || !pinged.insert(node) {
                            continue;
                        }
                        let sent = machine
                            .add_enr(enr.clone())
                            .and_then(|()| machine.ping(now, node));
                        if let Err(e) = sent {
                            tracing::debug!(%e, "discovery: new record not pinged");
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// The 32 log-distances nearest the top (256..=225): in practice a node's whole table
/// (a node at distance 224 or less is one in 2^32); the answer is capped at 16 records.
const WIDE_DISTANCES: [u16; 32] = {
    let mut distances = [0u16; 32];
    let mut i = 0;
    while i < 32 {
        distances[i] = 256 - i as u16;
        i += 1;
    }
    distances
};

/// How to run discovery next to a reactor.
#[derive(Debug)]
pub(crate) struct DiscoverySetup {
    /// Address of the discovery socket (port 0: any free port).
    pub bind: SocketAddr,
    /// The IP our record advertises; `None`: no `ip`/`ip6` entry (others cannot reach
    /// us through discovery, we can still find and dial them).
    pub advertise: Option<IpAddr>,
    /// The QUIC port our record advertises.
    pub quic_port: u16,
    /// Records to contact first.
    pub bootnodes: Vec<Enr>,
    /// Interval of random lookups (the first runs at once).
    pub lookup_interval: Duration,
    /// Turn the table's per-/24 limits off (a private or loopback network, where every
    /// node may share one subnet).
    pub private_network: bool,
    /// Seed of the machine's nonces, ephemeral keys and request IDs.
    pub seed: [u8; 32],
    /// Explore (ask new nodes for their tables) while fewer peers than this are found.
    pub target_peers: usize,
}

/// Binds the discovery socket, signs our record (`seq` 1, or one more than a record of
/// ours among the bootnodes; `ip`/`ip6`, `udp`/`udp6` =
/// the bound port, `quic`/`quic6`) and adds discovery to `reactor`. Our own record among
/// the bootnodes is dropped. Returns the reactor, our record and the found-peer set.
pub(crate) fn attach(
    reactor: Reactor,
    key: &Keypair,
    setup: DiscoverySetup,
) -> Result<(Reactor, Enr, Found), CliError> {
    let socket = DiscoverySocket::bind(setup.bind)
        .map_err(|e| CliError::Node(format!("discovery socket {}: {e}", setup.bind)))?;
    let udp = socket.local_addr().port();
    let mut builder = Enr::builder();
    match setup.advertise {
        Some(IpAddr::V4(ip)) => {
            builder.ip4(ip).udp4(udp).quic4(setup.quic_port);
        }
        Some(IpAddr::V6(ip)) => {
            builder.ip6(ip).udp6(udp).quic6(setup.quic_port);
        }
        None if setup.bind.is_ipv6() => {
            builder.udp6(udp).quic6(setup.quic_port);
        }
        None => {
            builder.udp4(udp).quic4(setup.quic_port);
        }
    }
    let mut enr = builder.seq(1).build(key)?;
    // A bootnode list may hold an older record of ours (a `nodes.yaml` lists every
    // node): ours must be newer, or peers would keep that one.
    let listed_seq = setup
        .bootnodes
        .iter()
        .filter(|b| b.node_id() == enr.node_id())
        .map(Enr::seq)
        .max();
    if let Some(listed) = listed_seq {
        enr = builder.seq(listed.saturating_add(1)).build(key)?;
    }
    let mut config = MachineConfig::default();
    if setup.private_network {
        config.table_ip_limits = None;
    }
    let machine = Discv5::new(Instant::now(), config, key.clone(), enr.clone(), setup.seed)
        .map_err(|e| CliError::Node(format!("discovery: {e}")))?;
    let local = key.peer_id();
    let found = Found::default();
    let bootnodes = setup
        .bootnodes
        .into_iter()
        .filter(|b| b.node_id() != enr.node_id())
        .collect();
    let discovery = DiscoveryConfig {
        bootnodes,
        lookup_interval: setup.lookup_interval,
        // Lean records carry no network field (`leanp2p enr` writes none): every record
        // with a QUIC address is a candidate.
        filter: None,
        on_event: Some(found.hook(local, setup.target_peers)),
    };
    let reactor = reactor
        .with_discovery(machine, socket, discovery)
        .map_err(|e| CliError::Node(format!("discovery: {e}")))?;
    Ok((reactor, enr, found))
}

/// Whether `ip` is on a network where the table's per-/24 limits would only get in the
/// way (loopback, RFC 1918 / unique-local, link-local, unspecified).
pub(crate) fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                // fc00::/7 unique local, fe80::/10 link local
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Interval of each node's random discovery lookups in `devnet` and `sim` (the first
/// runs at once). The nodes find each other within the warm-up by asking every new node
/// for its table ([`Found::explorer`]); lookups verify up to 16 records per answer, so
/// they are kept rare.
pub(crate) const WORKLOAD_LOOKUP_INTERVAL: Duration = Duration::from_secs(5);

/// The late joiner of `devnet` / `sim` once it starts (its discovery was silent until
/// then, so nobody learnt of it early): contacts `bootnode` and looks up its own ID,
/// which makes it known to the nodes on the way.
pub(crate) fn join_late(machine: &mut Discv5, now: Instant, bootnode: Enr) {
    if let Err(e) = machine.add_enr(bootnode) {
        tracing::warn!(%e, "late joiner: discovery bootnode refused");
        return;
    }
    let own = machine.local_id();
    if let Err(e) = machine.lookup(now, own) {
        tracing::debug!(%e, "late joiner: first lookup");
    }
}

/// What one node's connections and discovery came to at the end of a `devnet` / `sim`
/// run.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Outcome {
    /// Peers connected at the end of the run (`devnet`: 1 s before, when no node closes
    /// yet).
    pub connected_peers: usize,
    /// Peers discovery reported (discovery on).
    pub discovered: usize,
    /// Connected peers that discovery found and that were not configured.
    pub discovered_connected: usize,
    /// Random lookups the driver started.
    pub lookups: u64,
    /// Records handed to the node's address book.
    pub addresses_fed: u64,
}

impl Outcome {
    /// A node's outcome from its connected peers and, with discovery on, the peers it
    /// found, the peers it was told about (its bootnode: not counted as discovered) and
    /// its counters.
    pub(crate) fn count(
        connected: &BTreeSet<PeerId>,
        discovery: Option<(&BTreeSet<PeerId>, &BTreeSet<PeerId>)>,
        lookups: u64,
        addresses_fed: u64,
    ) -> Self {
        let mut outcome = Self {
            connected_peers: connected.len(),
            lookups,
            addresses_fed,
            ..Self::default()
        };
        if let Some((found, configured)) = discovery {
            outcome.discovered = found.len();
            outcome.discovered_connected = connected
                .iter()
                .filter(|p| found.contains(p) && !configured.contains(p))
                .count();
        }
        outcome
    }
}

/// The summary's `min_connected_peers` and `discovery` fields.
pub(crate) fn summary_fields(
    outcomes: &[Outcome],
    discovery: bool,
    target_peers: usize,
) -> [(&'static str, Value); 2] {
    let min_connected = outcomes
        .iter()
        .map(|o| o.connected_peers)
        .min()
        .unwrap_or(0);
    let discovery = if discovery {
        let per_node: Vec<Value> = outcomes
            .iter()
            .enumerate()
            .map(|(i, o)| {
                json!({
                    "node": i,
                    "discovered": o.discovered,
                    "connected_peers": o.connected_peers,
                    "discovered_connected": o.discovered_connected,
                    "lookups": o.lookups,
                    "addresses_fed": o.addresses_fed,
                })
            })
            .collect();
        json!({
            "bootnode": 0,
            "target_peers": target_peers,
            "min_discovered_connected": min_discovered_connected(outcomes),
            "per_node": per_node,
        })
    } else {
        Value::Null
    };
    [
        ("min_connected_peers", json!(min_connected)),
        ("discovery", discovery),
    ]
}

/// Fewest connected peers found by discovery, over every node but the bootnode (which
/// was told about nobody, so everything it is connected to came to it).
fn min_discovered_connected(outcomes: &[Outcome]) -> usize {
    outcomes
        .iter()
        .skip(1)
        .map(|o| o.discovered_connected)
        .min()
        .unwrap_or(0)
}

/// The table's discovery line.
pub(crate) fn table_line(outcomes: &[Outcome], discovery: bool, target_peers: usize) -> String {
    let min_connected = outcomes
        .iter()
        .map(|o| o.connected_peers)
        .min()
        .unwrap_or(0);
    if !discovery {
        return format!(
            "peers: no discovery (--dial-peers topology); at least {min_connected} connected per node"
        );
    }
    let mut line = format!(
        "discovery: node 0 the only bootnode, target {target_peers} peers; at least \
         {min_connected} connected per node, at least {} of them found by discovery \
         (discovered/connected per node:",
        min_discovered_connected(outcomes)
    );
    for o in outcomes {
        let _ = write!(line, " {}/{}", o.discovered, o.connected_peers);
    }
    line.push(')');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_discovery_port_follows_the_quic_port() {
        assert_eq!(default_discovery_port(9000), Some(9001));
        assert_eq!(default_discovery_port(0), Some(0));
        assert_eq!(default_discovery_port(u16::MAX), None);
    }

    #[test]
    fn the_bootnode_is_left_out_of_the_discovered_minimum() {
        let peers = |n: u8| -> BTreeSet<PeerId> {
            (1..=n)
                .map(|i| Keypair::from_secret_bytes(&[i; 32]).unwrap().peer_id())
                .collect()
        };
        let connected = peers(7);
        let bootnode: BTreeSet<PeerId> = peers(1);
        let outcomes = [
            Outcome::count(&connected, None, 0, 0),
            Outcome::count(&connected, Some((&connected, &bootnode)), 2, 7),
        ];
        assert_eq!(outcomes[1].discovered, 7);
        assert_eq!(outcomes[1].discovered_connected, 6);
        let [(_, min), (_, discovery)] = summary_fields(&outcomes, true, 8);
        assert_eq!(min, 7);
        assert_eq!(discovery["min_discovered_connected"], 6);
        assert_eq!(discovery["per_node"][1]["discovered"], 7);
        assert_eq!(discovery["per_node"][1]["addresses_fed"], 7);
        let [_, (_, off)] = summary_fields(&outcomes, false, 0);
        assert!(off.is_null());
        assert!(table_line(&outcomes, true, 8).ends_with("0/7 7/7)"));
    }

    #[test]
    fn private_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "::1",
            "fd00::1",
            "0.0.0.0",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:db8::1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }
}
