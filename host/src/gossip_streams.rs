//! The gossipsub stream model: exactly one outbound `/meshsub` stream per peer (on its
//! gossip connection), kept for the connection's life and carrying all our frames in
//! order through a never-drop [`leanp2p_quic::SendBuffer`]; inbound `/meshsub` streams
//! are read on every connection.

use std::time::Instant;

use bytes::Bytes;
use leanp2p_gossipsub::{Event as GossipEvent, Outbound, PeerConnection, ProtocolVersion};
use leanp2p_identity::PeerId;
use leanp2p_multistream::ProtocolId;
use leanp2p_quic::{ConnId, Direction, StreamId};

use crate::connection::StreamKind;
use crate::event::NodeEvent;
use crate::node::Node;

impl Node {
    /// Opens our outbound `/meshsub` stream on `conn` (offering 1.2, 1.1, 1.0).
    pub(crate) fn start_gossip_on(&mut self, now: Instant, conn: ConnId) {
        let max_attempts = self.config.limits.max_gossip_stream_attempts;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.gossip_out.is_some() || c.local_close.is_some() {
            return;
        }
        if c.gossip_attempts >= max_attempts {
            tracing::debug!(parent: &c.span, "giving up on the gossip stream");
            c.gossip_active = false;
            let peer = c.peer;
            self.unregister_gossip(now, peer);
            return;
        }
        c.gossip_attempts += 1;
        c.gossip_active = true;
        let protocols = leanp2p_gossipsub::PROTOCOL_IDS
            .iter()
            .map(|id| ProtocolId::from_static(id))
            .collect();
        match self.open_stream(now, conn, StreamKind::GossipOut, protocols) {
            Ok(stream) => {
                self.counters.gossip_streams_opened += 1;
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.gossip_out = Some(stream);
                }
            }
            Err(error) => {
                tracing::debug!(%error, "could not open the gossip stream");
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.gossip_active = false;
                }
            }
        }
    }

    /// Our `/meshsub` stream on `conn` is agreed: the router may send to the peer.
    pub(crate) fn on_gossip_stream_ready(
        &mut self,
        now: Instant,
        conn: ConnId,
        version: ProtocolVersion,
    ) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let (peer, outbound, ip) = (c.peer, c.direction == Direction::Outbound, c.remote.ip());
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.gossip_conn != Some(conn) {
            return;
        }
        let connection = PeerConnection {
            version,
            outbound,
            ip: Some(ip),
        };
        if let Err(error) = self.gossip.handle_peer_connected(now, peer, connection) {
            tracing::debug!(%peer, %error, "gossipsub refused the peer");
            return;
        }
        p.gossip_registered = true;
        if p.gossip_blocked {
            p.gossip_blocked = false;
            self.gossip.handle_peer_blocked(now, peer, false);
        }
        let early: Vec<Bytes> = p.early_frames.drain(..).collect();
        p.early_bytes = 0;
        for frame in early {
            if let Err(error) = self.gossip.handle_rpc(now, peer, frame) {
                tracing::debug!(%peer, %error, "bad gossip frame");
            }
        }
    }

    /// Our outbound `/meshsub` stream on `conn` died: recreate it (bounded).
    pub(crate) fn gossip_stream_failed(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.local_close.is_some() {
            return;
        }
        let peer = c.peer;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.gossip_conn != Some(conn) {
            return;
        }
        if p.gossip_registered && !p.gossip_blocked {
            p.gossip_blocked = true;
            self.gossip.handle_peer_blocked(now, peer, true);
        }
        self.start_gossip_on(now, conn);
    }

    /// The gossip connection of `peer` closed while others remain: move gossip over.
    pub(crate) fn move_gossip(&mut self, now: Instant, peer: PeerId) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let next = p.conns.iter().next().copied();
        p.gossip_conn = next;
        if p.gossip_registered && !p.gossip_blocked {
            p.gossip_blocked = true;
            self.gossip.handle_peer_blocked(now, peer, true);
        }
        if let Some(conn) = next {
            self.start_gossip_on(now, conn);
        }
    }

    fn unregister_gossip(&mut self, now: Instant, peer: PeerId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            if p.gossip_registered {
                p.gossip_registered = false;
                p.gossip_blocked = false;
                self.gossip.handle_peer_disconnected(now, peer);
            }
            p.early_frames.clear();
            p.early_bytes = 0;
        }
    }

    /// Bytes from an inbound `/meshsub` stream: frames go to the router.
    pub(crate) fn on_gossip_bytes(
        &mut self,
        now: Instant,
        conn: ConnId,
        stream: StreamId,
        peer: PeerId,
        bytes: Bytes,
    ) {
        let mut input = bytes;
        loop {
            let Some(s) = self
                .conns
                .get_mut(&conn)
                .and_then(|c| c.streams.get_mut(&stream))
            else {
                return;
            };
            let StreamKind::GossipIn(decoder) = &mut s.kind else {
                return;
            };
            match decoder.decode(&mut input) {
                Ok(Some(frame)) => {
                    self.counters.gossip_frames_received += 1;
                    self.counters.gossip_bytes_received += frame.len() as u64;
                    self.deliver_gossip_frame(now, peer, frame);
                }
                Ok(None) => return,
                Err(error) => {
                    self.counters.malformed_streams += 1;
                    tracing::debug!(%peer, %error, "bad gossip framing; resetting stream");
                    self.reset_stream(now, conn, stream, false);
                    return;
                }
            }
        }
    }

    fn deliver_gossip_frame(&mut self, now: Instant, peer: PeerId, frame: Bytes) {
        let limits = &self.config.limits;
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.gossip_registered {
            if let Err(error) = self.gossip.handle_rpc(now, peer, frame) {
                tracing::debug!(%peer, %error, "gossip frame refused");
            }
        } else if p.early_frames.len() < limits.max_early_gossip_frames
            && p.early_bytes.saturating_add(frame.len()) <= limits.max_early_gossip_bytes
        {
            p.early_bytes += frame.len();
            p.early_frames.push_back(frame);
        } else {
            self.counters.early_gossip_dropped += 1;
        }
    }

    /// A frame from the router: append it to the peer's outbound stream.
    pub(crate) fn on_gossip_outbound(&mut self, now: Instant, out: Outbound) {
        let high_water = self.config.limits.gossip_send_high_water;
        let target = self.peers.get(&out.to).and_then(|p| {
            let conn = p.gossip_conn?;
            let stream = self.conns.get(&conn)?.gossip_out?;
            Some((conn, stream))
        });
        let Some((conn, stream)) = target else {
            self.counters.gossip_frames_dropped += 1;
            return;
        };
        let Some(s) = self
            .conns
            .get_mut(&conn)
            .and_then(|c| c.streams.get_mut(&stream))
        else {
            self.counters.gossip_frames_dropped += 1;
            return;
        };
        if !s.writable || s.send_closed || s.push(out.frame).is_err() {
            self.counters.gossip_frames_dropped += 1;
            return;
        }
        self.counters.gossip_frames_sent += 1;
        self.flush_stream(now, conn, stream);
        let buffered = self
            .conns
            .get(&conn)
            .and_then(|c| c.streams.get(&stream))
            .map_or(0, |s| s.send.buffered_bytes());
        if buffered > high_water {
            if let Some(p) = self.peers.get_mut(&out.to) {
                if !p.gossip_blocked {
                    p.gossip_blocked = true;
                    self.gossip.handle_peer_blocked(now, out.to, true);
                }
            }
        }
    }

    /// After QUIC credit returned on `stream`: unblock the peer's router queue if its
    /// gossip stream drained below the high-water mark.
    pub(crate) fn after_gossip_flush(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        let high_water = self.config.limits.gossip_send_high_water;
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.gossip_out != Some(stream) {
            return;
        }
        let drained = c
            .streams
            .get(&stream)
            .is_some_and(|s| s.writable && s.send.buffered_bytes() <= high_water);
        let peer = c.peer;
        if let Some(p) = self.peers.get_mut(&peer) {
            if drained && p.gossip_blocked && p.gossip_registered && p.gossip_conn == Some(conn) {
                p.gossip_blocked = false;
                self.gossip.handle_peer_blocked(now, peer, false);
            }
        }
    }

    /// Translates a router event.
    pub(crate) fn on_gossip_event(&mut self, now: Instant, event: GossipEvent) {
        let event = match event {
            GossipEvent::Message {
                id,
                propagation_source,
                topic,
                data,
                ..
            } => NodeEvent::Message {
                id,
                propagation_source,
                topic,
                data,
            },
            GossipEvent::Subscribed { peer, topic } => NodeEvent::Subscribed { peer, topic },
            GossipEvent::Unsubscribed { peer, topic } => NodeEvent::Unsubscribed { peer, topic },
            GossipEvent::PeerExchange { from, topic, peers } => {
                NodeEvent::PeerExchange { from, topic, peers }
            }
            GossipEvent::SlowPeer { peer, dropped } => NodeEvent::SlowPeer { peer, dropped },
            GossipEvent::DialDirectPeer { peer } => {
                // Dial it now if we know where it is; otherwise the embedder must.
                if let Some(k) = self.known.get_mut(&peer) {
                    if k.dialing.is_none() {
                        k.next_dial = Some(now);
                    }
                }
                return;
            }
            _ => return,
        };
        self.emit(event);
    }
}
