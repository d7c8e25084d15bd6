//! Two nodes, each on its own reactor thread, over real UDP on 127.0.0.1: connect, identify
//! and gossip both ways. Bounded by wall-clock deadlines on the receiving side.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

use std::net::SocketAddr;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_host::{lean, Keypair, Node, NodeEvent, PeerId};
use leanp2p_mio::{probe_gso_segments, spawn, Reactor, ReactorConfig, SpawnedReactor};

const BOUND: Duration = Duration::from_secs(30);

fn start(secret: u8) -> (SpawnedReactor, PeerId) {
    let key = Keypair::from_secret_bytes(&[secret; 32]).unwrap();
    let mut config = lean::config("leanp2p-test");
    // GSO batches from QUIC where the kernel takes them (exercises the reactor's
    // batched send and GRO split).
    config.quic.max_gso_segments = probe_gso_segments().clamp(1, 64);
    let node = Node::new(Instant::now(), config, &key, [secret; 32]).unwrap();
    let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let reactor = Reactor::bind(node, &[localhost], ReactorConfig::default()).unwrap();
    (
        spawn(reactor, &format!("node-{secret}")).unwrap(),
        key.peer_id(),
    )
}

/// Waits (bounded) for the first event `pick` accepts.
fn wait_for<T>(
    events: &Receiver<(Instant, NodeEvent)>,
    what: &str,
    mut pick: impl FnMut(&NodeEvent) -> Option<T>,
) -> T {
    let deadline = Instant::now() + BOUND;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, event) = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("timed out after {BOUND:?} waiting for {what}"));
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}

#[test]
fn two_reactors_connect_identify_and_gossip_over_loopback() {
    let (a, a_peer) = start(1);
    let (b, b_peer) = start(2);
    let topic = lean::topics("12345678", 0).into_iter().next().unwrap();
    for node in [&a, &b] {
        let topic = topic.clone();
        node.handle
            .run(move |n, now| {
                n.subscribe(now, &topic).unwrap();
            })
            .unwrap();
    }
    let a_addr = a.local_addrs[0];
    b.handle
        .run(move |n, now| {
            n.dial(now, a_addr, Some(a_peer)).unwrap();
        })
        .unwrap();

    let peer = wait_for(&b.events, "b connected", |e| match e {
        NodeEvent::Connected { peer, .. } => Some(*peer),
        _ => None,
    });
    assert_eq!(peer, a_peer);
    // Identify and b's subscription reach a in either order.
    let (mut identified, mut subscribed) = (false, false);
    wait_for(&a.events, "a identifies b and sees its subscription", |e| {
        match e {
            NodeEvent::Identified { peer, .. } if *peer == b_peer => identified = true,
            NodeEvent::Subscribed { peer, .. } if *peer == b_peer => subscribed = true,
            _ => {}
        }
        (identified && subscribed).then_some(())
    });

    // 300 KiB from a to b, and 1 KiB back; published repeatedly until the mesh carries them
    // (the first heartbeat grafts), each receiver stops at the first copy.
    let big = Bytes::from((0..300 * 1024).map(|i| (i % 251) as u8).collect::<Vec<_>>());
    let small = Bytes::from(vec![7u8; 1024]);
    for (from, to, data) in [(&a, &b, big), (&b, &a, small)] {
        let deadline = Instant::now() + BOUND;
        let got = loop {
            assert!(
                Instant::now() < deadline,
                "gossip not delivered within {BOUND:?}"
            );
            let (topic, data) = (topic.clone(), data.clone());
            from.handle
                .run(move |n, now| {
                    let _ = n.publish(now, &topic, data);
                })
                .unwrap();
            match to.events.recv_timeout(Duration::from_millis(500)) {
                Ok((_, NodeEvent::Message { data, .. })) => break data,
                Ok(_) | Err(_) => continue,
            }
        };
        assert_eq!(got, data);
    }

    for (index, node) in [a, b].into_iter().enumerate() {
        node.handle.shutdown().unwrap();
        let reactor = node.join.join().unwrap().unwrap();
        let io = reactor.io_stats();
        assert!(io.datagrams_sent > 0 && io.datagrams_received > 0, "{io:?}");
        assert!(io.send_calls <= io.datagrams_sent, "{io:?}");
        assert_eq!(io.send_errors, 0, "{io:?}");
        if index == 0 && io.max_gso_segments > 1 {
            // a sent 300 KiB: with GSO some of it went out in batches.
            assert!(io.gso_batches > 0, "{io:?}");
            assert!(io.send_calls < io.datagrams_sent, "{io:?}");
        }
    }
}

/// Node `secret` on a spawned reactor whose event channel holds `capacity` events.
fn start_with_capacity(secret: u8, capacity: usize) -> (SpawnedReactor, PeerId) {
    let key = Keypair::from_secret_bytes(&[secret; 32]).unwrap();
    let node = Node::new(
        Instant::now(),
        lean::config("leanp2p-test"),
        &key,
        [secret; 32],
    )
    .unwrap();
    let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let config = ReactorConfig {
        event_channel_capacity: capacity,
        ..ReactorConfig::default()
    };
    let reactor = Reactor::bind(node, &[localhost], config).unwrap();
    (
        spawn(reactor, &format!("node-{secret}")).unwrap(),
        key.peer_id(),
    )
}

/// The node's queued-event count, read on its reactor thread.
fn queued_events(node: &SpawnedReactor) -> usize {
    let (tx, rx) = std::sync::mpsc::channel();
    node.handle
        .run(move |n, _| {
            let _ = tx.send(n.stats().queued_events);
        })
        .unwrap();
    rx.recv_timeout(BOUND).unwrap()
}

#[test]
fn a_full_event_channel_leaves_events_in_the_node_and_loses_none() {
    let (a, a_peer) = start_with_capacity(3, 64);
    let (b, _) = start_with_capacity(4, 1);
    let topics = lean::topics("12345678", 4);
    for node in [&a, &b] {
        let topics = topics.clone();
        node.handle
            .run(move |n, now| {
                for topic in &topics {
                    n.subscribe(now, topic).unwrap();
                }
            })
            .unwrap();
    }
    let a_addr = a.local_addrs[0];
    b.handle
        .run(move |n, now| {
            n.dial(now, a_addr, Some(a_peer)).unwrap();
        })
        .unwrap();
    // b's application reads nothing: Connected fills the channel, one event is held,
    // the rest (identify, a's six subscriptions, ...) wait in b's node.
    let deadline = Instant::now() + BOUND;
    while queued_events(&b) < 4 {
        assert!(
            Instant::now() < deadline,
            "events did not back up into the node"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Now read: every event arrives, in order, Connected first, then all six
    // subscriptions of a.
    let first = b.events.recv_timeout(BOUND).unwrap().1;
    assert!(matches!(first, NodeEvent::Connected { peer, .. } if peer == a_peer));
    let mut subscribed = 0;
    wait_for(&b.events, "all of a's subscriptions", |e| {
        if matches!(e, NodeEvent::Subscribed { peer, .. } if *peer == a_peer) {
            subscribed += 1;
        }
        (subscribed == topics.len()).then_some(())
    });
    for node in [a, b] {
        node.handle.shutdown().unwrap();
        node.join.join().unwrap().unwrap();
    }
}
