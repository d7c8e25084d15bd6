//! Mesh formation and maintenance: D, D_lo, D_hi, D_out, subscriptions.

use super::*;

#[test]
fn subscribe_grafts_d_peers_and_announces() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=20, true, &[TOPIC]);
    h.drain();
    assert!(h.gs.subscribe(h.now, &topic()).unwrap());
    assert!(!h.gs.subscribe(h.now, &topic()).unwrap());
    let sent = h.drain();
    assert_eq!(h.mesh().len(), 8);
    for p in &peers {
        let subs: Vec<_> = sent
            .iter()
            .filter(|s| s.to == *p)
            .flat_map(|s| s.rpc.subscriptions.clone())
            .collect();
        assert_eq!(
            subs,
            vec![sub(TOPIC, true)],
            "every peer learns our subscription"
        );
        let in_mesh = h.mesh().contains(p);
        assert_eq!(grafts_to(&sent, *p), usize::from(in_mesh));
    }
    assert!(sent.iter().all(|s| s.lane == Lane::Priority));
}

#[test]
fn new_peer_receives_our_subscriptions() {
    let mut h = Harness::new(test_config());
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.gs.subscribe(h.now, &TopicHash::new("b")).unwrap();
    let p = h.connect([1], false, &[])[0];
    let sent = h.drain();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, p);
    assert_eq!(
        sent[0].rpc.subscriptions,
        vec![sub(TOPIC, true), sub("b", true)]
    );
}

#[test]
fn oversubscribed_mesh_pruned_to_d_keeping_outbound() {
    let mut h = Harness::new(test_config());
    h.gs.subscribe(h.now, &topic()).unwrap();
    let outbound = h.connect(1..=3, true, &[TOPIC]);
    let inbound = h.connect(10..=30, false, &[TOPIC]);
    // Inbound peers graft us until D_hi, then get PRUNEd.
    for p in &inbound {
        h.control(*p, graft(TOPIC)).unwrap();
    }
    assert_eq!(h.mesh().len(), 12);
    let sent = h.drain();
    let pruned: Vec<_> = inbound
        .iter()
        .filter(|p| !prunes_to(&sent, **p).is_empty())
        .collect();
    assert_eq!(pruned.len(), inbound.len() - 12);
    // Outbound peers are accepted even above D_hi.
    for p in &outbound {
        h.control(*p, graft(TOPIC)).unwrap();
    }
    assert_eq!(h.mesh().len(), 15);
    h.heartbeat();
    let sent = h.drain();
    let mesh = h.mesh();
    assert_eq!(mesh.len(), 8);
    assert!(
        mesh.iter().filter(|p| outbound.contains(p)).count() >= 2,
        "D_out kept"
    );
    let prunes: usize = inbound
        .iter()
        .chain(&outbound)
        .map(|p| prunes_to(&sent, *p).len())
        .sum();
    assert_eq!(prunes, 7);
    for p in inbound.iter().chain(&outbound) {
        for pr in prunes_to(&sent, *p) {
            assert_eq!(pr.backoff, Some(60));
            assert!(h.gs.is_backoff(h.now, &topic(), p));
        }
    }
}

#[test]
fn undersubscribed_mesh_is_refilled_at_heartbeat() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=10, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    assert_eq!(h.mesh().len(), 8);
    h.drain();
    // Three mesh peers unsubscribe: 5 < D_lo = 6.
    let leaving: Vec<PeerId> = h.mesh().into_iter().take(3).collect();
    for p in &leaving {
        h.rpc(
            *p,
            Rpc {
                subscriptions: vec![sub(TOPIC, false)],
                ..Default::default()
            },
        )
        .unwrap();
    }
    assert_eq!(h.mesh().len(), 5);
    h.heartbeat();
    let sent = h.drain();
    let mesh = h.mesh();
    assert_eq!(mesh.len(), 7, "only 7 subscribed peers remain");
    for p in &peers {
        if leaving.contains(p) {
            assert!(!mesh.contains(p));
        }
    }
    assert_eq!(peers.iter().map(|p| grafts_to(&sent, *p)).sum::<usize>(), 2);
}

#[test]
fn outbound_quota_grafts_outbound_peers() {
    let mut h = Harness::new(test_config());
    h.gs.subscribe(h.now, &topic()).unwrap();
    let inbound = h.connect(1..=8, false, &[TOPIC]);
    for p in &inbound {
        h.control(*p, graft(TOPIC)).unwrap();
    }
    let outbound = h.connect(20..=25, true, &[TOPIC]);
    h.drain();
    assert_eq!(h.mesh().len(), 8);
    h.heartbeat();
    let mesh = h.mesh();
    assert_eq!(mesh.iter().filter(|p| outbound.contains(p)).count(), 2);
    assert_eq!(mesh.len(), 10);
}

#[test]
fn unsubscribe_prunes_with_unsubscribe_backoff() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=10, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    let mesh = h.mesh();
    h.drain();
    assert!(h.gs.unsubscribe(h.now, &topic()).unwrap());
    let sent = h.drain();
    for p in &peers {
        let subs: Vec<_> = sent
            .iter()
            .filter(|s| s.to == *p)
            .flat_map(|s| s.rpc.subscriptions.clone())
            .collect();
        assert_eq!(subs, vec![sub(TOPIC, false)]);
        let prunes = prunes_to(&sent, *p);
        if mesh.contains(p) {
            assert_eq!(prunes.len(), 1);
            assert_eq!(prunes[0].backoff, Some(10));
        } else {
            assert!(prunes.is_empty());
        }
    }
    assert!(h.mesh().is_empty());
    assert!(!h.gs.unsubscribe(h.now, &topic()).unwrap());
}

#[test]
fn disconnect_removes_peer_everywhere() {
    let mut h = Harness::new(test_config());
    h.connect(1..=8, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    let gone = h.mesh()[0];
    h.gs.handle_peer_disconnected(h.now, gone);
    assert!(!h.mesh().contains(&gone));
    assert!(!h.gs.subscribed_peers(&topic()).any(|p| *p == gone));
    assert_eq!(
        h.rpc(gone, msg(TOPIC, b"x")),
        Err(crate::RpcError::UnknownPeer)
    );
}

#[test]
fn same_seed_same_output() {
    let run = || {
        let mut h = Harness::new(test_config());
        h.connect(1..=30, true, &[TOPIC]);
        h.gs.subscribe(h.now, &topic()).unwrap();
        for _ in 0..3 {
            h.heartbeat();
        }
        let mut out = Vec::new();
        while let Some(o) = h.gs.poll_outbound() {
            out.push(o);
        }
        (out, h.mesh())
    };
    assert_eq!(run(), run());
}
