//! One case: a victim, a raw attacker (`hostile/raw.rs`) connected to it, and one flood
//! offered at a fixed rate for a fixed time, followed by a drain; the victim thread's
//! CPU time, the bytes QUIC took from the attacker and the process's resident set are
//! measured around it.

use std::time::{Duration, Instant};

use leanp2p_gossipsub::wire::encode_rpc_frame;
use leanp2p_gossipsub::wire::proto::{ControlIDontWant, ControlMessage, Rpc, SubOpts};
use leanp2p_host::Bytes;
use leanp2p_quic::{ConnId, StreamId};

use crate::raw::{RawOptions, RawPeer, MESHSUB, PING};
use crate::support::{rss_kib, status_kib, threads, wait_for, WAIT_LIMIT};
use crate::victims::{topic_string, Kind, Victim};

/// The floods (and the idle baseline).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flood {
    /// Attacker connected and subscribed, sending nothing: the victim's own cost.
    Idle,
    /// RPCs of 1,000 alternating UNSUBSCRIBE/SUBSCRIBE changes of the block topic.
    Toggle,
    /// The same changes one per RPC (1,000 RPCs per write), so a receiver cannot
    /// cancel a pair inside one RPC (rust-libp2p's subscription filter drops a topic
    /// whose actions disagree within an RPC).
    ToggleFrames,
    /// RPCs of 10 IDONTWANT entries × 5,000 fresh 20-byte ids (~1.1 MB each).
    IDontWant,
    /// RPCs of one IDONTWANT entry of 700 fresh ids (~15 KB, under rust-libp2p's
    /// 16 KiB `max_control_message_size`), 64 RPCs per write.
    IDontWantSmall,
    /// 64 KiB writes on two ping streams, the attacker granting 2 KiB of stream credit
    /// and never reading.
    Pings,
}

impl Flood {
    pub const ALL: [Flood; 6] = [
        Flood::Idle,
        Flood::Toggle,
        Flood::ToggleFrames,
        Flood::IDontWant,
        Flood::IDontWantSmall,
        Flood::Pings,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Flood::Idle => "idle",
            Flood::Toggle => "sub/unsub, 1,000 per RPC",
            Flood::ToggleFrames => "sub/unsub, 1 per RPC",
            Flood::IDontWant => "IDONTWANT, 1.1 MB RPCs",
            Flood::IDontWantSmall => "IDONTWANT, 15 KB RPCs",
            Flood::Pings => "pings, no credit",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Flood::Idle => "idle",
            Flood::Toggle => "toggle",
            Flood::ToggleFrames => "toggle-frames",
            Flood::IDontWant => "idontwant",
            Flood::IDontWantSmall => "idontwant-small",
            Flood::Pings => "pings",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.key() == key)
    }
}

/// How hard and how long.
#[derive(Clone, Copy, Debug)]
pub struct Offer {
    /// Bytes per second handed to the attacker's QUIC streams (the same for both
    /// victims).
    pub rate: u64,
    /// How long the flood is offered.
    pub duration: Duration,
    /// Time after the flood still measured (the victim working off what it took).
    pub drain: Duration,
}

/// What one case measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Bytes QUIC took from the attacker's flood streams (flow control admitted them).
    pub written: u64,
    /// CPU time of the victim's thread over flood + drain.
    pub victim_cpu_ns: u64,
    /// CPU time of the process's other threads, except the attacker and this one.
    pub other_cpu_ns: u64,
    /// CPU time of the attacker's thread.
    pub attacker_cpu_ns: u64,
    /// Resident set before the flood, its peak while sampled every 50 ms, and after the
    /// drain (KiB).
    pub rss_before_kib: u64,
    pub rss_peak_kib: u64,
    pub rss_after_kib: u64,
    /// Events the victim's loop handled during the window.
    pub events: u64,
    /// Whether the victim closed the attacker's connection.
    pub closed: bool,
    /// Flood streams the victim reset or stopped (each replaced by a new one).
    pub reopens: u64,
}

impl Outcome {
    /// `key=value` fields on one line, read back by [`Outcome::parse`].
    pub fn line(&self) -> String {
        format!(
            "written={} victim_cpu_ns={} other_cpu_ns={} attacker_cpu_ns={} rss_before_kib={} \
             rss_peak_kib={} rss_after_kib={} events={} closed={} reopens={}",
            self.written,
            self.victim_cpu_ns,
            self.other_cpu_ns,
            self.attacker_cpu_ns,
            self.rss_before_kib,
            self.rss_peak_kib,
            self.rss_after_kib,
            self.events,
            u8::from(self.closed),
            self.reopens
        )
    }

    pub fn parse(line: &str) -> Option<Self> {
        let mut out = Outcome::default();
        for field in line.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            let value: u64 = value.parse().ok()?;
            match key {
                "written" => out.written = value,
                "victim_cpu_ns" => out.victim_cpu_ns = value,
                "other_cpu_ns" => out.other_cpu_ns = value,
                "attacker_cpu_ns" => out.attacker_cpu_ns = value,
                "rss_before_kib" => out.rss_before_kib = value,
                "rss_peak_kib" => out.rss_peak_kib = value,
                "rss_after_kib" => out.rss_after_kib = value,
                "events" => out.events = value,
                "closed" => out.closed = value != 0,
                "reopens" => out.reopens = value,
                _ => {}
            }
        }
        Some(out)
    }
}

/// `changes` changes of the block topic, alternating from `first`.
fn subscription_rpc(changes: usize, first: bool) -> Rpc {
    Rpc {
        subscriptions: (0..changes)
            .map(|i| SubOpts {
                subscribe: Some(first == (i % 2 == 0)),
                topic_id: Some(topic_string()),
                ..SubOpts::default()
            })
            .collect(),
        ..Rpc::default()
    }
}

/// 1,000 one-change RPCs, unsubscribe first, so the batch ends subscribed.
fn toggle_frames() -> Bytes {
    let mut batch = Vec::new();
    for i in 0..1_000 {
        batch.extend_from_slice(&encode_rpc_frame(&subscription_rpc(1, i % 2 == 1)));
    }
    Bytes::from(batch)
}

/// An IDONTWANT RPC of `entries` × `ids` fresh ids.
fn idontwant_rpc(next_id: &mut u64, entries: usize, ids: usize) -> Bytes {
    let idontwant = (0..entries)
        .map(|_| ControlIDontWant {
            message_ids: (0..ids)
                .map(|_| {
                    *next_id += 1;
                    let mut id = vec![0xdd; 20];
                    id[..8].copy_from_slice(&next_id.to_le_bytes());
                    id
                })
                .collect(),
        })
        .collect();
    encode_rpc_frame(&Rpc {
        control: Some(ControlMessage {
            idontwant,
            ..ControlMessage::default()
        }),
        ..Rpc::default()
    })
}

/// The attacker, connected, with the streams its flood writes on.
struct Attacker {
    raw: RawPeer,
    conn: ConnId,
    streams: Vec<StreamId>,
}

fn attacker(victim: &Victim, flood: Flood) -> Attacker {
    let options = match flood {
        Flood::Pings => RawOptions {
            stream_receive_window: 2048,
            ..RawOptions::default()
        },
        _ => RawOptions::default(),
    };
    let raw = RawPeer::start(30, options, None);
    let conn = raw.connect(victim.addr, victim.peer);
    let streams = match flood {
        Flood::Pings => (0..2)
            .map(|_| {
                raw.with(move |s, _| {
                    let stream = s.open(conn, PING, &[0x70; 32])?;
                    s.unread.insert((conn, stream));
                    Some(stream)
                })
                .expect("open a ping stream")
            })
            .collect(),
        _ => {
            let hello = encode_rpc_frame(&subscription_rpc(1, true));
            let stream = raw
                .with(move |s, _| s.open(conn, MESHSUB, &hello))
                .expect("open /meshsub");
            let tally = victim.tally.clone();
            wait_for(
                "the victim to see the attacker subscribe",
                WAIT_LIMIT,
                || tally.subscribed.load(std::sync::atomic::Ordering::Relaxed) > 0,
            );
            vec![stream]
        }
    };
    Attacker { raw, conn, streams }
}

/// Unsent bytes the attacker keeps queued per stream at most (beyond them, the flood is
/// not offered: the victim's flow control is holding it back).
fn backlog(flood: Flood) -> usize {
    match flood {
        Flood::IDontWant => 4 << 20,
        Flood::Pings => 256 * 1024,
        _ => 1 << 20,
    }
}

/// Runs `flood` against a fresh `kind` victim and measures it.
pub fn run_case(kind: Kind, flood: Flood, offer: Offer) -> (Outcome, String) {
    let victim = Victim::start(kind);
    let attack = attacker(&victim, flood);
    // Let the connection settle (identify, the victim's own streams, first heartbeats).
    std::thread::sleep(Duration::from_millis(1500));
    let (conn, mut streams) = (attack.conn, attack.streams.clone());
    let mut reopens = 0u64;
    // Unsubscribe first, so an even count ends subscribed.
    let toggles = encode_rpc_frame(&subscription_rpc(1_000, false));
    let toggle_frames = toggle_frames();
    let ping_chunk = Bytes::from(vec![0x70u8; 64 * 1024]);
    let mut next_id = 0u64;

    let me = crate::support::current_tid();
    let before = threads();
    let written_before = attack.raw.with(|s, _| s.written);
    let events_before = victim
        .tally
        .events
        .load(std::sync::atomic::Ordering::Relaxed);
    let rss_before = rss_kib();
    let mut rss_peak = rss_before;
    let start = Instant::now();
    let mut offered = 0u64;
    let mut turn = 0usize;
    while start.elapsed() < offer.duration {
        let due = (offer.rate as f64 * start.elapsed().as_secs_f64()) as u64;
        while flood != Flood::Idle && offered < due {
            let slot = turn % streams.len();
            let stream = streams[slot];
            turn += 1;
            let frame = match flood {
                Flood::Toggle => toggles.clone(),
                Flood::ToggleFrames => toggle_frames.clone(),
                Flood::IDontWant => idontwant_rpc(&mut next_id, 10, 5_000),
                Flood::IDontWantSmall => {
                    let mut batch = Vec::new();
                    for _ in 0..64 {
                        batch.extend_from_slice(&idontwant_rpc(&mut next_id, 1, 700));
                    }
                    Bytes::from(batch)
                }
                _ => ping_chunk.clone(),
            };
            let len = frame.len() as u64;
            let limit = backlog(flood);
            let protocol = if flood == Flood::Pings { PING } else { MESHSUB };
            let (taken, reopened) = attack.raw.with(move |s, _| {
                if s.resets.contains(&(conn, stream)) {
                    // The victim gave the stream up: a new one, the flood going on.
                    let Some(new) = s.open(conn, protocol, &frame) else {
                        return (false, None);
                    };
                    if protocol == PING {
                        s.unread.insert((conn, new));
                    }
                    return (true, Some(new));
                }
                let room = s.queued(conn, stream) < limit;
                if room {
                    s.write(conn, stream, frame);
                }
                (room, None)
            });
            if let Some(new) = reopened {
                streams[slot] = new;
                reopens += 1;
            }
            if !taken {
                // Held back by the victim: what is not offered now is not owed later.
                offered = due;
                break;
            }
            offered += len;
        }
        rss_peak = rss_peak.max(rss_kib());
        std::thread::sleep(Duration::from_millis(10));
    }
    let flood_end = Instant::now();
    while flood_end.elapsed() < offer.drain {
        rss_peak = rss_peak.max(rss_kib());
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = threads();
    let (written, closed) = attack
        .raw
        .with(move |s, _| (s.written, !s.conns.contains_key(&conn)));
    let rss_after = rss_kib();
    let cpu = |tid: u32| {
        let end = after.get(&tid).map_or(0, |(_, ns)| *ns);
        let begin = before.get(&tid).map_or(0, |(_, ns)| *ns);
        end.saturating_sub(begin)
    };
    let victim_cpu = cpu(victim.tid);
    let mut outcome = Outcome {
        written: written - written_before,
        victim_cpu_ns: victim_cpu,
        rss_before_kib: rss_before,
        rss_peak_kib: rss_peak.max(rss_after),
        rss_after_kib: rss_after,
        events: victim
            .tally
            .events
            .load(std::sync::atomic::Ordering::Relaxed)
            - events_before,
        closed,
        reopens,
        ..Outcome::default()
    };
    for (tid, (name, _)) in &after {
        if *tid == victim.tid || *tid == me {
            continue;
        }
        if name.starts_with("raw-") {
            outcome.attacker_cpu_ns += cpu(*tid);
        } else {
            outcome.other_cpu_ns += cpu(*tid);
        }
    }
    drop(attack);
    let report = victim.stop();
    eprintln!(
        "{} / {}: VmHWM {} KiB; {}",
        kind.name(),
        flood.key(),
        status_kib("VmHWM"),
        report
    );
    (outcome, report)
}
