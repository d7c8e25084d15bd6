//! Router tests: inject peers and frames, inspect `poll_outbound` and `poll_event`.

mod gossip;
mod graft_prune;
mod idontwant;
mod mesh;
mod publish;
mod queue;
mod scoring;
mod signing;
mod validation;
mod wire;

use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_identity::{Keypair, PeerId};
use prost::Message as _;

use crate::wire::proto::{
    ControlGraft, ControlIDontWant, ControlIHave, ControlIWant, ControlMessage, ControlPrune,
    Message, PeerInfo, Rpc, SubOpts,
};
use crate::wire::{decode_frame, decode_rpc, DecodedRpc};
use crate::{Config, Event, Gossipsub, Lane, PeerConnection, ProtocolVersion, TopicHash};

pub(crate) const TOPIC: &str = "/leanconsensus/12345678/block/ssz_snappy";

pub(crate) fn topic() -> TopicHash {
    TopicHash::new(TOPIC)
}

pub(crate) fn peer(i: u8) -> PeerId {
    Keypair::from_secret_bytes(&[i; 32]).unwrap().peer_id()
}

/// Lean config with a quick first heartbeat.
pub(crate) fn test_config() -> Config {
    let mut cfg = crate::lean::config();
    cfg.heartbeat_initial_delay = Duration::from_millis(700);
    cfg
}

pub(crate) struct Harness {
    pub gs: Gossipsub,
    pub t0: Instant,
    pub now: Instant,
}

/// One decoded outbound frame.
#[derive(Debug)]
pub(crate) struct Sent {
    pub to: PeerId,
    pub rpc: DecodedRpc,
    pub lane: Lane,
}

impl Harness {
    pub fn new(cfg: Config) -> Self {
        let t0 = Instant::now();
        Self {
            gs: Gossipsub::new(t0, cfg, [7; 32]).unwrap(),
            t0,
            now: t0,
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
    }

    /// Connects peers `ids` (v1.2, outbound if `outbound`), subscribed to `topics`.
    pub fn connect(
        &mut self,
        ids: impl IntoIterator<Item = u8>,
        outbound: bool,
        topics: &[&str],
    ) -> Vec<PeerId> {
        self.connect_version(ids, ProtocolVersion::V1_2, outbound, topics)
    }

    pub fn connect_version(
        &mut self,
        ids: impl IntoIterator<Item = u8>,
        version: ProtocolVersion,
        outbound: bool,
        topics: &[&str],
    ) -> Vec<PeerId> {
        let mut out = Vec::new();
        for i in ids {
            let p = peer(i);
            self.gs
                .handle_peer_connected(self.now, p, PeerConnection::new(version, outbound))
                .unwrap();
            if !topics.is_empty() {
                let subs = topics.iter().map(|t| sub(t, true)).collect();
                self.rpc(
                    p,
                    Rpc {
                        subscriptions: subs,
                        ..Default::default()
                    },
                )
                .unwrap();
            }
            out.push(p);
        }
        out
    }

    pub fn rpc(&mut self, from: PeerId, rpc: Rpc) -> Result<(), crate::RpcError> {
        self.gs
            .handle_rpc(self.now, from, Bytes::from(rpc.encode_to_vec()))
    }

    pub fn control(
        &mut self,
        from: PeerId,
        control: ControlMessage,
    ) -> Result<(), crate::RpcError> {
        self.rpc(
            from,
            Rpc {
                control: Some(control),
                ..Default::default()
            },
        )
    }

    pub fn heartbeat(&mut self) {
        self.advance(self.gs.config().heartbeat_interval);
        self.gs.handle_timeout(self.now);
    }

    /// Drains and decodes all outbound frames.
    pub fn drain(&mut self) -> Vec<Sent> {
        let mut out = Vec::new();
        while let Some(o) = self.gs.poll_outbound() {
            let body = decode_frame(&o.frame, usize::MAX).unwrap();
            out.push(Sent {
                to: o.to,
                rpc: decode_rpc(&body, &self.gs.config().limits),
                lane: o.lane,
            });
        }
        out
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.gs.poll_event()).collect()
    }

    pub fn mesh(&self) -> Vec<PeerId> {
        self.gs.mesh_peers(&topic()).copied().collect()
    }
}

/// Accepts every message the router has delivered so far.
pub(crate) fn accept_all(h: &mut Harness) {
    for e in h.events() {
        if let Event::Message {
            id,
            propagation_source,
            ..
        } = e
        {
            h.gs.report_validation(h.now, &id, propagation_source, crate::Validation::Accept)
                .unwrap();
        }
    }
}

pub(crate) fn sub(t: &str, subscribe: bool) -> SubOpts {
    SubOpts {
        subscribe: Some(subscribe),
        topic_id: Some(t.to_owned()),
        ..SubOpts::default()
    }
}

pub(crate) fn graft(t: &str) -> ControlMessage {
    ControlMessage {
        graft: vec![ControlGraft {
            topic_id: Some(t.to_owned()),
        }],
        ..Default::default()
    }
}

pub(crate) fn prune(t: &str, backoff: Option<u64>, px: Vec<PeerId>) -> ControlMessage {
    ControlMessage {
        prune: vec![ControlPrune {
            topic_id: Some(t.to_owned()),
            peers: px
                .into_iter()
                .map(|p| PeerInfo {
                    peer_id: Some(p.to_bytes()),
                    signed_peer_record: None,
                })
                .collect(),
            backoff,
        }],
        ..Default::default()
    }
}

pub(crate) fn ihave(t: &str, ids: &[&[u8]]) -> ControlMessage {
    ControlMessage {
        ihave: vec![ControlIHave {
            topic_id: Some(t.to_owned()),
            message_ids: ids.iter().map(|i| i.to_vec()).collect(),
        }],
        ..Default::default()
    }
}

pub(crate) fn iwant(ids: &[&[u8]]) -> ControlMessage {
    ControlMessage {
        iwant: vec![ControlIWant {
            message_ids: ids.iter().map(|i| i.to_vec()).collect(),
        }],
        ..Default::default()
    }
}

pub(crate) fn idontwant(ids: &[&[u8]]) -> ControlMessage {
    ControlMessage {
        idontwant: vec![ControlIDontWant {
            message_ids: ids.iter().map(|i| i.to_vec()).collect(),
        }],
        ..Default::default()
    }
}

/// An anonymous (StrictNoSign) message.
pub(crate) fn msg(t: &str, data: &[u8]) -> Rpc {
    Rpc {
        publish: vec![Message {
            from: None,
            data: Some(Bytes::copy_from_slice(data)),
            seqno: None,
            topic: t.to_owned(),
            signature: None,
            key: None,
        }],
        ..Default::default()
    }
}

/// The lean id of an anonymous message.
pub(crate) fn lean_id(t: &str, data: &[u8]) -> crate::MessageId {
    crate::lean::message_id(t, data)
}

/// Frames that carry a given kind of content, per peer.
pub(crate) fn grafts_to(sent: &[Sent], p: PeerId) -> usize {
    sent.iter()
        .filter(|s| s.to == p)
        .map(|s| s.rpc.graft.len())
        .sum()
}

pub(crate) fn prunes_to(sent: &[Sent], p: PeerId) -> Vec<ControlPrune> {
    sent.iter()
        .filter(|s| s.to == p)
        .flat_map(|s| s.rpc.prune.clone())
        .collect()
}

pub(crate) fn messages_to(sent: &[Sent], p: PeerId) -> usize {
    sent.iter()
        .filter(|s| s.to == p)
        .map(|s| s.rpc.messages.len())
        .sum()
}
