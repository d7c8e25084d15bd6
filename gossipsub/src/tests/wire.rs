//! Wire vectors, section-independent decoding, framing and lean helpers.

use bytes::Bytes;
use proptest::prelude::*;
use prost::Message as _;

use super::*;
use crate::lean::{self, LeanTopic, TopicKind};
use crate::wire::{encode_control_frame, encode_message_frame, encode_rpc_frame, FrameDecoder};
use crate::{FrameError, Limits};

const T_HEX: &str =
    "2f6c65616e636f6e73656e7375732f31323334353637382f626c6f636b2f73737a5f736e61707079";
const ID_HEX: &str = "8505fa518a9a5bb8376e4aba7bce5eae12a3dd48";

fn hx(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

#[test]
fn spec_frame_vectors() {
    let id = hx(ID_HEX);
    let cases: Vec<(Bytes, String)> = vec![
        (
            encode_control_frame(vec![sub(TOPIC, true)], None),
            format!("2e 0a2c 0801 1228 {T_HEX}"),
        ),
        (
            encode_message_frame(&msg(TOPIC, &hx("040cdeadbeef")).publish[0]),
            format!("34 1232 1206 040cdeadbeef 2228 {T_HEX}"),
        ),
        (
            encode_rpc_frame(&Rpc {
                control: Some(graft(TOPIC)),
                ..Default::default()
            }),
            format!("2e 1a2c 1a2a 0a28 {T_HEX}"),
        ),
        (
            encode_rpc_frame(&Rpc {
                control: Some(prune(TOPIC, Some(60), vec![])),
                ..Default::default()
            }),
            format!("30 1a2e 222c 0a28 {T_HEX} 183c"),
        ),
        (
            encode_rpc_frame(&Rpc {
                control: Some(ihave(TOPIC, &[&id])),
                ..Default::default()
            }),
            format!("44 1a42 0a40 0a28 {T_HEX} 1214 {ID_HEX}"),
        ),
        (
            encode_rpc_frame(&Rpc {
                control: Some(idontwant(&[&id])),
                ..Default::default()
            }),
            format!("1a 1a18 2a16 0a14 {ID_HEX}"),
        ),
        (
            encode_control_frame(vec![], Some(ControlMessage::default())),
            "02 1a00".to_owned(),
        ),
    ];
    for (frame, expected) in cases {
        assert_eq!(hex::encode(&frame), expected.replace(' ', ""));
        // And each decodes back to the same RPC.
        let body = decode_frame(&frame, usize::MAX).unwrap();
        let rpc = Rpc::decode(body.clone()).unwrap();
        assert_eq!(encode_rpc_frame(&rpc), frame);
    }
}

#[test]
fn lean_message_id_vectors() {
    let t = TOPIC;
    let deadbeef = hx("deadbeef");
    let compressed = lean::snappy_compress(&deadbeef, lean::MAX_PAYLOAD_SIZE).unwrap();
    assert_eq!(hex::encode(&compressed), "040cdeadbeef");
    assert_eq!(lean::message_id(t, &compressed).to_string(), ID_HEX);
    // deadbeef is not a valid snappy block: invalid domain over the raw bytes.
    assert_eq!(
        lean::message_id(t, &deadbeef).to_string(),
        "2aff5124db8064dd9ddcdd7fc251397ab02527c7"
    );
    let empty = lean::snappy_compress(&[], 10).unwrap();
    assert_eq!(
        lean::message_id(t, &empty).to_string(),
        "dec01e3e1997dcc2c46c0633116bc6a4ee521086"
    );
    let ab = lean::snappy_compress(&[0xab; 256], lean::MAX_PAYLOAD_SIZE).unwrap();
    assert_eq!(
        lean::message_id(t, &ab).to_string(),
        "d962d4a07a499c918aa0dda5844ec09cdd14080b"
    );
    let zeros = lean::snappy_compress(&[0; 80], 100).unwrap();
    assert_eq!(hex::encode(zeros), "500000fe01003a0100");
}

#[test]
fn snappy_cap_checked_before_allocation() {
    // Header declares 2^32 bytes; nothing else follows.
    let bomb = [0x80, 0x80, 0x80, 0x80, 0x10, 0x00];
    assert_eq!(
        lean::snappy_decompress(&bomb, lean::MAX_PAYLOAD_SIZE),
        Err(crate::SnappyError::DeclaredTooLarge {
            declared: 1 << 32,
            max: lean::MAX_PAYLOAD_SIZE
        })
    );
    let ok = lean::snappy_compress(b"hello hello hello", 100).unwrap();
    assert!(matches!(
        lean::snappy_decompress(&ok, 5),
        Err(crate::SnappyError::DeclaredTooLarge { .. })
    ));
    assert_eq!(
        lean::snappy_decompress(&ok, 100).unwrap(),
        b"hello hello hello"
    );
    assert!(matches!(
        lean::snappy_decompress(&[0u8; 64], 10),
        Err(crate::SnappyError::CompressedTooLarge { .. })
    ));
    assert!(lean::snappy_compress(&[0; 11], 10).is_err());
}

#[test]
fn lean_topics() {
    let block = LeanTopic::new(lean::DEFAULT_NETWORK, TopicKind::Block);
    assert_eq!(block.to_topic_string(), TOPIC);
    let att = LeanTopic::new("devnet0", TopicKind::Attestation(3));
    assert_eq!(
        att.to_topic_string(),
        "/leanconsensus/devnet0/attestation_3/ssz_snappy"
    );
    assert_eq!(LeanTopic::parse(&att.to_topic_string(), "devnet0"), Ok(att));
    assert_eq!(
        LeanTopic::parse("/leanconsensus/12345678/aggregation/ssz_snappy", "12345678")
            .unwrap()
            .kind,
        TopicKind::Aggregation
    );
    use crate::TopicError::*;
    assert_eq!(LeanTopic::parse(TOPIC, "devnet0"), Err(WrongNetwork));
    assert_eq!(
        LeanTopic::parse("/eth2/12345678/block/ssz_snappy", "12345678"),
        Err(Malformed)
    );
    assert_eq!(
        LeanTopic::parse("/leanconsensus/12345678/block/ssz", "12345678"),
        Err(Malformed)
    );
    assert_eq!(
        LeanTopic::parse("/leanconsensus/12345678/block/ssz_snappy/x", "12345678"),
        Err(Malformed)
    );
    assert_eq!(
        LeanTopic::parse("/leanconsensus/12345678/blocks/ssz_snappy", "12345678"),
        Err(UnknownKind)
    );
    assert_eq!(
        LeanTopic::parse(
            "/leanconsensus/12345678/attestation_01/ssz_snappy",
            "12345678"
        ),
        Err(UnknownKind)
    );
    assert_eq!(
        LeanTopic::parse(
            "/leanconsensus/12345678/attestation_/ssz_snappy",
            "12345678"
        ),
        Err(UnknownKind)
    );
}

#[test]
fn sections_decode_independently() {
    // subscription OK, a broken message (field 4 string with invalid UTF-8), control OK.
    let mut body = Vec::new();
    body.extend(
        Rpc {
            subscriptions: vec![sub("a", true)],
            ..Default::default()
        }
        .encode_to_vec(),
    );
    body.extend([0x12, 0x03, 0x22, 0x01, 0xff]); // Message{topic: "\xff"}: invalid UTF-8
    body.extend([0x12, 0x02, 0x22, 0x05]); // Message with a truncated inner field
    body.extend(
        Rpc {
            control: Some(graft("a")),
            ..Default::default()
        }
        .encode_to_vec(),
    );
    body.extend([0x52, 0x02, 0x08, 0x01]); // unknown field 10 (v1.3 partial): skipped
    let rpc = decode_rpc(&Bytes::from(body), &Limits::default());
    assert_eq!(rpc.subscriptions, vec![sub("a", true)]);
    assert!(rpc.messages.is_empty());
    assert_eq!(rpc.graft.len(), 1);
    assert_eq!(rpc.dropped_sections, 2);
}

#[test]
fn unknown_fields_are_skipped_at_every_level() {
    // ControlMessage with ControlExtensions (field 6) and a graft with an extra varint field 7.
    let mut graft_entry = ControlGraft {
        topic_id: Some("t".into()),
    }
    .encode_to_vec();
    graft_entry.extend([0x38, 0x05]); // field 7 varint
    let mut control = vec![0x1a, graft_entry.len() as u8];
    control.extend(&graft_entry);
    control.extend([0x32, 0x02, 0x50, 0x01]); // field 6: ControlExtensions{partialMessages: true}
    control.extend([0x45, 1, 2, 3, 4]); // field 8 fixed32
    let mut body = vec![0x1a, control.len() as u8];
    body.extend(&control);
    body.extend([0x49, 1, 2, 3, 4, 5, 6, 7, 8]); // field 9 fixed64 at top level
    let rpc = decode_rpc(&Bytes::from(body), &Limits::default());
    assert_eq!(
        rpc.graft,
        vec![ControlGraft {
            topic_id: Some("t".into())
        }]
    );
    assert_eq!(rpc.dropped_sections, 0);
}

#[test]
fn section_limits() {
    let limits = Limits {
        max_messages_per_rpc: 2,
        max_control_entry_size: 10,
        ..Limits::default()
    };
    let mut rpc = Rpc::default();
    for i in 0..5u8 {
        rpc.publish.push(msg("t", &[i]).publish.remove(0));
    }
    rpc.control = Some(ControlMessage {
        graft: vec![
            ControlGraft {
                topic_id: Some("x".repeat(20)),
            },
            ControlGraft {
                topic_id: Some("y".into()),
            },
        ],
        ..Default::default()
    });
    let decoded = decode_rpc(&Bytes::from(rpc.encode_to_vec()), &limits);
    assert_eq!(decoded.messages.len(), 2);
    assert_eq!(
        decoded.graft,
        vec![ControlGraft {
            topic_id: Some("y".into())
        }]
    );
    assert_eq!(decoded.dropped_sections, 4);
}

#[test]
fn frame_decoder_incremental_and_limits() {
    let f1 = encode_control_frame(vec![sub("a", true)], None);
    let f2 = encode_message_frame(&msg("a", &[7; 300]).publish[0]);
    let mut all = f1.to_vec();
    all.extend_from_slice(&f2);
    // Byte by byte.
    let mut dec = FrameDecoder::new(1 << 20);
    let mut frames = Vec::new();
    for b in &all {
        let mut chunk = Bytes::copy_from_slice(&[*b]);
        while !chunk.is_empty() {
            if let Some(f) = dec.decode(&mut chunk).unwrap() {
                frames.push(f);
            }
        }
    }
    assert_eq!(frames, vec![f1.slice(1..), f2.slice(2..)]);
    assert_eq!(dec.buffered(), 0);
    // All at once.
    let mut input = Bytes::from(all);
    let mut dec = FrameDecoder::new(1 << 20);
    assert_eq!(dec.decode(&mut input).unwrap().unwrap(), f1.slice(1..));
    assert_eq!(dec.decode(&mut input).unwrap().unwrap(), f2.slice(2..));
    assert!(input.is_empty());
    // Too large: rejected from the prefix alone.
    let mut dec = FrameDecoder::new(100);
    let mut input = Bytes::from_static(&[0xe5, 0x8e, 0x26]);
    assert_eq!(
        dec.decode(&mut input),
        Err(FrameError::TooLarge {
            len: 624_485,
            max: 100
        })
    );
    // Overlong varint.
    let mut dec = FrameDecoder::new(100);
    let mut input = Bytes::from_static(&[0xff; 11]);
    assert!(dec.decode(&mut input).is_err());
    // Empty frame is a valid (empty) RPC.
    let mut dec = FrameDecoder::new(100);
    let mut input = Bytes::from_static(&[0x00]);
    assert_eq!(dec.decode(&mut input).unwrap(), Some(Bytes::new()));
    assert_eq!(
        decode_frame(&Bytes::from_static(&[2, 0x1a]), 10),
        Err(FrameError::Truncated)
    );
    assert_eq!(
        decode_frame(&Bytes::from_static(&[0, 0]), 10),
        Err(FrameError::TrailingBytes)
    );
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Option<Bytes>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from))
}

fn arb_ids() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 0..4)
}

prop_compose! {
    fn arb_rpc()(
        subs in proptest::collection::vec((proptest::option::of(any::<bool>()), proptest::option::of(".{0,12}")), 0..3),
        msgs in proptest::collection::vec((arb_bytes(8), arb_bytes(40), arb_bytes(8), ".{0,12}", arb_bytes(8), arb_bytes(8)), 0..3),
        control in proptest::option::of((
            proptest::collection::vec((proptest::option::of(".{0,8}"), arb_ids()), 0..2),
            proptest::collection::vec(arb_ids(), 0..2),
            proptest::collection::vec(proptest::option::of(".{0,8}"), 0..2),
            proptest::collection::vec((proptest::option::of(".{0,8}"), proptest::option::of(any::<u64>()), proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)), 0..2)), 0..2),
            proptest::collection::vec(arb_ids(), 0..2),
        )),
    ) -> Rpc {
        Rpc {
            subscriptions: subs.into_iter().map(|(subscribe, topic_id)| SubOpts { subscribe, topic_id, ..SubOpts::default() }).collect(),
            publish: msgs.into_iter().map(|(from, data, seqno, topic, signature, key)| Message { from, data, seqno, topic, signature, key }).collect(),
            control: control.map(|(ih, iw, gr, pr, idw)| ControlMessage {
                ihave: ih.into_iter().map(|(topic_id, message_ids)| ControlIHave { topic_id, message_ids }).collect(),
                iwant: iw.into_iter().map(|message_ids| ControlIWant { message_ids }).collect(),
                graft: gr.into_iter().map(|topic_id| ControlGraft { topic_id }).collect(),
                prune: pr.into_iter().map(|(topic_id, backoff, peers)| ControlPrune {
                    topic_id, backoff,
                    peers: peers.into_iter().map(|peer_id| PeerInfo { peer_id, signed_peer_record: None }).collect(),
                }).collect(),
                idontwant: idw.into_iter().map(|message_ids| ControlIDontWant { message_ids }).collect(),
            }),
        }
    }
}

proptest! {
    #[test]
    fn rpc_round_trip(rpc in arb_rpc()) {
        let frame = encode_rpc_frame(&rpc);
        let body = decode_frame(&frame, usize::MAX).unwrap();
        prop_assert_eq!(Rpc::decode(body.clone()).unwrap(), rpc.clone());
        let d = decode_rpc(&body, &Limits::default());
        prop_assert_eq!(d.dropped_sections, 0);
        prop_assert_eq!(d.subscriptions, rpc.subscriptions.clone());
        prop_assert_eq!(d.messages, rpc.publish.clone());
        let c = rpc.control.unwrap_or_default();
        prop_assert_eq!(d.ihave, c.ihave);
        prop_assert_eq!(d.iwant, c.iwant);
        prop_assert_eq!(d.graft, c.graft);
        prop_assert_eq!(d.prune, c.prune);
        prop_assert_eq!(d.idontwant, c.idontwant);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let bytes = Bytes::from(data);
        let _ = decode_rpc(&bytes, &Limits::default());
        let _ = decode_frame(&bytes, 1 << 16);
        let mut dec = FrameDecoder::new(1 << 10);
        let mut input = bytes.clone();
        while !input.is_empty() {
            match dec.decode(&mut input) {
                Ok(Some(f)) => prop_assert!(f.len() <= 1 << 10),
                Ok(None) => {}
                Err(_) => break,
            }
        }
        let _ = lean::snappy_decompress(&bytes, 1 << 16);
        let _ = lean::message_id("t", &bytes);
    }

    #[test]
    fn unknown_fields_skipped(rpc in arb_rpc(), field in 11u32..1000, payload in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut body = rpc.encode_to_vec();
        // Append an unknown length-delimited field at the top level.
        let mut extra = Vec::new();
        prost::encoding::encode_key(field, prost::encoding::WireType::LengthDelimited, &mut extra);
        prost::encoding::encode_varint(payload.len() as u64, &mut extra);
        extra.extend(&payload);
        body.splice(0..0, extra.iter().copied());
        body.extend(&extra);
        let d = decode_rpc(&Bytes::from(body), &Limits::default());
        prop_assert_eq!(d.dropped_sections, 0);
        prop_assert_eq!(d.subscriptions, rpc.subscriptions);
        prop_assert_eq!(d.messages, rpc.publish);
    }

    #[test]
    fn snappy_round_trip(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let c = lean::snappy_compress(&data, 4096).unwrap();
        prop_assert_eq!(lean::snappy_decompress(&c, 4096).unwrap(), data);
    }
}

proptest! {
    #[test]
    fn decode_respects_limits(rpc in arb_rpc(), max_msgs in 1usize..3, max_entries in 1usize..3) {
        let limits = Limits {
            max_messages_per_rpc: max_msgs,
            max_subscriptions_per_rpc: max_msgs,
            max_control_entries_per_rpc: max_entries,
            ..Limits::default()
        };
        let body = Bytes::from(rpc.encode_to_vec());
        let d = decode_rpc(&body, &limits);
        prop_assert!(d.messages.len() <= max_msgs);
        prop_assert!(d.subscriptions.len() <= max_msgs);
        let entries = d.ihave.len() + d.iwant.len() + d.graft.len() + d.prune.len() + d.idontwant.len();
        prop_assert!(entries <= max_entries);
        let full = decode_rpc(&body, &Limits::default());
        let full_entries = full.ihave.len() + full.iwant.len() + full.graft.len() + full.prune.len() + full.idontwant.len();
        prop_assert_eq!(
            d.dropped_sections,
            (full.messages.len() - d.messages.len())
                + (full.subscriptions.len() - d.subscriptions.len())
                + (full_entries - entries)
        );
    }
}

/// An RPC body holding one 100-byte message, padded to ~1 MiB with an unknown field.
fn padded_small_message() -> (Bytes, Vec<u8>) {
    let data: Vec<u8> = (0..100u8).collect();
    let mut body = msg(TOPIC, &data).encode_to_vec();
    let padding = vec![0xAB; 1 << 20];
    // Field 10 (unknown to the decoder), wire type 2.
    body.push((10 << 3) | 2);
    let mut len = padding.len();
    while len >= 0x80 {
        body.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    body.push(len as u8);
    body.extend_from_slice(&padding);
    (Bytes::from(body), data)
}

fn points_into(inner: &Bytes, outer: &Bytes) -> bool {
    let start = outer.as_ptr() as usize;
    let p = inner.as_ptr() as usize;
    p >= start && p < start + outer.len()
}

#[test]
fn small_messages_do_not_pin_big_frames() {
    let (body, data) = padded_small_message();
    let rpc = decode_rpc(&body, &Limits::default());
    assert_eq!(rpc.dropped_sections, 0);
    let got = rpc.messages[0].data.clone().unwrap();
    assert_eq!(got, data);
    assert!(!points_into(&got, &body), "copied out of the frame");
    // Through the router: the event's data does not keep the frame alive either.
    let mut h = Harness::new(test_config());
    let p = h.connect([1], true, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.events();
    h.gs.handle_rpc(h.now, p, body.clone()).unwrap();
    let events = h.events();
    let Some(Event::Message { data: got, .. }) = events.first() else {
        panic!("expected a message event");
    };
    assert_eq!(got, &data);
    assert!(!points_into(got, &body));
}

#[test]
fn large_messages_stay_zero_copy() {
    // A message that is most of its frame is not copied.
    let data = vec![5u8; 4_096];
    let body = Bytes::from(msg(TOPIC, &data).encode_to_vec());
    let rpc = decode_rpc(&body, &Limits::default());
    let got = rpc.messages[0].data.clone().unwrap();
    assert_eq!(got, data);
    assert!(points_into(&got, &body));
}

#[test]
fn an_rpc_over_the_subscription_cap_has_all_its_changes_skipped() {
    let limits = Limits {
        max_subscriptions_per_rpc: 4,
        ..Limits::default()
    };
    let rpc = |n: usize| Rpc {
        subscriptions: (0..n).map(|k| sub("/t", k % 2 == 0)).collect(),
        ..Default::default()
    };
    let at_cap = decode_rpc(&Bytes::from(rpc(4).encode_to_vec()), &limits);
    assert_eq!(
        (at_cap.subscriptions.len(), at_cap.dropped_sections),
        (4, 0)
    );
    let over = decode_rpc(&Bytes::from(rpc(5).encode_to_vec()), &limits);
    assert_eq!((over.subscriptions.len(), over.dropped_sections), (0, 5));
    assert_eq!(
        (at_cap.subscriptions_refused, over.subscriptions_refused),
        (0, 5)
    );
}

#[test]
fn decode_received_hands_back_the_whole_frame_when_it_is_at_hand() {
    let frame = encode_message_frame(&msg("a", &[7; 300]).publish[0]);
    // In one input: the frame as received, body sliced from it.
    let mut dec = FrameDecoder::new(1 << 20);
    let mut input = frame.clone();
    let got = dec.decode_received(&mut input).unwrap().unwrap();
    assert_eq!(got.wire.as_ref(), Some(&frame));
    assert_eq!(got.body, frame.slice(2..));
    assert!(points_into(&got.body, got.wire.as_ref().unwrap()));
    // Byte by byte: reassembled with the prefix in front, one allocation.
    let mut dec = FrameDecoder::new(1 << 20);
    let mut got = None;
    for b in frame.iter() {
        let mut chunk = Bytes::copy_from_slice(&[*b]);
        if let Some(f) = dec.decode_received(&mut chunk).unwrap() {
            got = Some(f);
        }
    }
    let got = got.unwrap();
    assert_eq!(got.wire.as_ref(), Some(&frame));
    assert!(points_into(&got.body, got.wire.as_ref().unwrap()));
    // Prefix in one input, the whole body in the next: the body is borrowed from the
    // second input, which lacks the prefix, so no whole frame.
    let mut dec = FrameDecoder::new(1 << 20);
    let mut first = frame.slice(..2);
    assert_eq!(dec.decode_received(&mut first).unwrap(), None);
    let mut second = frame.slice(2..);
    let got = dec.decode_received(&mut second).unwrap().unwrap();
    assert_eq!((got.wire, got.body), (None, frame.slice(2..)));
}

/// Feeds one received frame to a router subscribed to `TOPIC` with two mesh peers,
/// accepts the message, and returns the frame it forwarded.
fn forwarded_frame(received: Bytes) -> Bytes {
    let mut h = Harness::new(test_config());
    let peers = h.connect(1..=2, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.heartbeat();
    h.drain();
    h.events();
    let mut input = received;
    let frame = FrameDecoder::new(1 << 20)
        .decode_received(&mut input)
        .unwrap()
        .unwrap();
    h.gs.handle_received_rpc(h.now, peers[0], frame).unwrap();
    accept_all(&mut h);
    std::iter::from_fn(|| h.gs.poll_outbound())
        .find(|o| o.to == peers[1] && o.frame.len() > 1_000)
        .expect("the message is forwarded")
        .frame
}

#[test]
fn a_message_alone_in_its_frame_is_forwarded_as_received() {
    let data = vec![3u8; 4_000];
    let frame = encode_message_frame(&msg(TOPIC, &data).publish[0]);
    let forwarded = forwarded_frame(frame.clone());
    assert_eq!(forwarded, frame);
    // Not a copy: the forwarded frame is the received allocation.
    assert_eq!(forwarded.as_ptr(), frame.as_ptr());
}

#[test]
fn a_padded_message_is_re_encoded_before_it_is_forwarded() {
    let data = vec![3u8; 4_000];
    let canonical = encode_message_frame(&msg(TOPIC, &data).publish[0]);
    // The same message with an unknown field (number 50) appended inside it.
    let mut inner = msg(TOPIC, &data).publish[0].encode_to_vec();
    inner.extend_from_slice(&field(50, &[0xee; 2_000]));
    let padded = crate::wire::prefix_frame(&field(2, &inner));
    let forwarded = forwarded_frame(padded.clone());
    assert_eq!(forwarded, canonical);
    assert!(forwarded.len() < padded.len());
}

/// A length-delimited protobuf field.
fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(
        number as u32,
        prost::encoding::WireType::LengthDelimited,
        &mut out,
    );
    prost::encoding::encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}
