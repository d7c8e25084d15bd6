//! The two victims, each alone on one thread so that thread's CPU time is the victim's
//! cost: our node (`leanp2p_host::Node`, lean profile) on a `leanp2p-mio` reactor, and a
//! rust-libp2p 0.57 swarm configured as an Ethereum client configures it (QUIC,
//! gossipsub with the lean message id, Anonymous / StrictNoSign, 10 MiB max transmit,
//! identify, ping) on a current-thread tokio runtime. Both subscribe to the lean block
//! topic and count the subscriptions they see.

use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::StreamExt;
use leanp2p_gossipsub::lean as gossip_lean;
use leanp2p_host::{lean, Keypair, Node, NodeEvent, PeerId, TopicHash};
use leanp2p_mio::{Reactor, ReactorConfig, ReactorHandle};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{gossipsub, identify, ping, Swarm, SwarmBuilder};

use crate::support::current_tid;

/// Which implementation is attacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Our node.
    Ours,
    /// The rust-libp2p 0.57 swarm.
    Theirs,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Ours, Kind::Theirs];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Ours => "ours",
            Kind::Theirs => "rust-libp2p",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// The lean block topic string.
pub fn topic_string() -> String {
    gossip_lean::LeanTopic::new(gossip_lean::DEFAULT_NETWORK, gossip_lean::TopicKind::Block)
        .to_topic_string()
}

/// What the victim's thread counted.
#[derive(Default)]
pub struct Tally {
    /// Subscriptions (to any topic, from any peer) the victim reported.
    pub subscribed: AtomicU64,
    /// Events its loop handled (node events / swarm events).
    pub events: AtomicU64,
}

enum Stop {
    Ours(ReactorHandle),
    Theirs(tokio::sync::oneshot::Sender<()>),
}

/// A victim running on its thread.
pub struct Victim {
    pub addr: SocketAddr,
    pub peer: PeerId,
    /// The kernel id of the victim's thread.
    pub tid: u32,
    pub tally: Arc<Tally>,
    stop: Option<Stop>,
    /// Our node's statistics (`Debug`) once stopped; empty for theirs.
    join: Option<JoinHandle<String>>,
}

impl Victim {
    pub fn start(kind: Kind) -> Self {
        match kind {
            Kind::Ours => start_ours(),
            Kind::Theirs => start_theirs(),
        }
    }

    /// Stops the victim and returns what it reports about itself (our node: the gossip
    /// counters that show the defences; theirs: nothing).
    pub fn stop(mut self) -> String {
        self.halt()
    }

    fn halt(&mut self) -> String {
        match self.stop.take() {
            Some(Stop::Ours(handle)) => {
                let _ = handle.shutdown();
            }
            Some(Stop::Theirs(tx)) => {
                let _ = tx.send(());
            }
            None => {}
        }
        self.join
            .take()
            .and_then(|join| join.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        self.halt();
    }
}

fn start_ours() -> Victim {
    let key = Keypair::from_secret_bytes(&[1; 32]).unwrap();
    let mut node = Node::new(
        Instant::now(),
        lean::config("leanp2p-flood-cpu/0.1"),
        &key,
        [1; 32],
    )
    .unwrap();
    node.subscribe(Instant::now(), &TopicHash::new(&topic_string()))
        .unwrap();
    let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut reactor = Reactor::bind(node, &[localhost], ReactorConfig::default()).unwrap();
    let handle = reactor.handle();
    let addr = reactor.local_addrs()[0];
    let tally = Arc::new(Tally::default());
    let (tid_tx, tid_rx) = mpsc::channel();
    let join = {
        let tally = tally.clone();
        std::thread::Builder::new()
            .name("victim-ours".into())
            .spawn(move || {
                tid_tx.send(current_tid()).unwrap();
                reactor
                    .run(None, |_, _, event| {
                        tally.events.fetch_add(1, Ordering::Relaxed);
                        if let NodeEvent::Subscribed { .. } = event {
                            tally.subscribed.fetch_add(1, Ordering::Relaxed);
                        }
                        ControlFlow::Continue(())
                    })
                    .unwrap();
                let stats = reactor.node().stats();
                format!(
                    "gossipsub {:?}; host {:?}",
                    stats.gossipsub.counters, stats.counters
                )
            })
            .unwrap()
    };
    Victim {
        addr,
        peer: key.peer_id(),
        tid: tid_rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        tally,
        stop: Some(Stop::Ours(handle)),
        join: Some(join),
    }
}

/// An Ethereum client's rust-libp2p node, minus req/resp (no flood here touches it).
#[derive(NetworkBehaviour)]
struct Theirs {
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
}

fn their_gossipsub_config() -> gossipsub::Config {
    gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(
                gossip_lean::message_id(m.topic.as_str(), &m.data)
                    .as_bytes()
                    .to_vec(),
            )
        })
        .max_transmit_size(10 * 1024 * 1024)
        .mesh_n(8)
        .mesh_n_low(6)
        .mesh_n_high(12)
        .gossip_lazy(6)
        .history_length(6)
        .history_gossip(3)
        .heartbeat_interval(Duration::from_millis(700))
        .duplicate_cache_time(Duration::from_secs(24))
        .build()
        .unwrap()
}

fn build_theirs() -> Swarm<Theirs> {
    let secret = libp2p::identity::secp256k1::SecretKey::try_from_bytes([2u8; 32]).unwrap();
    let key: libp2p::identity::Keypair = libp2p::identity::secp256k1::Keypair::from(secret).into();
    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_quic()
        .with_behaviour(|key| Theirs {
            gossipsub: gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Anonymous,
                their_gossipsub_config(),
            )
            .unwrap(),
            identify: identify::Behaviour::new(
                identify::Config::new(lean::PROTOCOL_VERSION.to_string(), key.public())
                    .with_agent_version("rust-libp2p-flood-cpu/0.57".to_string()),
            ),
            ping: ping::Behaviour::new(ping::Config::new()),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&gossipsub::IdentTopic::new(topic_string()))
        .unwrap();
    swarm
}

fn start_theirs() -> Victim {
    let tally = Arc::new(Tally::default());
    let (ready_tx, ready_rx) = mpsc::channel();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let join = {
        let tally = tally.clone();
        std::thread::Builder::new()
            .name("victim-theirs".into())
            .spawn(move || {
                let tid = current_tid();
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let mut swarm = build_theirs();
                    let peer = *swarm.local_peer_id();
                    swarm
                        .listen_on("/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap())
                        .unwrap();
                    let mut ready = Some(ready_tx);
                    loop {
                        tokio::select! {
                            event = swarm.select_next_some() => {
                                tally.events.fetch_add(1, Ordering::Relaxed);
                                match event {
                                    SwarmEvent::NewListenAddr { address, .. } => {
                                        let port = address.iter().find_map(|p| match p {
                                            Protocol::Udp(port) => Some(port),
                                            _ => None,
                                        });
                                        if let (Some(tx), Some(port)) = (ready.take(), port) {
                                            let _ = tx.send((port, peer, tid));
                                        }
                                    }
                                    SwarmEvent::Behaviour(TheirsEvent::Gossipsub(
                                        gossipsub::Event::Subscribed { .. },
                                    )) => {
                                        tally.subscribed.fetch_add(1, Ordering::Relaxed);
                                    }
                                    _ => {}
                                }
                            }
                            _ = &mut stop_rx => break,
                        }
                    }
                });
                String::new()
            })
            .unwrap()
    };
    let (port, peer, tid) = ready_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Victim {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        peer: PeerId::from_bytes(&peer.to_bytes()).unwrap(),
        tid,
        tally,
        stop: Some(Stop::Theirs(stop_tx)),
        join: Some(join),
    }
}
