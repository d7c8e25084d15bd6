//! leanp2p sim: a deterministic in-process network of full [`leanp2p_host::Node`]s on a
//! virtual clock.
//!
//! A [`Sim`] owns N nodes, each with its own virtual address (`10.0.x.y:9000`, never a
//! real socket), and a queue of datagrams in flight keyed by `(arrival time, sequence
//! number)`. [`Sim::step`] jumps the clock to the earliest of the next arrival and the
//! next node deadline and handles exactly that one input. Everything random derives
//! from the one `u64` of [`Sim::new`]: node keys, node seeds, and the link model
//! (loss, jitter) through a seeded ChaCha20 stream.
//!
//! # Links
//!
//! [`LinkConfig`] gives latency, uniform jitter (which reorders datagrams closer
//! together than the jitter), random loss, a per-direction serialization rate (a burst
//! queues behind itself) with an optional tail-drop queue limit, and an MTU (bigger
//! datagrams vanish). Partitions are checked when a datagram is sent: datagrams
//! already in flight still arrive. Pairs without
//! [`Sim::link`] use [`Sim::set_default_link`]. [`Sim::partition`] / [`Sim::heal`]
//! cut and restore groups; [`Sim::crash`] / [`Sim::restart`] drop a node's state and
//! bring it back with the same key and address.
//!
//! # Discovery
//!
//! [`Sim::enable_discovery`] (or [`Sim::enable_discovery_all`] with bootnodes) gives a
//! node a Discovery v5 machine ([`leanp2p_discv5::Discv5`]) on a second virtual socket,
//! `10.0.x.y:`[`DISCOVERY_PORT`], whose datagrams travel the same links as QUIC. Its
//! record ([`Sim::node_enr`]) carries `ip4`, `udp4` and `quic4`, signed with the node's
//! key. The sim runs a lookup of a random node ID every
//! [`SimDiscoveryConfig::lookup_interval`], folds the machine's deadline into the node's
//! slot of the schedule, writes every discovery event into the trace, and hands every
//! record seen in an event (verified session, updated record, lookup or FINDNODE
//! answer) to the node's address book ([`leanp2p_host::Node::add_peer_address`]), from
//! which the connection manager dials while under
//! [`leanp2p_host::ConnManagerConfig::target_peers`]. [`Sim::discovered`] lists the
//! nodes a machine has seen. The machine's seed and the lookup targets derive from the
//! sim seed, the node index and its restart count.
//!
//! # The drain rule, as the sim applies it
//!
//! After **every** input it gives a node (`handle_datagram`, `handle_timeout`) and after
//! every command through [`Sim::with_node`], [`Sim::dial`], [`Sim::subscribe`] or
//! [`Sim::publish`], the sim drains that node: `poll_transmit` until `None` (each
//! datagram goes onto the link), then `poll_event` until `None` (each event is logged in
//! [`Sim::events`] and the trace; gossip messages are accepted with `report_validation`
//! unless [`Sim::set_auto_validate`] is off, and since that is a command, transmits are
//! drained again before the next event), then it reads `poll_timeout`. Commands made
//! through [`Sim::node_mut`] are drained at the start of the next step. A discovery
//! machine is drained the same way after each datagram, timeout or
//! [`Sim::with_discovery`] command (transmits onto the links, then events); if it handed
//! addresses to the node, the node is drained next.
//!
//! # Memory
//!
//! The sim is a test harness for trusted nodes: it keeps every event of every node
//! until [`Sim::drain_events`], and datagrams in flight are bounded only by what the
//! nodes send (use [`LinkConfig::queue_bytes`] on bandwidth-limited links to bound a
//! link's queue like a router would). [`SimStats`] counts every datagram fate. Discovery
//! adds per node at most [`MAX_FED_RECORDS`] remembered record IDs and the set of sim
//! nodes it has seen (at most the number of nodes); the machine bounds the rest.
//!
//! # Determinism
//!
//! The same seed and the same sequence of calls give the same events at the same
//! virtual times, and so the same [`Sim::trace_hash`]. Datagram *bytes* may differ
//! between runs (rustls draws handshake randomness from `ring`), but not their sizes'
//! effect on timing unless a bandwidth limit is set: ECDSA signatures vary by a byte or
//! two, which moves serialization times by nanoseconds. Keep determinism checks on
//! links without a bandwidth limit.
//!
//! ```
//! use std::time::Duration;
//! use leanp2p_host::{Config, NodeEvent};
//! use leanp2p_sim::Sim;
//!
//! let mut sim = Sim::new(7);
//! let a = sim.add_node(Config::default()).unwrap();
//! let b = sim.add_node(Config::default()).unwrap();
//! sim.dial(a, b).unwrap();
//! sim.run_until(Duration::from_secs(1)).unwrap();
//! assert!(sim.events(a).iter().any(|e| matches!(e, NodeEvent::Connected { .. })));
//! ```

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod in_flight;
mod link;
mod sim;

pub use link::LinkConfig;
pub use sim::{
    Livelock, NodeIdx, Sim, SimDiscoveryConfig, SimDiscoveryStats, SimError, SimStats,
    DEFAULT_MAX_STEPS_PER_INSTANT, DISCOVERY_PORT, MAX_FED_RECORDS, SIM_PORT,
};
