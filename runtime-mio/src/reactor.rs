//! The mio reactor: the only code in leanp2p that touches sockets, the clock and threads.
//!
//! The loop, once per wakeup:
//! 1. read `now`; if the node's deadline has passed, `handle_timeout(now)`;
//! 2. drain the node: `poll_transmit` into one reused buffer and send it — a QUIC GSO
//!    batch (`Transmit::segment_size`) goes out in one `sendmsg` with `UDP_SEGMENT` where
//!    the kernel supports it, else one call per segment; one pending transmit is kept on
//!    `WouldBlock` and retried when the socket is writable — then `poll_event` to the
//!    embedder's callback;
//! 3. wait on `mio::Poll` until the node's deadline (rounded up to the next millisecond);
//! 4. read datagrams with `recvmmsg` until `WouldBlock` (GRO batches are split by their
//!    stride into the datagrams the node sees; at most
//!    [`ReactorConfig::max_datagrams_per_wakeup`] per socket per wakeup, and a socket cut
//!    off by the cap is read again without sleeping) and apply commands woken through the
//!    [`mio::Waker`].
//!
//! There is no protocol logic here: if the reactor needed an `if` about gossip, that logic
//! would belong in `host`.

use std::io;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leanp2p_host::{Datagram, Node, NodeEvent, Transmit};
use mio::{Events, Interest, Poll, Token, Waker};
use quinn_udp::RecvMeta;

use crate::discovery::{Discovery, DISCOVERY};
use crate::udp::{ecn_from_codepoint, Granted, UdpIo, RECV_BATCH, RECV_SLOT};

/// Receive buffer: one slot per message of a `recvmmsg` batch, each large enough for a
/// whole GRO batch.
const RECV_BUFFER_LEN: usize = RECV_BATCH * RECV_SLOT;
/// Most UDP payload bytes one GSO `sendmsg` may carry (65,535 minus the IPv4 and UDP
/// headers); a larger batch from QUIC is sent in several calls.
const MAX_GSO_BYTES: usize = 65_507;
/// The waker's token; sockets use their index.
const WAKER: Token = Token(usize::MAX);

/// Reactor settings. Defaults suit a lean node.
#[derive(Clone, Debug)]
pub struct ReactorConfig {
    /// `SO_RCVBUF` requested for every socket (the kernel may cap it). Default 8 MiB.
    pub recv_buffer_bytes: usize,
    /// `SO_SNDBUF` requested for every socket. Default 8 MiB.
    pub send_buffer_bytes: usize,
    /// Datagrams read per socket per wakeup before other work runs. Default 1,024.
    pub max_datagrams_per_wakeup: usize,
    /// Transmits sent per wakeup before reading again. Default 1,024.
    pub max_transmits_per_wakeup: usize,
    /// Commands applied per wakeup. Default 256.
    pub max_commands_per_wakeup: usize,
    /// Events [`spawn`]'s channel holds for the application. When it is full the reactor
    /// stops pulling events from the node (which then applies its per-peer event budgets,
    /// pausing the busiest peers' streams) and keeps driving the network; it retries every
    /// [`EVENT_RETRY`]. Default 4,096.
    pub event_channel_capacity: usize,
}

/// How often a reactor whose event channel is full retries handing events over.
pub const EVENT_RETRY: Duration = Duration::from_millis(5);

impl Default for ReactorConfig {
    fn default() -> Self {
        Self {
            recv_buffer_bytes: 8 << 20,
            send_buffer_bytes: 8 << 20,
            max_datagrams_per_wakeup: 1024,
            max_transmits_per_wakeup: 1024,
            max_commands_per_wakeup: 256,
            event_channel_capacity: 4096,
        }
    }
}

/// A closure run on the node, on the reactor's thread, with the current time.
pub type NodeCommand = Box<dyn FnOnce(&mut Node, Instant) + Send>;

/// Something to do with the node on the reactor's thread.
pub enum Command {
    /// Run a closure on the node with the current time (dial, publish, respond, ...).
    Run(NodeCommand),
    /// Stop the loop after this wakeup.
    Shutdown,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Run(_) => f.write_str("Command::Run(..)"),
            Command::Shutdown => f.write_str("Command::Shutdown"),
        }
    }
}

/// Errors of the reactor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReactorError {
    /// Binding or configuring a socket failed.
    #[error("cannot bind UDP {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The node refused a listen address.
    #[error("node refused listen address {addr}: {reason}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// `mio::Poll` failed.
    #[error("poll failed: {0}")]
    Poll(#[source] io::Error),
    /// No listen address was given.
    #[error("the reactor needs at least one UDP socket")]
    NoSockets,
}

/// The reactor has stopped; the command was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the reactor has stopped")]
pub struct ReactorClosed;

/// Counters of the I/O the reactor did, and what the kernel granted its sockets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IoStats {
    /// Datagrams read (segments of a GRO batch count one each).
    pub datagrams_received: u64,
    /// `recvmmsg` calls that returned data.
    pub recv_calls: u64,
    /// Received buffers that held more than one datagram (GRO).
    pub gro_batches: u64,
    /// Datagrams sent (segments of a batch count one each).
    pub datagrams_sent: u64,
    /// Send system calls (`sendmsg`; one GSO batch is one call).
    pub send_calls: u64,
    /// Send calls that carried more than one datagram (GSO).
    pub gso_batches: u64,
    /// GSO batches the kernel refused (GSO is then switched off for the socket and the
    /// batch is resent one datagram per call).
    pub gso_refused: u64,
    /// Sends that hit `WouldBlock` (kept and retried).
    pub send_would_block: u64,
    /// Send errors other than `WouldBlock` (the datagram is dropped; QUIC recovers it).
    pub send_errors: u64,
    /// Receive errors other than `WouldBlock`.
    pub recv_errors: u64,
    /// Wakeups of the loop.
    pub wakeups: u64,
    /// `SO_SNDBUF` the kernel granted the first socket (Linux reports twice the usable
    /// size).
    pub send_buffer_bytes: u64,
    /// `SO_RCVBUF` the kernel granted the first socket.
    pub recv_buffer_bytes: u64,
    /// Datagrams one GSO send may carry on the first socket (1 = no GSO).
    pub max_gso_segments: u64,
    /// Datagrams the kernel may coalesce into one received buffer (1 = no GRO).
    pub gro_segments: u64,
}

/// A cloneable, `Send` handle to a reactor: commands in, woken through the `mio::Waker`.
#[derive(Clone, Debug)]
pub struct ReactorHandle {
    tx: mpsc::Sender<Command>,
    waker: Arc<Waker>,
}

impl ReactorHandle {
    /// Runs `f` on the node, on the reactor's thread, at its next wakeup.
    pub fn run(
        &self,
        f: impl FnOnce(&mut Node, Instant) + Send + 'static,
    ) -> Result<(), ReactorClosed> {
        self.send(Command::Run(Box::new(f)))
    }

    /// Asks the loop to stop.
    pub fn shutdown(&self) -> Result<(), ReactorClosed> {
        self.send(Command::Shutdown)
    }

    fn send(&self, command: Command) -> Result<(), ReactorClosed> {
        self.tx.send(command).map_err(|_| ReactorClosed)?;
        self.waker.wake().map_err(|_| ReactorClosed)
    }
}

struct Socket {
    io: UdpIo,
    local: SocketAddr,
    /// Stopped reading at the per-wakeup cap: read again before sleeping.
    more_to_read: bool,
    /// Registered for writable events (after `WouldBlock`).
    wants_writable: bool,
}

/// A transmit that hit `WouldBlock`: its bytes stay in `send_buf` until sent.
#[derive(Clone, Copy, Debug)]
struct Pending {
    socket: usize,
    transmit: Transmit,
    /// Bytes of `send_buf[..transmit.size]` already sent (whole segments).
    sent: usize,
}

/// A mio event loop over one or more UDP sockets, driving one [`Node`].
pub struct Reactor {
    pub(crate) node: Node,
    pub(crate) poll: Poll,
    sockets: Vec<Socket>,
    waker: Arc<Waker>,
    commands: mpsc::Receiver<Command>,
    tx: mpsc::Sender<Command>,
    config: ReactorConfig,
    send_buf: Vec<u8>,
    recv_buf: Vec<u8>,
    recv_meta: Vec<RecvMeta>,
    pending: Option<Pending>,
    stats: IoStats,
    stopped: bool,
    /// Discovery socket and machine ([`Reactor::with_discovery`]).
    pub(crate) discovery: Option<Discovery>,
}

impl std::fmt::Debug for Reactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reactor")
            .field("local_addrs", &self.local_addrs())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Reactor {
    /// Binds one non-blocking UDP socket per address in `listen` (port 0 picks a free
    /// port), raises its buffer sizes, and tells `node` to listen on the bound address.
    pub fn bind(
        mut node: Node,
        listen: &[SocketAddr],
        config: ReactorConfig,
    ) -> Result<Self, ReactorError> {
        if listen.is_empty() {
            return Err(ReactorError::NoSockets);
        }
        let poll = Poll::new().map_err(ReactorError::Poll)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(ReactorError::Poll)?);
        let mut sockets = Vec::with_capacity(listen.len());
        let mut first_granted = Granted::default();
        for (index, &addr) in listen.iter().enumerate() {
            let bind_err = |source| ReactorError::Bind { addr, source };
            let (mut io, granted) =
                UdpIo::bind(addr, config.send_buffer_bytes, config.recv_buffer_bytes)
                    .map_err(bind_err)?;
            let local = io.local;
            poll.registry()
                .register(&mut io.socket, Token(index), Interest::READABLE)
                .map_err(bind_err)?;
            if index == 0 {
                first_granted = granted;
            }
            node.listen(Instant::now(), local)
                .map_err(|e| ReactorError::Listen {
                    addr: local,
                    reason: e.to_string(),
                })?;
            tracing::info!(
                %local,
                sndbuf = granted.send_buffer,
                rcvbuf = granted.recv_buffer,
                gso_segments = granted.max_gso_segments,
                gro_segments = granted.gro_segments,
                "listening"
            );
            sockets.push(Socket {
                io,
                local,
                more_to_read: false,
                wants_writable: false,
            });
        }
        let (tx, commands) = mpsc::channel();
        Ok(Self {
            node,
            poll,
            sockets,
            waker,
            commands,
            tx,
            config,
            send_buf: Vec::with_capacity(64 * 1024),
            recv_buf: vec![0u8; RECV_BUFFER_LEN],
            recv_meta: vec![RecvMeta::default(); RECV_BATCH],
            pending: None,
            stats: IoStats {
                send_buffer_bytes: first_granted.send_buffer as u64,
                recv_buffer_bytes: first_granted.recv_buffer as u64,
                max_gso_segments: first_granted.max_gso_segments as u64,
                gro_segments: first_granted.gro_segments as u64,
                ..IoStats::default()
            },
            stopped: false,
            discovery: None,
        })
    }

    /// The bound socket addresses (with the ports picked for port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().map(|s| s.local).collect()
    }

    /// A handle for other threads.
    pub fn handle(&self) -> ReactorHandle {
        ReactorHandle {
            tx: self.tx.clone(),
            waker: Arc::clone(&self.waker),
        }
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The node, mutably (only between runs: commands from other threads go through the
    /// [`ReactorHandle`]).
    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }

    /// I/O counters.
    pub fn io_stats(&self) -> IoStats {
        self.stats
    }

    /// Gives the node back.
    pub fn into_node(self) -> Node {
        self.node
    }

    /// Runs the loop on the caller's thread until `on_event` breaks, a
    /// [`Command::Shutdown`] arrives, or `until` passes. `on_event` gets every
    /// [`NodeEvent`] with the node (so it can react at once: validate, respond, ...).
    pub fn run(
        &mut self,
        until: Option<Instant>,
        on_event: impl FnMut(&mut Node, Instant, NodeEvent) -> ControlFlow<()>,
    ) -> Result<(), ReactorError> {
        self.run_with(until, on_event, |_, _| ControlFlow::Continue(()))
    }

    /// [`Reactor::run`] with a second callback, `on_wakeup`, called once per loop turn
    /// (after the datagrams and commands of a wakeup were handled, before the node is
    /// drained). Drivers that feed the node from their own state use it, e.g. to refill a
    /// stream's send buffer as QUIC credit returns. Breaking from it stops the loop too.
    pub fn run_with(
        &mut self,
        until: Option<Instant>,
        on_event: impl FnMut(&mut Node, Instant, NodeEvent) -> ControlFlow<()>,
        on_wakeup: impl FnMut(&mut Node, Instant) -> ControlFlow<()>,
    ) -> Result<(), ReactorError> {
        self.run_gated(until, on_event, on_wakeup, || true)
    }

    /// [`Reactor::run_with`] that pulls node events only while `accepts()` holds; while
    /// it does not, the loop sleeps at most [`EVENT_RETRY`] and asks again.
    fn run_gated(
        &mut self,
        until: Option<Instant>,
        mut on_event: impl FnMut(&mut Node, Instant, NodeEvent) -> ControlFlow<()>,
        mut on_wakeup: impl FnMut(&mut Node, Instant) -> ControlFlow<()>,
        mut accepts: impl FnMut() -> bool,
    ) -> Result<(), ReactorError> {
        self.stopped = false;
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            if self
                .node
                .poll_timeout()
                .is_some_and(|deadline| deadline <= now)
            {
                self.node.handle_timeout(now);
            }
            if on_wakeup(&mut self.node, now).is_break() {
                self.stopped = true;
            }
            if let Some(discovery) = self.discovery.as_mut() {
                discovery.drive(now, &mut self.node);
            }
            self.drain_transmits(now);
            let mut gate_open = accepts();
            while gate_open {
                let Some(event) = self.node.poll_event() else {
                    break;
                };
                if on_event(&mut self.node, now, event).is_break() {
                    self.stopped = true;
                }
                gate_open = accepts();
            }
            // Work done by the callback is flushed before sleeping.
            self.drain_transmits(now);
            if self.stopped || until.is_some_and(|t| now >= t) {
                return Ok(());
            }

            let busy = self.sockets.iter().any(|s| s.more_to_read)
                || self.discovery.as_ref().is_some_and(|d| d.more_to_read);
            let mut timeout = self.sleep_for(now, until, busy);
            if !gate_open {
                timeout = Some(timeout.map_or(EVENT_RETRY, |t| t.min(EVENT_RETRY)));
            }
            let (timeout, fine_sleep) = split_sleep(timeout);
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ReactorError::Poll(e)),
            }
            if let Some(rest) = fine_sleep.filter(|_| events.is_empty()) {
                // Nothing arrived: sleep the sub-millisecond remainder precisely.
                std::thread::sleep(rest);
            }
            self.stats.wakeups += 1;
            let now = Instant::now();
            let mut readable = busy;
            for event in events.iter() {
                match event.token() {
                    WAKER => self.apply_commands(now),
                    DISCOVERY => {
                        if let Some(discovery) = self.discovery.as_mut() {
                            discovery.more_to_read = true;
                        }
                    }
                    Token(i) => {
                        if let Some(socket) = self.sockets.get_mut(i) {
                            if event.is_readable() {
                                socket.more_to_read = true;
                                readable = true;
                            }
                        }
                    }
                }
            }
            if readable {
                self.read_datagrams(now);
            }
            if let Some(discovery) = self.discovery.as_mut().filter(|d| d.more_to_read) {
                discovery.read(now, self.config.max_datagrams_per_wakeup);
            }
        }
    }

    fn apply_commands(&mut self, now: Instant) {
        for _ in 0..self.config.max_commands_per_wakeup {
            match self.commands.try_recv() {
                Ok(Command::Run(f)) => f(&mut self.node, now),
                Ok(Command::Shutdown) => self.stopped = true,
                Err(_) => return,
            }
        }
        // More commands than the cap: wake again so they are not stranded.
        let _ = self.waker.wake();
    }

    fn read_datagrams(&mut self, now: Instant) {
        let cap = self.config.max_datagrams_per_wakeup;
        let Self {
            sockets,
            node,
            stats,
            recv_buf,
            recv_meta,
            ..
        } = self;
        for socket in sockets.iter_mut() {
            if !socket.more_to_read {
                continue;
            }
            let mut read = 0;
            loop {
                if read >= cap {
                    break; // more_to_read stays set: read again without sleeping
                }
                match socket.io.recv(recv_buf, recv_meta) {
                    Ok(messages) => {
                        stats.recv_calls += 1;
                        // One batch for the node: its own work runs once per recvmmsg.
                        let slots = recv_buf.chunks(RECV_SLOT);
                        let datagrams = recv_meta
                            .iter()
                            .take(messages)
                            .zip(slots)
                            .flat_map(|(meta, slot)| {
                                let data = slot.get(..meta.len).unwrap_or(slot);
                                let stride = if meta.stride == 0 {
                                    data.len().max(1)
                                } else {
                                    meta.stride
                                };
                                if data.len() > stride {
                                    stats.gro_batches += 1;
                                }
                                data.chunks(stride).map(move |segment| Datagram {
                                    remote: meta.addr,
                                    local_ip: meta.dst_ip,
                                    ecn: meta.ecn.map(ecn_from_codepoint),
                                    data: segment,
                                })
                            })
                            .inspect(|_| {
                                read += 1;
                                stats.datagrams_received += 1;
                            });
                        node.handle_datagrams(now, datagrams);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        socket.more_to_read = false;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // e.g. ICMP port unreachable surfacing as ECONNREFUSED: not fatal.
                        stats.recv_errors += 1;
                        tracing::debug!(error = %e, local = %socket.local, "recvmmsg failed");
                    }
                }
            }
        }
    }

    /// How long the next `poll` may sleep: zero while a socket has more to read, else
    /// until the node's deadline (or `until`). While a transmit is blocked on
    /// `WouldBlock`, queued datagrams do not count as "now" (writability wakes us).
    fn sleep_for(&self, now: Instant, until: Option<Instant>, busy: bool) -> Option<Duration> {
        if busy {
            return Some(Duration::ZERO);
        }
        let node_deadline = if self.pending.is_some() {
            self.node.poll_timeout_while_send_blocked()
        } else {
            self.node.poll_timeout()
        };
        let discovery = self.discovery.as_ref().and_then(Discovery::poll_timeout);
        [node_deadline, until, discovery]
            .into_iter()
            .flatten()
            .min()
            .map(|d| d.saturating_duration_since(now))
    }

    /// Sends the pending transmit, then pulls and sends new ones, up to the per-wakeup cap.
    fn drain_transmits(&mut self, now: Instant) {
        for _ in 0..self.config.max_transmits_per_wakeup {
            if let Some(pending) = self.pending.take() {
                if !self.send_pending(pending) {
                    return; // still blocked; writable interest is registered
                }
                continue;
            }
            let Some(transmit) = self.node.poll_transmit(now, &mut self.send_buf) else {
                return;
            };
            let socket = self.socket_for(transmit.destination);
            if !self.send_pending(Pending {
                socket,
                transmit,
                sent: 0,
            }) {
                return;
            }
        }
    }

    /// Sends what is left of `pending` (a GSO batch in as few calls as the kernel allows);
    /// false (and `self.pending` set) on `WouldBlock`.
    fn send_pending(&mut self, mut pending: Pending) -> bool {
        let Pending {
            socket: index,
            transmit,
            ..
        } = pending;
        let Some(socket) = self.sockets.get_mut(index) else {
            return true;
        };
        let size = transmit.size.min(self.send_buf.len());
        let segment = transmit.segment_size.unwrap_or(size).max(1);
        while pending.sent < size {
            let gso_segments = socket.io.max_gso_segments();
            // The kernel takes at most 64 KiB of UDP payload per GSO call.
            let per_call = gso_segments.min(MAX_GSO_BYTES / segment).max(1);
            let end = pending
                .sent
                .saturating_add(segment.saturating_mul(per_call))
                .min(size);
            let chunk = self.send_buf.get(pending.sent..end).unwrap_or_default();
            let datagrams = chunk.len().div_ceil(segment);
            let segment_size = (datagrams > 1).then_some(segment);
            self.stats.send_calls += 1;
            match socket.io.send(
                transmit.destination,
                transmit.ecn,
                transmit.src_ip,
                chunk,
                segment_size,
            ) {
                Ok(()) => {
                    self.stats.datagrams_sent += datagrams as u64;
                    if datagrams > 1 {
                        self.stats.gso_batches += 1;
                    }
                    pending.sent = end;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.send_would_block += 1;
                    socket.wants_writable = true;
                    let _ = self.poll.registry().reregister(
                        &mut socket.io.socket,
                        Token(index),
                        Interest::READABLE | Interest::WRITABLE,
                    );
                    self.pending = Some(pending);
                    return false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if datagrams > 1 && socket.io.max_gso_segments() < gso_segments => {
                    // quinn-udp saw the kernel refuse GSO (EIO/EINVAL) and switched it
                    // off: resend this batch one datagram per call.
                    self.stats.gso_refused += 1;
                    tracing::info!(error = %e, local = %socket.local, "GSO refused; sending datagrams one by one");
                }
                Err(e) => {
                    // Unreachable destination, EMSGSIZE on an MTU probe and the like: drop
                    // these datagrams, QUIC's loss recovery (or the idle timeout) handles
                    // the rest.
                    self.stats.send_errors += 1;
                    tracing::debug!(error = %e, to = %transmit.destination, "sendmsg failed");
                    pending.sent = end;
                }
            }
        }
        if std::mem::take(&mut socket.wants_writable) {
            let _ = self.poll.registry().reregister(
                &mut socket.io.socket,
                Token(index),
                Interest::READABLE,
            );
        }
        true
    }

    /// The socket to send to `destination` from: same address family, else the first.
    fn socket_for(&self, destination: SocketAddr) -> usize {
        self.sockets
            .iter()
            .position(|s| s.local.is_ipv4() == destination.is_ipv4())
            .unwrap_or(0)
    }
}

/// A reactor running on its own thread.
#[derive(Debug)]
pub struct SpawnedReactor {
    /// Commands in.
    pub handle: ReactorHandle,
    /// Every [`NodeEvent`] out, in order.
    pub events: mpsc::Receiver<(Instant, NodeEvent)>,
    /// The bound addresses.
    pub local_addrs: Vec<SocketAddr>,
    /// Joins the thread; gives the reactor back when it stops.
    pub join: std::thread::JoinHandle<Result<Reactor, ReactorError>>,
}

/// Runs `reactor` on a new thread named `name` until [`ReactorHandle::shutdown`] or
/// until every event receiver is gone.
pub fn spawn(reactor: Reactor, name: &str) -> io::Result<SpawnedReactor> {
    let handle = reactor.handle();
    let local_addrs = reactor.local_addrs();
    let (tx, events) = mpsc::sync_channel(reactor.config.event_channel_capacity.max(1));
    let join = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let mut reactor = reactor;
            // An event the full channel refused, handed over before any newer one.
            let held = std::cell::RefCell::new(None::<(Instant, NodeEvent)>);
            let disconnected = std::cell::Cell::new(false);
            let offer = |item: (Instant, NodeEvent)| match tx.try_send(item) {
                Ok(()) => {}
                Err(mpsc::TrySendError::Full(item)) => *held.borrow_mut() = Some(item),
                Err(mpsc::TrySendError::Disconnected(_)) => disconnected.set(true),
            };
            reactor.run_gated(
                None,
                |_, now, event| {
                    offer((now, event));
                    if disconnected.get() {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
                |_, _| {
                    if disconnected.get() {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
                || {
                    let waiting = held.borrow_mut().take();
                    if let Some(item) = waiting {
                        offer(item);
                    }
                    held.borrow().is_none()
                },
            )?;
            Ok(reactor)
        })?;
    Ok(SpawnedReactor {
        handle,
        events,
        local_addrs,
        join,
    })
}

/// Deadlines closer than this are not rounded up to epoll's whole millisecond: see
/// [`split_sleep`].
const FINE_SLEEP_BELOW: Duration = Duration::from_millis(1);

/// Splits a wait into the `poll` timeout (whole milliseconds, epoll's resolution) and a
/// sub-millisecond remainder to sleep afterwards if no event arrived. A deadline under
/// [`FINE_SLEEP_BELOW`] polls without blocking and then sleeps just that long (the
/// thread timer resolves tens of microseconds), instead of rounding up to 1 ms: a node
/// pacer whose token bucket refills in 0.5 ms (64 KiB at 1 Gbit/s) would otherwise
/// overflow its bucket on every sleep and run ~40 % slow. Longer waits round up, so the
/// reactor never wakes before a deadline and never spins.
fn split_sleep(timeout: Option<Duration>) -> (Option<Duration>, Option<Duration>) {
    match timeout {
        Some(d) if !d.is_zero() && d < FINE_SLEEP_BELOW => (Some(Duration::ZERO), Some(d)),
        other => (other.map(round_up_to_ms), None),
    }
}

fn round_up_to_ms(d: Duration) -> Duration {
    let ms = d.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_transmit_blocked_on_would_block_does_not_make_the_reactor_spin() {
        let t0 = Instant::now();
        let key = leanp2p_host::Keypair::from_secret_bytes(&[3; 32]).unwrap();
        let node = Node::new(t0, leanp2p_host::Config::default(), &key, [3; 32]).unwrap();
        let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut reactor = Reactor::bind(node, &[localhost], ReactorConfig::default()).unwrap();
        // Two dials queue two Initials; the first becomes the transmit that hit
        // `WouldBlock`, the second stays queued in the node.
        for port in [9, 10] {
            let to = SocketAddr::from(([127, 0, 0, 1], port));
            reactor.node.dial(t0, to, None).unwrap();
        }
        let mut buf = Vec::new();
        let transmit = reactor.node.poll_transmit(t0, &mut buf).unwrap();
        assert_eq!(reactor.sleep_for(t0, None, false), Some(Duration::ZERO));
        reactor.pending = Some(Pending {
            socket: 0,
            transmit,
            sent: 0,
        });
        // Queued output no longer means "now": sleep until writable or a timer.
        let sleep = reactor.sleep_for(t0, None, false).unwrap();
        assert!(sleep > Duration::ZERO, "{sleep:?}");
        // A socket with more to read still means "now".
        assert_eq!(reactor.sleep_for(t0, None, true), Some(Duration::ZERO));
    }

    #[test]
    fn sub_millisecond_waits_poll_then_sleep_precisely() {
        let us = Duration::from_micros;
        assert_eq!(split_sleep(None), (None, None));
        assert_eq!(
            split_sleep(Some(Duration::ZERO)),
            (Some(Duration::ZERO), None)
        );
        assert_eq!(
            split_sleep(Some(us(520))),
            (Some(Duration::ZERO), Some(us(520)))
        );
        assert_eq!(split_sleep(Some(us(1000))), (Some(us(1000)), None));
        assert_eq!(
            split_sleep(Some(us(1001))),
            (Some(Duration::from_millis(2)), None)
        );
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(round_up_to_ms(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            round_up_to_ms(Duration::from_micros(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_micros(1000)),
            Duration::from_millis(1)
        );
        assert_eq!(
            round_up_to_ms(Duration::from_micros(1001)),
            Duration::from_millis(2)
        );
    }
}
