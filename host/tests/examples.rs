//! Runs the code of the embedding examples (`host/examples/`) over loopback UDP on
//! 127.0.0.1, each under a time limit of its own.

use std::time::Duration;

#[allow(dead_code)] // `main` is the example binary's
#[path = "../examples/tokio.rs"]
mod tokio_example;

#[allow(dead_code)]
#[path = "../examples/blocking.rs"]
mod blocking_example;

/// Upper bound on one example run (each step inside has its own 10 s limit).
const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_tokio_example_gossips_answers_a_status_request_and_shuts_down() {
    let report = tokio::time::timeout(LIMIT, tokio_example::run())
        .await
        .expect("the tokio example took longer than its limit")
        .expect("the tokio example failed");
    assert_eq!(report.block, b"an SSZ-encoded SignedBlock");
    assert_eq!(report.status.head.slot, 70);
    assert_eq!(report.status.finalized.slot, 64);
    assert!(report.a.datagrams_sent > 0 && report.b.datagrams_received > 0);
    assert_eq!(report.a.events_dropped + report.b.events_dropped, 0);
}

#[test]
fn the_blocking_example_gossips_answers_a_status_request_and_shuts_down() {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(blocking_example::run().map_err(|e| e.to_string()));
    });
    let status = rx
        .recv_timeout(LIMIT)
        .expect("the blocking example took longer than its limit")
        .expect("the blocking example failed");
    assert_eq!(status.head.slot, 70);
    assert_eq!(status.finalized.slot, 64);
}
