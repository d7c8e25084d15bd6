//! Outbound requests: `request`, stream opening, response decoding.

use super::{later, OutState, Outbound, ReqResp, StreamRef, Timer};
use crate::error::{CancelError, DecodeError, RequestError, StreamError};
use crate::event::{Event, FailureReason, OpenFailure, StreamOp};
use crate::message::{RequestId, StreamKey};
use crate::protocol::ProtocolId;
use crate::rate_limit::{Admit, Bucket};
use bytes::Bytes;
use leanp2p_identity::PeerId;
use std::time::Instant;

impl ReqResp {
    /// Sends `body` to `peer` on `protocol` (a primary id or an alias).
    ///
    /// Queues [`StreamOp::Open`] (at once, or when the outbound quota allows
    /// if outbound rate limiting is on) and arms the request timeout. The
    /// result arrives as `Response` events followed by `Completed` or
    /// `Failed`. On `Err` nothing changed.
    pub fn request(
        &mut self,
        now: Instant,
        peer: PeerId,
        protocol: &ProtocolId,
        body: Bytes,
    ) -> Result<RequestId, RequestError> {
        self.touch(now);
        let protocol = protocol.as_str();
        let idx = self
            .protocol_index(protocol)
            .ok_or_else(|| RequestError::UnknownProtocol(protocol.to_string()))?;
        let limit = self.config.limits.max_outbound_requests;
        if self.outbound.len() >= limit {
            return Err(RequestError::TooManyRequests { limit });
        }
        if self.ops_full() {
            return Err(RequestError::QueueFull);
        }
        let Some(p) = self.protocol(idx) else {
            return Err(RequestError::UnknownProtocol(protocol.to_string()));
        };
        let per_peer = p.limits.max_concurrent_outbound_per_peer;
        let in_flight = self
            .peers
            .get(&peer)
            .and_then(|v| v.get(idx))
            .map_or(0, |s| s.outbound_active);
        if in_flight >= per_peer {
            return Err(RequestError::TooManyForPeer { limit: per_peer });
        }
        let mut wire = Vec::new();
        p.codec.encode_request(&body, &p.limits, &mut wire)?;
        let timeout = p.timeout.unwrap_or(self.config.request_timeout);
        let decoder = p.codec.response_decoder(&p.limits);
        let chunk_cap = p.chunk_cap_of(&body);
        let cost = p.cost_of(&body);
        let quota = if self.config.outbound_rate_limiting {
            p.outbound_quota
        } else {
            None
        };
        let mut offer = vec![p.id.clone()];
        offer.extend(p.aliases.iter().cloned());
        if let Some(pos) = offer.iter().position(|o| o == protocol) {
            let preferred = offer.remove(pos);
            offer.insert(0, preferred);
        }

        let deadline = later(now, timeout);
        let mut state = OutState::Opening;
        if let Some(q) = quota {
            let bucket = self.proto_state(peer, idx).map(|s| {
                s.outbound_bucket
                    .get_or_insert_with(|| Bucket::new(now))
                    .take(now, q, cost, timeout)
            });
            match bucket {
                Some(Admit::After(wait)) => {
                    state = OutState::Queued {
                        ready_at: later(now, wait),
                    }
                }
                Some(Admit::Denied(retry)) => {
                    self.drop_idle_peer(now, &peer);
                    return Err(RequestError::RateLimited {
                        retry_after: retry.unwrap_or(q.replenish_all_every),
                    });
                }
                Some(Admit::Now) | None => {}
            }
            self.ensure_prune_timer(now);
        }
        if let Some(s) = self.proto_state(peer, idx) {
            s.outbound_active += 1;
        }

        let id = RequestId(self.next_id());
        let timer_at = match state {
            OutState::Queued { ready_at } => ready_at,
            _ => deadline,
        };
        if state == OutState::Opening {
            self.ops.push_back(StreamOp::Open {
                peer,
                request: id,
                protocols: offer.clone(),
            });
        }
        self.outbound.insert(
            id,
            Outbound {
                peer,
                proto: idx,
                state,
                deadline,
                timer_at,
                offer,
                wire: Bytes::from(wire),
                decoder,
                chunks: 0,
                chunk_cap,
                stream: None,
                counted: true,
            },
        );
        self.arm(Timer::Outbound(id), None, timer_at);
        self.stats.requests_sent += 1;
        tracing::debug!(%peer, request = %id, %protocol, "request queued");
        Ok(id)
    }

    /// Abandons a request: its stream (if any) is reset and no further event
    /// is emitted for it.
    pub fn cancel(&mut self, now: Instant, request: RequestId) -> Result<(), CancelError> {
        self.touch(now);
        if self
            .outbound
            .get(&request)
            .is_none_or(|o| o.state == OutState::Draining)
        {
            return Err(CancelError::UnknownRequest);
        }
        let o = self
            .remove_outbound(request)
            .ok_or(CancelError::UnknownRequest)?;
        if let Some(stream) = o.stream {
            self.ops.push_back(StreamOp::Reset { stream });
        }
        Ok(())
    }

    /// The host opened and negotiated the stream for `request`. Queues the
    /// request bytes and the FIN. If the request is already over (timed
    /// out, cancelled, disconnected), queues a `Reset` for the stream instead.
    pub fn handle_outbound_stream_opened(
        &mut self,
        now: Instant,
        request: RequestId,
        stream: StreamKey,
    ) -> Result<(), StreamError> {
        self.touch(now);
        if self.streams.contains_key(&stream) {
            return Err(StreamError::StreamInUse(stream));
        }
        let Some(o) = self
            .outbound
            .get_mut(&request)
            .filter(|o| o.state == OutState::Opening)
        else {
            self.stats.late_streams_reset += 1;
            self.ops.push_back(StreamOp::Reset { stream });
            return Ok(());
        };
        o.state = OutState::Streaming;
        o.stream = Some(stream);
        let data = std::mem::take(&mut o.wire);
        self.streams.insert(stream, StreamRef::Outbound(request));
        self.ops.push_back(StreamOp::Write { stream, data });
        self.ops.push_back(StreamOp::Finish { stream });
        Ok(())
    }

    /// The host could not open or negotiate the stream for `request`; it
    /// fails with `FailureReason::OpenFailed`. Unknown requests are ignored.
    pub fn handle_open_failed(&mut self, now: Instant, request: RequestId, reason: OpenFailure) {
        self.touch(now);
        if self
            .outbound
            .get(&request)
            .is_some_and(|o| o.state == OutState::Opening)
        {
            self.fail_outbound(request, FailureReason::OpenFailed(reason), false);
        }
    }

    pub(super) fn outbound_data(&mut self, id: RequestId, data: &[u8]) -> Result<(), StreamError> {
        let mut input = data;
        loop {
            let Some(o) = self.outbound.get_mut(&id) else {
                return Ok(());
            };
            if o.state == OutState::Draining {
                // Bytes past the chunk cap: stop reading.
                if !input.is_empty() {
                    self.forget_drained(id, true);
                }
                return Ok(());
            }
            let chunk = match o.decoder.decode(&mut input) {
                Ok(Some(chunk)) => chunk,
                Ok(None) => return Ok(()),
                Err(e) => return self.invalid_response(id, e),
            };
            if !chunk.is_success() {
                let reason = FailureReason::ErrorResponse {
                    code: chunk.code,
                    message: chunk.payload,
                };
                self.fail_outbound(id, reason, true);
                return Ok(());
            }
            if o.chunks >= o.chunk_cap {
                return self.invalid_response(id, DecodeError::TooManyChunks);
            }
            if self.events.len() >= self.config.limits.max_queued_events {
                self.fail_outbound(id, FailureReason::EventQueueFull, true);
                return Ok(());
            }
            o.chunks += 1;
            let (peer, chunks, cap) = (o.peer, o.chunks, o.chunk_cap);
            let extension = self.config.chunk_timeout_extension;
            if !extension.is_zero() {
                let old = o.timer_at;
                o.deadline = later(o.deadline, extension);
                o.timer_at = o.deadline;
                let at = o.deadline;
                self.arm(Timer::Outbound(id), Some(old), at);
            }
            self.stats.chunks_received += 1;
            self.push_event(Event::Response {
                request: id,
                peer,
                payload: chunk.payload,
            });
            if chunks >= cap {
                // The requester stops reading at the cap: complete now, and
                // keep the stream until the responder's FIN.
                self.complete_at_cap(id);
                if !input.is_empty() {
                    self.forget_drained(id, true);
                }
                return Ok(());
            }
        }
    }

    pub(super) fn outbound_finished(&mut self, id: RequestId) -> Result<(), StreamError> {
        let Some(o) = self.outbound.get_mut(&id) else {
            return Ok(());
        };
        if o.state == OutState::Draining {
            self.forget_drained(id, false);
            return Ok(());
        }
        let finished = o.decoder.finish();
        let (proto, received) = (o.proto, o.chunks);
        if let Err(e) = finished {
            self.stats.invalid_responses += 1;
            self.fail_outbound(id, FailureReason::InvalidResponse(e.clone()), false);
            return Err(StreamError::Decode(e));
        }
        let required = self
            .protocol(proto)
            .map_or(0, |p| p.limits.min_response_chunks);
        if received < required {
            self.fail_outbound(
                id,
                FailureReason::MissingChunks { received, required },
                false,
            );
        } else {
            self.complete_outbound(id, false);
        }
        Ok(())
    }

    pub(super) fn outbound_timer(&mut self, now: Instant, id: RequestId) {
        let Some(o) = self.outbound.get_mut(&id) else {
            return;
        };
        match o.state {
            OutState::Queued { ready_at } if ready_at <= now && now < o.deadline => {
                o.state = OutState::Opening;
                o.timer_at = o.deadline;
                let (at, peer, protocols) = (o.deadline, o.peer, o.offer.clone());
                self.ops.push_back(StreamOp::Open {
                    peer,
                    request: id,
                    protocols,
                });
                self.arm(Timer::Outbound(id), None, at);
            }
            OutState::Draining => self.forget_drained(id, true),
            _ => {
                self.stats.requests_timed_out += 1;
                tracing::debug!(request = %id, "request timed out");
                self.fail_outbound(id, FailureReason::Timeout, true);
            }
        }
    }

    fn invalid_response(&mut self, id: RequestId, e: DecodeError) -> Result<(), StreamError> {
        self.stats.invalid_responses += 1;
        tracing::debug!(request = %id, error = %e, "invalid response");
        self.fail_outbound(id, FailureReason::InvalidResponse(e.clone()), true);
        Err(StreamError::Decode(e))
    }

    /// Removes a request and every trace of it (timer, stream, counters).
    fn remove_outbound(&mut self, id: RequestId) -> Option<Outbound> {
        let o = self.outbound.remove(&id)?;
        self.timers.remove(&(o.timer_at, Timer::Outbound(id)));
        if let Some(stream) = o.stream {
            self.streams.remove(&stream);
        }
        if o.counted {
            self.uncount_outbound(o.peer, o.proto);
        }
        Some(o)
    }

    fn uncount_outbound(&mut self, peer: PeerId, proto: usize) {
        if let Some(s) = self.peers.get_mut(&peer).and_then(|v| v.get_mut(proto)) {
            s.outbound_active = s.outbound_active.saturating_sub(1);
        }
        self.release_peer(&peer);
    }

    /// Emits `Completed` at the chunk cap and moves the request to `Draining`.
    fn complete_at_cap(&mut self, id: RequestId) {
        let Some(o) = self.outbound.get_mut(&id) else {
            return;
        };
        o.state = OutState::Draining;
        let (peer, proto, chunks, counted) = (o.peer, o.proto, o.chunks, o.counted);
        o.counted = false;
        if counted {
            self.uncount_outbound(peer, proto);
        }
        self.stats.requests_completed += 1;
        self.push_event(Event::Completed {
            request: id,
            peer,
            chunks,
        });
    }

    /// Forgets a completed request's stream, resetting it if `reset`.
    fn forget_drained(&mut self, id: RequestId, reset: bool) {
        if let Some(Outbound {
            stream: Some(stream),
            ..
        }) = self.remove_outbound(id)
        {
            if reset {
                self.ops.push_back(StreamOp::Reset { stream });
            }
        }
    }

    pub(super) fn fail_outbound(&mut self, id: RequestId, reason: FailureReason, reset: bool) {
        if self
            .outbound
            .get(&id)
            .is_some_and(|o| o.state == OutState::Draining)
        {
            // Already reported as completed: only the stream is left.
            self.forget_drained(id, reset);
            return;
        }
        let Some(o) = self.remove_outbound(id) else {
            return;
        };
        if let (true, Some(stream)) = (reset, o.stream) {
            self.ops.push_back(StreamOp::Reset { stream });
        }
        self.stats.requests_failed += 1;
        tracing::debug!(peer = %o.peer, request = %id, %reason, "request failed");
        self.push_event(Event::Failed {
            request: id,
            peer: o.peer,
            reason,
        });
    }

    fn complete_outbound(&mut self, id: RequestId, reset: bool) {
        let Some(o) = self.remove_outbound(id) else {
            return;
        };
        if let (true, Some(stream)) = (reset, o.stream) {
            self.ops.push_back(StreamOp::Reset { stream });
        }
        self.stats.requests_completed += 1;
        self.push_event(Event::Completed {
            request: id,
            peer: o.peer,
            chunks: o.chunks,
        });
    }
}
