//! The sans-IO discv5 machine: [`Discv5`].
//!
//! This file holds the state, the commands, the output queues and the timers;
//! `inbound.rs` decodes packets and runs the handshake, `messages.rs` answers and matches
//! protocol messages.

mod inbound;
#[cfg(any(test, feature = "fuzzing"))]
mod invariants;
mod lookup;
mod messages;
mod types;
mod verified_records;

pub use lookup::{
    EnrPredicate, LookupId, LOOKUP_ALPHA, LOOKUP_RESULTS, MAX_LOOKUP_CANDIDATES, MAX_LOOKUP_QUERIES,
};
pub use types::{
    CommandError, Config, Direction, Event, FedRecords, InboundTalkId, RequestError, Stats,
    TimeoutReason, Transmit, MAX_FED_RECORDS,
};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use leanp2p_identity::{Enr, Keypair};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::crypto::TAG_SIZE;
use crate::message::{Message, RequestId, MAX_DISTANCE, MAX_FINDNODE_DISTANCES};
use crate::node_id::NodeId;
use crate::packet::{
    encode_message_packet, AuthData, Header, MessageNonce, MASKING_IV_SIZE, MAX_PACKET_SIZE,
    MESSAGE_AUTHDATA_SIZE, STATIC_HEADER_SIZE,
};
use crate::session::{SessionCache, SessionKey};
use crate::table::Table;
use verified_records::VerifiedRecords;

/// Largest message plaintext of an ordinary message packet.
pub const MAX_MESSAGE_PLAINTEXT: usize =
    MAX_PACKET_SIZE - MASKING_IV_SIZE - STATIC_HEADER_SIZE - MESSAGE_AUTHDATA_SIZE - TAG_SIZE;

/// Who asked for a request, which decides what its answer or failure becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// An application command: answers and failures become events.
    User,
    /// A table liveness PING: failure removes the node from the table.
    Liveness,
    /// A PING announcing a new local record: answers are used, failures ignored.
    Announce,
    /// FINDNODE [0] fetching a newer record of the remote.
    EnrRefresh,
    /// A FINDNODE of an iterative lookup.
    Lookup(LookupId),
}

/// Where an outgoing request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestState {
    /// Waiting for a session (another request of the node is handshaking).
    Queued,
    /// Sent with random keys to provoke WHOAREYOU; the nonce the challenge will mirror.
    AwaitingChallenge(MessageNonce),
    /// Sent over a session (or in a handshake packet).
    Sent(MessageNonce),
}

#[derive(Clone, Debug)]
struct ActiveRequest {
    node: NodeId,
    addr: SocketAddr,
    enr: Enr,
    message: Message,
    origin: Origin,
    deadline: Instant,
    retries_left: u8,
    state: RequestState,
    /// FINDNODE: records gathered so far, NODES parts received, parts announced.
    found: Vec<Enr>,
    parts: u64,
    total: u64,
}

#[derive(Clone, Debug)]
struct Challenge {
    /// `masking-iv || header` of the WHOAREYOU we sent.
    data: Vec<u8>,
    /// The record we knew when challenging (its seq went into the WHOAREYOU).
    enr: Option<Enr>,
    expires: Instant,
}

#[derive(Clone, Debug)]
struct InboundTalk {
    node: NodeId,
    addr: SocketAddr,
    request: RequestId,
    expires: Instant,
}

#[derive(Clone, Debug)]
struct Contact {
    enr: Enr,
    addr: SocketAddr,
}

/// The UDP endpoint a record advertises (IPv4 first).
pub fn udp_endpoint(enr: &Enr) -> Option<SocketAddr> {
    if let (Some(ip), Some(port)) = (enr.ip4(), enr.udp4()) {
        return Some(SocketAddr::new(IpAddr::V4(ip), port));
    }
    if let (Some(ip), Some(port)) = (enr.ip6(), enr.udp6()) {
        return Some(SocketAddr::new(IpAddr::V6(ip), port));
    }
    None
}

/// A discv5 node: sessions, handshakes, requests and the routing table, without IO.
///
/// `Clone` copies the whole state, RNG included (fuzzing and tests fork a prepared pair).
#[derive(Clone)]
pub struct Discv5 {
    config: Config,
    keypair: Keypair,
    local_enr: Enr,
    local_id: NodeId,
    rng: ChaCha20Rng,
    sessions: SessionCache,
    contacts: HashMap<NodeId, Contact>,
    contact_order: VecDeque<NodeId>,
    table: Table,
    active: BTreeMap<RequestId, ActiveRequest>,
    nonces: HashMap<MessageNonce, RequestId>,
    handshaking: HashMap<NodeId, RequestId>,
    challenges: BTreeMap<SessionKey, Challenge>,
    whoareyou_budget: HashMap<IpAddr, (Instant, u32)>,
    inbound_talk: BTreeMap<InboundTalkId, InboundTalk>,
    lookups: BTreeMap<LookupId, lookup::Lookup>,
    next_lookup: u64,
    /// PONG votes on our external address: (voter, address), oldest first.
    votes: VecDeque<(NodeId, SocketAddr)>,
    external: Option<SocketAddr>,
    verified: VerifiedRecords,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_request: u64,
    next_talk: u64,
    last_now: Instant,
    next_ping: Instant,
    next_refresh: Option<Instant>,
    refresh_round: u64,
    stats: Stats,
}

impl std::fmt::Debug for Discv5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discv5")
            .field("local_id", &self.local_id)
            .field("sessions", &self.sessions.len())
            .field("table", &self.table.len())
            .field("active", &self.active.len())
            .finish_non_exhaustive()
    }
}

impl Discv5 {
    /// A machine for the node with `keypair` and record `local_enr` (signed by that key).
    /// `seed` drives every random choice (nonces, ephemeral keys, request IDs).
    pub fn new(
        now: Instant,
        config: Config,
        keypair: Keypair,
        local_enr: Enr,
        seed: [u8; 32],
    ) -> Result<Self, CommandError> {
        if local_enr.public_key() != keypair.secp256k1_public() {
            return Err(CommandError::BadLocalEnr);
        }
        let mut rng = ChaCha20Rng::from_seed(seed);
        let local_id = NodeId(local_enr.node_id());
        Ok(Self {
            sessions: SessionCache::new(config.session_capacity),
            verified: VerifiedRecords::new(config.verified_record_cache),
            table: Table::new(local_id, config.table_ip_limits),
            next_request: rng.next_u64(),
            next_ping: now + config.ping_interval,
            next_refresh: config.refresh_interval.map(|d| now + d),
            refresh_round: 0,
            config,
            keypair,
            local_enr,
            local_id,
            rng,
            contacts: HashMap::new(),
            contact_order: VecDeque::new(),
            active: BTreeMap::new(),
            nonces: HashMap::new(),
            handshaking: HashMap::new(),
            challenges: BTreeMap::new(),
            whoareyou_budget: HashMap::new(),
            inbound_talk: BTreeMap::new(),
            lookups: BTreeMap::new(),
            next_lookup: 0,
            votes: VecDeque::new(),
            external: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_talk: 0,
            last_now: now,
            stats: Stats::default(),
        })
    }

    // ----- getters -----

    /// Our node ID.
    pub fn local_id(&self) -> NodeId {
        self.local_id
    }

    /// Our current record.
    pub fn local_enr(&self) -> &Enr {
        &self.local_enr
    }

    /// The routing table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Number of cached sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Whether an established session with `node` on `addr` exists.
    pub fn has_session(&self, node: &NodeId, addr: SocketAddr) -> bool {
        self.sessions
            .peek(&(*node, addr))
            .is_some_and(|s| s.established)
    }

    /// The newest record we hold for `node`.
    pub fn known_enr(&self, node: &NodeId) -> Option<&Enr> {
        let from_contacts = self.contacts.get(node).map(|c| &c.enr);
        let from_table = self.table.get(node).map(|e| &e.enr);
        match (from_contacts, from_table) {
            (Some(a), Some(b)) => Some(if b.seq() > a.seq() { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Our external address as agreed by at least [`Config::pong_vote_threshold`] PONGs.
    pub fn external_address(&self) -> Option<SocketAddr> {
        self.external
    }

    /// Number of lookups running.
    pub fn lookup_count(&self) -> usize {
        self.lookups.len()
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    // ----- commands -----

    /// Makes a node contactable (it enters the table only after a verified session).
    pub fn add_enr(&mut self, enr: Enr) -> Result<(), CommandError> {
        if NodeId(enr.node_id()) == self.local_id {
            return Err(CommandError::LocalNode);
        }
        let addr = udp_endpoint(&enr).ok_or(CommandError::NoUdpEndpoint)?;
        self.remember(enr, addr);
        Ok(())
    }

    /// Sends PING; answered by [`Event::Pong`] or [`Event::RequestFailed`].
    pub fn ping(&mut self, now: Instant, node: NodeId) -> Result<RequestId, CommandError> {
        let enr_seq = self.local_enr.seq();
        self.start_request(now, node, Origin::User, |id| Message::Ping { id, enr_seq })
    }

    /// Sends FINDNODE for up to 32 log-distances (0..=256); answered by [`Event::Nodes`].
    pub fn find_node(
        &mut self,
        now: Instant,
        node: NodeId,
        distances: &[u16],
    ) -> Result<RequestId, CommandError> {
        if distances.is_empty()
            || distances.len() > MAX_FINDNODE_DISTANCES
            || distances.iter().any(|&d| d > MAX_DISTANCE)
        {
            return Err(CommandError::InvalidDistances);
        }
        let distances = distances.to_vec();
        self.start_request(now, node, Origin::User, |id| Message::FindNode {
            id,
            distances,
        })
    }

    /// Sends TALKREQ; answered by [`Event::TalkResponse`].
    pub fn talk_request(
        &mut self,
        now: Instant,
        node: NodeId,
        protocol: &[u8],
        request: &[u8],
    ) -> Result<RequestId, CommandError> {
        let (protocol, request) = (protocol.to_vec(), request.to_vec());
        self.start_request(now, node, Origin::User, |id| Message::TalkReq {
            id,
            protocol,
            request,
        })
    }

    /// Answers an [`Event::TalkRequest`].
    pub fn talk_response(
        &mut self,
        now: Instant,
        id: InboundTalkId,
        response: &[u8],
    ) -> Result<(), CommandError> {
        self.last_now = now;
        let talk = self
            .inbound_talk
            .get(&id)
            .ok_or(CommandError::UnknownTalkRequest)?;
        let message = Message::TalkResp {
            id: talk.request,
            response: response.to_vec(),
        };
        let plaintext = message.encode();
        if plaintext.len() > MAX_MESSAGE_PLAINTEXT {
            return Err(CommandError::TooLarge);
        }
        let (node, addr) = (talk.node, talk.addr);
        self.inbound_talk.remove(&id);
        self.send_with_session((node, addr), &plaintext);
        Ok(())
    }

    /// Replaces our record (same key, higher sequence number) and PINGs every node with
    /// an established session so they fetch it.
    pub fn update_local_enr(&mut self, now: Instant, enr: Enr) -> Result<(), CommandError> {
        if enr.public_key() != self.keypair.secp256k1_public() || enr.seq() <= self.local_enr.seq()
        {
            return Err(CommandError::BadLocalEnr);
        }
        self.last_now = now;
        self.local_enr = enr;
        let enr_seq = self.local_enr.seq();
        for (node, _) in self.sessions.established_keys() {
            let _ = self.start_request(now, node, Origin::Announce, |id| Message::Ping {
                id,
                enr_seq,
            });
        }
        Ok(())
    }

    // ----- outputs -----

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Discv5::handle_timeout`] should run next: the last `now` seen while output
    /// is queued, else the earliest request, challenge, TALKREQ or liveness deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_deadline().map(|(at, _)| at)
    }

    /// Why [`Discv5::poll_timeout`] returns what it returns.
    pub fn timeout_reason(&self) -> Option<TimeoutReason> {
        self.next_deadline().map(|(_, reason)| reason)
    }

    fn next_deadline(&self) -> Option<(Instant, TimeoutReason)> {
        if !self.transmits.is_empty() || !self.events.is_empty() {
            return Some((self.last_now, TimeoutReason::QueuedIo));
        }
        let requests = self
            .active
            .values()
            .map(|r| (r.deadline, TimeoutReason::Request));
        let challenges = self
            .challenges
            .values()
            .map(|c| (c.expires, TimeoutReason::Challenge));
        let talks = self
            .inbound_talk
            .values()
            .map(|t| (t.expires, TimeoutReason::TalkRequest));
        let ping = (!self.table.is_empty()).then_some((self.next_ping, TimeoutReason::Liveness));
        let refresh = self.next_refresh.map(|at| (at, TimeoutReason::Refresh));
        requests
            .chain(challenges)
            .chain(talks)
            .chain(ping)
            .chain(refresh)
            .min_by_key(|(at, _)| *at)
    }

    /// Runs due timers: request retries and failures, challenge and TALKREQ expiry, the
    /// table liveness PING. Early or repeated calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        let due: Vec<RequestId> = self
            .active
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.request_timed_out(now, id);
        }
        self.challenges.retain(|_, c| c.expires > now);
        let expired: Vec<InboundTalkId> = self
            .inbound_talk
            .iter()
            .filter(|(_, t)| t.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            // Unanswered in time: the spec wants a TALKRESP, so an empty one goes out.
            if let Some(talk) = self.inbound_talk.remove(&id) {
                self.stats.talk_requests_expired += 1;
                let empty = Message::TalkResp {
                    id: talk.request,
                    response: Vec::new(),
                };
                self.send_with_session((talk.node, talk.addr), &empty.encode());
            }
        }
        let window = self.config.whoareyou_window;
        self.whoareyou_budget
            .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
        if now >= self.next_ping {
            self.next_ping = now + self.config.ping_interval;
            self.liveness_ping(now);
        }
        if let (Some(at), Some(interval)) = (self.next_refresh, self.config.refresh_interval) {
            if now >= at {
                self.next_refresh = Some(now + interval);
                self.refresh_table(now);
            }
        }
    }

    /// Table refresh: a lookup of our own ID (fills the near buckets) on even rounds, of a
    /// random ID (the far buckets) on odd ones. Skipped while another refresh runs.
    fn refresh_table(&mut self, now: Instant) {
        if self.lookups.values().any(lookup::Lookup::is_internal) {
            return;
        }
        self.refresh_round += 1;
        let target = if self.refresh_round % 2 == 0 {
            self.local_id
        } else {
            NodeId(self.random())
        };
        // No known node yet, or the lookup limit is reached: try again next interval.
        let _ = self.start_lookup(now, target, true, None);
    }

    fn liveness_ping(&mut self, now: Instant) {
        let Some(node) = self.table.least_recently_seen().map(|e| e.node_id()) else {
            return;
        };
        let busy = self
            .active
            .values()
            .any(|r| r.node == node && r.origin == Origin::Liveness);
        if !busy {
            let enr_seq = self.local_enr.seq();
            let _ = self.start_request(now, node, Origin::Liveness, |id| Message::Ping {
                id,
                enr_seq,
            });
        }
    }

    fn request_timed_out(&mut self, now: Instant, id: RequestId) {
        let Some(req) = self.active.get_mut(&id) else {
            return;
        };
        let node = req.node;
        if let RequestState::AwaitingChallenge(nonce) | RequestState::Sent(nonce) = req.state {
            self.nonces.remove(&nonce);
        }
        if self.handshaking.get(&node) == Some(&id) {
            self.handshaking.remove(&node);
        }
        if req.parts > 0 {
            // A partial NODES answer: deliver what arrived.
            self.complete_find_node(id);
            return;
        }
        if req.retries_left > 0 {
            req.retries_left -= 1;
            req.deadline = now + self.config.request_timeout;
            req.state = RequestState::Queued;
            self.stats.requests_retried += 1;
            self.send_request(id);
        } else {
            self.stats.requests_timed_out += 1;
            self.fail_request(id, RequestError::Timeout);
        }
    }

    // ----- internals shared by the submodules -----

    fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.rng.fill_bytes(&mut out);
        out
    }

    fn queue_transmit(&mut self, dest: SocketAddr, bytes: Vec<u8>) {
        if self.transmits.len() >= self.config.max_queued_transmits {
            self.stats.queue_overflows += 1;
            return;
        }
        self.stats.packets_sent += 1;
        self.transmits.push_back(Transmit { dest, bytes });
    }

    fn queue_event(&mut self, event: Event) {
        if self.events.len() >= self.config.max_queued_events {
            self.stats.queue_overflows += 1;
            return;
        }
        self.events.push_back(event);
    }

    /// Stores a contactable record (keeps the newer of two records of one node).
    fn remember(&mut self, enr: Enr, addr: SocketAddr) {
        let node = NodeId(enr.node_id());
        if let Some(contact) = self.contacts.get_mut(&node) {
            if enr.seq() >= contact.enr.seq() {
                contact.enr = enr;
            }
            contact.addr = addr;
            return;
        }
        while self.contacts.len() >= self.config.contact_capacity.max(1) {
            match self.contact_order.pop_front() {
                Some(old) => {
                    self.contacts.remove(&old);
                }
                None => break,
            }
        }
        self.contacts.insert(node, Contact { enr, addr });
        self.contact_order.push_back(node);
    }

    fn contact(&self, node: &NodeId) -> Option<(Enr, SocketAddr)> {
        if let Some(c) = self.contacts.get(node) {
            return Some((c.enr.clone(), c.addr));
        }
        self.table.get(node).map(|e| (e.enr.clone(), e.addr))
    }

    fn start_request(
        &mut self,
        now: Instant,
        node: NodeId,
        origin: Origin,
        build: impl FnOnce(RequestId) -> Message,
    ) -> Result<RequestId, CommandError> {
        self.last_now = now;
        if node == self.local_id {
            return Err(CommandError::LocalNode);
        }
        let (enr, addr) = self.contact(&node).ok_or(CommandError::UnknownNode)?;
        if self.active.len() >= self.config.max_active_requests {
            return Err(CommandError::TooManyRequests);
        }
        self.next_request = self.next_request.wrapping_add(1);
        let id = RequestId::from_u64(self.next_request);
        let message = build(id);
        if message.encode().len() > MAX_MESSAGE_PLAINTEXT {
            return Err(CommandError::TooLarge);
        }
        self.active.insert(
            id,
            ActiveRequest {
                node,
                addr,
                enr,
                message,
                origin,
                deadline: now + self.config.request_timeout,
                retries_left: self.config.request_retries,
                state: RequestState::Queued,
                found: Vec::new(),
                parts: 0,
                total: 0,
            },
        );
        self.send_request(id);
        Ok(id)
    }

    /// Sends a request over its session, queues it behind a running handshake, or sends
    /// it with random keys to provoke a WHOAREYOU.
    fn send_request(&mut self, id: RequestId) {
        let Some(req) = self.active.get(&id) else {
            return;
        };
        let (node, addr) = (req.node, req.addr);
        let plaintext = req.message.encode();
        if self.sessions.peek(&(node, addr)).is_some() {
            if let Some(nonce) = self.send_with_session((node, addr), &plaintext) {
                if let Some(req) = self.active.get_mut(&id) {
                    req.state = RequestState::Sent(nonce);
                }
                self.nonces.insert(nonce, id);
                return;
            }
        }
        if self.handshaking.contains_key(&node) {
            if let Some(req) = self.active.get_mut(&id) {
                req.state = RequestState::Queued;
            }
            return;
        }
        let nonce: MessageNonce = self.random();
        let iv: [u8; MASKING_IV_SIZE] = self.random();
        let key: [u8; 16] = self.random();
        let header = Header {
            nonce,
            auth: AuthData::Message {
                src_id: self.local_id,
            },
        };
        match encode_message_packet(iv, &node, &header, &key, &plaintext) {
            Ok(bytes) => {
                self.queue_transmit(addr, bytes);
                if let Some(req) = self.active.get_mut(&id) {
                    req.state = RequestState::AwaitingChallenge(nonce);
                }
                self.nonces.insert(nonce, id);
                self.handshaking.insert(node, id);
            }
            Err(_) => self.fail_request(id, RequestError::TooLarge),
        }
    }

    /// Seals `plaintext` with the session of `key` and queues it. `None` if there is no
    /// session, its nonces are exhausted (the session is dropped), or it is too large.
    pub(crate) fn send_with_session(
        &mut self,
        key: SessionKey,
        plaintext: &[u8],
    ) -> Option<MessageNonce> {
        let random: [u8; 8] = self.random();
        let iv: [u8; MASKING_IV_SIZE] = self.random();
        let session = self.sessions.get_mut(&key)?;
        let Some(nonce) = session.next_nonce(random) else {
            self.sessions.remove(&key);
            return None;
        };
        let write_key = session.write_key;
        let header = Header {
            nonce,
            auth: AuthData::Message {
                src_id: self.local_id,
            },
        };
        let bytes = encode_message_packet(iv, &key.0, &header, &write_key, plaintext).ok()?;
        self.queue_transmit(key.1, bytes);
        Some(nonce)
    }

    /// Sends every queued request of `node` (a session now exists).
    fn flush_queued(&mut self, node: NodeId) {
        let queued: Vec<RequestId> = self
            .active
            .iter()
            .filter(|(_, r)| r.node == node && r.state == RequestState::Queued)
            .map(|(id, _)| *id)
            .collect();
        for id in queued {
            self.send_request(id);
        }
    }

    /// Removes a request and reports its failure according to its origin.
    fn fail_request(&mut self, id: RequestId, error: RequestError) {
        let Some(req) = self.active.remove(&id) else {
            return;
        };
        if let RequestState::AwaitingChallenge(nonce) | RequestState::Sent(nonce) = req.state {
            self.nonces.remove(&nonce);
        }
        if self.handshaking.get(&req.node) == Some(&id) {
            self.handshaking.remove(&req.node);
        }
        match req.origin {
            Origin::User => self.queue_event(Event::RequestFailed {
                node: req.node,
                request: id,
                error,
            }),
            Origin::Liveness => {
                self.table.remove(&req.node);
            }
            Origin::Lookup(lookup) => self.lookup_failed(self.last_now, lookup, req.node),
            Origin::Announce | Origin::EnrRefresh => {}
        }
    }

    /// Removes a request that got its answer.
    fn finish_request(&mut self, id: RequestId) -> Option<ActiveRequest> {
        let req = self.active.remove(&id)?;
        if let RequestState::AwaitingChallenge(nonce) | RequestState::Sent(nonce) = req.state {
            self.nonces.remove(&nonce);
        }
        if self.handshaking.get(&req.node) == Some(&id) {
            self.handshaking.remove(&req.node);
        }
        Some(req)
    }
}

#[cfg(test)]
mod tests;
