//! Two leanp2p nodes driven by plain blocking loops over `std::net::UdpSocket`: no async
//! runtime, only `leanp2p-host` and the standard library.
//!
//! Each node runs on its own thread, which owns the node and its socket. The loop: drive
//! the node ([`Node::drive`] sends, hands out events and returns the next deadline), apply
//! the commands other threads sent, then block in `recv_from` until a datagram arrives, the
//! node's deadline passes, or [`COMMAND_POLL_INTERVAL`] elapses (std cannot wait on a
//! socket and a channel at once; an embedder that needs lower command latency wakes the
//! thread with a datagram from a loopback socket of its own, or uses an event loop such
//! as `leanp2p-mio`).
//!
//! The program: node A dials node B, both subscribe to the lean block topic, A publishes
//! once it has seen B's subscription, B validates the block, A asks B for its status and B
//! answers, then both shut down cleanly.
//!
//! Run it with `cargo run -p leanp2p-host --example blocking`. The test
//! `host/tests/examples.rs` runs the same [`run`] function.

use std::error::Error;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use leanp2p_host::{
    lean, snappy_compress, snappy_decompress, Bytes, Checkpoint, Datagram, Keypair, Node,
    NodeEvent, PeerId, ResponseChunk, Status, Validation,
};

/// The example's error type.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// A closure the owner thread runs on its node, with the current time.
type Command = Box<dyn FnOnce(&mut Node, Instant) + Send>;

/// Longest the owner thread blocks in `recv_from` before it looks at its commands.
pub const COMMAND_POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Events the owner thread holds for the application before it drops them.
const EVENT_CHANNEL_CAPACITY: usize = 1024;
/// The largest datagram the socket can hand us (any UDP payload).
const RECV_BUFFER_LEN: usize = 65_535;
/// How long one step of the scenario may take before the example gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The rest of the program's view of one node.
pub struct NodeHandle {
    /// Our PeerId.
    pub peer_id: PeerId,
    /// The bound UDP address.
    pub addr: SocketAddr,
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<NodeEvent>,
    thread: JoinHandle<io::Result<()>>,
}

impl NodeHandle {
    /// Binds a socket on 127.0.0.1, tells the node its address and starts its thread.
    pub fn spawn(mut node: Node, name: &str) -> Result<Self, BoxError> {
        let socket = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        let addr = socket.local_addr()?;
        // Only advertises the address (identify); inbound connections work without it.
        node.listen(Instant::now(), addr)?;
        let peer_id = node.local_peer_id();
        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::sync_channel(EVENT_CHANNEL_CAPACITY);
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || own_node(node, socket, command_rx, event_tx))?;
        Ok(Self {
            peer_id,
            addr,
            commands,
            events,
            thread,
        })
    }

    /// Runs `f` on the node in its thread and returns its result.
    pub fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node, Instant) -> R + Send + 'static,
    ) -> Result<R, BoxError> {
        let (tx, rx) = mpsc::sync_channel(1);
        let command: Command = Box::new(move |node, now| {
            let _ = tx.send(f(node, now));
        });
        self.commands
            .send(command)
            .map_err(|_| "the node's thread has stopped")?;
        Ok(rx.recv_timeout(STEP_TIMEOUT)?)
    }

    /// Waits (at most [`STEP_TIMEOUT`]) for the first event `pick` accepts, skipping others.
    pub fn wait_for<T>(
        &self,
        what: &str,
        mut pick: impl FnMut(&NodeEvent) -> Option<T>,
    ) -> Result<T, BoxError> {
        let end = Instant::now() + STEP_TIMEOUT;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => {
                    if let Some(found) = pick(&event) {
                        return Ok(found);
                    }
                }
                Err(_) => return Err(format!("timed out waiting for {what}").into()),
            }
        }
    }

    /// Closes the command channel: the thread disconnects every peer, sends the
    /// CONNECTION_CLOSEs and stops.
    pub fn shutdown(self) -> Result<(), BoxError> {
        drop(self.commands);
        match self.thread.join() {
            Ok(result) => Ok(result?),
            Err(_) => Err("the node's thread panicked".into()),
        }
    }
}

/// Sends one transmit, datagram by datagram; a failed send is dropped (QUIC retransmits).
fn send(socket: &UdpSocket, out: leanp2p_host::Outgoing<'_>) {
    for datagram in out.datagrams() {
        let _ = socket.send_to(datagram, out.destination);
    }
}

/// The owner thread: the only code that touches `node` and `socket`.
fn own_node(
    mut node: Node,
    socket: UdpSocket,
    commands: mpsc::Receiver<Command>,
    events: mpsc::SyncSender<NodeEvent>,
) -> io::Result<()> {
    let mut recv_buf = vec![0u8; RECV_BUFFER_LEN];
    let mut send_buf = Vec::new();
    loop {
        let now = Instant::now();
        let deadline = node.drive(
            now,
            &mut send_buf,
            |out| send(&socket, out),
            |_node, event| {
                // An application this far behind loses events; size the channel for yours.
                let _ = events.try_send(event);
            },
        );
        loop {
            match commands.try_recv() {
                Ok(command) => command(&mut node, Instant::now()),
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => return shut_down(node, &socket),
            }
        }
        let wait = deadline
            .map_or(COMMAND_POLL_INTERVAL, |at| {
                at.saturating_duration_since(now)
            })
            .min(COMMAND_POLL_INTERVAL);
        // A deadline already due means "drive again now"; std also refuses a zero read
        // timeout, so skip the read.
        if wait.is_zero() {
            continue;
        }
        socket.set_read_timeout(Some(wait))?;
        match socket.recv_from(&mut recv_buf) {
            Ok((len, remote)) => {
                let data = recv_buf.get(..len).unwrap_or_default();
                // std's socket reports neither the local IP nor ECN bits.
                let datagram = Datagram {
                    remote,
                    local_ip: None,
                    ecn: None,
                    data,
                };
                node.handle_datagram(Instant::now(), datagram);
            }
            // The wait ran out (the error kind differs between platforms).
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            // e.g. ICMP port unreachable from a peer that went away: not fatal.
            Err(_) => {}
        }
    }
}

/// Closes every connection and lets the CONNECTION_CLOSEs leave.
fn shut_down(mut node: Node, socket: &UdpSocket) -> io::Result<()> {
    let now = Instant::now();
    let peers: Vec<PeerId> = node.connected_peers().copied().collect();
    for peer in &peers {
        let _ = node.disconnect(now, peer);
    }
    let mut buf = Vec::new();
    node.drive(now, &mut buf, |out| send(socket, out), |_, _| {});
    Ok(())
}

/// A seeded node with the lean configuration. Production code loads its key from the
/// node's key file and draws the 32-byte seed from the operating system; fixed values
/// keep this example reproducible.
pub fn lean_node(index: u8) -> Result<Node, BoxError> {
    let key = Keypair::from_secret_bytes(&[index; 32])?;
    Ok(Node::new(
        Instant::now(),
        lean::config("leanp2p-example/0.1"),
        &key,
        [index; 32],
    )?)
}

/// The whole scenario; returns the status B sent A.
pub fn run() -> Result<Status, BoxError> {
    let a = NodeHandle::spawn(lean_node(1)?, "node-a")?;
    let b = NodeHandle::spawn(lean_node(2)?, "node-b")?;
    let block_topic = lean::LeanTopic::new(lean::DEFAULT_NETWORK, lean::TopicKind::Block).hash();
    for node in [&a, &b] {
        let topic = block_topic.clone();
        node.call(move |node, now| node.subscribe(now, &topic))??;
    }
    let (b_peer, b_addr) = (b.peer_id, b.addr);
    a.call(move |node, now| node.dial(now, b_addr, Some(b_peer)))??;

    // `publish` fails with InsufficientPeers until a peer's subscription is known.
    let topic = block_topic.clone();
    a.wait_for("B's subscription", |event| match event {
        NodeEvent::Subscribed { peer, topic: t } if *peer == b_peer && *t == topic => Some(()),
        _ => None,
    })?;
    let block = b"an SSZ-encoded SignedBlock".to_vec();
    let data = Bytes::from(snappy_compress(&block, lean::MAX_PAYLOAD_SIZE)?);
    let topic = block_topic.clone();
    a.call(move |node, now| node.publish(now, &topic, data))??;
    let (id, from, data) = b.wait_for("the block", |event| match event {
        NodeEvent::Message {
            id,
            propagation_source,
            data,
            ..
        } => Some((id.clone(), *propagation_source, data.clone())),
        _ => None,
    })?;
    let received = snappy_decompress(&data, lean::MAX_PAYLOAD_SIZE);
    let verdict = match &received {
        Ok(bytes) if *bytes == block => Validation::Accept,
        _ => Validation::Reject,
    };
    b.call(move |node, now| node.report_validation(now, &id, from, verdict))??;
    if received? != block {
        return Err("B received a different block".into());
    }

    let body = Bytes::from(Status::default().to_ssz()?);
    let request = a.call(move |node, now| node.request(now, b_peer, &lean::STATUS, body))??;
    let channel = b.wait_for("A's status request", |event| match event {
        NodeEvent::InboundRequest { channel, .. } => Some(*channel),
        _ => None,
    })?;
    let b_status = Status {
        finalized: Checkpoint {
            root: [1; 32],
            slot: 64,
        },
        head: Checkpoint {
            root: [2; 32],
            slot: 70,
        },
    };
    let answer = Bytes::from(b_status.to_ssz()?);
    b.call(move |node, now| {
        node.respond(now, channel, ResponseChunk::success(answer))?;
        node.end_response(now, channel)
    })??;
    let payload = a.wait_for("B's status", |event| match event {
        NodeEvent::Response {
            request: r,
            payload,
            ..
        } if *r == request => Some(payload.clone()),
        _ => None,
    })?;
    let status = Status::from_ssz(&payload)?;

    let a_peer = a.peer_id;
    a.shutdown()?;
    b.wait_for("A's disconnect", |event| match event {
        NodeEvent::Disconnected { peer, .. } if *peer == a_peer => Some(()),
        _ => None,
    })?;
    b.shutdown()?;
    Ok(status)
}

fn main() -> Result<(), BoxError> {
    let status = run()?;
    println!(
        "A got B's status: head slot {}, finalized slot {}",
        status.head.slot, status.finalized.slot
    );
    Ok(())
}
