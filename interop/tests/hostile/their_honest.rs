//! The honest peer as a rust-libp2p 0.57 swarm (QUIC, gossipsub configured as Ethereum
//! clients configure it, ping, and a status client on an `ssz_snappy` request-response
//! codec) while three attacks hit the victim at once: an IDONTWANT flood, forged and
//! half-open Initials, and pings without receive credit.

use std::collections::BTreeSet;
use std::io;
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use leanp2p_gossipsub::lean as gossip_lean;
use leanp2p_gossipsub::wire::encode_rpc_frame;
use leanp2p_gossipsub::wire::proto::{ControlIDontWant, ControlMessage, Rpc, SubOpts};
use leanp2p_host::{Bytes, PeerId};
use leanp2p_reqresp::lean as rr_lean;
use libp2p::request_response::{self as rr, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{gossipsub, ping, Multiaddr, StreamProtocol, Swarm, SwarmBuilder};

use crate::raw::{RawOptions, RawPeer, MESHSUB, PING};
use crate::support::{
    lean_config, payload, status_body, topic, topic_string, AppOptions, Bounds, LeanPeer, Peaks,
    WAIT_LIMIT,
};
use crate::transport::InitialFlood;

/// A status client: writes `uvarint(len) ‖ snappy frames`, reads chunks of
/// `code ‖ uvarint(len) ‖ snappy frames`. It never serves requests.
#[derive(Clone, Copy, Debug, Default)]
struct StatusCodec;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

impl rr::Codec for StatusCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Vec<u8>> {
        Err(invalid("this client serves no requests"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let mut wire = Vec::new();
        io.take(1 << 20).read_to_end(&mut wire).await?;
        let (&code, mut input) = wire.split_first().ok_or_else(|| invalid("empty"))?;
        if code != 0 {
            return Err(invalid("error response"));
        }
        let (len, rest) = unsigned_varint(input)?;
        input = rest;
        let mut out = vec![0u8; len];
        snap::read::FrameDecoder::new(input).read_exact(&mut out)?;
        Ok(out)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()> {
        use std::io::Write;
        let mut wire = crate::raw::uvarint(request.len() as u64);
        let mut encoder = snap::write::FrameEncoder::new(Vec::new());
        encoder.write_all(&request)?;
        wire.extend(encoder.into_inner().map_err(|e| invalid(&e.to_string()))?);
        io.write_all(&wire).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()> {
        Err(invalid("this client serves no requests"))
    }
}

fn unsigned_varint(input: &[u8]) -> io::Result<(usize, &[u8])> {
    let mut value = 0usize;
    for (i, &b) in input.iter().enumerate().take(10) {
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((value, &input[i + 1..]));
        }
    }
    Err(invalid("bad length prefix"))
}

static STATUS_ID: leanp2p_reqresp::ProtocolId = rr_lean::STATUS;

#[derive(NetworkBehaviour)]
struct Honest {
    gossipsub: gossipsub::Behaviour,
    ping: ping::Behaviour,
    status: rr::Behaviour<StatusCodec>,
}

fn build_swarm() -> Swarm<Honest> {
    let secret = libp2p::identity::secp256k1::SecretKey::try_from_bytes([50u8; 32]).unwrap();
    let key: libp2p::identity::Keypair = libp2p::identity::secp256k1::Keypair::from(secret).into();
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(
                gossip_lean::message_id(m.topic.as_str(), &m.data)
                    .as_bytes()
                    .to_vec(),
            )
        })
        .max_transmit_size(10 << 20)
        .heartbeat_interval(Duration::from_millis(700))
        .build()
        .unwrap();
    let mut swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_quic()
        .with_behaviour(|_| Honest {
            gossipsub: gossipsub::Behaviour::new(
                gossipsub::MessageAuthenticity::Anonymous,
                gossip_config,
            )
            .unwrap(),
            ping: ping::Behaviour::new(
                ping::Config::new().with_interval(Duration::from_millis(500)),
            ),
            status: rr::Behaviour::with_codec(
                StatusCodec,
                [(
                    StreamProtocol::new(STATUS_ID.as_str()),
                    ProtocolSupport::Outbound,
                )],
                rr::Config::default().with_request_timeout(Duration::from_secs(20)),
            ),
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(30)))
        .build();
    swarm
        .behaviour_mut()
        .gossipsub
        .subscribe(&gossipsub::IdentTopic::new(topic_string()))
        .unwrap();
    swarm
}

/// What the swarm saw.
#[derive(Default)]
struct Seen {
    messages: BTreeSet<Vec<u8>>,
    responses: BTreeSet<rr::OutboundRequestId>,
    failures: Vec<String>,
    pings: usize,
    subscribed: bool,
    connected: bool,
}

fn on_event(seen: &mut Seen, victim: libp2p::PeerId, event: SwarmEvent<HonestEvent>) {
    match event {
        SwarmEvent::ConnectionEstablished { peer_id, .. } if peer_id == victim => {
            seen.connected = true
        }
        SwarmEvent::ConnectionClosed { peer_id, cause, .. } if peer_id == victim => {
            seen.failures.push(format!("connection closed: {cause:?}"))
        }
        SwarmEvent::Behaviour(HonestEvent::Gossipsub(event)) => match event {
            gossipsub::Event::Message {
                propagation_source,
                message,
                ..
            } if propagation_source == victim => {
                seen.messages.insert(message.data);
            }
            gossipsub::Event::Subscribed { peer_id, .. } if peer_id == victim => {
                seen.subscribed = true
            }
            _ => {}
        },
        SwarmEvent::Behaviour(HonestEvent::Ping(ping::Event { peer, result, .. }))
            if peer == victim =>
        {
            match result {
                Ok(_) => seen.pings += 1,
                Err(e) => seen.failures.push(format!("ping: {e}")),
            }
        }
        SwarmEvent::Behaviour(HonestEvent::Status(event)) => match event {
            rr::Event::Message {
                message:
                    rr::Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                assert!(rr_lean::Status::from_ssz(&response).is_ok(), "bad status");
                seen.responses.insert(request_id);
            }
            rr::Event::OutboundFailure { error, .. } => {
                seen.failures.push(format!("status: {error}"))
            }
            _ => {}
        },
        _ => {}
    }
}

/// Drives the swarm until `deadline` or until `done` holds.
async fn drive(
    swarm: &mut Swarm<Honest>,
    seen: &mut Seen,
    victim: libp2p::PeerId,
    deadline: tokio::time::Instant,
    done: impl Fn(&Seen) -> bool,
) -> bool {
    while !done(seen) {
        tokio::select! {
            event = swarm.select_next_some() => on_event(seen, victim, event),
            _ = tokio::time::sleep_until(deadline) => return done(seen),
        }
    }
    true
}

fn to_theirs(peer: &PeerId) -> libp2p::PeerId {
    libp2p::PeerId::from_bytes(peer.as_bytes()).unwrap()
}

/// A rust-libp2p honest peer gets every message, ping and status response while the
/// victim is under an IDONTWANT flood (defect 1), forged Initials (defect 2) and pings
/// without receive credit (defect 6) at once.
#[test]
fn rust_libp2p_honest_peer_under_combined_attacks() {
    let victim = LeanPeer::start("victim", lean_config(), 1, AppOptions::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut swarm = build_swarm();
        let mut seen = Seen::default();
        let victim_peer = to_theirs(&victim.peer);
        let addr: Multiaddr = format!("/ip4/127.0.0.1/udp/{}/quic-v1", victim.addr.port())
            .parse()
            .unwrap();
        swarm.dial(addr).unwrap();
        let limit = tokio::time::Instant::now() + WAIT_LIMIT;
        assert!(
            drive(&mut swarm, &mut seen, victim_peer, limit, |s| s.connected
                && s.subscribed)
            .await,
            "the swarm never saw the victim subscribed: {:?}",
            seen.failures
        );
        let swarm_peer = crate::support::to_ours(swarm.local_peer_id());
        let limit = Instant::now() + WAIT_LIMIT;
        while !victim.log.lock().unwrap().subscribed.contains(&swarm_peer) {
            assert!(
                Instant::now() < limit,
                "the victim never saw the swarm subscribe"
            );
            let step = tokio::time::Instant::now() + Duration::from_millis(20);
            drive(&mut swarm, &mut seen, victim_peer, step, |_| false).await;
        }

        // The attackers.
        let flood = InitialFlood::start(victim.addr);
        let flooder = RawPeer::start(51, RawOptions::default(), None);
        let fconn = flooder.connect(victim.addr, victim.peer);
        let hello = encode_rpc_frame(&Rpc {
            subscriptions: vec![SubOpts {
                subscribe: Some(true),
                topic_id: Some(topic_string()),
                ..SubOpts::default()
            }],
            ..Rpc::default()
        });
        let fstream = flooder
            .with(move |s, _| s.open(fconn, MESHSUB, &hello))
            .unwrap();
        let idontwant = encode_rpc_frame(&Rpc {
            control: Some(ControlMessage {
                idontwant: (0..10u64)
                    .map(|e| ControlIDontWant {
                        message_ids: (0..5_000u64)
                            .map(|i| (e * 5_000 + i).to_le_bytes().repeat(3)[..20].to_vec())
                            .collect(),
                    })
                    .collect(),
                ..ControlMessage::default()
            }),
            ..Rpc::default()
        });
        let stingy = RawPeer::start(
            52,
            RawOptions {
                stream_receive_window: 2048,
                ..RawOptions::default()
            },
            None,
        );
        let pconn = stingy.connect(victim.addr, victim.peer);
        let pstream = stingy
            .with(move |s, _| {
                let stream = s.open(pconn, PING, &[0x70; 4096])?;
                s.unread.insert((pconn, stream));
                Some(stream)
            })
            .unwrap();

        // The honest workload.
        let (pings_before, mut requests, mut sent) = (seen.pings, BTreeSet::new(), Vec::new());
        let mut received_by_victim = Vec::new();
        let mut peaks = Peaks::default();
        let their_topic = gossipsub::IdentTopic::new(topic_string());
        let end = Instant::now() + Duration::from_secs(4);
        let mut seq = 0u64;
        while Instant::now() < end {
            seq += 1;
            let frame = idontwant.clone();
            flooder.with(move |s, _| {
                if s.queued(fconn, fstream) < 4 << 20 {
                    s.write(fconn, fstream, frame);
                }
            });
            stingy.with(move |s, _| {
                if s.queued(pconn, pstream) < 256 * 1024 {
                    s.write(pconn, pstream, Bytes::from(vec![0x70; 64 * 1024]));
                }
            });
            let data = payload(3, seq, 512);
            received_by_victim.push(data.clone());
            swarm
                .behaviour_mut()
                .gossipsub
                .publish(their_topic.clone(), data.to_vec())
                .expect("swarm publish");
            if seq % 10 == 1 {
                let request = swarm
                    .behaviour_mut()
                    .status
                    .send_request(&victim_peer, status_body().to_vec());
                requests.insert(request);
            }
            let data = payload(1, seq, 512);
            sent.push(data.to_vec());
            let stats = victim.with(move |node, now| {
                node.publish(now, &topic(), data).expect("victim publish");
                node.stats()
            });
            peaks.buffered_bytes_total = peaks.buffered_bytes_total.max(stats.buffered_bytes_total);
            peaks.queued_events = peaks.queued_events.max(stats.queued_events);
            peaks.queued_event_bytes = peaks.queued_event_bytes.max(stats.queued_event_bytes);
            let tick = tokio::time::Instant::now() + crate::support::TICK;
            drive(&mut swarm, &mut seen, victim_peer, tick, |_| false).await;
        }
        let limit = tokio::time::Instant::now() + WAIT_LIMIT;
        let all = |s: &Seen| {
            sent.iter().all(|m| s.messages.contains(m))
                && requests.iter().all(|r| s.responses.contains(r))
                && s.pings >= pings_before + 2
        };
        let ok = drive(&mut swarm, &mut seen, victim_peer, limit, all).await;
        assert!(
            ok,
            "the rust-libp2p peer missed traffic: {} of {} messages, {} of {} responses, \
             {} pings (before {pings_before}); failures {:?}",
            sent.iter().filter(|m| seen.messages.contains(*m)).count(),
            sent.len(),
            seen.responses.len(),
            requests.len(),
            seen.pings,
            seen.failures
        );
        let limit = Instant::now() + WAIT_LIMIT;
        loop {
            let delivered = victim
                .log
                .lock()
                .unwrap()
                .messages
                .get(&swarm_peer)
                .is_some_and(|got| received_by_victim.iter().all(|m| got.contains(m)));
            if delivered {
                break;
            }
            assert!(
                Instant::now() < limit,
                "the swarm's messages never all reached the victim"
            );
            let step = tokio::time::Instant::now() + Duration::from_millis(20);
            drive(&mut swarm, &mut seen, victim_peer, step, |_| false).await;
        }
        assert!(
            !seen
                .failures
                .iter()
                .any(|f| f.starts_with("connection closed")),
            "the swarm lost the victim: {:?}",
            seen.failures
        );
        peaks.assert_within(&Bounds::default());
        let stats = victim.stats();
        // Ids past the per-peer cap are counted in `idontwant_dropped`; entries past the
        // per-RPC budget are skipped undecoded (`rpc_sections_dropped`).
        let c = &stats.gossipsub.counters;
        assert!(
            c.idontwant_dropped + c.rpc_sections_dropped > 0,
            "no IDONTWANT capped"
        );
        assert!(stats.quic.incoming_failed + stats.quic.incoming_retried > 0);
        let stingy_peer = stingy.peer;
        let echo = victim.with(move |node, _| node.buffered_bytes(&stingy_peer));
        assert!(
            echo <= 16 * 1024,
            "{echo} echo bytes held for the stingy pinger"
        );
        drop(flood);
    });
}
