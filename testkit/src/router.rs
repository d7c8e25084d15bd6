//! A gossipsub router with a formed mesh, for benches of the router alone.

use std::time::Instant;

use leanp2p_gossipsub::lean;
use leanp2p_gossipsub::{Event as GossipEvent, Gossipsub, PeerConnection, ProtocolVersion};
use leanp2p_gossipsub::{TopicHash, Validation};
use leanp2p_identity::PeerId;

use crate::{block_topic, fail, peer_id, subscribe_rpc_body, FixtureError};

/// A lean-config router subscribed to [`block_topic`], with `peers` connected peers that
/// are subscribed too, and heartbeats run until its mesh holds `min(peers, D)` of them.
pub struct MeshedRouter {
    /// The router.
    pub router: Gossipsub,
    /// The connected peers (keys 1..=n).
    pub peers: Vec<PeerId>,
    /// The block topic.
    pub topic: TopicHash,
    /// The simulated time the router has seen last.
    pub now: Instant,
}

impl MeshedRouter {
    /// Builds the router at simulated time `t0` and forms the mesh.
    pub fn new(t0: Instant, peers: u8) -> Result<Self, FixtureError> {
        let topic = block_topic();
        let mut router =
            Gossipsub::new(t0, lean::config(), [7; 32]).map_err(|e| fail(format!("{e}")))?;
        let mut now = t0;
        router
            .subscribe(now, &topic)
            .map_err(|e| fail(format!("subscribe: {e}")))?;
        let mut ids = Vec::new();
        for i in 1..=peers {
            let peer = peer_id(i)?;
            router
                .handle_peer_connected(now, peer, PeerConnection::new(ProtocolVersion::V1_2, true))
                .map_err(|e| fail(format!("connect: {e}")))?;
            router
                .handle_rpc(now, peer, subscribe_rpc_body(&topic))
                .map_err(|e| fail(format!("subscription rpc: {e}")))?;
            ids.push(peer);
        }
        let mut this = Self {
            router,
            peers: ids,
            topic,
            now,
        };
        this.drain();
        let want = usize::from(peers).min(this.router.config().mesh_n);
        for _ in 0..20 {
            if this.mesh_len() >= want {
                return Ok(this);
            }
            let heartbeat = this.router.config().heartbeat_interval;
            now += heartbeat;
            this.advance_to(now);
        }
        Err(fail(format!(
            "mesh has {} peers after 20 heartbeats, wanted {want}",
            this.mesh_len()
        )))
    }

    /// Number of mesh peers on the topic.
    pub fn mesh_len(&self) -> usize {
        self.router.mesh_peers(&self.topic).count()
    }

    /// Moves simulated time to `now`, runs every due timer and drains all output.
    pub fn advance_to(&mut self, now: Instant) {
        self.now = now;
        while let Some(deadline) = self.router.poll_timeout() {
            if deadline > now {
                break;
            }
            self.router.handle_timeout(now);
            self.drain();
        }
        self.drain();
    }

    /// Drains outbound frames (discarded) and events; returns `(frames, bytes)` drained.
    /// Messages still awaiting validation are accepted so that they leave the pending set.
    pub fn drain(&mut self) -> (usize, usize) {
        let mut frames = 0;
        let mut bytes = 0;
        loop {
            while let Some(out) = self.router.poll_outbound() {
                frames += 1;
                bytes += out.frame.len();
            }
            let mut progressed = false;
            while let Some(event) = self.router.poll_event() {
                if let GossipEvent::Message {
                    id,
                    propagation_source,
                    ..
                } = event
                {
                    let _ = self.router.report_validation(
                        self.now,
                        &id,
                        propagation_source,
                        Validation::Accept,
                    );
                    progressed = true;
                }
            }
            if !progressed {
                return (frames, bytes);
            }
        }
    }
}
