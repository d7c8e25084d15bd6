//! Discovery on the reactor over real UDP on 127.0.0.1: 4 nodes of one network, node 0
//! the only bootnode, every node ends up connected (libp2p over QUIC) to the 3 others
//! found by discv5; a fifth node of another network is discovered but filtered out, so
//! nobody dials it. Bounded by a wall-clock deadline.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use leanp2p_discv5::{Config as DiscoveryMachineConfig, Discv5};
use leanp2p_host::{lean, Keypair, Node, NodeEvent, PeerId};
use leanp2p_identity::Enr;
use leanp2p_mio::{
    spawn, DiscoveryConfig, DiscoverySocket, Reactor, ReactorConfig, SpawnedReactor,
};

const BOUND: Duration = Duration::from_secs(30);
const NETWORK: &[u8] = b"lean-test-net-a";
const OTHER_NETWORK: &[u8] = b"lean-test-net-b";

struct Started {
    reactor: SpawnedReactor,
    peer: PeerId,
    enr: Enr,
}

/// A node with discovery; `bootnodes` are discovery records, `target` its peer target.
fn start(secret: u8, network: &[u8], bootnodes: Vec<Enr>, target: usize) -> Started {
    let key = Keypair::from_secret_bytes(&[secret; 32]).unwrap();
    let mut config = lean::config("leanp2p-test");
    config.conn_manager.target_peers = target;
    let node = Node::new(Instant::now(), config, &key, [secret; 32]).unwrap();
    let localhost: SocketAddr = (Ipv4Addr::LOCALHOST, 0).into();
    let reactor = Reactor::bind(node, &[localhost], ReactorConfig::default()).unwrap();
    let socket = DiscoverySocket::bind(localhost).unwrap();
    let enr = Enr::builder()
        .seq(1)
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(socket.local_addr().port())
        .quic4(reactor.local_addrs()[0].port())
        .eth2(network)
        .build(&key)
        .unwrap();
    let machine_config = DiscoveryMachineConfig {
        table_ip_limits: None, // everything is 127.0.0.1
        ..DiscoveryMachineConfig::default()
    };
    let machine = Discv5::new(
        Instant::now(),
        machine_config,
        key.clone(),
        enr.clone(),
        [secret; 32],
    )
    .unwrap();
    let wanted = network.to_vec();
    let discovery = DiscoveryConfig {
        bootnodes,
        lookup_interval: Duration::from_millis(300),
        filter: Some(Arc::new(move |enr: &Enr| enr.eth2() == Some(&wanted[..]))),
        ..DiscoveryConfig::default()
    };
    let reactor = reactor.with_discovery(machine, socket, discovery).unwrap();
    Started {
        reactor: spawn(reactor, &format!("discovery-{secret}")).unwrap(),
        peer: key.peer_id(),
        enr,
    }
}

#[test]
fn four_nodes_find_and_connect_to_each_other_through_one_bootnode() {
    let boot = start(1, NETWORK, Vec::new(), 3);
    let mut nodes = vec![boot];
    for secret in 2..=4 {
        let bootnodes = vec![nodes[0].enr.clone()];
        nodes.push(start(secret, NETWORK, bootnodes, 3));
    }
    // Another network: discoverable through the same bootnode, never dialled (it has no
    // peer target of its own, and the others' filter refuses its record).
    let stranger = start(9, OTHER_NETWORK, vec![nodes[0].enr.clone()], 0);

    let peers: Vec<PeerId> = nodes.iter().map(|n| n.peer).collect();
    let mut connected: Vec<BTreeSet<PeerId>> = vec![BTreeSet::new(); nodes.len()];
    let mut ever: BTreeMap<usize, BTreeSet<PeerId>> = BTreeMap::new();
    let deadline = Instant::now() + BOUND;
    let complete = |connected: &[BTreeSet<PeerId>]| {
        connected.iter().enumerate().all(|(i, set)| {
            peers
                .iter()
                .enumerate()
                .all(|(j, p)| i == j || set.contains(p))
        })
    };
    while !complete(&connected) {
        assert!(
            Instant::now() < deadline,
            "not everyone connected within {BOUND:?}: {connected:?}"
        );
        for (i, node) in nodes.iter().enumerate() {
            while let Ok((_, event)) = node.reactor.events.try_recv() {
                match event {
                    NodeEvent::Connected { peer, .. } => {
                        connected[i].insert(peer);
                        ever.entry(i).or_default().insert(peer);
                    }
                    NodeEvent::Disconnected { peer, .. } => {
                        connected[i].remove(&peer);
                    }
                    _ => {}
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for (i, seen) in &ever {
        assert!(
            !seen.contains(&stranger.peer),
            "node {i} connected to the other network's node"
        );
    }

    // Discovery did the work: every node's address book holds the 3 others, and nothing
    // of the other network.
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, node) in nodes.iter().enumerate() {
        let tx = tx.clone();
        node.reactor
            .handle
            .run(move |n, _| {
                let book: BTreeSet<PeerId> = n.address_book().map(|(p, _)| *p).collect();
                tx.send((i, book)).unwrap();
            })
            .unwrap();
    }
    for _ in 0..nodes.len() {
        let (i, book) = rx.recv_timeout(BOUND).unwrap();
        for (j, peer) in peers.iter().enumerate() {
            assert!(
                i == j || book.contains(peer),
                "node {i} book lacks node {j}"
            );
        }
        assert!(!book.contains(&stranger.peer));
    }

    for (i, node) in nodes.into_iter().chain([stranger]).enumerate() {
        node.reactor.handle.shutdown().unwrap();
        let reactor = node.reactor.join.join().unwrap().unwrap();
        let stats = reactor.discovery_stats().unwrap();
        // The bootnode starts with an empty table: its first lookups have nobody to ask.
        if i > 0 {
            assert!(stats.lookups_started >= 1, "node {i}: {stats:?}");
        }
        if i < 4 {
            assert!(stats.addresses_fed >= 1, "node {i}: {stats:?}");
        } else {
            // The stranger's filter refuses every record of the other network.
            assert_eq!(stats.addresses_fed, 0, "{stats:?}");
            assert!(stats.records_skipped >= 1, "{stats:?}");
        }
        assert!(!reactor.discovery().unwrap().table().is_empty());
    }
}
