//! Test helpers: peers from seeded keys, and a `Pair` that wires two machines
//! together through in-memory streams.

use crate::{Config, Event, ReqResp, StreamKey, StreamOp};
use leanp2p_identity::{Keypair, PeerId};
use std::collections::BTreeMap;
use std::time::Instant;

pub(crate) fn peer(i: u8) -> PeerId {
    Keypair::from_secret_bytes(&[i; 32]).unwrap().peer_id()
}

pub(crate) fn hex(s: &str) -> Vec<u8> {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub(crate) fn drain_ops(m: &mut ReqResp) -> Vec<StreamOp> {
    std::iter::from_fn(|| m.poll_outbound()).collect()
}

pub(crate) fn drain_events(m: &mut ReqResp) -> Vec<Event> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

/// Two machines, `a` (peer 1) and `b` (peer 2), connected by in-memory
/// streams. Stream keys are shared by both sides. Writes are delivered in
/// pieces of `split` bytes to exercise incremental decoding.
pub(crate) struct Pair {
    pub a: ReqResp,
    pub b: ReqResp,
    pub pa: PeerId,
    pub pb: PeerId,
    pub events_a: Vec<Event>,
    pub events_b: Vec<Event>,
    pub split: usize,
    /// When false, `Open` ops from `a` are held in `pending_opens`.
    pub auto_open: bool,
    pub pending_opens: Vec<StreamOp>,
    /// Streams that were reset by either side (key → who reset).
    pub resets: BTreeMap<StreamKey, char>,
    /// Streams whose write side each machine finished.
    pub fins: Vec<(char, StreamKey)>,
    next_stream: u64,
}

impl Pair {
    pub(crate) fn new(config_a: Config, config_b: Config) -> Self {
        Self {
            a: ReqResp::new(config_a).unwrap(),
            b: ReqResp::new(config_b).unwrap(),
            pa: peer(1),
            pb: peer(2),
            events_a: Vec::new(),
            events_b: Vec::new(),
            split: usize::MAX,
            auto_open: true,
            pending_opens: Vec::new(),
            resets: BTreeMap::new(),
            fins: Vec::new(),
            next_stream: 0,
        }
    }

    pub(crate) fn lean() -> Self {
        Self::new(Config::lean(), Config::lean())
    }

    /// Opens a held `Open` op (a → b).
    pub(crate) fn open(&mut self, now: Instant, op: StreamOp) {
        let StreamOp::Open {
            request, protocols, ..
        } = op
        else {
            panic!("not an open: {op:?}")
        };
        self.next_stream += 1;
        let key = StreamKey::new(7, self.next_stream);
        self.b
            .handle_stream_opened(now, self.pa, key, protocols[0].as_str())
            .unwrap();
        self.a
            .handle_outbound_stream_opened(now, request, key)
            .unwrap();
    }

    /// Moves operations between the machines until both are quiet.
    pub(crate) fn pump(&mut self, now: Instant) {
        loop {
            let mut progressed = false;
            while let Some(op) = self.a.poll_outbound() {
                progressed = true;
                match op {
                    StreamOp::Open { .. } if self.auto_open => self.open(now, op),
                    StreamOp::Open { .. } => self.pending_opens.push(op),
                    StreamOp::Write { stream, data } => {
                        for piece in data.chunks(self.split.max(1)) {
                            let _ = self.b.handle_stream_data(now, stream, piece);
                        }
                    }
                    StreamOp::Finish { stream } => {
                        self.fins.push(('a', stream));
                        let _ = self.b.handle_stream_finished(now, stream);
                    }
                    StreamOp::Reset { stream } => {
                        self.resets.insert(stream, 'a');
                        let _ = self.b.handle_stream_reset(now, stream);
                    }
                }
            }
            while let Some(op) = self.b.poll_outbound() {
                progressed = true;
                match op {
                    StreamOp::Open { .. } => panic!("b does not request in these tests"),
                    StreamOp::Write { stream, data } => {
                        for piece in data.chunks(self.split.max(1)) {
                            let _ = self.a.handle_stream_data(now, stream, piece);
                        }
                    }
                    StreamOp::Finish { stream } => {
                        self.fins.push(('b', stream));
                        let _ = self.a.handle_stream_finished(now, stream);
                    }
                    StreamOp::Reset { stream } => {
                        self.resets.insert(stream, 'b');
                        let _ = self.a.handle_stream_reset(now, stream);
                    }
                }
            }
            self.events_a.extend(drain_events(&mut self.a));
            self.events_b.extend(drain_events(&mut self.b));
            if !progressed {
                return;
            }
        }
    }

    /// Takes b's inbound requests seen so far.
    pub(crate) fn take_inbound(&mut self) -> Vec<(crate::ChannelId, bytes::Bytes)> {
        let mut out = Vec::new();
        self.events_b.retain(|e| match e {
            Event::InboundRequest { channel, body, .. } => {
                out.push((*channel, body.clone()));
                false
            }
            _ => true,
        });
        out
    }

    /// Asserts neither machine tracks anything any more.
    pub(crate) fn assert_idle(&self) {
        for m in [&self.a, &self.b] {
            assert_eq!(m.active_requests(), 0);
            assert_eq!(m.active_inbound(), 0);
            assert_eq!(m.tracked_streams(), 0);
        }
    }
}
