//! In-memory network of endpoints on a simulated clock (quinn's test `Pair`, generalised
//! to N endpoints). Each step drains every endpoint, delivers datagrams whose arrival
//! time has come, and otherwise jumps the clock to the earliest deadline or arrival.
//! Links have latency, loss, reordering and an MTU, all from one seeded RNG.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_identity::{Keypair, PeerId};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::{
    Config, ConnId, Datagram, Direction, Endpoint, Event, SendBuffer, StreamId, TimeoutReason,
};

/// Network conditions applied to every datagram.
#[derive(Debug, Clone)]
pub(crate) struct LinkConfig {
    /// One-way delay.
    pub latency: Duration,
    /// Probability in [0, 1] that a datagram is dropped.
    pub loss: f64,
    /// Probability in [0, 1] that a datagram is held back by up to `reorder_delay`.
    pub reorder: f64,
    /// Maximum extra delay of a reordered datagram.
    pub reorder_delay: Duration,
    /// Datagrams larger than this are dropped (path MTU).
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            mtu: 1500,
        }
    }
}

type Key = (ConnId, StreamId);

/// A datagram in flight: (arrival, sequence number, sender, bytes), earliest first.
type InFlight = Reverse<(Instant, u64, SocketAddr, Vec<u8>)>;

/// One endpoint with a scripted application on top: it records events, reads every
/// readable stream (if `auto_read`) and feeds queued sends as credit allows.
pub(crate) struct TestEndpoint {
    pub endpoint: Endpoint,
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    /// Every event, in order (Readable/Writable included).
    pub events: Vec<Event>,
    /// Bytes read per stream.
    pub received: HashMap<Key, Vec<u8>>,
    /// Streams whose peer FIN was read.
    pub finished: BTreeSet<Key>,
    /// Streams opened by the peer, in order.
    pub opened: Vec<Key>,
    pub auto_read: bool,
    pub read_chunk: usize,
    /// When false the endpoint is "crashed": it receives nothing and is never driven.
    pub alive: bool,
    send_buffers: BTreeMap<Key, SendBuffer>,
    finish_when_sent: BTreeSet<Key>,
    inbound: BinaryHeap<InFlight>,
    /// Timeout reasons seen after drains.
    pub reasons: BTreeSet<String>,
}

impl TestEndpoint {
    pub fn connected(&self) -> Vec<(ConnId, PeerId, Direction)> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::Connected {
                    conn,
                    peer,
                    direction,
                    ..
                } => Some((*conn, *peer, *direction)),
                _ => None,
            })
            .collect()
    }

    pub fn closed(&self) -> Vec<(ConnId, crate::CloseReason)> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::Closed { conn, reason, .. } => Some((*conn, reason.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn dial_failures(&self) -> Vec<(ConnId, crate::DialFailure)> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::DialFailed { conn, error, .. } => Some((*conn, error.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn saw_reason(&self, reason: TimeoutReason) -> bool {
        self.reasons.contains(&format!("{reason:?}"))
    }
}

/// The simulated network.
pub(crate) struct Pair {
    pub time: Instant,
    pub nodes: Vec<TestEndpoint>,
    pub link: LinkConfig,
    rng: ChaCha20Rng,
    seq: u64,
    buf: Vec<u8>,
}

/// Keypair number `i` (1-based), as the brief asks for seeded test keys.
pub(crate) fn keypair(i: u8) -> Keypair {
    Keypair::from_secret_bytes(&[i; 32]).unwrap()
}

impl Pair {
    /// A client (node 0) and a server (node 1) with default configs.
    pub fn new() -> Self {
        Self::with_configs(
            vec![Config::default(), Config::default()],
            LinkConfig::default(),
        )
    }

    /// One endpoint per config, node `i` at 127.0.0.1:(10000+i) with key `i+1`.
    pub fn with_configs(configs: Vec<Config>, link: LinkConfig) -> Self {
        let addrs = (0..configs.len())
            .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 10_000 + i as u16))
            .collect::<Vec<_>>();
        Self::with_addrs(configs, addrs, link)
    }

    pub fn with_addrs(configs: Vec<Config>, addrs: Vec<SocketAddr>, link: LinkConfig) -> Self {
        let nodes = configs
            .into_iter()
            .zip(addrs)
            .enumerate()
            .map(|(i, (config, addr))| {
                let key = keypair(i as u8 + 1);
                let endpoint = Endpoint::new(config, &key, [i as u8 + 100; 32]).unwrap();
                TestEndpoint {
                    endpoint,
                    addr,
                    peer_id: key.peer_id(),
                    events: Vec::new(),
                    received: HashMap::new(),
                    finished: BTreeSet::new(),
                    opened: Vec::new(),
                    auto_read: true,
                    read_chunk: 64 * 1024,
                    alive: true,
                    send_buffers: BTreeMap::new(),
                    finish_when_sent: BTreeSet::new(),
                    inbound: BinaryHeap::new(),
                    reasons: BTreeSet::new(),
                }
            })
            .collect();
        Self {
            time: Instant::now(),
            nodes,
            link,
            rng: ChaCha20Rng::from_seed([42; 32]),
            seq: 0,
            buf: Vec::new(),
        }
    }

    /// Node `from` dials node `to`, expecting `expected` (default: `to`'s real PeerId).
    pub fn dial(&mut self, from: usize, to: usize) -> ConnId {
        let expected = self.nodes[to].peer_id;
        self.dial_expecting(from, to, Some(expected))
    }

    pub fn dial_expecting(&mut self, from: usize, to: usize, expected: Option<PeerId>) -> ConnId {
        let addr = self.nodes[to].addr;
        let now = self.time;
        self.nodes[from].endpoint.dial(now, addr, expected).unwrap()
    }

    /// Connects node 0 to node 1; returns (client conn, server conn).
    pub fn connect(&mut self) -> (ConnId, ConnId) {
        let client = self.dial(0, 1);
        self.drive_until(Duration::from_secs(10), |p| {
            !p.nodes[0].connected().is_empty() && !p.nodes[1].connected().is_empty()
        });
        assert_eq!(self.nodes[0].connected()[0].0, client, "client connected");
        let server = self.nodes[1].connected()[0].0;
        (client, server)
    }

    /// Queues `data` on a stream and feeds it as credit allows; finishes afterwards if
    /// `finish`.
    pub fn send(&mut self, node: usize, conn: ConnId, stream: StreamId, data: Bytes, finish: bool) {
        let n = &mut self.nodes[node];
        let buffer = n
            .send_buffers
            .entry((conn, stream))
            .or_insert_with(|| SendBuffer::new(usize::MAX));
        buffer.push(data).unwrap();
        if finish {
            n.finish_when_sent.insert((conn, stream));
        }
        Self::flush(n, conn, stream);
    }

    fn flush(n: &mut TestEndpoint, conn: ConnId, stream: StreamId) {
        let key = (conn, stream);
        if let Some(buffer) = n.send_buffers.get_mut(&key) {
            if buffer.flush_to(&mut n.endpoint, conn, stream).is_err() {
                buffer.clear();
            }
            if buffer.is_empty() && n.finish_when_sent.remove(&key) {
                n.endpoint.finish(conn, stream).unwrap();
            }
        }
    }

    /// Drains every live endpoint until nothing is left to send or report.
    pub fn drain(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].alive {
                self.drain_node(i);
            }
        }
    }

    fn drain_node(&mut self, i: usize) {
        let now = self.time;
        loop {
            let mut progressed = false;
            while let Some(transmit) = self.nodes[i].endpoint.poll_transmit(now, &mut self.buf) {
                progressed = true;
                let from = self.nodes[i].addr;
                let bytes = self.buf[..transmit.size].to_vec();
                let segment = transmit.segment_size.unwrap_or(transmit.size).max(1);
                for datagram in bytes.chunks(segment) {
                    self.route(from, transmit.destination, datagram.to_vec());
                }
            }
            while let Some(event) = self.nodes[i].endpoint.poll_event() {
                progressed = true;
                self.on_event(i, event);
            }
            if !progressed {
                break;
            }
        }
        let n = &mut self.nodes[i];
        if let Some(reason) = n.endpoint.timeout_reason() {
            n.reasons.insert(format!("{reason:?}"));
        }
    }

    fn on_event(&mut self, i: usize, event: Event) {
        let n = &mut self.nodes[i];
        match &event {
            Event::StreamOpened { conn, stream } => n.opened.push((*conn, *stream)),
            Event::Readable { conn, stream } if n.auto_read => {
                while let Ok(Some(bytes)) = n.endpoint.read(*conn, *stream, n.read_chunk) {
                    n.received
                        .entry((*conn, *stream))
                        .or_default()
                        .extend_from_slice(&bytes);
                }
            }
            Event::Finished { conn, stream } => {
                n.finished.insert((*conn, *stream));
            }
            Event::Writable { conn, stream } => Self::flush(n, *conn, *stream),
            _ => {}
        }
        n.events.push(event);
    }

    fn route(&mut self, from: SocketAddr, to: SocketAddr, datagram: Vec<u8>) {
        let Some(node) = self.nodes.iter_mut().find(|n| n.addr == to) else {
            return;
        };
        if datagram.len() > self.link.mtu || !node.alive {
            return;
        }
        if self.link.loss > 0.0 && unit(&mut self.rng) < self.link.loss {
            return;
        }
        let mut arrival = self.time + self.link.latency;
        if self.link.reorder > 0.0 && unit(&mut self.rng) < self.link.reorder {
            let extra = self.link.reorder_delay.mul_f64(unit(&mut self.rng));
            arrival += extra;
        }
        self.seq += 1;
        node.inbound
            .push(Reverse((arrival, self.seq, from, datagram)));
    }

    /// One step: drain, deliver due datagrams, fire due timers; otherwise jump the clock
    /// to the next deadline or arrival. Returns false when nothing will ever happen.
    pub fn step(&mut self) -> bool {
        self.drain();
        let now = self.time;
        let mut acted = false;
        for i in 0..self.nodes.len() {
            if !self.nodes[i].alive {
                continue;
            }
            while let Some(Reverse((arrival, _, _, _))) = self.nodes[i].inbound.peek() {
                if *arrival > now {
                    break;
                }
                let Some(Reverse((_, _, from, data))) = self.nodes[i].inbound.pop() else {
                    break;
                };
                self.nodes[i].endpoint.handle_datagram(
                    now,
                    Datagram {
                        remote: from,
                        local_ip: None,
                        ecn: None,
                        data: &data,
                    },
                );
                acted = true;
                self.drain_node(i);
            }
            if let Some(deadline) = self.nodes[i].endpoint.poll_timeout() {
                if deadline <= now {
                    self.nodes[i].endpoint.handle_timeout(now);
                    acted = true;
                    self.drain_node(i);
                }
            }
        }
        if acted {
            return true;
        }
        let next = self
            .nodes
            .iter()
            .filter(|n| n.alive)
            .flat_map(|n| {
                let arrival = n.inbound.peek().map(|Reverse((at, _, _, _))| *at);
                [arrival, n.endpoint.poll_timeout()]
            })
            .flatten()
            .min();
        match next {
            Some(next) => {
                self.time = self.time.max(next);
                true
            }
            None => false,
        }
    }

    /// Steps until `done` holds; panics if it does not within `limit` of simulated time.
    pub fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) {
        let deadline = self.time + limit;
        let mut steps = 0u64;
        while !done(self) {
            assert!(
                self.time <= deadline,
                "condition not reached within {limit:?}"
            );
            assert!(self.step(), "network went quiet before the condition held");
            steps += 1;
            assert!(steps < 50_000_000, "livelock");
        }
    }

    /// Steps until `for_how_long` of simulated time passed (or nothing is left to do).
    pub fn run_for(&mut self, for_how_long: Duration) {
        let until = self.time + for_how_long;
        while self.time < until {
            let before = self.time;
            if !self.step() {
                break;
            }
            if self.time > until {
                // Overshot by jumping to a far deadline: pull back and stop.
                self.time = until.max(before);
                break;
            }
        }
    }
}

fn unit(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Deterministic pseudo-random payload.
pub(crate) fn payload(len: usize, seed: u8) -> Bytes {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let mut data = vec![0u8; len];
    rng.fill_bytes(&mut data);
    Bytes::from(data)
}
