//! Discovery in the devnet: node 0 is the one bootnode, every other node knows only its
//! record (and dials it as a known peer) and finds the rest through discv5; the
//! connection manager dials what discovery found until the peer target is met. The late
//! joiner's discovery stays silent until it starts (no bootnode, so nobody learns of it
//! early), then gets node 0's record and looks itself up.
//!
//! At the end of the run each node reports how many peers it is connected to and how
//! many of them discovery found (the configured bootnode not counted); the figures and
//! their summary fields are shared with `leanp2p sim` (`commands::discovery`).

use std::collections::BTreeSet;
use std::time::Instant;

use leanp2p_host::PeerId;
use leanp2p_identity::Enr;
use leanp2p_mio::Reactor;

use crate::commands::discovery::{join_late, Found};
pub(super) use crate::commands::discovery::{summary_fields, table_line, Outcome};

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
    /// its own ID ([`join_late`]).
    pub(super) fn on_started(&mut self, reactor: &mut Reactor, now: Instant) {
        let Some(bootnode) = self.pending_bootnode.take() else {
            return;
        };
        if let Some(machine) = reactor.discovery_mut() {
            join_late(machine, now, bootnode);
        }
    }
}

impl Outcome {
    /// Reads the node's state at the end of the run.
    pub(super) fn measure(reactor: &Reactor, discovery: Option<&NodeDiscovery>) -> Self {
        let connected: BTreeSet<PeerId> = reactor.node().connected_peers().copied().collect();
        let found = discovery.map(|d| d.found.peers());
        let stats = reactor.discovery_stats();
        Self::count(
            &connected,
            found.as_ref().zip(discovery.map(|d| &d.configured)),
            stats.as_ref().map_or(0, |s| s.lookups_started),
            stats.as_ref().map_or(0, |s| s.addresses_fed),
        )
    }
}
