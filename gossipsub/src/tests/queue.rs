//! Bounded per-peer queues: slow peers drop forwards first, never control, never block
//! other peers.

use super::*;
use crate::{TimeoutReason, Validation};

#[test]
fn overflow_drops_forwards_not_control_and_reports_slow_peer() {
    let mut cfg = test_config();
    cfg.limits.max_normal_queue_frames = 4;
    cfg.limits.max_priority_queue_frames = 2;
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=3, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    let slow = peers[1];
    h.gs.handle_peer_blocked(h.now, slow, true);
    // 10 forwarded messages; the host drains after each one.
    let mut sent = Vec::new();
    for i in 0..10u8 {
        h.rpc(peers[0], msg(TOPIC, &[i])).unwrap();
        h.gs.report_validation(h.now, &lean_id(TOPIC, &[i]), peers[0], Validation::Accept)
            .unwrap();
        sent.extend(h.drain());
    }
    // The fast peer got everything; the slow one nothing yet.
    assert_eq!(messages_to(&sent, peers[2]), 10);
    assert_eq!(messages_to(&sent, slow), 0);
    let events = h.events();
    let slow_events: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::SlowPeer { .. }))
        .collect();
    assert_eq!(
        slow_events,
        vec![&Event::SlowPeer {
            peer: slow,
            dropped: 1
        }],
        "reported once per heartbeat"
    );
    let stats = h.gs.stats();
    assert_eq!(stats.peers[&slow].normal_queue_len, 4);
    assert_eq!(stats.peers[&slow].dropped_normal, 6);
    assert_eq!(stats.counters.dropped_normal, 6);
    // Control for the slow peer is still queued: unsubscribe PRUNEs it.
    h.gs.unsubscribe(h.now, &topic()).unwrap();
    h.drain();
    assert_eq!(
        h.gs.poll_timeout(),
        Some(h.t0 + std::time::Duration::from_millis(700)),
        "blocked output does not spin the driver"
    );
    h.gs.handle_peer_blocked(h.now, slow, false);
    assert_eq!(h.gs.timeout_reason(), Some(TimeoutReason::QueuedIo));
    let sent = h.drain();
    let to_slow: Vec<&Sent> = sent.iter().filter(|s| s.to == slow).collect();
    assert_eq!(to_slow[0].lane, Lane::Priority, "control goes first");
    assert_eq!(to_slow[0].rpc.prune.len(), 1);
    assert_eq!(to_slow[0].rpc.subscriptions, vec![sub(TOPIC, false)]);
    assert_eq!(messages_to(&sent, slow), 4);
    assert!(h.gs.poll_outbound().is_none());
}

#[test]
fn own_publish_is_handed_back_only_when_no_chosen_peer_has_room() {
    let mut cfg = test_config();
    cfg.limits.max_priority_queue_frames = 2;
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=2, true, &[TOPIC]);
    h.drain();
    // Both streams are blocked: both priority lanes fill up.
    for p in &peers {
        h.gs.handle_peer_blocked(h.now, *p, true);
    }
    for k in 0..2u8 {
        h.gs.publish(h.now, &topic(), Bytes::from(vec![k])).unwrap();
    }
    let refused = h.gs.publish(h.now, &topic(), Bytes::from_static(b"third"));
    let Err(crate::PublishError::Backpressure {
        data,
        mut congested,
    }) = refused
    else {
        panic!("{refused:?}");
    };
    congested.sort();
    let mut expected = peers.clone();
    expected.sort();
    assert_eq!((data, congested), (Bytes::from_static(b"third"), expected));
    // Nothing dropped, and it is not marked seen: the same payload can be published again.
    assert_eq!(h.gs.stats().counters.dropped_priority, 0);
    assert_eq!(h.gs.stats().counters.publishes_backpressured, 1);
    assert!(!h.events().contains(&crate::Event::PublishReady));
    // peers[0] drains: PublishReady; the retry goes to it, and peers[1] (still full)
    // is a slow peer: counted and reported, not silently skipped.
    h.gs.handle_peer_blocked(h.now, peers[0], false);
    assert_eq!(messages_to(&h.drain(), peers[0]), 2);
    assert!(h.events().contains(&crate::Event::PublishReady));
    h.gs.publish(h.now, &topic(), Bytes::from_static(b"third"))
        .unwrap();
    assert_eq!(messages_to(&h.drain(), peers[0]), 1);
    assert_eq!(h.gs.stats().counters.dropped_priority, 1);
    assert!(h
        .events()
        .iter()
        .any(|e| matches!(e, crate::Event::SlowPeer { peer, .. } if *peer == peers[1])));
}

#[test]
fn round_robin_between_peers() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=2, true, &[TOPIC]);
    h.drain();
    for i in 0..3u8 {
        h.gs.publish(h.now, &topic(), Bytes::from(vec![i])).unwrap();
    }
    let order: Vec<PeerId> = std::iter::from_fn(|| h.gs.poll_outbound())
        .map(|o| o.to)
        .collect();
    assert_eq!(order.len(), 6);
    assert!(
        order.windows(2).all(|w| w[0] != w[1]),
        "peers alternate: {order:?} {peers:?}"
    );
}

#[test]
fn idle_peers_get_a_keepalive() {
    let mut h = Harness::new(test_config());
    let p = h.connect([1], true, &[])[0];
    h.drain();
    let mut keepalives = 0;
    for _ in 0..30 {
        h.heartbeat(); // 21 s
        for o in std::iter::from_fn(|| h.gs.poll_outbound()) {
            assert_eq!(o.to, p);
            assert_eq!(&o.frame[..], &[0x02, 0x1a, 0x00]);
            keepalives += 1;
        }
    }
    assert_eq!(keepalives, 1);
}

#[test]
fn host_unsent_bytes_share_the_budget_and_episodes_end_below_half() {
    let mut cfg = test_config();
    cfg.limits.max_normal_queue_bytes = 1_000;
    cfg.limits.max_priority_queue_bytes = 3_000;
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=2, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    let slow = peers[1];
    // The host holds the whole normal budget in its stream buffer for `slow`.
    h.gs.handle_peer_unsent(h.now, slow, 1_000);
    h.rpc(peers[0], msg(TOPIC, &[1])).unwrap();
    h.gs.report_validation(h.now, &lean_id(TOPIC, &[1]), peers[0], Validation::Accept)
        .unwrap();
    // The forward to `slow` was dropped; an episode started with one SlowPeer event.
    assert_eq!(h.gs.queued_frames(&slow), 0);
    assert_eq!(h.gs.overflow_since(&slow), Some(h.now));
    let slow_events = h
        .events()
        .iter()
        .filter(|e| matches!(e, Event::SlowPeer { peer, .. } if *peer == slow))
        .count();
    assert_eq!(slow_events, 1);
    // Our own publish still fits in the priority share of the budget.
    h.gs.publish(h.now, &topic(), Bytes::from_static(b"own"))
        .unwrap();
    assert_eq!(h.gs.queued_frames(&slow), 1);
    // The host drained half its buffer: not yet below half the budget, episode goes on.
    h.gs.handle_peer_unsent(h.now, slow, 500);
    assert!(h.gs.overflow_since(&slow).is_some());
    // The host pulls the queued frame and its buffer drains: the episode ends.
    assert!(h.gs.poll_outbound_to(&slow).is_some());
    h.gs.handle_peer_unsent(h.now, slow, 0);
    assert_eq!(h.gs.overflow_since(&slow), None);
    assert_eq!(h.gs.queued_bytes(&slow), 0);
    // Drop counters are totals: they survive the peer.
    assert_eq!(h.gs.stats().counters.dropped_normal, 1);
    h.gs.handle_peer_disconnected(h.now, slow);
    assert_eq!(h.gs.stats().counters.dropped_normal, 1);
}

#[test]
fn poll_ready_peer_names_each_peer_with_new_output_once() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=2, true, &[TOPIC]);
    h.drain();
    for i in 0..3u8 {
        h.gs.publish(h.now, &topic(), Bytes::from(vec![i])).unwrap();
    }
    let mut ready: Vec<PeerId> = std::iter::from_fn(|| h.gs.poll_ready_peer()).collect();
    ready.sort();
    let mut expected = peers.clone();
    expected.sort();
    assert_eq!(ready, expected);
    // The frames wait in the router until pulled; no busy deadline meanwhile.
    assert_ne!(h.gs.timeout_reason(), Some(TimeoutReason::QueuedIo));
    assert_eq!(h.gs.queued_frames(&peers[0]), 3);
    let pulled = std::iter::from_fn(|| h.gs.poll_outbound_to(&peers[0])).count();
    assert_eq!(pulled, 3);
}
