//! `/ipfs/ping/1.0.0` on one connection: 32 random bytes out, the same 32 bytes back.
//!
//! [`PingState`] decides (when to open the stream, send, time out; what an echo means);
//! the node carries out its decisions on streams (`node/ping.rs`).

use std::time::{Duration, Instant};

use leanp2p_quic::StreamId;

use crate::config::PingConfig;
use crate::event::PingFailure;

/// Size of one ping payload.
pub(crate) const PING_SIZE: usize = 32;

/// Unsent echo bytes one inbound ping stream may hold: past this we stop reading the
/// stream until the echoes drain, so a peer that pings without granting credit is held
/// back by QUIC flow control instead of filling our memory. With
/// [`PING_READ_CHUNK`], a ping stream holds at most 8 KiB.
pub(crate) const MAX_ECHO_BACKLOG: usize = 4 * 1024;

/// Bytes read from an inbound ping stream at a time (the echo backlog can pass
/// [`MAX_ECHO_BACKLOG`] by at most this).
pub(crate) const PING_READ_CHUNK: usize = 4 * 1024;

/// Our side of ping on one connection.
#[derive(Debug)]
pub(crate) struct PingState {
    /// Our outbound ping stream (reused for every ping).
    pub(crate) stream: Option<StreamId>,
    /// When the next ping is due.
    pub(crate) next_at: Instant,
    /// The ping in flight: payload and send time.
    pub(crate) outstanding: Option<([u8; PING_SIZE], Instant)>,
    /// Last measured round-trip time.
    pub(crate) last_rtt: Option<Duration>,
    /// The peer refused the protocol: stop pinging this connection.
    pub(crate) unsupported: bool,
}

impl PingState {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            stream: None,
            next_at: now,
            outstanding: None,
            last_rtt: None,
            unsupported: false,
        }
    }

    /// The next deadline: the ping timeout if one is in flight, else the next ping.
    pub(crate) fn deadline(&self, timeout: Duration, enabled: bool) -> Option<Instant> {
        if !enabled || self.unsupported {
            return None;
        }
        match self.outstanding {
            Some((_, sent)) => Some(sent + timeout),
            None => Some(self.next_at),
        }
    }
}

/// What a connection's ping timer asks the node to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PingDue {
    /// Nothing now.
    Nothing,
    /// The ping in flight timed out.
    TimedOut,
    /// Send the next ping on our open stream.
    Send(StreamId),
    /// Open our ping stream (the next ping goes out once it is writable).
    Open,
}

impl PingState {
    /// What is due at `now`. `writable` says whether our ping stream (if we have one)
    /// may carry bytes yet.
    pub(crate) fn due(&mut self, now: Instant, config: &PingConfig, writable: bool) -> PingDue {
        if !config.enabled || self.unsupported {
            return PingDue::Nothing;
        }
        if let Some((_, sent)) = self.outstanding {
            return if now >= sent + config.timeout {
                PingDue::TimedOut
            } else {
                PingDue::Nothing
            };
        }
        if now < self.next_at {
            return PingDue::Nothing;
        }
        match self.stream {
            Some(stream) if writable => PingDue::Send(stream),
            Some(_) => PingDue::Nothing,
            None => {
                self.next_at = now + config.interval;
                PingDue::Open
            }
        }
    }

    /// A ping with `payload` goes out on `stream` at `now`. Returns `false` (and
    /// changes nothing) if `stream` is not our ping stream or a ping is in flight.
    pub(crate) fn start(
        &mut self,
        now: Instant,
        stream: StreamId,
        payload: [u8; PING_SIZE],
    ) -> bool {
        if self.stream != Some(stream) || self.outstanding.is_some() {
            return false;
        }
        self.outstanding = Some((payload, now));
        true
    }

    /// Echo bytes arrived in `buf` (our ping stream's read buffer): one outcome per
    /// complete block; a wrong or unasked-for echo ends the stream (`Mismatch`, then
    /// nothing more is read from it).
    pub(crate) fn on_echo(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        interval: Duration,
    ) -> Vec<Result<Duration, PingFailure>> {
        let mut outcomes = Vec::new();
        for block in take_blocks(buf) {
            match self.outstanding.take() {
                Some((sent, at)) if sent == block => {
                    let rtt = now.saturating_duration_since(at);
                    self.last_rtt = Some(rtt);
                    self.next_at = now + interval;
                    outcomes.push(Ok(rtt));
                }
                _ => {
                    self.stream = None;
                    self.next_at = now + interval;
                    outcomes.push(Err(PingFailure::Mismatch));
                    break;
                }
            }
        }
        outcomes
    }

    /// Our ping stream is gone or the ping failed with `error`: the next ping is
    /// scheduled. Returns whether a ping in flight failed (to be reported).
    pub(crate) fn lost(&mut self, now: Instant, interval: Duration, error: PingFailure) -> bool {
        self.next_at = now + interval;
        if error == PingFailure::Unsupported {
            self.stream = None;
        }
        self.outstanding.take().is_some()
    }
}

/// Splits complete 32-byte blocks off the front of `buf`.
pub(crate) fn take_blocks(buf: &mut Vec<u8>) -> Vec<[u8; PING_SIZE]> {
    let mut blocks = Vec::new();
    let mut consumed = 0;
    while let Some(chunk) = buf.get(consumed..consumed + PING_SIZE) {
        let mut block = [0u8; PING_SIZE];
        block.copy_from_slice(chunk);
        blocks.push(block);
        consumed += PING_SIZE;
    }
    buf.drain(..consumed);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_split_across_reads() {
        let mut buf = vec![7u8; 40];
        let blocks = take_blocks(&mut buf);
        assert_eq!(blocks, vec![[7u8; 32]]);
        assert_eq!(buf.len(), 8);
        buf.extend_from_slice(&[9u8; 24]);
        let blocks = take_blocks(&mut buf);
        assert_eq!(blocks.len(), 1);
        assert_eq!(&blocks[0][..8], &[7u8; 8]);
        assert!(buf.is_empty());
    }

    fn config() -> PingConfig {
        PingConfig {
            enabled: true,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(20),
        }
    }

    #[test]
    fn opens_once_per_interval_and_times_out_a_ping_in_flight() {
        let t0 = Instant::now();
        let c = config();
        let mut p = PingState::new(t0);
        assert_eq!(p.due(t0, &c, true), PingDue::Open);
        // The open failed (no stream): the next try waits an interval.
        assert_eq!(p.due(t0, &c, true), PingDue::Nothing);
        assert_eq!(p.due(t0 + c.interval, &c, true), PingDue::Open);
        // A ping in flight: nothing until its timeout, then TimedOut.
        p.outstanding = Some(([1; PING_SIZE], t0));
        assert_eq!(p.deadline(c.timeout, true), Some(t0 + c.timeout));
        assert_eq!(
            p.due(t0 + c.timeout - Duration::from_millis(1), &c, true),
            PingDue::Nothing
        );
        assert_eq!(p.due(t0 + c.timeout, &c, true), PingDue::TimedOut);
        assert!(p.lost(t0 + c.timeout, c.interval, PingFailure::Timeout));
        assert!(
            !p.lost(t0 + c.timeout, c.interval, PingFailure::Timeout),
            "reported once"
        );
        // Disabled, or refused by the peer: never due.
        p.unsupported = true;
        assert_eq!(p.due(t0 + c.interval * 10, &c, true), PingDue::Nothing);
        assert_eq!(p.deadline(c.timeout, true), None);
    }

    #[test]
    fn an_echo_measures_the_rtt_and_a_wrong_echo_is_a_mismatch() {
        let t0 = Instant::now();
        let c = config();
        let mut p = PingState::new(t0);
        p.outstanding = Some(([7; PING_SIZE], t0));
        let rtt = Duration::from_millis(30);
        // Half an echo: nothing yet.
        let mut buf = vec![7u8; 16];
        assert!(p.on_echo(t0 + rtt, &mut buf, c.interval).is_empty());
        buf.extend_from_slice(&[7u8; 16]);
        assert_eq!(p.on_echo(t0 + rtt, &mut buf, c.interval), vec![Ok(rtt)]);
        assert_eq!(p.last_rtt, Some(rtt));
        assert_eq!(p.next_at, t0 + rtt + c.interval);
        // An echo nobody asked for.
        let mut buf = vec![9u8; PING_SIZE];
        assert_eq!(
            p.on_echo(t0 + rtt, &mut buf, c.interval),
            vec![Err(PingFailure::Mismatch)]
        );
        assert_eq!(p.stream, None);
    }
}
