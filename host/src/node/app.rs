//! Application protocols on the node: registering, opening, writing and closing raw
//! streams (handles in [`crate::app_streams`]).

use super::Node;
use crate::app_streams::{AppStream, AppStreamError};
use crate::connection::StreamKind;
use bytes::Bytes;
use leanp2p_identity::PeerId;
use leanp2p_multistream::{ProtocolId, ProtocolSet};
use std::time::Instant;

impl Node {
    /// Accepts inbound streams for application protocol `id` from now on (announced to
    /// connected peers with an identify push). Returns `false` if already registered.
    pub fn register_protocol(&mut self, now: Instant, id: &str) -> Result<bool, AppStreamError> {
        self.last_now = Some(now);
        if self.is_reserved(id) {
            return Err(AppStreamError::InvalidProtocol(id.to_string()));
        }
        let protocol =
            ProtocolId::new(id).map_err(|_| AppStreamError::InvalidProtocol(id.to_string()))?;
        if self.app_protocols.contains(&protocol) {
            return Ok(false);
        }
        let mut ids = self.listener_protocols.ids().to_vec();
        ids.push(protocol.clone());
        self.listener_protocols =
            ProtocolSet::new(ids).map_err(|_| AppStreamError::InvalidProtocol(id.to_string()))?;
        self.app_protocols.push(protocol);
        if self.config.identify.push_on_change {
            self.push_identify_to_all(now);
        }
        self.pump(now);
        Ok(true)
    }

    /// Opens a stream to `peer` for a registered (or any other) application protocol.
    /// [`crate::NodeEvent::AppStreamData`] delivers the answer; a refusal ends in
    /// [`crate::NodeEvent::AppStreamReset`].
    pub fn open_app_stream(
        &mut self,
        now: Instant,
        peer: PeerId,
        protocol: &str,
    ) -> Result<AppStream, AppStreamError> {
        self.last_now = Some(now);
        if self.is_reserved(protocol) {
            return Err(AppStreamError::InvalidProtocol(protocol.to_string()));
        }
        let id = ProtocolId::new(protocol)
            .map_err(|_| AppStreamError::InvalidProtocol(protocol.to_string()))?;
        let conn = self
            .peers
            .get(&peer)
            .and_then(|p| p.gossip_conn.or_else(|| p.conns.iter().next().copied()))
            .ok_or(AppStreamError::NotConnected(peer))?;
        let kind = StreamKind::App {
            protocol: protocol.to_string(),
        };
        let stream = self.open_stream(now, conn, kind, vec![id])?;
        self.pump(now);
        Ok(AppStream { conn, stream })
    }

    /// Queues `data` on an application stream (written in order as QUIC credit allows).
    pub fn app_write(
        &mut self,
        now: Instant,
        stream: AppStream,
        data: Bytes,
    ) -> Result<(), AppStreamError> {
        self.last_now = Some(now);
        let s = self
            .conns
            .stream_mut(&stream.conn, stream.stream)
            .filter(|s| matches!(s.kind, StreamKind::App { .. }) && !s.send_closed)
            .filter(|s| !s.finish_queued)
            .ok_or(AppStreamError::UnknownStream)?;
        if !s.send.has_room(data.len()) {
            return Err(AppStreamError::BufferFull);
        }
        self.write_stream(now, stream.conn, stream.stream, data);
        self.pump(now);
        Ok(())
    }

    /// Finishes our side of an application stream after the queued bytes.
    pub fn app_finish(&mut self, now: Instant, stream: AppStream) -> Result<(), AppStreamError> {
        self.last_now = Some(now);
        self.app_stream_exists(stream)?;
        self.finish_stream(now, stream.conn, stream.stream);
        self.pump(now);
        Ok(())
    }

    /// Resets an application stream in both directions.
    pub fn app_reset(&mut self, now: Instant, stream: AppStream) -> Result<(), AppStreamError> {
        self.last_now = Some(now);
        self.app_stream_exists(stream)?;
        self.reset_stream(now, stream.conn, stream.stream, false);
        self.pump(now);
        Ok(())
    }

    /// The protocol of an application stream.
    pub fn app_stream_protocol(&self, stream: AppStream) -> Option<&str> {
        match &self.conns.get(&stream.conn)?.stream(stream.stream)?.kind {
            StreamKind::App { protocol } => Some(protocol),
            _ => None,
        }
    }

    fn app_stream_exists(&self, stream: AppStream) -> Result<(), AppStreamError> {
        self.conns
            .stream(&stream.conn, stream.stream)
            .filter(|s| matches!(s.kind, StreamKind::App { .. }))
            .map(|_| ())
            .ok_or(AppStreamError::UnknownStream)
    }

    /// Whether the host serves `id` itself.
    fn is_reserved(&self, id: &str) -> bool {
        self.classify(id)
            .is_some_and(|kind| !matches!(kind, StreamKind::App { .. }))
    }

    /// Whether `id` is a registered application protocol.
    pub(crate) fn is_app_protocol(&self, id: &str) -> bool {
        self.app_protocols.iter().any(|p| p.as_str() == id)
    }
}
