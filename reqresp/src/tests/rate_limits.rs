//! Quotas with injected time: delaying, rejecting, weighted costs, outbound
//! self rate limiting, pruning.

use super::harness::{drain_events, drain_ops, Pair};
use crate::lean::{self, BlocksByRangeRequest, Status};
use crate::{
    Config, Event, FailureReason, Quota, RateLimitAction, RejectReason, ResponseCode, StreamOp,
    TimeoutReason,
};
use bytes::Bytes;
use std::time::{Duration, Instant};

fn status_body() -> Bytes {
    Bytes::from(Status::default().to_ssz().unwrap())
}

/// Sends one Status request a → b and answers it at once; returns how many
/// inbound requests b delivered.
fn status_exchange(p: &mut Pair, now: Instant) -> usize {
    p.a.request(now, p.pb, &lean::STATUS, status_body())
        .unwrap();
    p.pump(now);
    let inbound = p.take_inbound();
    for (ch, _) in &inbound {
        p.b.respond(now, *ch, crate::ResponseChunk::success(vec![0; 80]))
            .unwrap();
        p.b.end_response(now, *ch).unwrap();
    }
    p.pump(now);
    inbound.len()
}

#[test]
fn inbound_over_quota_is_delayed_then_delivered() {
    let t0 = Instant::now();
    let mut p = Pair::lean();
    // Status quota: 5 per 15 s.
    for _ in 0..5 {
        assert_eq!(status_exchange(&mut p, t0), 1);
    }
    assert_eq!(status_exchange(&mut p, t0), 0, "sixth request is held back");
    assert_eq!(p.b.stats().delayed_rate_limited, 1);
    assert_eq!(p.b.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    assert_eq!(p.b.timeout_reason(), Some(TimeoutReason::InboundRateLimit));
    p.b.handle_timeout(t0 + Duration::from_millis(2_999));
    assert!(drain_events(&mut p.b).is_empty());
    p.b.handle_timeout(t0 + Duration::from_secs(3));
    let delivered = drain_events(&mut p.b);
    assert!(matches!(&delivered[..], [Event::InboundRequest { .. }]));
    assert_eq!(p.b.timeout_reason(), Some(TimeoutReason::InboundTimeout));
}

#[test]
fn inbound_over_quota_is_rejected_in_reject_mode() {
    let t0 = Instant::now();
    let mut cb = Config::lean();
    cb.rate_limit_action(RateLimitAction::Reject);
    let mut p = Pair::new(Config::lean(), cb);
    for _ in 0..5 {
        assert_eq!(status_exchange(&mut p, t0), 1);
    }
    p.events_a.clear();
    assert_eq!(status_exchange(&mut p, t0), 0);
    assert!(matches!(
        &p.events_b[..],
        [
            ..,
            Event::InboundRejected {
                reason: RejectReason::RateLimited,
                ..
            }
        ]
    ));
    assert!(matches!(
        &p.events_a[..],
        [Event::Failed {
            reason: FailureReason::ErrorResponse {
                code: ResponseCode::ResourceUnavailable,
                ..
            },
            ..
        }]
    ));
    assert_eq!(p.b.stats().rejected_rate_limited, 1);
    // After refilling, requests go through again.
    assert_eq!(status_exchange(&mut p, t0 + Duration::from_secs(3)), 1);
}

#[test]
fn delay_longer_than_max_delay_is_rejected() {
    let t0 = Instant::now();
    let mut ca = Config::default();
    let mut status = lean::status_protocol();
    status.limits.max_concurrent_outbound_per_peer = 8;
    ca.with_protocol(status);
    let mut p = Pair::new(ca, Config::lean());
    for _ in 0..5 {
        assert_eq!(status_exchange(&mut p, t0), 1);
    }
    // The sixth waits 3 s (allowed, max_delay is 5 s); the seventh would wait 6 s.
    assert_eq!(status_exchange(&mut p, t0), 0);
    assert_eq!(p.b.stats().delayed_rate_limited, 1);
    assert_eq!(status_exchange(&mut p, t0), 0);
    assert_eq!(p.b.stats().rejected_rate_limited, 1);
    assert!(matches!(
        p.events_a.last(),
        Some(Event::Failed {
            reason: FailureReason::ErrorResponse {
                code: ResponseCode::ResourceUnavailable,
                ..
            },
            ..
        })
    ));
}

#[test]
fn block_requests_are_charged_per_block() {
    let t0 = Instant::now();
    let mut cb = Config::lean();
    cb.rate_limit_action(RateLimitAction::Reject);
    let mut p = Pair::new(Config::lean(), cb);
    let body = |count| {
        Bytes::from(
            BlocksByRangeRequest {
                start_slot: 0,
                count,
            }
            .to_ssz()
            .unwrap(),
        )
    };
    p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, body(1000))
        .unwrap();
    p.pump(t0);
    assert_eq!(p.take_inbound().len(), 1);
    p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, body(100))
        .unwrap();
    p.pump(t0);
    assert!(
        p.take_inbound().is_empty(),
        "1000 + 100 blocks exceed 1024 per 10 s"
    );
    p.a.request(t0, p.pb, &lean::BLOCKS_BY_RANGE, body(24))
        .unwrap();
    p.pump(t0);
    assert_eq!(
        p.take_inbound().len(),
        1,
        "1000 + 24 blocks fit 1024 exactly"
    );
}

#[test]
fn rate_limiting_can_be_switched_off() {
    let t0 = Instant::now();
    let mut cb = Config::lean();
    cb.inbound_rate_limiting(false);
    let mut p = Pair::new(Config::lean(), cb);
    for _ in 0..20 {
        assert_eq!(status_exchange(&mut p, t0), 1);
    }
    assert_eq!(
        p.b.tracked_peers(),
        0,
        "no buckets and no work: nothing kept per peer"
    );
    assert_eq!(p.b.poll_timeout(), None);
}

#[test]
fn outbound_self_rate_limiting_delays_the_open() {
    let t0 = Instant::now();
    let mut ca = Config::default();
    ca.outbound_rate_limiting(true);
    ca.with_protocol(
        lean::status_protocol()
            .with_outbound_quota(Some(Quota::n_every(1, Duration::from_secs(4)))),
    );
    let mut p = Pair::new(ca, Config::lean());
    p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
    assert!(matches!(&drain_ops(&mut p.a)[..], [StreamOp::Open { .. }]));
    let second = p.a.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
    assert!(drain_ops(&mut p.a).is_empty(), "waits for a token");
    assert_eq!(p.a.poll_timeout(), Some(t0 + Duration::from_secs(4)));
    assert_eq!(p.a.timeout_reason(), Some(TimeoutReason::OutboundRateLimit));
    p.a.handle_timeout(t0 + Duration::from_secs(4));
    assert!(
        matches!(&drain_ops(&mut p.a)[..], [StreamOp::Open { request, .. }] if *request == second)
    );
    // The timeout still counts from the request call.
    assert_eq!(p.a.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    // A request that could not start before its timeout is refused up front.
    let mut c = Config::default();
    c.outbound_rate_limiting(true);
    c.with_protocol(
        lean::status_protocol()
            .with_outbound_quota(Some(Quota::n_every(1, Duration::from_secs(60)))),
    );
    let mut m = crate::ReqResp::new(c).unwrap();
    m.request(t0, p.pb, &lean::STATUS, status_body()).unwrap();
    assert!(matches!(
        m.request(t0, p.pb, &lean::STATUS, status_body()),
        Err(crate::RequestError::RateLimited { .. })
    ));
}
