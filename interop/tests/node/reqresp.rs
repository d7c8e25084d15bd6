//! The lean req/resp protocols with `ssz_snappy` both ways: status, blocks_by_root
//! (10 × 200 KiB blocks, also under the legacy id) and blocks_by_range; 8 pipelined
//! requests each way at the same time; error chunks both ways; and the same with 128 KiB QUIC windows.

use std::time::Duration;

use leanp2p_host::{RequestId, ResponseCode};
use leanp2p_reqresp::lean as rr_lean;
use leanp2p_reqresp::FailureReason;

use crate::support::*;

const LIMIT: Duration = Duration::from_secs(30);

fn roots(tag: u8) -> Vec<[u8; 32]> {
    (0..10u8)
        .map(|i| {
            let mut root = [tag; 32];
            root[0] = i;
            root
        })
        .collect()
}

/// We request `body` on `which`; they answer; we must get exactly `expected`.
async fn we_request(pair: &mut Pair, which: Lean, body: Vec<u8>, expected: Vec<Vec<u8>>) {
    let peer = pair.their_peer_ours();
    let request_body = body.clone();
    let request: RequestId = pair
        .with_ours(move |node, now| {
            node.request(now, peer, which.protocol_id(), request_body.into())
        })
        .await
        .expect("our request");
    let what = format!("the response to our {which:?} request");
    pair.wait(LIMIT, &what, |s| s.our_completed.contains_key(&request))
        .await;
    let seen = &pair.seen;
    assert_eq!(seen.our_completed[&request], expected.len() as u32);
    let got = &seen.our_responses[&request];
    assert_eq!(got.len(), expected.len());
    for (i, (chunk, want)) in got.iter().zip(&expected).enumerate() {
        assert!(
            chunk == want,
            "{which:?} chunk {i}: {} bytes differ",
            chunk.len()
        );
    }
    assert_eq!(
        seen.their_requests.last(),
        Some(&(which, body)),
        "they decoded our request"
    );
}

/// They request `body` on `which`; we answer; they must get exactly `expected`.
async fn they_request(pair: &mut Pair, which: Lean, body: Vec<u8>, expected: Vec<Vec<u8>>) {
    let peer = pair.our_peer_theirs();
    let request = pair
        .swarm
        .behaviour_mut()
        .reqresp(which)
        .send_request(&peer, body.clone());
    let what = format!("the response to their {which:?} request");
    let served = pair.seen.our_requests.len();
    // Our request event and their response travel different ways: wait for both.
    pair.wait(LIMIT, &what, |s| {
        (s.their_responses.contains_key(&(which, request)) && s.our_requests.len() > served)
            || !s.their_failures.is_empty()
    })
    .await;
    let seen = &pair.seen;
    assert!(seen.their_failures.is_empty(), "{:?}", seen.their_failures);
    let got = &seen.their_responses[&(which, request)];
    assert_eq!(
        got.len(),
        expected.len(),
        "chunks {:?}\n{}",
        got.iter().map(|(c, p)| (*c, p.len())).collect::<Vec<_>>(),
        seen.summary()
    );
    for (i, ((code, chunk), want)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(*code, 0, "{which:?} chunk {i} result code");
        assert!(
            chunk == want,
            "{which:?} chunk {i}: {} bytes differ",
            chunk.len()
        );
    }
    assert_eq!(
        seen.our_requests.last(),
        Some(&(which.primary().to_string(), body)),
        "we decoded their request"
    );
}

fn range_request(start_slot: u64, count: u64) -> (Vec<u8>, Vec<Vec<u8>>) {
    let body = rr_lean::BlocksByRangeRequest { start_slot, count }
        .to_ssz()
        .unwrap();
    let blocks = (start_slot..start_slot + count)
        .map(|slot| block_for_root(&slot_root(slot), RANGE_BLOCK_SIZE))
        .collect();
    (body, blocks)
}

/// Requests in flight per peer and protocol: leanp2p's (and Lighthouse's) default cap.
const IN_FLIGHT: usize = 2;

/// Eight blocks_by_range requests each way, both directions at the same time, each side
/// keeping [`IN_FLIGHT`] requests outstanding (a syncing client's pipeline).
async fn pipelined_requests_both_ways(pair: &mut Pair) {
    let ours: Vec<(Vec<u8>, Vec<Vec<u8>>)> =
        (0..8).map(|i| range_request(1_000 + 10 * i, 4)).collect();
    let theirs: Vec<(Vec<u8>, Vec<Vec<u8>>)> =
        (0..8).map(|i| range_request(2_000 + 10 * i, 4)).collect();
    let (mut our_ids, mut their_ids) = (Vec::new(), Vec::new());
    let their_peer = pair.their_peer_ours();
    let our_peer = pair.our_peer_theirs();
    loop {
        let seen = &pair.seen;
        let our_open = our_ids
            .iter()
            .filter(|id| !seen.our_completed.contains_key(id))
            .count();
        let their_open = their_ids
            .iter()
            .filter(|id| !seen.their_responses.contains_key(&(Lean::ByRange, **id)))
            .count();
        if our_ids.len() == ours.len()
            && their_ids.len() == theirs.len()
            && our_open + their_open == 0
        {
            break;
        }
        for _ in our_open..IN_FLIGHT {
            let Some((body, _)) = ours.get(our_ids.len()) else {
                break;
            };
            let body = body.clone();
            let id = pair
                .with_ours(move |node, now| {
                    node.request(now, their_peer, Lean::ByRange.protocol_id(), body.into())
                })
                .await
                .expect("our request");
            our_ids.push(id);
        }
        for _ in their_open..IN_FLIGHT {
            let Some((body, _)) = theirs.get(their_ids.len()) else {
                break;
            };
            let id = pair
                .swarm
                .behaviour_mut()
                .reqresp(Lean::ByRange)
                .send_request(&our_peer, body.clone());
            their_ids.push(id);
        }
        let (done_ours, done_theirs) = (
            pair.seen.our_completed.len() + pair.seen.our_request_failures.len(),
            pair.seen.their_responses.len() + pair.seen.their_failures.len(),
        );
        pair.wait(LIMIT, "a pipelined blocks_by_range response", |s| {
            s.our_completed.len() + s.our_request_failures.len() > done_ours
                || s.their_responses.len() + s.their_failures.len() > done_theirs
        })
        .await;
        let seen = &pair.seen;
        assert!(
            seen.our_request_failures.is_empty() && seen.their_failures.is_empty(),
            "{}",
            seen.summary()
        );
    }
    let seen = &pair.seen;
    for (id, (_, blocks)) in our_ids.iter().zip(&ours) {
        assert!(&seen.our_responses[id] == blocks, "our request {id:?}");
    }
    for (id, (_, blocks)) in their_ids.iter().zip(&theirs) {
        let got = &seen.their_responses[&(Lean::ByRange, *id)];
        let expected: Vec<Chunk> = blocks.iter().map(|b| (0, b.clone())).collect();
        assert!(got == &expected, "their request {id:?}");
    }
}

/// A blocks_by_range request with count 0 gets an `InvalidRequest` error chunk, both ways.
async fn invalid_requests_get_error_chunks(pair: &mut Pair) {
    let (body, _) = range_request(5, 0);
    let reason = b"count 0 outside 1..=64".to_vec();
    let peer = pair.their_peer_ours();
    let request_body = body.clone();
    let request = pair
        .with_ours(move |node, now| {
            node.request(now, peer, Lean::ByRange.protocol_id(), request_body.into())
        })
        .await
        .expect("our request");
    pair.wait(LIMIT, "the error response to our request", |s| {
        s.our_request_failures.contains_key(&request) || s.our_completed.contains_key(&request)
    })
    .await;
    match pair.seen.our_request_failures.get(&request) {
        Some(FailureReason::ErrorResponse { code, message }) => {
            assert_eq!(*code, ResponseCode::InvalidRequest);
            assert_eq!(message.as_ref(), reason.as_slice());
        }
        other => panic!("expected an InvalidRequest error chunk, got {other:?}"),
    }

    let peer = pair.our_peer_theirs();
    let request = pair
        .swarm
        .behaviour_mut()
        .reqresp(Lean::ByRange)
        .send_request(&peer, body);
    let served = pair.seen.our_requests.len();
    pair.wait(LIMIT, "the error response to their request", |s| {
        (s.their_responses.contains_key(&(Lean::ByRange, request)) && s.our_requests.len() > served)
            || !s.their_failures.is_empty()
    })
    .await;
    assert_eq!(
        pair.seen.their_responses.get(&(Lean::ByRange, request)),
        Some(&vec![(1u8, reason)]),
        "{:?}",
        pair.seen.their_failures
    );
}

async fn reqresp_both_ways(role: Role, window: Option<u32>, our_secret: u8, their_secret: u8) {
    let mut theirs = TheirConfig::new(their_secret);
    theirs.window = window;
    let mut ours = our_config();
    if let Some(window) = window {
        ours.quic
            .stream_receive_window(window)
            .receive_window(window);
    }
    let mut pair = Pair::connect(role, theirs, ours, our_secret).await;

    // Status.
    let body = our_status().to_ssz().unwrap();
    we_request(
        &mut pair,
        Lean::Status,
        body,
        vec![their_status().to_ssz().unwrap()],
    )
    .await;
    let body = their_status().to_ssz().unwrap();
    they_request(
        &mut pair,
        Lean::Status,
        body,
        vec![our_status().to_ssz().unwrap()],
    )
    .await;

    // BlocksByRoot: 10 blocks of 200 KiB each way, and once more from them under the
    // legacy protocol id.
    for (tag, which, we_ask) in [
        (0xa1, Lean::ByRoot, true),
        (0xb2, Lean::ByRoot, false),
        (0xc3, Lean::ByRootLegacy, false),
    ] {
        let roots = roots(tag);
        let body = rr_lean::BlocksByRootRequest {
            roots: roots.clone(),
        }
        .to_ssz()
        .unwrap();
        let blocks: Vec<Vec<u8>> = roots
            .iter()
            .map(|r| block_for_root(r, ROOT_BLOCK_SIZE))
            .collect();
        if we_ask {
            we_request(&mut pair, which, body, blocks).await;
        } else {
            they_request(&mut pair, which, body, blocks).await;
        }
    }

    // BlocksByRange: 8 slots each way.
    for (start_slot, we_ask) in [(100u64, true), (300, false)] {
        let (body, blocks) = range_request(start_slot, 8);
        if we_ask {
            we_request(&mut pair, Lean::ByRange, body, blocks).await;
        } else {
            they_request(&mut pair, Lean::ByRange, body, blocks).await;
        }
    }

    pipelined_requests_both_ways(&mut pair).await;
    invalid_requests_get_error_chunks(&mut pair).await;

    let seen = &pair.seen;
    assert_eq!(seen.our_requests.len(), 4 + 8 + 1);
    assert_eq!(seen.their_requests.len(), 3 + 8 + 1);
    assert!(seen.our_failures.is_empty(), "{:?}", seen.our_failures);
    assert_eq!(seen.our_request_failures.len(), 1, "{}", seen.summary());
    assert!(
        seen.our_disconnected.is_empty() && seen.their_closed.is_empty(),
        "{}",
        seen.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_status_blocks_by_root_and_range_both_ways() {
    bounded(reqresp_both_ways(Role::WeDial, None, 121, 122)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dial_status_blocks_by_root_and_range_both_ways() {
    bounded(reqresp_both_ways(Role::TheyDial, None, 123, 124)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dial_reqresp_with_128k_quic_windows() {
    bounded(reqresp_both_ways(
        Role::TheyDial,
        Some(128 * 1024),
        125,
        126,
    ))
    .await;
}
