//! Protocol messages on an authenticated session: answers to PING, FINDNODE and TALKREQ,
//! and matching of PONG, NODES and TALKRESP to our requests.

use std::net::SocketAddr;
use std::time::Instant;

use leanp2p_identity::Enr;
use tracing::trace;

use super::{Discv5, Event, InboundTalk, InboundTalkId, Origin, MAX_MESSAGE_PLAINTEXT};
use crate::message::{Message, RequestId, MAX_NODES_PER_MESSAGE};
use crate::node_id::NodeId;

/// Bytes of record payload packed into one NODES message (leaves room for the message
/// type, list headers, request ID and total within [`MAX_MESSAGE_PLAINTEXT`]).
const NODES_RECORD_BUDGET: usize = MAX_MESSAGE_PLAINTEXT - 32;

impl Discv5 {
    pub(super) fn on_message(
        &mut self,
        now: Instant,
        node: NodeId,
        from: SocketAddr,
        plaintext: &[u8],
    ) {
        let (verified, stats) = (&mut self.verified, &mut self.stats);
        let decoded = Message::decode_with(plaintext, |bytes| {
            if let Some(enr) = verified.get(bytes) {
                stats.nodes_records_cached += 1;
                return Ok(enr);
            }
            let enr = Enr::decode_rlp(bytes)?;
            verified.insert(&enr);
            Ok(enr)
        });
        let message = match decoded {
            Ok(m) => m,
            Err(e) => {
                trace!(%node, error = %e, "discv5: invalid message");
                self.stats.messages_invalid += 1;
                return;
            }
        };
        match message {
            Message::Ping { id, enr_seq } => {
                let pong = Message::Pong {
                    id,
                    enr_seq: self.local_enr.seq(),
                    ip: from.ip(),
                    port: from.port(),
                };
                self.send_with_session((node, from), &pong.encode());
                self.check_enr_seq(now, node, enr_seq);
            }
            Message::FindNode { id, distances } => {
                self.answer_find_node(node, from, id, &distances)
            }
            Message::TalkReq {
                id,
                protocol,
                request,
            } => {
                if self.inbound_talk.len() >= self.config.max_inbound_talk {
                    self.stats.talk_requests_dropped += 1;
                    return;
                }
                let talk_id = InboundTalkId(self.next_talk);
                self.next_talk += 1;
                self.inbound_talk.insert(
                    talk_id,
                    InboundTalk {
                        node,
                        addr: from,
                        request: id,
                        expires: now + self.config.talk_timeout,
                    },
                );
                self.queue_event(Event::TalkRequest {
                    id: talk_id,
                    node,
                    addr: from,
                    protocol,
                    request,
                });
            }
            Message::Pong {
                id,
                enr_seq,
                ip,
                port,
            } => {
                let Some(req) = self.take_response(id, node, |m| matches!(m, Message::Ping { .. }))
                else {
                    return;
                };
                self.table.mark_seen(&node, now);
                self.record_vote(node, SocketAddr::new(ip, port));
                if req.origin == Origin::User {
                    self.queue_event(Event::Pong {
                        node,
                        request: id,
                        enr_seq,
                        observed: SocketAddr::new(ip, port),
                    });
                }
                self.check_enr_seq(now, node, enr_seq);
            }
            Message::Nodes { id, total, enrs } => self.on_nodes(node, id, total, enrs),
            Message::TalkResp { id, response } => {
                if self
                    .take_response(id, node, |m| matches!(m, Message::TalkReq { .. }))
                    .is_some()
                {
                    self.queue_event(Event::TalkResponse {
                        node,
                        request: id,
                        response,
                    });
                }
            }
        }
    }

    /// Removes and returns our request `id` to `node` if it is of the expected kind.
    fn take_response(
        &mut self,
        id: RequestId,
        node: NodeId,
        kind: impl Fn(&Message) -> bool,
    ) -> Option<super::ActiveRequest> {
        let matches = self
            .active
            .get(&id)
            .is_some_and(|r| r.node == node && kind(&r.message));
        if !matches {
            self.stats.responses_unexpected += 1;
            return None;
        }
        self.finish_request(id)
    }

    /// Fetches the remote's record with FINDNODE [0] when it announces a newer one.
    fn check_enr_seq(&mut self, now: Instant, node: NodeId, enr_seq: u64) {
        let known = self.known_enr(&node).map_or(0, Enr::seq);
        if enr_seq <= known {
            return;
        }
        let busy = self
            .active
            .values()
            .any(|r| r.node == node && r.origin == Origin::EnrRefresh);
        if !busy {
            let _ = self.start_request(now, node, Origin::EnrRefresh, |id| Message::FindNode {
                id,
                distances: vec![0],
            });
        }
    }

    fn answer_find_node(
        &mut self,
        node: NodeId,
        from: SocketAddr,
        id: RequestId,
        distances: &[u16],
    ) {
        let mut seen = Vec::with_capacity(distances.len());
        let mut records: Vec<Enr> = Vec::new();
        for &d in distances {
            if seen.contains(&d) {
                continue;
            }
            seen.push(d);
            if d == 0 {
                records.push(self.local_enr.clone());
            } else {
                records.extend(self.table.at_distance(d).map(|e| e.enr.clone()));
            }
        }
        records.truncate(MAX_NODES_PER_MESSAGE);
        let mut parts: Vec<Vec<Enr>> = vec![Vec::new()];
        let mut used = 0;
        for enr in records {
            let size = enr.to_rlp().len();
            if used + size > NODES_RECORD_BUDGET && parts.last().is_some_and(|p| !p.is_empty()) {
                parts.push(Vec::new());
                used = 0;
            }
            used += size;
            if let Some(last) = parts.last_mut() {
                last.push(enr);
            }
        }
        let total = parts.len() as u64;
        for enrs in parts {
            let message = Message::Nodes { id, total, enrs };
            self.send_with_session((node, from), &message.encode());
        }
    }

    fn on_nodes(&mut self, node: NodeId, id: RequestId, total: u64, enrs: Vec<Enr>) {
        let Some(req) = self.active.get_mut(&id) else {
            self.stats.responses_unexpected += 1;
            return;
        };
        let Message::FindNode { distances, .. } = &req.message else {
            self.stats.responses_unexpected += 1;
            return;
        };
        if req.node != node {
            self.stats.responses_unexpected += 1;
            return;
        }
        let mut dropped = 0;
        for enr in enrs {
            let distance = NodeId(enr.node_id()).log_distance(&node);
            let duplicate = req.found.iter().any(|e| e.node_id() == enr.node_id());
            if distances.contains(&distance)
                && !duplicate
                && req.found.len() < MAX_NODES_PER_MESSAGE
            {
                req.found.push(enr);
            } else {
                dropped += 1;
            }
        }
        self.stats.nodes_records_dropped += dropped;
        req.parts += 1;
        if req.parts == 1 {
            req.total = total;
        }
        if req.parts >= req.total {
            self.complete_find_node(id);
        }
    }

    /// Delivers a FINDNODE answer (complete, or partial at its timeout).
    pub(super) fn complete_find_node(&mut self, id: RequestId) {
        let Some(req) = self.finish_request(id) else {
            return;
        };
        // A newer record of a node we know (records are self-signed, so whoever relays
        // it): take it, as after a PONG announcing a higher seq.
        for enr in &req.found {
            let node = NodeId(enr.node_id());
            if node != self.local_id
                && self
                    .known_enr(&node)
                    .is_some_and(|known| known.seq() < enr.seq())
            {
                self.apply_newer_enr(node, enr.clone());
            }
        }
        match req.origin {
            Origin::User => {
                for enr in &req.found {
                    if let Some(addr) = super::udp_endpoint(enr) {
                        if NodeId(enr.node_id()) != self.local_id {
                            self.remember(enr.clone(), addr);
                        }
                    }
                }
                self.queue_event(Event::Nodes {
                    node: req.node,
                    request: id,
                    enrs: req.found,
                });
            }
            Origin::EnrRefresh => {
                for enr in req.found {
                    if NodeId(enr.node_id()) == req.node {
                        self.apply_newer_enr(req.node, enr);
                    }
                }
            }
            Origin::Lookup(lookup) => {
                self.lookup_answered(self.last_now, lookup, req.node, req.found);
            }
            Origin::Liveness | Origin::Announce => {}
        }
    }

    /// Counts a PONG's view of our address; a new majority of at least
    /// [`super::Config::pong_vote_threshold`] voters becomes [`Event::ExternalAddress`].
    fn record_vote(&mut self, voter: NodeId, addr: SocketAddr) {
        self.votes.retain(|(v, _)| *v != voter);
        if self.votes.len() >= self.config.pong_vote_capacity.max(1) {
            self.votes.pop_front();
        }
        self.votes.push_back((voter, addr));
        let mut counts: Vec<(SocketAddr, usize)> = Vec::new();
        for (_, a) in &self.votes {
            match counts.iter_mut().find(|(c, _)| c == a) {
                Some((_, n)) => *n += 1,
                None => counts.push((*a, 1)),
            }
        }
        let Some(&(best, votes)) = counts.iter().max_by_key(|(_, n)| *n) else {
            return;
        };
        let unique = counts.iter().filter(|(_, n)| *n == votes).count() == 1;
        if unique && votes >= self.config.pong_vote_threshold && self.external != Some(best) {
            self.external = Some(best);
            self.queue_event(Event::ExternalAddress { addr: best });
        }
    }

    /// Stores a newer record of `node` everywhere we keep one.
    fn apply_newer_enr(&mut self, node: NodeId, enr: Enr) {
        let known = self.known_enr(&node).map_or(0, Enr::seq);
        if enr.seq() <= known {
            return;
        }
        if let Some(contact) = self.contacts.get_mut(&node) {
            contact.enr = enr.clone();
        }
        self.table.update_enr(&enr);
        for ((id, _), session) in self.sessions.iter_mut() {
            if *id == node {
                session.enr = enr.clone();
            }
        }
        self.queue_event(Event::EnrUpdated { node, enr });
    }
}
