//! N host [`Node`]s joined in memory on a simulated clock: datagrams are queued between
//! nodes with a fixed latency, and each step jumps the clock to the earliest deadline or
//! arrival (the QUIC pair, one level up).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use leanp2p_host::{Config, ConnId, Datagram, Node, NodeEvent, PeerId, Transmit, Validation};

use crate::{fail, keypair, FixtureError};

type InFlight = Reverse<(Instant, u64, SocketAddr, Vec<u8>)>;

/// One node of a [`Net`].
pub struct TestNode {
    /// The node.
    pub node: Node,
    /// Its address (127.0.0.1:20000+i).
    pub addr: SocketAddr,
    /// Its PeerId (key `i + 1`).
    pub peer_id: PeerId,
    /// Every event, in order (see [`Net::keep_events`]).
    pub events: Vec<NodeEvent>,
    /// Accept every gossip message at once.
    pub auto_validate: bool,
    /// Leave events in the node's queue (an application that stops polling them).
    pub hold_events: bool,
    /// Dropped off the network: receives and sends nothing.
    pub alive: bool,
    inbox: BinaryHeap<InFlight>,
}

/// An in-memory network of nodes on a simulated clock.
pub struct Net {
    /// The simulated clock.
    pub time: Instant,
    /// The nodes, by index.
    pub nodes: Vec<TestNode>,
    /// One-way latency of every datagram.
    pub latency: Duration,
    /// Whether events are kept in [`TestNode::events`] (off for long benches).
    pub keep_events: bool,
    seq: u64,
    buf: Vec<u8>,
}

impl Net {
    /// `n` nodes with `config(i)`, node `i` at 127.0.0.1:(20000+i) with key `i+1` and
    /// seed `[i + 7; 32]`, each listening on its address. The clock starts at `t0`.
    pub fn new(
        t0: Instant,
        n: usize,
        config: impl Fn(usize) -> Config,
    ) -> Result<Self, FixtureError> {
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let index = u8::try_from(i).map_err(|_| fail("at most 254 nodes"))?;
            let key = keypair(index.wrapping_add(1))?;
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 20_000 + u16::from(index));
            let mut node = Node::new(t0, config(i), &key, [index.wrapping_add(7); 32])
                .map_err(|e| fail(format!("node {i}: {e}")))?;
            node.listen(t0, addr)
                .map_err(|e| fail(format!("listen {i}: {e}")))?;
            nodes.push(TestNode {
                node,
                addr,
                peer_id: key.peer_id(),
                events: Vec::new(),
                auto_validate: true,
                hold_events: false,
                alive: true,
                inbox: BinaryHeap::new(),
            });
        }
        Ok(Self {
            time: t0,
            nodes,
            latency: Duration::from_millis(5),
            keep_events: true,
            seq: 0,
            buf: Vec::new(),
        })
    }

    /// The PeerId of node `i`.
    pub fn peer(&self, i: usize) -> PeerId {
        self.nodes[i].peer_id
    }

    /// Node `from` dials node `to`.
    pub fn dial(&mut self, from: usize, to: usize) -> Result<ConnId, FixtureError> {
        let (addr, peer, now) = (self.nodes[to].addr, self.nodes[to].peer_id, self.time);
        let conn = self.nodes[from]
            .node
            .dial(now, addr, Some(peer))
            .map_err(|e| fail(format!("dial {from} -> {to}: {e}")))?;
        self.drain(from);
        Ok(conn)
    }

    /// Drains node `i`: transmits into the destinations' inboxes, events into `events`.
    pub fn drain(&mut self, i: usize) {
        loop {
            let now = self.time;
            let mut buf = std::mem::take(&mut self.buf);
            while let Some(t) = self.nodes[i].node.poll_transmit(now, &mut buf) {
                self.send_from(i, &t, &buf[..t.size]);
            }
            self.buf = buf;
            let mut validated = false;
            while !self.nodes[i].hold_events {
                let Some(event) = self.nodes[i].node.poll_event() else {
                    break;
                };
                if let NodeEvent::Message {
                    id,
                    propagation_source,
                    ..
                } = &event
                {
                    if self.nodes[i].auto_validate {
                        let _ = self.nodes[i].node.report_validation(
                            now,
                            id,
                            *propagation_source,
                            Validation::Accept,
                        );
                        validated = true;
                    }
                }
                if self.keep_events {
                    self.nodes[i].events.push(event);
                }
            }
            if !validated {
                break;
            }
        }
    }

    /// Puts a transmit of node `i` (its datagrams split by `segment_size`) on the wire:
    /// each arrives at its destination after [`Net::latency`]. Nothing leaves a node that
    /// is not alive.
    pub fn send_from(&mut self, i: usize, t: &Transmit, bytes: &[u8]) {
        if !self.nodes[i].alive {
            return;
        }
        let (from, arrival) = (self.nodes[i].addr, self.time + self.latency);
        let segment = t.segment_size.unwrap_or(t.size).max(1);
        for chunk in bytes.chunks(segment) {
            if let Some(dest) = self.nodes.iter_mut().find(|n| n.addr == t.destination) {
                self.seq += 1;
                dest.inbox
                    .push(Reverse((arrival, self.seq, from, chunk.to_vec())));
            }
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        self.nodes
            .iter()
            .filter(|n| n.alive)
            .flat_map(|n| {
                let arrival = n.inbox.peek().map(|Reverse((at, ..))| *at);
                [arrival, n.node.poll_timeout()]
            })
            .flatten()
            .min()
    }

    /// Delivers every datagram for node `i` due at the current time.
    pub fn deliver(&mut self, i: usize) {
        let now = self.time;
        while let Some(Reverse((at, _, from, data))) = self.nodes[i].inbox.peek() {
            if *at > now {
                break;
            }
            let (from, data) = (*from, data.clone());
            self.nodes[i].inbox.pop();
            self.nodes[i].node.handle_datagram(
                now,
                Datagram {
                    remote: from,
                    local_ip: None,
                    ecn: None,
                    data: &data,
                },
            );
        }
    }

    /// One step: drain everyone, advance to the next wake-up, deliver and fire timers.
    /// Returns `false` when nothing is left to do.
    pub fn step(&mut self) -> bool {
        for i in 0..self.nodes.len() {
            self.drain(i);
        }
        let Some(next) = self.next_wake() else {
            return false;
        };
        self.time = self.time.max(next);
        let now = self.time;
        for i in 0..self.nodes.len() {
            if !self.nodes[i].alive {
                self.nodes[i].inbox.clear();
                continue;
            }
            self.deliver(i);
            if self.nodes[i].node.poll_timeout().is_some_and(|t| t <= now) {
                self.nodes[i].node.handle_timeout(now);
            }
            self.drain(i);
        }
        true
    }

    /// Steps until `done` holds or `limit` of simulated time passes (at most two million
    /// steps). Returns `done`.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Net) -> bool) -> bool {
        let end = self.time + limit;
        for _ in 0..2_000_000 {
            if done(self) {
                return true;
            }
            if self.time > end || !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    /// Steps for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.time + d;
        self.run_until(d + Duration::from_millis(1), |net| net.time >= end);
    }

    /// Connects `a` to `b` and waits until gossip is up both ways.
    pub fn connect(&mut self, a: usize, b: usize) -> Result<(), FixtureError> {
        self.dial(a, b)?;
        let (pa, pb) = (self.peer(a), self.peer(b));
        let up = self.run_until(Duration::from_secs(5), |net| {
            net.nodes[a].node.gossipsub().is_connected(&pb)
                && net.nodes[b].node.gossipsub().is_connected(&pa)
        });
        if up {
            Ok(())
        } else {
            Err(fail(format!("gossip did not come up between {a} and {b}")))
        }
    }
}
