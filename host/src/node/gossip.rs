//! The gossipsub stream model: exactly one outbound `/meshsub` stream per peer, on its
//! gossip connection (our outbound leg when we have one), fed from the peer's one
//! outgoing queue, which lives in the router
//! ([`leanp2p_gossipsub::Gossipsub::poll_outbound_to`]); inbound `/meshsub` streams are
//! read on every connection.

use std::time::Instant;

use bytes::Bytes;
use leanp2p_gossipsub::wire::ReceivedFrame;
use leanp2p_gossipsub::{Event as GossipEvent, PeerConnection, ProtocolVersion};
use leanp2p_identity::PeerId;
use leanp2p_multistream::ProtocolId;
use leanp2p_quic::{ConnId, Direction, StreamId};

use super::Node;
use crate::connection::StreamKind;
use crate::event::{DisconnectReason, NodeEvent};

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
            if let Some(p) = self.peers.get_mut(&peer) {
                p.gossip_given_up = true;
            }
            return;
        }
        let peer = c.peer;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.gossip_given_up = false;
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
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

    /// `conn` accepts more streams: if it is its peer's gossip connection and opening
    /// our `/meshsub` stream failed for the stream limit, try again (gossip goes first:
    /// frames are waiting in the peer's router queue).
    pub(crate) fn retry_gossip_stream(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let waiting = c.gossip_out.is_none()
            && c.local_close.is_none()
            && self.peers.get(&c.peer).and_then(|p| p.gossip_conn) == Some(conn);
        if waiting {
            self.start_gossip_on(now, conn);
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
        self.mark_peer(&peer);
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let early: Vec<Bytes> = p.early_frames.drain(..).collect();
        p.early_bytes = 0;
        for frame in early {
            if let Err(error) = self.gossip.handle_rpc(now, peer, frame) {
                tracing::debug!(%peer, %error, "bad gossip frame");
            }
        }
        self.feed_gossip(now, peer);
    }

    /// Our outbound `/meshsub` stream on `conn` died: recreate it (bounded). Frames
    /// wait in the peer's router queue meanwhile.
    pub(crate) fn gossip_stream_failed(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.local_close.is_some() {
            return;
        }
        let peer = c.peer;
        if self.peers.get(&peer).and_then(|p| p.gossip_conn) != Some(conn) {
            return;
        }
        self.start_gossip_on(now, conn);
    }

    /// The connection our gossip stream to `peer` should use: an established outbound
    /// leg (ours) if there is one, else an inbound leg; the lowest [`ConnId`] of the
    /// chosen direction; connections we are closing are skipped. Both ends apply the
    /// same rule, so with a double connection each side writes its one `/meshsub` stream
    /// on the leg it dialled and reads the peer's on the other.
    pub(crate) fn preferred_gossip_conn(&self, peer: &PeerId) -> Option<ConnId> {
        let p = self.peers.get(peer)?;
        let live = p
            .conns
            .iter()
            .copied()
            .filter(|id| self.conns.get(id).is_some_and(|c| c.local_close.is_none()));
        let mut fallback = None;
        for id in live {
            if self
                .conns
                .get(&id)
                .is_some_and(|c| c.direction == Direction::Outbound)
            {
                return Some(id);
            }
            fallback = fallback.or(Some(id));
        }
        fallback
    }

    /// `conn` to `peer` is established: gossip starts on it if the peer has no gossip
    /// connection yet; if it is our outbound leg and gossip runs on an inbound one, our
    /// `/meshsub` stream moves over.
    pub(crate) fn choose_gossip_leg(&mut self, now: Instant, peer: PeerId, conn: ConnId) {
        self.mark_peer(&peer);
        let Some(current) = self.peers.get(&peer).and_then(|p| p.gossip_conn) else {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.gossip_conn = Some(conn);
            }
            self.start_gossip_on(now, conn);
            return;
        };
        if current == conn || self.preferred_gossip_conn(&peer) != Some(conn) {
            return;
        }
        let current_outbound = self
            .conns
            .get(&current)
            .is_some_and(|c| c.direction == Direction::Outbound && c.local_close.is_none());
        if current_outbound {
            return;
        }
        tracing::debug!(%peer, from = %current, to = %conn, "moving gossip to our outbound leg");
        self.retire_gossip_stream(now, current);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.gossip_conn = Some(conn);
        }
        self.start_gossip_on(now, conn);
    }

    /// Stops using `conn` for our gossip: a negotiated stream is finished after its
    /// buffered frames are written (the peer replaces it with the new inbound stream),
    /// one still negotiating is reset.
    fn retire_gossip_stream(&mut self, now: Instant, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.gossip_active = false;
        let Some(stream) = c.gossip_out.take() else {
            return;
        };
        let negotiated = c
            .stream(stream)
            .is_some_and(|s| s.writable && !s.is_negotiating());
        if negotiated {
            self.finish_stream(now, conn, stream);
        } else {
            self.reset_stream(now, conn, stream, false);
        }
    }

    /// The gossip connection of `peer` closed while others remain: move gossip to the
    /// preferred remaining leg. Queued frames stay in the peer's router queue.
    pub(crate) fn move_gossip(&mut self, now: Instant, peer: PeerId) {
        self.mark_peer(&peer);
        let next = self.preferred_gossip_conn(&peer);
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.gossip_conn = next;
        if let Some(conn) = next {
            self.start_gossip_on(now, conn);
        }
    }

    fn unregister_gossip(&mut self, now: Instant, peer: PeerId) {
        self.node_timers_changed = true;
        self.mark_peer(&peer);
        self.slow_peers.remove(&peer);
        let registered = self.peers.get(&peer).is_some_and(|p| p.gossip_registered);
        if registered {
            // The router forgets the peer's queue with the peer.
            self.counters.gossip_frames_dropped += self.gossip.queued_frames(&peer) as u64;
            self.gossip.handle_peer_disconnected(now, peer);
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.gossip_registered = false;
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
            let Some(s) = self.conns.stream_mut(&conn, stream) else {
                return;
            };
            let StreamKind::GossipIn(decoder) = &mut s.kind else {
                return;
            };
            match decoder.decode_received(&mut input) {
                Ok(Some(frame)) => {
                    self.counters.gossip_frames_received += 1;
                    self.counters.gossip_bytes_received += frame.body.len() as u64;
                    if self.deliver_gossip_frame(now, peer, frame) {
                        // Refused as rust-libp2p refuses it (a subscription flood in one
                        // RPC): the sender pays for a new stream.
                        self.counters.gossip_streams_refused += 1;
                        self.reset_stream(now, conn, stream, false);
                        return;
                    }
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

    /// Hands one inbound frame to the router (or keeps it until the peer is registered).
    /// Returns true when the router refused the RPC in a way that resets its stream.
    fn deliver_gossip_frame(&mut self, now: Instant, peer: PeerId, frame: ReceivedFrame) -> bool {
        let limits = &self.config.limits;
        let Some(p) = self.peers.get_mut(&peer) else {
            return false;
        };
        if p.gossip_registered {
            if let Err(error) = self.gossip.handle_received_rpc(now, peer, frame) {
                tracing::debug!(%peer, %error, "gossip frame refused");
                return error.resets_stream();
            }
        } else if !p.gossip_given_up
            && p.early_frames.len() < limits.max_early_gossip_frames
            && p.early_bytes.saturating_add(frame.body.len()) <= limits.max_early_gossip_bytes
        {
            p.early_bytes += frame.body.len();
            p.early_frames.push_back(frame.body);
        } else {
            self.counters.early_gossip_dropped += 1;
        }
        false
    }

    /// Unsent bytes in our outbound `/meshsub` streams to `peer` (the current one and
    /// any retired one still flushing).
    fn gossip_stream_bytes(&mut self, peer: &PeerId) -> usize {
        let Self { peers, conns, .. } = self;
        let Some(p) = peers.get(peer) else {
            return 0;
        };
        let mut total = 0;
        for id in &p.conns {
            if let Some(c) = conns.get_mut_unmarked(id) {
                total += c.gossip_out_bytes();
            }
        }
        total
    }

    /// Pulls frames for `peer` from the router's queue (control, then our publishes,
    /// then forwards) into its gossip stream while the stream buffer holds at most
    /// [`crate::Limits::gossip_send_high_water`], writing as QUIC credit allows, and
    /// tells the router what the stream still holds unsent (it counts against the
    /// peer's gossip budget there). Frames stay in the router's queue while the stream
    /// is not writable (still negotiating, or moving between legs).
    pub(crate) fn feed_gossip(&mut self, now: Instant, peer: PeerId) {
        let high_water = self.config.limits.gossip_send_high_water;
        while let Some((conn, stream)) = self.writable_gossip_stream(&peer) {
            let Self {
                conns,
                counters,
                gossip,
                ..
            } = self;
            let Some(s) = conns.stream_mut(&conn, stream) else {
                break;
            };
            let mut moved = false;
            while s.send.buffered_bytes() <= high_water {
                let Some(out) = gossip.poll_outbound_to(&peer) else {
                    break;
                };
                moved = true;
                // Cannot fail: the stream's limit is the high-water mark plus one
                // maximum-size frame.
                if s.push(out.frame).is_err() {
                    counters.gossip_frames_dropped += 1;
                } else {
                    counters.gossip_frames_sent += 1;
                }
            }
            if !moved {
                break;
            }
            self.flush_stream(now, conn, stream);
            if self.gossip.queued_frames(&peer) == 0 {
                break;
            }
        }
        let unsent = self.gossip_stream_bytes(&peer);
        self.gossip.handle_peer_unsent(now, peer, unsent);
    }

    /// The negotiated, open outbound `/meshsub` stream of `peer`'s gossip connection.
    fn writable_gossip_stream(&self, peer: &PeerId) -> Option<(ConnId, StreamId)> {
        let conn = self.peers.get(peer)?.gossip_conn?;
        let c = self.conns.get(&conn)?;
        let stream = c.gossip_out?;
        let s = c.stream(stream)?;
        (s.writable && !s.send_closed && c.local_close.is_none()).then_some((conn, stream))
    }

    /// After QUIC credit returned on `stream`: if it is a peer's gossip stream (current
    /// or retired), refill it from the router and report what it still holds.
    pub(crate) fn after_gossip_flush(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let is_gossip = c
            .stream(stream)
            .is_some_and(|s| matches!(s.kind, StreamKind::GossipOut));
        if !is_gossip {
            return;
        }
        let peer = c.peer;
        self.feed_gossip(now, peer);
    }

    /// When the longest known gossip overflow episode reaches
    /// [`crate::Limits::slow_peer_disconnect`]. Episodes are learned from the router's
    /// `SlowPeer` events; one that ended meanwhile only causes an early wake-up.
    pub(crate) fn next_slow_peer_deadline(&self) -> Option<Instant> {
        let after = self.config.limits.slow_peer_disconnect?;
        self.slow_peers
            .values()
            .min()
            .map(|since| crate::conn_manager::later(*since, after))
    }

    /// Disconnects peers whose overflow episode (in the router's queue) lasted
    /// [`crate::Limits::slow_peer_disconnect`]; forgets episodes that ended.
    pub(crate) fn disconnect_slow_peers(&mut self, now: Instant) {
        self.node_timers_changed = true;
        let Some(after) = self.config.limits.slow_peer_disconnect else {
            self.slow_peers.clear();
            return;
        };
        let due: Vec<PeerId> = self
            .slow_peers
            .iter()
            .filter(|(_, since)| crate::conn_manager::later(**since, after) <= now)
            .map(|(peer, _)| *peer)
            .collect();
        for peer in due {
            match self.gossip.overflow_since(&peer) {
                Some(since) if crate::conn_manager::later(since, after) <= now => {
                    self.slow_peers.remove(&peer);
                    tracing::debug!(%peer, "disconnecting slow gossip peer");
                    self.counters.slow_peer_disconnects += 1;
                    self.penalize_candidate(&peer);
                    for conn in self.connections_to(&peer) {
                        self.close_with(now, conn, DisconnectReason::SlowPeer);
                    }
                }
                // A later episode: wait for it.
                Some(since) => {
                    self.slow_peers.insert(peer, since);
                }
                None => {
                    self.slow_peers.remove(&peer);
                }
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
                let ids: Vec<PeerId> = peers.iter().map(|p| p.peer_id).collect();
                self.on_px_peers(now, &ids);
                NodeEvent::PeerExchange { from, topic, peers }
            }
            GossipEvent::SlowPeer { peer, dropped } => {
                // An overflow episode started in the router: time it for the
                // slow-peer disconnect.
                let since = self.gossip.overflow_since(&peer).unwrap_or(now);
                self.slow_peers.entry(peer).or_insert(since);
                self.node_timers_changed = true;
                NodeEvent::SlowPeer { peer, dropped }
            }
            GossipEvent::PublishReady => NodeEvent::PublishReady,
            GossipEvent::DialDirectPeer { peer } => {
                self.node_timers_changed = true;
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
