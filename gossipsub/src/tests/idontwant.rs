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

/// A 20-byte (lean-length) id numbered `i`.
fn numbered_id(i: u32) -> Vec<u8> {
    let mut id = vec![0u8; 20];
    id[..4].copy_from_slice(&i.to_be_bytes());
    id
}

#[test]
fn idontwant_beyond_the_cap_costs_constant_work_per_id() {
    // Before: at the cap every further id ran `retain` over all remembered ids, so
    // 9 000 ids past a cap of 1 000 visited ~9 000 000 entries. Now each id is queued
    // once and popped once.
    const CAP: usize = 1_000;
    const N: u32 = 10_000;
    let mut cfg = test_config();
    cfg.limits.max_idontwant_per_peer = CAP;
    cfg.limits.max_idontwant_ids_per_rpc = N as usize;
    cfg.limits.max_ids_per_control_entry = N as usize;
    let mut h = Harness::new(cfg);
    let p = h.connect([1], true, &[TOPIC])[0];
    let ids: Vec<Vec<u8>> = (0..N).map(numbered_id).collect();
    let refs: Vec<&[u8]> = ids.iter().map(|v| v.as_slice()).collect();
    h.control(p, idontwant(&refs)).unwrap();
    let c = h.gs.stats().counters;
    assert_eq!(
        (c.idontwant_received, c.idontwant_dropped),
        (u64::from(N), u64::from(N) - CAP as u64)
    );
    let state = &h.gs.peers[&p];
    assert_eq!(state.dont_send.len(), CAP);
    let visits = state.dont_send.visits;
    assert!(
        visits <= 3 * u64::from(N),
        "{visits} entries visited for {N} ids: not O(1) per id"
    );
    // The first CAP ids are kept; the rest were ignored without being stored.
    let newest = crate::MessageId::new(&numbered_id(N - 1));
    let oldest = crate::MessageId::new(&numbered_id(0));
    assert!(!state.dont_send.contains(h.now, &newest));
    assert!(state.dont_send.contains(h.now, &oldest));
}

#[test]
fn idontwant_ids_are_capped_per_rpc() {
    let mut cfg = test_config();
    cfg.limits.max_idontwant_ids_per_rpc = 4;
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=4, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    let data: Vec<Vec<u8>> = (0u8..6).map(|i| vec![i; 8]).collect();
    let ids: Vec<crate::MessageId> = data.iter().map(|d| lean_id(TOPIC, d)).collect();
    // Two entries of three ids: only the first four ids of the RPC count.
    let mut control = idontwant(&[ids[0].as_bytes(), ids[1].as_bytes(), ids[2].as_bytes()]);
    control
        .idontwant
        .push(crate::wire::proto::ControlIDontWant {
            message_ids: ids[3..].iter().map(|i| i.as_bytes().to_vec()).collect(),
        });
    h.control(peers[1], control).unwrap();
    let c = h.gs.stats().counters;
    assert_eq!((c.idontwant_received, c.idontwant_dropped), (4, 2));
    for (i, (d, id)) in data.iter().zip(&ids).enumerate() {
        h.rpc(peers[0], msg(TOPIC, d)).unwrap();
        h.gs.report_validation(h.now, id, peers[0], crate::Validation::Accept)
            .unwrap();
        let expected = usize::from(i >= 4);
        assert_eq!(messages_to(&h.drain(), peers[1]), expected, "message {i}");
    }
}

#[test]
fn idontwant_from_a_v1_1_peer_is_ignored() {
    let mut h = Harness::new(test_config());
    let new = h.connect(1..=3, true, &[TOPIC]);
    let old = h.connect_version([4], ProtocolVersion::V1_1, true, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    assert!(h.mesh().contains(&old));
    let data = b"some block".to_vec();
    let id = lean_id(TOPIC, &data);
    h.control(old, idontwant(&[id.as_bytes()])).unwrap();
    let c = h.gs.stats().counters;
    assert_eq!((c.idontwant_received, c.idontwant_unsupported), (0, 1));
    h.rpc(new[0], msg(TOPIC, &data)).unwrap();
    h.gs.report_validation(h.now, &id, new[0], crate::Validation::Accept)
        .unwrap();
    let sent = h.drain();
    assert_eq!(
        messages_to(&sent, old),
        1,
        "still forwarded to the v1.1 peer"
    );
    assert_eq!(messages_to(&sent, new[1]), 1);
    assert_eq!(h.gs.stats().counters.idontwant_suppressed, 0);
}
