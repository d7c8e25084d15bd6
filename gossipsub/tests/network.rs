//! A tiny in-memory network of ≥ 20 routers: frames travel through `FrameDecoder`s, time
//! is virtual, every RNG is seeded.

#![allow(clippy::unwrap_used)] // test harness helpers outside #[test] fns

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_gossipsub::wire::FrameDecoder;
use leanp2p_gossipsub::{
    lean, Config, Event, Gossipsub, MessageId, PeerConnection, ProtocolVersion, TopicHash,
    Validation,
};
use leanp2p_identity::{Keypair, PeerId};

struct Net {
    nodes: Vec<Gossipsub>,
    ids: Vec<PeerId>,
    index: BTreeMap<PeerId, usize>,
    /// Stream decoder per directed link (from, to).
    decoders: BTreeMap<(usize, usize), FrameDecoder>,
    now: Instant,
    /// (node, message id) deliveries to the application.
    delivered: Vec<(usize, MessageId)>,
    frames: u64,
    /// Hash of every (from, to, frame) in delivery order: the byte-level trace.
    trace: std::collections::hash_map::DefaultHasher,
}

impl Net {
    fn new(n: usize, cfg: &Config, seed: u8) -> Self {
        let now = Instant::now();
        let ids: Vec<PeerId> = (1..=n as u8)
            .map(|i| Keypair::from_secret_bytes(&[i; 32]).unwrap().peer_id())
            .collect();
        let nodes = (0..n)
            .map(|i| Gossipsub::new(now, cfg.clone(), [seed.wrapping_add(i as u8); 32]).unwrap())
            .collect();
        let index = ids.iter().enumerate().map(|(i, p)| (*p, i)).collect();
        Self {
            nodes,
            ids,
            index,
            decoders: BTreeMap::new(),
            now,
            delivered: Vec::new(),
            frames: 0,
            trace: std::collections::hash_map::DefaultHasher::new(),
        }
    }

    /// `a` dials `b`.
    fn connect(&mut self, a: usize, b: usize) {
        let max = self.nodes[a].config().limits.max_transmit_size;
        self.decoders.insert((a, b), FrameDecoder::new(max));
        self.decoders.insert((b, a), FrameDecoder::new(max));
        let (pa, pb) = (self.ids[a], self.ids[b]);
        self.nodes[a]
            .handle_peer_connected(
                self.now,
                pb,
                PeerConnection::new(ProtocolVersion::V1_2, true),
            )
            .unwrap();
        self.nodes[b]
            .handle_peer_connected(
                self.now,
                pa,
                PeerConnection::new(ProtocolVersion::V1_2, false),
            )
            .unwrap();
    }

    /// Delivers frames and events until quiet (zero latency), accepting every message.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(out) = self.nodes[i].poll_outbound() {
                    moved = true;
                    self.frames += 1;
                    let j = self.index[&out.to];
                    std::hash::Hash::hash(&(i, j, &out.frame[..]), &mut self.trace);
                    let mut bytes = out.frame;
                    let decoder = self.decoders.get_mut(&(i, j)).unwrap();
                    while !bytes.is_empty() {
                        if let Some(frame) = decoder.decode(&mut bytes).unwrap() {
                            // Every frame we emit must be fully valid.
                            self.nodes[j]
                                .handle_rpc(self.now, self.ids[i], frame)
                                .unwrap();
                        }
                    }
                }
            }
            for i in 0..self.nodes.len() {
                while let Some(event) = self.nodes[i].poll_event() {
                    moved = true;
                    if let Event::Message {
                        id,
                        propagation_source,
                        ..
                    } = event
                    {
                        self.delivered.push((i, id.clone()));
                        self.nodes[i]
                            .report_validation(
                                self.now,
                                &id,
                                propagation_source,
                                Validation::Accept,
                            )
                            .unwrap();
                    }
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Advances virtual time to the earliest deadline (at most `max`), runs timers, pumps.
    fn step(&mut self, max: Duration) {
        let deadline = self
            .nodes
            .iter()
            .filter_map(|n| n.poll_timeout())
            .min()
            .unwrap();
        self.now = deadline.clamp(self.now, self.now + max);
        for node in &mut self.nodes {
            node.handle_timeout(self.now);
        }
        self.pump();
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step(end - self.now);
        }
    }
}

fn build(n: usize, degree: usize, seed: u8) -> Net {
    let mut cfg = lean::config();
    cfg.heartbeat_initial_delay = Duration::from_millis(100);
    let mut net = Net::new(n, &cfg, seed);
    // Ring plus chords: deterministic, connected, every node has ≥ degree neighbours.
    let mut edges = BTreeSet::new();
    for i in 0..n {
        for k in 1..=degree / 2 {
            let j = (i + k * 3 + k / 2) % n;
            let j = if j == i { (i + 1) % n } else { j };
            edges.insert((i.min(j), i.max(j)));
        }
        edges.insert((i.min((i + 1) % n), i.max((i + 1) % n)));
    }
    for (a, b) in edges {
        net.connect(a, b);
    }
    net.pump();
    net
}

#[test]
fn published_messages_reach_every_subscriber_exactly_once_and_meshes_settle() {
    let n = 24;
    let mut net = build(n, 14, 1);
    let topic = lean::LeanTopic::new(lean::DEFAULT_NETWORK, lean::TopicKind::Block).hash();
    for i in 0..n {
        let now = net.now;
        net.nodes[i].subscribe(now, &topic).unwrap();
    }
    net.pump();
    net.run_for(Duration::from_secs(10));

    for (i, node) in net.nodes.iter().enumerate() {
        let mesh = node.mesh_peers(&topic).count();
        assert!((6..=12).contains(&mesh), "node {i} mesh {mesh}");
        assert_eq!(node.stats().topics[&topic].mesh_peers, mesh);
    }
    // Mesh links are symmetric once settled.
    for (i, node) in net.nodes.iter().enumerate() {
        for p in node.mesh_peers(&topic) {
            let j = net.index[p];
            assert!(
                net.nodes[j].mesh_peers(&topic).any(|q| *q == net.ids[i]),
                "{i} -> {j} asymmetric"
            );
        }
    }

    // Publish from several nodes, with payloads above the IDONTWANT threshold too.
    let mut ids = Vec::new();
    for (k, origin) in [0usize, 7, 13, 23].into_iter().enumerate() {
        // Incompressible pseudo-random SSZ so that some payloads exceed 1 000 bytes.
        let mut x = 0x9e37_79b9_u32.wrapping_mul(k as u32 + 1);
        let ssz: Vec<u8> = (0..100 + 1500 * k)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        let data = lean::snappy_compress(&ssz, lean::MAX_PAYLOAD_SIZE).unwrap();
        let now = net.now;
        let id = net.nodes[origin]
            .publish(now, &topic, Bytes::from(data))
            .unwrap();
        ids.push((origin, id));
        net.pump();
    }
    net.run_for(Duration::from_secs(5));

    for (origin, id) in &ids {
        for i in 0..n {
            let count = net
                .delivered
                .iter()
                .filter(|(node, got)| *node == i && got == id)
                .count();
            let expected = usize::from(i != *origin);
            assert_eq!(count, expected, "node {i}, message from {origin}");
        }
    }
    let idontwant: u64 = net
        .nodes
        .iter()
        .map(|g| g.stats().counters.idontwant_sent)
        .sum();
    assert!(idontwant > 0, "large messages triggered IDONTWANT");
}

#[test]
fn late_subscriber_receives_via_mesh_and_gossip_fills_gaps() {
    let n = 20;
    let mut net = build(n, 10, 9);
    let topic = TopicHash::new("/leanconsensus/12345678/attestation_0/ssz_snappy");
    for i in 0..n - 1 {
        let now = net.now;
        net.nodes[i].subscribe(now, &topic).unwrap();
    }
    net.run_for(Duration::from_secs(5));
    let now = net.now;
    net.nodes[n - 1].subscribe(now, &topic).unwrap();
    net.run_for(Duration::from_secs(5));
    let mesh = net.nodes[n - 1].mesh_peers(&topic).count();
    assert!((1..=12).contains(&mesh), "late joiner mesh {mesh}");
    let now = net.now;
    let id = net.nodes[3]
        .publish(now, &topic, Bytes::from_static(b"\x03\x08abc"))
        .unwrap();
    net.run_for(Duration::from_secs(3));
    for i in 0..n {
        let count = net
            .delivered
            .iter()
            .filter(|(node, got)| *node == i && *got == id)
            .count();
        assert_eq!(count, usize::from(i != 3), "node {i}");
    }
}

#[test]
fn same_seed_same_trace() {
    let run = |seed: u8| {
        let mut net = build(20, 8, seed);
        let topic = TopicHash::new("t");
        for i in 0..20 {
            let now = net.now;
            net.nodes[i].subscribe(now, &topic).unwrap();
        }
        net.run_for(Duration::from_secs(4));
        let meshes: Vec<Vec<PeerId>> = net
            .nodes
            .iter()
            .map(|g| g.mesh_peers(&topic).copied().collect())
            .collect();
        (meshes, net.frames, std::hash::Hasher::finish(&net.trace))
    };
    let a = run(5);
    assert_eq!(a, run(5));
    assert_ne!(a.2, run(6).2, "the seed matters");
}
