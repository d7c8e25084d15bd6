//! Misbehaving streams (raw bytes written past the host), stream recreation, pacing and
//! keep-alive.

use std::time::Duration;

use bytes::Bytes;
use leanp2p_quic::{ConnId, StreamId};

use leanp2p_host::{Config, NodeEvent, PacerConfig, StreamRole, TimeoutReason, TopicHash};
use leanp2p_testkit::Net;

/// `uvarint(len) ‖ line ‖ '\n'` multistream frames.
fn ms_frame(line: &str) -> Vec<u8> {
    let mut out = vec![(line.len() + 1) as u8];
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    out
}

fn no_ping() -> Config {
    let mut config = Config::default();
    let mut ping = leanp2p_host::PingConfig::default();
    ping.enabled = false;
    config.ping(ping);
    config
}

/// Opens a stream from node `i` on `conn` behind the host's back and writes `bytes`.
fn raw_stream(net: &mut Net, i: usize, conn: ConnId, bytes: &[u8]) -> StreamId {
    let endpoint = net.nodes[i].node.raw_endpoint_mut();
    let stream = endpoint.open_bi(conn).unwrap();
    assert_eq!(endpoint.write(conn, stream, bytes).unwrap(), bytes.len());
    net.drain(i);
    stream
}

#[test]
fn stalled_negotiation_is_reset_after_the_timeout() {
    let mut net = crate::net(2, |_| no_ping());
    net.connect(0, 1).unwrap();
    let p0 = net.peer(0);
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    // Header only, never a proposal.
    raw_stream(&mut net, 1, conn, &ms_frame("/multistream/1.0.0"));
    net.run_for(Duration::from_secs(9));
    assert_eq!(net.nodes[0].node.stats().counters.negotiation_timeouts, 0);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.nodes[0].node.stats().counters.negotiation_timeouts, 1);
    // The connection itself is fine.
    assert!(net.nodes[0].node.is_connected(&net.peer(1)));
}

#[test]
fn garbage_negotiation_resets_only_that_stream() {
    let mut net = crate::net(2, |_| no_ping());
    net.connect(0, 1).unwrap();
    let p0 = net.peer(0);
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    raw_stream(
        &mut net,
        1,
        conn,
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    );
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[0].node.stats().counters.negotiation_failures, 1);
    assert!(net.nodes[0].node.is_connected(&net.peer(1)));
}

#[test]
fn inbound_ping_streams_are_capped_per_connection() {
    let mut net = crate::net(2, |_| no_ping());
    net.connect(0, 1).unwrap();
    let p0 = net.peer(0);
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    let mut request = ms_frame("/multistream/1.0.0");
    request.extend_from_slice(&ms_frame(leanp2p_host::PING_PROTOCOL));
    request.extend_from_slice(&[7u8; 32]);
    for _ in 0..3 {
        raw_stream(&mut net, 1, conn, &request);
    }
    net.run_for(Duration::from_secs(1));
    let counters = net.nodes[0].node.stats().counters;
    assert_eq!(counters.pings_answered, 2);
    assert_eq!(counters.inbound_streams_refused, 1);
}

#[test]
fn oversized_identify_answer_is_rejected() {
    let mut net = crate::net(2, |_| no_ping());
    net.connect(0, 1).unwrap();
    let p0 = net.peer(0);
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    // An identify push of 10 KiB (limit 4 KiB).
    let mut push = ms_frame("/multistream/1.0.0");
    push.extend_from_slice(&ms_frame(leanp2p_host::IDENTIFY_PUSH_PROTOCOL));
    push.extend_from_slice(&[0x80, 0x50]);
    push.extend_from_slice(&vec![0x1a; 10 * 1024]);
    raw_stream(&mut net, 1, conn, &push);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[0].node.stats().counters.malformed_streams, 1);
    assert!(net.nodes[0].node.is_connected(&net.peer(1)));
}

/// rust-libp2p writes its identify push, FINs and drops the stream, which stops our send
/// side: STOP_SENDING arrives with the data. The push must still be read.
#[test]
fn identify_push_is_read_when_the_peer_stops_our_side_at_once() {
    let mut net = crate::net(2, |_| no_ping());
    net.connect(0, 1).unwrap();
    net.run_for(Duration::from_secs(1));
    let (p0, p1) = (net.peer(0), net.peer(1));
    let before = net.nodes[0].node.stats().counters.identify_received;
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    let key = net.nodes[1].node.public_key().encode_protobuf();
    let addr: std::net::SocketAddr = "127.0.0.1:4242".parse().unwrap();
    let addr_bytes = leanp2p_identity::Multiaddr::quic_v1(addr, None).to_bytes();
    // Identify { publicKey = 1, listenAddrs = 2 }, uvarint-prefixed.
    let mut message = vec![0x0a, key.len() as u8];
    message.extend_from_slice(&key);
    message.extend_from_slice(&[0x12, addr_bytes.len() as u8]);
    message.extend_from_slice(&addr_bytes);
    let mut push = ms_frame("/multistream/1.0.0");
    push.extend_from_slice(&ms_frame(leanp2p_host::IDENTIFY_PUSH_PROTOCOL));
    push.push(message.len() as u8);
    push.extend_from_slice(&message);
    let endpoint = net.nodes[1].node.raw_endpoint_mut();
    let stream = endpoint.open_bi(conn).unwrap();
    assert_eq!(endpoint.write(conn, stream, &push).unwrap(), push.len());
    endpoint.finish(conn, stream).unwrap();
    endpoint.stop(conn, stream, 0).unwrap();
    net.drain(1);
    net.run_for(Duration::from_secs(1));
    let node = &net.nodes[0].node;
    assert_eq!(node.stats().counters.identify_received, before + 1);
    let info = node.peer_info(&p1).unwrap();
    assert!(
        info.listen_addrs
            .contains(&leanp2p_identity::Multiaddr::quic_v1(addr, None)),
        "{info:?}"
    );
    // The push stream is forgotten once read (its stopped send side reset).
    let conn0 = node.connections_to(&p1)[0];
    assert!(!node
        .stream_ids(conn0)
        .into_iter()
        .filter_map(|id| node.stream_info(conn0, id))
        .any(|s| s.role == StreamRole::IdentifyPushIn));
}

#[test]
fn reset_gossip_stream_is_recreated_and_gossip_continues() {
    let mut net = crate::net(2, |_| no_ping());
    let topic = TopicHash::new("t");
    let now = net.time;
    for i in 0..2 {
        net.nodes[i].node.subscribe(now, &topic).unwrap();
    }
    net.connect(0, 1).unwrap();
    net.run_for(Duration::from_secs(2));
    let p0 = net.peer(0);
    // Node 1 resets the gossip stream node 0 opened to it.
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    let node = &net.nodes[1].node;
    let inbound = node
        .stream_ids(conn)
        .into_iter()
        .find(|id| node.stream_info(conn, *id).unwrap().role == StreamRole::GossipIn)
        .unwrap();
    // Both directions (RESET_STREAM and STOP_SENDING), past node 1's host: node 0 sees
    // exactly what a host-side reset sends.
    net.nodes[1]
        .node
        .raw_endpoint_mut()
        .reset(conn, inbound, 0)
        .unwrap();
    net.drain(1);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.nodes[0].node.stats().counters.gossip_streams_opened, 2);
    assert_eq!(net.nodes[0].node.gossip_stream_count(&net.peer(1)), 1);
    let data = Bytes::from_static(b"after the reset");
    let now = net.time;
    net.nodes[0]
        .node
        .publish(now, &topic, data.clone())
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[1]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::Message { data: d, .. } if *d == data))
    }));
}

#[test]
fn token_bucket_caps_node_egress() {
    let rate = 1_000_000u64;
    let mut net = crate::net(2, |i| {
        let mut config = no_ping();
        if i == 0 {
            config.pacer(PacerConfig::TokenBucket {
                rate,
                burst: 64 * 1024,
            });
        }
        config
    });
    let topic = TopicHash::new("t");
    let now = net.time;
    for i in 0..2 {
        net.nodes[i].node.subscribe(now, &topic).unwrap();
    }
    net.connect(0, 1).unwrap();
    net.run_for(Duration::from_secs(1));
    let start = net.time;
    let data = Bytes::from(vec![5u8; 3 * 1024 * 1024]);
    net.nodes[0]
        .node
        .publish(start, &topic, data.clone())
        .unwrap();
    let mut saw_pacing = false;
    assert!(net.run_until(Duration::from_secs(30), |net| {
        saw_pacing |= net.nodes[0].node.timeout_reason() == Some(TimeoutReason::Pacing);
        net.nodes[1]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::Message { data: d, .. } if d.len() == data.len()))
    }));
    assert!(saw_pacing);
    let elapsed = (net.time - start).as_secs_f64();
    // 3 MiB at 1 MB/s (plus QUIC overhead), minus the 64 KiB burst.
    assert!(elapsed > 3.0, "{elapsed}");
    assert!(elapsed < 4.5, "{elapsed}");
    assert!(net.nodes[0].node.stats().counters.paced > 0);
}

/// Wraps a token bucket and records, for every send it allowed, the bytes sent and the
/// bytes the bucket held just before.
#[derive(Debug)]
struct RecordingPacer {
    bucket: leanp2p_host::TokenBucket,
    sends: std::sync::Arc<std::sync::Mutex<Vec<(usize, usize)>>>,
}

impl leanp2p_host::Pacer for RecordingPacer {
    fn delay(&mut self, now: std::time::Instant, bytes: usize) -> Option<std::time::Instant> {
        self.bucket.delay(now, bytes)
    }

    fn on_send(&mut self, now: std::time::Instant, bytes: usize) {
        let held = self.bucket.allowance(now).unwrap_or(usize::MAX);
        self.sends.lock().unwrap().push((bytes, held));
        self.bucket.on_send(now, bytes);
    }

    fn allowance(&mut self, now: std::time::Instant) -> Option<usize> {
        self.bucket.allowance(now)
    }
}

#[test]
fn a_gso_batch_never_overdraws_the_pacer_by_more_than_a_datagram() {
    let mut net = crate::net(2, |_| {
        let mut config = no_ping();
        config.quic.max_gso_segments = 64;
        config
    });
    let sends = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    net.nodes[0].node.set_pacer(Box::new(RecordingPacer {
        bucket: leanp2p_host::TokenBucket::new(2_000_000, 16 * 1024),
        sends: sends.clone(),
    }));
    let topic = TopicHash::new("t");
    let now = net.time;
    for i in 0..2 {
        net.nodes[i].node.subscribe(now, &topic).unwrap();
    }
    net.connect(0, 1).unwrap();
    net.run_for(Duration::from_secs(1));
    let data = Bytes::from(vec![5u8; 1024 * 1024]);
    let start = net.time;
    net.nodes[0]
        .node
        .publish(start, &topic, data.clone())
        .unwrap();
    assert!(net.run_until(Duration::from_secs(30), |net| {
        net.nodes[1]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::Message { data: d, .. } if d.len() == data.len()))
    }));
    let sends = sends.lock().unwrap();
    let datagram = usize::from(Config::default().quic.mtu_upper_bound);
    let batched = sends.iter().filter(|(bytes, _)| *bytes > datagram).count();
    assert!(batched > 0, "no GSO batch was sent");
    for &(bytes, held) in sends.iter() {
        assert!(
            bytes <= held.max(datagram),
            "{bytes} bytes sent with {held} in the bucket"
        );
    }
}

#[test]
fn idle_gossip_streams_carry_keepalives() {
    let frames_after_idle = |keepalive: Option<Duration>| {
        let mut net = crate::net(2, |_| {
            let mut config = no_ping();
            config.gossip_keepalive(keepalive);
            config
        });
        net.connect(0, 1).unwrap();
        net.run_for(Duration::from_secs(2));
        let before = net.nodes[0].node.stats().counters.gossip_frames_sent;
        net.run_for(Duration::from_secs(61));
        net.nodes[0].node.stats().counters.gossip_frames_sent - before
    };
    let with = frames_after_idle(Some(Duration::from_secs(20)));
    let without = frames_after_idle(None);
    assert_eq!(without, 0);
    assert!((3..=4).contains(&with), "{with}");
}

#[test]
fn a_newer_inbound_gossip_stream_replaces_the_older_one() {
    let mut net = crate::net(2, |_| no_ping());
    let topic = TopicHash::new("t");
    let now = net.time;
    for i in 0..2 {
        net.nodes[i].node.subscribe(now, &topic).unwrap();
    }
    net.connect(0, 1).unwrap();
    net.run_for(Duration::from_secs(2));
    let p0 = net.peer(0);
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    // Node 1 opens a second /meshsub stream behind its host's back.
    let mut open = ms_frame("/multistream/1.0.0");
    open.extend_from_slice(&ms_frame("/meshsub/1.1.0"));
    raw_stream(&mut net, 1, conn, &open);
    net.run_for(Duration::from_secs(2));
    // Node 0 dropped the older stream (node 1's real one); node 1 recreated it, which in
    // turn replaced the raw one. Gossip from node 1 still flows.
    assert_eq!(net.nodes[1].node.stats().counters.gossip_streams_opened, 2);
    let data = Bytes::from_static(b"still here");
    let now = net.time;
    net.nodes[1]
        .node
        .publish(now, &topic, data.clone())
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::Message { data: d, .. } if *d == data))
    }));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Arbitrary bytes behind any protocol (or none) never panic the node, never take
    /// the connection down, and leave gossip working.
    #[test]
    fn arbitrary_stream_bytes_are_contained(
        protocol in 0usize..6,
        junk in proptest::collection::vec(proptest::num::u8::ANY, 0..3000),
    ) {
        let mut net = crate::net(2, |_| no_ping());
        net.connect(0, 1).unwrap();
        let (p0, p1) = (net.peer(0), net.peer(1));
        let conn = net.nodes[1].node.connections_to(&p0)[0];
        let ids = [
            "/meshsub/1.2.0",
            leanp2p_host::IDENTIFY_PROTOCOL,
            leanp2p_host::IDENTIFY_PUSH_PROTOCOL,
            leanp2p_host::PING_PROTOCOL,
            "/leanconsensus/req/status/1/ssz_snappy",
        ];
        let mut bytes = Vec::new();
        if let Some(id) = ids.get(protocol) {
            bytes.extend_from_slice(&ms_frame("/multistream/1.0.0"));
            bytes.extend_from_slice(&ms_frame(id));
        }
        bytes.extend_from_slice(&junk);
        let stream = raw_stream(&mut net, 1, conn, &bytes);
        let _ = net.nodes[1].node.raw_endpoint_mut().finish(conn, stream);
        net.drain(1);
        net.run_for(Duration::from_secs(12));
        proptest::prop_assert!(net.nodes[0].node.is_connected(&p1));
        proptest::prop_assert!(net.nodes[0].node.gossipsub().is_connected(&p1));
        // Nothing of that stream is left behind.
        let c = net.nodes[0].node.connections_to(&p1)[0];
        proptest::prop_assert!(net.nodes[0].node.stream_count(c) <= 4);
    }
}

#[test]
fn finished_inbound_streams_are_forgotten() {
    let mut net = crate::net(2, |_| {
        let mut config = no_ping();
        // Room for a second inbound gossip stream, so nothing is replaced.
        let mut limits = leanp2p_host::Limits::default();
        limits.max_inbound_gossip_streams = 2;
        config.limits(limits);
        config
    });
    net.connect(0, 1).unwrap();
    net.run_for(Duration::from_secs(2));
    let (p0, p1) = (net.peer(0), net.peer(1));
    let c0 = net.nodes[0].node.connections_to(&p1)[0];
    let baseline = net.nodes[0].node.stream_count(c0);
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    // A second gossip stream and a ping stream, both FINed at once.
    for id in ["/meshsub/1.2.0", leanp2p_host::PING_PROTOCOL] {
        let mut bytes = ms_frame("/multistream/1.0.0");
        bytes.extend_from_slice(&ms_frame(id));
        let stream = raw_stream(&mut net, 1, conn, &bytes);
        net.nodes[1]
            .node
            .raw_endpoint_mut()
            .finish(conn, stream)
            .unwrap();
        net.drain(1);
    }
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.nodes[0].node.stream_count(c0), baseline);
    assert_eq!(net.nodes[1].node.stats().counters.gossip_streams_opened, 1);
}

#[test]
fn ping_echoes_do_not_pile_up_when_a_peer_floods_pings() {
    // Node 1 grants 4 KiB of stream credit at a time, so echoes cannot leave as fast as
    // its pings arrive (a peer that pings and barely reads).
    let mut net = crate::net(2, |i| {
        let mut config = no_ping();
        if i == 1 {
            config.quic.stream_receive_window = 4 * 1024;
        }
        config
    });
    net.connect(0, 1).unwrap();
    let (p0, p1) = (net.peer(0), net.peer(1));
    let conn = net.nodes[1].node.connections_to(&p0)[0];
    // Node 1 negotiates ping behind its host and floods 1 MiB of pings at once.
    let mut hello = ms_frame("/multistream/1.0.0");
    hello.extend(ms_frame("/ipfs/ping/1.0.0"));
    let stream = raw_stream(&mut net, 1, conn, &hello);
    let pings = vec![7u8; 1 << 20];
    let mut written = 0;
    while written < pings.len() {
        let n = net.nodes[1]
            .node
            .raw_endpoint_mut()
            .write(conn, stream, &pings[written..])
            .unwrap();
        if n == 0 {
            break;
        }
        written += n;
    }
    net.drain(1);
    let mut max_buffered = 0;
    let total = (written / 32) as u64;
    net.run_until(Duration::from_secs(30), |net| {
        let node = &net.nodes[0].node;
        max_buffered = max_buffered.max(node.buffered_bytes(&p1));
        node.stats().counters.pings_answered >= total
    });
    // Every ping is still answered, and the echoes we owe never pass the bound.
    assert_eq!(net.nodes[0].node.stats().counters.pings_answered, total);
    assert!(
        max_buffered <= 8 * 1024,
        "{max_buffered} bytes of echoes queued"
    );
}

#[test]
fn an_unanswered_identify_query_is_reset_after_its_timeout() {
    let mut net = crate::net(2, |_| {
        let mut config = no_ping();
        let mut identify = leanp2p_host::IdentifyConfig::default();
        identify.query_timeout = Duration::from_secs(2);
        config.identify(identify);
        config
    });
    net.dial(0, 1).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| net.nodes[0]
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::Connected { .. }))));
    // Node 1 goes silent the moment node 0 has opened its identify query.
    net.nodes[1].alive = false;
    assert_eq!(net.nodes[0].node.stats().counters.identify_timeouts, 0);
    net.run_for(Duration::from_millis(2100));
    assert_eq!(net.nodes[0].node.stats().counters.identify_timeouts, 1);
}
