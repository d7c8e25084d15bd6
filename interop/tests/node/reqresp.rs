//! The lean req/resp protocols with `ssz_snappy` both ways: status, blocks_by_root
//! (10 × 200 KiB blocks) and blocks_by_range.

use std::time::Duration;

use leanp2p_host::RequestId;
use leanp2p_reqresp::lean as rr_lean;

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
        .with_ours(move |node, now| node.request(now, peer, which.protocol(), request_body.into()))
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
    pair.wait(LIMIT, &what, |s| {
        s.their_responses.contains_key(&(which, request)) || !s.their_failures.is_empty()
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
        Some(&(which.protocol().to_string(), body)),
        "we decoded their request"
    );
}

async fn reqresp_both_ways(role: Role, our_secret: u8, their_secret: u8) {
    let mut pair = Pair::connect(
        role,
        TheirConfig::new(their_secret),
        our_config(),
        our_secret,
    )
    .await;

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

    // BlocksByRoot: 10 blocks of 200 KiB each way.
    for (tag, we_ask) in [(0xa1, true), (0xb2, false)] {
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
            we_request(&mut pair, Lean::ByRoot, body, blocks).await;
        } else {
            they_request(&mut pair, Lean::ByRoot, body, blocks).await;
        }
    }

    // BlocksByRange: 8 slots each way.
    for (start_slot, we_ask) in [(100u64, true), (300, false)] {
        let request = rr_lean::BlocksByRangeRequest {
            start_slot,
            count: 8,
        };
        let blocks: Vec<Vec<u8>> = (start_slot..start_slot + 8)
            .map(|slot| block_for_root(&slot_root(slot), RANGE_BLOCK_SIZE))
            .collect();
        let body = request.to_ssz().unwrap();
        if we_ask {
            we_request(&mut pair, Lean::ByRange, body, blocks).await;
        } else {
            they_request(&mut pair, Lean::ByRange, body, blocks).await;
        }
    }

    let seen = &pair.seen;
    assert_eq!(seen.our_requests.len(), 3);
    assert_eq!(seen.their_requests.len(), 3);
    assert!(seen.our_failures.is_empty(), "{:?}", seen.our_failures);
    assert!(
        seen.our_disconnected.is_empty() && seen.their_closed.is_empty(),
        "{}",
        seen.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_status_blocks_by_root_and_range_both_ways() {
    bounded(reqresp_both_ways(Role::WeDial, 121, 122)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dial_status_blocks_by_root_and_range_both_ways() {
    bounded(reqresp_both_ways(Role::TheyDial, 123, 124)).await;
}
