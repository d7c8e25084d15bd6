//! The raw attacker: a bare `leanp2p_quic::Endpoint` (quinn-proto, libp2p TLS) driven over
//! its own `std::net::UdpSocket` on a thread. It completes real QUIC+TLS handshakes
//! under its own PeerId, then writes whatever bytes a test scripts on streams it opens,
//! with no host above it: multistream-select is written by hand, streams it is told not
//! to read are never read (so they never return receive credit), and the streams the
//! victim opens to it are answered by a multistream listener that accepts ping (echoed)
//! and, if allowed, `/meshsub` (read and discarded).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use leanp2p_host::{Bytes, Keypair, PeerId};
use leanp2p_multistream::{Config as MsConfig, Negotiation, ProtocolId, ProtocolSet};
use leanp2p_quic::{ConnId, Datagram, Endpoint, Event, StreamId};

/// The multistream-select header line.
const MULTISTREAM: &str = "/multistream/1.0.0";
/// The ping protocol.
pub const PING: &str = "/ipfs/ping/1.0.0";
/// Gossipsub v1.2.
pub const MESHSUB: &str = "/meshsub/1.2.0";

/// `uvarint(n)`.
pub fn uvarint(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// One multistream-select message: `uvarint(len) ‖ line ‖ '\n'`.
pub fn ms_line(line: &str) -> Vec<u8> {
    let mut out = uvarint(line.len() as u64 + 1);
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    out
}

/// The dialer's header and proposal of `protocol` in one buffer (V1Lazy style: data may
/// follow at once).
pub fn ms_propose(protocol: &str) -> Vec<u8> {
    let mut out = ms_line(MULTISTREAM);
    out.extend(ms_line(protocol));
    out
}

/// Knobs of the raw peer.
#[derive(Clone, Debug)]
pub struct RawOptions {
    /// Answer the victim's `/meshsub` streams (false: `na`, so it gives its own up).
    pub accept_gossip: bool,
    /// Read the victim's `/meshsub` stream once accepted (false: never, a peer that
    /// stops reading its gossip).
    pub read_gossip: bool,
    /// Our QUIC stream receive window (a small one is what a peer granting no credit
    /// advertises).
    pub stream_receive_window: u32,
}

impl Default for RawOptions {
    fn default() -> Self {
        Self {
            accept_gossip: true,
            read_gossip: true,
            stream_receive_window: 10_000_000,
        }
    }
}

/// A step of the attack script, run on the raw peer's thread.
pub type Script = Box<dyn FnMut(&mut RawState, Instant) + Send>;
type Command = Box<dyn FnOnce(&mut RawState, Instant) + Send>;

/// A stream the victim opened to us.
enum Inbound {
    Negotiating(Box<Negotiation>),
    Ping,
    Discard,
}

/// Everything the raw peer's thread owns; scripts and commands get it mutably.
pub struct RawState {
    pub endpoint: Endpoint,
    /// Established connections and their peer.
    pub conns: BTreeMap<ConnId, PeerId>,
    /// Connections that ended.
    pub closed: Vec<(ConnId, String)>,
    /// Dials that failed.
    pub dial_failures: Vec<String>,
    /// Streams we never read.
    pub unread: BTreeSet<(ConnId, StreamId)>,
    /// Streams we opened.
    pub opened: Vec<(ConnId, StreamId)>,
    /// Streams the victim reset or stopped.
    pub resets: BTreeSet<(ConnId, StreamId)>,
    /// Bytes not yet taken by QUIC, per stream.
    pending: BTreeMap<(ConnId, StreamId), VecDeque<Bytes>>,
    inbound: BTreeMap<(ConnId, StreamId), Inbound>,
    listen_set: ProtocolSet,
    read_gossip: bool,
    /// Bytes read (and discarded) from every stream.
    pub bytes_read: u64,
    /// Bytes QUIC took from our writes, over all streams.
    pub written: u64,
}

impl RawState {
    /// Opens a stream on `conn`, proposes `protocol` and queues `data` right behind the
    /// proposal.
    pub fn open(&mut self, conn: ConnId, protocol: &str, data: &[u8]) -> Option<StreamId> {
        let stream = self.endpoint.open_bi(conn).ok()?;
        self.opened.push((conn, stream));
        let mut first = ms_propose(protocol);
        first.extend_from_slice(data);
        self.write(conn, stream, Bytes::from(first));
        Some(stream)
    }

    /// Queues `data` on `stream` and writes what flow control takes.
    pub fn write(&mut self, conn: ConnId, stream: StreamId, data: Bytes) {
        self.pending
            .entry((conn, stream))
            .or_default()
            .push_back(data);
        self.flush(conn, stream);
    }

    /// Unsent bytes queued on `stream`.
    pub fn queued(&self, conn: ConnId, stream: StreamId) -> usize {
        self.pending
            .get(&(conn, stream))
            .map_or(0, |q| q.iter().map(Bytes::len).sum())
    }

    fn flush(&mut self, conn: ConnId, stream: StreamId) {
        let Self {
            pending,
            endpoint,
            written,
            ..
        } = self;
        let Some(queue) = pending.get_mut(&(conn, stream)) else {
            return;
        };
        let mut failed = false;
        while let Some(front) = queue.front_mut() {
            match endpoint.write(conn, stream, front) {
                Ok(n) => {
                    *written += n as u64;
                    if n == front.len() {
                        queue.pop_front();
                    } else {
                        let _ = front.split_to(n);
                        break;
                    }
                }
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            pending.remove(&(conn, stream));
        }
    }

    fn flush_all(&mut self) {
        let keys: Vec<_> = self.pending.keys().copied().collect();
        for (conn, stream) in keys {
            self.flush(conn, stream);
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected { conn, peer, .. } => {
                self.conns.insert(conn, peer);
            }
            Event::DialFailed { error, .. } => self.dial_failures.push(format!("{error:?}")),
            Event::Closed { conn, reason, .. } => {
                self.conns.remove(&conn);
                self.closed.push((conn, format!("{reason:?}")));
                self.pending.retain(|(c, _), _| *c != conn);
                self.inbound.retain(|(c, _), _| *c != conn);
            }
            Event::StreamOpened { conn, stream } => {
                if let Ok(n) = Negotiation::listener(self.listen_set.clone(), &MsConfig::default())
                {
                    self.inbound
                        .insert((conn, stream), Inbound::Negotiating(Box::new(n)));
                    self.drive_negotiation(conn, stream);
                }
                self.read(conn, stream);
            }
            Event::Readable { conn, stream } => self.read(conn, stream),
            Event::Writable { conn, stream } => self.flush(conn, stream),
            Event::Reset { conn, stream, .. } | Event::Stopped { conn, stream, .. } => {
                self.resets.insert((conn, stream));
                self.pending.remove(&(conn, stream));
            }
            _ => {}
        }
    }

    fn drive_negotiation(&mut self, conn: ConnId, stream: StreamId) {
        let Some(Inbound::Negotiating(n)) = self.inbound.get_mut(&(conn, stream)) else {
            return;
        };
        let mut out = Vec::new();
        while let Some(bytes) = n.poll_output() {
            out.extend_from_slice(&bytes);
        }
        let outcome = n.outcome();
        if !out.is_empty() {
            self.write(conn, stream, Bytes::from(out));
        }
        match outcome {
            Some(Ok(done)) => {
                let ping = done.protocol.as_str() == PING;
                self.inbound.insert(
                    (conn, stream),
                    if ping {
                        Inbound::Ping
                    } else {
                        Inbound::Discard
                    },
                );
                if !ping && !self.read_gossip {
                    self.unread.insert((conn, stream));
                }
                if ping && !done.leftover.is_empty() {
                    self.write(conn, stream, done.leftover);
                }
            }
            Some(Err(_)) => {
                self.inbound.insert((conn, stream), Inbound::Discard);
                let _ = self.endpoint.reset(conn, stream, 0);
            }
            None => {}
        }
    }

    fn read(&mut self, conn: ConnId, stream: StreamId) {
        while !self.unread.contains(&(conn, stream)) {
            let bytes = match self.endpoint.read(conn, stream, 64 * 1024) {
                Ok(Some(bytes)) => bytes,
                _ => return,
            };
            self.bytes_read += bytes.len() as u64;
            match self.inbound.get_mut(&(conn, stream)) {
                Some(Inbound::Negotiating(n)) => {
                    let _ = n.handle_input_bytes(bytes);
                    self.drive_negotiation(conn, stream);
                }
                Some(Inbound::Ping) => self.write(conn, stream, bytes),
                _ => {}
            }
        }
    }
}

/// The raw attacker on its thread.
pub struct RawPeer {
    pub peer: PeerId,
    commands: mpsc::Sender<Command>,
    stop: Arc<AtomicBool>,
    join: Option<JoinHandle<()>>,
}

impl RawPeer {
    /// Starts a raw peer with key `[secret; 32]` on 127.0.0.1 (ephemeral port) running
    /// `script` on every loop turn.
    pub fn start(secret: u8, options: RawOptions, script: Option<Script>) -> Self {
        let key = Keypair::from_secret_bytes(&[secret; 32]).unwrap();
        let mut config = leanp2p_quic::Config::default();
        config.stream_receive_window(options.stream_receive_window);
        config.limits.max_connections = 4096;
        config.limits.max_handshakes = 4096;
        let endpoint = Endpoint::new(config, &key, [secret; 32]).unwrap();
        let mut protocols = vec![ProtocolId::from_static(PING)];
        if options.accept_gossip {
            protocols.push(ProtocolId::from_static(MESHSUB));
            protocols.push(ProtocolId::from_static("/meshsub/1.1.0"));
        }
        let state = RawState {
            endpoint,
            conns: BTreeMap::new(),
            closed: Vec::new(),
            dial_failures: Vec::new(),
            unread: BTreeSet::new(),
            opened: Vec::new(),
            resets: BTreeSet::new(),
            pending: BTreeMap::new(),
            inbound: BTreeMap::new(),
            listen_set: ProtocolSet::new(protocols).unwrap(),
            read_gossip: options.read_gossip,
            bytes_read: 0,
            written: 0,
        };
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (commands, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let join = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("raw-{secret}"))
                .spawn(move || drive(state, socket, rx, stop, script))
                .unwrap()
        };
        Self {
            peer: key.peer_id(),
            commands,
            stop,
            join: Some(join),
        }
    }

    /// Runs `f` on the raw peer's thread and returns its result.
    pub fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut RawState, Instant) -> T + Send + 'static,
    ) -> T {
        let (tx, rx) = mpsc::channel();
        self.commands
            .send(Box::new(move |state, now| {
                let _ = tx.send(f(state, now));
            }))
            .expect("raw peer stopped");
        rx.recv_timeout(Duration::from_secs(10))
            .expect("raw peer did not run a command")
    }

    /// Dials `addr` expecting `peer` and waits for the connection.
    pub fn connect(&self, addr: SocketAddr, peer: PeerId) -> ConnId {
        let conn = self.with(move |s, now| s.endpoint.dial(now, addr, Some(peer)).unwrap());
        crate::support::wait_for("the raw connection", crate::support::WAIT_LIMIT, || {
            self.with(move |s, _| s.conns.contains_key(&conn))
        });
        conn
    }
}

impl Drop for RawPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(join) = self.join.take() {
            let _ = join.join();
        }
    }
}

fn drive(
    mut state: RawState,
    socket: UdpSocket,
    commands: mpsc::Receiver<Command>,
    stop: Arc<AtomicBool>,
    mut script: Option<Script>,
) {
    let mut recv = vec![0u8; 65_536];
    let mut send = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        while let Ok(command) = commands.try_recv() {
            command(&mut state, now);
        }
        if let Some(script) = script.as_mut() {
            script(&mut state, now);
        }
        if state.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            state.endpoint.handle_timeout(now);
        }
        while let Some(event) = state.endpoint.poll_event() {
            state.on_event(event);
        }
        state.flush_all();
        while let Some(transmit) = state.endpoint.poll_transmit(now, &mut send) {
            let data = &send[..transmit.size];
            let segment = transmit.segment_size.unwrap_or(transmit.size).max(1);
            for chunk in data.chunks(segment) {
                let _ = socket.send_to(chunk, transmit.destination);
            }
        }
        // Sleep until a datagram, the endpoint's deadline or 2 ms (scripts run often).
        let wait = state
            .endpoint
            .poll_timeout()
            .map_or(Duration::from_millis(2), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_micros(200), Duration::from_millis(2));
        let _ = socket.set_nonblocking(false);
        let _ = socket.set_read_timeout(Some(wait));
        let mut received = 0;
        while received < 1024 {
            match socket.recv_from(&mut recv) {
                Ok((n, remote)) => {
                    received += 1;
                    let datagram = Datagram {
                        remote,
                        local_ip: None,
                        ecn: None,
                        data: &recv[..n],
                    };
                    state.endpoint.handle_datagram(Instant::now(), datagram);
                    let _ = socket.set_nonblocking(true);
                }
                Err(_) => break,
            }
        }
    }
}
