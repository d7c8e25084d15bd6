//! Plain fuzz entry point (feature `fuzzing`), used by the cargo-fuzz target
//! `perf_machine` and replayed by unit tests. It must never panic on any input.
//!
//! One [`PerfClient`] and one [`PerfServer`] over four stream ids (client stream `s`
//! talks to server stream `s`), driven by an arbitrary interleaving of every input:
//! start, stream opened / open failed, write taken (optionally delivered to the other
//! side) / write failed, end of stream delivered, raw data, raw end of stream, reset,
//! time. The harness plays the caller and drains both machines after every input, then
//! checks the contract: at most one write outstanding per stream, no `Finish` with a
//! write outstanding, writes within `write_chunk`, `poll_outbound` runs dry within a
//! bound, stream counts within `max_streams`, nothing dropped from the side queues, and
//! reports of writes that were never asked for refused.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::{PerfClient, PerfEvent, PerfLimits, PerfOp, PerfRequestId, PerfServer, HEADER_LEN};

/// Stream ids in use (`0..STREAMS`).
const STREAMS: u8 = 4;
/// Requests waiting for an `Open` answer that the harness remembers.
const MAX_OPENS: usize = 8;
/// Rounds of the "deliver everything" input.
const PUMP_ROUNDS: usize = 512;

const CLIENT: usize = 0;
const SERVER: usize = 1;

/// The transport of one side: what its machine handed out and the harness did not
/// carry out yet.
#[derive(Default)]
struct Wire {
    /// The write handed out and not reported yet, per stream.
    unacked: [Option<Bytes>; STREAMS as usize],
    /// A `Finish` handed out and not delivered to the other side yet, per stream.
    fin: [bool; STREAMS as usize],
}

/// What a run reached (the seeds are checked to reach deep states).
#[derive(Debug, Default, Clone, Copy)]
#[cfg_attr(not(test), allow(dead_code))]
struct Reached {
    completed: u64,
    served: u64,
    failed: u64,
    writes: u64,
}

struct Harness {
    client: PerfClient<u8>,
    server: PerfServer<u8>,
    wires: [Wire; 2],
    opens: Vec<PerfRequestId>,
    now: Instant,
    chunk: usize,
    max_streams: usize,
    uploads_started: u64,
    delivered_to_server: u64,
    reached: Reached,
}

/// `perf_machine`: the first byte picks the limits (bits 0-3: write chunk 1..=16,
/// bits 4-5: max streams 1..=4, bit 6: a 64-byte response limit); then each input is
/// an op byte and an argument byte (bits 0-1: stream, bits 2-5: which remembered
/// request, bit 6: server side, bit 7: also the other side / deliver), some followed by
/// more bytes. `t0` is the start time.
pub fn perf_machine(data: &[u8], t0: Instant) {
    run(data, t0);
}

fn run(data: &[u8], t0: Instant) -> Reached {
    let mut bytes = data.iter().copied();
    let cfg = bytes.next().unwrap_or(0);
    let limits = PerfLimits {
        max_streams: 1 + usize::from((cfg >> 4) & 3),
        write_chunk: 1 + usize::from(cfg & 0x0f),
        max_response_bytes: if cfg & 0x40 != 0 { 64 } else { u64::MAX },
    };
    let mut h = Harness {
        client: PerfClient::new(limits.clone()),
        server: PerfServer::new(limits.clone()),
        wires: Default::default(),
        opens: Vec::new(),
        now: t0,
        chunk: limits.write_chunk,
        max_streams: limits.max_streams,
        uploads_started: 0,
        delivered_to_server: 0,
        reached: Reached::default(),
    };
    while let Some(op) = bytes.next() {
        let arg = bytes.next().unwrap_or(0);
        let s = arg % STREAMS;
        let side = usize::from(arg & 0x40 != 0);
        let flag = arg & 0x80 != 0;
        let pick = usize::from((arg >> 2) & 0x0f);
        match op % 12 {
            0 => {
                let download = u64::from(bytes.next().unwrap_or(0));
                if h.client.start(h.now, u64::from(arg), download).is_ok() {
                    h.uploads_started += u64::from(arg);
                }
            }
            1 => h.stream_opened(pick, s, flag),
            2 => {
                if let Some(request) = h.take_open(pick) {
                    let _ = h.client.handle_open_failed(h.now, request);
                }
            }
            3 => h.written(side, s, flag),
            4 => h.write_failed(side, s),
            5 => h.deliver_fin(side, s),
            6 => {
                let len = usize::from(bytes.next().unwrap_or(0) % 32);
                let payload: Vec<u8> = bytes.by_ref().take(len).collect();
                h.data(side, s, &payload);
            }
            7 => {
                let _ = match side {
                    CLIENT => h.client.handle_finished(h.now, s),
                    _ => h.server.handle_finished(s),
                };
            }
            8 => h.reset(side, s),
            9 => {
                let _ = h.server.handle_stream_opened(s);
            }
            10 => h.now += Duration::from_millis(u64::from(arg)),
            _ => h.pump(),
        }
        h.drain();
    }
    h.reached
}

impl Harness {
    fn take_open(&mut self, pick: usize) -> Option<PerfRequestId> {
        if self.opens.is_empty() {
            return None;
        }
        Some(self.opens.remove(pick % self.opens.len()))
    }

    /// Answers a remembered `Open` with stream `s` (and opens `s` on the server too).
    fn stream_opened(&mut self, pick: usize, s: u8, server_too: bool) {
        let Some(request) = self.take_open(pick) else {
            return;
        };
        if server_too {
            let _ = self.server.handle_stream_opened(s);
        }
        if self.client.handle_stream_opened(self.now, request, s)
            == Err(crate::PerfError::DuplicateStream)
        {
            // Refused without a change: the request still waits for a stream.
            self.opens.push(request);
        }
    }

    /// Reports the outstanding write of `side` on `s` taken, and delivers its bytes to
    /// the other side if `deliver`. Without one, the report must be refused.
    fn written(&mut self, side: usize, s: u8, deliver: bool) {
        let Some(pending) = self.slot(side, s).take() else {
            let refused = match side {
                CLIENT => self.client.handle_written(self.now, s).is_err(),
                _ => self.server.handle_written(s).is_err(),
            };
            assert!(refused, "a write never asked for was reported and accepted");
            return;
        };
        let accepted = match side {
            CLIENT => self.client.handle_written(self.now, s).is_ok(),
            _ => self.server.handle_written(s).is_ok(),
        };
        assert!(accepted, "the outstanding write was not accepted");
        if deliver {
            self.data(1 - side, s, &pending);
        }
    }

    fn write_failed(&mut self, side: usize, s: u8) {
        self.slot(side, s).take();
        match side {
            CLIENT => self.client.handle_write_failed(self.now, s),
            _ => self.server.handle_write_failed(s),
        }
    }

    /// Delivers the end of stream `side` wrote on `s` to the other side.
    fn deliver_fin(&mut self, side: usize, s: u8) {
        let Some(fin) = self.wires[side].fin.get_mut(usize::from(s)) else {
            return;
        };
        if std::mem::take(fin) {
            let _ = match side {
                CLIENT => self.server.handle_finished(s),
                _ => self.client.handle_finished(self.now, s),
            };
        }
    }

    /// `payload` arrives at the `to` machine on `s`.
    fn data(&mut self, to: usize, s: u8, payload: &[u8]) {
        let _ = match to {
            CLIENT => self.client.handle_data(self.now, s, payload),
            _ => {
                self.delivered_to_server += payload.len() as u64;
                self.server.handle_data(s, payload)
            }
        };
    }

    fn reset(&mut self, side: usize, s: u8) {
        self.slot(side, s).take();
        match side {
            CLIENT => self.client.handle_reset(self.now, s),
            _ => self.server.handle_reset(s),
        }
    }

    /// Carries out and delivers everything outstanding until nothing moves.
    fn pump(&mut self) {
        for _ in 0..PUMP_ROUNDS {
            let mut moved = false;
            for side in [CLIENT, SERVER] {
                for s in 0..STREAMS {
                    if self.slot(side, s).is_some() {
                        self.written(side, s, true);
                        self.drain();
                        moved = true;
                    }
                    if self.wires[side].fin.get(usize::from(s)) == Some(&true) {
                        self.deliver_fin(side, s);
                        self.drain();
                        moved = true;
                    }
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn slot(&mut self, side: usize, s: u8) -> &mut Option<Bytes> {
        let wire = &mut self.wires[side % 2];
        let index = usize::from(s % STREAMS);
        &mut wire.unacked[index]
    }

    /// The drain rule for both machines, checking the contract on the way.
    fn drain(&mut self) {
        // Without `handle_written` calls in between, a drain hands out at most: the
        // queued resets (2 × max_streams), one `Open` per request and one op per stream.
        let bound = 4 * self.max_streams + 2;
        for side in [CLIENT, SERVER] {
            let mut n = 0;
            loop {
                let op = match side {
                    CLIENT => self.client.poll_outbound(),
                    _ => self.server.poll_outbound(),
                };
                let Some(op) = op else { break };
                n += 1;
                assert!(n <= bound, "poll_outbound does not run dry");
                self.on_op(side, op);
            }
            loop {
                let event = match side {
                    CLIENT => self.client.poll_event(),
                    _ => self.server.poll_event(),
                };
                let Some(event) = event else { break };
                self.on_event(side, event);
            }
        }
        let (c, s) = (self.client.stats(), self.server.stats());
        assert!(self.client.active() <= self.max_streams);
        assert!(self.server.active() <= self.max_streams);
        assert_eq!(
            c.outputs_dropped + s.outputs_dropped,
            0,
            "drained yet dropped"
        );
        assert!(c.bytes_sent <= self.uploads_started);
        assert!(s.bytes_received <= self.delivered_to_server);
    }

    fn on_op(&mut self, side: usize, op: PerfOp<u8>) {
        match op {
            PerfOp::Open { request } => {
                assert_eq!(side, CLIENT, "only the client opens streams");
                self.opens.push(request);
                if self.opens.len() > MAX_OPENS {
                    self.opens.remove(0);
                }
            }
            PerfOp::Write { stream, bytes } => {
                assert!(stream < STREAMS, "an op for a stream never used");
                assert!(!bytes.is_empty() && bytes.len() <= self.chunk.max(HEADER_LEN));
                if side == SERVER {
                    assert!(bytes.iter().all(|b| *b == 0));
                }
                let slot = self.slot(side, stream);
                assert!(slot.is_none(), "two writes outstanding on one stream");
                *slot = Some(bytes);
                self.reached.writes += 1;
            }
            PerfOp::Finish { stream } => {
                assert!(stream < STREAMS, "an op for a stream never used");
                assert!(self.slot(side, stream).is_none(), "finish before a write");
                if let Some(fin) = self.wires[side].fin.get_mut(usize::from(stream)) {
                    *fin = true;
                }
            }
            PerfOp::Reset { stream } => {
                assert!(stream < STREAMS, "an op for a stream never used");
                self.slot(side, stream).take();
                if let Some(fin) = self.wires[side].fin.get_mut(usize::from(stream)) {
                    *fin = false;
                }
            }
        }
    }

    fn on_event(&mut self, side: usize, event: PerfEvent<u8>) {
        match event {
            PerfEvent::Completed {
                uploaded,
                downloaded,
                ..
            } => {
                assert_eq!(side, CLIENT);
                assert!(uploaded <= self.uploads_started && downloaded <= 255);
                self.reached.completed += 1;
            }
            PerfEvent::Served { .. } => {
                assert_eq!(side, SERVER);
                self.reached.served += 1;
            }
            PerfEvent::Failed { stream, .. } => {
                // The machine forgot the stream: so does its transport.
                self.slot(side, stream).take();
                self.reached.failed += 1;
            }
            PerfEvent::OpenFailed { .. } => self.reached.failed += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeds committed as `fuzz/corpus/perf_machine/<name>`.
    pub(crate) const SEEDS: &[(&str, &[u8])] = &[
        // chunk 8, 2 streams: one request (20 up, 12 down) opened on both sides, pumped.
        ("roundtrip", &[0x17, 0, 20, 12, 1, 0x80, 11, 0]),
        // chunk 8, 4 streams: four requests of mixed sizes, pumped.
        (
            "many",
            &[
                0x37, 0, 30, 200, 0, 0, 17, 0, 100, 0, 0, 5, 5, 1, 0x80, 1, 0x81, 1, 0x82, 1, 0x83,
                11, 0,
            ],
        ),
        // 64-byte response limit: early data, truncated header, oversized request,
        // closed write, reset, bogus write reports, failed open, time.
        (
            "violations",
            &[
                0x57, 0, 10, 4, 1, 0x80, 6, 0x00, 1, 0, 9, 1, 6, 0x41, 3, 0, 0, 0, 7, 0x41, 9, 2,
                6, 0x42, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 1, 1, 0x83, 4,
                0x03, 8, 0x43, 3, 0x02, 3, 0x42, 0, 1, 1, 2, 0, 10, 200,
            ],
        ),
        // chunk 1, 4 streams: three requests whose writes are taken one at a time, in
        // an uneven order (stream 2 waits), then pumped.
        (
            "backpressure",
            &[
                0x30, 0, 40, 40, 0, 40, 40, 0, 40, 40, 1, 0x80, 1, 0x81, 1, 0x82, 3, 0x80, 3, 0x81,
                3, 0x80, 3, 0x80, 3, 0x81, 10, 5, 3, 0x82, 11, 0,
            ],
        ),
    ];

    #[test]
    fn seeds_reach_deep_states() {
        let t0 = Instant::now();
        let get = |name: &str| {
            let (_, data) = SEEDS.iter().find(|(n, _)| *n == name).unwrap();
            run(data, t0)
        };
        let r = get("roundtrip");
        assert_eq!((r.completed, r.served, r.failed), (1, 1, 0), "{r:?}");
        let r = get("many");
        assert_eq!((r.completed, r.served, r.failed), (4, 4, 0), "{r:?}");
        let r = get("violations");
        assert!(r.failed >= 5, "{r:?}");
        let r = get("backpressure");
        assert_eq!((r.completed, r.served), (3, 3), "{r:?}");
        assert!(r.writes > 3 * 80, "{r:?}");
    }

    #[test]
    fn committed_seeds_match() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/perf_machine");
        for (name, data) in SEEDS {
            let file = std::fs::read(dir.join(name)).unwrap();
            assert_eq!(&file[..], *data, "fuzz/corpus/perf_machine/{name} is stale");
        }
    }

    #[test]
    fn arbitrary_inputs_do_not_panic() {
        let t0 = Instant::now();
        let mut samples: Vec<Vec<u8>> = vec![
            vec![],
            vec![0xff; 64],
            (0u8..=255).collect(),
            (0u8..=255).rev().collect(),
        ];
        // A cheap deterministic spray of inputs.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..300 {
            let len = (x % 200) as usize;
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push((x >> 24) as u8);
            }
            samples.push(v);
        }
        for s in &samples {
            perf_machine(s, t0);
        }
    }
}
