//! The client side of `--request-blocks N` / `--block-size`: one blocks_by_root request
//! to every peer for `N` synthetic roots announcing `--block-size`
//! ([`synthetic_root`]), and the check that every chunk starts with its root. The
//! serving side, synthetic blocks included, is the workload's one server
//! (`workload::serve`).

use std::time::Instant;

use bytes::Bytes;
use leanp2p_host::{lean, Node, PeerId};
use leanp2p_reqresp::lean::{BlocksByRootRequest, Root};
use serde_json::json;

use super::session::{BlockRequest, Session};
use crate::commands::workload::serve::synthetic_root;

/// The roots we ask for: `count` distinct roots announcing `size`.
fn roots(count: u32, size: usize) -> Vec<Root> {
    (0..count).map(|i| synthetic_root(size, i)).collect()
}

/// Sends one blocks_by_root request for `count` roots to `peer`.
pub(crate) fn request(session: &mut Session, node: &mut Node, now: Instant, peer: PeerId) {
    let Some(count) = session.request_blocks else {
        return;
    };
    let roots = roots(count, session.block_size);
    let body = match (BlocksByRootRequest {
        roots: roots.clone(),
    })
    .to_ssz()
    {
        Ok(body) => body,
        Err(e) => {
            session.counters.blocks_requests_failed += 1;
            session.out.emit(
                "error",
                json!({ "where": "rpc_request", "peer": peer.to_string(), "error": e.to_string() }),
            );
            return;
        }
    };
    let protocol_id = lean::BLOCKS_BY_ROOT;
    let protocol = protocol_id.as_str();
    match node.request(now, peer, &protocol_id, Bytes::from(body)) {
        Ok(id) => {
            session.block_requests.insert(
                id,
                BlockRequest {
                    peer,
                    sent: now,
                    roots,
                    chunks: 0,
                    bytes: 0,
                    mismatched: 0,
                },
            );
            session.out.emit(
                "rpc_request_out",
                json!({ "protocol": protocol, "peer": peer.to_string(), "roots": count }),
            );
        }
        Err(e) => {
            session.counters.blocks_requests_failed += 1;
            session.out.emit(
                "error",
                json!({ "where": "rpc_request", "peer": peer.to_string(), "error": e.to_string() }),
            );
        }
    }
}

/// One response chunk of a blocks request: counts it and checks it starts with its root.
pub(crate) fn on_chunk(request: &mut BlockRequest, payload: &[u8]) {
    let index = request.chunks as usize;
    request.chunks += 1;
    request.bytes += payload.len() as u64;
    let matches = request
        .roots
        .get(index)
        .is_some_and(|root| payload.starts_with(root));
    if !matches {
        request.mismatched += 1;
    }
}

/// The end of a blocks request (`error` is `Some` when it failed).
pub(crate) fn on_end(session: &mut Session, request: BlockRequest, error: Option<String>) {
    let complete = request.chunks as usize == request.roots.len() && request.mismatched == 0;
    let ok = error.is_none() && complete;
    let protocol = lean::BLOCKS_BY_ROOT;
    session.metrics.request(
        protocol.as_str(),
        ok,
        Instant::now().saturating_duration_since(request.sent),
    );
    let c = &mut session.counters;
    c.blocks_chunks_received += u64::from(request.chunks);
    c.blocks_bytes_received += request.bytes;
    c.blocks_root_mismatch += request.mismatched;
    if ok {
        c.blocks_requests_ok += 1;
    } else {
        c.blocks_requests_failed += 1;
    }
    let mut fields = json!({
        "protocol": protocol.as_str(),
        "peer": request.peer.to_string(),
        "ok": ok,
        "chunks": request.chunks,
        "bytes": request.bytes,
        "root_mismatch": request.mismatched,
    });
    if let Some(error) = error {
        fields["error"] = error.into();
    }
    session.out.emit("rpc_response", fields);
}
