//! Both sides of the discv5 interop tests: our sans-IO machine on a socket thread, and
//! the `discv5` crate (sigp) on tokio, with record conversions between the two.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use discv5::enr::{CombinedKey, Enr as SigpEnr, NodeId as SigpNodeId};
use discv5::{ConfigBuilder, Discv5 as SigpDiscv5, ListenConfig};
use leanp2p_discv5::{Config, Discv5, Event, NodeId};
use leanp2p_identity::{Enr, Keypair};

/// Every single wait of a test is bounded by this.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Our machine, its socket thread, and the events it produced.
///
/// The thread reads a blocking `std::net::UdpSocket` with a 5 ms timeout and the wall
/// clock (the sans-IO machine itself never reads it), applying the drain rule after
/// every datagram or timer.
pub struct Ours {
    state: Arc<Mutex<(Discv5, Vec<Event>)>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub key: Keypair,
    pub enr: Enr,
    pub addr: SocketAddr,
}

/// The machine configuration of the tests: no /24 limits (everything is 127.0.0.1).
pub fn loopback_config() -> Config {
    Config {
        table_ip_limits: None,
        ..Config::default()
    }
}

impl Ours {
    /// A node with the secp256k1 key `secret`, on a fresh 127.0.0.1 port.
    pub fn start(secret: [u8; 32]) -> Self {
        Self::start_with(secret, loopback_config())
    }

    /// [`Ours::start`] with a machine configuration.
    pub fn start_with(secret: [u8; 32], config: Config) -> Self {
        // `RUST_LOG=leanp2p_discv5=trace` shows what our machine did.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = socket.local_addr().unwrap();
        let key = Keypair::from_secret_bytes(&secret).unwrap();
        let enr = Enr::builder()
            .seq(1)
            .ip4(Ipv4Addr::LOCALHOST)
            .udp4(addr.port())
            .build(&key)
            .unwrap();
        let machine =
            Discv5::new(Instant::now(), config, key.clone(), enr.clone(), secret).unwrap();
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
            key,
            enr,
            addr,
        }
    }

    /// Our node ID.
    pub fn id(&self) -> NodeId {
        NodeId(self.enr.node_id())
    }

    /// Runs `f` on the machine with the current time (the socket thread then drains it).
    pub fn with<T>(&self, f: impl FnOnce(&mut Discv5, Instant) -> T) -> T {
        f(&mut self.state.lock().unwrap().0, Instant::now())
    }

    /// Waits for (and removes) the first event that `pick` maps to `Some`.
    pub async fn wait_for<T>(&self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            {
                let mut guard = self.state.lock().unwrap();
                if let Some(pos) = guard.1.iter().position(|e| pick(e).is_some()) {
                    let event = guard.1.remove(pos);
                    return pick(&event).unwrap();
                }
            }
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
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

/// A started `discv5` crate node on a fresh 127.0.0.1 port, with short query timeouts.
pub async fn start_sigp(secret: [u8; 32]) -> (SigpDiscv5, SigpEnr<CombinedKey>) {
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
    .query_timeout(Duration::from_secs(5))
    .build();
    let mut node: SigpDiscv5 = SigpDiscv5::new(enr.clone(), key, config).unwrap();
    node.start().await.unwrap();
    (node, enr)
}

/// Our record as the `enr` crate sees it (through its text form).
pub fn to_sigp(enr: &Enr) -> SigpEnr<CombinedKey> {
    enr.to_text().parse().unwrap()
}

/// The `enr` crate's record as ours (through its text form).
pub fn from_sigp(enr: &SigpEnr<CombinedKey>) -> Enr {
    enr.to_base64().parse().unwrap()
}

/// Their node ID as ours.
pub fn sigp_id(node: &SigpDiscv5) -> NodeId {
    NodeId(node.local_enr().node_id().raw())
}

/// Our node ID as theirs.
pub fn to_sigp_id(id: NodeId) -> SigpNodeId {
    SigpNodeId::new(&id.0)
}

/// Waits (bounded) until `check` holds, polling every 10 ms.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
