//! IHAVE / IWANT gossip, message cache windows, caps.

use super::*;

#[test]
fn ihave_iwant_message_flow() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=2, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    h.events();
    let data = b"\x04\x0c\xde\xad\xbe\xef";
    let id = lean_id(TOPIC, data);
    h.control(peers[0], ihave(TOPIC, &[id.as_bytes()])).unwrap();
    let sent = h.drain();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, peers[0]);
    assert_eq!(
        sent[0].rpc.iwant[0].message_ids,
        vec![id.as_bytes().to_vec()]
    );
    // A second IHAVE for the same id from another peer is answered too (not yet seen).
    h.rpc(peers[0], msg(TOPIC, data)).unwrap();
    let events = h.events();
    assert!(matches!(&events[..], [Event::Message { id: got, .. }] if *got == id));
    // Now seen: IHAVE for it is not requested again.
    h.control(peers[1], ihave(TOPIC, &[id.as_bytes()])).unwrap();
    assert!(h.drain().iter().all(|s| s.rpc.iwant.is_empty()));
    assert_eq!(h.gs.stats().counters.iwant_sent, 1);
}

#[test]
fn ihave_for_unsubscribed_topic_or_over_cap_is_ignored() {
    let mut cfg = test_config();
    cfg.max_ihave_messages = 1;
    cfg.max_ihave_length = 2;
    let mut h = Harness::new(cfg);
    let p = h.connect([1], true, &[TOPIC, "other"])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    h.control(p, ihave("other", &[b"aaaaaaaaaaaaaaaaaaaa"]))
        .unwrap();
    assert!(h.drain().iter().all(|s| s.rpc.iwant.is_empty()));
    // max_ihave_messages = 1 and this is the 2nd IHAVE of the heartbeat.
    h.control(p, ihave(TOPIC, &[b"bbbbbbbbbbbbbbbbbbbb"]))
        .unwrap();
    assert!(h.drain().iter().all(|s| s.rpc.iwant.is_empty()));
    h.heartbeat();
    h.drain();
    // New heartbeat: at most max_ihave_length = 2 ids are requested.
    h.control(p, ihave(TOPIC, &[&[1; 20], &[2; 20], &[3; 20], &[4; 20]]))
        .unwrap();
    let sent = h.drain();
    let asked: usize = sent
        .iter()
        .flat_map(|s| &s.rpc.iwant)
        .map(|w| w.message_ids.len())
        .sum();
    assert_eq!(asked, 2);
}

#[test]
fn iwant_served_from_cache_with_retransmission_cap() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=3, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    let id =
        h.gs.publish(h.now, &topic(), Bytes::from_static(b"hello"))
            .unwrap();
    h.drain();
    for round in 0..4 {
        h.control(peers[0], iwant(&[id.as_bytes()])).unwrap();
        let sent = h.drain();
        let expected = usize::from(round < 3);
        assert_eq!(messages_to(&sent, peers[0]), expected, "round {round}");
        if expected == 1 {
            assert_eq!(sent[0].lane, Lane::Normal);
        }
    }
    // Unknown ids are ignored.
    h.control(peers[1], iwant(&[&[0x55; 20]])).unwrap();
    assert!(h.drain().is_empty());
}

#[test]
fn heartbeat_gossips_ihave_to_non_mesh_peers_and_cache_expires() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=20, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    let src = h.mesh()[0];
    h.rpc(src, msg(TOPIC, b"payload")).unwrap();
    accept_all(&mut h);
    h.drain();
    let id = lean_id(TOPIC, b"payload");
    h.heartbeat();
    let sent = h.drain();
    let mesh = h.mesh();
    let gossiped: Vec<PeerId> = sent
        .iter()
        .filter(|s| {
            s.rpc
                .ihave
                .iter()
                .any(|i| i.message_ids.contains(&id.as_bytes().to_vec()))
        })
        .map(|s| s.to)
        .collect();
    // D_lazy = 6 of the 12 non-mesh peers (gossip_factor 0.25 × 12 = 3 < 6).
    assert_eq!(gossiped.len(), 6);
    assert!(gossiped
        .iter()
        .all(|p| !mesh.contains(p) && peers.contains(p)));
    // history_gossip = 3: gossiped for 3 heartbeats, cached for 6.
    for _ in 0..2 {
        h.heartbeat();
        assert!(h.drain().iter().any(|s| !s.rpc.ihave.is_empty()));
    }
    h.heartbeat();
    assert!(h.drain().iter().all(|s| s.rpc.ihave.is_empty()));
    let other = *peers.iter().find(|p| !mesh.contains(p)).unwrap();
    h.control(other, iwant(&[id.as_bytes()])).unwrap();
    assert_eq!(messages_to(&h.drain(), other), 1, "still cached");
    for _ in 0..3 {
        h.heartbeat();
    }
    h.drain();
    h.control(other, iwant(&[id.as_bytes()])).unwrap();
    assert_eq!(messages_to(&h.drain(), other), 0, "expired from the cache");
}

#[test]
fn fanout_is_used_and_expires_after_ttl() {
    let mut cfg = test_config();
    cfg.flood_publish = false;
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=12, true, &["fan"]);
    let t = TopicHash::new("fan");
    h.gs.publish(h.now, &t, Bytes::from_static(b"1")).unwrap();
    let sent = h.drain();
    let fanout: Vec<PeerId> = h.gs.fanout_peers(&t).copied().collect();
    assert_eq!(fanout.len(), 8);
    for p in &peers {
        assert_eq!(messages_to(&sent, *p), usize::from(fanout.contains(p)));
    }
    assert!(sent.iter().all(|s| s.lane == Lane::Priority));
    // Same fanout for the next publish.
    h.gs.publish(h.now, &t, Bytes::from_static(b"2")).unwrap();
    let sent = h.drain();
    assert!(sent.iter().all(|s| fanout.contains(&s.to)));
    // 60 s without publishing: fanout dropped.
    let beats = (60_000 / 700) + 2;
    for _ in 0..beats {
        h.heartbeat();
    }
    assert_eq!(h.gs.fanout_peers(&t).count(), 0);
    assert!(!h.gs.stats().topics.contains_key(&t));
}

#[test]
fn subscribing_moves_fanout_peers_into_the_mesh() {
    let mut cfg = test_config();
    cfg.flood_publish = false;
    let mut h = Harness::new(cfg);
    h.connect(1..=20, true, &[TOPIC]);
    h.gs.publish(h.now, &topic(), Bytes::from_static(b"1"))
        .unwrap();
    let fanout: Vec<PeerId> = h.gs.fanout_peers(&topic()).copied().collect();
    h.gs.subscribe(h.now, &topic()).unwrap();
    let mut mesh = h.mesh();
    mesh.sort();
    let mut fanout = fanout;
    fanout.sort();
    assert_eq!(mesh, fanout);
}

#[test]
fn ids_of_the_wrong_length_are_ignored() {
    let mut h = Harness::new(test_config());
    let p = h.connect([1], true, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    // Lean ids are exactly 20 bytes.
    h.control(p, ihave(TOPIC, &[&[1; 19], &[2; 21], &[3; 32]]))
        .unwrap();
    assert!(h.drain().iter().all(|s| s.rpc.iwant.is_empty()));
    assert_eq!(
        h.control(p, idontwant(&[&[1; 19]])),
        Err(crate::RpcError::PartiallyInvalid { dropped: 1 })
    );
}

#[test]
fn protocol_versions_and_fallback() {
    use crate::ProtocolVersion as V;
    assert_eq!(V::from_protocol_id("/meshsub/1.3.0"), Some(V::V1_2));
    assert_eq!(V::from_protocol_id("/meshsub/1.2.0"), Some(V::V1_2));
    assert_eq!(V::from_protocol_id("/meshsub/1.1.0"), Some(V::V1_1));
    assert_eq!(V::from_protocol_id("/meshsub/1.0.0"), Some(V::V1_0));
    assert_eq!(V::from_protocol_id("/floodsub/1.0.0"), None);
    assert_eq!(
        crate::PROTOCOL_IDS.map(|p| V::from_protocol_id(p).unwrap().protocol_id()),
        crate::PROTOCOL_IDS
    );
    assert!(V::V1_2.supports_idontwant() && !V::V1_1.supports_idontwant());
    assert!(V::V1_1.supports_backoff_and_px() && !V::V1_0.supports_backoff_and_px());
}
