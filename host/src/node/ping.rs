//! `/ipfs/ping/1.0.0` on the node: carries out what each connection's [`PingState`]
//! decides (open the ping stream, send, report), and echoes the peer's pings.
//!
//! [`PingState`]: crate::connection::PingState

use std::time::Instant;

use leanp2p_multistream::ProtocolId;
use leanp2p_quic::{ConnId, StreamId};
use rand_core::RngCore;

use super::{Node, PING_PROTOCOL};
use crate::connection::{take_blocks, PingDue, StreamKind, MAX_ECHO_BACKLOG, PING_SIZE};
use crate::event::{NodeEvent, PingFailure};

impl Node {
    /// Runs the connection's ping timer: send a ping when one is due, fail the one in
    /// flight after its timeout.
    pub(crate) fn ping_tick(&mut self, now: Instant, conn: ConnId) {
        let config = self.config.ping.clone();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.local_close.is_some() {
            return;
        }
        let writable = c
            .ping
            .stream
            .and_then(|stream| c.stream(stream))
            .is_some_and(|s| s.writable);
        let due = c.ping.due(now, &config, writable);
        match due {
            PingDue::Nothing => {}
            PingDue::TimedOut => {
                self.ping_stream_lost(now, conn, PingFailure::Timeout);
                if let Some(stream) = self.conns.get_mut(&conn).and_then(|c| c.ping.stream.take()) {
                    self.reset_stream(now, conn, stream, false);
                }
            }
            PingDue::Send(stream) => self.send_ping(now, conn, stream),
            PingDue::Open => {
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
        let mut payload = [0u8; PING_SIZE];
        self.rng.fill_bytes(&mut payload);
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.ping.start(now, stream, payload) {
            self.write_stream(now, conn, stream, bytes::Bytes::copy_from_slice(&payload));
        }
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
        let mut buf = std::mem::take(buf);
        let outcomes = c.ping.on_echo(now, &mut buf, interval);
        if let Some(StreamKind::PingOut(rest)) = c.stream_mut(stream).map(|s| &mut s.kind) {
            *rest = buf;
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
        // Echoes the peer does not take (no credit) stop us reading its pings.
        if let Some(s) = self.conns.stream_mut(&conn, stream) {
            if s.send.buffered_bytes() >= MAX_ECHO_BACKLOG {
                s.read_paused = true;
            }
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
        if c.ping.lost(now, interval, error) {
            self.counters.pings_failed += 1;
            self.emit(NodeEvent::PingFailed { peer, conn, error });
        }
    }
}
