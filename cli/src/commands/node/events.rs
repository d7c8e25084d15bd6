//! Turning [`NodeEvent`]s into JSON lines, counters and reactions (validation, status
//! requests and answers). Runs on the reactor's thread, inside its callback.

use std::time::Instant;

use bytes::Bytes;
use leanp2p_host::{lean, Direction, Multiaddr, Node, NodeEvent, PeerId, Validation};
use serde_json::{json, Value};

use super::args::GossipEncoding;
use super::blocks;
use super::session::{PendingRequest, Session};
use crate::commands::workload::payload;
use crate::commands::workload::serve::{BlockSource, Protocol, Served};

/// SSZ size of a lean `Status` (two checkpoints of root + slot).
const STATUS_SIZE: usize = 80;

fn direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Inbound => "inbound",
        _ => "outbound",
    }
}

/// Handles one event.
pub(crate) fn on_event(session: &mut Session, node: &mut Node, now: Instant, event: NodeEvent) {
    let request_ended = matches!(
        event,
        NodeEvent::RequestCompleted { .. } | NodeEvent::RequestFailed { .. }
    );
    match event {
        NodeEvent::Connected {
            peer,
            direction: dir,
            remote,
            ..
        } => {
            session.counters.connections_established += 1;
            let addr = Multiaddr::quic_v1(remote, Some(peer));
            session.out.emit(
                "connected",
                json!({ "peer": peer.to_string(), "addr": addr.to_string(), "direction": direction(dir) }),
            );
            let wants_requests = session.request_status_to_all || session.request_blocks.is_some();
            if wants_requests && session.greeted.insert(peer) {
                if session.request_status_to_all {
                    request_status(session, node, now, peer);
                }
                blocks::request(session, node, now, peer);
            }
        }
        NodeEvent::Disconnected { peer, reason, .. } => {
            session.counters.connections_closed += 1;
            session.out.emit(
                "disconnected",
                json!({ "peer": peer.to_string(), "reason": reason.to_string(), "label": reason.label() }),
            );
        }
        NodeEvent::DialFailed { addr, peer, error } => {
            let mut fields = json!({ "where": "dial", "addr": addr.to_string(), "error": error.to_string() });
            if let Some(peer) = peer {
                fields["peer"] = Value::from(peer.to_string());
            }
            session.out.emit("error", fields);
        }
        NodeEvent::Message {
            id,
            propagation_source,
            topic,
            data,
        } => {
            // Decode and read the payload header, then accept: the validation latency
            // is the time from the event to the verdict.
            on_gossip(session, &id, propagation_source, topic.as_str(), &data);
            if let Err(e) = node.report_validation(now, &id, propagation_source, Validation::Accept)
            {
                tracing::debug!(%e, "report_validation");
            }
            session
                .metrics
                .gossip_validation(topic.as_str(), Instant::now().saturating_duration_since(now));
        }
        NodeEvent::Subscribed { peer, topic } => session.out.emit(
            "subscribed",
            json!({ "topic": topic.as_str(), "peer": peer.to_string(), "local": false }),
        ),
        NodeEvent::Unsubscribed { peer, topic } => session.out.emit(
            "unsubscribed",
            json!({ "topic": topic.as_str(), "peer": peer.to_string(), "local": false }),
        ),
        NodeEvent::Identified { peer, info, .. } => session.out.emit(
            "identify",
            json!({
                "peer": peer.to_string(),
                "agent": info.agent_version,
                "protocol_version": info.protocol_version,
                "protocols": info.protocols,
            }),
        ),
        NodeEvent::PingSuccess { peer, rtt, .. } => {
            session.metrics.ping(rtt);
            session.out.emit(
                "ping",
                json!({ "peer": peer.to_string(), "rtt_ms": rtt.as_secs_f64() * 1000.0 }),
            );
        }
        NodeEvent::PingFailed { peer, error, .. } => {
            tracing::debug!(%peer, ?error, "ping failed");
        }
        NodeEvent::SlowPeer { peer, dropped } => session.out.emit(
            "error",
            json!({ "where": "gossip_queue", "peer": peer.to_string(), "error": format!("slow peer: {dropped} frames dropped") }),
        ),
        NodeEvent::InboundRequest {
            channel,
            peer,
            protocol,
            body,
        } => {
            session.out.emit(
                "rpc_request_in",
                json!({ "protocol": protocol.as_str(), "peer": peer.to_string() }),
            );
            // The one server, over synthetic blocks: status answers genesis (all zero),
            // blocks_by_root synthetic blocks, blocks_by_range no blocks.
            let source = BlockSource::Synthetic {
                size: session.serve_block_size,
            };
            let result = session
                .server
                .serve(&source, node, now, channel, protocol.as_str(), &body);
            match result {
                Ok(outcome) => on_served(session, outcome.served),
                Err(e) => session.out.emit(
                    "error",
                    json!({ "where": "respond", "peer": peer.to_string(), "error": e }),
                ),
            }
        }
        NodeEvent::ResponseWritable { channel } => {
            match session.server.resume(node, now, channel) {
                Ok(served) => on_served(session, served),
                Err(e) => session
                    .out
                    .emit("error", json!({ "where": "respond", "error": e })),
            }
        }
        NodeEvent::InboundAborted { channel, .. } => session.server.abort(channel),
        NodeEvent::Response {
            request, payload, ..
        } => {
            if let Some(pending) = session.status_requests.get_mut(&request) {
                pending.chunks += 1;
                pending.bytes += payload.len() as u64;
            } else if let Some(pending) = session.block_requests.get_mut(&request) {
                blocks::on_chunk(pending, &payload);
            }
        }
        NodeEvent::RequestCompleted { request, .. } => {
            if let Some(pending) = session.status_requests.remove(&request) {
                let ok = pending.chunks == 1 && pending.bytes == STATUS_SIZE as u64;
                if ok {
                    session.counters.status_ok += 1;
                } else {
                    session.counters.status_failed += 1;
                }
                emit_response(session, &pending, ok, None);
            } else if let Some(pending) = session.block_requests.remove(&request) {
                blocks::on_end(session, pending, None);
            }
        }
        NodeEvent::RequestFailed { request, reason, .. } => {
            if let Some(pending) = session.status_requests.remove(&request) {
                session.counters.status_failed += 1;
                emit_response(session, &pending, false, Some(format!("{reason:?}")));
            } else if let Some(pending) = session.block_requests.remove(&request) {
                blocks::on_end(session, pending, Some(format!("{reason:?}")));
            }
        }
        other => tracing::trace!(?other, "event"),
    }
    if request_ended {
        session.check_done();
    }
}

/// Counts a response that was sent in full (CLI.md `status_served`,
/// `blocks_requests_served`).
fn on_served(session: &mut Session, served: Option<Served>) {
    match served.map(|s| s.protocol) {
        Some(Protocol::Status) => session.counters.status_served += 1,
        Some(Protocol::BlocksByRoot) => session.counters.blocks_requests_served += 1,
        _ => {}
    }
}

fn emit_response(session: &mut Session, pending: &PendingRequest, ok: bool, error: Option<String>) {
    let took = Instant::now().saturating_duration_since(pending.sent);
    session.metrics.request(lean::STATUS.as_str(), ok, took);
    let mut fields = json!({
        "protocol": lean::STATUS.as_str(),
        "peer": pending.peer.to_string(),
        "ok": ok,
        "chunks": pending.chunks,
        "bytes": pending.bytes,
    });
    if let Some(error) = error {
        fields["error"] = Value::from(error);
    }
    session.out.emit("rpc_response", fields);
}

fn request_status(session: &mut Session, node: &mut Node, now: Instant, peer: PeerId) {
    let body = Bytes::from(vec![0u8; STATUS_SIZE]);
    match node.request(now, peer, &lean::STATUS, body) {
        Ok(request) => {
            session.status_requests.insert(
                request,
                PendingRequest {
                    peer,
                    sent: now,
                    chunks: 0,
                    bytes: 0,
                },
            );
            session.out.emit(
                "rpc_request_out",
                json!({ "protocol": lean::STATUS.as_str(), "peer": peer.to_string() }),
            );
        }
        Err(e) => {
            session.counters.status_failed += 1;
            session.out.emit(
                "error",
                json!({ "where": "rpc_request", "peer": peer.to_string(), "error": e.to_string() }),
            );
        }
    }
}

fn on_gossip(
    session: &mut Session,
    id: &leanp2p_host::MessageId,
    from: PeerId,
    topic: &str,
    data: &[u8],
) {
    session.counters.gossip_received += 1;
    session.counters.gossip_received_bytes += data.len() as u64;
    let decoded = match session.encoding {
        GossipEncoding::Raw => Some(data.to_vec()),
        GossipEncoding::Snappy => {
            leanp2p_gossipsub::lean::snappy_decompress(data, lean::MAX_PAYLOAD_SIZE).ok()
        }
    };
    let header = decoded.as_deref().and_then(payload::read_header);
    let latency = header.and_then(|(sent, _)| payload::latency_ms(sent, payload::unix_micros()));
    if let Some(ms) = latency {
        session.counters.latency.record(ms);
        session.metrics.gossip_propagation(topic, ms);
    }
    if !session.quiet_gossip {
        session.out.emit(
            "gossip",
            json!({
                "topic": topic,
                "size": data.len(),
                "decoded_size": decoded.as_ref().map(Vec::len),
                "from": from.to_string(),
                "msg_id": hex::encode(id.as_bytes()),
                "latency_ms": latency,
                "seq": header.map(|(_, seq)| seq),
            }),
        );
    }
    session.check_done();
}
