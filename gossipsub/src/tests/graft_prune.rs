//! GRAFT / PRUNE, backoff, peer exchange, direct peers, version gating.

use super::*;
use crate::event::PxPeer;

#[test]
fn prune_backoff_is_honoured_then_regraft() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=6, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    let p = peers[0];
    assert!(h.mesh().contains(&p));
    h.control(p, prune(TOPIC, Some(5), vec![])).unwrap();
    assert!(!h.mesh().contains(&p));
    // Mesh is 5 < D_lo: heartbeats try to graft, but p is in backoff (5 s + 1 heartbeat slack).
    for _ in 0..8 {
        h.heartbeat(); // 5.6 s
        assert_eq!(grafts_to(&h.drain(), p), 0);
    }
    h.heartbeat(); // 6.3 s > 5 s + 0.7 s slack
    assert_eq!(grafts_to(&h.drain(), p), 1);
    assert!(h.mesh().contains(&p));
}

#[test]
fn prune_without_backoff_uses_default() {
    let mut h = Harness::new(test_config());
    let p = h.connect([1], true, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.control(p, prune(TOPIC, None, vec![])).unwrap();
    h.advance(std::time::Duration::from_secs(59));
    assert!(h.gs.is_backoff(h.now, &topic(), &p));
    h.advance(std::time::Duration::from_secs(1));
    assert!(!h.gs.is_backoff(h.now, &topic(), &p));
}

#[test]
fn graft_in_backoff_is_refused_and_counted() {
    let mut h = Harness::new(test_config());
    let p = h.connect([1], false, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    h.control(p, prune(TOPIC, Some(30), vec![])).unwrap();
    h.advance(std::time::Duration::from_secs(2));
    h.control(p, graft(TOPIC)).unwrap();
    assert!(!h.mesh().contains(&p));
    let sent = h.drain();
    let prunes = prunes_to(&sent, p);
    assert_eq!(prunes.len(), 1);
    assert_eq!(prunes[0].backoff, Some(28), "remaining backoff");
    assert_eq!(h.gs.stats().counters.backoff_violations, 1);
}

#[test]
fn graft_for_unknown_topic_is_ignored() {
    let mut h = Harness::new(test_config());
    let p = h.connect([1], false, &["x"])[0];
    h.drain();
    h.control(p, graft("x")).unwrap();
    assert!(h.drain().is_empty());
}

#[test]
fn px_is_reported_when_accepted() {
    let mut h = Harness::new(test_config());
    let p = h.connect([1], true, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.events();
    h.control(p, prune(TOPIC, Some(60), vec![peer(50), peer(51), p]))
        .unwrap();
    let events = h.events();
    assert_eq!(
        events,
        vec![Event::PeerExchange {
            from: p,
            topic: topic(),
            peers: vec![
                PxPeer {
                    peer_id: peer(50),
                    signed_peer_record: None
                },
                PxPeer {
                    peer_id: peer(51),
                    signed_peer_record: None
                }
            ],
        }]
    );
}

#[test]
fn px_emitted_in_prunes_when_enabled_and_not_to_v1_0_peers() {
    let mut cfg = test_config();
    cfg.do_px = true;
    cfg.prune_peers = 3;
    let mut h = Harness::new(cfg);
    h.gs.subscribe(h.now, &topic()).unwrap();
    let v10 = h.connect_version([1], ProtocolVersion::V1_0, false, &[TOPIC])[0];
    let others = h.connect(2..=20, false, &[TOPIC]);
    for p in &others[..12] {
        h.control(*p, graft(TOPIC)).unwrap();
    }
    h.drain();
    // Mesh full: inbound grafts are pruned with PX.
    h.control(others[15], graft(TOPIC)).unwrap();
    h.control(v10, graft(TOPIC)).unwrap();
    let sent = h.drain();
    let pr = prunes_to(&sent, others[15]);
    assert_eq!(pr.len(), 1);
    assert_eq!(pr[0].peers.len(), 3);
    assert_eq!(pr[0].backoff, Some(60));
    let pr = prunes_to(&sent, v10);
    assert_eq!(pr.len(), 1);
    assert!(
        pr[0].peers.is_empty() && pr[0].backoff.is_none(),
        "v1.0 PRUNE has no v1.1 fields"
    );
}

#[test]
fn direct_peers_never_grafted_always_forwarded_kept_on_prune() {
    let mut cfg = test_config();
    let direct = peer(1);
    cfg.direct_peers.insert(direct);
    let mut h = Harness::new(cfg);
    h.connect([1], true, &[TOPIC]);
    let others = h.connect(2..=4, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    assert!(!h.mesh().contains(&direct));
    h.heartbeat();
    assert!(!h.mesh().contains(&direct));
    assert_eq!(grafts_to(&h.drain(), direct), 0);
    // A GRAFT from a direct peer is answered with PRUNE.
    h.control(direct, graft(TOPIC)).unwrap();
    assert_eq!(prunes_to(&h.drain(), direct).len(), 1);
    assert!(!h.mesh().contains(&direct));
    // The direct peer PRUNEs us: we still forward to it.
    h.control(direct, prune(TOPIC, Some(60), vec![])).unwrap();
    h.rpc(others[0], msg(TOPIC, b"m")).unwrap();
    let id = lean_id(TOPIC, b"m");
    h.gs.report_validation(h.now, &id, others[0], crate::Validation::Accept)
        .unwrap();
    let sent = h.drain();
    assert_eq!(messages_to(&sent, direct), 1);
    assert_eq!(messages_to(&sent, others[1]), 1);
    assert_eq!(messages_to(&sent, others[0]), 0, "not back to the source");
}

#[test]
fn missing_direct_peers_are_dialed_periodically() {
    let mut cfg = test_config();
    cfg.direct_peers.insert(peer(9));
    cfg.direct_connect_ticks = 3;
    let mut h = Harness::new(cfg);
    let mut dials = 0;
    for _ in 0..6 {
        h.heartbeat();
        dials += h
            .events()
            .iter()
            .filter(|e| matches!(e, Event::DialDirectPeer { peer: p } if *p == peer(9)))
            .count();
    }
    assert_eq!(dials, 2);
}

#[test]
fn prunes_for_topics_we_are_not_in_are_ignored() {
    let mut h = Harness::new(test_config());
    let p = h.connect([1], true, &[])[0];
    h.events();
    for i in 0..100 {
        h.control(p, prune(&format!("t{i}"), Some(86_400), vec![peer(50)]))
            .unwrap();
    }
    assert!(!h.gs.is_backoff(h.now, &TopicHash::new("t1"), &p));
    assert!(
        h.events().is_empty(),
        "no PX for topics we are not subscribed to"
    );
    assert_eq!(h.gs.stats().counters.prune_received, 100);
}
