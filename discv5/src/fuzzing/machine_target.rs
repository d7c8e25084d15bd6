//! The `discv5_machine` fuzz target: one [`Discv5`] (node B, with small caps so an
//! input can reach every bound) that has an established session with node A, a
//! handshake under way with node C, and requests in flight to A (PING, FINDNODE,
//! TALKREQ, a lookup's FINDNODE), fed a sequence of packets with time passing in
//! between. After every step the machine's documented bounds and bookkeeping are checked
//! (`Discv5::check_bounds`), its output is drained and checked (packet size, queue
//! caps, records per event, no `QueuedIo` deadline left after the drain).
//!
//! Input: chunks of `op, dt, len (u16 BE), payload[len]` (a short last payload is
//! taken as it is), at most [`MAX_STEPS`]. `op % 10` is the kind of step, `op / 10` its
//! selector; after the step the clock moves `dt × 8 ms` and due timers run:
//!
//! | kind | step |
//! |---|---|
//! | 0, 1, 2 | the payload as a raw datagram from A, from C, or from `10.0.0.(sel / 2)`; with `sel` odd its header is masked for B first (the fuzzer writes headers in clear) |
//! | 3 | the payload as a message plaintext sealed in A's real session |
//! | 4 | a response from A (PONG, NODES of records from a pool of signed ones, TALKRESP) to one of B's requests in flight (`sel` < 20) or to an ID from the payload |
//! | 5 | a request from A (PING, FINDNODE, TALKREQ), sealed in the session |
//! | 6 | a real packet (C's WHOAREYOU, A's handshake — a replay —, A's answers) XOR the payload |
//! | 7 | relay: B's last packets to A and C are delivered, and their answers back to B |
//! | 8 | a command on B (lookup, ping a pool record, FINDNODE, TALKREQ, a newer local record) |
//! | 9 | the clock jumps `payload[0]` seconds (liveness PINGs, refresh lookups, expiries) |

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use leanp2p_identity::{Enr, Keypair};

use super::{mask_header, new_machine, ADDR_A, ADDR_B, NODE_A_KEY, NODE_B_KEY};
use crate::machine::{Config, Discv5, Event, TimeoutReason, Transmit, LOOKUP_RESULTS};
use crate::message::{Message, RequestId, MAX_NODES_PER_MESSAGE};
use crate::node_id::NodeId;
use crate::packet::MAX_PACKET_SIZE;

/// Secret key of node C (any valid secp256k1 scalar).
const NODE_C_KEY: [u8; 32] = [0x33; 32];
const ADDR_C: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9002);
/// Chunks of one input that are run; the rest is ignored.
pub const MAX_STEPS: usize = 256;
/// B's packets to A and C kept for the relay step.
const MAX_OUTBOX: usize = 16;
/// Step kinds (`op % KINDS`).
const KINDS: u8 = 10;
/// Index of C's WHOAREYOU among the templates.
const TEMPLATE_WHOAREYOU: u8 = 0;
/// Index of A's handshake packet among the templates.
const TEMPLATE_HANDSHAKE: u8 = 2;
/// Index of A's first answer among the templates (PONG, NODES, TALKRESP, ... follow).
const TEMPLATE_ANSWERS: u8 = 3;

/// B's configuration: the default with small caps, so inputs reach every bound.
fn target_config() -> Config {
    Config {
        session_capacity: 4,
        contact_capacity: 8,
        max_active_requests: 16,
        max_challenges: 4,
        whoareyou_per_ip: 4,
        whoareyou_tracked_ips: 4,
        max_inbound_talk: 4,
        max_queued_transmits: 64,
        max_queued_events: 64,
        max_lookups: 2,
        pong_vote_threshold: 2,
        pong_vote_capacity: 4,
        ..Config::default()
    }
}

/// The three nodes and what the steps draw on; cloned per input.
#[derive(Clone)]
struct Fixture {
    t0: Instant,
    a: Discv5,
    b: Discv5,
    c: Discv5,
    /// B's packets to A and C not yet delivered (at most [`MAX_OUTBOX`]).
    outbox: Vec<Transmit>,
    /// B's requests in flight when the input starts.
    pending: Vec<RequestId>,
    /// Real packets to B with their sender (order: see the `TEMPLATE_*` indices).
    templates: Vec<(SocketAddr, Vec<u8>)>,
    /// Signed records for NODES answers: six on 127.0.0.1 (the last without `udp`), a
    /// newer record of A, B's own, C's.
    pool: Vec<Enr>,
    /// B's record with `seq` 2.
    b_next: Enr,
    /// Event kinds B emitted (tests check that seeds get somewhere).
    seen: BTreeSet<&'static str>,
    /// TALKREQs B was asked (every other one is answered, the rest expire).
    talks: u64,
}

fn fixture(t0: Instant) -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE.get_or_init(|| build(t0)).as_ref()
}

fn build(t0: Instant) -> Option<Fixture> {
    let helper = Config {
        table_ip_limits: None,
        ..Config::default()
    };
    let mut a = new_machine(t0, &NODE_A_KEY, ADDR_A.port(), 1, helper.clone())?;
    let mut b = new_machine(t0, &NODE_B_KEY, ADDR_B.port(), 2, target_config())?;
    let mut c = new_machine(t0, &NODE_C_KEY, ADDR_C.port(), 3, helper)?;
    let (a_id, c_id) = (a.local_id(), c.local_id());

    // A handshakes with B (A's packets kept: a random-key PING, then the handshake).
    let mut from_a = Vec::new();
    a.add_enr(b.local_enr().clone()).ok()?;
    a.ping(t0, b.local_id()).ok()?;
    for _ in 0..8 {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            moved = true;
            b.handle_packet(t0, ADDR_A, &t.bytes);
            from_a.push((ADDR_A, t.bytes));
        }
        while let Some(t) = b.poll_transmit() {
            moved = true;
            a.handle_packet(t0, ADDR_B, &t.bytes);
        }
        if !moved {
            break;
        }
    }
    while a.poll_event().is_some() {}
    while b.poll_event().is_some() {}
    if !b.has_session(&a_id, ADDR_A) || from_a.len() != 2 {
        return None;
    }

    // B pings C; C's WHOAREYOU is kept, not delivered.
    b.add_enr(c.local_enr().clone()).ok()?;
    b.ping(t0, c_id).ok()?;
    while let Some(t) = b.poll_transmit() {
        c.handle_packet(t0, ADDR_B, &t.bytes);
    }
    let whoareyou = c.poll_transmit()?;

    // B's requests to A: A answers them, the answers are kept.
    let ping = b.ping(t0, a_id).ok()?;
    let find = b.find_node(t0, a_id, &[256, 255, 254, 1]).ok()?;
    let talk = b.talk_request(t0, a_id, b"fuzz", b"request").ok()?;
    b.lookup(t0, NodeId([0x5a; 32])).ok()?;
    let mut id_bytes = [0u8; 8];
    id_bytes.copy_from_slice(talk.as_bytes());
    let talk_n = u64::from_be_bytes(id_bytes);
    let pending = vec![
        ping,
        find,
        talk,
        RequestId::from_u64(talk_n.wrapping_add(1)),
        RequestId::from_u64(talk_n.wrapping_add(2)),
    ];
    while let Some(t) = b.poll_transmit() {
        if t.dest == ADDR_A {
            a.handle_packet(t0, ADDR_B, &t.bytes);
        }
    }
    while let Some(event) = a.poll_event() {
        if let Event::TalkRequest { id, .. } = event {
            a.talk_response(t0, id, b"response").ok()?;
        }
    }
    let mut templates = vec![(ADDR_C, whoareyou.bytes)];
    templates.extend(from_a);
    while let Some(t) = a.poll_transmit() {
        templates.push((ADDR_A, t.bytes));
    }
    while b.poll_event().is_some() {}

    let mut pool = Vec::new();
    for i in 0..6u8 {
        let key = Keypair::from_secret_bytes(&[0x40 + i; 32]).ok()?;
        let mut builder = Enr::builder();
        builder.ip4(Ipv4Addr::LOCALHOST);
        if i < 5 {
            builder.udp4(9100 + u16::from(i));
        }
        pool.push(builder.build(&key).ok()?);
    }
    let a_key = Keypair::from_secret_bytes(&NODE_A_KEY).ok()?;
    let a_next = Enr::builder()
        .seq(2)
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(ADDR_A.port())
        .build(&a_key)
        .ok()?;
    pool.extend([a_next, b.local_enr().clone(), c.local_enr().clone()]);
    let b_key = Keypair::from_secret_bytes(&NODE_B_KEY).ok()?;
    let b_next = Enr::builder()
        .seq(2)
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(ADDR_B.port())
        .build(&b_key)
        .ok()?;
    Some(Fixture {
        t0,
        a,
        b,
        c,
        outbox: Vec::new(),
        pending,
        templates,
        pool,
        b_next,
        seen: BTreeSet::new(),
        talks: 0,
    })
}

/// Reads a payload front to back; past its end every byte is 0.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn rest(&mut self) -> &'a [u8] {
        self.take(self.0.len())
    }

    /// Log-distances from byte pairs, `% 258` (so 257, out of range, occurs too).
    fn distances(&mut self) -> Vec<u16> {
        self.rest()
            .chunks(2)
            .map(|p| u16::from_be_bytes([p[0], p.get(1).copied().unwrap_or(0)]) % 258)
            .collect()
    }
}

/// Splits off the next chunk: `(op, dt, payload, rest)`.
fn next_chunk(input: &[u8]) -> Option<(u8, u8, &[u8], &[u8])> {
    let [op, dt, hi, lo, rest @ ..] = input else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
    let (payload, rest) = rest.split_at(len);
    Some((*op, *dt, payload, rest))
}

impl Fixture {
    /// Seals `plaintext` in A's session with B and delivers it.
    fn seal(&mut self, now: Instant, plaintext: &[u8]) {
        let to_b = (self.b.local_id(), ADDR_B);
        if self.a.send_with_session(to_b, plaintext).is_some() {
            while let Some(t) = self.a.poll_transmit() {
                if t.dest == ADDR_B {
                    self.b.handle_packet(now, ADDR_A, &t.bytes);
                }
            }
        }
    }

    /// A request ID: one of B's requests in flight, or from the payload.
    fn request_id(&self, sel: u8, r: &mut Reader<'_>) -> RequestId {
        if sel < 20 && !self.pending.is_empty() {
            return self.pending[usize::from(sel) % self.pending.len()];
        }
        let len = usize::from(r.u8() % 9);
        RequestId::new(r.take(len)).unwrap_or(RequestId::from_u64(0))
    }

    fn response(&mut self, now: Instant, sel: u8, payload: &[u8]) {
        let mut r = Reader(payload);
        let id = self.request_id(sel, &mut r);
        let message = match r.u8() % 3 {
            0 => Message::Pong {
                id,
                enr_seq: u64::from(r.u8()),
                ip: IpAddr::V4(Ipv4Addr::new(r.u8(), r.u8(), r.u8(), r.u8())),
                port: u16::from_be_bytes([r.u8(), r.u8()]),
            },
            1 => {
                let total = u64::from(r.u8());
                let enrs = r
                    .rest()
                    .iter()
                    .filter_map(|&i| self.pool.get(usize::from(i) % (self.pool.len() + 1)))
                    .cloned()
                    .collect();
                Message::Nodes { id, total, enrs }
            }
            _ => Message::TalkResp {
                id,
                response: r.rest().to_vec(),
            },
        };
        self.seal(now, &message.encode());
    }

    fn request(&mut self, now: Instant, sel: u8, payload: &[u8]) {
        let mut r = Reader(payload);
        let id = RequestId::from_u64(u64::from(r.u8()));
        let message = match sel % 3 {
            0 => Message::Ping {
                id,
                enr_seq: u64::from(r.u8()),
            },
            1 => Message::FindNode {
                id,
                distances: r.distances(),
            },
            _ => {
                let len = usize::from(r.u8() % 8);
                let protocol = r.take(len).to_vec();
                Message::TalkReq {
                    id,
                    protocol,
                    request: r.rest().to_vec(),
                }
            }
        };
        self.seal(now, &message.encode());
    }

    fn command(&mut self, now: Instant, sel: u8, payload: &[u8]) {
        let mut r = Reader(payload);
        let a_id = self.a.local_id();
        match sel % 5 {
            0 => {
                let mut target = [0u8; 32];
                let bytes = r.take(32);
                target[..bytes.len()].copy_from_slice(bytes);
                let _ = self.b.lookup(now, NodeId(target));
            }
            1 => {
                let pick = usize::from(r.u8()) % self.pool.len();
                let enr = self.pool[pick].clone();
                let node = NodeId(enr.node_id());
                let _ = self.b.add_enr(enr);
                let _ = self.b.ping(now, node);
            }
            2 => {
                let _ = self.b.find_node(now, a_id, &r.distances());
            }
            3 => {
                let _ = self.b.talk_request(now, a_id, b"fuzz", r.rest());
            }
            _ => {
                let _ = self.b.update_local_enr(now, self.b_next.clone());
            }
        }
    }

    /// Delivers B's kept packets to A and C, and their answers back to B.
    fn relay(&mut self, now: Instant) {
        for t in std::mem::take(&mut self.outbox) {
            if t.dest == ADDR_A {
                self.a.handle_packet(now, ADDR_B, &t.bytes);
            } else if t.dest == ADDR_C {
                self.c.handle_packet(now, ADDR_B, &t.bytes);
            }
        }
        for (peer, from) in [(&mut self.a, ADDR_A), (&mut self.c, ADDR_C)] {
            while let Some(event) = peer.poll_event() {
                if let Event::TalkRequest { id, .. } = event {
                    let _ = peer.talk_response(now, id, b"answer");
                }
            }
            while let Some(t) = peer.poll_transmit() {
                if t.dest == ADDR_B {
                    self.b.handle_packet(now, from, &t.bytes);
                }
            }
        }
    }

    /// Runs one step; returns how far the clock jumps besides `dt`.
    fn step(&mut self, now: Instant, op: u8, payload: &[u8]) -> Duration {
        let (kind, sel) = (op % KINDS, op / KINDS);
        match kind {
            0..=2 => {
                let from = match kind {
                    0 => ADDR_A,
                    1 => ADDR_C,
                    _ => SocketAddr::from(([10, 0, 0, sel / 2], 30303)),
                };
                if sel % 2 == 1 {
                    let masked = mask_header(&self.b.local_id(), payload);
                    self.b.handle_packet(now, from, &masked);
                } else {
                    self.b.handle_packet(now, from, payload);
                }
            }
            3 => self.seal(now, payload),
            4 => self.response(now, sel, payload),
            5 => self.request(now, sel, payload),
            6 => {
                let Some((from, template)) = self
                    .templates
                    .get(usize::from(sel) % self.templates.len().max(1))
                else {
                    return Duration::ZERO;
                };
                let (from, mut bytes) = (*from, template.clone());
                for (byte, x) in bytes.iter_mut().zip(payload) {
                    *byte ^= x;
                }
                self.b.handle_packet(now, from, &bytes);
            }
            7 => self.relay(now),
            8 => self.command(now, sel, payload),
            _ => return Duration::from_secs(u64::from(Reader(payload).u8())),
        }
        Duration::ZERO
    }

    /// Checks B's bounds, drains its output (checking it), checks again.
    fn drain_and_check(&mut self, now: Instant) {
        check(&self.b);
        let config = target_config();
        let (mut transmits, mut events) = (0usize, 0usize);
        loop {
            let mut moved = false;
            while let Some(t) = self.b.poll_transmit() {
                moved = true;
                transmits += 1;
                assert!(t.bytes.len() <= MAX_PACKET_SIZE, "{} bytes", t.bytes.len());
                if (t.dest == ADDR_A || t.dest == ADDR_C) && self.outbox.len() < MAX_OUTBOX {
                    self.outbox.push(t);
                }
            }
            while let Some(event) = self.b.poll_event() {
                moved = true;
                events += 1;
                self.on_event(now, &event);
            }
            if !moved {
                break;
            }
            // Answering a TALKREQ queues a datagram: at most one per event.
            assert!(transmits <= config.max_queued_transmits + events);
            assert!(events <= config.max_queued_events * 2);
        }
        assert_ne!(self.b.timeout_reason(), Some(TimeoutReason::QueuedIo));
        check(&self.b);
    }

    fn on_event(&mut self, now: Instant, event: &Event) {
        let kind = match event {
            Event::SessionEstablished { .. } => "session",
            Event::Pong { .. } => "pong",
            Event::Nodes { enrs, .. } => {
                assert!(
                    enrs.len() <= MAX_NODES_PER_MESSAGE,
                    "{} records",
                    enrs.len()
                );
                "nodes"
            }
            Event::TalkRequest { id, .. } => {
                self.talks += 1;
                if self.talks % 2 == 0 {
                    let _ = self.b.talk_response(now, *id, b"ok");
                }
                "talk_request"
            }
            Event::TalkResponse { .. } => "talk_response",
            Event::EnrUpdated { .. } => "enr_updated",
            Event::LookupFinished { closest, .. } => {
                assert!(closest.len() <= LOOKUP_RESULTS, "{} records", closest.len());
                "lookup_finished"
            }
            Event::ExternalAddress { .. } => "external_address",
            Event::RequestFailed { .. } => "request_failed",
        };
        self.seen.insert(kind);
    }
}

fn check(machine: &Discv5) {
    if let Err(e) = machine.check_bounds() {
        panic!("discv5_machine: {e}");
    }
}

/// Runs `data` on a copy of the prepared machines and returns them.
fn run(data: &[u8], t0: Instant) -> Option<Fixture> {
    let mut state = fixture(t0)?.clone();
    let mut now = state.t0;
    let mut input = data;
    for _ in 0..MAX_STEPS {
        let Some((op, dt, payload, rest)) = next_chunk(input) else {
            break;
        };
        input = rest;
        let jump = state.step(now, op, payload);
        state.drain_and_check(now);
        now += jump + Duration::from_millis(u64::from(dt) * 8);
        if state.b.poll_timeout().is_some_and(|at| at <= now) {
            state.b.handle_timeout(now);
            state.drain_and_check(now);
        }
    }
    // Then every timer runs out: retries, failures, expiries, liveness, refresh.
    for secs in [1, 2, 5, 31, 61] {
        now += Duration::from_secs(secs);
        state.b.handle_timeout(now);
        state.drain_and_check(now);
    }
    Some(state)
}

/// Runs one input (see the module documentation). `t0` is the start time of the
/// prepared machines on the first call (the caller reads the clock; this crate never
/// does); the run itself depends only on `data`.
pub fn discv5_machine(data: &[u8], t0: Instant) {
    let _ = run(data, t0);
}

/// Encodes one chunk.
fn chunk(op: u8, dt: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    let mut out = vec![op, dt];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload[..usize::from(len)]);
    out
}

/// The `op` byte of a step of `kind` with selector `sel`.
const fn op(kind: u8, sel: u8) -> u8 {
    kind + KINDS * sel
}

/// Seed inputs for `fuzz/corpus/discv5_machine/` (name, bytes): real packets (a PING
/// sealed in the session, C's WHOAREYOU and the handshake it leads to, a replayed
/// handshake, A's PONG / NODES / TALKRESP), a NODES answer split in two parts, a TALKREQ
/// flood, a header written in clear, commands and long timeouts.
pub fn discv5_machine_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let relay = chunk(op(7, 0), 5, &[]);
    let mut clear_handshake = vec![0u8; 16];
    clear_handshake.extend_from_slice(b"discv5");
    clear_handshake.extend_from_slice(&[0, 1, 2]);
    clear_handshake.extend_from_slice(&[7; 12]);
    clear_handshake.extend_from_slice(&(34u16 + 64 + 33).to_be_bytes());
    clear_handshake.extend_from_slice(&[9; 32]);
    clear_handshake.extend_from_slice(&[64, 33]);
    clear_handshake.extend_from_slice(&[5; 64 + 33 + 16]);
    let seeds = [
        (
            "ping_sealed",
            [
                chunk(op(5, 0), 1, &[1, 1]),
                chunk(op(5, 0), 1, &[2, 9]),
                relay.clone(),
            ]
            .concat(),
        ),
        (
            "whoareyou_handshake",
            [
                chunk(op(6, TEMPLATE_WHOAREYOU), 1, &[]),
                relay.clone(),
                relay.clone(),
                relay.clone(),
            ]
            .concat(),
        ),
        (
            "handshake_replayed",
            [
                chunk(op(6, TEMPLATE_HANDSHAKE), 1, &[]),
                chunk(op(6, TEMPLATE_HANDSHAKE), 1, &[0, 0, 0, 0, 1]),
            ]
            .concat(),
        ),
        (
            "answers",
            (0..4)
                .map(|i| chunk(op(6, TEMPLATE_ANSWERS + i), 2, &[]))
                .collect::<Vec<_>>()
                .concat(),
        ),
        (
            "nodes_in_two_parts",
            [
                chunk(op(4, 1), 1, &[1, 2, 0, 1, 2, 6]),
                chunk(op(4, 1), 1, &[1, 2, 3, 4, 5, 7, 8]),
                chunk(
                    op(4, 3),
                    1,
                    &[1, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2, 3, 4, 5, 6],
                ),
            ]
            .concat(),
        ),
        (
            "talk_flood",
            [
                (0..12)
                    .map(|i| chunk(op(5, 2), 0, &[i, 4, b'f', b'u', b'z', b'z', i]))
                    .collect::<Vec<_>>()
                    .concat(),
                chunk(op(9, 0), 0, &[3]),
            ]
            .concat(),
        ),
        (
            "clear_headers",
            [
                chunk(op(0, 1), 1, &clear_handshake),
                chunk(op(2, 3), 1, &clear_handshake[..63]),
                chunk(op(1, 0), 1, &[0xff; 80]),
            ]
            .concat(),
        ),
        (
            "commands",
            [
                chunk(op(8, 0), 1, &[0xa5; 32]),
                chunk(op(8, 1), 1, &[2]),
                chunk(op(8, 2), 1, &[1, 0, 0, 0]),
                chunk(op(8, 4), 1, &[]),
                relay.clone(),
                relay,
                chunk(op(9, 0), 0, &[40]),
            ]
            .concat(),
        ),
        (
            "pong_votes",
            [
                chunk(op(4, 0), 1, &[0, 1, 1, 2, 3, 4, 0x23, 0x28]),
                chunk(
                    op(4, 20),
                    1,
                    &[8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 3, 1, 2, 3, 4, 0x23, 0x28],
                ),
            ]
            .concat(),
        ),
    ];
    seeds.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(name: &str) -> Vec<u8> {
        discv5_machine_seeds()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, bytes)| bytes)
            .unwrap()
    }

    #[test]
    fn the_fixture_has_a_session_a_handshake_and_requests_in_flight() {
        let f = fixture(Instant::now()).unwrap();
        assert!(f.b.has_session(&f.a.local_id(), ADDR_A));
        assert!(!f.b.has_session(&f.c.local_id(), ADDR_C));
        assert!(f.b.poll_timeout().is_some());
        assert_eq!(f.pending.len(), 5);
        // C's WHOAREYOU, A's random-key PING and handshake, then A's answers.
        assert!(f.templates.len() >= 6, "{}", f.templates.len());
        assert_eq!(f.templates[usize::from(TEMPLATE_WHOAREYOU)].0, ADDR_C);
        assert_eq!(f.templates[usize::from(TEMPLATE_HANDSHAKE)].0, ADDR_A);
        check(&f.b);
    }

    #[test]
    fn seeds_reach_where_they_are_meant_to() {
        let t0 = Instant::now();
        let state = run(&seed("whoareyou_handshake"), t0).unwrap();
        assert!(state.b.has_session(&state.c.local_id(), ADDR_C));
        assert!(state.seen.contains("session"), "{:?}", state.seen);
        let state = run(&seed("handshake_replayed"), t0).unwrap();
        assert!(state.b.stats().handshakes_unsolicited >= 1);
        let state = run(&seed("answers"), t0).unwrap();
        for kind in ["pong", "nodes", "talk_response"] {
            assert!(state.seen.contains(kind), "{kind}: {:?}", state.seen);
        }
        let state = run(&seed("nodes_in_two_parts"), t0).unwrap();
        assert!(state.seen.contains("nodes"), "{:?}", state.seen);
        assert!(state.b.stats().nodes_records_dropped > 0);
        let state = run(&seed("talk_flood"), t0).unwrap();
        assert!(state.b.stats().talk_requests_dropped >= 1);
        assert!(state.b.stats().talk_requests_expired >= 1);
        let state = run(&seed("ping_sealed"), t0).unwrap();
        assert!(state.seen.contains("enr_updated") || state.b.stats().packets_sent > 0);
        for (name, bytes) in discv5_machine_seeds() {
            assert!(run(&bytes, t0).is_some(), "{name}");
        }
    }

    /// A deterministic stand-in for the fuzzer on stable: the seeds mutated (byte flips,
    /// truncations, splices) and random chunk sequences.
    #[test]
    fn mutated_inputs_keep_every_bound() {
        use rand_core::{RngCore, SeedableRng};
        let t0 = Instant::now();
        let seeds: Vec<Vec<u8>> = discv5_machine_seeds().into_iter().map(|(_, b)| b).collect();
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([7; 32]);
        for round in 0..150 {
            let mut data = if round % 3 == 0 {
                let mut random = Vec::new();
                for _ in 0..(rng.next_u32() % 24) {
                    let mut payload = vec![0u8; (rng.next_u32() % 90) as usize];
                    rng.fill_bytes(&mut payload);
                    let op = (rng.next_u32() % 256) as u8;
                    random.extend(chunk(op, (rng.next_u32() % 64) as u8, &payload));
                }
                random
            } else {
                seeds[round % seeds.len()].clone()
            };
            for _ in 0..=(rng.next_u32() % 4) {
                let len = data.len().max(1);
                let at = rng.next_u32() as usize % len;
                match rng.next_u32() % 3 {
                    0 if !data.is_empty() => data[at] ^= 1 << (rng.next_u32() % 8),
                    1 => data.truncate(at),
                    _ => {
                        let other = &seeds[rng.next_u32() as usize % seeds.len()];
                        data.extend_from_slice(other);
                    }
                }
            }
            discv5_machine(&data, t0);
        }
    }

    /// Writes the seeds to `fuzz/corpus/discv5_machine/` (run by hand after changing
    /// them: `cargo test -p leanp2p-discv5 write_machine_corpus -- --ignored`).
    #[test]
    #[ignore]
    fn write_machine_corpus() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/discv5_machine");
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in discv5_machine_seeds() {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}
