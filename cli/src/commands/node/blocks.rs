//! `--request-blocks N` / `--block-size` (blocks_by_root requests to every peer) and
//! `--serve-block-size` (the synthetic responder). A requested root carries the wanted
//! block size as a big-endian u32 in bytes 0..4 and its index in bytes 4..8; a served
//! block is the root followed by zeros, so the requester can check every chunk.

use std::time::Instant;

use bytes::Bytes;
use leanp2p_host::{lean, ChannelId, Node, PeerId, ResponseChunk, ResponseCode};
use leanp2p_reqresp::lean::{BlocksByRootRequest, Root};
use serde_json::json;

use super::session::{BlockRequest, Session};

/// Largest synthetic block served or requested (the req/resp payload cap).
pub(crate) const MAX_BLOCK_SIZE: usize = leanp2p_reqresp::MAX_PAYLOAD_SIZE;
/// Bytes served per request at most: a peer asking for 1,024 roots that announce 10 MiB
/// blocks gets the blocks that fit, then the end of the response (bounded memory).
pub(crate) const MAX_SERVED_BYTES_PER_REQUEST: usize = 32 << 20;
/// Smallest block: the root itself.
pub(crate) const MIN_BLOCK_SIZE: usize = 32;

/// Whether `protocol` is blocks_by_root (current or legacy name).
pub(crate) fn is_blocks_by_root(protocol: &str) -> bool {
    protocol == lean::BLOCKS_BY_ROOT.as_str() || protocol == lean::BLOCKS_BY_ROOT_LEGACY.as_str()
}

/// The roots we ask for: `count` distinct roots announcing `size`.
fn roots(count: u32, size: usize) -> Vec<Root> {
    let size = u32::try_from(size).unwrap_or(u32::MAX).to_be_bytes();
    (0..count)
        .map(|i| {
            let mut root = [0u8; 32];
            root[..4].copy_from_slice(&size);
            root[4..8].copy_from_slice(&i.to_be_bytes());
            root
        })
        .collect()
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
        "protocol": lean::BLOCKS_BY_ROOT.as_str(),
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

/// Answers a blocks_by_root request with one synthetic block per root: the root, then
/// zeros up to `--serve-block-size`, or to the size in root bytes 0..4 without it
/// (clamped to [`MIN_BLOCK_SIZE`]..=[`MAX_BLOCK_SIZE`]), at most
/// [`MAX_SERVED_BYTES_PER_REQUEST`] in all.
pub(crate) fn serve(
    session: &mut Session,
    node: &mut Node,
    now: Instant,
    channel: ChannelId,
    body: &[u8],
) -> Result<(), String> {
    let request = match BlocksByRootRequest::from_ssz(body) {
        Ok(request) => request,
        Err(e) => {
            let chunk = ResponseChunk::error(ResponseCode::InvalidRequest, e.to_string());
            node.respond(now, channel, chunk)
                .and_then(|()| node.end_response(now, channel))
                .map_err(|e| e.to_string())?;
            return Err(e.to_string());
        }
    };
    let mut served = 0usize;
    let mut plan = std::collections::VecDeque::new();
    for root in &request.roots {
        let size = session.serve_block_size.unwrap_or_else(|| {
            let announced = u32::from_be_bytes([root[0], root[1], root[2], root[3]]);
            usize::try_from(announced).unwrap_or(MAX_BLOCK_SIZE)
        });
        let size = size.clamp(MIN_BLOCK_SIZE, MAX_BLOCK_SIZE);
        served += size;
        if served > MAX_SERVED_BYTES_PER_REQUEST {
            break;
        }
        plan.push_back((*root, size));
    }
    session.serving.insert(channel, plan);
    resume(session, node, now, channel)
}

/// Sends the blocks still planned for `channel` until `respond` pushes back
/// (`QueueFull`: the requester reads slowly; the node emits `ResponseWritable` when to
/// go on), then ends the response once all are sent.
pub(crate) fn resume(
    session: &mut Session,
    node: &mut Node,
    now: Instant,
    channel: ChannelId,
) -> Result<(), String> {
    let Some(mut plan) = session.serving.remove(&channel) else {
        return Ok(());
    };
    while let Some((root, size)) = plan.pop_front() {
        let mut block = vec![0u8; size];
        block[..32].copy_from_slice(&root);
        match node.respond(now, channel, ResponseChunk::success(block)) {
            Ok(()) => {}
            Err(leanp2p_host::RespondError::QueueFull) => {
                plan.push_front((root, size));
                session.serving.insert(channel, plan);
                return Ok(());
            }
            Err(e) => {
                // Close what was sent rather than leave the channel open.
                let _ = node.end_response(now, channel);
                return Err(e.to_string());
            }
        }
    }
    node.end_response(now, channel).map_err(|e| e.to_string())?;
    session.counters.blocks_requests_served += 1;
    Ok(())
}
