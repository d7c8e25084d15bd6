//! Req/resp routing: one stream per request, opened on the peer's gossip connection (or
//! its first connection), named by a [`leanp2p_reqresp::StreamKey`] of (connection,
//! stream).

use std::time::Instant;

use leanp2p_multistream::ProtocolId;
use leanp2p_quic::{ConnId, StreamId};
use leanp2p_reqresp::{ChannelId, Event as RrEvent, OpenFailure, StreamKey, StreamOp};

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
                    key: StreamKey::new(0, 0),
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

    /// Whether `channel`'s response stream is at its high-water mark; if so, the
    /// channel waits for [`NodeEvent::ResponseWritable`] and the refusal is counted.
    pub(crate) fn response_backpressured(&mut self, channel: ChannelId) -> bool {
        let high_water = self.config.limits.response_high_water;
        let full = self
            .response_buffered_bytes(channel)
            .is_some_and(|b| b >= high_water);
        if full {
            self.responses_waiting.insert(channel);
            self.counters.responses_backpressured += 1;
        }
        full
    }

    /// Carries out the stream operations [`ReqResp::respond`] just queued for `channel`,
    /// learning its response stream from the first write. The machine's queue is empty
    /// before every command (each handler and command drains it), so its first write
    /// belongs to `channel`. With `ends` (an error chunk) the channel is over.
    ///
    /// [`ReqResp::respond`]: leanp2p_reqresp::ReqResp::respond
    pub(crate) fn take_response_ops(&mut self, now: Instant, channel: ChannelId, ends: bool) {
        while let Some(op) = self.reqresp.poll_outbound() {
            if let StreamOp::Write { stream, .. } = &op {
                if !ends && !self.responses.contains_key(&channel) {
                    if let Some(&(conn, id)) = self.rr_streams.get(stream) {
                        let inbound = self
                            .conns
                            .get(&conn)
                            .and_then(|c| c.stream(id))
                            .is_some_and(|s| {
                                matches!(s.kind, StreamKind::ReqResp { request: None, .. })
                            });
                        debug_assert!(inbound, "first write after respond is not a response");
                        if inbound && !self.response_streams.contains_key(&(conn, id)) {
                            self.responses.insert(channel, (conn, id));
                            self.response_streams.insert((conn, id), channel);
                        }
                    }
                }
            }
            self.on_reqresp_op(now, op);
        }
        if ends {
            self.forget_response(channel);
        }
    }

    /// The response on `channel` is over (ended, failed or aborted).
    pub(crate) fn forget_response(&mut self, channel: ChannelId) {
        if let Some(key) = self.responses.remove(&channel) {
            self.response_streams.remove(&key);
        }
        self.responses_waiting.remove(&channel);
    }

    /// A stream is gone: forget the response it carried, if any.
    pub(crate) fn forget_response_stream(&mut self, conn: ConnId, stream: StreamId) {
        if let Some(channel) = self.response_streams.remove(&(conn, stream)) {
            self.responses.remove(&channel);
            self.responses_waiting.remove(&channel);
        }
    }

    /// QUIC credit returned on `stream`: a waiting response below its high-water mark
    /// may send again.
    pub(crate) fn after_response_flush(&mut self, conn: ConnId, stream: StreamId) {
        let Some(&channel) = self.response_streams.get(&(conn, stream)) else {
            return;
        };
        if !self.responses_waiting.contains(&channel) {
            return;
        }
        let high_water = self.config.limits.response_high_water;
        if self
            .response_buffered_bytes(channel)
            .is_some_and(|b| b < high_water)
        {
            self.responses_waiting.remove(&channel);
            self.emit(NodeEvent::ResponseWritable { channel });
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
                key: StreamKey::new(0, 0),
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
            } => {
                self.forget_response(channel);
                NodeEvent::InboundAborted {
                    channel,
                    peer,
                    reason,
                }
            }
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
            _ => return,
        };
        self.emit(event);
    }
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
