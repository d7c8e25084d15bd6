//! leanp2p-quic ⇄ rust-libp2p (`libp2p` 0.57 with `quic`) over real loopback UDP.
//!
//! Our endpoint is driven by a small blocking loop on a `std::net::UdpSocket` (until
//! runtime-mio exists); the rust-libp2p swarm runs ping on tokio. Both directions are
//! checked: rust-libp2p dials us, we dial rust-libp2p. Each side must see the other's
//! PeerId, and `/ipfs/ping/1.0.0` must work over our QUIC streams both ways (their pings
//! are answered by us, ours by them). Everything is bound to 127.0.0.1 and each test
//! gives up after 30 s.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use leanp2p_identity::{Keypair, PeerId};
use leanp2p_multistream::{Negotiation, ProtocolId, ProtocolSet};
use leanp2p_quic::{Config, ConnId, Datagram, DialFailure, Direction, Endpoint, Event, StreamId};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{identity as their_identity, ping, Multiaddr, Swarm};

const PING: ProtocolId = ProtocolId::from_static("/ipfs/ping/1.0.0");
const PING_SIZE: usize = 32;
const TEST_LIMIT: Duration = Duration::from_secs(30);

fn to_ours(peer: &libp2p::PeerId) -> PeerId {
    PeerId::from_bytes(&peer.to_bytes()).unwrap()
}

fn to_theirs(peer: &PeerId) -> libp2p::PeerId {
    libp2p::PeerId::from_bytes(peer.as_bytes()).unwrap()
}

/// One of our streams, speaking ping.
#[derive(Debug)]
enum PingStream {
    /// They opened it: we negotiate as listener, then echo 32-byte pings.
    Answering {
        negotiation: Option<Negotiation>,
        pending: Vec<u8>,
    },
    /// We opened it: we negotiate as dialer, send one ping and wait for the echo.
    Pinging {
        negotiation: Negotiation,
        payload: [u8; PING_SIZE],
        sent: bool,
        received: Vec<u8>,
    },
}

/// Our endpoint on a real UDP socket plus a tiny ping application.
#[derive(Debug)]
struct Driver {
    socket: UdpSocket,
    endpoint: Endpoint,
    streams: HashMap<(ConnId, StreamId), PingStream>,
    connected: Vec<(ConnId, PeerId, Direction)>,
    failures: Vec<DialFailure>,
    pings_answered: usize,
    pongs_received: usize,
    buf: Vec<u8>,
}

impl Driver {
    fn new(key: &Keypair) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let endpoint = Endpoint::new(Config::default(), key, [21; 32]).unwrap();
        Self {
            socket,
            endpoint,
            streams: HashMap::new(),
            connected: Vec::new(),
            failures: Vec::new(),
            pings_answered: 0,
            pongs_received: 0,
            buf: Vec::new(),
        }
    }

    fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr().unwrap()
    }

    /// Runs the loop until `done` holds or `deadline` passes.
    fn run_until(&mut self, deadline: Instant, mut done: impl FnMut(&Self) -> bool) {
        let mut rbuf = vec![0u8; 65_536];
        while Instant::now() < deadline {
            self.drain(Instant::now());
            if done(self) {
                return;
            }
            let now = Instant::now();
            let wait = self
                .endpoint
                .poll_timeout()
                .map_or(Duration::from_millis(20), |at| {
                    at.saturating_duration_since(now)
                })
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            self.socket.set_read_timeout(Some(wait)).unwrap();
            if let Ok((len, from)) = self.socket.recv_from(&mut rbuf) {
                self.endpoint.handle_datagram(
                    Instant::now(),
                    Datagram {
                        remote: from,
                        local_ip: None,
                        ecn: None,
                        data: &rbuf[..len],
                    },
                );
            }
            let now = Instant::now();
            if self.endpoint.poll_timeout().is_some_and(|at| at <= now) {
                self.endpoint.handle_timeout(now);
            }
        }
    }

    fn drain(&mut self, now: Instant) {
        loop {
            while let Some(transmit) = self.endpoint.poll_transmit(now, &mut self.buf) {
                let bytes = &self.buf[..transmit.size];
                let segment = transmit.segment_size.unwrap_or(transmit.size).max(1);
                for datagram in bytes.chunks(segment) {
                    let _ = self.socket.send_to(datagram, transmit.destination);
                }
            }
            let Some(event) = self.endpoint.poll_event() else {
                return;
            };
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected {
                conn,
                peer,
                direction,
                ..
            } => {
                self.connected.push((conn, peer, direction));
                self.start_ping(conn);
            }
            Event::DialFailed { error, .. } => self.failures.push(error),
            Event::StreamOpened { conn, stream } => {
                let listener = Negotiation::listener(
                    ProtocolSet::single(PING).unwrap(),
                    &leanp2p_multistream::Config::default(),
                )
                .unwrap();
                self.streams.insert(
                    (conn, stream),
                    PingStream::Answering {
                        negotiation: Some(listener),
                        pending: Vec::new(),
                    },
                );
                self.flush_negotiation(conn, stream);
            }
            Event::Readable { conn, stream } => {
                while let Ok(Some(bytes)) = self.endpoint.read(conn, stream, 64 * 1024) {
                    self.on_bytes(conn, stream, &bytes);
                }
            }
            _ => {}
        }
    }

    fn start_ping(&mut self, conn: ConnId) {
        let stream = self.endpoint.open_bi(conn).unwrap();
        let dialer = Negotiation::dialer(
            ProtocolSet::single(PING).unwrap(),
            &leanp2p_multistream::Config::default(),
        )
        .unwrap();
        self.streams.insert(
            (conn, stream),
            PingStream::Pinging {
                negotiation: dialer,
                payload: [0x5a; PING_SIZE],
                sent: false,
                received: Vec::new(),
            },
        );
        self.flush_negotiation(conn, stream);
    }

    fn write_all(&mut self, conn: ConnId, stream: StreamId, bytes: &[u8]) {
        let written = self.endpoint.write(conn, stream, bytes).unwrap();
        assert_eq!(written, bytes.len(), "tiny writes fit the window");
    }

    /// Writes whatever the stream's negotiation wants to send; sends our ping once the
    /// protocol may be used.
    fn flush_negotiation(&mut self, conn: ConnId, stream: StreamId) {
        let mut out = Vec::new();
        let mut send_ping = None;
        match self.streams.get_mut(&(conn, stream)) {
            Some(PingStream::Answering {
                negotiation: Some(negotiation),
                ..
            }) => {
                while let Some(bytes) = negotiation.poll_output() {
                    out.extend_from_slice(&bytes);
                }
            }
            Some(PingStream::Pinging {
                negotiation,
                payload,
                sent,
                ..
            }) => {
                while let Some(bytes) = negotiation.poll_output() {
                    out.extend_from_slice(&bytes);
                }
                if !*sent && negotiation.ready_to_send().is_some() {
                    *sent = true;
                    send_ping = Some(*payload);
                }
            }
            _ => {}
        }
        if let Some(payload) = send_ping {
            out.extend_from_slice(&payload);
        }
        if !out.is_empty() {
            self.write_all(conn, stream, &out);
        }
    }

    fn on_bytes(&mut self, conn: ConnId, stream: StreamId, bytes: &[u8]) {
        // Negotiation answers first, then pong payloads, in stream order.
        let mut echo = Vec::new();
        match self.streams.get_mut(&(conn, stream)) {
            Some(PingStream::Answering {
                negotiation,
                pending,
            }) => {
                if let Some(n) = negotiation {
                    n.handle_input(bytes).unwrap();
                    while let Some(out) = n.poll_output() {
                        echo.extend_from_slice(&out);
                    }
                    if let Some(outcome) = n.outcome() {
                        pending.extend_from_slice(&outcome.unwrap().leftover);
                        *negotiation = None;
                    }
                } else {
                    pending.extend_from_slice(bytes);
                }
                while negotiation.is_none() && pending.len() >= PING_SIZE {
                    echo.extend(pending.drain(..PING_SIZE));
                    self.pings_answered += 1;
                }
            }
            Some(PingStream::Pinging {
                negotiation,
                received,
                payload,
                ..
            }) => {
                if negotiation.is_finished() {
                    received.extend_from_slice(bytes);
                } else {
                    negotiation.handle_input(bytes).unwrap();
                    if let Some(outcome) = negotiation.outcome() {
                        received.extend_from_slice(&outcome.unwrap().leftover);
                    }
                }
                if received.len() >= PING_SIZE {
                    assert_eq!(&received[..PING_SIZE], payload, "echo matches");
                    received.drain(..PING_SIZE);
                    self.pongs_received += 1;
                }
            }
            None => return,
        }
        // A dialer's negotiation may have become ready to send, or a listener may owe output.
        self.flush_negotiation(conn, stream);
        if !echo.is_empty() {
            self.write_all(conn, stream, &echo);
        }
    }
}

fn their_swarm(key: their_identity::Keypair) -> Swarm<ping::Behaviour> {
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_quic()
        .with_behaviour(|_| {
            ping::Behaviour::new(ping::Config::new().with_interval(Duration::from_millis(300)))
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build()
}

/// What the rust-libp2p side observed.
#[derive(Default, Debug)]
struct TheirView {
    established_with: Option<libp2p::PeerId>,
    endpoint_was_dialer: Option<bool>,
    pong: bool,
    log: Vec<String>,
}

/// Drives the swarm until it saw a connection to `ours` and one successful ping over it
/// (so its pings were answered by our QUIC streams), then raises `done` and returns.
async fn run_theirs(
    swarm: &mut Swarm<ping::Behaviour>,
    ours: libp2p::PeerId,
    done: Arc<AtomicBool>,
    view: &mut TheirView,
) {
    while !(view.established_with.is_some() && view.pong) {
        let event = swarm.select_next_some().await;
        view.log.push(format!("{event:?}"));
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                view.established_with = Some(peer_id);
                view.endpoint_was_dialer = Some(endpoint.is_dialer());
            }
            SwarmEvent::Behaviour(ping::Event {
                peer,
                result: Ok(_),
                ..
            }) if peer == ours => view.pong = true,
            _ => {}
        }
    }
    done.store(true, Ordering::SeqCst);
}

/// Keeps the swarm serving (our ping to them) until our driver thread has finished.
async fn serve_until<T>(swarm: &mut Swarm<ping::Behaviour>, ours: &std::thread::JoinHandle<T>) {
    while !ours.is_finished() {
        let _ = tokio::time::timeout(Duration::from_millis(20), swarm.select_next_some()).await;
    }
}

fn listen_port(address: &Multiaddr) -> u16 {
    address
        .iter()
        .find_map(|p| match p {
            Protocol::Udp(port) => Some(port),
            _ => None,
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_libp2p_dials_our_endpoint() {
    let our_key = Keypair::from_secret_bytes(&[31; 32]).unwrap();
    let our_peer = our_key.peer_id();
    let their_key = their_identity::Keypair::ed25519_from_bytes([32u8; 32]).unwrap();
    let their_peer = their_key.public().to_peer_id();
    let mut swarm = their_swarm(their_key);

    let mut driver = Driver::new(&our_key);
    let address: Multiaddr = format!(
        "/ip4/127.0.0.1/udp/{}/quic-v1/p2p/{}",
        driver.local_addr().port(),
        to_theirs(&our_peer)
    )
    .parse()
    .unwrap();
    swarm.dial(address).unwrap();

    let their_done = Arc::new(AtomicBool::new(false));
    let flag = their_done.clone();
    let ours = std::thread::spawn(move || {
        let deadline = Instant::now() + TEST_LIMIT;
        driver.run_until(deadline, |d| {
            flag.load(Ordering::SeqCst) && d.pongs_received > 0 && d.pings_answered > 0
        });
        driver
    });
    let mut their_view = TheirView::default();
    let theirs = tokio::time::timeout(
        TEST_LIMIT,
        run_theirs(
            &mut swarm,
            to_theirs(&our_peer),
            their_done,
            &mut their_view,
        ),
    );
    let finished = theirs.await.is_ok();
    serve_until(&mut swarm, &ours).await;
    let driver = ours.join().unwrap();
    assert!(
        finished,
        "rust-libp2p side did not finish: {their_view:#?}\n{driver:#?}"
    );

    assert_eq!(their_view.established_with, Some(to_theirs(&our_peer)));
    assert_eq!(their_view.endpoint_was_dialer, Some(true));
    assert_eq!(driver.connected.len(), 1, "{:?}", driver.connected);
    assert_eq!(driver.connected[0].1, to_ours(&their_peer));
    assert_eq!(driver.connected[0].2, Direction::Inbound);
    assert!(driver.pings_answered > 0, "their pings reached us");
    assert!(
        driver.pongs_received > 0,
        "our ping was echoed by rust-libp2p"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_endpoint_dials_rust_libp2p() {
    let our_key = Keypair::from_secret_bytes(&[33; 32]).unwrap();
    let our_peer = our_key.peer_id();
    let secret = their_identity::secp256k1::SecretKey::try_from_bytes([34u8; 32]).unwrap();
    let their_key = their_identity::Keypair::from(their_identity::secp256k1::Keypair::from(secret));
    let their_peer = their_key.public().to_peer_id();
    let mut swarm = their_swarm(their_key);
    swarm
        .listen_on("/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap())
        .unwrap();
    let port = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break listen_port(&address);
        }
    };

    let mut driver = Driver::new(&our_key);
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let expected = to_ours(&their_peer);
    let their_done = Arc::new(AtomicBool::new(false));
    let flag = their_done.clone();
    let ours = std::thread::spawn(move || {
        let conn = driver
            .endpoint
            .dial(Instant::now(), target, Some(expected))
            .unwrap();
        let deadline = Instant::now() + TEST_LIMIT;
        driver.run_until(deadline, |d| {
            flag.load(Ordering::SeqCst) && d.pongs_received > 0 && d.pings_answered > 0
        });
        (driver, conn)
    });
    let mut their_view = TheirView::default();
    let theirs = tokio::time::timeout(
        TEST_LIMIT,
        run_theirs(
            &mut swarm,
            to_theirs(&our_peer),
            their_done,
            &mut their_view,
        ),
    );
    let finished = theirs.await.is_ok();
    serve_until(&mut swarm, &ours).await;
    let (driver, conn) = ours.join().unwrap();
    assert!(
        finished,
        "rust-libp2p side did not finish: {their_view:#?}\n{driver:#?}"
    );

    assert_eq!(their_view.established_with, Some(to_theirs(&our_peer)));
    assert_eq!(their_view.endpoint_was_dialer, Some(false));
    assert_eq!(
        driver.connected,
        vec![(conn, expected, Direction::Outbound)]
    );
    assert!(driver.pings_answered > 0, "their pings reached us");
    assert!(
        driver.pongs_received > 0,
        "our ping was echoed by rust-libp2p"
    );
    assert!(driver.endpoint.connection_stats(conn).unwrap().rtt > Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialing_rust_libp2p_with_the_wrong_peer_id_fails() {
    let our_key = Keypair::from_secret_bytes(&[35; 32]).unwrap();
    let their_key = their_identity::Keypair::ed25519_from_bytes([36u8; 32]).unwrap();
    let their_peer = to_ours(&their_key.public().to_peer_id());
    let mut swarm = their_swarm(their_key);
    swarm
        .listen_on("/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap())
        .unwrap();
    let port = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break listen_port(&address);
        }
    };
    let serve = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });

    let wrong = Keypair::from_secret_bytes(&[37; 32]).unwrap().peer_id();
    let driver = tokio::task::spawn_blocking(move || {
        let mut driver = Driver::new(&our_key);
        let target = SocketAddr::from(([127, 0, 0, 1], port));
        driver
            .endpoint
            .dial(Instant::now(), target, Some(wrong))
            .unwrap();
        driver.run_until(Instant::now() + TEST_LIMIT, |d| !d.failures.is_empty());
        driver
    })
    .await
    .unwrap();
    serve.abort();
    assert!(
        driver.connected.is_empty(),
        "no connection with the wrong PeerId"
    );
    assert_eq!(
        driver.failures,
        vec![DialFailure::WrongPeerId {
            expected: wrong,
            actual: Some(their_peer)
        }]
    );
}
