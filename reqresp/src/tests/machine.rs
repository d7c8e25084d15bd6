//! End-to-end behaviour of two machines: responses, errors, timeouts,
//! concurrency caps, disconnects, custom protocols.

use super::harness::{drain_events, drain_ops, peer, Pair};
use crate::lean::{self, BlocksByRangeRequest, BlocksByRootRequest, Status};
use crate::{
    AbortReason, Config, DecodeError, Event, FailureReason, Limits, OpenFailure, ProtocolConfig,
    ProtocolId, ProtocolLimits, RejectReason, RequestError, RespondError, ResponseChunk,
    ResponseCode, StreamError, StreamKey, StreamOp, TimeoutReason,
};
use bytes::Bytes;
use std::time::{Duration, Instant};

fn status_body() -> Bytes {
    Bytes::from(Status::default().to_ssz().unwrap())
}

fn range_body(count: u64) -> Bytes {
    Bytes::from(
        BlocksByRangeRequest {
            start_slot: 1,
            count,
        }
        .to_ssz()
        .unwrap(),
    )
}

#[test]
fn status_round_trip_at_every_split() {
    for split in [1, 2, 7, usize::MAX] {
        let t0 = Instant::now();
        let mut p = Pair::lean();
        p.split = split;
        let mine = Status {
            finalized: lean::Checkpoint {
                root: [3; 32],
                slot: 9,
            },
            ..Status::default()
        };
        let id = p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
        p.pump(t0);
        let inbound = p.take_inbound();
        assert_eq!(inbound.len(), 1);
        assert_eq!(inbound[0].1, status_body());
        p.b.respond(
            t0,
            inbound[0].0,
            ResponseChunk::success(mine.to_ssz().unwrap()),
        )
        .unwrap();
        p.b.end_response(t0, inbound[0].0).unwrap();
        p.pump(t0);
        assert_eq!(
            p.events_a,
            vec![
                Event::Response {
                    request: id,
                    peer: p.pb,
                    payload: Bytes::from(mine.to_ssz().unwrap())
                },
                Event::Completed {
                    request: id,
                    peer: p.pb,
                    chunks: 1
                },
            ]
        );
        // Requester FINs after its request, responder after its last chunk.
        assert_eq!(p.fins.iter().filter(|(s, _)| *s == 'a').count(), 1);
        assert_eq!(p.fins.iter().filter(|(s, _)| *s == 'b').count(), 1);
        // At the chunk cap the requester completes, then waits for the FIN: no resets.
        assert!(p.resets.is_empty());
        p.assert_idle();
    }
}

#[test]
fn blocks_by_range_streams_chunks_and_stops_at_count() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let id =
        p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, range_body(3))
            .unwrap();
    p.pump(t0);
    let (ch, _) = p.take_inbound()[0].clone();
    for i in 0..3u8 {
        p.b.respond(
            t0,
            ch,
            ResponseChunk::success(vec![i; 100 + usize::from(i)]),
        )
        .unwrap();
    }
    // The request asked for 3 blocks: a fourth is refused.
    assert_eq!(
        p.b.respond(t0, ch, ResponseChunk::success(vec![9])),
        Err(RespondError::TooManyChunks { max: 3 })
    );
    p.b.end_response(t0, ch).unwrap();
    p.pump(t0);
    let payloads: Vec<_> = p
        .events_a
        .iter()
        .filter_map(|e| match e {
            Event::Response { payload, .. } => Some(payload.len()),
            _ => None,
        })
        .collect();
    assert_eq!(payloads, vec![100, 101, 102]);
    assert_eq!(
        p.events_a.last(),
        Some(&Event::Completed {
            request: id,
            peer: p.pb,
            chunks: 3
        })
    );
    p.assert_idle();
}

#[test]
fn legacy_blocks_by_root_alias_is_accepted_and_reported_by_primary_id() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    assert!(p
        .b
        .supported_protocols()
        .contains(&lean::BLOCKS_BY_ROOT_LEGACY));
    let body = Bytes::from(
        BlocksByRootRequest {
            roots: vec![[1; 32], [2; 32]],
        }
        .to_ssz()
        .unwrap(),
    );
    p.a.request(t0, p.pb, &lean::BLOCKS_BY_ROOT_LEGACY, body.clone())
        .unwrap();
    let ops = drain_ops(&mut p.a);
    let StreamOp::Open { protocols, .. } = &ops[0] else {
        panic!()
    };
    assert_eq!(
        protocols,
        &vec![lean::BLOCKS_BY_ROOT_LEGACY, lean::BLOCKS_BY_ROOT]
    );
    p.open(t0, ops[0].clone());
    p.pump(t0);
    assert!(matches!(
        &p.events_b[..],
        [Event::InboundRequest { protocol, body: b, .. }] if *protocol == lean::BLOCKS_BY_ROOT && *b == body
    ));
}

#[test]
fn error_chunk_fails_request_with_code_and_message() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let id =
        p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, range_body(5))
            .unwrap();
    p.pump(t0);
    let (ch, _) = p.take_inbound()[0].clone();
    p.b.respond(t0, ch, ResponseChunk::success(vec![1; 10]))
        .unwrap();
    p.b.respond(
        t0,
        ch,
        ResponseChunk::error(ResponseCode::ResourceUnavailable, &b"not found"[..]),
    )
    .unwrap();
    // The error chunk ended the response.
    assert_eq!(p.b.end_response(t0, ch), Err(RespondError::UnknownChannel));
    p.pump(t0);
    assert_eq!(
        p.events_a[1],
        Event::Failed {
            request: id,
            peer: p.pb,
            reason: FailureReason::ErrorResponse {
                code: ResponseCode::ResourceUnavailable,
                message: Bytes::from_static(b"not found")
            }
        }
    );
    p.assert_idle();
}

#[test]
fn status_without_a_chunk_is_missing_chunks() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let id = p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
    p.pump(t0);
    let (ch, _) = p.take_inbound()[0].clone();
    p.b.end_response(t0, ch).unwrap();
    p.pump(t0);
    assert_eq!(
        p.events_a,
        vec![Event::Failed {
            request: id,
            peer: p.pb,
            reason: FailureReason::MissingChunks {
                received: 0,
                required: 1
            }
        }]
    );
    p.assert_idle();
}

#[test]
fn invalid_request_is_answered_invalid_request() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let key = StreamKey::new(1, 1);
    p.b.handle_stream_opened(t0, p.pa, key, lean::STATUS.as_str())
        .unwrap();
    // 0x51 = 81 bytes declared for an 80-byte Status.
    let err = p.b.handle_stream_data(t0, key, &[0x51, 0xff]).unwrap_err();
    assert_eq!(
        err,
        StreamError::Decode(DecodeError::LengthTooLarge {
            declared: 81,
            max: 80
        })
    );
    let ops = drain_ops(&mut p.b);
    let StreamOp::Write { data, .. } = &ops[0] else {
        panic!("{ops:?}")
    };
    assert_eq!(data[0], 1, "InvalidRequest result code");
    assert_eq!(ops[1], StreamOp::Finish { stream: key });
    assert!(matches!(
        &drain_events(&mut p.b)[..],
        [Event::InboundRejected {
            reason: RejectReason::Invalid(DecodeError::LengthTooLarge { .. }),
            ..
        }]
    ));
    assert_eq!(p.b.stats().invalid_requests, 1);
    // More bytes are discarded; the FIN releases the stream.
    p.b.handle_stream_data(t0, key, &[1, 2, 3]).unwrap();
    p.b.handle_stream_finished(t0, key).unwrap();
    assert_eq!(p.b.tracked_streams(), 0);

    // An empty stream (FIN without a request) is invalid too.
    let key2 = StreamKey::new(1, 2);
    p.b.handle_stream_opened(t0, p.pa, key2, lean::STATUS.as_str())
        .unwrap();
    assert_eq!(
        p.b.handle_stream_finished(t0, key2),
        Err(StreamError::Decode(DecodeError::MissingRequest))
    );
    assert_eq!(p.b.tracked_streams(), 0, "both sides are done");
    assert_eq!(p.b.stats().invalid_requests, 2);
}

#[test]
fn request_times_out_after_ten_seconds_and_resets() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let id = p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
    assert_eq!(p.a.poll_timeout(), Some(t0));
    assert_eq!(p.a.timeout_reason(), Some(TimeoutReason::QueuedIo));
    p.pump(t0);
    let (ch, _) = p.take_inbound()[0].clone();
    assert_eq!(p.a.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    assert_eq!(p.a.timeout_reason(), Some(TimeoutReason::RequestTimeout));
    assert_eq!(p.b.timeout_reason(), Some(TimeoutReason::InboundTimeout));
    p.a.handle_timeout(t0 + Duration::from_millis(9_999));
    assert!(drain_events(&mut p.a).is_empty());
    p.a.handle_timeout(t0 + Duration::from_secs(10));
    let ops = drain_ops(&mut p.a);
    assert!(matches!(&ops[..], [StreamOp::Reset { .. }]));
    assert_eq!(
        drain_events(&mut p.a),
        vec![Event::Failed {
            request: id,
            peer: p.pb,
            reason: FailureReason::Timeout
        }]
    );
    assert_eq!(p.a.stats().requests_timed_out, 1);
    // The responder gives up too.
    p.b.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(
        drain_events(&mut p.b),
        vec![Event::InboundAborted {
            channel: ch,
            peer: p.pa,
            reason: AbortReason::Timeout
        }]
    );
    assert!(matches!(&drain_ops(&mut p.b)[..], [StreamOp::Reset { .. }]));
    assert_eq!(
        p.b.respond(t0, ch, ResponseChunk::success(vec![0; 80])),
        Err(RespondError::UnknownChannel)
    );
    p.assert_idle();
    assert_eq!(p.a.poll_timeout(), None);
}

#[test]
fn late_stream_for_a_timed_out_request_is_reset() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    p.auto_open = false;
    let id = p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
    p.pump(t0);
    assert_eq!(p.pending_opens.len(), 1);
    p.a.handle_timeout(t0 + Duration::from_secs(10));
    assert!(matches!(
        &drain_events(&mut p.a)[..],
        [Event::Failed {
            reason: FailureReason::Timeout,
            ..
        }]
    ));
    assert!(
        drain_ops(&mut p.a).is_empty(),
        "no stream yet, nothing to reset"
    );
    let key = StreamKey::new(3, 3);
    p.a.handle_outbound_stream_opened(t0 + Duration::from_secs(11), id, key)
        .unwrap();
    assert_eq!(drain_ops(&mut p.a), vec![StreamOp::Reset { stream: key }]);
    assert_eq!(p.a.stats().late_streams_reset, 1);
}

#[test]
fn open_failure_fails_the_request() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let id = p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
    drain_ops(&mut p.a);
    p.a.handle_open_failed(t0, id, OpenFailure::UnsupportedProtocol);
    assert_eq!(
        drain_events(&mut p.a),
        vec![Event::Failed {
            request: id,
            peer: p.pb,
            reason: FailureReason::OpenFailed(OpenFailure::UnsupportedProtocol)
        }]
    );
    assert_eq!(p.a.active_requests(), 0);
    assert_eq!(p.a.poll_timeout(), None);
}

#[test]
fn outbound_and_inbound_concurrency_caps() {
    let t0 = Instant::now();
    // a may send 4 at once; b accepts 2 per peer (the default).
    let mut ca = Config::lean();
    let mut protos = lean::protocols();
    for pc in &mut protos {
        pc.limits.max_concurrent_outbound_per_peer = 4;
    }
    ca.protocols = protos;
    let mut p = Pair::new(ca, Config::lean());
    let ids: Vec<_> = (0..4)
        .map(|_| p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap())
        .collect();
    assert_eq!(
        p.a.request(t0, p.pb, &lean::STATUS, status_body()),
        Err(RequestError::TooManyForPeer { limit: 4 })
    );
    p.pump(t0);
    assert_eq!(p.take_inbound().len(), 2);
    let rejected: Vec<_> = p
        .events_b
        .iter()
        .filter(|e| {
            matches!(
                e,
                Event::InboundRejected {
                    reason: RejectReason::TooManyConcurrent,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(rejected.len(), 2);
    let failed: Vec<_> = p
        .events_a
        .iter()
        .filter_map(|e| match e {
            Event::Failed {
                request,
                reason: FailureReason::ErrorResponse { code, .. },
                ..
            } => Some((*request, *code)),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            (ids[2], ResponseCode::ResourceUnavailable),
            (ids[3], ResponseCode::ResourceUnavailable)
        ]
    );
    assert_eq!(p.b.stats().rejected_concurrency, 2);
    // Another peer is not affected by the first peer's cap.
    let mut other = Pair::lean();
    for _ in 0..2 {
        other
            .a
            .request(t0, p.pb, &lean::STATUS, status_body())
            .unwrap();
    }
    other
        .a
        .request(t0, peer(9), &lean::STATUS, status_body())
        .unwrap();
}

#[test]
fn node_wide_limits() {
    let t0 = Instant::now();
    let mut c = Config::lean();
    c.limits(Limits {
        max_outbound_requests: 1,
        max_inbound_streams: 1,
        max_queued_ops: 2,
        ..Limits::default()
    });
    let mut m = crate::ReqResp::new(c).unwrap();
    m.request(t0, peer(2), &lean::STATUS, status_body())
        .unwrap();
    assert_eq!(
        m.request(t0, peer(3), &lean::STATUS, status_body()),
        Err(RequestError::TooManyRequests { limit: 1 })
    );
    m.handle_stream_opened(t0, peer(2), StreamKey::new(0, 1), lean::STATUS.as_str())
        .unwrap();
    assert_eq!(
        m.handle_stream_opened(t0, peer(2), StreamKey::new(0, 2), lean::STATUS.as_str()),
        Err(StreamError::TooManyStreams)
    );
    assert_eq!(
        m.handle_stream_opened(t0, peer(2), StreamKey::new(0, 1), lean::STATUS.as_str()),
        Err(StreamError::StreamInUse(StreamKey::new(0, 1)))
    );
    assert!(matches!(
        m.handle_stream_opened(t0, peer(2), StreamKey::new(0, 3), "/nope/1"),
        Err(StreamError::UnknownProtocol(_))
    ));
    assert!(matches!(
        m.request(
            t0,
            peer(2),
            &ProtocolId::from_static("/nope/1"),
            Bytes::new()
        ),
        Err(RequestError::UnknownProtocol(_))
    ));
    assert_eq!(
        m.handle_stream_data(t0, StreamKey::new(5, 5), &[1]),
        Err(StreamError::UnknownStream(StreamKey::new(5, 5)))
    );
}

#[test]
fn disconnect_mid_response_fails_everything_and_leaks_nothing() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let range =
        p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, range_body(3))
            .unwrap();
    let status = p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
    p.pump(t0);
    let inbound = p.take_inbound();
    assert_eq!(inbound.len(), 2);
    p.b.respond(t0, inbound[0].0, ResponseChunk::success(vec![7; 1000]))
        .unwrap();
    p.pump(t0);
    assert!(matches!(&p.events_a[..], [Event::Response { request, .. }] if *request == range));

    let t1 = t0 + Duration::from_secs(1);
    p.a.handle_peer_disconnected(t1, p.pb);
    p.b.handle_peer_disconnected(t1, p.pa);
    assert_eq!(
        drain_events(&mut p.a),
        vec![
            Event::Failed {
                request: range,
                peer: p.pb,
                reason: FailureReason::Disconnected
            },
            Event::Failed {
                request: status,
                peer: p.pb,
                reason: FailureReason::Disconnected
            },
        ]
    );
    let aborted = drain_events(&mut p.b);
    assert_eq!(aborted.len(), 2);
    assert!(aborted.iter().all(|e| matches!(
        e,
        Event::InboundAborted {
            reason: AbortReason::Disconnected,
            ..
        }
    )));
    assert!(
        drain_ops(&mut p.a).is_empty() && drain_ops(&mut p.b).is_empty(),
        "no resets on a dead connection"
    );
    assert_eq!(
        p.b.respond(t1, inbound[0].0, ResponseChunk::success(vec![1])),
        Err(RespondError::UnknownChannel)
    );
    p.assert_idle();
    assert_eq!(p.a.tracked_peers(), 0);
    assert!(!p.a.has_work_for(&p.pb));
    // Only b's quota buckets remain, until they refill and are pruned.
    assert_eq!(p.a.poll_timeout(), None);
    assert_eq!(p.b.timeout_reason(), Some(TimeoutReason::QuotaPrune));
    p.b.handle_timeout(t0 + Duration::from_secs(60));
    assert_eq!(p.b.tracked_peers(), 0);
    assert_eq!(p.b.poll_timeout(), None);
}

#[test]
fn peer_reset_mid_response() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let id =
        p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, range_body(2))
            .unwrap();
    p.pump(t0);
    let (ch, _) = p.take_inbound()[0].clone();
    p.b.respond(t0, ch, ResponseChunk::success(vec![1; 10]))
        .unwrap();
    p.pump(t0);
    let key = *p.fins.first().map(|(_, k)| k).unwrap();
    p.a.handle_stream_reset(t0, key).unwrap();
    p.b.handle_stream_reset(t0, key).unwrap();
    assert_eq!(
        drain_events(&mut p.a),
        vec![Event::Failed {
            request: id,
            peer: p.pb,
            reason: FailureReason::StreamReset
        }]
    );
    assert_eq!(
        drain_events(&mut p.b),
        vec![Event::InboundAborted {
            channel: ch,
            peer: p.pa,
            reason: AbortReason::StreamReset
        }]
    );
    p.assert_idle();
}

#[test]
fn invalid_response_fails_and_resets() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let id = p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
    drain_ops(&mut p.a);
    let key = StreamKey::new(4, 4);
    p.a.handle_outbound_stream_opened(t0, id, key).unwrap();
    drain_ops(&mut p.a);
    // Success chunk declaring 10 MiB for an 80-byte Status: refused on the header.
    let err =
        p.a.handle_stream_data(t0, key, &[0x00, 0x80, 0x80, 0x80, 0x05])
            .unwrap_err();
    assert!(matches!(
        err,
        StreamError::Decode(DecodeError::LengthTooLarge { max: 80, .. })
    ));
    assert_eq!(drain_ops(&mut p.a), vec![StreamOp::Reset { stream: key }]);
    assert!(matches!(
        &drain_events(&mut p.a)[..],
        [Event::Failed {
            reason: FailureReason::InvalidResponse(DecodeError::LengthTooLarge { .. }),
            ..
        }]
    ));
    assert_eq!(p.a.stats().invalid_responses, 1);
    assert_eq!(p.a.tracked_streams(), 0);
}

#[test]
fn trailing_bytes_after_request_abort_the_channel() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let key = StreamKey::new(1, 1);
    p.b.handle_stream_opened(t0, p.pa, key, lean::STATUS.as_str())
        .unwrap();
    let mut wire = Vec::new();
    crate::Codec::encode_request(
        &crate::SszSnappyCodec,
        &status_body(),
        &lean::status_protocol().limits,
        &mut wire,
    )
    .unwrap();
    p.b.handle_stream_data(t0, key, &wire).unwrap();
    let [Event::InboundRequest { channel, .. }] = &drain_events(&mut p.b)[..] else {
        panic!()
    };
    let channel = *channel;
    assert!(p.b.handle_stream_data(t0, key, &[0]).is_err());
    assert_eq!(
        drain_events(&mut p.b),
        vec![Event::InboundAborted {
            channel,
            peer: p.pa,
            reason: AbortReason::TrailingData
        }]
    );
    assert_eq!(drain_ops(&mut p.b), vec![StreamOp::Reset { stream: key }]);
    assert_eq!(p.b.active_inbound(), 0);
}

#[test]
fn cancel_resets_without_an_event() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let id = p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
    p.pump(t0);
    p.a.cancel(t0, id).unwrap();
    assert!(matches!(&drain_ops(&mut p.a)[..], [StreamOp::Reset { .. }]));
    assert!(drain_events(&mut p.a).is_empty());
    assert_eq!(p.a.cancel(t0, id), Err(crate::CancelError::UnknownRequest));
    assert_eq!(p.a.active_requests(), 0);
}

#[test]
fn custom_length_delimited_protocol_like_parsigex() {
    let t0 = Instant::now();
    let parsigex = ProtocolId::from_static("/charon/parsigex/2.0.0");
    let proto = ProtocolConfig::length_delimited(
        parsigex.clone(),
        ProtocolLimits {
            max_request_size: 1 << 20,
            max_response_chunks: 0,
            ..ProtocolLimits::default()
        },
    );
    let mut c = Config::default();
    c.with_protocol(proto);
    let mut p = Pair::new(c.clone(), c);
    p.split = 3;
    // A protobuf message is opaque bytes here.
    let msg = Bytes::from((0..300u16).map(|i| i as u8).collect::<Vec<_>>());
    let id = p.a.request(t0, p.pb, &parsigex, msg.clone()).unwrap();
    p.pump(t0);
    let inbound = p.take_inbound();
    assert_eq!(inbound, vec![(inbound[0].0, msg)]);
    // No response chunks: an error chunk cannot be encoded, a success chunk is over the cap.
    assert!(matches!(
        p.b.respond(
            t0,
            inbound[0].0,
            ResponseChunk::error(ResponseCode::ServerError, Bytes::new())
        ),
        Err(RespondError::TooManyChunks { .. }) | Err(RespondError::Encode(_))
    ));
    p.b.end_response(t0, inbound[0].0).unwrap();
    p.pump(t0);
    assert_eq!(
        p.events_a,
        vec![Event::Completed {
            request: id,
            peer: p.pb,
            chunks: 0
        }]
    );
    p.assert_idle();
}

#[test]
fn full_ops_queue_refuses_commands_without_changing_state() {
    let t0 = Instant::now();
    let mut c = Config::lean();
    c.limits(Limits {
        max_queued_ops: 1,
        ..Limits::default()
    });
    let mut m = crate::ReqResp::new(c).unwrap();
    m.request(t0, peer(2), &lean::STATUS, status_body())
        .unwrap();
    assert_eq!(
        m.request(t0, peer(2), &lean::STATUS, status_body()),
        Err(RequestError::QueueFull)
    );
    assert_eq!(m.active_requests(), 1);
}

#[test]
fn full_event_queue_fails_requests_and_rejects_inbound_instead_of_growing() {
    let t0 = Instant::now();
    let mut limits = Limits {
        max_queued_events: 1,
        ..Limits::default()
    };
    let mut ca = Config::lean();
    ca.limits(limits.clone());
    ca.protocol_mut(lean::BLOCKS_BY_RANGE.as_str())
        .unwrap()
        .limits
        .max_concurrent_outbound_per_peer = 3;
    limits.max_queued_events = 2;
    let mut cb = Config::lean();
    cb.limits(limits);
    cb.protocol_mut(lean::BLOCKS_BY_RANGE.as_str())
        .unwrap()
        .limits
        .max_concurrent_inbound_per_peer = 3;
    let mut p = Pair::new(ca, cb);
    let id =
        p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, range_body(4))
            .unwrap();
    p.pump(t0);
    let (ch, _) = p.take_inbound()[0].clone();
    for _ in 0..3 {
        p.b.respond(t0, ch, ResponseChunk::success(vec![5; 20]))
            .unwrap();
    }
    // Deliver b's chunks without letting the harness drain a's events.
    for op in drain_ops(&mut p.b) {
        if let StreamOp::Write { stream, data } = op {
            let _ = p.a.handle_stream_data(t0, stream, &data);
        }
    }
    assert_eq!(
        drain_events(&mut p.a),
        vec![
            Event::Response {
                request: id,
                peer: p.pb,
                payload: Bytes::from(vec![5; 20])
            },
            Event::Failed {
                request: id,
                peer: p.pb,
                reason: FailureReason::EventQueueFull
            },
        ]
    );
    assert_eq!(p.a.active_requests(), 0);

    // b's queue holds 2 events: with the application asleep, a third request is refused.
    p.b.end_response(t0, ch).unwrap();
    drain_ops(&mut p.b);
    drain_events(&mut p.b);
    for _ in 0..3 {
        p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, range_body(1))
            .unwrap();
    }
    let mut ops = drain_ops(&mut p.a);
    while !ops.is_empty() {
        for op in ops {
            match op {
                StreamOp::Open { .. } => p.open(t0, op),
                StreamOp::Write { stream, data } => {
                    let _ = p.b.handle_stream_data(t0, stream, &data);
                }
                _ => {}
            }
        }
        ops = drain_ops(&mut p.a);
    }
    let events = drain_events(&mut p.b);
    let delivered = events
        .iter()
        .filter(|e| matches!(e, Event::InboundRequest { .. }))
        .count();
    assert_eq!(delivered, 2);
    assert!(matches!(
        events.last(),
        Some(Event::InboundRejected {
            reason: RejectReason::EventQueueFull,
            ..
        })
    ));
    assert_eq!(p.b.stats().rejected_event_queue_full, 1);
}

#[test]
fn a_request_that_stalls_mid_way_is_reset_at_the_inbound_timeout_and_counted() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    let key = StreamKey::new(1, 1);
    p.b.handle_stream_opened(t0, p.pa, key, lean::STATUS.as_str())
        .unwrap();
    // The length prefix of a Status (80 bytes), then nothing.
    p.b.handle_stream_data(t0, key, &[80]).unwrap();
    drain_ops(&mut p.b);
    let at = p.b.poll_timeout().unwrap();
    p.b.handle_timeout(at);
    assert!(drain_ops(&mut p.b)
        .iter()
        .any(|op| matches!(op, StreamOp::Reset { stream, .. } if *stream == key)));
    assert_eq!(p.b.stats().inbound_request_timeouts, 1);
    assert_eq!(p.b.tracked_streams(), 0);
}

#[test]
fn at_the_chunk_cap_the_request_completes_and_the_stream_drains() {
    let t0 = Instant::now();
    let mut m = crate::ReqResp::new(Config::lean()).unwrap();
    let pb = peer(2);
    let mut chunk = Vec::new();
    crate::Codec::encode_response_chunk(
        &crate::SszSnappyCodec,
        &ResponseChunk::success(vec![0; 80]),
        &lean::status_protocol().limits,
        &mut chunk,
    )
    .unwrap();
    for case in ["fin", "extra data", "timeout", "disconnect"] {
        let id = m.request(t0, pb, &lean::STATUS, status_body()).unwrap();
        drain_ops(&mut m);
        let key = StreamKey::new(0, id.get());
        m.handle_outbound_stream_opened(t0, id, key).unwrap();
        drain_ops(&mut m);
        m.handle_stream_data(t0, key, &chunk).unwrap();
        assert!(matches!(
            &drain_events(&mut m)[..],
            [Event::Response { .. }, Event::Completed { chunks: 1, .. }]
        ));
        assert_eq!(
            m.active_requests(),
            0,
            "{case}: completed requests do not count"
        );
        assert_eq!(
            m.tracked_streams(),
            1,
            "{case}: the stream waits for the FIN"
        );
        let ops = match case {
            "fin" => {
                m.handle_stream_finished(t0, key).unwrap();
                drain_ops(&mut m)
            }
            "extra data" => {
                m.handle_stream_data(t0, key, &[0]).unwrap();
                drain_ops(&mut m)
            }
            "timeout" => {
                m.handle_timeout(t0 + Duration::from_secs(10));
                drain_ops(&mut m)
            }
            _ => {
                m.handle_peer_disconnected(t0, pb);
                drain_ops(&mut m)
            }
        };
        let reset = vec![StreamOp::Reset { stream: key }];
        match case {
            "fin" | "disconnect" => assert!(ops.is_empty(), "{case}"),
            _ => assert_eq!(ops, reset, "{case}"),
        }
        assert!(
            drain_events(&mut m).is_empty(),
            "{case}: no event after Completed"
        );
        assert_eq!(m.tracked_streams(), 0, "{case}");
        assert_eq!(m.stats().requests_failed, 0);
        assert_eq!(m.stats().requests_timed_out, 0);
    }
}

#[test]
fn per_chunk_timeout_extension_for_long_ranges() {
    let t0 = Instant::now();
    let mut c = Config::lean();
    c.chunk_timeout_extension(Duration::from_secs(2));
    let mut p = Pair::new(c.clone(), c);
    let id =
        p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, range_body(10))
            .unwrap();
    p.pump(t0);
    let (ch, _) = p.take_inbound()[0].clone();
    assert_eq!(p.a.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    for i in 1..=3u64 {
        let t = t0 + Duration::from_secs(i);
        p.b.respond(t, ch, ResponseChunk::success(vec![1; 10]))
            .unwrap();
        p.pump(t);
        assert_eq!(
            p.a.poll_timeout(),
            Some(t0 + Duration::from_secs(10 + 2 * i))
        );
        assert_eq!(p.a.timeout_reason(), Some(TimeoutReason::RequestTimeout));
    }
    p.a.handle_timeout(t0 + Duration::from_secs(15));
    assert!(
        drain_events(&mut p.a).is_empty(),
        "extended to 16 s by three chunks"
    );
    p.a.handle_timeout(t0 + Duration::from_secs(16));
    assert_eq!(
        drain_events(&mut p.a),
        vec![Event::Failed {
            request: id,
            peer: p.pb,
            reason: FailureReason::Timeout
        }]
    );
}

#[test]
fn respond_is_refused_at_the_high_water_mark_until_the_host_reports_room() {
    let t0 = Instant::now();
    let mut config = Config::lean();
    config.limits.response_high_water = 1000;
    let mut p = Pair::new(Config::lean(), config);
    p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, range_body(5))
        .unwrap();
    p.pump(t0);
    let channel = p.take_inbound()[0].0;
    let stream = p.b.channel_stream(channel).unwrap();
    let chunk = || ResponseChunk::success(vec![1u8; 100]);
    p.b.respond(t0, channel, chunk()).unwrap();
    // The host reports the stream's unsent bytes: at the mark, the next chunk waits.
    p.b.handle_stream_unsent(t0, stream, 1000);
    assert_eq!(
        p.b.respond(t0, channel, chunk()),
        Err(RespondError::QueueFull)
    );
    assert_eq!(p.b.stats().responses_backpressured, 1);
    assert!(drain_events(&mut p.b).is_empty());
    // Still at the mark: no event. Below it: one ResponseWritable, once.
    p.b.handle_stream_unsent(t0, stream, 1000);
    assert!(drain_events(&mut p.b).is_empty());
    p.b.handle_stream_unsent(t0, stream, 999);
    p.b.handle_stream_unsent(t0, stream, 10);
    assert_eq!(
        drain_events(&mut p.b),
        vec![Event::ResponseWritable { channel }]
    );
    p.b.respond(t0, channel, chunk()).unwrap();
    p.b.end_response(t0, channel).unwrap();
    // Once the response ended the channel has no stream to report.
    assert_eq!(p.b.channel_stream(channel), None);
    p.pump(t0);
    let responses = p
        .events_a
        .iter()
        .filter(|e| matches!(e, Event::Response { .. }))
        .count();
    assert_eq!(responses, 2);
}
