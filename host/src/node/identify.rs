//! Identify on the node: queries, answers and pushes on streams (messages in
//! [`crate::identify`]).

use super::{Node, IDENTIFY_PROTOCOL, IDENTIFY_PUSH_PROTOCOL};
use crate::connection::StreamKind;
use crate::event::NodeEvent;
use crate::identify::{proto, IdentifyError, IdentifyMessage, PeerInfo};
use leanp2p_identity::{Multiaddr, PublicKey};
use leanp2p_multistream::ProtocolId;
use leanp2p_quic::{ConnId, StreamId};
use std::time::Instant;

impl Node {
    /// Our identify message for connection `conn` (observed address = its remote).
    fn identify_message(&self, conn: ConnId) -> IdentifyMessage {
        let observed = self
            .conns
            .get(&conn)
            .map(|c| Multiaddr::quic_v1(c.remote, None).to_bytes());
        IdentifyMessage {
            public_key: Some(self.public_key.encode_protobuf()),
            listen_addrs: self
                .listen_addrs
                .iter()
                .map(|a| Multiaddr::quic_v1(*a, None).to_bytes())
                .collect(),
            protocols: self.protocols(),
            observed_addr: observed,
            protocol_version: Some(self.config.identify.protocol_version.clone()),
            agent_version: Some(self.config.identify.agent_version.clone()),
            signed_peer_record: None,
        }
    }

    /// Opens an identify query on `conn` and schedules the next one.
    pub(crate) fn open_identify_query(&mut self, now: Instant, conn: ConnId) {
        let interval = self.config.identify.interval;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.identify_at = interval.map(|i| now + i);
        }
        let kind = StreamKind::IdentifyQuery(Vec::new());
        let protocols = vec![ProtocolId::from_static(IDENTIFY_PROTOCOL)];
        match self.open_stream(now, conn, kind, protocols) {
            Ok(stream) => {
                let timeout = self.config.identify.query_timeout;
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.identify_query = Some((stream, now + timeout));
                }
            }
            Err(error) => tracing::debug!(%conn, %error, "could not open identify stream"),
        }
    }

    /// Pushes our identify to every connection.
    pub(crate) fn push_identify_to_all(&mut self, now: Instant) {
        let conns: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.local_close.is_none())
            .map(|(id, _)| *id)
            .collect();
        for conn in conns {
            let protocols = vec![ProtocolId::from_static(IDENTIFY_PUSH_PROTOCOL)];
            match self.open_stream(now, conn, StreamKind::IdentifyPushOut, protocols) {
                Ok(_) => self.counters.identify_pushes_sent += 1,
                Err(error) => tracing::debug!(%conn, %error, "could not open identify push"),
            }
        }
    }

    /// Writes our identify message on `stream` and finishes it.
    pub(crate) fn write_identify(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        let bytes = proto::encode(&self.identify_message(conn));
        self.write_stream(now, conn, stream, bytes);
        self.finish_stream(now, conn, stream);
    }

    /// A complete identify answer or push arrived on `conn`.
    pub(crate) fn on_identify_message(
        &mut self,
        now: Instant,
        conn: ConnId,
        bytes: &[u8],
        push: bool,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let peer = c.peer;
        let info = match self.decode_identify(peer, bytes, push) {
            Ok(info) => info,
            Err(error) => {
                self.counters.malformed_streams += 1;
                tracing::debug!(%peer, %error, push, "identify message ignored");
                return;
            }
        };
        self.counters.identify_received += 1;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let merged = match (&mut p.info, push) {
            (Some(old), true) => {
                old.merge(info);
                old.clone()
            }
            _ => {
                p.info = Some(info.clone());
                info
            }
        };
        self.learn_identify_addresses(now, peer);
        self.emit(NodeEvent::Identified {
            peer,
            conn,
            info: merged,
        });
    }

    fn decode_identify(
        &self,
        peer: leanp2p_identity::PeerId,
        bytes: &[u8],
        push: bool,
    ) -> Result<PeerInfo, IdentifyError> {
        let message = proto::decode(bytes, self.config.limits.max_identify_message + 3)?;
        let public_key = match message.public_key {
            Some(key) => {
                let key = PublicKey::decode_protobuf(&key).map_err(|_| IdentifyError::WrongKey)?;
                if key.to_peer_id() != peer {
                    return Err(IdentifyError::WrongKey);
                }
                Some(key)
            }
            None if push => None,
            None => return Err(IdentifyError::WrongKey),
        };
        Ok(PeerInfo {
            public_key,
            protocol_version: message.protocol_version,
            agent_version: message.agent_version,
            listen_addrs: message
                .listen_addrs
                .iter()
                .filter_map(|a| Multiaddr::from_bytes(a).ok())
                .collect(),
            protocols: message.protocols,
            observed_addr: message
                .observed_addr
                .and_then(|a| Multiaddr::from_bytes(&a).ok()),
        })
    }
}
