//! Validation gating, duplicates, StrictNoSign checks, timeouts.

use super::*;
use crate::{Validation, ValidationError};

fn setup() -> (Harness, Vec<PeerId>) {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=4, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    h.events();
    (h, peers)
}

#[test]
fn forwarded_only_after_accept() {
    let (mut h, peers) = setup();
    h.rpc(peers[0], msg(TOPIC, b"data")).unwrap();
    let id = lean_id(TOPIC, b"data");
    assert_eq!(
        h.events(),
        vec![Event::Message {
            id: id.clone(),
            propagation_source: peers[0],
            topic: topic(),
            data: Bytes::from_static(b"data"),
            author: None
        }]
    );
    assert!(h.drain().is_empty(), "nothing forwarded before validation");
    // A duplicate from peers[1] during validation: no event, and peers[1] is skipped later.
    h.rpc(peers[1], msg(TOPIC, b"data")).unwrap();
    assert!(h.events().is_empty());
    assert_eq!(
        h.gs.report_validation(h.now, &id, peers[1], Validation::Accept),
        Err(ValidationError::UnknownMessage)
    );
    h.gs.report_validation(h.now, &id, peers[0], Validation::Accept)
        .unwrap();
    let sent = h.drain();
    assert_eq!(messages_to(&sent, peers[0]), 0);
    assert_eq!(messages_to(&sent, peers[1]), 0);
    assert_eq!(messages_to(&sent, peers[2]), 1);
    assert_eq!(messages_to(&sent, peers[3]), 1);
    assert!(sent.iter().all(|s| s.lane == Lane::Normal));
    assert_eq!(
        h.gs.report_validation(h.now, &id, peers[0], Validation::Accept),
        Err(ValidationError::UnknownMessage)
    );
    let c = h.gs.stats().counters;
    assert_eq!(
        (c.messages_received, c.duplicates, c.messages_forwarded),
        (2, 1, 2)
    );
}

#[test]
fn reject_and_ignore_do_not_forward() {
    let (mut h, peers) = setup();
    for (data, v) in [
        (&b"bad"[..], Validation::Reject),
        (&b"meh"[..], Validation::Ignore),
    ] {
        h.rpc(peers[0], msg(TOPIC, data)).unwrap();
        assert_eq!(h.events().len(), 1);
        let id = lean_id(TOPIC, data);
        h.gs.report_validation(h.now, &id, peers[0], v).unwrap();
        assert!(h.drain().is_empty());
        // Still seen: a re-send is a duplicate, not a new event.
        h.rpc(peers[1], msg(TOPIC, data)).unwrap();
        assert!(h
            .events()
            .iter()
            .all(|e| !matches!(e, Event::Message { .. })));
    }
    let c = h.gs.stats().counters;
    assert_eq!((c.validation_rejected, c.validation_ignored), (1, 1));
}

#[test]
fn validation_times_out() {
    let mut cfg = test_config();
    cfg.heartbeat_initial_delay = std::time::Duration::from_secs(100);
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=4, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    h.rpc(peers[0], msg(TOPIC, b"slow")).unwrap();
    let id = lean_id(TOPIC, b"slow");
    h.events();
    assert_eq!(h.gs.stats().pending_validation, 1);
    h.advance(std::time::Duration::from_secs(10));
    assert_eq!(h.gs.poll_timeout(), Some(h.now));
    assert_eq!(
        h.gs.timeout_reason(),
        Some(crate::TimeoutReason::ValidationTimeout)
    );
    h.gs.handle_timeout(h.now);
    assert_eq!(
        h.gs.report_validation(h.now, &id, peers[0], Validation::Accept),
        Err(ValidationError::UnknownMessage)
    );
    assert_eq!(h.gs.stats().counters.validation_timeouts, 1);
    assert!(h.drain().iter().all(|s| s.rpc.messages.is_empty()));
}

#[test]
fn strict_no_sign_rejects_signed_fields() {
    let (mut h, peers) = setup();
    let mut rpc = msg(TOPIC, b"x");
    rpc.publish[0].seqno = Some(Bytes::from_static(&[0; 8]));
    h.rpc(peers[0], rpc).unwrap();
    let mut rpc = msg(TOPIC, b"y");
    rpc.publish[0].from = Some(Bytes::from(peers[0].to_bytes()));
    h.rpc(peers[0], rpc).unwrap();
    assert!(h.events().is_empty());
    assert_eq!(h.gs.stats().counters.invalid_messages, 2);
}

#[test]
fn messages_for_unsubscribed_topics_are_dropped_and_oversize_rejected() {
    let mut cfg = test_config();
    cfg.topic_max_message_size.insert(topic(), 4);
    let mut h = Harness::new(cfg);
    let p = h.connect([1], true, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.events();
    h.rpc(p, msg("other", b"x")).unwrap();
    h.rpc(p, msg(TOPIC, b"12345")).unwrap();
    assert!(h.events().is_empty());
    let c = h.gs.stats().counters;
    assert_eq!((c.unsubscribed_topic_messages, c.invalid_messages), (1, 1));
    // A frame above max_transmit_size is dropped whole.
    let mut cfg = test_config();
    cfg.limits.max_transmit_size = 16;
    cfg.limits.max_decoder_buffer = 16;
    let mut h = Harness::new(cfg);
    let p = h.connect([1], true, &[])[0];
    assert!(matches!(
        h.rpc(p, msg(TOPIC, &[0; 32])),
        Err(crate::RpcError::FrameTooLarge { .. })
    ));
}

#[test]
fn without_explicit_validation_messages_forward_immediately() {
    let mut cfg = test_config();
    cfg.validate_messages = false;
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=3, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    h.events();
    h.rpc(peers[0], msg(TOPIC, b"x")).unwrap();
    assert_eq!(h.events().len(), 1);
    let sent = h.drain();
    assert_eq!(
        messages_to(&sent, peers[1]) + messages_to(&sent, peers[2]),
        2
    );
}

#[test]
fn bad_sections_do_not_drop_good_ones() {
    let (mut h, peers) = setup();
    let mut body = msg(TOPIC, b"good").encode_to_vec();
    body.extend([0x12, 0x03, 0x22, 0x01, 0xff]); // invalid UTF-8 topic
    body.extend(
        Rpc {
            control: Some(graft(TOPIC)),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    let r = h.gs.handle_rpc(h.now, peers[0], Bytes::from(body));
    assert_eq!(r, Err(crate::RpcError::PartiallyInvalid { dropped: 1 }));
    assert_eq!(h.events().len(), 1);
    assert_eq!(h.gs.stats().counters.graft_received, 1);
}

#[test]
fn validated_messages_leave_no_stale_deadline() {
    let mut cfg = test_config();
    cfg.heartbeat_initial_delay = std::time::Duration::from_secs(100);
    let mut h = Harness::new(cfg);
    let p = h.connect([1], true, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    h.rpc(p, msg(TOPIC, b"a")).unwrap();
    assert_eq!(
        h.gs.timeout_reason(),
        Some(crate::TimeoutReason::ValidationTimeout)
    );
    h.gs.report_validation(h.now, &lean_id(TOPIC, b"a"), p, Validation::Accept)
        .unwrap();
    h.drain();
    assert_eq!(h.gs.timeout_reason(), Some(crate::TimeoutReason::Heartbeat));
}

fn decompressions() -> u64 {
    crate::lean::DECOMPRESSIONS.with(std::cell::Cell::get)
}

#[test]
fn duplicates_of_a_compressed_message_decompress_once() {
    let (mut h, peers) = setup();
    // A highly compressible 1 MiB payload: each decompression is real work.
    let payload = vec![0u8; 1 << 20];
    let compressed = crate::lean::snappy_compress(&payload, payload.len()).unwrap();
    let before = decompressions();
    for round in 0..3 {
        for p in &peers {
            h.rpc(*p, msg(TOPIC, &compressed)).unwrap();
        }
        h.advance(Duration::from_millis(100 * (round + 1)));
    }
    assert_eq!(decompressions() - before, 1, "12 copies, one decompression");
    let c = h.gs.stats().counters;
    assert_eq!(
        (
            c.messages_received,
            c.duplicates,
            c.duplicates_raw,
            c.message_ids_computed
        ),
        (12, 11, 11, 1)
    );
    let events = h.events();
    assert_eq!(events.len(), 1);
    let Event::Message { id, .. } = &events[0] else {
        panic!("expected a message event");
    };
    // The duplicates were recorded against the pending message (not forwarded back).
    h.gs.report_validation(h.now, id, peers[0], Validation::Accept)
        .unwrap();
    let sent = h.drain();
    assert!(peers.iter().all(|p| messages_to(&sent, *p) == 0));
}

#[test]
fn the_raw_seen_cache_expires_with_the_seen_cache() {
    let (mut h, peers) = setup();
    let compressed = crate::lean::snappy_compress(b"payload", 100).unwrap();
    h.rpc(peers[0], msg(TOPIC, &compressed)).unwrap();
    h.advance(h.gs.config().seen_ttl + Duration::from_secs(1));
    h.gs.handle_timeout(h.now);
    assert_eq!(h.gs.seen_raw.len(), 0);
    let before = decompressions();
    h.rpc(peers[1], msg(TOPIC, &compressed)).unwrap();
    assert_eq!(
        decompressions() - before,
        1,
        "expired: the id is computed again"
    );
    assert_eq!(h.gs.stats().counters.duplicates, 0);
}

#[test]
fn declared_payload_over_the_topic_cap_is_rejected_without_decompressing() {
    let mut cfg = test_config();
    cfg.topic_max_payload_size.insert(topic(), 1_000);
    let mut h = Harness::new(cfg);
    let p = h.connect([1], true, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.events();
    // 1 MiB of zeros compresses to ~50 KiB, well under the data cap.
    let payload = vec![0u8; 1 << 20];
    let bomb = crate::lean::snappy_compress(&payload, payload.len()).unwrap();
    let small = crate::lean::snappy_compress(&[7u8; 1_000], 1_000).unwrap();
    let before = decompressions();
    h.rpc(p, msg(TOPIC, &bomb)).unwrap();
    assert_eq!(decompressions() - before, 0);
    assert_eq!(h.gs.stats().counters.invalid_messages, 1);
    assert!(h.events().is_empty());
    h.rpc(p, msg(TOPIC, &small)).unwrap();
    assert_eq!(h.events().len(), 1, "at the cap is fine");
}
