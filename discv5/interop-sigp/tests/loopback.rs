//! leanp2p-discv5 against the discv5 crate (sigp), over 127.0.0.1.
//!
//! Our machine runs in a thread with a blocking `std::net::UdpSocket` and the wall clock
//! (the sans-IO machine itself never reads it); the discv5 crate runs on tokio. Every
//! wait is bounded by `DEADLINE`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use discv5::enr::{CombinedKey, Enr as SigpEnr, NodeId as SigpNodeId};
use discv5::{ConfigBuilder, Discv5 as SigpDiscv5, ListenConfig};
use leanp2p_discv5::{Config, Discv5, Event, NodeId};
use leanp2p_identity::{Enr, Keypair};

const DEADLINE: Duration = Duration::from_secs(10);

/// Our machine, its socket thread, and the events it produced.
struct Ours {
    state: Arc<Mutex<(Discv5, Vec<Event>)>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    enr: Enr,
    addr: SocketAddr,
}

impl Ours {
    fn start(secret: [u8; 32]) -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = socket.local_addr().unwrap();
        let key = Keypair::from_secret_bytes(&secret).unwrap();
        let enr = Enr::builder()
            .ip4(Ipv4Addr::LOCALHOST)
            .udp4(addr.port())
            .build(&key)
            .unwrap();
        let config = Config {
            table_ip_limits: None,
            ..Config::default()
        };
        let machine = Discv5::new(Instant::now(), config, key, enr.clone(), [7; 32]).unwrap();
        let state = Arc::new(Mutex::new((machine, Vec::new())));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                socket
                    .set_read_timeout(Some(Duration::from_millis(5)))
                    .unwrap();
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::Relaxed) {
                    let received = socket.recv_from(&mut buf).ok();
                    let mut guard = state.lock().unwrap();
                    let (machine, events) = &mut *guard;
                    let now = Instant::now();
                    if let Some((n, from)) = received {
                        machine.handle_packet(now, from, &buf[..n]);
                    }
                    if machine.poll_timeout().is_some_and(|t| t <= now) {
                        machine.handle_timeout(now);
                    }
                    while let Some(t) = machine.poll_transmit() {
                        let _ = socket.send_to(&t.bytes, t.dest);
                    }
                    while let Some(e) = machine.poll_event() {
                        events.push(e);
                    }
                }
            })
        };
        Self {
            state,
            stop,
            thread: Some(thread),
            enr,
            addr,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Discv5) -> T) -> T {
        f(&mut self.state.lock().unwrap().0)
    }

    /// Waits for (and removes) the first event that `pick` maps to `Some`.
    async fn wait_for<T>(&self, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            {
                let mut guard = self.state.lock().unwrap();
                if let Some(pos) = guard.1.iter().position(|e| pick(e).is_some()) {
                    let event = guard.1.remove(pos);
                    return pick(&event).unwrap();
                }
            }
            assert!(start.elapsed() < DEADLINE, "timed out waiting for an event");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn start_sigp(secret: [u8; 32]) -> (SigpDiscv5, SigpEnr<CombinedKey>) {
    let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let mut secret = secret;
    let key = CombinedKey::secp256k1_from_bytes(&mut secret).unwrap();
    let enr = SigpEnr::builder()
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(port)
        .build(&key)
        .unwrap();
    let config = ConfigBuilder::new(ListenConfig::Ipv4 {
        ip: Ipv4Addr::LOCALHOST,
        port,
    })
    .build();
    let mut node: SigpDiscv5 = SigpDiscv5::new(enr.clone(), key, config).unwrap();
    node.start().await.unwrap();
    (node, enr)
}

fn to_sigp(enr: &Enr) -> SigpEnr<CombinedKey> {
    enr.to_text().parse().unwrap()
}

fn from_sigp(enr: &SigpEnr<CombinedKey>) -> Enr {
    enr.to_base64().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_ping_find_and_talk_to_sigp() {
    let (sigp, sigp_enr) = start_sigp([0x11; 32]).await;
    let mut sigp_events = sigp.event_stream().await.unwrap();
    let ours = Ours::start([0x22; 32]);
    let theirs = from_sigp(&sigp_enr);
    let their_id = NodeId(theirs.node_id());
    assert_eq!(their_id.0, sigp_enr.node_id().raw());

    ours.with(|m| m.add_enr(theirs.clone())).unwrap();
    let ping = ours.with(|m| m.ping(Instant::now(), their_id)).unwrap();
    let observed = ours
        .wait_for(|e| match e {
            Event::Pong {
                request, observed, ..
            } if *request == ping => Some(*observed),
            _ => None,
        })
        .await;
    assert_eq!(observed, ours.addr);

    let find = ours
        .with(|m| m.find_node(Instant::now(), their_id, &[0]))
        .unwrap();
    let enrs = ours
        .wait_for(|e| match e {
            Event::Nodes { request, enrs, .. } if *request == find => Some(enrs.clone()),
            _ => None,
        })
        .await;
    assert_eq!(enrs, vec![theirs.clone()]);

    let talk = ours
        .with(|m| m.talk_request(Instant::now(), their_id, b"echo", b"hello"))
        .unwrap();
    // The discv5 crate hands the request to its application: answer it.
    let start = Instant::now();
    loop {
        let event = tokio::time::timeout(DEADLINE, sigp_events.recv())
            .await
            .expect("sigp event")
            .expect("sigp stream open");
        if let discv5::Event::TalkRequest(req) = event {
            assert_eq!((req.protocol(), req.body()), (&b"echo"[..], &b"hello"[..]));
            req.respond(b"world".to_vec()).unwrap();
            break;
        }
        assert!(start.elapsed() < DEADLINE);
    }
    let response = ours
        .wait_for(|e| match e {
            Event::TalkResponse {
                request, response, ..
            } if *request == talk => Some(response.clone()),
            _ => None,
        })
        .await;
    assert_eq!(response, b"world");
    assert_eq!(ours.with(|m| m.stats().handshakes_invalid), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigp_pings_and_finds_us() {
    let (sigp, _) = start_sigp([0x33; 32]).await;
    let ours = Ours::start([0x44; 32]);
    let our_enr = to_sigp(&ours.enr);
    assert_eq!(
        our_enr.node_id(),
        SigpNodeId::new(&NodeId(ours.enr.node_id()).0)
    );

    let pong = tokio::time::timeout(DEADLINE, sigp.send_ping(our_enr.clone()))
        .await
        .expect("ping in time")
        .expect("pong");
    assert_eq!(pong.enr_seq, ours.enr.seq());
    assert_eq!(pong.ip, std::net::IpAddr::V4(Ipv4Addr::LOCALHOST));

    let found = tokio::time::timeout(
        DEADLINE,
        sigp.find_node_designated_peer(our_enr.clone(), vec![0]),
    )
    .await
    .expect("findnode in time")
    .expect("nodes");
    assert_eq!(found, vec![our_enr.clone()]);

    // Our machine's table holds the discv5-crate node (verified session, matching
    // address): a FINDNODE at its distance returns it.
    let sigp_id = NodeId(sigp.local_enr().node_id().raw());
    let distance = u64::from(NodeId(ours.enr.node_id()).log_distance(&sigp_id));
    assert!(ours.with(|m| m.table().get(&sigp_id).is_some()));
    let found = tokio::time::timeout(
        DEADLINE,
        sigp.find_node_designated_peer(our_enr.clone(), vec![distance]),
    )
    .await
    .expect("findnode in time")
    .expect("nodes");
    assert_eq!(found, vec![sigp.local_enr()]);

    // (The discv5 crate's `talk_req` takes a `NodeContact` that its public API cannot
    // build, so TALKREQ is only tested in the other direction.)
}
