//! StrictSign: sign on publish, verify on receive; StrictNoSign interplay.

use super::*;
use crate::SignaturePolicy;

fn signed_harness(secret: u8) -> Harness {
    let mut cfg = test_config();
    cfg.signature_policy =
        SignaturePolicy::StrictSign(Box::new(Keypair::from_secret_bytes(&[secret; 32]).unwrap()));
    cfg.message_id_fn = crate::default_message_id;
    Harness::new(cfg)
}

fn published_message(h: &mut Harness) -> Message {
    let sent = h.drain();
    sent.into_iter()
        .find_map(|s| s.rpc.messages.into_iter().next())
        .unwrap()
}

#[test]
fn signed_messages_verify_and_tampering_is_rejected() {
    let mut a = signed_harness(1);
    a.connect([2], true, &[TOPIC]);
    a.gs.publish(a.now, &topic(), Bytes::from_static(b"hello"))
        .unwrap();
    let m = published_message(&mut a);
    assert_eq!(m.from.as_deref(), Some(peer(1).as_bytes()));
    assert_eq!(m.seqno.as_ref().map(|s| s.len()), Some(8));
    assert!(m.signature.is_some());
    assert!(m.key.is_none(), "secp256k1 key is inlined in the PeerId");

    let mut b = signed_harness(2);
    let pa = b.connect([1], true, &[TOPIC])[0];
    b.gs.subscribe(b.now, &topic()).unwrap();
    b.events();
    let rpc = Rpc {
        publish: vec![m.clone()],
        ..Default::default()
    };
    b.rpc(pa, rpc).unwrap();
    let events = b.events();
    assert!(matches!(&events[..], [Event::Message { author: Some(a), .. }] if *a == peer(1)));

    let mut tampered = m.clone();
    tampered.data = Some(Bytes::from_static(b"HELLO"));
    b.rpc(
        pa,
        Rpc {
            publish: vec![tampered],
            ..Default::default()
        },
    )
    .unwrap();
    let mut unsigned = m.clone();
    unsigned.seqno = Some(Bytes::from_static(&[9; 8]));
    unsigned.signature = None;
    b.rpc(
        pa,
        Rpc {
            publish: vec![unsigned],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(b.events().is_empty());
    assert_eq!(b.gs.stats().counters.invalid_messages, 2);

    // A StrictNoSign node rejects the signed message outright.
    let mut c = Harness::new(test_config());
    let pa = c.connect([1], true, &[TOPIC])[0];
    c.gs.subscribe(c.now, &topic()).unwrap();
    c.events();
    c.rpc(
        pa,
        Rpc {
            publish: vec![m],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(c.events().is_empty());
}

#[test]
fn strict_no_sign_publishes_no_author_fields() {
    let mut h = Harness::new(test_config());
    h.connect([2], true, &[TOPIC]);
    h.gs.publish(h.now, &topic(), Bytes::from_static(b"x"))
        .unwrap();
    let m = published_message(&mut h);
    assert_eq!(
        (m.from, m.seqno, m.signature, m.key),
        (None, None, None, None)
    );
}

#[test]
fn own_messages_dropped_unless_allowed() {
    let mut a = signed_harness(1);
    a.connect([2], true, &[TOPIC]);
    a.gs.subscribe(a.now, &topic()).unwrap();
    a.gs.publish(a.now, &topic(), Bytes::from_static(b"x"))
        .unwrap();
    let m = published_message(&mut a);
    // Reflected back by peer 2 with a fresh id (a different router) — StrictSign default
    // ids are from‖seqno, so the same message is a duplicate; change seqno & re-sign is not
    // possible for peer 2, hence use a second router with the same key.
    let mut cfg = test_config();
    cfg.signature_policy =
        SignaturePolicy::StrictSign(Box::new(Keypair::from_secret_bytes(&[1; 32]).unwrap()));
    cfg.message_id_fn = crate::default_message_id;
    cfg.allow_self_origin = false;
    let mut twin = Harness::new(cfg);
    let p2 = twin.connect([2], true, &[TOPIC])[0];
    twin.gs.subscribe(twin.now, &topic()).unwrap();
    twin.events();
    twin.rpc(
        p2,
        Rpc {
            publish: vec![m],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(twin.events().is_empty());
}

#[test]
fn duplicates_and_foreign_topics_cost_no_signature_verification() {
    let mut a = signed_harness(1);
    a.connect([2], true, &[TOPIC, "other"]);
    a.gs.publish(a.now, &topic(), Bytes::from_static(b"hello"))
        .unwrap();
    let m = published_message(&mut a);
    a.gs.publish(a.now, &TopicHash::new("other"), Bytes::from_static(b"x"))
        .unwrap();
    let foreign = published_message(&mut a);

    let mut b = signed_harness(2);
    let pa = b.connect([1], true, &[TOPIC])[0];
    b.gs.subscribe(b.now, &topic()).unwrap();
    let rpc = Rpc {
        publish: vec![m.clone(); 10],
        ..Default::default()
    };
    b.rpc(pa, rpc).unwrap();
    b.rpc(
        pa,
        Rpc {
            publish: vec![foreign; 10],
            ..Default::default()
        },
    )
    .unwrap();
    let c = b.gs.stats().counters;
    assert_eq!(c.signatures_verified, 1, "{c:?}");
    assert_eq!(c.duplicates_raw, 9);
    assert_eq!(c.unsubscribed_topic_messages, 10);
}
