//! Inbound messages, validation, forwarding and publishing.

use std::collections::BTreeSet;
use std::time::Instant;

use bytes::Bytes;
use leanp2p_identity::{PeerId, PublicKey};
use prost::Message as _;

use super::{Gossipsub, PendingMessage};
use crate::config::SignaturePolicy;
use crate::error::{PublishError, ValidationError};
use crate::event::Event;
use crate::types::{Lane, MessageId, TopicHash, Validation};
use crate::wire::encode_message_frame;
use crate::wire::proto::Message;

/// Prefix of the signed bytes under StrictSign.
const SIGNING_PREFIX: &[u8] = b"libp2p-pubsub:";

/// Why an inbound message failed the pre-validation checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invalid {
    /// Carries from/seqno/signature/key under StrictNoSign.
    ForbiddenFields,
    /// Missing or bad signature under StrictSign.
    BadSignature,
}

impl Gossipsub {
    /// Steps 1–7 of message reception: checks, de-duplication, IDONTWANT, delivery.
    pub(crate) fn handle_message(
        &mut self,
        now: Instant,
        from: PeerId,
        msg: Message,
        frame: Option<Bytes>,
    ) {
        self.counters.messages_received += 1;
        if msg.topic.is_empty() || msg.topic.len() > self.config.limits.max_topic_len {
            self.counters.invalid_messages += 1;
            return;
        }
        let topic = TopicHash::new(&msg.topic);
        let data_len = msg.data.as_ref().map_or(0, Bytes::len);
        if data_len > self.config.max_message_size(&topic) {
            self.counters.invalid_messages += 1;
            if let Some((score, _)) = &mut self.score {
                score.reject_invalid(&from, &topic);
            }
            return;
        }
        // Cheap checks first: a message on a topic we are not in, or over the topic's
        // declared size cap, costs no signature verification and no message id.
        if !self.mesh.contains_key(&topic) {
            self.counters.unsubscribed_topic_messages += 1;
            return;
        }
        if let (Some(len_fn), Some(max)) = (
            self.config.payload_len_fn,
            self.config.topic_max_payload_size.get(&topic),
        ) {
            let declared = len_fn(msg.data.as_deref().unwrap_or_default());
            if declared.is_some_and(|len| len > *max as u64) {
                self.counters.invalid_messages += 1;
                if let Some((score, _)) = &mut self.score {
                    score.reject_invalid(&from, &topic);
                }
                return;
            }
        }
        // Duplicates of a message already received in the same encoding are recognised
        // from a hash of the raw fields, before the signature is verified (identical
        // bytes were verified when first seen: `seen_raw` only holds messages that
        // passed) and before `message_id_fn` (which decompresses under the lean profile)
        // runs.
        let raw_key = raw_message_key(&msg);
        let known = self.seen_raw.get(now, &raw_key).cloned();
        if let Some(id) = &known {
            if self.seen.contains(id) {
                self.counters.duplicates_raw += 1;
                self.handle_duplicate(now, from, id, &topic);
                return;
            }
        }
        let author = match self.check_signature_policy(&msg) {
            Ok(author) => author,
            Err(reason) => {
                tracing::debug!(peer = %from, ?reason, "invalid message");
                self.counters.invalid_messages += 1;
                if let Some((score, _)) = &mut self.score {
                    score.reject_invalid(&from, &topic);
                }
                return;
            }
        };
        if let (Some(author), SignaturePolicy::StrictSign(key)) =
            (author, &self.config.signature_policy)
        {
            if author == key.peer_id() && !self.config.allow_self_origin {
                return;
            }
        }
        let id = match known {
            // The id was evicted from `seen` but not from `seen_raw` (or the reverse
            // order of expiry at the same instant): reuse it, it is a pure function of
            // the message.
            Some(id) => id,
            None => {
                let id = (self.config.message_id_fn)(&msg);
                self.counters.message_ids_computed += 1;
                self.seen_raw.insert(now, raw_key, id.clone());
                id
            }
        };
        if !self.seen.insert(now, id.clone()) {
            self.handle_duplicate(now, from, &id, &topic);
            return;
        }
        self.promises.delivered(&id);
        if data_len > self.config.idontwant_message_size_threshold {
            self.send_idontwant(now, &topic, &id, from);
        }
        if let Some((score, _)) = &mut self.score {
            score.validate_message(now, &from, &id);
        }
        let data = msg.data.clone().unwrap_or_default();
        if self.config.validate_messages {
            if self.pending_validation.len() >= self.config.limits.max_pending_validation {
                self.counters.validation_queue_full += 1;
                if let Some((score, _)) = &mut self.score {
                    score.reject_message(&from, &id, &topic, false);
                }
                return;
            }
            self.pending_validation.insert(
                id.clone(),
                PendingMessage {
                    message: msg,
                    topic: topic.clone(),
                    source: from,
                    also_from: BTreeSet::new(),
                    frame,
                },
            );
            self.validation_deadlines
                .push_back((now + self.config.validation_timeout, id.clone()));
            self.push_event(Event::Message {
                id,
                propagation_source: from,
                topic,
                data,
                author,
            });
        } else {
            self.push_event(Event::Message {
                id: id.clone(),
                propagation_source: from,
                topic: topic.clone(),
                data,
                author,
            });
            if let Some((score, _)) = &mut self.score {
                score.deliver_message(now, &from, &id, &topic);
            }
            let frame = frame.unwrap_or_else(|| encode_message_frame(&msg));
            self.mcache.put(&id, &topic, frame.clone());
            self.forward(now, &id, &topic, frame, &[from]);
        }
    }

    /// A duplicate of a seen message: P3 credit / counters, remembers the extra sender
    /// of a message awaiting validation, settles IWANT promises.
    fn handle_duplicate(&mut self, now: Instant, from: PeerId, id: &MessageId, topic: &TopicHash) {
        self.counters.duplicates += 1;
        if let Some((score, _)) = &mut self.score {
            score.duplicated_message(now, &from, id, topic);
        }
        if let Some(pending) = self.pending_validation.get_mut(id) {
            if pending.source != from {
                pending.also_from.insert(from);
            }
        }
        self.promises.delivered(id);
    }

    /// Sends IDONTWANT(id) to mesh peers of `topic` speaking v1.2 (not `source`).
    fn send_idontwant(&mut self, now: Instant, topic: &TopicHash, id: &MessageId, source: PeerId) {
        let Some(mesh) = self.mesh.get(topic) else {
            return;
        };
        let targets: Vec<PeerId> = mesh
            .iter()
            .filter(|p| **p != source)
            .filter(|p| {
                self.peers
                    .get(p)
                    .is_some_and(|s| s.conn.version.supports_idontwant())
            })
            .copied()
            .collect();
        for peer in targets {
            if let Some(state) = self.peers.get_mut(&peer) {
                state
                    .queue
                    .idontwant(vec![id.as_bytes().to_vec()], &self.config.limits);
                state.last_sent = now;
            }
            self.counters.idontwant_sent += 1;
            self.mark_ready(peer);
        }
    }

    /// Checks the signature policy; returns the verified author under StrictSign.
    fn check_signature_policy(&mut self, msg: &Message) -> Result<Option<PeerId>, Invalid> {
        match &self.config.signature_policy {
            SignaturePolicy::StrictNoSign => {
                if msg.from.is_some()
                    || msg.seqno.is_some()
                    || msg.signature.is_some()
                    || msg.key.is_some()
                {
                    return Err(Invalid::ForbiddenFields);
                }
                Ok(None)
            }
            SignaturePolicy::StrictSign(_) => {
                self.counters.signatures_verified += 1;
                verify_signature(msg).map(Some)
            }
        }
    }

    /// The application's verdict on a message delivered with [`Event::Message`].
    ///
    /// `Accept` caches and forwards it (to the mesh and direct peers, minus the peers
    /// that sent it to us and those that sent IDONTWANT); `Reject` penalises the senders
    /// (P4); `Ignore` drops it silently. `from` must be the `propagation_source`.
    pub fn report_validation(
        &mut self,
        now: Instant,
        id: &MessageId,
        from: PeerId,
        validation: Validation,
    ) -> Result<(), ValidationError> {
        self.last_now = now;
        match self.pending_validation.get(id) {
            Some(p) if p.source == from => {}
            _ => return Err(ValidationError::UnknownMessage),
        }
        let Some(pending) = self.pending_validation.remove(id) else {
            return Err(ValidationError::UnknownMessage);
        };
        let PendingMessage {
            message,
            topic,
            source,
            also_from,
            frame,
        } = pending;
        match validation {
            Validation::Accept => {
                self.counters.validation_accepted += 1;
                if let Some((score, _)) = &mut self.score {
                    score.deliver_message(now, &source, id, &topic);
                }
                let frame = frame.unwrap_or_else(|| encode_message_frame(&message));
                self.mcache.put(id, &topic, frame.clone());
                let mut exclude: Vec<PeerId> = also_from.into_iter().collect();
                exclude.push(source);
                self.forward(now, id, &topic, frame, &exclude);
            }
            Validation::Reject => {
                self.counters.validation_rejected += 1;
                if let Some((score, _)) = &mut self.score {
                    score.reject_message(&source, id, &topic, true);
                }
            }
            Validation::Ignore => {
                self.counters.validation_ignored += 1;
                if let Some((score, _)) = &mut self.score {
                    score.reject_message(&source, id, &topic, false);
                }
            }
        }
        self.trim_validation_deadlines();
        Ok(())
    }

    /// Drops deadlines of messages already validated from the front of the queue, so
    /// `poll_timeout` never reports a stale deadline.
    fn trim_validation_deadlines(&mut self) {
        while let Some((_, id)) = self.validation_deadlines.front() {
            if self.pending_validation.contains_key(id) {
                break;
            }
            self.validation_deadlines.pop_front();
        }
    }

    /// Drops messages whose validation timed out (as if ignored).
    pub(crate) fn expire_validations(&mut self, now: Instant) {
        while let Some((deadline, _)) = self.validation_deadlines.front() {
            if *deadline > now {
                break;
            }
            let Some((_, id)) = self.validation_deadlines.pop_front() else {
                break;
            };
            if let Some(pending) = self.pending_validation.remove(&id) {
                self.counters.validation_timeouts += 1;
                if let Some((score, _)) = &mut self.score {
                    score.reject_message(&pending.source, &id, &pending.topic, false);
                }
            }
        }
        self.trim_validation_deadlines();
    }

    /// Queues `frame` (a message) on the normal lane of mesh ∪ direct peers of `topic`.
    pub(crate) fn forward(
        &mut self,
        now: Instant,
        id: &MessageId,
        topic: &TopicHash,
        frame: Bytes,
        exclude: &[PeerId],
    ) {
        let mut targets: BTreeSet<PeerId> = self.mesh.get(topic).cloned().unwrap_or_default();
        for peer in &self.config.direct_peers {
            if self
                .peers
                .get(peer)
                .is_some_and(|s| s.topics.contains(topic))
            {
                targets.insert(*peer);
            }
        }
        for peer in targets {
            if exclude.contains(&peer) {
                continue;
            }
            if self.is_dont_send(now, &peer, id) {
                self.counters.idontwant_suppressed += 1;
                continue;
            }
            self.queue_frame(now, peer, frame.clone(), Lane::Normal);
            self.counters.messages_forwarded += 1;
        }
    }

    fn is_dont_send(&self, now: Instant, peer: &PeerId, id: &MessageId) -> bool {
        self.peers
            .get(peer)
            .is_some_and(|s| s.dont_send.contains(now, id))
    }

    /// Publishes `data` on `topic`. The message goes out on the priority lane to every
    /// subscribed peer above the publish threshold (flood publish) or to the mesh /
    /// fanout, plus direct peers. If none of them has room in its priority budget, the
    /// message goes nowhere: [`PublishError::Backpressure`] hands `data` back and
    /// [`Event::PublishReady`] says when to try again. If some have room, they get it;
    /// the others are slow peers — counted in `dropped_priority` and reported once per
    /// overflow episode with [`Event::SlowPeer`] (the message stays in the cache for
    /// their IWANTs, and mesh peers forward it to them).
    pub fn publish(
        &mut self,
        now: Instant,
        topic: &TopicHash,
        data: Bytes,
    ) -> Result<MessageId, PublishError> {
        self.last_now = now;
        if topic.as_str().is_empty() || topic.as_str().len() > self.config.limits.max_topic_len {
            return Err(PublishError::InvalidTopic);
        }
        let max = self.config.max_message_size(topic);
        if data.len() > max {
            return Err(PublishError::MessageTooLarge {
                len: data.len(),
                max,
            });
        }
        let mut message = self.build_message(topic, data);
        let frame = encode_message_frame(&message);
        let max_frame = self.config.limits.max_transmit_size;
        if frame.len() > max_frame + 10 {
            return Err(PublishError::MessageTooLarge {
                len: frame.len(),
                max: max_frame,
            });
        }
        let id = (self.config.message_id_fn)(&message);
        if self.seen.contains(&id) {
            return Err(PublishError::Duplicate);
        }
        let targets = self.publish_targets(now, topic);
        if targets.is_empty() {
            return Err(PublishError::InsufficientPeers);
        }
        // If no chosen peer has room, nobody gets it and the caller gets it back.
        // Otherwise the peers without room are slow ones (their overflow episode is
        // reported with `SlowPeer` and counted); the others take it. Forwards are
        // dropped first under overload; our own messages never silently.
        let limits = &self.config.limits;
        let congested: Vec<PeerId> = targets
            .iter()
            .filter(|p| {
                self.peers
                    .get(p)
                    .is_some_and(|s| !s.queue.priority_has_room(limits))
            })
            .copied()
            .collect();
        if congested.len() == targets.len() {
            self.counters.publishes_backpressured += 1;
            self.publish_blocked.extend(congested.iter().copied());
            return Err(PublishError::Backpressure {
                data: message.data.take().unwrap_or_default(),
                congested,
            });
        }
        self.seen.insert(now, id.clone());
        self.mcache.put(&id, topic, frame.clone());
        self.seqno = self.seqno.wrapping_add(1);
        for peer in targets {
            // A congested peer's refusal is counted and starts (or continues) its
            // overflow episode, reported once with `SlowPeer`.
            self.queue_frame(now, peer, frame.clone(), Lane::Priority);
        }
        self.counters.messages_published += 1;
        Ok(id)
    }

    fn publish_targets(&mut self, now: Instant, topic: &TopicHash) -> BTreeSet<PeerId> {
        let publish_threshold = self
            .thresholds()
            .map_or(f64::NEG_INFINITY, |t| t.publish_threshold);
        let subscribed: Vec<PeerId> = self
            .topic_peers
            .get(topic)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let mut targets = BTreeSet::new();
        for peer in &subscribed {
            if self.config.direct_peers.contains(peer) {
                targets.insert(*peer);
            }
        }
        if self.config.flood_publish {
            for peer in subscribed {
                if self.score_of(&peer) >= publish_threshold {
                    targets.insert(peer);
                }
            }
        } else if let Some(mesh) = self.mesh.get(topic) {
            targets.extend(mesh.iter().copied());
        } else {
            let existing = self.fanout.get(topic).cloned().unwrap_or_default();
            let mut fanout: BTreeSet<PeerId> = existing
                .into_iter()
                .filter(|p| self.peers.get(p).is_some_and(|s| s.topics.contains(topic)))
                .collect();
            if fanout.len() < self.config.mesh_n {
                let candidates: Vec<PeerId> = subscribed
                    .into_iter()
                    .filter(|p| !fanout.contains(p) && !self.config.direct_peers.contains(p))
                    .filter(|p| self.score_of(p) >= publish_threshold)
                    .collect();
                let need = self.config.mesh_n - fanout.len();
                fanout.extend(self.sample(candidates, need));
            }
            targets.extend(fanout.iter().copied());
            self.fanout.insert(topic.clone(), fanout);
            self.fanout_last_pub.insert(topic.clone(), now);
        }
        targets
    }

    fn build_message(&self, topic: &TopicHash, data: Bytes) -> Message {
        match &self.config.signature_policy {
            SignaturePolicy::StrictNoSign => Message {
                from: None,
                data: Some(data),
                seqno: None,
                topic: topic.to_string(),
                signature: None,
                key: None,
            },
            SignaturePolicy::StrictSign(key) => {
                let mut msg = Message {
                    from: Some(Bytes::copy_from_slice(key.peer_id().as_bytes())),
                    data: Some(data),
                    seqno: Some(Bytes::copy_from_slice(
                        &self.seqno.wrapping_add(1).to_be_bytes(),
                    )),
                    topic: topic.to_string(),
                    signature: None,
                    key: None,
                };
                let mut signed = SIGNING_PREFIX.to_vec();
                signed.extend_from_slice(&msg.encode_to_vec());
                msg.signature = Some(Bytes::from(key.sign(&signed)));
                // The key is only sent when it cannot be recovered from the PeerId.
                if key.peer_id().to_public_key().is_none() {
                    msg.key = Some(Bytes::from(key.public().encode_protobuf()));
                }
                msg
            }
        }
    }
}

/// The raw-message seen-cache key: BLAKE3 over every field of `msg`, each
/// length-prefixed (absent and empty fields differ). Equal keys mean equal messages
/// (barring a BLAKE3 collision), hence equal ids for any pure `message_id_fn`. Costs
/// one hash of the bytes as received, never a decompression. The key never leaves the
/// node, so it need not be the spec's SHA-256: BLAKE3 is a collision-resistant hash
/// several times faster on large messages, which matters because every message
/// received, duplicate or not, is hashed here.
fn raw_message_key(msg: &Message) -> [u8; 32] {
    fn field(hasher: &mut blake3::Hasher, value: Option<&[u8]>) {
        match value {
            Some(bytes) => {
                hasher.update(&[1]);
                hasher.update(&(bytes.len() as u64).to_le_bytes());
                hasher.update(bytes);
            }
            None => {
                hasher.update(&[0]);
            }
        }
    }
    let mut hasher = blake3::Hasher::new();
    field(&mut hasher, Some(msg.topic.as_bytes()));
    field(&mut hasher, msg.data.as_deref());
    field(&mut hasher, msg.from.as_deref());
    field(&mut hasher, msg.seqno.as_deref());
    field(&mut hasher, msg.signature.as_deref());
    field(&mut hasher, msg.key.as_deref());
    *hasher.finalize().as_bytes()
}

/// Verifies a StrictSign message; returns its author.
fn verify_signature(msg: &Message) -> Result<PeerId, Invalid> {
    let (Some(from), Some(signature), Some(_seqno)) = (&msg.from, &msg.signature, &msg.seqno)
    else {
        return Err(Invalid::BadSignature);
    };
    let author = PeerId::from_bytes(from).map_err(|_| Invalid::BadSignature)?;
    let public = match &msg.key {
        Some(key) => {
            let key = PublicKey::decode_protobuf(key).map_err(|_| Invalid::BadSignature)?;
            if key.to_peer_id() != author {
                return Err(Invalid::BadSignature);
            }
            key
        }
        None => author.to_public_key().ok_or(Invalid::BadSignature)?,
    };
    let unsigned = Message {
        signature: None,
        key: None,
        ..msg.clone()
    };
    let mut signed = SIGNING_PREFIX.to_vec();
    signed.extend_from_slice(&unsigned.encode_to_vec());
    if public.verify(&signed, signature) {
        Ok(author)
    } else {
        Err(Invalid::BadSignature)
    }
}
