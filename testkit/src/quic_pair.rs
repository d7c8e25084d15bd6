//! Two QUIC endpoints joined in memory on a simulated clock.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_quic::{Config as QuicConfig, ConnId, Datagram, Endpoint, Event as QuicEvent};
use leanp2p_quic::{StreamId, TimeoutReason};

use crate::{fail, keypair, FixtureError};

/// One endpoint of a [`QuicPair`] and the datagrams in flight towards it.
pub struct QuicNode {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Its simulated address.
    pub addr: SocketAddr,
    /// Datagrams on the way to this endpoint: (arrival time, bytes), in arrival order.
    inbox: VecDeque<(Instant, Vec<u8>)>,
}

/// Counters a [`QuicPair`] keeps while driving.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriveStats {
    /// Datagrams the client sent (GSO batches counted per segment).
    pub client_packets: u64,
    /// UDP payload bytes the client sent.
    pub client_bytes: u64,
    /// Datagrams the server sent.
    pub server_packets: u64,
    /// Allocations counted (by the counter given to [`QuicPair::set_alloc_counter`])
    /// inside the client's `poll_transmit` calls.
    pub client_transmit_allocs: u64,
    /// Stream bytes the server has read.
    pub server_read_bytes: u64,
    /// Times the clock was advanced to the client's deadline and `handle_timeout` called
    /// (the wakeups a real driver would have).
    pub client_wakeups: u64,
    /// Of those, wakeups whose reason was [`TimeoutReason::Pacing`].
    pub client_pacing_wakeups: u64,
}

/// Client and server [`Endpoint`]s joined by in-memory queues with a fixed one-way
/// latency, on a simulated clock that jumps to the next deadline or arrival whenever both
/// endpoints are idle. Datagram buffers are pooled, so after warm-up the driver itself does
/// not allocate per packet.
pub struct QuicPair {
    /// Simulated time.
    pub now: Instant,
    /// One-way delay of every datagram.
    pub latency: Duration,
    /// The dialling endpoint (key 1).
    pub client: QuicNode,
    /// The listening endpoint (key 2).
    pub server: QuicNode,
    /// The client's side of the connection.
    pub client_conn: ConnId,
    /// The server's side of the connection.
    pub server_conn: ConnId,
    /// Counters.
    pub stats: DriveStats,
    /// At most this many arrived datagrams are handed to each endpoint before it is
    /// drained again (a receive batch, like one `recvmmsg`). 1 (the default) drains after
    /// every datagram, so the receiver acknowledges as often as quinn wants; larger
    /// batches coalesce acknowledgements.
    pub recv_batch: usize,
    /// The one transmit buffer reused for every `poll_transmit`.
    buf: Vec<u8>,
    /// Recycled datagram buffers.
    pool: Vec<Vec<u8>>,
    /// Reads the allocation count of the bench binary, if it installed a counting allocator.
    alloc_counter: Option<fn() -> u64>,
}

/// Which side of a [`QuicPair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Largest stream chunk read at once on the server.
const READ_CHUNK: usize = 64 * 1024;

/// Upper bound on driver steps for one call, so that a stuck connection ends in an error
/// instead of a hang.
const MAX_STEPS: usize = 10_000_000;

impl QuicPair {
    /// Two endpoints with `config` (keys 1 and 2, seeds fixed), the client dialled to the
    /// server and the handshake driven to completion at simulated time `t0`.
    pub fn connect(
        t0: Instant,
        config: QuicConfig,
        latency: Duration,
    ) -> Result<Self, FixtureError> {
        let client_key = keypair(1)?;
        let server_key = keypair(2)?;
        let client = Endpoint::new(config.clone(), &client_key, [101; 32])
            .map_err(|e| fail(format!("client endpoint: {e}")))?;
        let server = Endpoint::new(config, &server_key, [102; 32])
            .map_err(|e| fail(format!("server endpoint: {e}")))?;
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let server_addr = SocketAddr::new(localhost, 10_002);
        let mut client = client;
        let client_conn = client
            .dial(t0, server_addr, Some(server_key.peer_id()))
            .map_err(|e| fail(format!("dial: {e}")))?;
        let mut pair = Self {
            now: t0,
            latency,
            client: QuicNode {
                endpoint: client,
                addr: SocketAddr::new(localhost, 10_001),
                inbox: VecDeque::new(),
            },
            server: QuicNode {
                endpoint: server,
                addr: server_addr,
                inbox: VecDeque::new(),
            },
            client_conn,
            // Replaced by the server's id at its `Connected` event below.
            server_conn: client_conn,
            stats: DriveStats::default(),
            recv_batch: 1,
            buf: Vec::with_capacity(64 * 1024),
            pool: Vec::new(),
            alloc_counter: None,
        };
        let mut client_up = false;
        let mut server_up = false;
        for _ in 0..MAX_STEPS {
            for (side, event) in pair.step()? {
                match (side, event) {
                    (Side::Client, QuicEvent::Connected { .. }) => client_up = true,
                    (Side::Server, QuicEvent::Connected { conn, .. }) => {
                        pair.server_conn = conn;
                        server_up = true;
                    }
                    (_, QuicEvent::DialFailed { error, .. }) => {
                        return Err(fail(format!("dial failed: {error:?}")))
                    }
                    _ => {}
                }
            }
            if client_up && server_up {
                return Ok(pair);
            }
        }
        Err(fail("handshake did not finish"))
    }

    /// Counts allocations inside the client's `poll_transmit` calls with `counter`, a
    /// function returning the bench binary's running allocation count.
    pub fn set_alloc_counter(&mut self, counter: fn() -> u64) {
        self.alloc_counter = Some(counter);
    }

    /// Opens a bidirectional stream from the client.
    pub fn open_client_stream(&mut self) -> Result<StreamId, FixtureError> {
        self.client
            .endpoint
            .open_bi(self.client_conn)
            .map_err(|e| fail(format!("open_bi: {e}")))
    }

    /// Writes all of `data` on the client's `stream` (as flow control allows) and drives
    /// both endpoints until the server has read every byte of it. Returns the simulated
    /// time it took. The data goes through `Endpoint::write`, which copies it into QUIC.
    pub fn transfer(&mut self, stream: StreamId, data: &[u8]) -> Result<Duration, FixtureError> {
        self.transfer_with(stream, data.len(), |endpoint, conn, offset| {
            let rest = data.get(offset..).unwrap_or_default();
            endpoint.write(conn, stream, rest)
        })
    }

    /// [`QuicPair::transfer`] through `Endpoint::write_chunks`: QUIC takes references to
    /// `data` instead of copying it (as the host's send buffers do).
    pub fn transfer_bytes(
        &mut self,
        stream: StreamId,
        data: &Bytes,
    ) -> Result<Duration, FixtureError> {
        let mut chunk = [data.clone()];
        self.transfer_with(stream, data.len(), |endpoint, conn, _offset| {
            endpoint.write_chunks(conn, stream, &mut chunk)
        })
    }

    /// Drives a transfer of `len` bytes on `stream`; `write(endpoint, conn, offset)` offers
    /// the bytes from `offset` on and returns how many the endpoint took.
    fn transfer_with<W>(
        &mut self,
        stream: StreamId,
        len: usize,
        mut write: W,
    ) -> Result<Duration, FixtureError>
    where
        W: FnMut(&mut Endpoint, ConnId, usize) -> Result<usize, leanp2p_quic::WriteError>,
    {
        let start = self.now;
        let target = self.stats.server_read_bytes + len as u64;
        let mut offset = 0;
        let mut writable = true;
        for _ in 0..MAX_STEPS {
            if writable && offset < len {
                let taken = write(&mut self.client.endpoint, self.client_conn, offset)
                    .map_err(|e| fail(format!("write: {e}")))?;
                writable = offset + taken == len;
                offset += taken;
            }
            for (side, event) in self.step()? {
                match (side, event) {
                    (Side::Client, QuicEvent::Writable { stream: s, .. }) if s == stream => {
                        writable = true;
                    }
                    (_, QuicEvent::Closed { reason, .. }) => {
                        return Err(fail(format!("connection closed: {reason:?}")))
                    }
                    _ => {}
                }
            }
            if self.stats.server_read_bytes >= target {
                return Ok(self.now.saturating_duration_since(start));
            }
        }
        Err(fail("transfer did not finish"))
    }

    /// One driver step: drain both endpoints (transmits into the peer's queue, events
    /// returned, readable server streams read and discarded), deliver arrived datagrams;
    /// if nothing moved, jump the clock to the earliest deadline or arrival and fire it.
    fn step(&mut self) -> Result<Vec<(Side, QuicEvent)>, FixtureError> {
        let mut events = Vec::new();
        let mut moved = self.drain(Side::Client, &mut events);
        moved |= self.drain(Side::Server, &mut events);
        moved |= self.deliver();
        if moved || !events.is_empty() {
            return Ok(events);
        }
        let next = [
            self.client.endpoint.poll_timeout(),
            self.server.endpoint.poll_timeout(),
            self.client.inbox.front().map(|(at, _)| *at),
            self.server.inbox.front().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
        .ok_or_else(|| fail("idle with no deadline"))?;
        self.now = self.now.max(next);
        if self
            .client
            .endpoint
            .poll_timeout()
            .is_some_and(|t| t <= self.now)
        {
            self.stats.client_wakeups += 1;
            if self.client.endpoint.timeout_reason() == Some(TimeoutReason::Pacing) {
                self.stats.client_pacing_wakeups += 1;
            }
            self.client.endpoint.handle_timeout(self.now);
        }
        if self
            .server
            .endpoint
            .poll_timeout()
            .is_some_and(|t| t <= self.now)
        {
            self.server.endpoint.handle_timeout(self.now);
        }
        self.deliver();
        Ok(events)
    }

    /// Drains one endpoint's transmits and events. Returns whether anything was sent.
    fn drain(&mut self, side: Side, events: &mut Vec<(Side, QuicEvent)>) -> bool {
        let now = self.now;
        let arrival = now + self.latency;
        let (node, peer) = match side {
            Side::Client => (&mut self.client, &mut self.server),
            Side::Server => (&mut self.server, &mut self.client),
        };
        let mut sent = false;
        loop {
            let before = match (side, self.alloc_counter) {
                (Side::Client, Some(count)) => Some(count()),
                _ => None,
            };
            let transmit = node.endpoint.poll_transmit(now, &mut self.buf);
            if let (Some(before), Some(count)) = (before, self.alloc_counter) {
                self.stats.client_transmit_allocs += count().saturating_sub(before);
            }
            let Some(transmit) = transmit else { break };
            sent = true;
            let bytes = self.buf.get(..transmit.size).unwrap_or_default();
            let segment = transmit.segment_size.unwrap_or(transmit.size).max(1);
            for chunk in bytes.chunks(segment) {
                let mut datagram = self.pool.pop().unwrap_or_default();
                datagram.clear();
                datagram.extend_from_slice(chunk);
                peer.inbox.push_back((arrival, datagram));
                match side {
                    Side::Client => {
                        self.stats.client_packets += 1;
                        self.stats.client_bytes += chunk.len() as u64;
                    }
                    Side::Server => self.stats.server_packets += 1,
                }
            }
        }
        while let Some(event) = node.endpoint.poll_event() {
            if let (Side::Server, QuicEvent::Readable { conn, stream }) = (side, &event) {
                while let Ok(Some(chunk)) = node.endpoint.read(*conn, *stream, READ_CHUNK) {
                    self.stats.server_read_bytes += chunk.len() as u64;
                }
            }
            events.push((side, event));
        }
        sent
    }

    /// Hands up to `recv_batch` datagrams whose arrival time has come to each endpoint.
    fn deliver(&mut self) -> bool {
        let now = self.now;
        let mut delivered = false;
        let (client_addr, server_addr) = (self.client.addr, self.server.addr);
        let batch = self.recv_batch.max(1);
        for (node, from) in [
            (&mut self.client, server_addr),
            (&mut self.server, client_addr),
        ] {
            let mut handed = 0;
            while handed < batch && node.inbox.front().is_some_and(|(at, _)| *at <= now) {
                handed += 1;
                let Some((_, datagram)) = node.inbox.pop_front() else {
                    break;
                };
                node.endpoint.handle_datagram(
                    now,
                    Datagram {
                        remote: from,
                        local_ip: None,
                        ecn: None,
                        data: &datagram,
                    },
                );
                self.pool.push(datagram);
                delivered = true;
            }
        }
        delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{lean_gossip_payload, message_rpc_body, ssz_like_payload, MeshedRouter};
    use leanp2p_gossipsub::lean;

    #[test]
    fn payloads_are_deterministic_and_compressible() {
        let a = ssz_like_payload(64 * 1024, 1);
        assert_eq!(a.len(), 64 * 1024);
        assert_eq!(a, ssz_like_payload(64 * 1024, 1));
        assert_ne!(a, ssz_like_payload(64 * 1024, 2));
        let compressed = lean_gossip_payload(64 * 1024, 1).unwrap();
        assert!(compressed.len() < a.len() * 3 / 4, "{}", compressed.len());
        assert!(compressed.len() > a.len() / 4, "{}", compressed.len());
        let back = lean::snappy_decompress(&compressed, lean::MAX_PAYLOAD_SIZE).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn meshed_router_forms_a_full_mesh_and_forwards() {
        let t0 = Instant::now();
        let mut fixture = MeshedRouter::new(t0, 8).unwrap();
        assert_eq!(fixture.mesh_len(), 8);
        let data = lean_gossip_payload(8192, 9).unwrap();
        let body = message_rpc_body(&fixture.topic, data);
        let source = fixture.peers[0];
        fixture
            .router
            .handle_rpc(fixture.now, source, body)
            .unwrap();
        let (frames, _) = fixture.drain();
        // IDONTWANT (payload over 1 000 bytes) and the forward, to the 7 other mesh peers.
        assert_eq!(frames, 14);
        fixture.advance_to(t0 + Duration::from_secs(3));
        assert_eq!(fixture.mesh_len(), 8);
    }

    #[test]
    fn quic_pair_transfers_a_stream_in_simulated_time() {
        let t0 = Instant::now();
        let mut pair =
            QuicPair::connect(t0, QuicConfig::default(), Duration::from_millis(5)).unwrap();
        let stream = pair.open_client_stream().unwrap();
        let data = ssz_like_payload(300 * 1024, 3);
        for batch in [1, 32] {
            pair.recv_batch = batch;
            let before = pair.stats;
            let took = pair.transfer(stream, &data).unwrap();
            assert_eq!(
                pair.stats.server_read_bytes - before.server_read_bytes,
                data.len() as u64
            );
            assert!(pair.stats.client_packets - before.client_packets >= 200);
            // At least one round trip of the simulated link.
            assert!(took >= Duration::from_millis(10), "{took:?}");
        }
        assert!(pair.now > t0);
    }
}
