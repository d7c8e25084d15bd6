//! Stream semantics: opening on both sides, FIN, reset, stop, limits, flow control.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use leanp2p_quic::{Config, Endpoint, Event, OpenStreamError, ReadError, StreamError, WriteError};
use leanp2p_testkit::{keypair, random_payload, LinkConfig, QuicNet};

#[test]
fn both_sides_open_streams_on_inbound_and_outbound_connections() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let (client, server) = pair.connect(0, 1).unwrap();

    let from_client = pair.nodes[0].endpoint.open_bi(client).unwrap();
    pair.send(
        0,
        client,
        from_client,
        Bytes::from_static(b"hello server"),
        true,
    )
    .unwrap();
    let from_server = pair.nodes[1].endpoint.open_bi(server).unwrap();
    pair.send(
        1,
        server,
        from_server,
        Bytes::from_static(b"hello client"),
        true,
    )
    .unwrap();

    pair.drive_until(Duration::from_secs(2), |p| {
        p.nodes[0].finished.contains(&(client, from_server))
            && p.nodes[1].finished.contains(&(server, from_client))
    })
    .unwrap();
    assert_eq!(pair.nodes[1].opened, vec![(server, from_client)]);
    assert_eq!(pair.nodes[0].opened, vec![(client, from_server)]);
    assert_eq!(
        pair.nodes[1].received[&(server, from_client)],
        b"hello server"
    );
    assert_eq!(
        pair.nodes[0].received[&(client, from_server)],
        b"hello client"
    );
    assert_eq!(from_client.as_u64(), from_server.as_u64() - 1);

    // Replies travel on the same stream (it is bidirectional).
    pair.send(1, server, from_client, Bytes::from_static(b"reply"), true)
        .unwrap();
    pair.drive_until(Duration::from_secs(2), |p| {
        p.nodes[0].finished.contains(&(client, from_client))
    })
    .unwrap();
    assert_eq!(pair.nodes[0].received[&(client, from_client)], b"reply");
    // A fully read stream is closed for reading.
    assert_eq!(
        pair.nodes[0].endpoint.read(client, from_client, 10),
        Err(ReadError::ClosedStream)
    );
}

#[test]
fn reset_and_stop_reach_the_peer() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let (client, server) = pair.connect(0, 1).unwrap();
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    pair.send(0, client, stream, Bytes::from_static(b"partial"), false)
        .unwrap();
    pair.drive_until(Duration::from_secs(1), |p| {
        p.nodes[1].received.contains_key(&(server, stream))
    })
    .unwrap();

    pair.nodes[0].endpoint.reset(client, stream, 9).unwrap();
    // RESET_STREAM reaches the server's receive side, STOP_SENDING its send side.
    pair.drive_until(Duration::from_secs(1), |p| {
        p.nodes[1].events.contains(&Event::Reset {
            conn: server,
            stream,
            code: 9,
        }) && p.nodes[1].events.contains(&Event::Stopped {
            conn: server,
            stream,
            code: 9,
        })
    })
    .unwrap();
    assert_eq!(
        pair.nodes[0].endpoint.write(client, stream, b"more"),
        Err(WriteError::ClosedStream)
    );
    assert!(matches!(
        pair.nodes[1].endpoint.write(server, stream, b"answer"),
        Err(WriteError::Stopped(9) | WriteError::ClosedStream)
    ));

    // stop(): only the receive side.
    let second = pair.nodes[1].endpoint.open_bi(server).unwrap();
    pair.send(1, server, second, Bytes::from_static(b"x"), false)
        .unwrap();
    pair.drive_until(Duration::from_secs(1), |p| p.nodes[0].opened.len() == 1)
        .unwrap();
    pair.nodes[0].endpoint.stop(client, second, 3).unwrap();
    pair.drive_until(Duration::from_secs(1), |p| {
        p.nodes[1].events.iter().any(|e| {
            *e == Event::Stopped {
                conn: server,
                stream: second,
                code: 3,
            }
        })
    })
    .unwrap();
    assert_eq!(
        pair.nodes[0].endpoint.stop(client, second, 3),
        Err(StreamError::ClosedStream)
    );
    assert_eq!(
        pair.nodes[0].endpoint.reset(client, second, 1 << 62),
        Err(StreamError::InvalidCode)
    );
}

#[test]
fn stream_limit_is_enforced_and_released() {
    let mut server_config = Config::default();
    server_config.max_concurrent_bidi_streams(4);
    let mut pair = QuicNet::with_configs(
        Instant::now(),
        vec![Config::default(), server_config],
        LinkConfig::default(),
    )
    .unwrap();
    let (client, _) = pair.connect(0, 1).unwrap();
    let streams = (0..4)
        .map(|_| pair.nodes[0].endpoint.open_bi(client).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(
        pair.nodes[0].endpoint.open_bi(client),
        Err(OpenStreamError::LimitReached)
    );
    for stream in &streams {
        pair.send(0, client, *stream, Bytes::from_static(b"ping"), true)
            .unwrap();
    }
    // The server reads them to the end (auto_read) and finishes its side too.
    pair.drive_until(Duration::from_secs(1), |p| p.nodes[1].finished.len() == 4)
        .unwrap();
    let server_conn = pair.nodes[1].connected()[0].0;
    for (_, stream) in pair.nodes[1].opened.clone() {
        pair.nodes[1].endpoint.finish(server_conn, stream).unwrap();
    }
    pair.drive_until(Duration::from_secs(1), |p| {
        p.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::StreamsAvailable { .. }))
    })
    .unwrap();
    assert!(pair.nodes[0].endpoint.open_bi(client).is_ok());
}

#[test]
fn thousand_concurrent_small_streams() {
    let mut server_config = Config::default();
    server_config.max_concurrent_bidi_streams(1000);
    let mut pair = QuicNet::with_configs(
        Instant::now(),
        vec![Config::default(), server_config],
        LinkConfig::default(),
    )
    .unwrap();
    let (client, server) = pair.connect(0, 1).unwrap();
    let mut sent = Vec::new();
    for i in 0..1000u32 {
        let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
        let data = Bytes::from(format!("stream {i} says hello").into_bytes());
        pair.send(0, client, stream, data.clone(), true).unwrap();
        sent.push((stream, data));
    }
    pair.drive_until(Duration::from_secs(10), |p| {
        p.nodes[1].finished.len() == 1000
    })
    .unwrap();
    assert_eq!(pair.nodes[1].opened.len(), 1000);
    for (stream, data) in sent {
        assert_eq!(pair.nodes[1].received[&(server, stream)], data.as_ref());
    }
}

#[test]
fn commands_on_unknown_or_handshaking_connections_fail_cleanly() {
    let mut pair = QuicNet::new(Instant::now()).unwrap();
    let conn = pair.dial(0, 1).unwrap();
    assert_eq!(
        pair.nodes[0].endpoint.open_bi(conn),
        Err(OpenStreamError::NotConnected)
    );
    pair.drive_until(Duration::from_secs(5), |p| {
        !p.nodes[0].connected().is_empty()
    })
    .unwrap();
    let client = conn;
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    // A handle node 0 never issued: the second dial of another endpoint (handles count
    // up from 0 per endpoint, and node 0 has issued only `client`).
    let mut other = Endpoint::new(Config::default(), &keypair(9).unwrap(), [9; 32]).unwrap();
    let nowhere = SocketAddr::from(([127, 0, 0, 1], 9));
    other.dial(pair.time, nowhere, None).unwrap();
    let bogus = other.dial(pair.time, nowhere, None).unwrap();
    assert_ne!(bogus, client);
    assert_eq!(
        pair.nodes[0].endpoint.write(bogus, stream, b"x"),
        Err(WriteError::UnknownConnection)
    );
    assert_eq!(
        pair.nodes[0].endpoint.read(bogus, stream, 1),
        Err(ReadError::UnknownConnection)
    );
    assert_eq!(pair.nodes[0].endpoint.write(client, stream, b""), Ok(0));
    pair.nodes[0].endpoint.finish(client, stream).unwrap();
    assert_eq!(
        pair.nodes[0].endpoint.write(client, stream, b"late"),
        Err(WriteError::ClosedStream)
    );
    assert_eq!(
        pair.nodes[0].endpoint.finish(client, stream),
        Err(StreamError::ClosedStream)
    );
}

/// How [`transfer_with_raw_writes`] hands data to the endpoint.
#[derive(Clone, Copy)]
enum WriteApi {
    /// `write(&[u8])`, one chunk at a time.
    Slices,
    /// `write_chunks(&mut [Bytes])` with every chunk at once.
    OwnedChunks,
}

/// Writes `chunks` with raw `write` (or `write_chunks`) calls against tiny windows,
/// keeping every unsent tail itself and retrying only after `Writable`, and returns what
/// the peer read.
fn transfer_with_raw_writes(
    chunks: &[usize],
    stream_window: u32,
    api: WriteApi,
) -> (Vec<u8>, Vec<u8>) {
    let mut client_config = Config::default();
    let mut server_config = Config::default();
    server_config
        .stream_receive_window(stream_window)
        .receive_window(stream_window * 2);
    client_config.send_window(u64::from(stream_window));
    let mut pair = QuicNet::with_configs(
        Instant::now(),
        vec![client_config, server_config],
        LinkConfig::default(),
    )
    .unwrap();
    pair.nodes[1].read_chunk = 997;
    let (client, server) = pair.connect(0, 1).unwrap();
    let stream = pair.nodes[0].endpoint.open_bi(client).unwrap();
    let total: usize = chunks.iter().sum();
    let data = random_payload(total, 5);
    let mut offset = 0;
    let mut owned = Vec::new();
    for &len in chunks {
        let end = offset + len;
        match api {
            WriteApi::Slices => {
                while offset < end {
                    let written = pair.nodes[0]
                        .endpoint
                        .write(client, stream, &data[offset..end])
                        .unwrap();
                    offset += written;
                    if offset < end {
                        let writable_before = count_writable(&pair);
                        pair.drive_until(Duration::from_secs(30), |p| {
                            count_writable(p) > writable_before
                        })
                        .unwrap();
                    }
                }
            }
            WriteApi::OwnedChunks => {
                owned.push(data.slice(offset..end));
                offset = end;
            }
        }
    }
    let mut unsent = owned.iter().map(Bytes::len).sum::<usize>();
    while unsent > 0 {
        let written = pair.nodes[0]
            .endpoint
            .write_chunks(client, stream, &mut owned)
            .unwrap();
        // Taken bytes are gone from the chunks; what is left is exactly the unsent tail.
        unsent -= written;
        assert_eq!(owned.iter().map(Bytes::len).sum::<usize>(), unsent);
        if unsent > 0 {
            let writable_before = count_writable(&pair);
            pair.drive_until(Duration::from_secs(30), |p| {
                count_writable(p) > writable_before
            })
            .unwrap();
        }
    }
    pair.nodes[0].endpoint.finish(client, stream).unwrap();
    pair.drive_until(Duration::from_secs(30), |p| {
        p.nodes[1].finished.contains(&(server, stream))
    })
    .unwrap();
    let received = pair.nodes[1]
        .received
        .remove(&(server, stream))
        .unwrap_or_default();
    (data.to_vec(), received)
}

fn count_writable(pair: &QuicNet) -> usize {
    pair.nodes[0]
        .events
        .iter()
        .filter(|e| matches!(e, Event::Writable { .. }))
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random write sizes against small windows never lose or reorder a byte.
    #[test]
    fn random_writes_against_small_windows_never_lose_bytes(
        chunks in proptest::collection::vec(1usize..20_000, 1..12),
        window in 1_500u32..8_000,
    ) {
        let (sent, received) = transfer_with_raw_writes(&chunks, window, WriteApi::Slices);
        prop_assert_eq!(sent.len(), received.len());
        prop_assert!(sent == received, "payload corrupted");
    }

    /// The same with owned chunks handed over all at once (`write_chunks`): partial
    /// takes advance the chunks exactly, and `Writable` always follows a short write.
    #[test]
    fn random_chunk_writes_against_small_windows_never_lose_bytes(
        chunks in proptest::collection::vec(1usize..20_000, 1..12),
        window in 1_500u32..8_000,
    ) {
        let (sent, received) = transfer_with_raw_writes(&chunks, window, WriteApi::OwnedChunks);
        prop_assert_eq!(sent.len(), received.len());
        prop_assert!(sent == received, "payload corrupted");
    }
}
