//! Keep-alive, idle timeout and closing.

use std::time::{Duration, Instant};

use bytes::Bytes;

use leanp2p_quic::{CloseError, CloseReason, Config, Event, TimeoutReason, WriteError};
use leanp2p_testkit::{LinkConfig, QuicNet};

#[test]
fn silent_peer_times_out_after_idle_timeout() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let (client, _) = pair.connect(0, 1).unwrap();
    // The server crashes: it neither sends nor receives from now on.
    pair.nodes[1].alive = false;
    let crashed_at = pair.time;
    pair.drive_until(Duration::from_secs(30), |p| !p.nodes[0].closed().is_empty())
        .unwrap();
    assert_eq!(
        pair.nodes[0].closed(),
        vec![(client, CloseReason::TimedOut)]
    );
    let after = pair.time - crashed_at;
    assert!(
        after >= Duration::from_secs(9) && after <= Duration::from_secs(11),
        "declared lost after {after:?}"
    );
    assert!(!pair.nodes[0].endpoint.is_connected(client));
}

#[test]
fn keep_alive_holds_an_idle_connection_past_three_idle_timeouts() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let (client, server) = pair.connect(0, 1).unwrap();
    pair.run_for(Duration::from_secs(35));
    assert!(pair.nodes[0].closed().is_empty());
    assert!(pair.nodes[1].closed().is_empty());
    assert!(pair.nodes[0].endpoint.is_connected(client));
    assert!(pair.nodes[1].endpoint.is_connected(server));
    assert!(
        pair.nodes[0].saw_reason(TimeoutReason::KeepAlive),
        "{:?}",
        pair.nodes[0].reasons
    );
    // Still usable.
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    pair.send(0, client, stream, Bytes::from_static(b"still here"), true)
        .unwrap();
    pair.drive_until(Duration::from_secs(1), |p| p.nodes[1].finished.len() == 1)
        .unwrap();
}

#[test]
fn without_keep_alive_an_idle_connection_times_out() {
    let mut config = Config::default();
    config.keep_alive_interval(None);
    let mut pair = QuicNet::with_configs(
        Instant::now(),
        vec![config.clone(), config],
        LinkConfig::default(),
    )
    .unwrap();
    let (client, server) = pair.connect(0, 1).unwrap();
    pair.run_for(Duration::from_secs(15));
    assert_eq!(
        pair.nodes[0].closed(),
        vec![(client, CloseReason::TimedOut)]
    );
    assert_eq!(
        pair.nodes[1].closed(),
        vec![(server, CloseReason::TimedOut)]
    );
    assert!(
        pair.nodes[0].saw_reason(TimeoutReason::Idle),
        "{:?}",
        pair.nodes[0].reasons
    );
}

#[test]
fn remote_close_is_reported_at_once() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let (client, server) = pair.connect(0, 1).unwrap();
    // Client stream 0, opened (nothing sent on it) only to have a stream handle of the
    // connection for the write after it is gone.
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    let now = pair.time;
    pair.nodes[0]
        .endpoint
        .close(now, client, 7, b"bye")
        .unwrap();
    pair.drain();
    assert_eq!(
        pair.nodes[0].closed(),
        vec![(client, CloseReason::LocallyClosed)]
    );
    let closed_at = pair.time;
    pair.drive_until(Duration::from_secs(1), |p| !p.nodes[1].closed().is_empty())
        .unwrap();
    assert_eq!(
        pair.nodes[1].closed(),
        vec![(
            server,
            CloseReason::ApplicationClosed {
                code: 7,
                reason: Bytes::from_static(b"bye")
            }
        )]
    );
    // One one-way latency, not a timeout.
    assert!(pair.time - closed_at <= Duration::from_millis(10));
    let stream_err = pair.nodes[1].endpoint.open_bi(server);
    assert!(stream_err.is_err());
    assert_eq!(
        pair.nodes[0].endpoint.close(now, client, 0, b""),
        Err(CloseError::UnknownConnection)
    );
    let events_after_close = pair.nodes[1]
        .events
        .iter()
        .skip_while(|e| !matches!(e, Event::Closed { .. }))
        .count();
    assert_eq!(events_after_close, 1, "nothing follows Closed");
    // Both sides forget the connection after draining.
    pair.run_for(Duration::from_secs(5));
    assert_eq!(pair.nodes[0].endpoint.connection_count(), 0);
    assert_eq!(pair.nodes[1].endpoint.connection_count(), 0);
    assert_eq!(
        pair.nodes[0].endpoint.write(client, stream, b"x"),
        Err(WriteError::UnknownConnection)
    );
}

#[test]
fn poll_timeout_reports_queued_io_until_drained() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let now = pair.time;
    let addr = pair.nodes[1].addr;
    pair.nodes[0].endpoint.dial(now, addr, None).unwrap();
    assert_eq!(pair.nodes[0].endpoint.poll_timeout(), Some(now));
    assert_eq!(
        pair.nodes[0].endpoint.timeout_reason(),
        Some(TimeoutReason::QueuedIo)
    );
    let mut buf = Vec::new();
    while pair.nodes[0]
        .endpoint
        .poll_transmit(now, &mut buf)
        .is_some()
    {}
    assert!(pair.nodes[0].endpoint.poll_timeout().unwrap() > now);
    assert_ne!(
        pair.nodes[0].endpoint.timeout_reason(),
        Some(TimeoutReason::QueuedIo)
    );
}

#[test]
fn a_closed_connection_is_forgotten_within_max_drain_time_however_long_the_pto() {
    // 400 ms one way: QUIC's own drain period (3·PTO) is several seconds here; a peer
    // inflating `max_ack_delay` stretches it to ~49 s. The endpoint caps it at 3 s.
    let link = LinkConfig {
        latency: Duration::from_millis(400),
        ..LinkConfig::default()
    };
    let mut pair = QuicNet::with_configs(Instant::now(), vec![Config::default(); 2], link).unwrap();
    let (client, _) = pair.connect(0, 1).unwrap();
    let now = pair.time;
    pair.nodes[0].endpoint.close(now, client, 0, b"").unwrap();
    pair.drain();
    let closed_at = pair.time;
    let limit = leanp2p_quic::Limits::default().max_drain_time;
    pair.drive_until(limit + Duration::from_millis(100), |p| {
        p.nodes[0].endpoint.connection_count() == 0
    })
    .unwrap();
    assert!(pair.time - closed_at <= limit + Duration::from_millis(100));
    assert_eq!(pair.nodes[0].endpoint.stats().drains_cut_short, 1);
    // The peer (draining after our CONNECTION_CLOSE) is bounded the same way.
    pair.run_for(limit + Duration::from_secs(1));
    assert_eq!(pair.nodes[1].endpoint.connection_count(), 0);
}
