//! Inbound requests: stream acceptance, request decoding, admission
//! (concurrency caps and quotas), and the application's responses.

use super::{later, InState, Inbound, ReqResp, StreamRef, Timer};
use crate::config::RateLimitAction;
use crate::error::{DecodeError, RespondError, StreamError};
use crate::event::{AbortReason, Event, RejectReason, StreamOp};
use crate::message::{ChannelId, ResponseChunk, ResponseCode, StreamKey};
use crate::rate_limit::{Admit, Bucket};
use bytes::Bytes;
use leanp2p_identity::PeerId;
use std::time::{Duration, Instant};

impl ReqResp {
    /// The host accepted an inbound stream from `peer` and negotiated
    /// `protocol` on it (a primary id or an alias). Bytes that arrived with
    /// the negotiation (leftover) go to [`ReqResp::handle_stream_data`] next.
    ///
    /// Over the peer's concurrency cap the machine answers
    /// `ResourceUnavailable` at once; over `Limits::max_inbound_streams` it
    /// resets the stream and returns `Err(TooManyStreams)`.
    pub fn handle_stream_opened(
        &mut self,
        now: Instant,
        peer: PeerId,
        stream: StreamKey,
        protocol: &str,
    ) -> Result<(), StreamError> {
        self.touch(now);
        if self.streams.contains_key(&stream) {
            return Err(StreamError::StreamInUse(stream));
        }
        let idx = self
            .protocol_index(protocol)
            .ok_or_else(|| StreamError::UnknownProtocol(protocol.to_string()))?;
        if self.inbound.len() >= self.config.limits.max_inbound_streams {
            self.stats.rejected_stream_limit += 1;
            self.ops.push_back(StreamOp::Reset { stream });
            return Err(StreamError::TooManyStreams);
        }
        let Some(p) = self.protocol(idx) else {
            return Err(StreamError::UnknownProtocol(protocol.to_string()));
        };
        let decoder = p.codec.request_decoder(&p.limits);
        let cap = p.limits.max_concurrent_inbound_per_peer;
        let chunk_cap = p.limits.max_response_chunks;
        let over_cap = self.proto_state(peer, idx).is_some_and(|s| {
            let over = s.inbound_active >= cap;
            if !over {
                s.inbound_active += 1;
            }
            over
        });
        let channel = ChannelId(self.next_id());
        let deadline = later(now, self.config.inbound_timeout);
        self.inbound.insert(
            channel,
            Inbound {
                peer,
                proto: idx,
                stream,
                state: InState::Reading,
                deadline,
                timer_at: deadline,
                decoder,
                chunks_sent: 0,
                chunk_cap,
                remote_done: false,
                counted: !over_cap,
                unsent: 0,
                waiting: false,
            },
        );
        self.streams.insert(stream, StreamRef::Inbound(channel));
        self.arm(Timer::Inbound(channel), None, deadline);
        if over_cap {
            self.stats.rejected_concurrency += 1;
            self.reject_inbound(
                channel,
                ResponseCode::ResourceUnavailable,
                RejectReason::TooManyConcurrent,
            );
        }
        Ok(())
    }

    /// Sends one response chunk on `channel`. A `Success` chunk may be
    /// followed by more; an error chunk ends the response (the FIN is queued
    /// with it). On `Err` nothing changed.
    pub fn respond(
        &mut self,
        now: Instant,
        channel: ChannelId,
        chunk: ResponseChunk,
    ) -> Result<(), RespondError> {
        self.touch(now);
        let ops_full = self.ops_full();
        let extension = self.config.chunk_timeout_extension;
        let Some(inb) = self
            .inbound
            .get(&channel)
            .filter(|i| i.state == InState::Responding)
        else {
            return Err(RespondError::UnknownChannel);
        };
        if ops_full {
            return Err(RespondError::QueueFull);
        }
        if inb.unsent >= self.config.limits.response_high_water {
            self.stats.responses_backpressured += 1;
            if let Some(inb) = self.inbound.get_mut(&channel) {
                inb.waiting = true;
            }
            return Err(RespondError::QueueFull);
        }
        if chunk.is_success() && inb.chunks_sent >= inb.chunk_cap {
            return Err(RespondError::TooManyChunks { max: inb.chunk_cap });
        }
        let p = self
            .protocol(inb.proto)
            .ok_or(RespondError::UnknownChannel)?;
        let mut wire = Vec::new();
        p.codec
            .encode_response_chunk(&chunk, &p.limits, &mut wire)?;
        let stream = inb.stream;
        self.ops.push_back(StreamOp::Write {
            stream,
            data: Bytes::from(wire),
        });
        self.stats.chunks_sent += 1;
        if !chunk.is_success() {
            self.ops.push_back(StreamOp::Finish { stream });
            self.close_local(channel);
            return Ok(());
        }
        if let Some(inb) = self.inbound.get_mut(&channel) {
            inb.chunks_sent += 1;
            if !extension.is_zero() {
                let old = inb.timer_at;
                inb.deadline = later(inb.deadline, extension);
                inb.timer_at = inb.deadline;
                let at = inb.deadline;
                self.arm(Timer::Inbound(channel), Some(old), at);
            }
        }
        Ok(())
    }

    /// The host holds `unsent` bytes it has not yet handed to the transport on
    /// `stream` (report it after every write and whenever the transport took
    /// bytes). For a response stream this drives backpressure: see
    /// [`Limits::response_high_water`](crate::Limits). Unknown streams and
    /// request streams are ignored.
    pub fn handle_stream_unsent(&mut self, now: Instant, stream: StreamKey, unsent: usize) {
        self.touch(now);
        let Some(StreamRef::Inbound(channel)) = self.streams.get(&stream).copied() else {
            return;
        };
        let high_water = self.config.limits.response_high_water;
        let Some(inb) = self.inbound.get_mut(&channel) else {
            return;
        };
        inb.unsent = unsent;
        if inb.waiting && unsent < high_water && inb.state == InState::Responding {
            inb.waiting = false;
            self.push_event(Event::ResponseWritable { channel });
        }
    }

    /// The stream of a channel the application may still respond on (from
    /// `Event::InboundRequest` until the response ends or fails).
    pub fn channel_stream(&self, channel: ChannelId) -> Option<StreamKey> {
        self.inbound
            .get(&channel)
            .filter(|i| i.state == InState::Responding)
            .map(|i| i.stream)
    }

    /// Ends the response on `channel` (queues the FIN). On `Err` nothing changed.
    pub fn end_response(&mut self, now: Instant, channel: ChannelId) -> Result<(), RespondError> {
        self.touch(now);
        let Some(inb) = self
            .inbound
            .get(&channel)
            .filter(|i| i.state == InState::Responding)
        else {
            return Err(RespondError::UnknownChannel);
        };
        let stream = inb.stream;
        if self.ops_full() {
            return Err(RespondError::QueueFull);
        }
        self.ops.push_back(StreamOp::Finish { stream });
        self.close_local(channel);
        Ok(())
    }

    pub(super) fn inbound_data(
        &mut self,
        now: Instant,
        ch: ChannelId,
        data: &[u8],
    ) -> Result<(), StreamError> {
        let mut input = data;
        let Some(inb) = self.inbound.get_mut(&ch) else {
            return Ok(());
        };
        match inb.state {
            InState::Closed => return Ok(()),
            InState::Reading => match inb.decoder.decode(&mut input) {
                Ok(None) => return Ok(()),
                Ok(Some(body)) => self.admit(now, ch, body),
                Err(e) => return self.invalid_request(ch, e),
            },
            InState::Delayed { .. } | InState::Responding => {}
        }
        if input.is_empty() {
            return Ok(());
        }
        // The request is complete: only an optional bare stream identifier
        // (after an empty request) may follow.
        let Some(inb) = self.inbound.get_mut(&ch) else {
            return Ok(());
        };
        match inb.state {
            InState::Closed | InState::Reading => Ok(()),
            InState::Delayed { .. } | InState::Responding => match inb.decoder.decode(&mut input) {
                Ok(_) => Ok(()),
                Err(e) => {
                    self.abort_inbound(ch, Some(AbortReason::TrailingData), true);
                    Err(StreamError::Decode(e))
                }
            },
        }
    }

    pub(super) fn inbound_finished(&mut self, ch: ChannelId) -> Result<(), StreamError> {
        let Some(inb) = self.inbound.get_mut(&ch) else {
            return Ok(());
        };
        inb.remote_done = true;
        match inb.state {
            InState::Reading => match inb.decoder.finish() {
                Err(e) => self.invalid_request(ch, e),
                // A decoder that accepts an empty stream as a request is not
                // possible here; treat it as missing.
                Ok(()) => self.invalid_request(ch, DecodeError::MissingRequest),
            },
            InState::Closed => {
                self.abort_inbound(ch, None, false);
                Ok(())
            }
            InState::Delayed { .. } | InState::Responding => Ok(()),
        }
    }

    pub(super) fn inbound_timer(&mut self, now: Instant, ch: ChannelId) {
        let Some(inb) = self.inbound.get_mut(&ch) else {
            return;
        };
        match &inb.state {
            InState::Delayed { body, until } if *until <= now && now < inb.deadline => {
                let body = body.clone();
                inb.state = InState::Reading;
                let old = inb.timer_at;
                inb.timer_at = inb.deadline;
                let at = inb.deadline;
                self.timers.remove(&(old, Timer::Inbound(ch)));
                self.timers.insert((at, Timer::Inbound(ch)));
                self.deliver(ch, body);
            }
            InState::Responding => self.abort_inbound(ch, Some(AbortReason::Timeout), true),
            _ => {
                self.stats.inbound_request_timeouts += 1;
                self.abort_inbound(ch, None, true)
            }
        }
    }

    /// A request was decoded: apply the quota, then deliver or hold it.
    fn admit(&mut self, now: Instant, ch: ChannelId, body: Bytes) {
        let Some(inb) = self.inbound.get(&ch) else {
            return;
        };
        let (peer, idx) = (inb.peer, inb.proto);
        let Some(p) = self.protocol(idx) else { return };
        let chunk_cap = p.chunk_cap_of(&body);
        let cost = p.cost_of(&body);
        let quota = if self.config.inbound_rate_limiting {
            p.inbound_quota
        } else {
            None
        };
        if let Some(inb) = self.inbound.get_mut(&ch) {
            inb.chunk_cap = chunk_cap;
        }
        let Some(q) = quota else {
            self.deliver(ch, body);
            return;
        };
        let max_wait = match self.config.rate_limit_action {
            RateLimitAction::Delay { max_delay } => max_delay,
            RateLimitAction::Reject => Duration::ZERO,
        };
        self.ensure_prune_timer(now);
        let admit = self.proto_state(peer, idx).map_or(Admit::Now, |s| {
            s.inbound_bucket
                .get_or_insert_with(|| Bucket::new(now))
                .take(now, q, cost, max_wait)
        });
        match admit {
            Admit::Now => self.deliver(ch, body),
            Admit::After(wait) => {
                self.stats.delayed_rate_limited += 1;
                let until = later(now, wait);
                if let Some(inb) = self.inbound.get_mut(&ch) {
                    let old = inb.timer_at;
                    inb.state = InState::Delayed { body, until };
                    inb.timer_at = until;
                    self.arm(Timer::Inbound(ch), Some(old), until);
                }
            }
            Admit::Denied(_) => {
                self.stats.rejected_rate_limited += 1;
                self.reject_inbound(
                    ch,
                    ResponseCode::ResourceUnavailable,
                    RejectReason::RateLimited,
                );
            }
        }
    }

    /// Hands a request to the application (or rejects it if the event queue is full).
    fn deliver(&mut self, ch: ChannelId, body: Bytes) {
        if self.events_full() {
            self.stats.rejected_event_queue_full += 1;
            self.reject_inbound(
                ch,
                ResponseCode::ResourceUnavailable,
                RejectReason::EventQueueFull,
            );
            return;
        }
        let Some(inb) = self.inbound.get_mut(&ch) else {
            return;
        };
        inb.state = InState::Responding;
        let (peer, idx) = (inb.peer, inb.proto);
        let Some(protocol) = self.protocol(idx).map(|p| p.id.clone()) else {
            return;
        };
        self.stats.requests_received += 1;
        self.push_event(Event::InboundRequest {
            channel: ch,
            peer,
            protocol,
            body,
        });
    }

    fn invalid_request(&mut self, ch: ChannelId, e: DecodeError) -> Result<(), StreamError> {
        self.stats.invalid_requests += 1;
        tracing::debug!(channel = %ch, error = %e, "invalid request");
        self.reject_inbound(
            ch,
            ResponseCode::InvalidRequest,
            RejectReason::Invalid(e.clone()),
        );
        Err(StreamError::Decode(e))
    }

    /// Answers with one error chunk and FIN (or a reset if the codec has no
    /// error chunks), and reports the rejection.
    fn reject_inbound(&mut self, ch: ChannelId, code: ResponseCode, reason: RejectReason) {
        let Some(inb) = self.inbound.get(&ch) else {
            return;
        };
        let (peer, stream) = (inb.peer, inb.stream);
        let Some(p) = self.protocol(inb.proto) else {
            return;
        };
        let protocol = p.id.clone();
        let max = p.limits.max_error_message_size;
        let text = reason.to_string();
        let message = Bytes::copy_from_slice(
            text.as_bytes()
                .get(..max.min(text.len()))
                .unwrap_or_default(),
        );
        let mut wire = Vec::new();
        let encoded = p.codec.encode_response_chunk(
            &ResponseChunk::error(code, message),
            &p.limits,
            &mut wire,
        );
        tracing::debug!(%peer, channel = %ch, %reason, "inbound request rejected");
        self.push_event(Event::InboundRejected {
            peer,
            protocol,
            reason,
        });
        if encoded.is_ok() {
            self.ops.push_back(StreamOp::Write {
                stream,
                data: Bytes::from(wire),
            });
            self.ops.push_back(StreamOp::Finish { stream });
            self.close_local(ch);
        } else {
            self.abort_inbound(ch, None, true);
        }
    }

    /// Our write side is finished: stop counting the channel toward the cap,
    /// and forget it if the peer's side is finished too.
    fn close_local(&mut self, ch: ChannelId) {
        let Some(inb) = self.inbound.get_mut(&ch) else {
            return;
        };
        inb.state = InState::Closed;
        let (peer, idx, counted, remote_done) = (inb.peer, inb.proto, inb.counted, inb.remote_done);
        inb.counted = false;
        if counted {
            if let Some(s) = self.peers.get_mut(&peer).and_then(|v| v.get_mut(idx)) {
                s.inbound_active = s.inbound_active.saturating_sub(1);
            }
            self.release_peer(&peer);
        }
        if remote_done {
            self.abort_inbound(ch, None, false);
        }
    }

    /// Forgets a channel: timer, stream, counters. Emits `InboundAborted`
    /// with `reason` if the application held the channel, and queues a
    /// reset if `reset`.
    pub(super) fn abort_inbound(
        &mut self,
        ch: ChannelId,
        reason: Option<AbortReason>,
        reset: bool,
    ) {
        let Some(inb) = self.inbound.remove(&ch) else {
            return;
        };
        self.timers.remove(&(inb.timer_at, Timer::Inbound(ch)));
        self.streams.remove(&inb.stream);
        if inb.counted {
            if let Some(s) = self
                .peers
                .get_mut(&inb.peer)
                .and_then(|v| v.get_mut(inb.proto))
            {
                s.inbound_active = s.inbound_active.saturating_sub(1);
            }
        }
        self.release_peer(&inb.peer);
        if reset {
            self.ops.push_back(StreamOp::Reset { stream: inb.stream });
        }
        if let (InState::Responding, Some(reason)) = (&inb.state, reason) {
            self.stats.inbound_aborted += 1;
            self.push_event(Event::InboundAborted {
                channel: ch,
                peer: inb.peer,
                reason,
            });
        }
    }
}
