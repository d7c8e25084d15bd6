//! The one req/resp server of the CLI: status, blocks_by_range and blocks_by_root,
//! answered from a [`BlockSource`] and sent by a [`BlockServer`] chunk by chunk under
//! `respond` backpressure. `leanp2p node` serves synthetic blocks; the devnet / sim
//! workload serves its [`BlockStore`].
//!
//! Synthetic blocks (`leanp2p node`, CLI.md `--serve-block-size`): a requested root
//! announces the wanted block size as a big-endian u32 in bytes 0..4 and the
//! requester's index in bytes 4..8 ([`synthetic_root`]); the block served for it is the
//! root followed by zeros, `--serve-block-size` bytes long or, without it, the announced
//! size, clamped to [`MIN_BLOCK_SIZE`]..=[`MAX_BLOCK_SIZE`]. The synthetic chain is
//! empty: status answers genesis (all zero) and blocks_by_range no blocks.
//!
//! Either way a response carries at most [`MAX_SERVED_BYTES_PER_REQUEST`] of blocks: a
//! peer asking for 1,024 roots of 10 MiB blocks gets the blocks that fit, then the end of
//! the response (bounded memory).

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;
use leanp2p_host::{lean, ChannelId, Node, RespondError, ResponseChunk, ResponseCode};
use leanp2p_reqresp::lean::{
    BlocksByRangeRequest, BlocksByRootRequest, Checkpoint, RangeCheck, Root, Status,
};

use super::store::BlockStore;

/// Bytes of blocks served per request at most (bounded memory per response).
pub(crate) const MAX_SERVED_BYTES_PER_REQUEST: usize = 32 << 20;
/// Largest synthetic block served or requested (the req/resp payload cap).
pub(crate) const MAX_BLOCK_SIZE: usize = leanp2p_reqresp::MAX_PAYLOAD_SIZE;
/// Smallest synthetic block: the root itself.
pub(crate) const MIN_BLOCK_SIZE: usize = 32;
/// Largest synthetic block a root's own bytes may ask for (a larger announcement is
/// clamped): otherwise a 36-byte request root would cost us a 10 MiB block. Bigger
/// synthetic blocks need `--serve-block-size`.
pub(crate) const MAX_ANNOUNCED_BLOCK_SIZE: usize = 1 << 20;

/// The root of the `index`th synthetic block of `size` bytes a requester asks for.
pub(crate) fn synthetic_root(size: usize, index: u32) -> Root {
    let mut root = [0u8; 32];
    root[..4].copy_from_slice(&u32::try_from(size).unwrap_or(u32::MAX).to_be_bytes());
    root[4..8].copy_from_slice(&index.to_be_bytes());
    root
}

/// The block size a synthetic root announces (root bytes 0..4), at most
/// [`MAX_ANNOUNCED_BLOCK_SIZE`].
fn announced_size(root: &Root) -> usize {
    let announced = u32::from_be_bytes([root[0], root[1], root[2], root[3]]);
    usize::try_from(announced)
        .unwrap_or(MAX_ANNOUNCED_BLOCK_SIZE)
        .min(MAX_ANNOUNCED_BLOCK_SIZE)
}

/// Where served blocks come from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum BlockSource<'a> {
    /// A node's block store (devnet, sim): its head, its blocks by slot and by root.
    Store(&'a BlockStore),
    /// Synthetic blocks for any root (`leanp2p node`); `size` is `--serve-block-size`
    /// (`None`: the size the root announces).
    Synthetic {
        /// Size of every served block, when fixed.
        size: Option<usize>,
    },
}

impl BlockSource<'_> {
    /// Our status: the store's head, or genesis for synthetic blocks.
    pub(crate) fn status(&self) -> Status {
        match self {
            Self::Store(store) => {
                let (root, slot) = store.head();
                Status {
                    finalized: Checkpoint::default(),
                    head: Checkpoint { root, slot },
                }
            }
            Self::Synthetic { .. } => Status::default(),
        }
    }

    /// The block of `root`, if we have one.
    fn by_root(&self, root: &Root) -> Option<Block> {
        match self {
            Self::Store(store) => store.get(root).map(|b| Block::Stored(b.data.clone())),
            Self::Synthetic { size } => {
                let size = size.unwrap_or_else(|| announced_size(root));
                Some(Block::Synthetic {
                    root: *root,
                    size: size.clamp(MIN_BLOCK_SIZE, MAX_BLOCK_SIZE),
                })
            }
        }
    }

    /// The blocks of slots `start..start + count`, in slot order.
    fn by_range(&self, start: u64, count: u64) -> Vec<Block> {
        match self {
            Self::Store(store) => store
                .range(start, count)
                .map(|b| Block::Stored(b.data.clone()))
                .collect(),
            Self::Synthetic { .. } => Vec::new(),
        }
    }
}

/// One chunk to send: stored bytes, or a synthetic block made when it is sent (so a
/// paused response holds roots and sizes, not the blocks).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Block {
    /// Bytes as they go on the wire (a stored block, or our status).
    Stored(Bytes),
    /// `root` followed by zeros up to `size` bytes.
    Synthetic { root: Root, size: usize },
}

impl Block {
    /// Bytes of the chunk.
    fn len(&self) -> usize {
        match self {
            Self::Stored(data) => data.len(),
            Self::Synthetic { size, .. } => *size,
        }
    }

    /// The chunk's payload.
    fn into_bytes(self) -> Bytes {
        match self {
            Self::Stored(data) => data,
            Self::Synthetic { root, size } => {
                let mut block = vec![0u8; size.max(root.len())];
                block[..root.len()].copy_from_slice(&root);
                Bytes::from(block)
            }
        }
    }
}

/// Blocks up to [`MAX_SERVED_BYTES_PER_REQUEST`] in all (the block that would pass the
/// cap and every one after it are left out).
fn capped(blocks: impl IntoIterator<Item = Block>) -> VecDeque<Block> {
    let mut total = 0usize;
    blocks
        .into_iter()
        .take_while(|b| {
            total = total.saturating_add(b.len());
            total <= MAX_SERVED_BYTES_PER_REQUEST
        })
        .collect()
}

/// The protocols the server tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// `status`.
    Status,
    /// `blocks_by_range`.
    BlocksByRange,
    /// `blocks_by_root` (current or legacy name).
    BlocksByRoot,
    /// Anything else: an empty response.
    Other,
}

impl Protocol {
    /// The protocol of a protocol id.
    pub(crate) fn of(protocol: &str) -> Self {
        if protocol == lean::STATUS.as_str() {
            Self::Status
        } else if protocol == lean::BLOCKS_BY_RANGE.as_str() {
            Self::BlocksByRange
        } else if protocol == lean::BLOCKS_BY_ROOT.as_str()
            || protocol == lean::BLOCKS_BY_ROOT_LEGACY.as_str()
        {
            Self::BlocksByRoot
        } else {
            Self::Other
        }
    }
}

/// A response fully sent and ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Served {
    /// What it answered.
    pub protocol: Protocol,
    /// Blocks it carried (0 for status).
    pub blocks: u64,
}

/// What [`BlockServer::serve`] did with a request it accepted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// The requester's status (status requests).
    pub peer_status: Option<Status>,
    /// Set when the response is complete; `None` when `respond` pushed back and the
    /// rest waits for [`BlockServer::resume`].
    pub served: Option<Served>,
}

/// A response being sent.
#[derive(Debug)]
struct Response {
    protocol: Protocol,
    chunks: VecDeque<Block>,
    blocks: u64,
}

/// Why a request gets an error response instead of blocks.
#[derive(Debug)]
struct Refusal {
    code: ResponseCode,
    message: String,
}

impl Refusal {
    fn invalid(message: impl ToString) -> Self {
        Self {
            code: ResponseCode::InvalidRequest,
            message: message.to_string(),
        }
    }
}

/// Plans the response to a request: its chunks and, for status, the requester's status.
fn plan(
    source: &BlockSource<'_>,
    protocol: Protocol,
    body: &[u8],
) -> Result<(Response, Option<Status>), Refusal> {
    let mut peer_status = None;
    let chunks = match protocol {
        Protocol::Status => {
            let theirs = Status::from_ssz(body).map_err(Refusal::invalid)?;
            let ours = source.status().to_ssz().map_err(Refusal::invalid)?;
            peer_status = Some(theirs);
            VecDeque::from([Block::Stored(Bytes::from(ours))])
        }
        Protocol::BlocksByRange => {
            let request = BlocksByRangeRequest::from_ssz(body).map_err(Refusal::invalid)?;
            match request.check(source.status().head.slot) {
                RangeCheck::Serve => capped(source.by_range(request.start_slot, request.count)),
                RangeCheck::OutsideWindow => {
                    return Err(Refusal {
                        code: ResponseCode::ResourceUnavailable,
                        message: "start slot outside the serving window".to_string(),
                    })
                }
                _ => return Err(Refusal::invalid("count must be 1..=1024")),
            }
        }
        Protocol::BlocksByRoot => {
            let request = BlocksByRootRequest::from_ssz(body).map_err(Refusal::invalid)?;
            capped(request.roots.iter().filter_map(|root| source.by_root(root)))
        }
        Protocol::Other => VecDeque::new(),
    };
    let blocks = match protocol {
        Protocol::Status => 0,
        _ => chunks.len() as u64,
    };
    let response = Response {
        protocol,
        chunks,
        blocks,
    };
    Ok((response, peer_status))
}

/// Answers inbound status / blocks_by_range / blocks_by_root requests from a
/// [`BlockSource`], and keeps the responses `respond` pushed back
/// ([`RespondError::QueueFull`]: the requester reads slowly) until the node emits
/// `ResponseWritable` for them. Bounded: one paused response per open inbound channel,
/// each at most [`MAX_SERVED_BYTES_PER_REQUEST`].
#[derive(Debug, Default)]
pub(crate) struct BlockServer {
    paused: BTreeMap<ChannelId, Response>,
}

impl BlockServer {
    /// Answers a request on `channel`. A malformed or unservable request gets an error
    /// chunk and the end of the response, and its reason comes back as `Err`, as does a
    /// failure to send (the channel is then ended, not left open).
    pub(crate) fn serve(
        &mut self,
        source: &BlockSource<'_>,
        node: &mut Node,
        now: Instant,
        channel: ChannelId,
        protocol: &str,
        body: &[u8],
    ) -> Result<Outcome, String> {
        match plan(source, Protocol::of(protocol), body) {
            Ok((response, peer_status)) => {
                self.paused.insert(channel, response);
                let served = self.resume(node, now, channel)?;
                Ok(Outcome {
                    peer_status,
                    served,
                })
            }
            Err(refusal) => {
                let chunk = ResponseChunk::error(refusal.code, refusal.message.clone());
                node.respond(now, channel, chunk)
                    .and_then(|()| node.end_response(now, channel))
                    .map_err(|e| e.to_string())?;
                Err(refusal.message)
            }
        }
    }

    /// Sends the chunks still planned for `channel` until `respond` pushes back, then
    /// ends the response once all are sent (call it on `ResponseWritable`). `Ok(None)`:
    /// paused, or nothing planned for `channel`.
    pub(crate) fn resume(
        &mut self,
        node: &mut Node,
        now: Instant,
        channel: ChannelId,
    ) -> Result<Option<Served>, String> {
        let Some(mut response) = self.paused.remove(&channel) else {
            return Ok(None);
        };
        while let Some(block) = response.chunks.pop_front() {
            match node.respond(
                now,
                channel,
                ResponseChunk::success(block.clone().into_bytes()),
            ) {
                Ok(()) => {}
                Err(RespondError::QueueFull) => {
                    response.chunks.push_front(block);
                    self.paused.insert(channel, response);
                    return Ok(None);
                }
                Err(e) => {
                    // Close what was sent rather than leave the channel open.
                    let _ = node.end_response(now, channel);
                    return Err(e.to_string());
                }
            }
        }
        node.end_response(now, channel).map_err(|e| e.to_string())?;
        Ok(Some(Served {
            protocol: response.protocol,
            blocks: response.blocks,
        }))
    }

    /// Forgets the response of a channel the requester aborted (`InboundAborted`).
    pub(crate) fn abort(&mut self, channel: ChannelId) {
        self.paused.remove(&channel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::workload::payload::{build, root_of, Kind, MsgKey};
    use crate::commands::workload::store::ZERO_ROOT;

    fn root_request(roots: Vec<Root>) -> Vec<u8> {
        BlocksByRootRequest { roots }.to_ssz().unwrap()
    }

    fn sizes(response: &Response) -> Vec<usize> {
        response.chunks.iter().map(Block::len).collect()
    }

    #[test]
    fn synthetic_blocks_are_the_root_then_zeros_of_the_announced_or_fixed_size() {
        let roots = vec![synthetic_root(100, 0), synthetic_root(5, 1)];
        let body = root_request(roots.clone());
        let announced = BlockSource::Synthetic { size: None };
        let (response, status) = plan(&announced, Protocol::BlocksByRoot, &body).unwrap();
        assert_eq!(status, None);
        // 5 is below the smallest block: clamped to the root itself.
        assert_eq!(sizes(&response), vec![100, MIN_BLOCK_SIZE]);
        assert_eq!(response.blocks, 2);
        let first = response.chunks[0].clone().into_bytes();
        assert!(first.starts_with(&roots[0]));
        assert!(first[32..].iter().all(|b| *b == 0));
        let fixed = BlockSource::Synthetic { size: Some(64) };
        let (response, _) = plan(&fixed, Protocol::BlocksByRoot, &body).unwrap();
        assert_eq!(sizes(&response), vec![64, 64]);
    }

    #[test]
    fn a_root_cannot_announce_more_than_a_mebibyte() {
        let body = root_request(vec![synthetic_root(MAX_BLOCK_SIZE, 0)]);
        let announced = BlockSource::Synthetic { size: None };
        let (response, _) = plan(&announced, Protocol::BlocksByRoot, &body).unwrap();
        assert_eq!(sizes(&response), vec![MAX_ANNOUNCED_BLOCK_SIZE]);
    }

    #[test]
    fn a_response_stops_at_the_byte_cap() {
        let per_block = MAX_BLOCK_SIZE;
        let fit = MAX_SERVED_BYTES_PER_REQUEST / per_block;
        let roots: Vec<Root> = (0..fit as u32 + 3)
            .map(|i| synthetic_root(per_block, i))
            .collect();
        let source = BlockSource::Synthetic {
            size: Some(per_block),
        };
        let (response, _) = plan(&source, Protocol::BlocksByRoot, &root_request(roots)).unwrap();
        assert_eq!(response.chunks.len(), fit);
    }

    #[test]
    fn synthetic_status_is_genesis_and_its_chain_is_empty() {
        let source = BlockSource::Synthetic { size: None };
        let theirs = Status {
            finalized: Checkpoint::default(),
            head: Checkpoint {
                root: [1; 32],
                slot: 9,
            },
        };
        let (response, status) =
            plan(&source, Protocol::Status, &theirs.to_ssz().unwrap()).unwrap();
        assert_eq!(status, Some(theirs));
        assert_eq!(response.blocks, 0);
        assert_eq!(
            response.chunks,
            VecDeque::from([Block::Stored(Bytes::from(vec![0u8; 80]))])
        );
        let range = BlocksByRangeRequest {
            start_slot: 0,
            count: 10,
        };
        let body = range.to_ssz().unwrap();
        let (response, _) = plan(&source, Protocol::BlocksByRange, &body).unwrap();
        assert!(response.chunks.is_empty());
        let (response, _) = plan(&source, Protocol::Other, b"anything").unwrap();
        assert!(response.chunks.is_empty());
    }

    #[test]
    fn the_store_serves_what_it_has_and_bad_requests_are_refused() {
        let mut store = BlockStore::default();
        let block = build(1, MsgKey::new(1, Kind::Block, 0), 0, &ZERO_ROOT, 100);
        let root = root_of(&block);
        store.insert(Bytes::from(block.clone()));
        let source = BlockSource::Store(&store);
        assert_eq!(source.status().head, Checkpoint { root, slot: 1 });
        let body = root_request(vec![[7; 32], root]);
        let (response, _) = plan(&source, Protocol::BlocksByRoot, &body).unwrap();
        assert_eq!(
            response.chunks,
            VecDeque::from([Block::Stored(Bytes::from(block))])
        );
        for (protocol, body) in [
            (Protocol::Status, vec![0u8; 79]),
            (Protocol::BlocksByRange, vec![0u8; 3]),
            (Protocol::BlocksByRoot, vec![5, 0, 0, 0]),
        ] {
            let refusal = plan(&source, protocol, &body).unwrap_err();
            assert_eq!(refusal.code, ResponseCode::InvalidRequest, "{protocol:?}");
        }
        let zero_count = BlocksByRangeRequest {
            start_slot: 1,
            count: 0,
        };
        let refusal = plan(
            &source,
            Protocol::BlocksByRange,
            &zero_count.to_ssz().unwrap(),
        )
        .unwrap_err();
        assert_eq!(refusal.code, ResponseCode::InvalidRequest);
    }
}
