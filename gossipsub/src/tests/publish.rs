//! Publishing: flood publish, mesh publish, errors.

use super::*;
use crate::PublishError;

#[test]
fn publish_errors() {
    let mut cfg = test_config();
    cfg.topic_max_message_size.insert(topic(), 8);
    let mut h = Harness::new(cfg);
    assert_eq!(
        h.gs.publish(h.now, &topic(), Bytes::from_static(b"x")),
        Err(PublishError::InsufficientPeers)
    );
    h.connect([1], true, &[TOPIC]);
    assert_eq!(
        h.gs.publish(h.now, &topic(), Bytes::from_static(b"123456789")),
        Err(PublishError::MessageTooLarge { len: 9, max: 8 })
    );
    let id =
        h.gs.publish(h.now, &topic(), Bytes::from_static(b"x"))
            .unwrap();
    assert_eq!(id, lean_id(TOPIC, b"x"));
    assert_eq!(
        h.gs.publish(h.now, &topic(), Bytes::from_static(b"x")),
        Err(PublishError::Duplicate)
    );
    assert_eq!(
        h.gs.publish(h.now, &TopicHash::new(""), Bytes::new()),
        Err(PublishError::InvalidTopic)
    );
}

#[test]
fn flood_publish_reaches_every_subscriber_on_the_priority_lane() {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=20, true, &[TOPIC]);
    let other = h.connect([30], true, &["other"])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    h.gs.publish(h.now, &topic(), Bytes::from_static(b"m"))
        .unwrap();
    let sent = h.drain();
    for p in &peers {
        assert_eq!(messages_to(&sent, *p), 1);
    }
    assert_eq!(messages_to(&sent, other), 0);
    assert!(sent.iter().all(|s| s.lane == Lane::Priority));
    // Received back from a peer: duplicate, no event.
    h.rpc(peers[0], msg(TOPIC, b"m")).unwrap();
    assert!(h
        .events()
        .iter()
        .all(|e| !matches!(e, Event::Message { .. })));
}

#[test]
fn mesh_publish_without_flood() {
    let mut cfg = test_config();
    cfg.flood_publish = false;
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=20, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    h.gs.publish(h.now, &topic(), Bytes::from_static(b"m"))
        .unwrap();
    let sent = h.drain();
    let mesh = h.mesh();
    for p in &peers {
        assert_eq!(messages_to(&sent, *p), usize::from(mesh.contains(p)));
    }
}
