//! N QUIC [`Endpoint`]s joined in memory on a simulated clock (quinn's test `Pair`,
//! generalised to N endpoints).
//!
//! Each [`QuicNet::step`] drains every endpoint, hands it the datagrams whose arrival time
//! has come, fires its due timer, and otherwise jumps the clock to the earliest deadline or
//! arrival. Links have latency, loss, reordering and an MTU ([`LinkConfig`]), all drawn
//! from one seeded RNG, so a run depends only on its inputs. Datagram buffers are pooled:
//! after warm-up the driver itself does not allocate per packet.
//!
//! On top of each endpoint a scripted application ([`QuicNode`]) records every event,
//! reads every readable stream (if [`QuicNode::auto_read`]) and feeds data queued with
//! [`QuicNet::send`] as flow control allows. [`crate::QuicPair`] is this network with two
//! nodes and a bulk-transfer driver for benches.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_identity::PeerId;
use leanp2p_quic::{
    CloseReason, Config, ConnId, Datagram, DialFailure, Direction, Endpoint, Event, SendBuffer,
    StreamId, TimeoutReason,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::{fail, keypair, FixtureError};

/// Network conditions applied to every datagram of a [`QuicNet`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
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
    /// 10 ms one way, no loss, no reordering, MTU 1500.
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

/// A stream of one connection: the key of [`QuicNode::received`] and friends.
pub type StreamKey = (ConnId, StreamId);

/// A datagram in flight: (arrival, sequence number, sender, bytes), earliest first.
type InFlight = Reverse<(Instant, u64, SocketAddr, Vec<u8>)>;

/// Counters a [`QuicNet`] keeps for each node while driving.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriveStats {
    /// Datagrams the node sent (GSO batches counted per segment), dropped ones included.
    pub datagrams_sent: u64,
    /// UDP payload bytes the node sent.
    pub bytes_sent: u64,
    /// Stream bytes the node has read (by [`QuicNode::auto_read`]).
    pub bytes_read: u64,
    /// Times the node's deadline had come and `handle_timeout` was called (the wakeups a
    /// real driver would have).
    pub wakeups: u64,
    /// Of those, wakeups whose reason was [`TimeoutReason::Pacing`].
    pub pacing_wakeups: u64,
    /// Allocations counted (by the counter given to [`QuicNet::set_alloc_counter`])
    /// inside the node's `poll_transmit` calls.
    pub transmit_allocs: u64,
}

/// One endpoint of a [`QuicNet`] with a scripted application on top: it records events,
/// reads every readable stream (if `auto_read`) and feeds queued sends as credit allows.
pub struct QuicNode {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Its simulated address.
    pub addr: SocketAddr,
    /// Its PeerId.
    pub peer_id: PeerId,
    /// Every event, in order (`Readable` and `Writable` included). A driver may consume
    /// it (e.g. `events.drain(..)`): the network only appends.
    pub events: Vec<Event>,
    /// Bytes read per stream (if `keep_received`).
    pub received: BTreeMap<StreamKey, Vec<u8>>,
    /// Streams whose peer FIN was read.
    pub finished: BTreeSet<StreamKey>,
    /// Streams opened by the peer, in order.
    pub opened: Vec<StreamKey>,
    /// Read every stream as soon as it is readable (default `true`).
    pub auto_read: bool,
    /// Keep what `auto_read` reads in `received` (default `true`); when `false` the bytes
    /// are only counted in [`DriveStats::bytes_read`], as long benches need.
    pub keep_received: bool,
    /// Largest chunk `auto_read` reads at once (default 64 KiB).
    pub read_chunk: usize,
    /// When `false` the endpoint is "crashed": it receives nothing and is never driven.
    pub alive: bool,
    /// Every distinct [`Endpoint::timeout_reason`] seen after a drain, first seen first.
    pub reasons: Vec<TimeoutReason>,
    /// Counters.
    pub stats: DriveStats,
    send_buffers: BTreeMap<StreamKey, SendBuffer>,
    finish_when_sent: BTreeSet<StreamKey>,
    inbound: BinaryHeap<InFlight>,
}

impl QuicNode {
    /// Every `Connected` event so far: (connection, peer, direction).
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

    /// Every `Closed` event so far: (connection, reason).
    pub fn closed(&self) -> Vec<(ConnId, CloseReason)> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::Closed { conn, reason, .. } => Some((*conn, reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// Every `DialFailed` event so far: (connection, failure).
    pub fn dial_failures(&self) -> Vec<(ConnId, DialFailure)> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::DialFailed { conn, error, .. } => Some((*conn, error.clone())),
                _ => None,
            })
            .collect()
    }

    /// Whether [`Endpoint::timeout_reason`] was ever `reason` after a drain.
    pub fn saw_reason(&self, reason: TimeoutReason) -> bool {
        self.reasons.contains(&reason)
    }
}

/// Upper bound on steps in one [`QuicNet::drive_until`], so that a livelock ends in an
/// error instead of a hang.
const MAX_STEPS: u64 = 50_000_000;

/// The seed of the link RNG (loss and reordering).
const LINK_SEED: [u8; 32] = [42; 32];

/// N QUIC endpoints joined by in-memory links on a simulated clock.
pub struct QuicNet {
    /// The simulated clock.
    pub time: Instant,
    /// The nodes, by index.
    pub nodes: Vec<QuicNode>,
    /// Conditions of every link.
    pub link: LinkConfig,
    /// At most this many arrived datagrams are handed to an endpoint before it is drained
    /// again (a receive batch, like one `recvmmsg`). 1 (the default) drains after every
    /// datagram, so the receiver acknowledges as often as quinn wants; larger batches
    /// coalesce acknowledgements.
    pub recv_batch: usize,
    rng: ChaCha20Rng,
    seq: u64,
    /// The one transmit buffer reused for every `poll_transmit`.
    buf: Vec<u8>,
    /// Recycled datagram buffers.
    pool: Vec<Vec<u8>>,
    /// Reads the allocation count of a bench binary that installed a counting allocator.
    alloc_counter: Option<fn() -> u64>,
}

impl QuicNet {
    /// A client (node 0) and a server (node 1) with default configs and links, the clock
    /// at `t0`.
    pub fn new(t0: Instant) -> Result<Self, FixtureError> {
        Self::with_configs(
            t0,
            vec![Config::default(), Config::default()],
            LinkConfig::default(),
        )
    }

    /// One endpoint per config, node `i` at 127.0.0.1:(10000+i).
    /// See [`QuicNet::with_addrs`].
    pub fn with_configs(
        t0: Instant,
        configs: Vec<Config>,
        link: LinkConfig,
    ) -> Result<Self, FixtureError> {
        let addrs = (0..configs.len())
            .map(|i| {
                let port = u16::try_from(10_000 + i).map_err(|_| fail("too many nodes"))?;
                Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
            })
            .collect::<Result<Vec<_>, FixtureError>>()?;
        Self::with_addrs(t0, configs, addrs, link)
    }

    /// One endpoint per config at the matching address: node `i` has key
    /// [`keypair`]`(i + 1)` and seed `[i + 100; 32]` (at most 155 nodes). The clock
    /// starts at `t0`.
    pub fn with_addrs(
        t0: Instant,
        configs: Vec<Config>,
        addrs: Vec<SocketAddr>,
        link: LinkConfig,
    ) -> Result<Self, FixtureError> {
        if configs.len() != addrs.len() {
            return Err(fail(format!(
                "{} configs but {} addresses",
                configs.len(),
                addrs.len()
            )));
        }
        let mut nodes = Vec::with_capacity(configs.len());
        for (i, (config, addr)) in configs.into_iter().zip(addrs).enumerate() {
            let index = u8::try_from(i)
                .ok()
                .filter(|i| *i <= 155)
                .ok_or_else(|| fail("at most 155 nodes"))?;
            let key = keypair(index + 1)?;
            let endpoint = Endpoint::new(config, &key, [index + 100; 32])
                .map_err(|e| fail(format!("endpoint {i}: {e}")))?;
            nodes.push(QuicNode {
                endpoint,
                addr,
                peer_id: key.peer_id(),
                events: Vec::new(),
                received: BTreeMap::new(),
                finished: BTreeSet::new(),
                opened: Vec::new(),
                auto_read: true,
                keep_received: true,
                read_chunk: 64 * 1024,
                alive: true,
                reasons: Vec::new(),
                stats: DriveStats::default(),
                send_buffers: BTreeMap::new(),
                finish_when_sent: BTreeSet::new(),
                inbound: BinaryHeap::new(),
            });
        }
        Ok(Self {
            time: t0,
            nodes,
            link,
            recv_batch: 1,
            rng: ChaCha20Rng::from_seed(LINK_SEED),
            seq: 0,
            buf: Vec::with_capacity(64 * 1024),
            pool: Vec::new(),
            alloc_counter: None,
        })
    }

    /// Counts allocations inside every node's `poll_transmit` calls (into
    /// [`DriveStats::transmit_allocs`]) with `counter`, a function returning the bench
    /// binary's running allocation count.
    pub fn set_alloc_counter(&mut self, counter: fn() -> u64) {
        self.alloc_counter = Some(counter);
    }

    /// Node `from` dials node `to`, expecting `to`'s real PeerId.
    pub fn dial(&mut self, from: usize, to: usize) -> Result<ConnId, FixtureError> {
        let expected = self.node(to)?.peer_id;
        self.dial_expecting(from, to, Some(expected))
    }

    /// Node `from` dials node `to`, expecting `expected` (`None`: any peer).
    pub fn dial_expecting(
        &mut self,
        from: usize,
        to: usize,
        expected: Option<PeerId>,
    ) -> Result<ConnId, FixtureError> {
        let addr = self.node(to)?.addr;
        let now = self.time;
        self.node_mut(from)?
            .endpoint
            .dial(now, addr, expected)
            .map_err(|e| fail(format!("dial {from} -> {to}: {e}")))
    }

    /// Node `from` dials node `to` and drives until both report the connection (at most
    /// 10 s of simulated time). Returns (`from`'s connection, `to`'s connection).
    pub fn connect(&mut self, from: usize, to: usize) -> Result<(ConnId, ConnId), FixtureError> {
        let client = self.dial(from, to)?;
        let client_peer = self.node(from)?.peer_id;
        let server_conn = |net: &Self| {
            net.nodes.get(to).and_then(|n| {
                n.connected()
                    .into_iter()
                    .rev()
                    .find(|(_, peer, direction)| {
                        *peer == client_peer && *direction == Direction::Inbound
                    })
                    .map(|(conn, ..)| conn)
            })
        };
        let client_up = |net: &Self| {
            net.nodes.get(from).is_some_and(|n| {
                n.events
                    .iter()
                    .any(|e| matches!(e, Event::Connected { conn, .. } if *conn == client))
            })
        };
        let client_failed = |net: &Self| {
            net.nodes
                .get(from)
                .and_then(|n| n.dial_failures().into_iter().find(|(c, _)| *c == client))
        };
        self.drive_until(Duration::from_secs(10), |net| {
            client_failed(net).is_some() || (client_up(net) && server_conn(net).is_some())
        })?;
        if let Some((_, failure)) = client_failed(self) {
            return Err(fail(format!("dial {from} -> {to} failed: {failure:?}")));
        }
        let server = server_conn(self).ok_or_else(|| fail("server side not connected"))?;
        Ok((client, server))
    }

    /// Queues `data` on `stream` of node `node`'s connection `conn` and feeds it to the
    /// endpoint as flow control allows (now and at every `Writable`); finishes the stream
    /// once everything is written if `finish`. Fails if the first write or the finish
    /// fails; a later failure (the stream was reset or stopped) drops what is queued.
    pub fn send(
        &mut self,
        node: usize,
        conn: ConnId,
        stream: StreamId,
        data: Bytes,
        finish: bool,
    ) -> Result<(), FixtureError> {
        let n = self.node_mut(node)?;
        let buffer = n
            .send_buffers
            .entry((conn, stream))
            .or_insert_with(|| SendBuffer::new(usize::MAX));
        buffer
            .push(data)
            .map_err(|e| fail(format!("send buffer: {e}")))?;
        if finish {
            n.finish_when_sent.insert((conn, stream));
        }
        Self::flush(n, conn, stream)
    }

    /// Writes what is queued for (`conn`, `stream`) and finishes the stream when it is
    /// empty and a finish was asked for. On failure the queue is dropped.
    fn flush(n: &mut QuicNode, conn: ConnId, stream: StreamId) -> Result<(), FixtureError> {
        let key = (conn, stream);
        let Some(buffer) = n.send_buffers.get_mut(&key) else {
            return Ok(());
        };
        let result = match buffer.flush_to(&mut n.endpoint, conn, stream) {
            Err(e) => Err(fail(format!("write on {conn}/{stream}: {e}"))),
            Ok(_) if buffer.is_empty() && n.finish_when_sent.remove(&key) => n
                .endpoint
                .finish(conn, stream)
                .map_err(|e| fail(format!("finish {conn}/{stream}: {e}"))),
            Ok(_) => Ok(()),
        };
        if result.is_err() {
            n.send_buffers.remove(&key);
            n.finish_when_sent.remove(&key);
        }
        result
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
        let from = self.nodes[i].addr;
        loop {
            let mut progressed = false;
            loop {
                let before = self.alloc_counter.map(|count| count());
                let transmit = self.nodes[i].endpoint.poll_transmit(now, &mut self.buf);
                if let (Some(before), Some(count)) = (before, self.alloc_counter) {
                    self.nodes[i].stats.transmit_allocs += count().saturating_sub(before);
                }
                let Some(transmit) = transmit else { break };
                progressed = true;
                let size = transmit.size.min(self.buf.len());
                let segment = transmit.segment_size.unwrap_or(size).max(1);
                let mut start = 0;
                while start < size {
                    let end = (start + segment).min(size);
                    let mut datagram = self.pool.pop().unwrap_or_default();
                    datagram.clear();
                    datagram.extend_from_slice(&self.buf[start..end]);
                    let stats = &mut self.nodes[i].stats;
                    stats.datagrams_sent += 1;
                    stats.bytes_sent += (end - start) as u64;
                    self.route(from, transmit.destination, datagram);
                    start = end;
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
            if !n.reasons.contains(&reason) {
                n.reasons.push(reason);
            }
        }
    }

    fn on_event(&mut self, i: usize, event: Event) {
        let n = &mut self.nodes[i];
        match &event {
            Event::StreamOpened { conn, stream } => n.opened.push((*conn, *stream)),
            Event::Readable { conn, stream } if n.auto_read => {
                while let Ok(Some(bytes)) = n.endpoint.read(*conn, *stream, n.read_chunk) {
                    n.stats.bytes_read += bytes.len() as u64;
                    if n.keep_received {
                        n.received
                            .entry((*conn, *stream))
                            .or_default()
                            .extend_from_slice(&bytes);
                    }
                }
            }
            Event::Finished { conn, stream } => {
                n.finished.insert((*conn, *stream));
            }
            Event::Writable { conn, stream } => {
                // A failure means the stream was reset or stopped: its queue is dropped,
                // and the test sees why in the events.
                let _ = Self::flush(n, *conn, *stream);
            }
            _ => {}
        }
        n.events.push(event);
    }

    /// Puts one datagram on the link towards `to`: dropped if no live node has that
    /// address, if it exceeds the MTU or by loss; delayed by latency and reordering.
    fn route(&mut self, from: SocketAddr, to: SocketAddr, datagram: Vec<u8>) {
        let Some(node) = self.nodes.iter_mut().find(|n| n.addr == to) else {
            self.pool.push(datagram);
            return;
        };
        if datagram.len() > self.link.mtu
            || !node.alive
            || (self.link.loss > 0.0 && unit(&mut self.rng) < self.link.loss)
        {
            self.pool.push(datagram);
            return;
        }
        let mut arrival = self.time + self.link.latency;
        if self.link.reorder > 0.0 && unit(&mut self.rng) < self.link.reorder {
            arrival += self.link.reorder_delay.mul_f64(unit(&mut self.rng));
        }
        self.seq += 1;
        node.inbound
            .push(Reverse((arrival, self.seq, from, datagram)));
    }

    /// One step: drain, deliver due datagrams ([`QuicNet::recv_batch`] at a time, draining
    /// in between), fire due timers; if none of that happened, jump the clock to the next
    /// deadline or arrival. Returns `false` when nothing will ever happen again.
    pub fn step(&mut self) -> bool {
        self.drain();
        let now = self.time;
        let batch = self.recv_batch.max(1);
        let mut acted = false;
        for i in 0..self.nodes.len() {
            if !self.nodes[i].alive {
                continue;
            }
            loop {
                let mut handed = 0;
                while handed < batch {
                    let node = &mut self.nodes[i];
                    if node
                        .inbound
                        .peek()
                        .is_none_or(|Reverse((at, ..))| *at > now)
                    {
                        break;
                    }
                    let Some(Reverse((_, _, from, data))) = node.inbound.pop() else {
                        break;
                    };
                    node.endpoint.handle_datagram(
                        now,
                        Datagram {
                            remote: from,
                            local_ip: None,
                            ecn: None,
                            data: &data,
                        },
                    );
                    self.pool.push(data);
                    handed += 1;
                }
                if handed == 0 {
                    break;
                }
                acted = true;
                self.drain_node(i);
            }
            let node = &mut self.nodes[i];
            if node.endpoint.poll_timeout().is_some_and(|t| t <= now) {
                node.stats.wakeups += 1;
                if node.endpoint.timeout_reason() == Some(TimeoutReason::Pacing) {
                    node.stats.pacing_wakeups += 1;
                }
                node.endpoint.handle_timeout(now);
                acted = true;
                self.drain_node(i);
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
                let arrival = n.inbound.peek().map(|Reverse((at, ..))| *at);
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

    /// Steps until `done` holds. Fails if it does not within `limit` of simulated time, if
    /// the network goes quiet first, or after 50 million steps (a livelock).
    pub fn drive_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Result<(), FixtureError> {
        let deadline = self.time + limit;
        let mut steps = 0u64;
        while !done(self) {
            if self.time > deadline {
                return Err(fail(format!("condition not reached within {limit:?}")));
            }
            if !self.step() {
                return Err(fail("network went quiet before the condition held"));
            }
            steps += 1;
            if steps >= MAX_STEPS {
                return Err(fail("livelock: too many steps"));
            }
        }
        Ok(())
    }

    /// Steps until `for_how_long` of simulated time has passed (or nothing is left to do).
    /// The clock ends at most at the start plus `for_how_long`.
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

    fn node(&self, i: usize) -> Result<&QuicNode, FixtureError> {
        self.nodes
            .get(i)
            .ok_or_else(|| fail(format!("no node {i}")))
    }

    fn node_mut(&mut self, i: usize) -> Result<&mut QuicNode, FixtureError> {
        self.nodes
            .get_mut(i)
            .ok_or_else(|| fail(format!("no node {i}")))
    }
}

/// A uniform draw in [0, 1).
fn unit(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// `len` deterministic pseudo-random (incompressible) bytes; `seed` varies the content.
pub fn random_payload(len: usize, seed: u8) -> Bytes {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let mut data = vec![0u8; len];
    rng.fill_bytes(&mut data);
    Bytes::from(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_and_drivers_fail_with_errors_not_panics() {
        let t0 = Instant::now();
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1);
        assert!(
            QuicNet::with_addrs(t0, vec![Config::default()], vec![], LinkConfig::default())
                .is_err()
        );
        assert!(QuicNet::with_addrs(t0, vec![], vec![addr], LinkConfig::default()).is_err());

        let mut net = QuicNet::new(t0).unwrap();
        assert!(net.dial(0, 2).is_err());
        // Nothing scheduled: the network is quiet at once.
        assert!(net.drive_until(Duration::from_secs(1), |_| false).is_err());
        assert_eq!(net.time, t0);
        // A crashed server: the handshake times out and `connect` says so.
        net.nodes[1].alive = false;
        let err = net.connect(0, 1).unwrap_err();
        assert!(err.0.contains("HandshakeTimedOut"), "{err}");
    }

    #[test]
    fn connect_send_and_lossy_links_are_deterministic() {
        let t0 = Instant::now();
        let run = || {
            let link = LinkConfig {
                loss: 0.05,
                reorder: 0.05,
                reorder_delay: Duration::from_millis(5),
                ..LinkConfig::default()
            };
            let configs = vec![Config::default(), Config::default()];
            let mut net = QuicNet::with_configs(t0, configs, link).unwrap();
            let (client, server) = net.connect(0, 1).unwrap();
            let stream = net.nodes[0].endpoint.open_bi(client).unwrap();
            let data = random_payload(200 * 1024, 7);
            net.send(0, client, stream, data.clone(), true).unwrap();
            net.drive_until(Duration::from_secs(30), |n| {
                n.nodes[1].finished.contains(&(server, stream))
            })
            .unwrap();
            assert_eq!(net.nodes[1].received[&(server, stream)], data.as_ref());
            assert_eq!(net.nodes[1].stats.bytes_read, data.len() as u64);
            assert!(net.nodes[0].stats.bytes_sent > data.len() as u64);
            (net.time - t0, net.nodes[0].stats, net.nodes[1].stats)
        };
        assert_eq!(run(), run());
    }
}
