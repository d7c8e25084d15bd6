//! Application protocols on raw streams.

use std::time::Duration;

use bytes::Bytes;

use leanp2p_host::{AppStream, AppStreamError, Config, NodeEvent, StreamRole};
use leanp2p_testkit::Net;

const ECHO: &str = "/app/echo/1";

fn data_on(net: &Net, i: usize, stream: AppStream) -> Vec<u8> {
    net.nodes[i]
        .events
        .iter()
        .filter_map(|e| match e {
            NodeEvent::AppStreamData { stream: s, data } if *s == stream => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn finished(net: &Net, i: usize, stream: AppStream) -> bool {
    net.nodes[i]
        .events
        .iter()
        .any(|e| matches!(e, NodeEvent::AppStreamFinished { stream: s } if *s == stream))
}

#[test]
fn registered_protocol_carries_bytes_both_ways() {
    let mut net = crate::net(2, |_| Config::default());
    net.connect(0, 1).unwrap();
    let (p0, p1, now) = (net.peer(0), net.peer(1), net.time);
    assert_eq!(net.nodes[1].node.register_protocol(now, ECHO), Ok(true));
    assert_eq!(net.nodes[1].node.register_protocol(now, ECHO), Ok(false));
    // Registration is pushed with identify.
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0]
            .node
            .peer_info(&p1)
            .is_some_and(|i| i.supports(ECHO))
    }));
    let now = net.time;
    let ours = net.nodes[0].node.open_app_stream(now, p1, ECHO).unwrap();
    assert_eq!(net.nodes[0].node.app_stream_protocol(ours), Some(ECHO));
    let request = vec![9u8; 200_000];
    net.nodes[0]
        .node
        .app_write(now, ours, Bytes::from(request.clone()))
        .unwrap();
    net.nodes[0].node.app_finish(now, ours).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[1]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::AppStreamFinished { .. }))
    }));
    let theirs = net.nodes[1]
        .events
        .iter()
        .find_map(|e| match e {
            NodeEvent::AppStreamOpened {
                stream,
                peer,
                protocol,
            } if *peer == p0 && protocol == ECHO => Some(*stream),
            _ => None,
        })
        .unwrap();
    assert_eq!(data_on(&net, 1, theirs), request);
    let now = net.time;
    net.nodes[1]
        .node
        .app_write(now, theirs, Bytes::from_static(b"pong"))
        .unwrap();
    net.nodes[1].node.app_finish(now, theirs).unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| finished(net, 0, ours)));
    assert_eq!(data_on(&net, 0, ours), b"pong");
    net.run_for(Duration::from_secs(1));
    // Both sides forgot the stream.
    assert_eq!(
        net.nodes[0].node.app_write(net.time, ours, Bytes::new()),
        Err(AppStreamError::UnknownStream)
    );
}

#[test]
fn unregistered_protocol_is_refused_and_reported() {
    let mut net = crate::net(2, |_| Config::default());
    net.connect(0, 1).unwrap();
    let (p1, now) = (net.peer(1), net.time);
    let ours = net.nodes[0].node.open_app_stream(now, p1, ECHO).unwrap();
    net.nodes[0]
        .node
        .app_write(now, ours, Bytes::from_static(b"x"))
        .unwrap();
    assert!(net.run_until(Duration::from_secs(5), |net| {
        net.nodes[0]
            .events
            .iter()
            .any(|e| matches!(e, NodeEvent::AppStreamReset { stream } if *stream == ours))
    }));
    assert!(net.nodes[0].node.is_connected(&p1));
}

#[test]
fn host_protocols_cannot_be_registered() {
    let mut net = crate::net(1, |_| Config::default());
    let now = net.time;
    for id in [
        "/meshsub/1.1.0",
        leanp2p_host::PING_PROTOCOL,
        leanp2p_host::IDENTIFY_PROTOCOL,
    ] {
        assert!(matches!(
            net.nodes[0].node.register_protocol(now, id),
            Err(AppStreamError::InvalidProtocol(_))
        ));
    }
    assert!(matches!(
        net.nodes[0].node.register_protocol(now, "no-slash"),
        Err(AppStreamError::InvalidProtocol(_))
    ));
}

#[test]
fn single_protocol_dials_are_lazy_and_gossip_dials_wait_for_agreement() {
    let mut net = crate::net(2, |_| Config::default());
    net.connect(0, 1).unwrap();
    let (p1, now) = (net.peer(1), net.time);
    let ours = net.nodes[0].node.open_app_stream(now, p1, ECHO).unwrap();
    let s = net.nodes[0]
        .node
        .stream_info(ours.conn, ours.stream)
        .unwrap();
    // V1Lazy: writable before any answer, negotiation still unconfirmed.
    assert!(s.writable && s.negotiating);
    // The gossip stream offers three versions: not writable until the listener agrees.
    let mut fresh = crate::net(2, |_| Config::default());
    fresh.dial(0, 1).unwrap();
    let p1 = fresh.peer(1);
    fresh.run_until(Duration::from_secs(5), |net| {
        let node = &net.nodes[0].node;
        node.connections_to(&p1)
            .into_iter()
            .any(|c| node.gossip_stream(c).is_some())
    });
    let node = &fresh.nodes[0].node;
    let c = node.connections_to(&p1)[0];
    let g = node.stream_info(c, node.gossip_stream(c).unwrap()).unwrap();
    assert_eq!(g.role, StreamRole::GossipOut);
    assert!(!g.writable && g.negotiating);
}
