//! Stream routing: QUIC events in, multistream-select on every stream, bytes to the
//! protocol that owns the stream, queued bytes out as QUIC credit allows.

use std::time::Instant;

use bytes::Bytes;
use leanp2p_multistream::{Negotiation, NegotiationError, ProtocolId, ProtocolSet};
use leanp2p_quic::{ConnId, Direction, Event, StreamId};
use leanp2p_reqresp::OpenFailure;

use super::reqresp::rr_key;
use super::{Node, IDENTIFY_PROTOCOL, IDENTIFY_PUSH_PROTOCOL, PING_PROTOCOL};
use crate::app_streams::AppStream;
use crate::connection::{Connection, InboundClass, Stream, StreamKind};
use crate::event::{DisconnectReason, NodeEvent};

impl Node {
    // ----- QUIC events -------------------------------------------------------------------

    pub(crate) fn on_endpoint_event(&mut self, now: Instant, event: Event) {
        self.node_timers_changed = true;
        match event {
            Event::Connected {
                conn,
                peer,
                remote,
                direction,
            } => self.on_connected(now, conn, peer, remote, direction),
            Event::DialFailed {
                conn,
                remote,
                expected,
                error,
            } => {
                self.dials.remove(&conn);
                self.counters.dials_failed += 1;
                tracing::debug!(%conn, %remote, %error, "dial failed");
                self.on_dial_failed(now, conn, expected);
                if let Some(peer) = expected {
                    self.on_target_dial_failed(now, conn, peer);
                }
                self.emit(NodeEvent::DialFailed {
                    addr: remote,
                    peer: expected,
                    error,
                });
            }
            Event::Closed { conn, reason, .. } => self.on_closed(now, conn, reason),
            Event::StreamOpened { conn, stream } => self.on_inbound_stream(now, conn, stream),
            Event::Readable { conn, stream } => {
                self.readable.insert((conn, stream));
            }
            Event::Writable { conn, stream } => {
                self.flush_stream(now, conn, stream);
                self.after_gossip_flush(now, conn, stream);
            }
            Event::Finished { conn, stream } => self.on_stream_finished(now, conn, stream),
            Event::Reset { conn, stream, .. } => self.on_stream_reset(now, conn, stream),
            Event::Stopped { conn, stream, .. } => self.on_stream_stopped(now, conn, stream),
            Event::StreamsAvailable { conn } => {
                self.retry_gossip_stream(now, conn);
                self.retry_blocked_opens(now, conn);
            }
            _ => {}
        }
    }

    fn on_connected(
        &mut self,
        now: Instant,
        conn: ConnId,
        peer: leanp2p_identity::PeerId,
        remote: std::net::SocketAddr,
        direction: Direction,
    ) {
        self.dials.remove(&conn);
        let connection = Connection::new(conn, peer, direction, remote, now);
        let _span = connection.span.clone().entered();
        self.conns.insert(conn, connection);
        match direction {
            Direction::Inbound => self.counters.connections_inbound += 1,
            Direction::Outbound => self.counters.connections_outbound += 1,
        }
        tracing::debug!(%remote, "connected");
        if peer == self.local_peer {
            self.close_with(now, conn, DisconnectReason::SelfConnection);
            return;
        }
        if !self.on_connection_admitted(now, conn, peer, direction) {
            return;
        }
        self.emit(NodeEvent::Connected {
            peer,
            conn,
            direction,
            remote,
        });
        self.peers.entry(peer).or_default().conns.insert(conn);
        self.mark_peer(&peer);
        self.choose_gossip_leg(now, peer, conn);
        self.open_identify_query(now, conn);
    }

    fn on_closed(&mut self, now: Instant, conn: ConnId, reason: leanp2p_quic::CloseReason) {
        let Some(mut c) = self.conns.remove(&conn) else {
            return;
        };
        let _span = c.span.clone().entered();
        let peer = c.peer;
        // A target dial refused right after its handshake never reached the peer table.
        self.on_target_dial_failed(now, conn, peer);
        let reason = c
            .local_close
            .take()
            .unwrap_or(DisconnectReason::Transport(reason));
        tracing::debug!(%reason, "connection closed");
        let direction_label = match c.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        };
        *self
            .counters
            .disconnections
            .entry((direction_label, reason.label()))
            .or_default() += 1;
        self.readable.retain(|(id, _)| *id != conn);
        self.drop_blocked_opens(now, conn);
        let announced = self
            .peers
            .get(&peer)
            .is_some_and(|p| p.conns.contains(&conn));
        let others_remain = self
            .peers
            .get(&peer)
            .is_some_and(|p| p.conns.iter().any(|id| *id != conn));
        for (id, s) in c.take_streams() {
            if let StreamKind::ReqResp { request } = s.kind {
                let key = rr_key(conn, id);
                self.rr_streams.remove(&key);
                if others_remain {
                    match request {
                        Some(request) if !s.writable => {
                            self.reqresp.handle_open_failed(
                                now,
                                request,
                                OpenFailure::NotConnected,
                            );
                        }
                        _ => {
                            let _ = self.reqresp.handle_stream_reset(now, key);
                        }
                    }
                }
            }
        }
        if announced {
            if others_remain {
                if let Some(p) = self.peers.get_mut(&peer) {
                    p.conns.remove(&conn);
                }
                self.mark_peer(&peer);
                let was_gossip = self.peers.get(&peer).and_then(|p| p.gossip_conn) == Some(conn);
                if was_gossip {
                    self.move_gossip(now, peer);
                }
            } else {
                self.peers.remove(&peer);
                self.gossip.handle_peer_disconnected(now, peer);
                self.reqresp.handle_peer_disconnected(now, peer);
            }
            self.emit(NodeEvent::Disconnected {
                peer,
                conn,
                direction: c.direction,
                reason,
            });
            self.on_connection_lost(now, peer, c.direction);
        }
    }

    // ----- opening streams -----------------------------------------------------------------

    /// Opens an outbound stream offering `protocols` (V1Lazy for a single protocol).
    /// Fails if QUIC refused (no connection, stream limit).
    pub(crate) fn open_stream(
        &mut self,
        now: Instant,
        conn: ConnId,
        kind: StreamKind,
        protocols: Vec<ProtocolId>,
    ) -> Result<StreamId, leanp2p_quic::OpenStreamError> {
        let set = match ProtocolSet::new(protocols) {
            Ok(set) => set,
            Err(_) => return Err(leanp2p_quic::OpenStreamError::NotConnected),
        };
        let config = if set.len() == 1 {
            &self.ms_lazy
        } else {
            &self.ms_v1
        };
        let negotiation = match Negotiation::dialer(set, config) {
            Ok(n) => n,
            Err(_) => return Err(leanp2p_quic::OpenStreamError::NotConnected),
        };
        let stream = self.endpoint.open_bi(conn)?;
        // The host names req/resp streams itself: the key is known from the open.
        let reqresp_key = matches!(kind, StreamKind::ReqResp { .. }).then(|| rr_key(conn, stream));
        let limit = self.send_limit_for(&kind);
        let deadline = now + self.config.limits.negotiation_timeout;
        let mut s = Stream::new(kind, negotiation, deadline, limit, true, now);
        if s.take_negotiation_output().is_err() {
            let _ = self.endpoint.reset(conn, stream, 0);
            return Err(leanp2p_quic::OpenStreamError::NotConnected);
        }
        let lazy_ready = s
            .negotiation
            .as_ref()
            .is_some_and(|n| n.ready_to_send().is_some());
        if let Some(c) = self.conns.get_mut(&conn) {
            c.insert_stream(stream, s);
        }
        if let Some(key) = reqresp_key {
            self.rr_streams.insert(key, (conn, stream));
        }
        if lazy_ready {
            self.set_writable(now, conn, stream);
        }
        self.flush_stream(now, conn, stream);
        Ok(stream)
    }

    pub(crate) fn send_limit_for(&self, kind: &StreamKind) -> usize {
        match kind {
            StreamKind::GossipOut => self
                .config
                .limits
                .gossip_send_high_water
                .saturating_add(self.config.gossipsub.limits.max_transmit_size)
                .saturating_add(16),
            _ => self.config.limits.max_stream_send_buffer,
        }
    }

    /// The peer opened a stream: we are its multistream listener.
    fn on_inbound_stream(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        let limit = self.config.limits.max_stream_send_buffer;
        let deadline = now + self.config.limits.negotiation_timeout;
        let max_negotiating = self.config.limits.max_negotiating_streams;
        let Some(c) = self.conns.get_mut(&conn) else {
            let _ = self.endpoint.reset(conn, stream, 0);
            return;
        };
        if c.local_close.is_some() || c.negotiating_count() >= max_negotiating {
            self.counters.inbound_streams_refused += 1;
            let _ = self.endpoint.reset(conn, stream, 0);
            return;
        }
        let negotiation = match Negotiation::listener(self.listener_protocols.clone(), &self.ms_v1)
        {
            Ok(n) => n,
            Err(_) => {
                let _ = self.endpoint.reset(conn, stream, 0);
                return;
            }
        };
        let mut s = Stream::new(
            StreamKind::Listening,
            negotiation,
            deadline,
            limit,
            false,
            now,
        );
        if s.take_negotiation_output().is_err() {
            let _ = self.endpoint.reset(conn, stream, 0);
            return;
        }
        c.insert_stream(stream, s);
        self.flush_stream(now, conn, stream);
    }

    // ----- reading -------------------------------------------------------------------------

    /// Reads every stream with pending data, up to `read_budget` bytes each. Returns
    /// whether anything was read.
    pub(crate) fn read_pending(&mut self, now: Instant) -> bool {
        if self.readable.is_empty() {
            return false;
        }
        let budget = self.config.limits.read_budget;
        let ready: Vec<(ConnId, StreamId)> = self.readable.iter().copied().collect();
        let mut any = false;
        for (conn, stream) in ready {
            let mut left = budget;
            let mut exhausted = false;
            let mut paused = false;
            while left > 0 {
                if let Some(peer) = self.read_held_for_events(conn, stream) {
                    // The peer's events wait for the application: read it later.
                    self.park_stream(peer, conn, stream);
                    paused = true;
                    break;
                }
                if !self.conns.get(&conn).is_some_and(|c| c.has_stream(stream)) {
                    // Unknown or forgotten stream: drain and discard.
                    match self.endpoint.read(conn, stream, left) {
                        Ok(Some(bytes)) => {
                            left = left.saturating_sub(bytes.len());
                            continue;
                        }
                        _ => {
                            exhausted = true;
                            break;
                        }
                    }
                }
                let (read_paused, ping_in) = self
                    .conns
                    .stream(&conn, stream)
                    .map_or((false, false), |s| {
                        (s.read_paused, matches!(s.kind, StreamKind::PingIn(_)))
                    });
                if read_paused {
                    paused = true;
                    break;
                }
                // Echo streams are read in small steps so their backlog stays small.
                let max = if ping_in {
                    left.min(crate::connection::PING_READ_CHUNK)
                } else {
                    left
                };
                match self.endpoint.read(conn, stream, max) {
                    Ok(Some(bytes)) => {
                        any = true;
                        left = left.saturating_sub(bytes.len());
                        self.on_stream_data(now, conn, stream, bytes);
                    }
                    Ok(None) | Err(_) => {
                        exhausted = true;
                        break;
                    }
                }
            }
            if exhausted || paused {
                // A paused stream is put back by `flush_stream` once it drains.
                self.readable.remove(&(conn, stream));
            }
        }
        any
    }

    fn on_stream_data(&mut self, now: Instant, conn: ConnId, stream: StreamId, bytes: Bytes) {
        let Some(s) = self.conns.stream_mut(&conn, stream) else {
            return;
        };
        if s.recv_closed {
            return;
        }
        let Some(negotiation) = s.negotiation.as_mut() else {
            self.on_app_data(now, conn, stream, bytes);
            return;
        };
        let input = negotiation.handle_input_bytes(bytes);
        let output_ok = s.take_negotiation_output().is_ok();
        if input.is_err() || !output_ok {
            self.negotiation_failed(now, conn, stream, false);
            return;
        }
        self.flush_stream(now, conn, stream);
        self.check_outcome(now, conn, stream);
    }

    /// Takes a finished negotiation's outcome and hands the stream to its protocol.
    fn check_outcome(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        let Some(s) = self.conns.stream_mut(&conn, stream) else {
            return;
        };
        let Some(outcome) = s.negotiation.as_mut().and_then(|n| n.outcome()) else {
            return;
        };
        let negotiated = match outcome {
            Ok(n) => n,
            Err(_) => {
                self.negotiation_failed(now, conn, stream, false);
                return;
            }
        };
        s.negotiation = None;
        s.negotiation_deadline = None;
        if s.outbound {
            let was_writable = s.writable;
            if !was_writable {
                self.set_writable(now, conn, stream);
            }
            self.on_outbound_confirmed(now, conn, stream, negotiated.protocol.as_str());
        } else {
            self.on_inbound_negotiated(now, conn, stream, negotiated.protocol.as_str());
            let stopped = self
                .conns
                .stream(&conn, stream)
                .is_some_and(|s| s.peer_stopped && !only_reads(&s.kind));
            if stopped {
                // The peer stopped our side before we could answer.
                self.reset_stream(now, conn, stream, true);
                return;
            }
        }
        if !negotiated.leftover.is_empty() {
            self.on_app_data(now, conn, stream, negotiated.leftover);
        }
    }

    /// The stream may carry application bytes now: runs the protocol's open hook.
    fn set_writable(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        let Some(s) = self.conns.stream_mut(&conn, stream) else {
            return;
        };
        s.writable = true;
        match &s.kind {
            StreamKind::ReqResp {
                request: Some(request),
            } => {
                let (key, request) = (rr_key(conn, stream), *request);
                if let Err(error) = self
                    .reqresp
                    .handle_outbound_stream_opened(now, request, key)
                {
                    tracing::debug!(%error, "req/resp refused its stream");
                    self.reset_stream(now, conn, stream, false);
                }
            }
            StreamKind::IdentifyQuery(_) => self.finish_stream(now, conn, stream),
            StreamKind::IdentifyPushOut => self.write_identify(now, conn, stream),
            StreamKind::PingOut(_) => self.send_ping(now, conn, stream),
            _ => {}
        }
    }

    /// Our outbound stream's protocol was confirmed by the listener.
    fn on_outbound_confirmed(&mut self, now: Instant, conn: ConnId, stream: StreamId, id: &str) {
        let is_gossip = self
            .conns
            .get(&conn)
            .is_some_and(|c| c.gossip_out == Some(stream));
        if is_gossip {
            if let Some(version) = leanp2p_gossipsub::ProtocolVersion::from_protocol_id(id) {
                self.on_gossip_stream_ready(now, conn, version);
            }
        }
    }

    /// What an inbound stream on which the peer negotiated `id` carries: the one
    /// dispatch from protocol id to [`StreamKind`] (`None`: not a protocol we serve).
    pub(crate) fn classify(&self, id: &str) -> Option<StreamKind> {
        if leanp2p_gossipsub::ProtocolVersion::from_protocol_id(id).is_some() {
            let max_frame = self.config.gossipsub.limits.max_transmit_size;
            let decoder = leanp2p_gossipsub::wire::FrameDecoder::new(max_frame);
            return Some(StreamKind::GossipIn(Box::new(decoder)));
        }
        match id {
            IDENTIFY_PROTOCOL => Some(StreamKind::IdentifyServe),
            IDENTIFY_PUSH_PROTOCOL => Some(StreamKind::IdentifyPushIn(Vec::new())),
            PING_PROTOCOL => Some(StreamKind::PingIn(Vec::new())),
            _ if self
                .reqresp
                .config()
                .protocols()
                .iter()
                .any(|p| p.matches(id)) =>
            {
                Some(StreamKind::ReqResp { request: None })
            }
            _ if self.is_app_protocol(id) => Some(StreamKind::App {
                protocol: id.to_string(),
            }),
            _ => None,
        }
    }

    fn on_inbound_negotiated(&mut self, now: Instant, conn: ConnId, stream: StreamId, id: &str) {
        let Some((kind, class)) = self
            .classify(id)
            .and_then(|kind| kind.inbound_class().map(|class| (kind, class)))
        else {
            self.reset_stream(now, conn, stream, false);
            return;
        };
        let limits = &self.config.limits;
        let cap = match class {
            InboundClass::Gossip => limits.max_inbound_gossip_streams,
            InboundClass::ReqResp => limits.max_inbound_reqresp_streams,
            InboundClass::Identify => limits.max_inbound_identify_streams,
            InboundClass::Ping => limits.max_inbound_ping_streams,
            InboundClass::App => limits.max_inbound_app_streams,
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let peer = c.peer;
        if c.inbound_count(class) >= cap {
            if class == InboundClass::Gossip {
                // The peer recreated its gossip stream: the newest replaces the oldest.
                let oldest = c
                    .streams()
                    .filter(|(_, s)| !s.outbound && s.kind.inbound_class() == Some(class))
                    .min_by_key(|(id, s)| (s.opened_at, *id))
                    .map(|(id, _)| id);
                if let Some(old) = oldest {
                    self.reset_stream(now, conn, old, true);
                }
            } else {
                self.counters.inbound_streams_refused += 1;
                tracing::debug!(%stream, protocol = id, "inbound stream cap reached");
                self.reset_stream(now, conn, stream, false);
                return;
            }
        }
        let Some(s) = self.conns.stream_mut(&conn, stream) else {
            return;
        };
        s.writable = true;
        s.kind = kind;
        match &s.kind {
            StreamKind::ReqResp { .. } => {
                let key = rr_key(conn, stream);
                self.rr_streams.insert(key, (conn, stream));
                if let Err(error) = self.reqresp.handle_stream_opened(now, peer, key, id) {
                    tracing::debug!(%error, "req/resp refused inbound stream");
                    // The machine queued a Reset for TooManyStreams; otherwise reset here.
                    if !matches!(error, leanp2p_reqresp::StreamError::TooManyStreams) {
                        self.reset_stream(now, conn, stream, false);
                    }
                }
            }
            StreamKind::IdentifyServe => self.write_identify(now, conn, stream),
            StreamKind::App { .. } => self.emit(NodeEvent::AppStreamOpened {
                stream: AppStream { conn, stream },
                peer,
                protocol: id.to_string(),
            }),
            _ => {}
        }
    }

    fn on_app_data(&mut self, now: Instant, conn: ConnId, stream: StreamId, bytes: Bytes) {
        let max_identify = self.config.limits.max_identify_message;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let peer = c.peer;
        let Some(s) = c.stream_mut(stream) else {
            return;
        };
        match &mut s.kind {
            StreamKind::Listening | StreamKind::GossipOut | StreamKind::IdentifyServe => {}
            StreamKind::IdentifyPushOut => {}
            StreamKind::GossipIn(_) => self.on_gossip_bytes(now, conn, stream, peer, bytes),
            StreamKind::ReqResp { .. } => {
                let key = rr_key(conn, stream);
                self.counters.reqresp_bytes_received += bytes.len() as u64;
                if let Err(leanp2p_reqresp::StreamError::UnknownStream(_)) =
                    self.reqresp.handle_stream_data(now, key, &bytes)
                {
                    self.reset_stream(now, conn, stream, false);
                }
            }
            StreamKind::IdentifyQuery(buf) | StreamKind::IdentifyPushIn(buf) => {
                buf.extend_from_slice(&bytes);
                if buf.len() > max_identify + 3 {
                    self.counters.malformed_streams += 1;
                    tracing::debug!(%stream, "identify message too large");
                    self.reset_stream(now, conn, stream, false);
                }
            }
            StreamKind::PingOut(buf) => {
                buf.extend_from_slice(&bytes);
                self.on_ping_echo(now, conn, stream);
            }
            StreamKind::PingIn(buf) => {
                buf.extend_from_slice(&bytes);
                self.on_ping_request(now, conn, stream);
            }
            StreamKind::App { .. } => self.emit(NodeEvent::AppStreamData {
                stream: AppStream { conn, stream },
                data: bytes,
            }),
        }
    }

    // ----- stream ends -----------------------------------------------------------------------

    fn on_stream_finished(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        self.readable.remove(&(conn, stream));
        let Some(s) = self.conns.stream_mut(&conn, stream) else {
            return;
        };
        s.recv_closed = true;
        if let Some(negotiation) = s.negotiation.as_mut() {
            if negotiation.handle_eof().is_err() {
                self.negotiation_failed(now, conn, stream, false);
                return;
            }
            self.check_outcome(now, conn, stream);
        }
        let Some(s) = self.conns.stream_mut(&conn, stream) else {
            return;
        };
        let push = matches!(s.kind, StreamKind::IdentifyPushIn(_));
        match &mut s.kind {
            StreamKind::ReqResp { .. } => {
                let key = rr_key(conn, stream);
                let _ = self.reqresp.handle_stream_finished(now, key);
            }
            StreamKind::IdentifyQuery(buf) | StreamKind::IdentifyPushIn(buf) => {
                let bytes = std::mem::take(buf);
                if let Some(c) = self.conns.get_mut(&conn) {
                    if c.identify_query.is_some_and(|(s, _)| s == stream) {
                        c.identify_query = None;
                    }
                }
                self.on_identify_message(now, conn, &bytes, push);
                self.finish_stream(now, conn, stream);
            }
            // The peer is done with its stream: close ours too so it can be forgotten.
            StreamKind::PingIn(_) | StreamKind::IdentifyServe | StreamKind::GossipIn(_) => {
                self.finish_stream(now, conn, stream)
            }
            StreamKind::App { .. } => self.emit(NodeEvent::AppStreamFinished {
                stream: AppStream { conn, stream },
            }),
            StreamKind::PingOut(_) => {
                // The peer closed its side of our ping stream: ping is over here.
                self.reset_stream(now, conn, stream, true);
                return;
            }
            _ => {}
        }
        self.maybe_forget(conn, stream);
    }

    fn on_stream_reset(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        self.readable.remove(&(conn, stream));
        if let Some(s) = self.conns.stream_mut(&conn, stream) {
            s.recv_closed = true;
        }
        self.reset_stream(now, conn, stream, true);
    }

    fn on_stream_stopped(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        if !self.keep_reading_after_stop(conn, stream) {
            self.reset_stream(now, conn, stream, true);
        }
    }

    /// The peer stopped our send side (STOP_SENDING). A stream we only read from, or an
    /// inbound stream still negotiating, keeps its receive side: what the peer sent before
    /// stopping may still be unread (rust-libp2p writes its identify push, FINs and drops
    /// the stream, stopping our side, in one go). Returns whether the stream is kept; once
    /// its protocol is known, one we must answer on is reset (`check_outcome`).
    fn keep_reading_after_stop(&mut self, conn: ConnId, stream: StreamId) -> bool {
        let Some(s) = self.conns.stream_mut(&conn, stream) else {
            return false;
        };
        s.send_closed = true;
        let negotiating_inbound = !s.outbound && s.negotiation.is_some();
        if !s.recv_closed && (negotiating_inbound || only_reads(&s.kind)) {
            s.peer_stopped = true;
            return true;
        }
        false
    }

    /// Multistream-select failed (or timed out): reset and tell the stream's owner.
    pub(crate) fn negotiation_failed(
        &mut self,
        now: Instant,
        conn: ConnId,
        stream: StreamId,
        timed_out: bool,
    ) {
        let Some(s) = self.conns.stream_mut(&conn, stream) else {
            return;
        };
        if !timed_out {
            self.counters.negotiation_failures += 1;
        }
        let refused = s
            .negotiation
            .as_mut()
            .and_then(|n| n.outcome())
            .is_some_and(|o| {
                matches!(
                    o,
                    Err(NegotiationError::NoProtocolInCommon
                        | NegotiationError::LazyRejected { .. })
                )
            });
        if let StreamKind::ReqResp {
            request: Some(request),
        } = s.kind
        {
            let key = rr_key(conn, stream);
            if !s.writable {
                let failure = if timed_out {
                    OpenFailure::NegotiationFailed
                } else if refused {
                    OpenFailure::UnsupportedProtocol
                } else {
                    OpenFailure::NegotiationFailed
                };
                // Not known to the machine yet: fail the open, then forget the stream.
                s.kind = StreamKind::Listening;
                self.reqresp.handle_open_failed(now, request, failure);
                self.rr_streams.remove(&key);
            }
        }
        if let Some(s) = self.conns.stream_mut(&conn, stream) {
            if matches!(s.kind, StreamKind::PingOut(_)) && refused {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.ping.unsupported = true;
                }
            }
        }
        self.reset_stream(now, conn, stream, true);
    }

    // ----- writing ---------------------------------------------------------------------------

    /// Queues application bytes on a stream. Over the stream's limit the stream is reset.
    pub(crate) fn write_stream(
        &mut self,
        now: Instant,
        conn: ConnId,
        stream: StreamId,
        bytes: Bytes,
    ) {
        let Some(s) = self.conns.stream_mut(&conn, stream) else {
            return;
        };
        if s.send_closed {
            return;
        }
        if s.push(bytes).is_err() {
            self.counters.send_buffer_overflows += 1;
            tracing::debug!(%stream, "stream send buffer limit exceeded; resetting");
            self.reset_stream(now, conn, stream, true);
            return;
        }
        self.flush_stream(now, conn, stream);
    }

    /// FIN once everything queued is written.
    pub(crate) fn finish_stream(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        if let Some(s) = self.conns.stream_mut(&conn, stream) {
            s.finish_queued = true;
        }
        self.flush_stream(now, conn, stream);
    }

    /// Writes queued bytes as credit allows; sends a queued FIN once empty.
    pub(crate) fn flush_stream(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        let Self {
            conns, endpoint, ..
        } = self;
        let Some(s) = conns.stream_mut(&conn, stream) else {
            return;
        };
        if s.send_closed {
            return;
        }
        let result = s.send.flush_to(endpoint, conn, stream);
        match result {
            Ok(written) => {
                if matches!(s.kind, StreamKind::GossipOut) {
                    self.counters.gossip_bytes_sent += written as u64;
                } else if let StreamKind::ReqResp { request: None } = s.kind {
                    self.counters.reqresp_bytes_sent += written as u64;
                    // Response backpressure lives in the req/resp machine.
                    let unsent = s.send.buffered_bytes();
                    self.reqresp
                        .handle_stream_unsent(now, rr_key(conn, stream), unsent);
                } else if matches!(s.kind, StreamKind::ReqResp { .. }) {
                    self.counters.reqresp_bytes_sent += written as u64;
                }
                if s.read_paused && s.send.buffered_bytes() < crate::connection::MAX_ECHO_BACKLOG {
                    s.read_paused = false;
                    self.readable.insert((conn, stream));
                }
                if s.send.is_empty() && s.finish_queued {
                    s.send_closed = true;
                    let _ = endpoint.finish(conn, stream);
                    self.maybe_forget(conn, stream);
                }
            }
            Err(error) => {
                tracing::debug!(%stream, %error, "stream write failed");
                s.send_closed = true;
                let stopped = matches!(error, leanp2p_quic::WriteError::Stopped(_));
                if !(stopped && self.keep_reading_after_stop(conn, stream)) {
                    self.reset_stream(now, conn, stream, true);
                }
            }
        }
    }

    /// Forgets a stream once both directions are over.
    fn maybe_forget(&mut self, conn: ConnId, stream: StreamId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let done = c
            .stream(stream)
            .is_some_and(|s| s.send_closed && s.recv_closed);
        if done {
            if let Some(s) = c.remove_stream(stream) {
                if s.peer_stopped {
                    // Release our stopped send side in QUIC too.
                    let _ = self.endpoint.reset(conn, stream, 0);
                }
                if let StreamKind::ReqResp { .. } = s.kind {
                    self.rr_streams.remove(&rr_key(conn, stream));
                }
            }
        }
    }

    /// Resets a stream in both directions and forgets it. With `notify`, the owner is
    /// told (req/resp machine, gossip stream recreation, ping).
    pub(crate) fn reset_stream(
        &mut self,
        now: Instant,
        conn: ConnId,
        stream: StreamId,
        notify: bool,
    ) {
        let _ = self.endpoint.reset(conn, stream, 0);
        self.readable.remove(&(conn, stream));
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Some(s) = c.remove_stream(stream) else {
            return;
        };
        match s.kind {
            StreamKind::ReqResp { request } => {
                let key = rr_key(conn, stream);
                self.rr_streams.remove(&key);
                if notify {
                    if request.is_some() && !s.writable {
                        if let Some(request) = request {
                            self.reqresp.handle_open_failed(
                                now,
                                request,
                                OpenFailure::NegotiationFailed,
                            );
                        }
                    } else {
                        let _ = self.reqresp.handle_stream_reset(now, key);
                    }
                }
            }
            StreamKind::GossipOut if c.gossip_out == Some(stream) => {
                c.gossip_out = None;
                if notify {
                    self.gossip_stream_failed(now, conn);
                }
            }
            StreamKind::App { .. } if notify => {
                self.emit(NodeEvent::AppStreamReset {
                    stream: AppStream { conn, stream },
                });
            }
            StreamKind::PingOut(_) if c.ping.stream == Some(stream) => {
                if notify {
                    self.ping_stream_lost(now, conn, crate::event::PingFailure::Unsupported);
                } else {
                    c.ping.stream = None;
                    c.ping.outstanding = None;
                }
            }
            _ => {}
        }
    }
}

/// Streams on which we only read (after negotiation): a peer stopping our side of them
/// loses nothing.
fn only_reads(kind: &StreamKind) -> bool {
    matches!(
        kind,
        StreamKind::IdentifyPushIn(_) | StreamKind::IdentifyQuery(_) | StreamKind::GossipIn(_)
    )
}
