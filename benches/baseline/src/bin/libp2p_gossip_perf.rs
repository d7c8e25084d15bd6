//! `libp2p-gossip-perf`: the gossip baseline. Two rust-libp2p 0.57 nodes (QUIC,
//! gossipsub, secp256k1 keys) in one process on 127.0.0.1, set up as
//! [`leanp2p_baseline::gossip`] describes (the Ethereum way) with the lean message id
//! (snappy-decompressed payload under a domain, SHA-256, 20 bytes) and
//! snappy-block-compressed payloads. The publisher waits
//! until the receiver is in its mesh, then publishes `--count` messages of `--size`
//! bytes back to back; the receiver counts them. Prints one JSON object with the fields
//! of `leanp2p perf`; rates run from the first publish to the last receipt.
//!
//! ```text
//! libp2p-gossip-perf --workload gossip --size 307200 --count 200 [--run-secs 120]
//!                    [--encoding snappy|raw] [--fill random|zeros] [--window auto|N]
//! ```
//!
//! Payload: `--fill random` (default) is shaped like `leanp2p node`'s (8-byte send time,
//! 8-byte sequence number, pseudo-random bytes); `--fill zeros` like `leanp2p perf`'s
//! gossip workload (8-byte sequence number, then zeros). `--encoding snappy` (default)
//! publishes the snappy block of it, as Ethereum clients do; `raw` publishes it as is
//! (the lean message id then hashes the raw bytes under the invalid-snappy domain, as
//! leanp2p does for the same bytes).
//!
//! Like `leanp2p perf`, the publisher keeps at most a window of messages in flight
//! (published but not yet received): `--window auto` (default) is leanp2p's rule,
//! 8 MiB / size clamped to 4..=256 messages; `--window 0` publishes without a window,
//! leaving all backpressure to rust-libp2p's send queue (its peak RSS then includes
//! every queued message).
//!
//! When every peer's send queue is full (`PublishError::AllQueuesFull`, rust-libp2p's
//! backpressure), the publisher drives its swarm for up to 1 ms and tries the same
//! message again; `queue_full_waits` counts those waits. `bytes` and `mb_per_s` count
//! uncompressed payload bytes received; `wire_bytes` the published (possibly compressed)
//! ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context as _};
use futures::{FutureExt as _, StreamExt as _};
use leanp2p_baseline::gossip::{build_node, GossipNode as Node, MsgId};
use leanp2p_baseline::{
    gossip_payload, result_json, snappy_compress, usage_error, Flags, BLOCK_TOPIC, MAX_PAYLOAD_SIZE,
};
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, PublishError};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{oneshot, Notify};

struct Args {
    size: usize,
    count: u64,
    run_secs: u64,
    payload: Payload,
    /// Most messages in flight; 0 = no limit.
    window: u64,
}

/// leanp2p perf's window: 8 MiB worth of messages, at least 4 and at most 256.
fn auto_window(size: usize) -> u64 {
    ((8usize << 20) / size.max(1)).clamp(4, 256) as u64
}

/// What the publisher puts in each message.
#[derive(Clone, Copy)]
struct Payload {
    snappy: bool,
    zeros: bool,
}

impl Payload {
    /// The bytes published as message `seq` of `size` uncompressed bytes.
    fn make(self, size: usize, seq: u64) -> anyhow::Result<Vec<u8>> {
        let payload = if self.zeros {
            let mut data = vec![0u8; size];
            data[..8].copy_from_slice(&seq.to_be_bytes());
            data
        } else {
            gossip_payload(size, seq, unix_micros())
        };
        if self.snappy {
            snappy_compress(&payload).context("snappy")
        } else {
            Ok(payload)
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.only(&[
        "workload", "size", "count", "run-secs", "encoding", "fill", "window",
    ])?;
    let workload = flags.get_str("workload", "gossip");
    if workload != "gossip" {
        return Err(format!(
            "--workload {workload}: libp2p-gossip-perf runs only gossip"
        ));
    }
    let size: usize = flags.get("size", 1024)?;
    if !(16..=MAX_PAYLOAD_SIZE).contains(&size) {
        return Err(format!("--size must be 16..={MAX_PAYLOAD_SIZE}"));
    }
    let count: u64 = flags.get("count", 1000)?;
    if count == 0 {
        return Err("--count must be at least 1".into());
    }
    let snappy = match flags.get_str("encoding", "snappy").as_str() {
        "snappy" => true,
        "raw" => false,
        other => return Err(format!("--encoding {other}: expected snappy or raw")),
    };
    let zeros = match flags.get_str("fill", "random").as_str() {
        "random" => false,
        "zeros" => true,
        other => return Err(format!("--fill {other}: expected random or zeros")),
    };
    let window = match flags.get_str("window", "auto").as_str() {
        "auto" => auto_window(size),
        n => n
            .parse()
            .map_err(|_| format!("--window {n}: expected auto or a number"))?,
    };
    Ok(Args {
        size,
        count,
        run_secs: flags.get("run-secs", 120)?,
        payload: Payload { snappy, zeros },
        window,
    })
}

/// What the receiver saw, shared with the main task (read on timeout too).
#[derive(Default)]
struct Received {
    msgs: AtomicU64,
    wire_bytes: AtomicU64,
    /// Signalled on every receipt (the publisher waits on it at its window).
    progress: Notify,
}

/// Drives the receiving node: accepts and counts every message; reports the instant of
/// the `count`-th.
async fn receiver(
    mut swarm: Node,
    count: u64,
    seen: Arc<Received>,
    done: oneshot::Sender<Instant>,
) {
    let mut done = Some(done);
    loop {
        let event = swarm.select_next_some().await;
        if let SwarmEvent::Behaviour(gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        }) = event
        {
            swarm.behaviour_mut().report_message_validation_result(
                &message_id,
                &propagation_source,
                MessageAcceptance::Accept,
            );
            seen.wire_bytes
                .fetch_add(message.data.len() as u64, Ordering::Relaxed);
            let n = seen.msgs.fetch_add(1, Ordering::AcqRel) + 1;
            seen.progress.notify_one();
            if n == count {
                if let Some(tx) = done.take() {
                    let _ = tx.send(Instant::now());
                }
            }
        }
    }
}

/// Counters of the publishing side.
#[derive(Default)]
struct Published {
    ok: AtomicU64,
    errors: AtomicU64,
    queue_full_waits: AtomicU64,
    window_waits: AtomicU64,
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Drives the publishing node: dials, waits for the receiver in its mesh, reports the
/// start instant, publishes `count` messages back to back, then keeps driving.
async fn publisher(
    mut swarm: Node,
    dial: Multiaddr,
    args: (usize, u64, Payload, u64),
    stats: Arc<Published>,
    seen: Arc<Received>,
    started: oneshot::Sender<Instant>,
) -> anyhow::Result<()> {
    let (size, count, payload, window) = args;
    let topic = IdentTopic::new(BLOCK_TOPIC);
    let hash = topic.hash();
    swarm.dial(dial).context("dial")?;
    while swarm.behaviour().mesh_peers(&hash).next().is_none() {
        let _ = tokio::time::timeout(Duration::from_millis(10), swarm.select_next_some()).await;
    }
    let start = Instant::now();
    let _ = started.send(start);
    for seq in 0..count {
        // At the window: drive the swarm until the receiver has caught up by one.
        while window > 0 && seq.saturating_sub(seen.msgs.load(Ordering::Acquire)) >= window {
            stats.window_waits.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = seen.progress.notified() => {}
                _ = swarm.select_next_some() => {}
            }
        }
        let data = payload.make(size, seq)?;
        loop {
            match swarm.behaviour_mut().publish(topic.clone(), data.clone()) {
                Ok(_) => {
                    stats.ok.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(PublishError::AllQueuesFull(_)) => {
                    stats.queue_full_waits.fetch_add(1, Ordering::Relaxed);
                    let _ =
                        tokio::time::timeout(Duration::from_millis(1), swarm.select_next_some())
                            .await;
                }
                Err(_) => {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        if seq % 32 == 31 {
            // Handle whatever the swarm has ready, and let other tasks run.
            while swarm.select_next_some().now_or_never().is_some() {}
            tokio::task::yield_now().await;
        }
    }
    loop {
        swarm.select_next_some().await;
    }
}

/// Starts the receiver listening on 127.0.0.1 and returns its dialable address.
async fn listen(swarm: &mut Node) -> anyhow::Result<Multiaddr> {
    swarm.listen_on("/ip4/127.0.0.1/udp/0/quic-v1".parse()?)?;
    loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            let peer: PeerId = *swarm.local_peer_id();
            return Ok(address.with(Protocol::P2p(peer)));
        }
    }
}

async fn run(args: Args) -> anyhow::Result<(serde_json::Map<String, serde_json::Value>, bool)> {
    let limit = Duration::from_secs(args.run_secs);
    let setup = Instant::now();
    let topic = IdentTopic::new(BLOCK_TOPIC);
    let mut rx = build_node(MsgId::Lean)?;
    let mut tx = build_node(MsgId::Lean)?;
    rx.behaviour_mut().subscribe(&topic)?;
    tx.behaviour_mut().subscribe(&topic)?;
    let addr = listen(&mut rx).await?;

    let seen = Arc::new(Received::default());
    let published = Arc::new(Published::default());
    let (done_tx, done_rx) = oneshot::channel();
    let (start_tx, start_rx) = oneshot::channel();
    tokio::spawn(receiver(rx, args.count, seen.clone(), done_tx));
    let publisher_task = tokio::spawn(publisher(
        tx,
        addr,
        (args.size, args.count, args.payload, args.window),
        published.clone(),
        seen.clone(),
        start_tx,
    ));

    let start = match tokio::time::timeout(limit, start_rx).await {
        Ok(Ok(start)) => start,
        _ => {
            if publisher_task.is_finished() {
                publisher_task.await??;
            }
            return Err(anyhow!("the receiver never joined the publisher's mesh"));
        }
    };
    let ready_s = start.duration_since(setup).as_secs_f64();
    let remaining = limit.saturating_sub(setup.elapsed());
    let (end, complete) = match tokio::time::timeout(remaining, done_rx).await {
        Ok(Ok(end)) => (end, true),
        _ => (Instant::now(), false),
    };
    let msgs = seen.msgs.load(Ordering::Relaxed).min(args.count);
    let mut out = result_json(
        "gossip",
        "rust-libp2p",
        msgs * args.size as u64,
        Some(msgs),
        end.duration_since(start),
    );
    out.insert("size".into(), args.size.into());
    out.insert(
        "encoding".into(),
        if args.payload.snappy { "snappy" } else { "raw" }.into(),
    );
    out.insert(
        "fill".into(),
        if args.payload.zeros {
            "zeros"
        } else {
            "random"
        }
        .into(),
    );
    out.insert("count".into(), args.count.into());
    out.insert("received".into(), msgs.into());
    out.insert(
        "published".into(),
        published.ok.load(Ordering::Relaxed).into(),
    );
    out.insert(
        "publish_errors".into(),
        published.errors.load(Ordering::Relaxed).into(),
    );
    out.insert(
        "queue_full_waits".into(),
        published.queue_full_waits.load(Ordering::Relaxed).into(),
    );
    out.insert("window".into(), args.window.into());
    out.insert(
        "window_waits".into(),
        published.window_waits.load(Ordering::Relaxed).into(),
    );
    out.insert(
        "wire_bytes".into(),
        seen.wire_bytes.load(Ordering::Relaxed).into(),
    );
    out.insert(
        "mesh_ready_s".into(),
        leanp2p_baseline::round3(ready_s).into(),
    );
    Ok((out, complete))
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| usage_error(&e));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok((out, complete)) => {
            println!("{}", serde_json::Value::Object(out));
            if !complete {
                eprintln!("error: not every message arrived within --run-secs");
            }
            // Exit at once: tearing the swarms down is not part of the measurement.
            std::process::exit(if complete { 0 } else { 3 });
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
