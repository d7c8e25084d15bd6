//! Req/resp routing: one stream per request, opened on the peer's gossip connection (or
//! its first connection), named by the host with a [`leanp2p_reqresp::StreamKey`] of
//! (connection, stream) when it opens or accepts the stream ([`rr_key`]). The machine
//! carries the response backpressure: the host reports each response stream's unsent
//! bytes after every flush.

use std::time::Instant;

use leanp2p_multistream::ProtocolId;
use leanp2p_quic::{ConnId, StreamId};
use leanp2p_reqresp::{Event as RrEvent, OpenFailure, StreamKey, StreamOp};

use super::Node;
use crate::connection::StreamKind;
use crate::event::NodeEvent;

impl Node {
    /// Carries out one stream operation of the req/resp machine.
    pub(crate) fn on_reqresp_op(&mut self, now: Instant, op: StreamOp) {
        match op {
            StreamOp::Open {
                peer,
                request,
                protocols,
            } => {
                self.mark_peer(&peer);
                let conn = self.peers.get(&peer).and_then(|p| {
                    p.gossip_conn
                        .filter(|c| self.conns.get(c).is_some_and(|c| c.local_close.is_none()))
                        .or_else(|| p.conns.iter().next().copied())
                });
                let Some(conn) = conn else {
                    self.reqresp
                        .handle_open_failed(now, request, OpenFailure::NotConnected);
                    return;
                };
                let ids: Result<Vec<ProtocolId>, _> = protocols
                    .iter()
                    .map(|p| ProtocolId::new(p.as_str()))
                    .collect();
                let Ok(ids) = ids else {
                    self.reqresp
                        .handle_open_failed(now, request, OpenFailure::NegotiationFailed);
                    return;
                };
                let kind = StreamKind::ReqResp {
                    request: Some(request),
                };
                match self.open_stream(now, conn, kind, ids.clone()) {
                    Ok(_) => {}
                    Err(leanp2p_quic::OpenStreamError::LimitReached)
                        if self.blocked_opens.len() < self.config.limits.max_blocked_opens =>
                    {
                        // Retried on `StreamsAvailable`; the request timeout still runs.
                        self.blocked_opens.push_back((conn, request, ids));
                    }
                    Err(error) => {
                        let failure = match error {
                            leanp2p_quic::OpenStreamError::LimitReached => OpenFailure::StreamLimit,
                            _ => OpenFailure::NotConnected,
                        };
                        self.reqresp.handle_open_failed(now, request, failure);
                    }
                }
            }
            StreamOp::Write { stream, data } => {
                if let Some((conn, id)) = self.rr_streams.get(&stream).copied() {
                    self.write_stream(now, conn, id, data);
                }
            }
            StreamOp::Finish { stream } => {
                if let Some((conn, id)) = self.rr_streams.get(&stream).copied() {
                    self.finish_stream(now, conn, id);
                }
            }
            StreamOp::Reset { stream } => {
                if let Some((conn, id)) = self.rr_streams.get(&stream).copied() {
                    self.reset_stream(now, conn, id, false);
                }
            }
        }
    }

    /// `conn` accepts more streams: open the requests that waited for it, in order.
    pub(crate) fn retry_blocked_opens(&mut self, now: Instant, conn: ConnId) {
        let (ready, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.blocked_opens)
            .into_iter()
            .partition(|(c, _, _)| *c == conn);
        self.blocked_opens = rest.into();
        for (conn, request, ids) in ready {
            let kind = StreamKind::ReqResp {
                request: Some(request),
            };
            match self.open_stream(now, conn, kind, ids.clone()) {
                Ok(_) => {}
                Err(leanp2p_quic::OpenStreamError::LimitReached) => {
                    self.blocked_opens.push_back((conn, request, ids));
                }
                Err(_) => {
                    self.reqresp
                        .handle_open_failed(now, request, OpenFailure::NotConnected);
                }
            }
        }
    }

    /// `conn` is gone: its waiting requests fail (or the machine already failed them).
    pub(crate) fn drop_blocked_opens(&mut self, now: Instant, conn: ConnId) {
        let (gone, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.blocked_opens)
            .into_iter()
            .partition(|(c, _, _)| *c == conn);
        self.blocked_opens = rest.into();
        for (_, request, _) in gone {
            self.reqresp
                .handle_open_failed(now, request, OpenFailure::NotConnected);
        }
    }

    /// Translates a req/resp event.
    pub(crate) fn on_reqresp_event(&mut self, event: RrEvent) {
        if let Some(peer) = event_peer(&event) {
            // Whether req/resp has work for the peer decides if its connection is idle.
            self.mark_peer(&peer);
        }
        let event = match event {
            RrEvent::InboundRequest {
                channel,
                peer,
                protocol,
                body,
            } => NodeEvent::InboundRequest {
                channel,
                peer,
                protocol,
                body,
            },
            RrEvent::InboundAborted {
                channel,
                peer,
                reason,
            } => NodeEvent::InboundAborted {
                channel,
                peer,
                reason,
            },
            RrEvent::InboundRejected {
                peer,
                protocol,
                reason,
            } => NodeEvent::InboundRejected {
                peer,
                protocol,
                reason,
            },
            RrEvent::Response {
                request,
                peer,
                payload,
            } => NodeEvent::Response {
                request,
                peer,
                payload,
            },
            RrEvent::Completed {
                request,
                peer,
                chunks,
            } => NodeEvent::RequestCompleted {
                request,
                peer,
                chunks,
            },
            RrEvent::Failed {
                request,
                peer,
                reason,
            } => NodeEvent::RequestFailed {
                request,
                peer,
                reason,
            },
            RrEvent::ResponseWritable { channel } => NodeEvent::ResponseWritable { channel },
            _ => return,
        };
        self.emit(event);
    }
}

/// The key the host names a req/resp stream by: its connection and QUIC stream. Known
/// from the moment the host opens or accepts the stream, so the machine never sees a
/// placeholder.
pub(crate) fn rr_key(conn: ConnId, stream: StreamId) -> StreamKey {
    StreamKey::new(conn.as_u64(), stream.as_u64())
}

/// The peer a req/resp event is about.
fn event_peer(event: &RrEvent) -> Option<leanp2p_identity::PeerId> {
    match event {
        RrEvent::InboundRequest { peer, .. }
        | RrEvent::InboundAborted { peer, .. }
        | RrEvent::InboundRejected { peer, .. }
        | RrEvent::Response { peer, .. }
        | RrEvent::Completed { peer, .. }
        | RrEvent::Failed { peer, .. } => Some(*peer),
        _ => None,
    }
}
