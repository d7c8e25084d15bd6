//! In-memory network of [`Node`]s on a simulated clock: datagrams are queued between
//! nodes with a fixed latency, and each step jumps the clock to the earliest deadline or
//! arrival (quic's `Pair`, one level up).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use leanp2p_identity::{Keypair, PeerId};

use crate::{Config, Datagram, Node, NodeEvent, Validation};

type InFlight = Reverse<(Instant, u64, SocketAddr, Vec<u8>)>;

pub(crate) fn keypair(i: u8) -> Keypair {
    Keypair::from_secret_bytes(&[i; 32]).unwrap()
}

pub(crate) struct TestNode {
    pub node: Node,
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    /// Every event, in order.
    pub events: Vec<NodeEvent>,
    /// Accept every gossip message at once.
    pub auto_validate: bool,
    /// Dropped off the network: receives and sends nothing.
    pub alive: bool,
    inbox: BinaryHeap<InFlight>,
}

pub(crate) struct Net {
    pub time: Instant,
    pub nodes: Vec<TestNode>,
    pub latency: Duration,
    seq: u64,
    buf: Vec<u8>,
}

impl Net {
    /// `n` nodes with `config(i)`, node `i` at 127.0.0.1:(20000+i) with key `i+1`,
    /// each listening on its address.
    pub fn new(n: usize, config: impl Fn(usize) -> Config) -> Self {
        let t0 = Instant::now();
        let nodes = (0..n)
            .map(|i| {
                let key = keypair(i as u8 + 1);
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 20_000 + i as u16);
                let mut node = Node::new(t0, config(i), &key, [i as u8 + 7; 32]).unwrap();
                node.listen(t0, addr).unwrap();
                TestNode {
                    node,
                    addr,
                    peer_id: key.peer_id(),
                    events: Vec::new(),
                    auto_validate: true,
                    alive: true,
                    inbox: BinaryHeap::new(),
                }
            })
            .collect();
        Self {
            time: t0,
            nodes,
            latency: Duration::from_millis(5),
            seq: 0,
            buf: Vec::new(),
        }
    }

    pub fn peer(&self, i: usize) -> PeerId {
        self.nodes[i].peer_id
    }

    /// Node `from` dials node `to`.
    pub fn dial(&mut self, from: usize, to: usize) -> leanp2p_quic::ConnId {
        let (addr, peer, now) = (self.nodes[to].addr, self.nodes[to].peer_id, self.time);
        let conn = self.nodes[from].node.dial(now, addr, Some(peer)).unwrap();
        self.drain(from);
        conn
    }

    /// Drains node `i`: transmits into the destinations' inboxes, events into `events`.
    pub fn drain(&mut self, i: usize) {
        loop {
            let now = self.time;
            while let Some(t) = self.nodes[i].node.poll_transmit(now, &mut self.buf) {
                let from = self.nodes[i].addr;
                if !self.nodes[i].alive {
                    continue;
                }
                let bytes = self.buf[..t.size].to_vec();
                let segment = t.segment_size.unwrap_or(t.size).max(1);
                for chunk in bytes.chunks(segment) {
                    if let Some(dest) = self.nodes.iter_mut().find(|n| n.addr == t.destination) {
                        self.seq += 1;
                        dest.inbox.push(Reverse((
                            now + self.latency,
                            self.seq,
                            from,
                            chunk.to_vec(),
                        )));
                    }
                }
            }
            let mut validated = false;
            while let Some(event) = self.nodes[i].node.poll_event() {
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
                self.nodes[i].events.push(event);
            }
            if !validated {
                break;
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

    /// One step: drain everyone, advance to the next wake-up, deliver and fire timers.
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
            while self.nodes[i]
                .inbox
                .peek()
                .is_some_and(|Reverse((at, ..))| *at <= now)
            {
                let Reverse((_, _, from, data)) = self.nodes[i].inbox.pop().unwrap();
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
            if self.nodes[i].node.poll_timeout().is_some_and(|t| t <= now) {
                self.nodes[i].node.handle_timeout(now);
            }
            self.drain(i);
        }
        true
    }

    /// Steps until `done` holds or `limit` of simulated time passes. Returns `done`.
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
        panic!("livelock: too many steps");
    }

    /// Steps for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.time + d;
        self.run_until(d + Duration::from_millis(1), |net| net.time >= end);
    }

    /// Connects `a` to `b` and waits until gossip streams are up both ways.
    pub fn connect(&mut self, a: usize, b: usize) {
        self.dial(a, b);
        let (pa, pb) = (self.peer(a), self.peer(b));
        assert!(
            self.run_until(Duration::from_secs(5), |net| {
                net.nodes[a].node.gossipsub().is_connected(&pb)
                    && net.nodes[b].node.gossipsub().is_connected(&pa)
            }),
            "gossip did not come up between {a} and {b}"
        );
    }
}
