//! IDONTWANT (v1.2): sending above the size threshold, honouring received ones, caps.

use super::*;

#[test]
fn large_messages_trigger_idontwant_to_v1_2_mesh_peers_only() {
    let mut h = Harness::new(test_config());
    h.gs.subscribe(h.now, &topic()).unwrap();
    let new = h.connect(1..=3, true, &[TOPIC]);
    let old = h.connect_version([4], ProtocolVersion::V1_1, true, &[TOPIC])[0];
    h.heartbeat();
    h.drain();
    assert_eq!(h.mesh().len(), 4);
    let big = vec![0xaa; 1001];
    h.rpc(new[0], msg(TOPIC, &big)).unwrap();
    let id = lean_id(TOPIC, &big);
    let sent = h.drain();
    for s in &sent {
        assert_eq!(s.lane, Lane::Priority);
        assert_eq!(s.rpc.idontwant[0].message_ids, vec![id.as_bytes().to_vec()]);
    }
    let mut targets: Vec<PeerId> = sent.iter().map(|s| s.to).collect();
    targets.sort();
    let mut expected = vec![new[1], new[2]];
    expected.sort();
    assert_eq!(
        targets, expected,
        "not to the source, not to the v1.1 peer {old}"
    );
    // Small messages: no IDONTWANT.
    h.rpc(new[0], msg(TOPIC, &[1; 1000])).unwrap();
    assert!(h.drain().is_empty());
    assert_eq!(h.gs.stats().counters.idontwant_sent, 2);
}

#[test]
fn received_idontwant_suppresses_forwarding() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=4, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    let data = b"some block".to_vec();
    let id = lean_id(TOPIC, &data);
    h.control(peers[1], idontwant(&[id.as_bytes()])).unwrap();
    h.rpc(peers[0], msg(TOPIC, &data)).unwrap();
    h.gs.report_validation(h.now, &id, peers[0], crate::Validation::Accept)
        .unwrap();
    let sent = h.drain();
    assert_eq!(messages_to(&sent, peers[1]), 0);
    assert_eq!(messages_to(&sent, peers[2]), 1);
    assert_eq!(messages_to(&sent, peers[3]), 1);
    let c = h.gs.stats().counters;
    assert_eq!((c.idontwant_received, c.idontwant_suppressed), (1, 1));
    // Also suppresses own publishes? No: IDONTWANT is about forwarding; it also hides the
    // id from IWANT-driven gossip. After the TTL it no longer applies.
    h.advance(std::time::Duration::from_secs(4));
    h.gs.handle_timeout(h.now);
    let data2 = b"another".to_vec();
    let id2 = lean_id(TOPIC, &data2);
    h.control(peers[1], idontwant(&[id2.as_bytes()])).unwrap();
    h.advance(std::time::Duration::from_secs(4));
    h.rpc(peers[0], msg(TOPIC, &data2)).unwrap();
    h.gs.report_validation(h.now, &id2, peers[0], crate::Validation::Accept)
        .unwrap();
    assert_eq!(
        messages_to(&h.drain(), peers[1]),
        1,
        "expired IDONTWANT no longer applies"
    );
}

#[test]
fn idontwant_is_bounded_per_peer() {
    let mut cfg = test_config();
    cfg.limits.max_idontwant_per_peer = 3;
    let mut h = Harness::new(cfg);
    let p = h.connect([1], true, &[TOPIC])[0];
    let ids: Vec<Vec<u8>> = (0u8..10).map(|i| vec![i; 20]).collect();
    let refs: Vec<&[u8]> = ids.iter().map(|v| v.as_slice()).collect();
    h.control(p, idontwant(&refs)).unwrap();
    let c = h.gs.stats().counters;
    assert_eq!((c.idontwant_received, c.idontwant_dropped), (10, 7));
    // Invalid (empty) ids make the RPC partially invalid.
    assert_eq!(
        h.control(p, idontwant(&[b""])),
        Err(crate::RpcError::PartiallyInvalid { dropped: 1 })
    );
}
