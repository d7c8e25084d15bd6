//! Wire interop between our gossipsub router and rust-libp2p's (libp2p-gossipsub 0.50).
//!
//! rust-libp2p's RPC protobuf types are crate-private, so the cross-check runs at the
//! behaviour level over a real connection: a rust-libp2p `Swarm` running
//! `gossipsub::Behaviour` talks over QUIC on 127.0.0.1 to a second `Swarm` whose only
//! behaviour hands raw `/meshsub/1.2.0` streams to the test. Our `Gossipsub` machine sits
//! on those streams: its frames must decode there (rust-libp2p reports our subscription,
//! accepts our GRAFT into its mesh and delivers our message), and rust-libp2p's frames
//! must decode here — section by section with no dropped section — and re-encode
//! byte-identically with our prost types (protobuf encoding of these messages is
//! canonical). rust-libp2p proposes `/meshsub/1.3.0` first; we only list 1.2.0, so the
//! test also covers the fallback.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

use std::collections::VecDeque;
use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use leanp2p_gossipsub::wire::proto::{ControlMessage, Rpc};
use leanp2p_gossipsub::wire::{
    decode_frame, decode_rpc, encode_rpc_frame, DecodedRpc, FrameDecoder,
};
use leanp2p_gossipsub::{
    default_message_id, lean, Event, Gossipsub, MessageId, PeerConnection, ProtocolVersion,
    SignaturePolicy, TopicHash, Validation,
};
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::ReadyUpgrade;
use libp2p::core::Endpoint;
use libp2p::gossipsub as rl;
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound, FullyNegotiatedOutbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, SwarmEvent, THandler, THandlerInEvent, THandlerOutEvent,
    ToSwarm,
};
use libp2p::{Multiaddr, Stream, StreamProtocol, SwarmBuilder};

const MESHSUB: StreamProtocol = StreamProtocol::new("/meshsub/1.2.0");

// ----- a behaviour that only hands out raw /meshsub streams ------------------------------

#[derive(Debug)]
enum RawEvent {
    Inbound(Stream),
    Outbound(Stream),
}

struct RawHandler {
    requested: bool,
    events: VecDeque<RawEvent>,
}

impl ConnectionHandler for RawHandler {
    type FromBehaviour = Infallible;
    type ToBehaviour = RawEvent;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = ReadyUpgrade<StreamProtocol>;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, ()> {
        SubstreamProtocol::new(ReadyUpgrade::new(MESHSUB), ())
    }

    fn connection_keep_alive(&self) -> bool {
        true
    }

    fn poll(
        &mut self,
        _cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), RawEvent>> {
        if !self.requested {
            self.requested = true;
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(ReadyUpgrade::new(MESHSUB), ()),
            });
        }
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol, (), ()>,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol, ..
            }) => self.events.push_back(RawEvent::Inbound(protocol)),
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol, ..
            }) => self.events.push_back(RawEvent::Outbound(protocol)),
            _ => {}
        }
    }
}

#[derive(Default)]
struct RawBehaviour {
    events: VecDeque<RawEvent>,
}

impl NetworkBehaviour for RawBehaviour {
    type ConnectionHandler = RawHandler;
    type ToSwarm = RawEvent;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: libp2p::PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(RawHandler {
            requested: false,
            events: VecDeque::new(),
        })
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: libp2p::PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(RawHandler {
            requested: false,
            events: VecDeque::new(),
        })
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: libp2p::PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        self.events.push_back(event);
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<RawEvent, THandlerInEvent<Self>>> {
        match self.events.pop_front() {
            Some(e) => Poll::Ready(ToSwarm::GenerateEvent(e)),
            None => Poll::Pending,
        }
    }
}

// ----- helpers ----------------------------------------------------------------------------

fn lean_topic() -> String {
    lean::LeanTopic::new(lean::DEFAULT_NETWORK, lean::TopicKind::Block).to_topic_string()
}

/// Rebuilds an `Rpc` from the section-wise decoding.
fn to_rpc(d: &DecodedRpc, with_control: bool) -> Rpc {
    let control = ControlMessage {
        ihave: d.ihave.clone(),
        iwant: d.iwant.clone(),
        graft: d.graft.clone(),
        prune: d.prune.clone(),
        idontwant: d.idontwant.clone(),
    };
    let has = control != ControlMessage::default();
    Rpc {
        subscriptions: d.subscriptions.clone(),
        publish: d.messages.clone(),
        control: (has || with_control).then_some(control),
    }
}

fn uvarint(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn prefixed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    uvarint(body.len(), &mut out);
    out.extend_from_slice(body);
    out
}

fn strip_prefix(frame: &[u8]) -> Vec<u8> {
    decode_frame(&frame.to_vec().into(), usize::MAX)
        .unwrap()
        .to_vec()
}

/// Our encoding of `d` plus an empty v1.3 `ControlExtensions` (control field 6), which
/// rust-libp2p appends to its first control message and which we skip as unknown.
fn with_empty_extensions(d: &DecodedRpc) -> Vec<u8> {
    let mut body = strip_prefix(&encode_rpc_frame(&Rpc {
        control: None,
        ..to_rpc(d, false)
    }));
    let control = to_rpc(d, true).control.unwrap_or_default();
    let only_control = strip_prefix(&encode_rpc_frame(&Rpc {
        subscriptions: vec![],
        publish: vec![],
        control: Some(control),
    }));
    // only_control = 0x1a ‖ uvarint(len) ‖ C; rebuild with C ‖ 0x32 0x00.
    let mut walker = only_control[1..].iter();
    let mut header = 1;
    for byte in walker.by_ref() {
        header += 1;
        if byte & 0x80 == 0 {
            break;
        }
    }
    let mut c = only_control[header..].to_vec();
    c.extend_from_slice(&[0x32, 0x00]);
    body.push(0x1a);
    uvarint(c.len(), &mut body);
    body.extend_from_slice(&c);
    prefixed(&body)
}

/// Checks that a frame from rust-libp2p decodes cleanly and re-encodes byte for byte.
/// Returns the decoding and whether the frame carried the (skipped) v1.3 extensions.
fn check_their_frame(body: &[u8], limits: &leanp2p_gossipsub::Limits) -> (DecodedRpc, bool) {
    let bytes = body.to_vec().into();
    let decoded = decode_rpc(&bytes, limits);
    assert_eq!(
        decoded.dropped_sections,
        0,
        "frame from rust-libp2p: {}",
        hex::encode(body)
    );
    let theirs = prefixed(body);
    let ours = encode_rpc_frame(&to_rpc(&decoded, false));
    let ours_with_control = encode_rpc_frame(&to_rpc(&decoded, true));
    if ours[..] == theirs[..] || ours_with_control[..] == theirs[..] {
        return (decoded, false);
    }
    assert_eq!(
        hex::encode(with_empty_extensions(&decoded)),
        hex::encode(&theirs),
        "re-encoding differs (ours without extensions: {})",
        hex::encode(&ours)
    );
    (decoded, true)
}

fn to_ours(p: &libp2p::PeerId) -> leanp2p_identity::PeerId {
    leanp2p_identity::PeerId::from_bytes(&p.to_bytes()).unwrap()
}

// ----- the test -------------------------------------------------------------------------

/// StrictNoSign (lean profile) on both sides, lean message ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_router_and_rust_libp2p_interoperate() {
    tokio::time::timeout(Duration::from_secs(60), scenario(false))
        .await
        .expect("scenario timed out");
}

/// StrictSign: rust-libp2p signs with Ed25519 and verifies our secp256k1 signatures; we
/// verify its Ed25519 signatures. Message ids are `from ‖ seqno` on both sides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_messages_interoperate() {
    tokio::time::timeout(Duration::from_secs(60), scenario(true))
        .await
        .expect("scenario timed out");
}

async fn scenario(signed: bool) {
    let topic_str = lean_topic();
    let topic = TopicHash::new(&topic_str);

    // rust-libp2p side: anonymous (StrictNoSign) gossipsub with the lean message id.
    let key_a = libp2p::identity::Keypair::ed25519_from_bytes([1u8; 32]).unwrap();
    let rl_config = rl::ConfigBuilder::default()
        .validation_mode(if signed {
            rl::ValidationMode::Strict
        } else {
            rl::ValidationMode::Anonymous
        })
        .message_id_fn(move |m: &rl::Message| {
            if signed {
                let mut id = m.source.map(|p| p.to_bytes()).unwrap_or_default();
                id.extend_from_slice(&m.sequence_number.unwrap_or_default().to_be_bytes());
                rl::MessageId::from(id)
            } else {
                rl::MessageId::from(
                    lean::message_id(m.topic.as_str(), &m.data)
                        .as_bytes()
                        .to_vec(),
                )
            }
        })
        .max_transmit_size(leanp2p_gossipsub::limits::LEAN_MAX_TRANSMIT_SIZE)
        .heartbeat_interval(Duration::from_millis(300))
        .heartbeat_initial_delay(Duration::from_millis(100))
        .build()
        .unwrap();
    let authenticity = if signed {
        rl::MessageAuthenticity::Signed(key_a.clone())
    } else {
        rl::MessageAuthenticity::Anonymous
    };
    let behaviour_a: rl::Behaviour = rl::Behaviour::new(authenticity, rl_config).unwrap();
    let mut swarm_a = SwarmBuilder::with_existing_identity(key_a)
        .with_tokio()
        .with_quic()
        .with_behaviour(|_| behaviour_a)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    let rl_topic = rl::IdentTopic::new(topic_str.clone());
    swarm_a.behaviour_mut().subscribe(&rl_topic).unwrap();
    swarm_a
        .listen_on("/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap())
        .unwrap();
    let addr_a = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm_a.select_next_some().await {
            break address;
        }
    };
    let peer_a = *swarm_a.local_peer_id();

    // Our side: a raw-stream swarm carrying our router.
    let key_b = libp2p::identity::Keypair::ed25519_from_bytes([2u8; 32]).unwrap();
    let peer_b = key_b.public().to_peer_id();
    let mut swarm_b = SwarmBuilder::with_existing_identity(key_b)
        .with_tokio()
        .with_quic()
        .with_behaviour(|_| RawBehaviour::default())
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    swarm_b.dial(addr_a).unwrap();

    let mut cfg = lean::config();
    cfg.heartbeat_initial_delay = Duration::from_millis(100);
    let signer = leanp2p_identity::Keypair::from_secret_bytes(&[3; 32]).unwrap();
    let signer_id = libp2p::PeerId::from_bytes(signer.peer_id().as_bytes()).unwrap();
    if signed {
        cfg.signature_policy = SignaturePolicy::StrictSign(Box::new(signer));
        cfg.message_id_fn = default_message_id;
    }
    let limits = cfg.limits.clone();
    let start = Instant::now();
    let mut ours = Gossipsub::new(start, cfg, [9; 32]).unwrap();
    ours.subscribe(start, &topic).unwrap();
    let their_id = to_ours(&peer_a);

    let (frame_tx, mut frame_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let mut outbound: Option<Stream> = None;
    let mut inbound_seen = false;

    // Progress flags.
    let mut they_saw_our_subscription = false;
    let mut we_saw_their_subscription = false;
    let mut they_grafted_us = false;
    let mut we_published: Option<MessageId> = None;
    let mut they_got_our_message = false;
    let mut they_published: Option<MessageId> = None;
    let mut we_got_their_message = false;
    let mut frames_from_them = 0usize;
    let mut frames_with_extensions = 0usize;

    let our_payload = lean::snappy_compress(b"block from leanp2p", lean::MAX_PAYLOAD_SIZE).unwrap();
    let their_payload =
        lean::snappy_compress(b"block from rust-libp2p", lean::MAX_PAYLOAD_SIZE).unwrap();

    while !(they_got_our_message && we_got_their_message) {
        let deadline = ours.poll_timeout().unwrap_or_else(Instant::now);
        let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
        tokio::select! {
            ev = swarm_a.select_next_some() => {
                match ev {
                    SwarmEvent::Behaviour(rl::Event::Subscribed { peer_id, topic: t }) => {
                        assert_eq!(peer_id, peer_b);
                        assert_eq!(t, rl_topic.hash());
                        they_saw_our_subscription = true;
                    }
                    SwarmEvent::Behaviour(rl::Event::Message { message_id, message, .. }) => {
                        assert_eq!(Some(message_id.0.clone()), we_published.as_ref().map(|id| id.as_bytes().to_vec()));
                        assert_eq!(message.data, our_payload);
                        let expected_source = signed.then_some(signer_id);
                        assert_eq!(message.source, expected_source, "author as signed");
                        they_got_our_message = true;
                    }
                    _ => {}
                }
            }
            ev = swarm_b.select_next_some() => {
                if let SwarmEvent::Behaviour(raw) = ev {
                    match raw {
                        RawEvent::Outbound(stream) => {
                            ours.handle_peer_connected(Instant::now(), their_id, PeerConnection::new(ProtocolVersion::V1_2, true)).unwrap();
                            outbound = Some(stream);
                        }
                        RawEvent::Inbound(mut stream) => {
                            assert!(!inbound_seen, "one inbound gossip stream");
                            inbound_seen = true;
                            let tx = frame_tx.clone();
                            let max = limits.max_transmit_size;
                            tokio::spawn(async move {
                                let mut decoder = FrameDecoder::new(max);
                                let mut buf = vec![0u8; 64 * 1024];
                                loop {
                                    let n = match stream.read(&mut buf).await { Ok(0) | Err(_) => return, Ok(n) => n };
                                    let mut input = buf[..n].to_vec().into();
                                    while let Some(frame) = decoder.decode(&mut input).expect("valid framing from rust-libp2p") {
                                        if tx.send(frame.to_vec()).is_err() { return; }
                                    }
                                }
                            });
                        }
                    }
                }
            }
            Some(body) = frame_rx.recv() => {
                frames_from_them += 1;
                let (decoded, had_extensions) = check_their_frame(&body, &limits);
                frames_with_extensions += usize::from(had_extensions);
                if decoded.graft.iter().any(|g| g.topic_id.as_deref() == Some(topic_str.as_str())) {
                    they_grafted_us = true;
                }
                ours.handle_rpc(Instant::now(), their_id, body.into()).unwrap();
            }
            _ = sleep => {
                ours.handle_timeout(Instant::now());
            }
        }

        // Drain our router: frames to rust-libp2p, events to the "application".
        if let Some(stream) = outbound.as_mut() {
            while let Some(out) = ours.poll_outbound() {
                assert_eq!(out.to, their_id);
                stream.write_all(&out.frame).await.unwrap();
                stream.flush().await.unwrap();
            }
        }
        while let Some(event) = ours.poll_event() {
            match event {
                Event::Subscribed { peer, topic: t } => {
                    assert_eq!((peer, &t), (their_id, &topic));
                    we_saw_their_subscription = true;
                }
                Event::Message {
                    id,
                    propagation_source,
                    data,
                    topic: t,
                    author,
                } => {
                    assert_eq!(Some(&id), they_published.as_ref());
                    let expected_author = signed.then_some(their_id);
                    assert_eq!(
                        (propagation_source, &t, author),
                        (their_id, &topic, expected_author)
                    );
                    assert_eq!(&data[..], &their_payload[..]);
                    ours.report_validation(
                        Instant::now(),
                        &id,
                        propagation_source,
                        Validation::Accept,
                    )
                    .unwrap();
                    we_got_their_message = true;
                }
                _ => {}
            }
        }

        // Once both meshes are formed, each side publishes once.
        let now = Instant::now();
        let in_our_mesh = ours.mesh_peers(&topic).any(|p| *p == their_id);
        let in_their_mesh = swarm_a
            .behaviour()
            .mesh_peers(&rl_topic.hash())
            .any(|p| *p == peer_b);
        if we_published.is_none() && in_our_mesh && in_their_mesh && they_saw_our_subscription {
            we_published = Some(
                ours.publish(now, &topic, our_payload.clone().into())
                    .unwrap(),
            );
            if let Some(stream) = outbound.as_mut() {
                while let Some(out) = ours.poll_outbound() {
                    stream.write_all(&out.frame).await.unwrap();
                    stream.flush().await.unwrap();
                }
            }
        }
        if they_published.is_none() && in_their_mesh && we_saw_their_subscription && in_our_mesh {
            let id = swarm_a
                .behaviour_mut()
                .publish(rl_topic.clone(), their_payload.clone())
                .unwrap();
            if !signed {
                assert_eq!(
                    id.0,
                    lean::message_id(&topic_str, &their_payload).as_bytes()
                );
            }
            they_published = Some(MessageId::new(&id.0));
        }
    }

    assert!(they_grafted_us, "rust-libp2p's GRAFT decoded here");
    assert!(frames_from_them >= 2);
    assert!(
        frames_with_extensions <= 1,
        "ControlExtensions is sent once per peer"
    );
    let stats = ours.stats();
    assert_eq!(stats.counters.rpc_sections_dropped, 0);
    assert_eq!(stats.topics[&topic].mesh_peers, 1);
}
