//! Plain `fn(&[u8])` fuzz entry point `node_pair` (feature `fuzzing`): two full nodes in
//! a [`Sim`] driven by commands and link faults decoded from the input, with invariants
//! checked after every command. Used by the cargo-fuzz target `node_pair` and replayed
//! by unit tests.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use leanp2p_host::{Config, NodeEvent, PeerId, TopicHash};

use crate::{LinkConfig, NodeIdx, Sim};

/// Commands decoded per input at most (bounds the virtual time a run can cover).
pub const MAX_COMMANDS: usize = 256;

const TOPICS: [&str; 2] = [
    "/leanconsensus/fuzz/block/ssz_snappy",
    "/leanconsensus/fuzz/attestation_0/ssz_snappy",
];

/// Reads the input one byte at a time, yielding zeros once it runs out.
struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
}

/// Two nodes, arbitrary commands (dial, subscribe, unsubscribe, publish, step, advance
/// time, change the link, partition, heal, crash/restart, disconnect). After each command:
/// the clock never goes back, no node is connected to itself or to a peer that does not
/// exist, and every gossip message a node receives was published by the other node on
/// that topic, byte for byte. A [`crate::Livelock`] is a finding too.
///
/// Input layout: one byte choosing the simulation seed (modulo [`SEEDS`]), then commands
/// of an opcode byte, an argument byte and, for some opcodes, one extra byte.
pub fn node_pair(data: &[u8]) {
    run_node_pair(data);
}

/// Distinct simulation seeds an input can pick (with its first byte).
///
/// The seed chooses the node keys and node seeds, hence the TLS certificates; few seeds
/// mean few distinct certificates, so a harness that memoizes endpoint TLS state
/// (`leanp2p_quic::fuzzing::memoize_tls`, as the cargo-fuzz target does) builds them once
/// instead of on every input, and the fuzzer's time goes into the commands.
pub const SEEDS: u8 = 4;

/// [`node_pair`], returning how many gossip messages were received in all.
fn run_node_pair(data: &[u8]) -> usize {
    let seed = u64::from(data.first().copied().unwrap_or(0) % SEEDS);
    let mut sim = Sim::new(seed);
    let nodes: Vec<NodeIdx> = (0..2)
        .filter_map(|_| sim.add_node(Config::default()).ok())
        .collect();
    assert_eq!(nodes.len(), 2, "default config must be accepted");
    let peers: Vec<PeerId> = nodes.iter().map(|&n| sim.peer_id(n)).collect();
    let topics: Vec<TopicHash> = TOPICS.iter().map(|t| TopicHash::new(t)).collect();
    // Payload -> (publisher, topic index).
    let mut published: BTreeMap<Bytes, (usize, usize)> = BTreeMap::new();
    let mut counter = 0u32;
    let mut input = Input {
        data: data.get(1..).unwrap_or_default(),
        pos: 0,
    };
    let mut last_now = sim.now();
    let mut received = 0;

    for _ in 0..MAX_COMMANDS {
        if input.done() {
            break;
        }
        let op = input.byte() % 11;
        let arg = input.byte();
        let who = usize::from(arg & 1);
        let (me, other) = (nodes[who], nodes[1 - who]);
        let topic = &topics[usize::from(arg >> 1) % topics.len()];
        match op {
            0 => {
                let _ = sim.dial(me, other);
            }
            1 => {
                let _ = sim.subscribe(me, topic);
            }
            2 => {
                let _ = sim.with_node(me, |node, now| node.unsubscribe(now, topic));
            }
            3 => {
                counter += 1;
                let len = usize::from(input.byte()) * 64 + 4;
                let mut bytes = vec![arg; len];
                bytes[..4].copy_from_slice(&counter.to_be_bytes());
                let bytes = Bytes::from(bytes);
                if sim.publish(me, topic, bytes.clone()).is_ok() {
                    published.insert(bytes, (who, usize::from(arg >> 1) % topics.len()));
                }
            }
            4 => {
                for _ in 0..=(arg % 64) {
                    if !sim.step() {
                        break;
                    }
                }
            }
            5 => {
                let d = Duration::from_millis(u64::from(arg) * 20);
                if let Err(livelock) = sim.run_for(d) {
                    panic!("{livelock}");
                }
            }
            6 => {
                let extra = input.byte();
                sim.link(
                    me,
                    other,
                    LinkConfig {
                        latency: Duration::from_millis(1 + u64::from(arg % 100)),
                        jitter: Duration::from_millis(u64::from(extra % 50)),
                        loss: f64::from(extra >> 6) * 0.1,
                        bandwidth_bytes_per_sec: (arg & 0x80 != 0)
                            .then_some(20_000 + u64::from(extra) * 10_000),
                        queue_bytes: (extra & 1 == 1).then_some(64 * 1024),
                        mtu: 1200 + usize::from(extra) * 2,
                    },
                );
            }
            7 => sim.partition(&[me], &[other]),
            8 => sim.heal(),
            9 => {
                if sim.is_up(me) {
                    let _ = sim.crash(me);
                } else {
                    let _ = sim.restart(me);
                }
            }
            _ => {
                let peer = peers[1 - who];
                let _ = sim.with_node(me, |node, now| node.disconnect(now, &peer));
            }
        }
        received += check(&mut sim, &nodes, &peers, &topics, &published);
        assert!(sim.now() >= last_now, "the clock went back");
        last_now = sim.now();
    }
    received
}

fn check(
    sim: &mut Sim,
    nodes: &[NodeIdx],
    peers: &[PeerId],
    topics: &[TopicHash],
    published: &BTreeMap<Bytes, (usize, usize)>,
) -> usize {
    let mut received = 0;
    for (i, &idx) in nodes.iter().enumerate() {
        if let Some(node) = sim.node(idx) {
            for peer in node.connected_peers() {
                assert_eq!(*peer, peers[1 - i], "node {i} connected to a stranger");
            }
        }
        for event in sim.drain_events(idx) {
            if let NodeEvent::Message { topic, data, .. } = event {
                let Some(&(publisher, topic_idx)) = published.get(&data) else {
                    panic!("node {i} received a message nobody published");
                };
                assert_ne!(publisher, i, "node {i} received its own message");
                assert_eq!(topic, topics[topic_idx], "message arrived on another topic");
                received += 1;
            }
        }
    }
    received
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha20Rng;
    use rand_core::{RngCore, SeedableRng};

    #[test]
    fn scripted_session_delivers_and_holds_invariants() {
        // seed, then (op, arg[, extra]) commands: dial, subscribe both, run, publish both
        // ways, run, partition, publish, run, heal, crash, run, restart, dial, run.
        let mut data = vec![1];
        data.extend_from_slice(&[0, 0, 1, 0, 1, 1, 5, 100, 3, 0, 20, 3, 1, 20, 5, 100]);
        data.extend_from_slice(&[7, 0, 3, 0, 5, 5, 100, 8, 0, 9, 1, 5, 200, 9, 1, 0, 1]);
        data.extend_from_slice(&[5, 250]);
        // The two publishes before the partition arrive; the one during it does not.
        assert_eq!(run_node_pair(&data), 2);
    }

    #[test]
    fn random_inputs_hold_invariants() {
        let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
        for len in [0usize, 1, 9, 40, 120, 300] {
            let mut data = vec![0u8; len];
            rng.fill_bytes(&mut data);
            node_pair(&data);
        }
    }
}
