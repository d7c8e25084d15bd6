//! `libp2p-gossip-node`: one rust-libp2p gossip node per process, the baseline of the
//! two-process node-to-node run (two `leanp2p node` processes against two of these;
//! `benches/compare.sh` runs both). The node is [`leanp2p_baseline::gossip`]'s, subscribed
//! to the lean block topic.
//!
//! ```text
//! libp2p-gossip-node --role listen --expect N [--msg-id sha256|lean]
//!                    [--encoding raw|snappy] [--run-secs S]
//! libp2p-gossip-node --role dial --peer MULTIADDR --count N --size BYTES
//!                    [--msg-id sha256|lean] [--encoding raw|snappy] [--run-secs S]
//! ```
//!
//! Defaults: `--msg-id sha256 --encoding raw`, as `leanp2p node --msg-id sha256
//! --gossip-encoding raw` in the comparison (with `snappy`, the listener decodes each
//! payload as `leanp2p node` does).
//!
//! ```text
//! ```
//!
//! Output: JSON lines on stdout shaped like `leanp2p node --json`'s (`event`, then `t_ms`,
//! milliseconds since start with µs precision).
//! * `listen`: `listening` {`addr` (dialable, ending in `/p2p/…`)}; one `gossip` line per
//!   message with the fields of `leanp2p node`'s (`topic`, `size`, `decoded_size`, `from`,
//!   `msg_id` hex, `latency_ms`, `seq`), so both receivers pay for the same output; when N
//!   messages arrived (or at `--run-secs`), `summary` {`gossip_received`,
//!   `gossip_received_bytes`, `first_ms`, `last_ms`, `cpu_s`, `max_rss_kib`} and exit (0 when
//!   all N arrived, else 3).
//! * `dial`: waits until the listener is in its mesh, `publish_start`, then publishes N
//!   messages back to back (payload as `leanp2p node` publishes it: 8 bytes send time in µs
//!   since the Unix epoch, 8 bytes sequence number, pseudo-random bytes). When every peer's
//!   send queue is full (`AllQueuesFull`, rust-libp2p's backpressure) it drives the swarm
//!   for up to 1 ms and retries the message, stamped anew (the refused bytes are in
//!   rust-libp2p's duplicate cache by then), as `leanp2p node` retries a publish its node
//!   pushed back on. Then `publish_done` {`published`, `errors`, `queue_full_waits`}
//!   and it keeps serving until `--run-secs` (the caller stops it once the listener exits).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context as _};
use futures::{FutureExt as _, StreamExt as _};
use leanp2p_baseline::gossip::{build_node, GossipNode, MsgId};
use leanp2p_baseline::{
    gossip_payload, resource_usage, snappy_compress, usage_error, Flags, BLOCK_TOPIC,
};
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, PublishError};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId};
use serde_json::{json, Value};

/// What to run.
enum Role {
    Listen {
        expect: u64,
    },
    Dial {
        peer: Multiaddr,
        count: u64,
        size: usize,
    },
}

struct Args {
    role: Role,
    msg_id: MsgId,
    /// Payloads are snappy blocks on the wire (`--encoding snappy`) or raw.
    snappy: bool,
    run_secs: u64,
}

fn parse_args() -> Result<Args, String> {
    let flags = Flags::parse(std::env::args().skip(1))?;
    flags.only(&[
        "role", "expect", "peer", "count", "size", "msg-id", "encoding", "run-secs",
    ])?;
    let role = match flags.get_str("role", "").as_str() {
        "listen" => Role::Listen {
            expect: flags.get("expect", 0)?,
        },
        "dial" => {
            let peer = flags.get_str("peer", "");
            let peer: Multiaddr = peer.parse().map_err(|e| format!("--peer {peer:?}: {e}"))?;
            let size: usize = flags.get("size", 1024)?;
            if !(16..=leanp2p_baseline::MAX_PAYLOAD_SIZE).contains(&size) {
                return Err("--size must be 16..=10485760".into());
            }
            Role::Dial {
                peer,
                count: flags.get("count", 0)?,
                size,
            }
        }
        other => return Err(format!("--role {other:?}: expected listen or dial")),
    };
    let snappy = match flags.get_str("encoding", "raw").as_str() {
        "raw" => false,
        "snappy" => true,
        other => return Err(format!("--encoding {other}: expected raw or snappy")),
    };
    Ok(Args {
        role,
        snappy,
        msg_id: MsgId::parse(&flags.get_str("msg-id", "sha256"))?,
        run_secs: flags.get("run-secs", 120)?,
    })
}

/// Prints one JSON line: `event`, `t_ms`, then the fields of `fields` (an object; its
/// keys come out sorted, as this crate's `serde_json` keeps no insertion order).
fn emit(start: Instant, event: &str, fields: Value) {
    let head = format!(
        "{{\"event\":{},\"t_ms\":{}",
        Value::from(event),
        json!(millis(start.elapsed()))
    );
    let rest = fields.to_string();
    match rest.strip_prefix('{').filter(|r| *r != "}") {
        Some(rest) => println!("{head},{rest}"),
        None => println!("{head}}}"),
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// (send time µs, sequence number) of a payload (after snappy, when it decodes).
fn header(data: &[u8]) -> Option<(u64, u64)> {
    let sent = u64::from_be_bytes(data.get(..8)?.try_into().ok()?);
    let seq = u64::from_be_bytes(data.get(8..16)?.try_into().ok()?);
    Some((sent, seq))
}

async fn listen(
    mut swarm: GossipNode,
    (expect, snappy): (u64, bool),
    limit: Duration,
    start: Instant,
) -> bool {
    let topic = IdentTopic::new(BLOCK_TOPIC);
    if let Err(e) = swarm.behaviour_mut().subscribe(&topic) {
        eprintln!("error: subscribe: {e}");
        return false;
    }
    let listen: Multiaddr = match "/ip4/127.0.0.1/udp/0/quic-v1".parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return false;
        }
    };
    if let Err(e) = swarm.listen_on(listen) {
        eprintln!("error: listen: {e}");
        return false;
    }
    let peer: PeerId = *swarm.local_peer_id();
    let (mut received, mut bytes) = (0u64, 0u64);
    let (mut first, mut last) = (None, None);
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    while expect == 0 || received < expect {
        let event = tokio::select! {
            event = swarm.select_next_some() => event,
            _ = &mut deadline => break,
        };
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                let addr = address.with(Protocol::P2p(peer));
                emit(start, "listening", json!({ "addr": addr.to_string() }));
            }
            SwarmEvent::Behaviour(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                swarm.behaviour_mut().report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    MessageAcceptance::Accept,
                );
                received += 1;
                bytes += message.data.len() as u64;
                let now = millis(start.elapsed());
                first.get_or_insert(now);
                last = Some(now);
                let decoded = snappy
                    .then(|| {
                        snap::raw::decompress_len(&message.data)
                            .ok()
                            .filter(|&n| n <= leanp2p_baseline::MAX_PAYLOAD_SIZE)
                            .and_then(|_| {
                                snap::raw::Decoder::new().decompress_vec(&message.data).ok()
                            })
                    })
                    .flatten();
                let payload = decoded.as_deref().unwrap_or(&message.data);
                let decoded_size = if snappy {
                    decoded.as_ref().map(Vec::len)
                } else {
                    Some(message.data.len())
                };
                let head = header(payload);
                let latency = head.and_then(|(sent, _)| {
                    unix_micros().checked_sub(sent).map(|us| us as f64 / 1e3)
                });
                emit(
                    start,
                    "gossip",
                    json!({
                        "topic": message.topic.as_str(),
                        "size": message.data.len(),
                        "decoded_size": decoded_size,
                        "from": propagation_source.to_string(),
                        "msg_id": hex(&message_id.0),
                        "latency_ms": latency,
                        "seq": head.map(|(_, seq)| seq),
                    }),
                );
            }
            _ => {}
        }
    }
    let (cpu_s, max_rss_kib) = resource_usage();
    emit(
        start,
        "summary",
        json!({
            "gossip_received": received,
            "gossip_received_bytes": bytes,
            "first_ms": first,
            "last_ms": last,
            "cpu_s": cpu_s,
            "max_rss_kib": max_rss_kib,
        }),
    );
    received >= expect
}

async fn dial(
    mut swarm: GossipNode,
    (peer, count, size, snappy): (Multiaddr, u64, usize, bool),
    limit: Duration,
    start: Instant,
) -> anyhow::Result<()> {
    let topic = IdentTopic::new(BLOCK_TOPIC);
    let hash = topic.hash();
    swarm.behaviour_mut().subscribe(&topic)?;
    swarm.listen_on("/ip4/127.0.0.1/udp/0/quic-v1".parse()?)?;
    swarm.dial(peer).context("dial")?;
    let deadline = start + limit;
    while swarm.behaviour().mesh_peers(&hash).next().is_none() {
        if Instant::now() >= deadline {
            return Err(anyhow!("the listener never joined the mesh"));
        }
        let _ = tokio::time::timeout(Duration::from_millis(10), swarm.select_next_some()).await;
    }
    emit(
        start,
        "publish_start",
        json!({ "topic": BLOCK_TOPIC, "count": count, "size": size, "interval_ms": 0 }),
    );
    let (mut published, mut errors, mut waits) = (0u64, 0u64, 0u64);
    for seq in 0..count {
        loop {
            // Stamped at each attempt, as `leanp2p node` does: rust-libp2p has already put a
            // message it refused with `AllQueuesFull` in its duplicate cache, so the same
            // bytes again would be refused as a duplicate.
            let mut data = gossip_payload(size, seq, unix_micros());
            if snappy {
                data = snappy_compress(&data).context("snappy")?;
            }
            match swarm.behaviour_mut().publish(topic.clone(), data) {
                Ok(_) => {
                    published += 1;
                    break;
                }
                Err(PublishError::AllQueuesFull(_)) => {
                    waits += 1;
                    let _ =
                        tokio::time::timeout(Duration::from_millis(1), swarm.select_next_some())
                            .await;
                }
                Err(_) => {
                    errors += 1;
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
    emit(
        start,
        "publish_done",
        json!({ "published": published, "errors": errors, "queue_full_waits": waits }),
    );
    let _ = tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), async {
        loop {
            swarm.select_next_some().await;
        }
    })
    .await;
    Ok(())
}

fn main() {
    let start = Instant::now();
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
    let limit = Duration::from_secs(args.run_secs);
    let code = runtime.block_on(async move {
        let swarm = match build_node(args.msg_id) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e:#}");
                return 1;
            }
        };
        match args.role {
            Role::Listen { expect } => {
                if listen(swarm, (expect, args.snappy), limit, start).await {
                    0
                } else {
                    3
                }
            }
            Role::Dial { peer, count, size } => {
                match dial(swarm, (peer, count, size, args.snappy), limit, start).await {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("error: {e:#}");
                        1
                    }
                }
            }
        }
    });
    // Exit at once: tearing the swarm down is not part of the measurement.
    std::process::exit(code);
}
