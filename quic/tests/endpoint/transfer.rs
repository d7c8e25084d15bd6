//! Bulk transfers: byte-identical delivery, loss and reordering, congestion controllers.

use std::time::{Duration, Instant};

use leanp2p_quic::{Config, CongestionController, TimeoutReason};
use leanp2p_testkit::{random_payload, LinkConfig, QuicNet};

/// Sends `len` bytes client → server on one stream and returns (sent, received).
fn one_stream_transfer(pair: &mut QuicNet, len: usize, limit: Duration) -> (Vec<u8>, Vec<u8>) {
    let (client, server) = pair.connect(0, 1).unwrap();
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    let data = random_payload(len, 1);
    pair.send(0, client, stream, data.clone(), true).unwrap();
    pair.drive_until(limit, |p| p.nodes[1].finished.contains(&(server, stream)))
        .unwrap();
    let received = pair.nodes[1]
        .received
        .remove(&(server, stream))
        .unwrap_or_default();
    (data.to_vec(), received)
}

#[test]
fn sixteen_mib_through_one_stream_arrive_byte_identical() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let (sent, received) =
        one_stream_transfer(&mut pair, 16 * 1024 * 1024, Duration::from_secs(60));
    assert_eq!(received.len(), sent.len());
    assert!(received == sent, "payload differs");

    let client_conn = pair.nodes[0].connected()[0].0;
    let stats = pair.nodes[0]
        .endpoint
        .connection_stats(client_conn)
        .unwrap();
    assert!(stats.bytes_sent > 16 * 1024 * 1024, "{stats:?}");
    assert!(stats.rtt >= Duration::from_millis(20), "{stats:?}");
    assert!(stats.cwnd > 0);
    // The sender was paced at some point: the pacer shows up as a `Pacing` deadline.
    assert!(
        pair.nodes[0].saw_reason(TimeoutReason::Pacing),
        "{:?}",
        pair.nodes[0].reasons
    );
}

#[test]
fn four_mib_complete_under_ten_percent_loss_and_reordering() {
    let link = LinkConfig {
        latency: Duration::from_millis(15),
        loss: 0.10,
        reorder: 0.10,
        reorder_delay: Duration::from_millis(20),
        ..LinkConfig::default()
    };
    let mut pair = QuicNet::with_configs(
        Instant::now(),
        vec![Config::default(), Config::default()],
        link,
    )
    .unwrap();
    let (sent, received) =
        one_stream_transfer(&mut pair, 4 * 1024 * 1024, Duration::from_secs(300));
    assert!(received == sent, "payload differs");
    let client_conn = pair.nodes[0].connected()[0].0;
    let stats = pair.nodes[0]
        .endpoint
        .connection_stats(client_conn)
        .unwrap();
    assert!(stats.lost_packets > 0, "{stats:?}");
}

#[test]
fn new_reno_and_bbr_transfers_complete() {
    for controller in [CongestionController::NewReno, CongestionController::Bbr] {
        let mut config = Config::default();
        config.congestion_controller(controller);
        let mut pair = QuicNet::with_configs(
            Instant::now(),
            vec![config.clone(), config],
            LinkConfig::default(),
        )
        .unwrap();
        let (sent, received) = one_stream_transfer(&mut pair, 1024 * 1024, Duration::from_secs(60));
        assert!(received == sent, "{controller:?}: payload differs");
    }
}

#[test]
fn gso_batches_carry_segment_size() {
    let mut config = Config::default();
    config.max_gso_segments(8);
    let mut pair = QuicNet::with_configs(
        Instant::now(),
        vec![config, Config::default()],
        LinkConfig::default(),
    )
    .unwrap();
    let (client, _) = pair.connect(0, 1).unwrap();
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    pair.send(0, client, stream, random_payload(256 * 1024, 2), true)
        .unwrap();
    let now = pair.time;
    let mut buf = Vec::new();
    let mut batched = false;
    while let Some(transmit) = pair.nodes[0].endpoint.poll_transmit(now, &mut buf) {
        if let Some(segment) = transmit.segment_size {
            assert!(transmit.size > segment && transmit.size <= 8 * segment);
            batched = true;
        }
    }
    assert!(batched);
}

/// The same seeds give the same run: identical event sequences at identical simulated
/// times, even under loss and reordering (rustls' own randomness does not change sizes).
#[test]
fn same_seeds_give_the_same_trace() {
    let t0 = Instant::now();
    let trace = || {
        let link = LinkConfig {
            loss: 0.05,
            reorder: 0.05,
            reorder_delay: Duration::from_millis(10),
            ..LinkConfig::default()
        };
        let mut pair =
            QuicNet::with_configs(t0, vec![Config::default(), Config::default()], link).unwrap();
        let start = pair.time;
        let (sent, received) = one_stream_transfer(&mut pair, 512 * 1024, Duration::from_secs(60));
        assert!(sent == received);
        let elapsed = pair.time - start;
        let events = pair
            .nodes
            .iter()
            .map(|n| n.events.clone())
            .collect::<Vec<_>>();
        let stats = pair.nodes[0].endpoint.stats().clone();
        (elapsed, events, stats)
    };
    assert_eq!(trace(), trace());
}
