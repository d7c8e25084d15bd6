//! The [`Endpoint`]: one `quinn_proto::Endpoint`, all its connections, one event queue.
//!
//! Inputs, timers and output live here; the connection-event translation is in
//! [`crate::translate`] and the stream commands in [`crate::streams`].

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use leanp2p_identity::{Keypair, PeerId};
use quinn_proto::{
    ConnectionHandle, ConnectionId, ConnectionIdGenerator, DatagramEvent, EndpointConfig,
    ServerConfig, TransportConfig, VarInt,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};
use tracing::{debug, trace};

use crate::config::Config;
use crate::connection::{Conn, ConnState};
use crate::error::{CloseError, ConfigError, DialError, DialFailure};
use crate::event::{CloseReason, ConnId, Datagram, Direction, Ecn, Event, Transmit};
use crate::stats::{ConnectionStats, EndpointStats};
use crate::timer::{TimeoutReason, TimerTable};
use crate::tls::{Tls, SERVER_NAME};
use crate::translate;

/// Domain separator for the stateless-reset key derived from the host key.
const RESET_KEY_DOMAIN: &[u8] = b"leanp2p quic stateless reset key";

/// Length of the connection IDs we issue.
const LOCAL_CID_LEN: usize = 8;

/// A libp2p-over-QUIC endpoint: listens and dials on one UDP socket that the caller
/// owns. See the crate docs for the drain rule.
pub struct Endpoint {
    pub(crate) config: Config,
    local_peer: PeerId,
    pub(crate) inner: quinn_proto::Endpoint,
    transport: Arc<TransportConfig>,
    tls: Tls,
    initial_dcid: Arc<dyn Fn() -> ConnectionId + Send + Sync>,
    pub(crate) conns: FxHashMap<ConnId, Conn>,
    by_handle: FxHashMap<ConnectionHandle, ConnId>,
    next_conn: u64,
    timers: TimerTable,
    /// Connections that may have packets to send, in round-robin order.
    transmit_queue: VecDeque<ConnId>,
    /// Datagrams the endpoint itself produced (version negotiation, reset, refusal).
    stateless: VecDeque<(Transmit, Vec<u8>)>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) last_now: Option<Instant>,
    pub(crate) stats: EndpointStats,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local_peer", &self.local_peer)
            .field("connections", &self.conns.len())
            .field("queued_events", &self.events.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Issues random 8-byte connection IDs from a seeded RNG.
struct SeededCidGenerator {
    rng: ChaCha20Rng,
}

impl ConnectionIdGenerator for SeededCidGenerator {
    fn generate_cid(&mut self) -> ConnectionId {
        let mut bytes = [0u8; LOCAL_CID_LEN];
        self.rng.fill_bytes(&mut bytes);
        ConnectionId::new(&bytes)
    }

    fn cid_len(&self) -> usize {
        LOCAL_CID_LEN
    }

    fn cid_lifetime(&self) -> Option<std::time::Duration> {
        None
    }
}

impl Endpoint {
    /// Creates an endpoint with the host `keypair`. Every random choice (connection IDs,
    /// packet-number skips, certificate serials and keys, token keys) derives from `seed`;
    /// the stateless-reset key derives from the host key so it survives restarts.
    pub fn new(config: Config, keypair: &Keypair, seed: [u8; 32]) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut draw = || {
            let mut sub = [0u8; 32];
            rng.fill_bytes(&mut sub);
            sub
        };
        let quinn_seed = draw();
        let cid_seed = draw();
        let dcid_seed = draw();
        let token_seed = draw();
        let tls_seed = draw();

        let reset_key = {
            let secret = keypair.secret_bytes();
            let mut hasher = Sha256::new();
            hasher.update(RESET_KEY_DOMAIN);
            hasher.update(secret.as_slice());
            hasher.finalize()
        };
        let mut endpoint_config = EndpointConfig::new(Arc::new(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            &reset_key[..],
        )));
        endpoint_config
            .supported_versions(vec![1])
            .rng_seed(Some(quinn_seed))
            .cid_generator(move || {
                Box::new(SeededCidGenerator {
                    rng: ChaCha20Rng::from_seed(cid_seed),
                })
            });

        let transport = Arc::new(config.transport_config()?);
        let tls = Tls::new(keypair, tls_seed)?;
        let token_key = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]).extract(&token_seed);
        let mut server_config = ServerConfig::new(tls.server_config(), Arc::new(token_key));
        server_config
            .transport_config(transport.clone())
            .migration(false)
            .max_incoming(config.limits.max_handshakes)
            .incoming_buffer_size(config.limits.incoming_buffer_size)
            .incoming_buffer_size_total(config.limits.incoming_buffer_size_total);

        let dcid_len = usize::from(config.initial_dcid_len);
        let dcid_rng = Mutex::new(ChaCha20Rng::from_seed(dcid_seed));
        let initial_dcid: Arc<dyn Fn() -> ConnectionId + Send + Sync> = Arc::new(move || {
            let mut bytes = [0u8; 20];
            let mut rng = dcid_rng.lock().unwrap_or_else(|poison| poison.into_inner());
            rng.fill_bytes(&mut bytes);
            ConnectionId::new(bytes.get(..dcid_len).unwrap_or(&bytes))
        });

        let inner = quinn_proto::Endpoint::new(
            Arc::new(endpoint_config),
            Some(Arc::new(server_config)),
            config.mtu_discovery,
            None,
        );
        Ok(Self {
            config,
            local_peer: keypair.peer_id(),
            inner,
            transport,
            tls,
            initial_dcid,
            conns: FxHashMap::default(),
            by_handle: FxHashMap::default(),
            next_conn: 0,
            timers: TimerTable::default(),
            transmit_queue: VecDeque::new(),
            stateless: VecDeque::new(),
            events: VecDeque::new(),
            last_now: None,
            stats: EndpointStats::default(),
            scratch: Vec::new(),
        })
    }

    /// Our PeerId.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Endpoint-wide counters.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Transport statistics of a connection (any state).
    pub fn connection_stats(&self, conn: ConnId) -> Option<ConnectionStats> {
        self.conns
            .get(&conn)
            .map(|c| ConnectionStats::from_quinn(&c.quinn.stats()))
    }

    /// The verified PeerId of an established connection.
    pub fn peer_id(&self, conn: ConnId) -> Option<PeerId> {
        self.conns.get(&conn).and_then(Conn::peer)
    }

    /// The peer's current address.
    pub fn remote_address(&self, conn: ConnId) -> Option<SocketAddr> {
        self.conns.get(&conn).map(|c| c.quinn.remote_address())
    }

    /// Who dialled.
    pub fn direction(&self, conn: ConnId) -> Option<Direction> {
        self.conns.get(&conn).map(|c| c.direction)
    }

    /// Whether `conn` is established (Connected emitted, not closed).
    pub fn is_connected(&self, conn: ConnId) -> bool {
        self.peer_id(conn).is_some()
    }

    /// Connections in any state, including closing ones not yet drained.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Connections whose handshake is still running.
    pub fn handshake_count(&self) -> usize {
        self.conns.values().filter(|c| c.is_handshaking()).count()
    }

    /// Our dials whose handshake is still running.
    fn outbound_handshake_count(&self) -> usize {
        self.handshakes(Direction::Outbound).count()
    }

    /// Inbound connections whose handshake is still running.
    fn inbound_handshake_count(&self) -> usize {
        self.handshakes(Direction::Inbound).count()
    }

    /// Inbound connections from `ip` whose handshake is still running.
    fn inbound_handshakes_from(&self, ip: IpAddr) -> usize {
        self.handshakes(Direction::Inbound)
            .filter(|c| c.remote.ip().to_canonical() == ip)
            .count()
    }

    fn handshakes(&self, direction: Direction) -> impl Iterator<Item = &Conn> + '_ {
        self.conns
            .values()
            .filter(move |c| c.direction == direction && c.is_handshaking())
    }

    pub(crate) fn observe(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |last| last.max(now)));
    }

    /// Feeds one received UDP datagram. Junk is dropped and counted in
    /// [`EndpointStats::datagrams_dropped`]; it never panics.
    pub fn handle_datagram(&mut self, now: Instant, datagram: Datagram<'_>) {
        if !self.admit_datagram(now, datagram.data.len()) {
            return;
        }
        self.handle_admitted(
            now,
            datagram.remote,
            datagram.local_ip,
            datagram.ecn,
            BytesMut::from(datagram.data),
        );
    }

    /// [`Endpoint::handle_datagram`] for a caller that hands over the datagram's buffer:
    /// QUIC decrypts it in place and keeps received stream data as slices of it, so the
    /// payload is not copied (`handle_datagram` copies it into a buffer of its own
    /// first). Same checks, counters and outcome.
    pub fn handle_datagram_owned(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<Ecn>,
        data: BytesMut,
    ) {
        if self.admit_datagram(now, data.len()) {
            self.handle_admitted(now, remote, local_ip, ecn, data);
        }
    }

    /// Counts a received datagram of `len` bytes; `false` (counted as dropped) when it
    /// is empty or over [`crate::Limits::max_datagram_size`].
    fn admit_datagram(&mut self, now: Instant, len: usize) -> bool {
        self.observe(now);
        self.stats.datagrams_received += 1;
        if len == 0 || len > self.config.limits.max_datagram_size {
            self.stats.datagrams_dropped += 1;
            return false;
        }
        true
    }

    fn handle_admitted(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ip: Option<IpAddr>,
        ecn: Option<Ecn>,
        data: BytesMut,
    ) {
        self.scratch.clear();
        let event = self.inner.handle(
            now,
            remote,
            local_ip,
            ecn.map(Ecn::to_quinn),
            data,
            &mut self.scratch,
        );
        match event {
            None => self.stats.datagrams_dropped += 1,
            Some(DatagramEvent::ConnectionEvent(handle, event)) => {
                let Some(&id) = self.by_handle.get(&handle) else {
                    self.stats.datagrams_dropped += 1;
                    return;
                };
                if let Some(conn) = self.conns.get_mut(&id) {
                    conn.last_rx = Some(now);
                    conn.quinn.handle_event(event);
                }
                self.after_io(id, now, true);
            }
            Some(DatagramEvent::NewConnection(incoming)) => self.on_incoming(now, incoming),
            Some(DatagramEvent::Response(transmit)) => self.queue_stateless(transmit),
        }
    }

    fn on_incoming(&mut self, now: Instant, incoming: quinn_proto::Incoming) {
        let limits = &self.config.limits;
        let remote = incoming.remote_address();
        let inbound = self.inbound_handshake_count();
        if self.conns.len() >= limits.max_connections || inbound >= limits.max_handshakes {
            debug!(%remote, "refusing connection: limits reached");
            self.refuse(incoming);
            return;
        }
        let validated = incoming.remote_address_validated();
        let ip = remote.ip().to_canonical();
        let over_ip_limit =
            !ip.is_loopback() && self.inbound_handshakes_from(ip) >= limits.max_handshakes_per_ip;
        if over_ip_limit {
            self.stats.incoming_over_ip_limit += 1;
            if validated || !incoming.may_retry() {
                debug!(%remote, "refusing connection: per-IP handshake limit reached");
                self.refuse(incoming);
                return;
            }
        }
        let must_validate = self.config.validate_addresses
            || over_ip_limit
            || inbound >= limits.retry_above_handshakes;
        if must_validate && !validated && incoming.may_retry() {
            self.scratch.clear();
            match self.inner.retry(incoming, &mut self.scratch) {
                Ok(transmit) => {
                    self.stats.incoming_retried += 1;
                    self.queue_stateless(transmit);
                }
                Err(error) => self.inner.ignore(error.into_incoming()),
            }
            return;
        }
        self.scratch.clear();
        match self.inner.accept(incoming, now, &mut self.scratch, None) {
            Ok((handle, quinn)) => {
                let id =
                    self.register(handle, quinn, Direction::Inbound, remote, (None, None), now);
                trace!(conn = %id, %remote, "accepted inbound connection");
                self.after_io(id, now, true);
            }
            Err(error) => {
                debug!(%remote, cause = %error.cause, "inbound connection rejected");
                self.stats.incoming_failed += 1;
                if let Some(transmit) = error.response {
                    self.queue_stateless(transmit);
                }
            }
        }
    }

    /// Refuses an inbound connection attempt with `CONNECTION_REFUSED` and counts it.
    fn refuse(&mut self, incoming: quinn_proto::Incoming) {
        self.stats.incoming_refused += 1;
        self.scratch.clear();
        let transmit = self.inner.refuse(incoming, &mut self.scratch);
        self.queue_stateless(transmit);
    }

    fn register(
        &mut self,
        handle: ConnectionHandle,
        quinn: quinn_proto::Connection,
        direction: Direction,
        remote: SocketAddr,
        (expected, rejection): (Option<PeerId>, Option<crate::tls::RejectionSlot>),
        now: Instant,
    ) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let timeout = match direction {
            Direction::Inbound => self.config.inbound_handshake_timeout,
            Direction::Outbound => self.config.handshake_timeout,
        };
        let deadline = now + timeout;
        self.conns.insert(
            id,
            Conn::new(
                handle, quinn, direction, remote, expected, rejection, deadline,
            ),
        );
        self.by_handle.insert(handle, id);
        id
    }

    fn queue_stateless(&mut self, transmit: quinn_proto::Transmit) {
        if self.stateless.len() >= self.config.limits.max_queued_stateless_transmits {
            self.stats.stateless_transmits_dropped += 1;
            return;
        }
        let bytes = self
            .scratch
            .get(..transmit.size)
            .unwrap_or_default()
            .to_vec();
        self.stateless
            .push_back((convert_transmit(&transmit), bytes));
    }

    /// Starts a connection to `remote`. With `expected = Some(peer)` the handshake fails
    /// (with [`DialFailure::WrongPeerId`]) unless the peer proves that PeerId. The outcome
    /// is [`Event::Connected`] or [`Event::DialFailed`] for the returned [`ConnId`].
    pub fn dial(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        expected: Option<PeerId>,
    ) -> Result<ConnId, DialError> {
        self.observe(now);
        if self.conns.len() >= self.config.limits.max_connections {
            return Err(DialError::TooManyConnections);
        }
        if self.outbound_handshake_count() >= self.config.limits.max_handshakes {
            return Err(DialError::TooManyHandshakes);
        }
        let (crypto, rejection) = self.tls.client_config(expected)?;
        let mut client_config = quinn_proto::ClientConfig::new(crypto);
        client_config
            .transport_config(self.transport.clone())
            .initial_dst_cid_provider(self.initial_dcid.clone())
            .version(1);
        let (handle, quinn) = self
            .inner
            .connect(now, client_config, remote, SERVER_NAME)
            .map_err(|error| match error {
                quinn_proto::ConnectError::CidsExhausted => DialError::CidsExhausted,
                quinn_proto::ConnectError::InvalidRemoteAddress(addr) => {
                    DialError::InvalidAddress(addr)
                }
                other => DialError::Refused(other.to_string()),
            })?;
        let id = self.register(
            handle,
            quinn,
            Direction::Outbound,
            remote,
            (expected, Some(rejection)),
            now,
        );
        trace!(conn = %id, %remote, ?expected, "dialling");
        self.after_io(id, now, true);
        Ok(id)
    }

    /// Closes a connection with an application error code (0 = normal) and reason. An
    /// established connection reports [`Event::Closed`] with
    /// [`CloseReason::LocallyClosed`] at once; a dial reports [`Event::DialFailed`].
    pub fn close(
        &mut self,
        now: Instant,
        conn: ConnId,
        code: u64,
        reason: &[u8],
    ) -> Result<(), CloseError> {
        self.observe(now);
        let code = VarInt::from_u64(code).map_err(|_| CloseError::InvalidCode)?;
        let Some(c) = self.conns.get_mut(&conn) else {
            return Err(CloseError::UnknownConnection);
        };
        if c.state == ConnState::Ended {
            return Err(CloseError::UnknownConnection);
        }
        translate::end(
            c,
            conn,
            &mut self.events,
            &mut self.stats,
            DialFailure::Closed(CloseReason::LocallyClosed),
            CloseReason::LocallyClosed,
        );
        c.quinn.close(now, code, Bytes::copy_from_slice(reason));
        self.after_io(conn, now, true);
        Ok(())
    }

    /// Advances timers: loss recovery, pacing, keep-alive, idle and handshake timeouts.
    /// Extra calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        for id in self.timers.expired(now) {
            let Some(conn) = self.conns.get_mut(&id) else {
                self.timers.set(id, None);
                continue;
            };
            if let ConnState::Handshaking { deadline } = conn.state {
                if now >= deadline {
                    debug!(conn = %id, "handshake timed out");
                    if conn.direction == Direction::Inbound {
                        self.stats.incoming_handshakes_timed_out += 1;
                    }
                    translate::end(
                        conn,
                        id,
                        &mut self.events,
                        &mut self.stats,
                        DialFailure::HandshakeTimedOut,
                        CloseReason::TimedOut,
                    );
                    conn.quinn.close(now, VarInt::from_u32(0), Bytes::new());
                }
            }
            conn.quinn.handle_timeout(now);
            self.after_io(id, now, true);
        }
    }

    /// The next time [`Endpoint::handle_timeout`] must be called. If output is queued
    /// (transmits or events not yet drained), the last `now` the endpoint saw.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_timeout().map(|(at, _)| at)
    }

    /// Why [`Endpoint::poll_timeout`] returns what it returns.
    pub fn timeout_reason(&self) -> Option<TimeoutReason> {
        self.next_timeout().map(|(_, reason)| reason)
    }

    /// [`Endpoint::poll_timeout`] for a caller whose socket is not writable: queued
    /// transmits do not count (they wait for writability), timers and undrained events
    /// do. Lets a runtime sleep until the socket is writable instead of spinning.
    pub fn poll_timeout_unless_transmits(&self) -> Option<(Instant, TimeoutReason)> {
        if !self.events.is_empty() {
            if let Some(now) = self.last_now {
                return Some((now, TimeoutReason::QueuedIo));
            }
        }
        self.timers.earliest()
    }

    fn next_timeout(&self) -> Option<(Instant, TimeoutReason)> {
        if !self.stateless.is_empty() || !self.transmit_queue.is_empty() || !self.events.is_empty()
        {
            if let Some(now) = self.last_now {
                return Some((now, TimeoutReason::QueuedIo));
            }
        }
        self.timers.earliest()
    }

    /// The next datagram (or GSO batch) to send, written into `buf` (cleared first).
    /// Call until `None` after every input.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.poll_transmit_at_most(now, self.config.max_gso_segments, buf)
    }

    /// [`Endpoint::poll_transmit`] with a batch of at most `max_datagrams` datagrams
    /// (at least 1; never more than [`crate::Config::max_gso_segments`]): for a caller
    /// that paces the sum of its connections and may only let so many bytes out now.
    pub fn poll_transmit_at_most(
        &mut self,
        now: Instant,
        max_datagrams: usize,
        buf: &mut Vec<u8>,
    ) -> Option<Transmit> {
        self.observe(now);
        if let Some((transmit, bytes)) = self.stateless.pop_front() {
            buf.clear();
            buf.extend_from_slice(&bytes);
            self.stats.datagrams_sent += 1;
            return Some(transmit);
        }
        let max_datagrams = max_datagrams.clamp(1, self.config.max_gso_segments.max(1));
        while let Some(id) = self.transmit_queue.pop_front() {
            let Some(conn) = self.conns.get_mut(&id) else {
                continue;
            };
            conn.queued_for_transmit = false;
            let before = conn.quinn.poll_timeout();
            buf.clear();
            match conn.quinn.poll_transmit(now, max_datagrams, buf) {
                Some(transmit) => {
                    conn.queued_for_transmit = true;
                    self.transmit_queue.push_back(id);
                    self.stats.datagrams_sent += match transmit.segment_size {
                        Some(segment) if segment > 0 => transmit.size.div_ceil(segment) as u64,
                        _ => 1,
                    };
                    let transmit = convert_transmit(&transmit);
                    self.after_io(id, now, false);
                    return Some(transmit);
                }
                None => {
                    let after = conn.quinn.poll_timeout();
                    if let Some(after) = after {
                        if before.is_none_or(|before| after < before) {
                            conn.pacing_deadline = Some(after);
                        }
                    }
                    self.after_io(id, now, false);
                }
            }
        }
        None
    }

    /// The next event. Call until `None` after draining [`Endpoint::poll_transmit`].
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Puts a connection in the transmit queue.
    pub(crate) fn mark_for_transmit(&mut self, id: ConnId) {
        if let Some(conn) = self.conns.get_mut(&id) {
            if !conn.queued_for_transmit {
                conn.queued_for_transmit = true;
                self.transmit_queue.push_back(id);
            }
        }
    }

    /// After anything touched a connection: run the endpoint⇄connection event exchange,
    /// translate its application events, forget it once drained, refresh its deadline.
    pub(crate) fn after_io(&mut self, id: ConnId, now: Instant, mut may_transmit: bool) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut drained = false;
        while let Some(event) = conn.quinn.poll_endpoint_events() {
            drained |= event.is_drained();
            if let Some(reply) = self.inner.handle_event(conn.handle, event) {
                conn.quinn.handle_event(reply);
                may_transmit = true;
            }
        }
        while let Some(event) = conn.quinn.poll() {
            may_transmit |=
                translate::event(conn, id, now, event, &mut self.events, &mut self.stats);
        }
        if conn.quinn.is_closed() && conn.closed_since.is_none() {
            conn.closed_since = Some(now);
        }
        let max_drain = self.config.limits.max_drain_time;
        if !drained && conn.closed_since.is_some_and(|at| now >= at + max_drain) {
            // Draining longer than we allow (a peer-inflated PTO): forget it now. quinn is
            // told it drained so its handle and connection ids are freed too; late
            // packets from the peer then meet an unknown connection id.
            self.stats.drains_cut_short += 1;
            debug!(conn = %id, "drain period cut short");
            let _ = self
                .inner
                .handle_event(conn.handle, quinn_proto::EndpointEvent::drained());
            drained = true;
        }
        if drained {
            if conn.state != ConnState::Ended {
                let reason = CloseReason::LocallyClosed;
                translate::end(
                    conn,
                    id,
                    &mut self.events,
                    &mut self.stats,
                    DialFailure::Closed(reason.clone()),
                    reason,
                );
            }
            let handle = conn.handle;
            self.conns.remove(&id);
            self.by_handle.remove(&handle);
            self.timers.set(id, None);
            trace!(conn = %id, "connection drained");
            return;
        }
        if may_transmit && !conn.queued_for_transmit {
            conn.queued_for_transmit = true;
            self.transmit_queue.push_back(id);
        }
        let deadline = conn.deadline(
            self.config.keep_alive_interval,
            self.config.max_idle_timeout,
            max_drain,
        );
        self.timers.set(id, deadline);
    }
}

fn convert_transmit(transmit: &quinn_proto::Transmit) -> Transmit {
    Transmit {
        destination: transmit.destination,
        size: transmit.size,
        segment_size: transmit.segment_size,
        ecn: transmit.ecn.map(Ecn::from_quinn),
        src_ip: transmit.src_ip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn endpoint(secret: u8) -> Endpoint {
        let key = Keypair::from_secret_bytes(&[secret; 32]).unwrap();
        Endpoint::new(Config::default(), &key, [secret; 32]).unwrap()
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// Hands everything `from` (at `source`) sends to `to`; whether anything moved.
    fn deliver(
        now: Instant,
        (from, source): (&mut Endpoint, SocketAddr),
        to: &mut Endpoint,
        owned: bool,
    ) -> bool {
        let mut buf = Vec::new();
        let mut moved = false;
        while let Some(t) = from.poll_transmit(now, &mut buf) {
            moved = true;
            let segment = t.segment_size.unwrap_or(t.size).max(1);
            for chunk in buf[..t.size].chunks(segment) {
                if owned {
                    to.handle_datagram_owned(now, source, None, None, chunk.into());
                } else {
                    let datagram = Datagram {
                        remote: source,
                        local_ip: None,
                        ecn: None,
                        data: chunk,
                    };
                    to.handle_datagram(now, datagram);
                }
            }
        }
        moved
    }

    #[test]
    fn owned_datagrams_connect_like_borrowed_ones_and_junk_is_counted() {
        for owned in [false, true] {
            let t0 = Instant::now();
            let (mut a, mut b) = (endpoint(1), endpoint(2));
            let conn = a.dial(t0, addr(2), Some(b.local_peer_id())).unwrap();
            let mut now = t0;
            for _ in 0..20 {
                while deliver(now, (&mut a, addr(1)), &mut b, owned)
                    | deliver(now, (&mut b, addr(2)), &mut a, owned)
                {}
                now += Duration::from_millis(10);
                a.handle_timeout(now);
                b.handle_timeout(now);
            }
            assert!(a.is_connected(conn), "owned = {owned}");
            let before = b.stats().clone();
            b.handle_datagram_owned(now, addr(9), None, None, BytesMut::new());
            let too_big = BytesMut::from(&vec![0x40u8; 70_000][..]);
            b.handle_datagram_owned(now, addr(9), None, None, too_big);
            assert_eq!(b.stats().datagrams_received, before.datagrams_received + 2);
            assert_eq!(b.stats().datagrams_dropped, before.datagrams_dropped + 2);
        }
    }
}
