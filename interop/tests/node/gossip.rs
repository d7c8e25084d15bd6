//! Gossip on the lean block topic both ways: 1 KiB, 300 KiB and 4 MiB messages, all
//! delivered, in publish order, none lost, none duplicated; with default QUIC windows and
//! with 128 KiB windows on both sides so stream and connection flow control bite on every
//! message but the smallest.

use std::time::Duration;

use leanp2p_gossipsub::lean as gossip_lean;

use crate::support::*;

/// (size before compression, count) per direction.
const BATCHES: [(usize, u64); 3] = [(1024, 6), (300 * 1024, 4), (4 * 1024 * 1024, 2)];
const WINDOW: u32 = 128 * 1024;

fn messages(direction_seed: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (batch, (size, count)) in BATCHES.iter().enumerate() {
        for i in 0..*count {
            out.push(gossip_payload(
                direction_seed + 100 * batch as u64 + i,
                *size,
            ));
        }
    }
    out
}

/// Checks `got` (id, data) against `sent`, in order, and the lean message ids.
fn check_delivery(got: &[(Vec<u8>, Vec<u8>)], sent: &[Vec<u8>], who: &str) {
    assert_eq!(got.len(), sent.len(), "{who}: message count");
    let topic = topic_string();
    for (i, ((id, data), expected)) in got.iter().zip(sent).enumerate() {
        assert!(
            data == expected,
            "{who}: message {i} differs ({} bytes, expected {})",
            data.len(),
            expected.len()
        );
        assert_eq!(
            id.as_slice(),
            gossip_lean::message_id(&topic, expected).as_bytes(),
            "{who}: lean message id of message {i}"
        );
    }
}

async fn gossip_both_ways(role: Role, window: Option<u32>, our_secret: u8, their_secret: u8) {
    let mut theirs = TheirConfig::new(their_secret);
    theirs.window = window;
    let mut ours = our_config();
    if let Some(window) = window {
        ours.quic
            .stream_receive_window(window)
            .receive_window(window);
    }
    let mut pair = Pair::connect(role, theirs, ours, our_secret).await;
    pair.wait_mesh(Duration::from_secs(20)).await;

    // Ours to theirs: every message published back to back.
    let ours_out = messages(1_000);
    assert!(ours_out.last().unwrap().len() > 4 * 1024 * 1024);
    let batch = ours_out.clone();
    let topic = pair.topic.clone();
    let published = pair
        .with_ours(move |node, now| {
            batch
                .into_iter()
                .map(|m| node.publish(now, &topic, m.into()).map(drop))
                .collect::<Result<Vec<_>, _>>()
        })
        .await;
    published.expect("our publishes");
    let n = ours_out.len();
    pair.wait(
        Duration::from_secs(60),
        "rust-libp2p receiving our messages",
        |s| s.their_messages.len() >= n,
    )
    .await;

    // Theirs to ours.
    let theirs_out = messages(2_000);
    for m in &theirs_out {
        let topic = pair.their_topic.clone();
        pair.swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, m.clone())
            .expect("their publish");
    }
    let n = theirs_out.len();
    pair.wait(
        Duration::from_secs(60),
        "our node receiving their messages",
        |s| s.our_messages.len() >= n,
    )
    .await;

    // Nothing more arrives (no duplicates), nothing was dropped or closed.
    pair.run_for(Duration::from_millis(500)).await;
    check_delivery(&pair.seen.their_messages, &ours_out, "rust-libp2p");
    check_delivery(&pair.seen.our_messages, &theirs_out, "leanp2p");
    let seen = &pair.seen;
    assert!(
        seen.our_disconnected.is_empty() && seen.their_closed.is_empty(),
        "{}",
        seen.summary()
    );
    assert!(
        seen.our_failures.is_empty() && seen.their_failures.is_empty(),
        "{}",
        seen.summary()
    );
    let stats = pair.with_ours(|node, _| node.stats()).await;
    assert_eq!(
        stats.counters.gossip_frames_dropped, 0,
        "{:?}",
        stats.counters
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_gossip_1k_300k_4m_both_ways() {
    bounded(gossip_both_ways(Role::WeDial, None, 111, 112)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dial_gossip_1k_300k_4m_both_ways() {
    bounded(gossip_both_ways(Role::TheyDial, None, 113, 114)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_gossip_with_128k_quic_windows() {
    bounded(gossip_both_ways(Role::WeDial, Some(WINDOW), 115, 116)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dial_gossip_with_128k_quic_windows() {
    bounded(gossip_both_ways(Role::TheyDial, Some(WINDOW), 117, 118)).await;
}
