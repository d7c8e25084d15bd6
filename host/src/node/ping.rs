//! `/ipfs/ping/1.0.0` on the node: sending pings, echoing the peer's (state in
//! [`crate::ping`]).

use std::time::Instant;

use leanp2p_multistream::ProtocolId;
use leanp2p_quic::{ConnId, StreamId};
use rand_core::RngCore;

use super::{Node, PING_PROTOCOL};
use crate::connection::StreamKind;
use crate::event::{NodeEvent, PingFailure};
use crate::ping::{take_blocks, PING_SIZE};

impl Node {
    /// Sends a ping when one is due; fails the one in flight after its timeout.
    pub(crate) fn ping_tick(&mut self, now: Instant, conn: ConnId) {
        let config = self.config.ping.clone();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if !config.enabled || c.ping.unsupported || c.local_close.is_some() {
            return;
        }
        if let Some((_, sent)) = c.ping.outstanding {
            if now >= sent + config.timeout {
                self.ping_stream_lost(now, conn, PingFailure::Timeout);
                if let Some(stream) = self.conns.get_mut(&conn).and_then(|c| c.ping.stream.take()) {
                    self.reset_stream(now, conn, stream, false);
                }
            }
            return;
        }
        if now < c.ping.next_at {
            return;
        }
        match c.ping.stream {
            Some(stream) => {
                let writable = c.stream(stream).is_some_and(|s| s.writable);
                if writable {
                    self.send_ping(now, conn, stream);
                }
            }
            None => {
                c.ping.next_at = now + config.interval;
                let protocols = vec![ProtocolId::from_static(PING_PROTOCOL)];
                let kind = StreamKind::PingOut(Vec::new());
                match self.open_stream(now, conn, kind, protocols) {
                    Ok(stream) => {
                        if let Some(c) = self.conns.get_mut(&conn) {
                            c.ping.stream = Some(stream);
                        }
                        // V1Lazy: the stream was writable at once but `ping.stream`
                        // was not set yet when the open hook ran.
                        self.send_ping(now, conn, stream);
                    }
                    Err(error) => tracing::debug!(%conn, %error, "could not open ping stream"),
                }
            }
        }
    }

    /// Writes a fresh 32-byte payload on our ping stream.
    pub(crate) fn send_ping(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.ping.stream != Some(stream) || c.ping.outstanding.is_some() {
            return;
        }
        let mut payload = [0u8; PING_SIZE];
        self.rng.fill_bytes(&mut payload);
        c.ping.outstanding = Some((payload, now));
        self.write_stream(now, conn, stream, bytes::Bytes::copy_from_slice(&payload));
    }

    /// Echo bytes arrived on our ping stream.
    pub(crate) fn on_ping_echo(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        let interval = self.config.ping.interval;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let peer = c.peer;
        let Some(StreamKind::PingOut(buf)) = c.stream_mut(stream).map(|s| &mut s.kind) else {
            return;
        };
        let mut outcomes = Vec::new();
        for block in take_blocks(buf) {
            match c.ping.outstanding.take() {
                Some((sent, at)) if sent == block => {
                    let rtt = now.saturating_duration_since(at);
                    c.ping.last_rtt = Some(rtt);
                    c.ping.next_at = now + interval;
                    outcomes.push(Ok(rtt));
                }
                _ => {
                    // A wrong echo, or an echo nobody asked for.
                    c.ping.stream = None;
                    c.ping.next_at = now + interval;
                    outcomes.push(Err(PingFailure::Mismatch));
                    break;
                }
            }
        }
        for outcome in outcomes {
            match outcome {
                Ok(rtt) => {
                    self.counters.pings_succeeded += 1;
                    self.emit(NodeEvent::PingSuccess { peer, conn, rtt });
                }
                Err(error) => {
                    self.counters.pings_failed += 1;
                    self.emit(NodeEvent::PingFailed { peer, conn, error });
                    self.reset_stream(now, conn, stream, false);
                }
            }
        }
    }

    /// Ping bytes from the peer: echo every complete block.
    pub(crate) fn on_ping_request(&mut self, now: Instant, conn: ConnId, stream: StreamId) {
        let Some(StreamKind::PingIn(buf)) =
            self.conns.stream_mut(&conn, stream).map(|s| &mut s.kind)
        else {
            return;
        };
        for block in take_blocks(buf) {
            self.counters.pings_answered += 1;
            self.write_stream(now, conn, stream, bytes::Bytes::copy_from_slice(&block));
        }
    }

    /// Our ping stream on `conn` is gone or the ping failed: report an outstanding
    /// ping and schedule the next one.
    pub(crate) fn ping_stream_lost(&mut self, now: Instant, conn: ConnId, error: PingFailure) {
        let interval = self.config.ping.interval;
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let peer = c.peer;
        c.ping.next_at = now + interval;
        if error == PingFailure::Unsupported {
            c.ping.stream = None;
        }
        if c.ping.outstanding.take().is_some() {
            self.counters.pings_failed += 1;
            self.emit(NodeEvent::PingFailed { peer, conn, error });
        }
    }
}
