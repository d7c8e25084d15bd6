//! Two leanp2p nodes on tokio, with nothing but `leanp2p-host` and tokio.
//!
//! Each node is owned by one task together with its `tokio::net::UdpSocket` on 127.0.0.1.
//! The rest of the program talks to a node through a [`NodeHandle`]: closures sent over a
//! channel and run by the owner task on the node (the command pattern), and node events
//! received over another channel. The owner task waits for a datagram, a command or the
//! node's deadline, applies it, and calls [`Node::drive`], which sends, hands out events and
//! returns the next deadline.
//!
//! The program: node A dials node B, both subscribe to the lean block topic, A publishes a
//! snappy-compressed block once it has seen B's subscription, B validates it, A asks B for
//! its status (lean req/resp) and B answers, then A shuts down cleanly (B sees the
//! connection close) and B shuts down.
//!
//! Run it with `cargo run -p leanp2p-host --example tokio`. The test
//! `host/tests/examples.rs` runs the same [`run`] function under a time limit.

use std::error::Error;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use leanp2p_host::{
    lean, snappy_compress, snappy_decompress, Bytes, Checkpoint, Datagram, Keypair, Node,
    NodeEvent, PeerId, ResponseChunk, Status, Validation,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The example's error type.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// A closure the owner task runs on its node, with the current time.
type Command = Box<dyn FnOnce(&mut Node, Instant) + Send>;

/// Events the owner task holds for the application before it drops them. A real client
/// sizes this for its event rate; an application that falls this far behind loses events
/// (counted in [`OwnerSummary::events_dropped`]).
const EVENT_CHANNEL_CAPACITY: usize = 1024;
/// The largest datagram the socket can hand us (any UDP payload).
const RECV_BUFFER_LEN: usize = 65_535;
/// How long one step of the scenario may take before the example gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The clock. tokio's clock, converted: under `tokio::time::pause` it is the paused clock,
/// which `std::time::Instant::now()` would not follow.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What an owner task reports when it stops.
#[derive(Debug, Default, Clone, Copy)]
pub struct OwnerSummary {
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams dropped because the send failed (QUIC retransmits what mattered).
    pub send_errors: u64,
    /// Events dropped because the application did not keep up.
    pub events_dropped: u64,
}

/// The rest of the program's view of one node.
pub struct NodeHandle {
    /// Our PeerId.
    pub peer_id: PeerId,
    /// The bound UDP address.
    pub addr: SocketAddr,
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::Receiver<NodeEvent>,
    task: JoinHandle<OwnerSummary>,
}

impl NodeHandle {
    /// Binds a socket on 127.0.0.1, tells the node its address and spawns its owner task.
    pub async fn spawn(mut node: Node) -> Result<Self, BoxError> {
        let socket = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await?;
        let addr = socket.local_addr()?;
        // Only advertises the address (identify); inbound connections work without it.
        node.listen(now(), addr)?;
        let peer_id = node.local_peer_id();
        // Commands come from our own program, which waits for their replies: unbounded
        // is fine here. Events are bounded (see EVENT_CHANNEL_CAPACITY).
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::channel(EVENT_CHANNEL_CAPACITY);
        let task = tokio::spawn(own_node(node, socket, command_rx, event_tx));
        Ok(Self {
            peer_id,
            addr,
            commands,
            events,
            task,
        })
    }

    /// Runs `f` on the node in its owner task and returns its result.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node, Instant) -> R + Send + 'static,
    ) -> Result<R, BoxError> {
        let (tx, rx) = oneshot::channel();
        let command: Command = Box::new(move |node, now| {
            let _ = tx.send(f(node, now));
        });
        self.commands
            .send(command)
            .map_err(|_| "the node's owner task has stopped")?;
        Ok(rx.await?)
    }

    /// Waits (at most [`STEP_TIMEOUT`]) for the first event `pick` accepts, skipping others.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&NodeEvent) -> Option<T>,
    ) -> Result<T, BoxError> {
        let wait = async {
            while let Some(event) = self.events.recv().await {
                if let Some(found) = pick(&event) {
                    return Ok(found);
                }
            }
            Err(BoxError::from("the node's owner task has stopped"))
        };
        match tokio::time::timeout(STEP_TIMEOUT, wait).await {
            Ok(result) => result,
            Err(_) => Err(format!("timed out waiting for {what}").into()),
        }
    }

    /// Closes the command channel: the owner task disconnects every peer, sends the
    /// CONNECTION_CLOSEs and stops.
    pub async fn shutdown(self) -> Result<OwnerSummary, BoxError> {
        drop(self.commands);
        Ok(tokio::time::timeout(STEP_TIMEOUT, self.task).await??)
    }
}

/// The owner task: the only code that touches `node` and `socket`.
async fn own_node(
    mut node: Node,
    socket: UdpSocket,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::Sender<NodeEvent>,
) -> OwnerSummary {
    let mut summary = OwnerSummary::default();
    let mut recv_buf = vec![0u8; RECV_BUFFER_LEN];
    let mut send_buf = Vec::new();
    loop {
        let deadline = node.drive(
            now(),
            &mut send_buf,
            |out| {
                for datagram in out.datagrams() {
                    // Never wait on a full socket: drop the datagram, QUIC retransmits.
                    match socket.try_send_to(datagram, out.destination) {
                        Ok(_) => summary.datagrams_sent += 1,
                        Err(_) => summary.send_errors += 1,
                    }
                }
            },
            |_node, event| {
                if events.try_send(event).is_err() {
                    summary.events_dropped += 1;
                }
            },
        );
        // A deadline in the past completes at once: "run again now".
        let timer = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = socket.recv_from(&mut recv_buf) => {
                // An error (e.g. ICMP port unreachable from a peer that went away) is not
                // fatal: wait again.
                if let Ok((len, remote)) = received {
                    summary.datagrams_received += 1;
                    let data = recv_buf.get(..len).unwrap_or_default();
                    // tokio's socket reports neither the local IP nor ECN bits.
                    let datagram = Datagram { remote, local_ip: None, ecn: None, data };
                    node.handle_datagram(now(), datagram);
                }
            }
            command = commands.recv() => match command {
                Some(command) => command(&mut node, now()),
                None => break,
            },
            () = timer => {}
        }
    }
    // Clean shutdown: close every connection and let the CONNECTION_CLOSEs leave.
    let now = now();
    let peers: Vec<PeerId> = node.connected_peers().copied().collect();
    for peer in &peers {
        let _ = node.disconnect(now, peer);
    }
    node.drive(
        now,
        &mut send_buf,
        |out| {
            for datagram in out.datagrams() {
                if socket.try_send_to(datagram, out.destination).is_ok() {
                    summary.datagrams_sent += 1;
                }
            }
        },
        |_, _| {},
    );
    summary
}

/// A seeded node with the lean configuration. Production code loads its key from the
/// node's key file and draws the 32-byte seed from the operating system; fixed values
/// keep this example reproducible.
pub fn lean_node(index: u8) -> Result<Node, BoxError> {
    let key = Keypair::from_secret_bytes(&[index; 32])?;
    Ok(Node::new(
        now(),
        lean::config("leanp2p-example/0.1"),
        &key,
        [index; 32],
    )?)
}

/// What one run of the example saw.
#[derive(Debug)]
pub struct Report {
    /// The block payload B received, decompressed.
    pub block: Vec<u8>,
    /// The status B returned to A's request.
    pub status: Status,
    /// Node A's owner task counters.
    pub a: OwnerSummary,
    /// Node B's owner task counters.
    pub b: OwnerSummary,
}

/// The whole scenario; see the module docs.
pub async fn run() -> Result<Report, BoxError> {
    let mut a = NodeHandle::spawn(lean_node(1)?).await?;
    let mut b = NodeHandle::spawn(lean_node(2)?).await?;
    let block_topic = lean::LeanTopic::new(lean::DEFAULT_NETWORK, lean::TopicKind::Block).hash();

    for node in [&a, &b] {
        let topic = block_topic.clone();
        node.call(move |node, now| node.subscribe(now, &topic))
            .await??;
    }
    let (b_peer, b_addr) = (b.peer_id, b.addr);
    a.call(move |node, now| node.dial(now, b_addr, Some(b_peer)))
        .await??;

    // `publish` fails with InsufficientPeers until a peer's subscription is known.
    let topic = block_topic.clone();
    a.wait_for("B's subscription", |event| match event {
        NodeEvent::Subscribed { peer, topic: t } if *peer == b_peer && *t == topic => Some(()),
        _ => None,
    })
    .await?;

    // Gossip: lean payloads are snappy-compressed SSZ.
    let block = b"an SSZ-encoded SignedBlock".to_vec();
    let data = Bytes::from(snappy_compress(&block, lean::MAX_PAYLOAD_SIZE)?);
    let topic = block_topic.clone();
    a.call(move |node, now| node.publish(now, &topic, data))
        .await??;
    let (id, from, data) = b
        .wait_for("the block", |event| match event {
            NodeEvent::Message {
                id,
                propagation_source,
                data,
                ..
            } => Some((id.clone(), *propagation_source, data.clone())),
            _ => None,
        })
        .await?;
    let received = snappy_decompress(&data, lean::MAX_PAYLOAD_SIZE);
    let verdict = if received.is_ok() {
        Validation::Accept
    } else {
        Validation::Reject
    };
    b.call(move |node, now| node.report_validation(now, &id, from, verdict))
        .await??;
    let received = received?;

    // Req/resp: A asks B for its status; B answers from its own state.
    let a_status = Status::default();
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
    let body = Bytes::from(a_status.to_ssz()?);
    let request = a
        .call(move |node, now| node.request(now, b_peer, &lean::STATUS, body))
        .await??;
    let (channel, body) = b
        .wait_for("A's status request", |event| match event {
            NodeEvent::InboundRequest { channel, body, .. } => Some((*channel, body.clone())),
            _ => None,
        })
        .await?;
    let _their_status = Status::from_ssz(&body)?;
    let answer = Bytes::from(b_status.to_ssz()?);
    b.call(move |node, now| {
        node.respond(now, channel, ResponseChunk::success(answer))?;
        node.end_response(now, channel)
    })
    .await??;
    let payload = a
        .wait_for("B's status", |event| match event {
            NodeEvent::Response {
                request: r,
                payload,
                ..
            } if *r == request => Some(payload.clone()),
            _ => None,
        })
        .await?;
    let status = Status::from_ssz(&payload)?;

    // Clean shutdown: A closes its connections; B sees the close, then stops too.
    let a_peer = a.peer_id;
    let a_summary = a.shutdown().await?;
    b.wait_for("A's disconnect", |event| match event {
        NodeEvent::Disconnected { peer, .. } if *peer == a_peer => Some(()),
        _ => None,
    })
    .await?;
    let b_summary = b.shutdown().await?;
    Ok(Report {
        block: received,
        status,
        a: a_summary,
        b: b_summary,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), BoxError> {
    let report = run().await?;
    println!(
        "B got a {}-byte block; B's head is slot {}; datagrams sent/received: A {}/{}, B {}/{}",
        report.block.len(),
        report.status.head.slot,
        report.a.datagrams_sent,
        report.a.datagrams_received,
        report.b.datagrams_sent,
        report.b.datagrams_received,
    );
    Ok(())
}
