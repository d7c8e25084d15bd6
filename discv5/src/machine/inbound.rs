//! Packet input: decoding, WHOAREYOU challenges (sent and received) and handshakes.

use std::net::SocketAddr;
use std::time::Instant;

use leanp2p_identity::Enr;
use tracing::{debug, trace};

use super::{udp_endpoint, Challenge, Direction, Discv5, Event, RequestError, RequestState};
use crate::crypto;
use crate::node_id::NodeId;
use crate::packet::{
    decode_packet, encode_message_packet, encode_whoareyou, AuthData, DecodedPacket, Header,
    MessageNonce, PacketError, MASKING_IV_SIZE,
};
use crate::session::Session;
use crate::table::InsertOutcome;

/// Tries to draw a valid ephemeral secret before giving up (each try fails with
/// probability ~2^-128).
const EPHEMERAL_KEY_TRIES: usize = 4;

impl Discv5 {
    /// Feeds one received datagram. Malformed, unsolicited or unauthenticated packets are
    /// dropped and counted in [`Discv5::stats`]; nothing here panics on peer bytes.
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.last_now = now;
        self.stats.packets_received += 1;
        let packet = match decode_packet(&self.local_id, bytes) {
            Ok(p) => p,
            Err(e) => {
                trace!(%from, error = %e, "discv5: dropped packet");
                match e {
                    PacketError::TooSmall(_) => self.stats.dropped_too_small += 1,
                    PacketError::TooLarge(_) => self.stats.dropped_too_large += 1,
                    PacketError::WrongProtocolId => self.stats.dropped_wrong_protocol += 1,
                    _ => self.stats.dropped_malformed += 1,
                }
                return;
            }
        };
        match &packet.header.auth {
            AuthData::Message { src_id } => {
                let src_id = *src_id;
                self.on_ordinary(now, from, src_id, &packet);
            }
            AuthData::WhoAreYou { enr_seq, .. } => {
                let enr_seq = *enr_seq;
                self.on_whoareyou(from, enr_seq, &packet);
            }
            AuthData::Handshake { .. } => self.on_handshake(now, from, &packet),
        }
    }

    fn on_ordinary(
        &mut self,
        now: Instant,
        from: SocketAddr,
        src_id: NodeId,
        packet: &DecodedPacket<'_>,
    ) {
        if src_id == self.local_id {
            self.stats.dropped_from_self += 1;
            return;
        }
        let key = (src_id, from);
        if let Some(session) = self.sessions.get_mut(&key) {
            if let Ok(plaintext) = packet.open(&session.read_key) {
                let newly_verified = !session.established;
                session.established = true;
                let enr = session.enr.clone();
                if newly_verified {
                    self.stats.handshakes_outbound += 1;
                    self.session_verified(now, src_id, from, enr, Direction::Outbound);
                }
                self.on_message(now, src_id, from, &plaintext);
                return;
            }
            self.stats.messages_undecryptable += 1;
        } else {
            self.stats.messages_without_session += 1;
        }
        // Simultaneous handshakes: if both sides challenge each other, each ends up with
        // the other's session. The node with the larger ID lets its own handshake win and
        // does not challenge; the other side answers our challenge, and its own request is
        // re-sent over the session our handshake creates.
        if self.local_id > src_id && self.handshake_in_progress(&src_id, from) {
            self.stats.challenges_yielded += 1;
            return;
        }
        self.send_whoareyou(now, src_id, from, packet.header.nonce);
    }

    /// Whether we started a handshake with `node` on `addr` that has not completed.
    fn handshake_in_progress(&self, node: &NodeId, addr: SocketAddr) -> bool {
        let awaiting_challenge = self
            .handshaking
            .get(node)
            .and_then(|id| self.active.get(id))
            .is_some_and(|r| r.addr == addr);
        let awaiting_answer = self
            .sessions
            .peek(&(*node, addr))
            .is_some_and(|s| !s.established);
        awaiting_challenge || awaiting_answer
    }

    /// Whether the per-IP WHOAREYOU budget allows one more challenge to `from`.
    fn whoareyou_allowed(&mut self, now: Instant, from: SocketAddr) -> bool {
        let window = self.config.whoareyou_window;
        let ip = from.ip();
        if !self.whoareyou_budget.contains_key(&ip)
            && self.whoareyou_budget.len() >= self.config.whoareyou_tracked_ips
        {
            self.whoareyou_budget
                .retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
            if self.whoareyou_budget.len() >= self.config.whoareyou_tracked_ips {
                return false;
            }
        }
        let (start, count) = self.whoareyou_budget.entry(ip).or_insert((now, 0));
        if now.saturating_duration_since(*start) >= window {
            *start = now;
            *count = 0;
        }
        if *count >= self.config.whoareyou_per_ip {
            return false;
        }
        *count += 1;
        true
    }

    fn send_whoareyou(
        &mut self,
        now: Instant,
        node: NodeId,
        from: SocketAddr,
        nonce: MessageNonce,
    ) {
        let key = (node, from);
        // One challenge per (node, address) at a time: a second WHOAREYOU would replace
        // the first, and the remote's handshake (signed over the first) would then fail.
        // The remote re-sends its request after its timeout if the first was lost.
        if self.challenges.get(&key).is_some_and(|c| c.expires > now) {
            self.stats.whoareyou_already_pending += 1;
            return;
        }
        if !self.whoareyou_allowed(now, from) {
            self.stats.whoareyou_rate_limited += 1;
            return;
        }
        if !self.challenges.contains_key(&key)
            && self.challenges.len() >= self.config.max_challenges
        {
            self.challenges.retain(|_, c| c.expires > now);
            if self.challenges.len() >= self.config.max_challenges {
                self.stats.whoareyou_challenges_full += 1;
                return;
            }
        }
        let known = self.known_enr(&node).cloned();
        let enr_seq = known.as_ref().map_or(0, Enr::seq);
        let id_nonce: [u8; 16] = self.random();
        let iv: [u8; MASKING_IV_SIZE] = self.random();
        let (bytes, data) = encode_whoareyou(iv, &node, nonce, id_nonce, enr_seq);
        self.challenges.insert(
            key,
            Challenge {
                data,
                enr: known,
                expires: now + self.config.handshake_timeout,
            },
        );
        self.stats.whoareyou_sent += 1;
        self.queue_transmit(from, bytes);
    }

    fn on_whoareyou(&mut self, from: SocketAddr, enr_seq: u64, packet: &DecodedPacket<'_>) {
        let nonce = packet.header.nonce;
        let Some(&id) = self.nonces.get(&nonce) else {
            self.stats.whoareyou_unsolicited += 1;
            return;
        };
        let Some(req) = self.active.get(&id) else {
            self.nonces.remove(&nonce);
            self.stats.whoareyou_unsolicited += 1;
            return;
        };
        if req.addr != from {
            self.stats.whoareyou_unsolicited += 1;
            return;
        }
        self.nonces.remove(&nonce);
        let (node, remote_enr, plaintext) = (req.node, req.enr.clone(), req.message.encode());
        let challenge = &packet.authenticated_data;

        let mut ephemeral = None;
        for _ in 0..EPHEMERAL_KEY_TRIES {
            ephemeral = crypto::ephemeral_keypair(self.random());
            if ephemeral.is_some() {
                break;
            }
        }
        let Some((eph_secret, eph_pubkey)) = ephemeral else {
            self.fail_request(id, RequestError::HandshakeFailed);
            return;
        };
        let remote_key = remote_enr.public_key().to_bytes();
        let Ok(secret) = crypto::ecdh(&remote_key, &eph_secret) else {
            self.fail_request(id, RequestError::HandshakeFailed);
            return;
        };
        let keys = crypto::derive_keys(&secret, &self.local_id, &node, challenge);
        let Ok(id_signature) =
            crypto::sign_id_nonce(self.keypair.signing_key(), challenge, &eph_pubkey, &node)
        else {
            self.fail_request(id, RequestError::HandshakeFailed);
            return;
        };
        // The record goes along when the challenger has none (enr-seq 0) or an older one.
        let send_record = enr_seq == 0 || enr_seq < self.local_enr.seq();
        let record = send_record.then(|| self.local_enr.to_rlp().to_vec());
        let mut session = Session {
            write_key: keys.initiator_key,
            read_key: keys.recipient_key,
            counter: 0,
            established: false,
            enr: remote_enr,
        };
        let Some(message_nonce) = session.next_nonce(self.random()) else {
            return;
        };
        let header = Header {
            nonce: message_nonce,
            auth: AuthData::Handshake {
                src_id: self.local_id,
                id_signature,
                eph_pubkey,
                record,
            },
        };
        let iv: [u8; MASKING_IV_SIZE] = self.random();
        let Ok(bytes) = encode_message_packet(iv, &node, &header, &keys.initiator_key, &plaintext)
        else {
            self.fail_request(id, RequestError::TooLarge);
            return;
        };
        debug!(%node, %from, "discv5: answering WHOAREYOU with a handshake");
        if self.sessions.insert((node, from), session).is_some() {
            self.stats.sessions_evicted += 1;
        }
        self.queue_transmit(from, bytes);
        if let Some(req) = self.active.get_mut(&id) {
            req.state = RequestState::Sent(message_nonce);
        }
        self.nonces.insert(message_nonce, id);
        self.handshaking.remove(&node);
        self.flush_queued(node);
    }

    fn on_handshake(&mut self, now: Instant, from: SocketAddr, packet: &DecodedPacket<'_>) {
        let AuthData::Handshake {
            src_id,
            id_signature,
            eph_pubkey,
            record,
        } = &packet.header.auth
        else {
            return;
        };
        let src_id = *src_id;
        if src_id == self.local_id {
            self.stats.dropped_from_self += 1;
            return;
        }
        // The challenge is consumed only by a handshake that verifies, so a forged packet
        // from a spoofed address cannot cancel a real handshake; a replay finds it gone.
        let challenge = match self.challenges.get(&(src_id, from)) {
            Some(c) if c.expires > now => c.clone(),
            _ => {
                self.stats.handshakes_unsolicited += 1;
                return;
            }
        };
        let enr = match (record, challenge.enr) {
            (Some(bytes), known) => match Enr::decode_rlp(bytes) {
                Ok(enr) if NodeId(enr.node_id()) == src_id => match known {
                    Some(known) if known.seq() > enr.seq() => known,
                    _ => enr,
                },
                _ => {
                    debug!(node = %src_id, %from, "discv5: handshake with a bad record");
                    self.stats.handshakes_invalid += 1;
                    return;
                }
            },
            (None, Some(known)) => known,
            (None, None) => {
                debug!(node = %src_id, %from, "discv5: handshake without a record of an unknown node");
                self.stats.handshakes_invalid += 1;
                return;
            }
        };
        let verified = crypto::verify_id_nonce(
            enr.public_key().verifying_key(),
            id_signature,
            &challenge.data,
            eph_pubkey,
            &self.local_id,
        );
        let secret = crypto::ecdh(eph_pubkey, &self.keypair.secret_bytes());
        let (Ok(()), Ok(secret)) = (verified, secret) else {
            debug!(node = %src_id, %from, "discv5: handshake with a bad signature or key");
            self.stats.handshakes_invalid += 1;
            return;
        };
        let keys = crypto::derive_keys(&secret, &src_id, &self.local_id, &challenge.data);
        let Ok(plaintext) = packet.open(&keys.initiator_key) else {
            debug!(node = %src_id, %from, "discv5: handshake message does not decrypt");
            self.stats.handshakes_invalid += 1;
            return;
        };
        self.challenges.remove(&(src_id, from));
        let session = Session {
            write_key: keys.recipient_key,
            read_key: keys.initiator_key,
            counter: 0,
            established: true,
            enr: enr.clone(),
        };
        if self.sessions.insert((src_id, from), session).is_some() {
            self.stats.sessions_evicted += 1;
        }
        self.stats.handshakes_inbound += 1;
        debug!(node = %src_id, %from, "discv5: inbound handshake completed");
        self.remember(enr.clone(), from);
        self.session_verified(now, src_id, from, enr, Direction::Inbound);
        // Our own request that provoked no challenge (the remote won the tie-break, or the
        // packets crossed) goes over the new session, like the queued ones.
        if let Some(id) = self.handshaking.remove(&src_id) {
            if let Some(req) = self.active.get_mut(&id) {
                if let RequestState::AwaitingChallenge(nonce) = req.state {
                    req.state = RequestState::Queued;
                    self.nonces.remove(&nonce);
                }
            }
        }
        self.flush_queued(src_id);
        self.on_message(now, src_id, from, &plaintext);
    }

    /// A session is verified: offer the node to the table (only if its record advertises
    /// the address we verified) and tell the application.
    fn session_verified(
        &mut self,
        now: Instant,
        node: NodeId,
        addr: SocketAddr,
        enr: Enr,
        direction: Direction,
    ) {
        if udp_endpoint(&enr) == Some(addr) {
            let outcome = self.table.insert(enr.clone(), addr, now);
            trace!(%node, ?outcome, "discv5: table insert");
            let _: InsertOutcome = outcome;
        }
        self.queue_event(Event::SessionEstablished {
            node,
            addr,
            enr,
            direction,
        });
    }
}
