//! The load generator: a thread that waits for mesh peers, then publishes through the
//! [`ReactorHandle`] (each publish runs on the reactor's thread and stamps the send time
//! there, right before `Node::publish`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_host::lean;
use leanp2p_mio::ReactorHandle;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use serde_json::json;

use super::args::{GossipEncoding, PublishPlan};
use super::session::{lock, Shared};
use crate::commands::workload::payload;

/// How often the mesh size is polled while waiting for `--publish-min-peers`.
const MESH_POLL: Duration = Duration::from_millis(50);
/// How long the publisher waits before retrying a publish the node pushed back on.
const BACKPRESSURE_RETRY: Duration = Duration::from_millis(2);

/// What one publish attempt came to.
enum Attempt {
    /// Accepted or failed for good (counted either way).
    Done,
    /// Refused with `PublishError::Backpressure`: retry the same message.
    Backpressured,
}

/// One publish attempt on the reactor's thread: stamps the send time, encodes, publishes
/// and counts the outcome.
fn attempt(
    node: &mut leanp2p_host::Node,
    topic: &leanp2p_host::TopicHash,
    encoding: GossipEncoding,
    mut body: Vec<u8>,
    seq: u64,
    shared: &Shared,
) -> Attempt {
    let now = Instant::now();
    payload::stamp(&mut body, payload::unix_micros(), seq);
    let data = match encoding {
        GossipEncoding::Raw => Ok(body),
        GossipEncoding::Snappy => {
            leanp2p_gossipsub::lean::snappy_compress(&body, lean::MAX_PAYLOAD_SIZE)
                .map_err(|e| e.to_string())
        }
    };
    let result = data.and_then(|data| {
        let len = data.len() as u64;
        match node.publish(now, topic, Bytes::from(data)) {
            Ok(_) => Ok(Some(len)),
            Err(leanp2p_host::PublishError::Backpressure { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    });
    let mut session = lock(shared);
    match result {
        Ok(Some(len)) => {
            session.counters.published += 1;
            session.counters.published_bytes += len;
            Attempt::Done
        }
        Ok(None) => {
            session.counters.publish_backpressured += 1;
            Attempt::Backpressured
        }
        Err(error) => {
            session.counters.publish_errors += 1;
            session.out.emit(
                "error",
                json!({ "where": "publish", "seq": seq, "error": error }),
            );
            Attempt::Done
        }
    }
}

/// Starts the publisher thread. `stopping` ends it early.
pub(crate) fn spawn(
    plan: PublishPlan,
    encoding: GossipEncoding,
    handle: ReactorHandle,
    shared: Shared,
    stopping: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("publisher".into())
        .spawn(move || publish_all(&plan, encoding, &handle, &shared, &stopping))
        .map(drop)
}

/// Runs `f` on the reactor's thread and waits (bounded) for its answer.
fn ask<T: Send + 'static>(
    handle: &ReactorHandle,
    f: impl FnOnce(&mut leanp2p_host::Node) -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    handle
        .run(move |node, _| {
            let _ = tx.send(f(node));
        })
        .ok()?;
    rx.recv_timeout(Duration::from_secs(5)).ok()
}

/// Mesh (or fanout) peers of `topic` plus direct peers subscribed to it (direct peers
/// are never in the mesh but always get our messages).
fn topic_peers(node: &leanp2p_host::Node, topic: &leanp2p_host::TopicHash) -> usize {
    let gossip = node.gossipsub();
    let direct = &node.config().gossipsub.direct_peers;
    let direct_subscribed = gossip
        .subscribed_peers(topic)
        .filter(|p| direct.contains(p))
        .count();
    // A topic we publish on without subscribing uses fanout peers instead of a mesh.
    gossip.mesh_peers(topic).count() + gossip.fanout_peers(topic).count() + direct_subscribed
}

fn publish_all(
    plan: &PublishPlan,
    encoding: GossipEncoding,
    handle: &ReactorHandle,
    shared: &Shared,
    stopping: &AtomicBool,
) {
    let deadline = Instant::now() + plan.wait_max;
    let (mesh_peers, ready) = loop {
        let topic = plan.topic.clone();
        let Some(mesh) = ask(handle, move |node| topic_peers(node, &topic)) else {
            return;
        };
        if mesh >= plan.min_peers {
            break (mesh, true);
        }
        if Instant::now() >= deadline || stopping.load(Ordering::Relaxed) {
            break (mesh, false);
        }
        std::thread::sleep(MESH_POLL);
    };
    lock(shared).out.emit(
        "publish_start",
        json!({
            "topic": plan.topic.as_str(),
            "mesh_peers": mesh_peers,
            "ready": ready,
            "count": plan.count,
            "size": plan.size,
            "interval_ms": u64::try_from(plan.interval.as_millis()).unwrap_or(u64::MAX),
        }),
    );
    let mut seed = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut seed);
    let mut rng = ChaCha20Rng::from_seed(seed);
    for seq in 0..plan.count {
        if stopping.load(Ordering::Relaxed) {
            break;
        }
        let mut body = vec![0u8; plan.size];
        rng.fill_bytes(&mut body[payload::HEADER_LEN..]);
        // Publish, and while the node pushes back (a chosen peer's budget is full),
        // retry the same message: as fast as backpressure allows, nothing lost.
        loop {
            let (topic, shared_in, body) = (plan.topic.clone(), Arc::clone(shared), body.clone());
            let outcome = ask(handle, move |node| {
                attempt(node, &topic, encoding, body, seq, &shared_in)
            });
            match outcome {
                None => return,
                Some(Attempt::Done) => break,
                Some(Attempt::Backpressured) => {
                    if stopping.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(BACKPRESSURE_RETRY);
                }
            }
        }
        if !plan.interval.is_zero() {
            std::thread::sleep(plan.interval);
        }
    }
    let (topic, shared_in) = (plan.topic.clone(), Arc::clone(shared));
    let _ = handle.run(move |_, _| {
        let mut session = lock(&shared_in);
        let fields = json!({
            "topic": topic.as_str(),
            "published": session.counters.published,
            "errors": session.counters.publish_errors,
            "bytes": session.counters.published_bytes,
        });
        session.out.emit("publish_done", fields);
        session.publishing = false;
        session.check_done();
    });
}
