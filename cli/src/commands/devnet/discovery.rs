//! Discovery in the devnet: node 0 is the one bootnode, every other node knows only its
//! record (and dials it as a known peer) and finds the rest through discv5; the
//! connection manager dials what discovery found until the peer target is met. The late
//! joiner's discovery stays silent until it starts (no bootnode, so nobody learns of it
//! early), then gets node 0's record and looks itself up.
//!
//! At the end of the run each node reports how many peers it is connected to and how
//! many of them discovery found (the configured bootnode not counted).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Instant;

use leanp2p_host::PeerId;
use leanp2p_identity::Enr;
use leanp2p_mio::Reactor;
use serde_json::{json, Value};

use crate::commands::discovery::Found;

/// One node's discovery state, kept by its thread.
#[derive(Debug)]
pub(super) struct NodeDiscovery {
    /// Peers discovery reported.
    pub found: Found,
    /// Peers the node was told about (its bootnode): not counted as discovered.
    pub configured: BTreeSet<PeerId>,
    /// The late joiner: the bootnode record to add once it starts.
    pub pending_bootnode: Option<Enr>,
}

impl NodeDiscovery {
    /// Once the node has started: the late joiner contacts the bootnode and looks up
    /// its own ID (which makes it known to the nodes on the way).
    pub(super) fn on_started(&mut self, reactor: &mut Reactor, now: Instant) {
        let Some(bootnode) = self.pending_bootnode.take() else {
            return;
        };
        let Some(machine) = reactor.discovery_mut() else {
            return;
        };
        if let Err(e) = machine.add_enr(bootnode) {
            tracing::warn!(%e, "late joiner: discovery bootnode refused");
            return;
        }
        let own = machine.local_id();
        if let Err(e) = machine.lookup(now, own) {
            tracing::debug!(%e, "late joiner: first lookup");
        }
    }
}

/// What one node's connections and discovery came to at the end of the run.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Outcome {
    /// Peers connected late in the run (1 s before its end, when no node closes yet).
    pub connected_peers: usize,
    /// Peers discovery reported (discovery on).
    pub discovered: usize,
    /// Connected peers that discovery found and that were not configured.
    pub discovered_connected: usize,
    /// Random lookups the reactor started.
    pub lookups: u64,
    /// Records handed to the node's address book.
    pub addresses_fed: u64,
}

impl Outcome {
    /// Reads the node's state at the end of the run.
    pub(super) fn measure(reactor: &Reactor, discovery: Option<&NodeDiscovery>) -> Self {
        let connected: BTreeSet<PeerId> = reactor.node().connected_peers().copied().collect();
        let mut outcome = Self {
            connected_peers: connected.len(),
            ..Self::default()
        };
        if let Some(d) = discovery {
            let found = d.found.peers();
            outcome.discovered = found.len();
            outcome.discovered_connected = connected
                .iter()
                .filter(|p| found.contains(p) && !d.configured.contains(p))
                .count();
        }
        if let Some(stats) = reactor.discovery_stats() {
            outcome.lookups = stats.lookups_started;
            outcome.addresses_fed = stats.addresses_fed;
        }
        outcome
    }
}

/// The summary's `min_connected_peers` and `discovery` fields.
pub(super) fn summary_fields(
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
pub(super) fn table_line(outcomes: &[Outcome], discovery: bool, target_peers: usize) -> String {
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
    fn the_bootnode_is_left_out_of_the_discovered_minimum() {
        let outcomes = [
            Outcome {
                connected_peers: 7,
                ..Outcome::default()
            },
            Outcome {
                connected_peers: 7,
                discovered: 7,
                discovered_connected: 6,
                ..Outcome::default()
            },
        ];
        let [(_, min), (_, discovery)] = summary_fields(&outcomes, true, 8);
        assert_eq!(min, 7);
        assert_eq!(discovery["min_discovered_connected"], 6);
        assert_eq!(discovery["per_node"][1]["discovered"], 7);
        let [_, (_, off)] = summary_fields(&outcomes, false, 0);
        assert!(off.is_null());
        assert!(table_line(&outcomes, true, 8).ends_with("0/7 7/7)"));
    }
}
