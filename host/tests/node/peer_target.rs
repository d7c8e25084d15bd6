//! The peer target: dialling address-book peers while under `target_peers`.

use std::time::Duration;

use leanp2p_host::{Config, ConnManagerConfig, NodeEvent};
use leanp2p_quic::Direction;
use leanp2p_testkit::Net;

fn with_cm(cm: ConnManagerConfig) -> Config {
    let mut config = Config::default();
    config.conn_manager(cm);
    config
}

/// The default [`ConnManagerConfig`] with `set` applied.
fn cm(set: impl FnOnce(&mut ConnManagerConfig)) -> ConnManagerConfig {
    let mut cm = ConnManagerConfig::default();
    set(&mut cm);
    cm
}

fn outbound_connects(net: &Net, i: usize) -> usize {
    net.nodes[i]
        .events
        .iter()
        .filter(|e| {
            matches!(
                e,
                NodeEvent::Connected {
                    direction: Direction::Outbound,
                    ..
                }
            )
        })
        .count()
}

#[test]
fn dials_address_book_peers_up_to_the_target_and_replaces_a_lost_one() {
    let mut net = crate::net(4, |i| {
        if i == 0 {
            with_cm(cm(|cm| {
                cm.target_peers = 2;
            }))
        } else {
            Config::default()
        }
    });
    let now = net.time;
    for j in 1..4 {
        let (peer, addr) = (net.peer(j), net.nodes[j].addr);
        assert!(net.nodes[0].node.add_peer_address(now, peer, addr).unwrap());
    }
    net.drain(0);
    assert_eq!(net.nodes[0].node.address_book().count(), 3);
    net.run_for(Duration::from_secs(20));
    // Exactly the target, never more.
    assert_eq!(net.nodes[0].node.stats().connected_peers, 2);
    assert_eq!(outbound_connects(&net, 0), 2);
    // One of them leaves (after a stable connection): the node makes up for it.
    let gone = (1..4)
        .find(|&j| net.nodes[0].node.is_connected(&net.peer(j)))
        .unwrap();
    let (p0, now) = (net.peer(0), net.time);
    net.nodes[gone].node.disconnect(now, &p0).unwrap();
    net.drain(gone);
    assert!(net.run_until(Duration::from_secs(1), |net| net.nodes[0]
        .node
        .stats()
        .connected_peers
        == 1));
    assert!(net.run_until(Duration::from_secs(5), |net| net.nodes[0]
        .node
        .stats()
        .connected_peers
        == 2));
    assert_eq!(outbound_connects(&net, 0), 3);
    net.run_for(Duration::from_secs(20));
    assert_eq!(net.nodes[0].node.stats().connected_peers, 2);
    assert!(!net.nodes[0]
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::DialFailed { .. })));
}

#[test]
fn identify_teaches_addresses_that_are_dialled_to_reach_the_target() {
    let mut net = crate::net(2, |i| {
        if i == 0 {
            with_cm(cm(|cm| {
                cm.target_peers = 1;
            }))
        } else {
            Config::default()
        }
    });
    // Node 1 dials in; node 0 learns its listen address through identify.
    net.connect(1, 0).unwrap();
    let (p0, p1, a1) = (net.peer(0), net.peer(1), net.nodes[1].addr);
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0]
            .node
            .address_book()
            .any(|(p, a)| *p == p1 && a == a1)
    }));
    net.run_for(Duration::from_secs(12));
    assert_eq!(outbound_connects(&net, 0), 0);
    // Node 1 goes away; node 0, under its target, dials it back after the backoff.
    let now = net.time;
    net.nodes[1].node.disconnect(now, &p0).unwrap();
    net.drain(1);
    assert!(net.run_until(Duration::from_secs(1), |net| !net.nodes[0]
        .node
        .is_connected(&p1)));
    let lost = net.time;
    assert!(net.run_until(Duration::from_secs(5), |net| outbound_connects(net, 0) == 1));
    let back = net.time - lost;
    // Initial backoff 1 s ± 20 %, plus a handshake.
    assert!(back >= Duration::from_millis(800), "{back:?}");
    assert!(back <= Duration::from_millis(1300), "{back:?}");
    assert!(net.nodes[0].node.is_connected(&p1));
}

#[test]
fn target_dials_respect_the_outbound_limit() {
    let mut net = crate::net(4, |i| {
        if i == 0 {
            with_cm(cm(|cm| {
                cm.target_peers = 3;
                cm.max_outbound_peers = 1;
            }))
        } else {
            Config::default()
        }
    });
    let now = net.time;
    for j in 1..4 {
        let (peer, addr) = (net.peer(j), net.nodes[j].addr);
        net.nodes[0].node.add_peer_address(now, peer, addr).unwrap();
    }
    net.run_for(Duration::from_secs(30));
    assert_eq!(outbound_connects(&net, 0), 1);
    assert_eq!(net.nodes[0].node.stats().connected_peers, 1);
    assert_eq!(net.nodes[0].node.stats().outbound_peers, 1);
}

#[test]
fn a_peer_that_refuses_us_after_the_handshake_is_backed_off() {
    let mut net = crate::net(2, |i| {
        with_cm(if i == 0 {
            cm(|cm| {
                cm.target_peers = 1;
            })
        } else {
            // Node 1 takes no inbound peers at all.
            cm(|cm| {
                cm.max_inbound_peers = 0;
            })
        })
    });
    let (p1, a1, t0) = (net.peer(1), net.nodes[1].addr, net.time);
    net.nodes[0].node.add_peer_address(t0, p1, a1).unwrap();
    // Every attempt: a handshake, then node 1 closes with PeerLimit. The gaps between
    // attempts grow (1, 2, 4, 8, 16 s ± 20 %), so 40 s see at most six of them.
    let mut attempts = Vec::new();
    while net.time < t0 + Duration::from_secs(40) {
        if !net.step() {
            break;
        }
        let n = outbound_connects(&net, 0);
        if n > attempts.len() {
            attempts.push(net.time - t0);
        }
    }
    assert!(
        (4..=6).contains(&attempts.len()),
        "{} attempts: {attempts:?}",
        attempts.len()
    );
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|w| w[1] > w[0]), "{gaps:?}");
    assert!(!net.nodes[0].node.is_connected(&p1));
}

#[test]
fn address_book_is_bounded_and_refuses_ourselves() {
    let mut net = crate::net(1, |_| {
        with_cm(cm(|cm| {
            cm.max_address_book = 2;
        }))
    });
    let now = net.time;
    let own = (net.peer(0), net.nodes[0].addr);
    assert_eq!(
        net.nodes[0].node.add_peer_address(now, own.0, own.1),
        Err(leanp2p_host::DialError::SelfDial)
    );
    let addr = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let peers: Vec<_> = (10..13u8)
        .map(|i| leanp2p_testkit::peer_id(i).unwrap())
        .collect();
    assert!(net.nodes[0]
        .node
        .add_peer_address(now, peers[0], addr(1))
        .unwrap());
    assert!(net.nodes[0]
        .node
        .add_peer_address(now, peers[1], addr(2))
        .unwrap());
    assert!(!net.nodes[0]
        .node
        .add_peer_address(now, peers[2], addr(3))
        .unwrap());
    // Updating a known entry still works when full.
    assert!(net.nodes[0]
        .node
        .add_peer_address(now, peers[0], addr(4))
        .unwrap());
    let book: Vec<_> = net.nodes[0]
        .node
        .address_book()
        .map(|(p, a)| (*p, a))
        .collect();
    assert_eq!(book.len(), 2);
    assert!(book.contains(&(peers[0], addr(4))));
}

#[test]
fn a_peer_we_disconnect_is_not_redialled_soon_another_candidate_is() {
    let mut net = crate::net(3, |i| {
        if i == 0 {
            with_cm(cm(|cm| {
                cm.target_peers = 1;
            }))
        } else {
            Config::default()
        }
    });
    let now = net.time;
    for j in 1..3 {
        let (peer, addr) = (net.peer(j), net.nodes[j].addr);
        net.nodes[0].node.add_peer_address(now, peer, addr).unwrap();
    }
    net.run_for(Duration::from_secs(15));
    let first = (1..3)
        .find(|&j| net.nodes[0].node.is_connected(&net.peer(j)))
        .unwrap();
    let other = 3 - first;
    let (dropped, now) = (net.peer(first), net.time);
    net.nodes[0].node.disconnect(now, &dropped).unwrap();
    net.drain(0);
    // The other candidate replaces it; the dropped one stays away (the longest
    // backoff is 60 s).
    let other_peer = net.peer(other);
    assert!(net.run_until(Duration::from_secs(5), |net| net.nodes[0]
        .node
        .is_connected(&other_peer)));
    net.run_for(Duration::from_secs(40));
    assert!(!net.nodes[0].node.is_connected(&dropped));
    assert_eq!(outbound_connects(&net, 0), 2);
}

#[test]
fn a_full_address_book_evicts_a_stale_candidate_for_a_new_one() {
    let mut net = crate::net(2, |i| {
        with_cm(cm(|cm| {
            if i == 0 {
                cm.max_address_book = 2;
                cm.target_peers = 4;
            }
        }))
    });
    let now = net.time;
    let addr = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let ghosts: Vec<_> = (10..12u8)
        .map(|i| leanp2p_testkit::peer_id(i).unwrap())
        .collect();
    // Two addresses where nobody answers: dialled, failed, backed off, again and again.
    for (k, ghost) in ghosts.iter().enumerate() {
        assert!(net.nodes[0]
            .node
            .add_peer_address(now, *ghost, addr(30_000 + k as u16))
            .unwrap());
    }
    net.run_for(Duration::from_secs(180));
    // The book is full of stale candidates: a real peer's address evicts one of them.
    let (p1, a1) = (net.peer(1), net.nodes[1].addr);
    let now = net.time;
    assert!(net.nodes[0].node.add_peer_address(now, p1, a1).unwrap());
    let counters = net.nodes[0].node.stats().counters;
    assert_eq!(counters.address_book_evicted, 1);
    assert!(net.run_until(Duration::from_secs(10), |net| net.nodes[0]
        .node
        .is_connected(&p1)));
}
