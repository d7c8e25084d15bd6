//! Hard limits on everything a peer can make us buffer or process.
//!
//! Every buffer in this crate is bounded by one of these fields. [`Limits::validate`] is
//! called by [`crate::Config::validate`]. Defaults are sized for lean-consensus blocks
//! (a lean block is at most 10 MiB of SSZ, ≈ 12.2 MB as a snappy-block RPC).

use crate::error::ConfigError;

/// The lean / Ethereum `max_message_size()`: `32 + 10 MiB + ⌊10 MiB / 6⌋ + 1024` bytes.
pub const LEAN_MAX_TRANSMIT_SIZE: usize = 12_234_442;

/// Limits on frames, RPC sections, caches and queues.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest frame (RPC protobuf without its uvarint prefix) we accept or emit.
    /// Default [`LEAN_MAX_TRANSMIT_SIZE`].
    pub max_transmit_size: usize,
    /// Largest single subscription or control sub-message (one GRAFT, PRUNE, IHAVE, …)
    /// inside an RPC. Default 256 KiB (5 000 ids of 20 bytes fit easily).
    pub max_control_entry_size: usize,
    /// Most `publish` entries decoded from one RPC; the rest are skipped and counted.
    /// Default 500.
    pub max_messages_per_rpc: usize,
    /// Most subscription changes in one RPC; an RPC with more has all of them skipped
    /// undecoded and counted (as rust-libp2p refuses such RPCs). Default 256 (a lean
    /// node announces a few dozen topics; the per-peer churn cap is 256 per heartbeat
    /// too).
    pub max_subscriptions_per_rpc: usize,
    /// Most control sub-messages (all kinds together) processed from one RPC.
    /// Default 5 000.
    pub max_control_entries_per_rpc: usize,
    /// Most message ids processed from one IHAVE/IWANT/IDONTWANT entry. Default 5 000.
    pub max_ids_per_control_entry: usize,
    /// Longest accepted message id. Default 128 bytes (lean ids are 20).
    pub max_message_id_len: usize,
    /// Longest accepted topic string. Default 1 024 bytes.
    pub max_topic_len: usize,
    /// Most topics one peer may be subscribed to; further SUBSCRIBEs are ignored.
    /// Default 1 024.
    pub max_subscriptions_per_peer: usize,
    /// Most subscription changes accepted from one peer per heartbeat; further ones are
    /// ignored, counted in [`crate::stats::Counters::subscription_changes_ignored`], and cost
    /// the peer one behaviour penalty (P7) per heartbeat in which it happens. A
    /// subscribe/unsubscribe toggle flood then costs O(1) per ignored change. Default
    /// 256 (an honest peer announces all its topics at once, a few dozen for lean).
    pub max_subscription_changes_per_heartbeat: usize,
    /// Most (topic, peer) PRUNE backoffs kept; a new one beyond it evicts the entry that
    /// expires first (counted in [`crate::stats::Counters::backoffs_evicted`]). Default
    /// 10 000.
    pub max_backoff_entries: usize,
    /// Most peer-exchange entries accepted from one PRUNE. Default 32.
    pub max_px_peers_per_prune: usize,
    /// Most entries in the seen cache; the oldest are evicted first. Default 1 000 000.
    pub max_seen_entries: usize,
    /// Most bytes of the seen cache (and, separately, of the raw-bytes duplicate cache):
    /// each id weighs its length plus 64 bytes of bookkeeping. Entries expire by time
    /// (`Config::seen_ttl`); a flood that reaches this (or `max_seen_entries`) evicts the
    /// oldest early, counted in [`crate::stats::Counters::seen_evicted_early`]. Default
    /// 64 MiB.
    pub max_seen_bytes: usize,
    /// Most messages in the message cache (IWANT replies); beyond it new messages are
    /// forwarded but not cached. Default 100 000.
    pub max_mcache_entries: usize,
    /// Most bytes in the message cache (each message weighs its frame plus 192 bytes of
    /// bookkeeping): a new message that would not fit evicts
    /// the oldest cached ones first (IHAVE then no longer advertises them), counted in
    /// [`crate::stats::Counters::mcache_evicted_early`]; a message larger than the whole
    /// budget is forwarded but not cached. Must hold at least one `max_transmit_size`
    /// frame to cache the largest messages (the lean profile's largest, 10 MiB, fits).
    /// Default 16 MiB.
    pub max_mcache_bytes: usize,
    /// Most messages waiting for [`crate::Gossipsub::report_validation`]; further
    /// messages are ignored (not penalised) and counted. Default 10 000.
    pub max_pending_validation: usize,
    /// Most ids remembered from a peer's IDONTWANTs; at the cap further ids are ignored
    /// until remembered notices expire (counted in
    /// [`crate::stats::Counters::idontwant_dropped`]; ignoring costs no allocation or
    /// hashing, as in rust-libp2p). Default 10 000.
    pub max_idontwant_per_peer: usize,
    /// Most IDONTWANT message ids processed from one RPC (all its IDONTWANT entries
    /// together, valid or not); further ids are ignored and counted in
    /// [`crate::stats::Counters::idontwant_dropped`]. Default 5 000 (as
    /// [`Limits::max_ids_per_control_entry`]).
    pub max_idontwant_ids_per_rpc: usize,
    /// Most outstanding IWANT promises per peer. Default 5 000.
    pub max_promises_per_peer: usize,
    /// Frames in one peer's priority lane (own publishes). Default 16 384.
    pub max_priority_queue_frames: usize,
    /// Frames in one peer's normal lane (forwards, IWANT replies). Default 16 384.
    pub max_normal_queue_frames: usize,
    /// Byte budget of one peer for forwards and IWANT replies: they are queued while
    /// the peer's queued bytes (both lanes) plus what the host reported unsent for it
    /// ([`crate::Gossipsub::handle_peer_unsent`]) are below this, and dropped (counted,
    /// [`crate::Event::SlowPeer`] once per overflow episode) beyond. The episode ends
    /// when the peer holds less than half of this. Default 4 MiB.
    pub max_normal_queue_bytes: usize,
    /// The same bound for our own publishes (the priority lane): they may use the
    /// budget up to this (at least [`Limits::max_normal_queue_bytes`]), so forwards are
    /// dropped first. Control is never dropped. A frame is never split, so a peer holds
    /// at most this plus one frame. Default 36 MiB (4 MiB + a 32 MiB reserve: a burst
    /// of a few maximum-size lean blocks while earlier ones drain; a publish queued for
    /// many peers is one shared buffer).
    pub max_priority_queue_bytes: usize,
    /// Bytes an incremental [`crate::wire::FrameDecoder`] buffers; equals the max frame plus
    /// its prefix unless lowered.
    pub max_decoder_buffer: usize,
    /// Most application events waiting in [`crate::Gossipsub::poll_event`]; when full a
    /// new event (of any kind) is dropped and counted — drain `poll_event` after every
    /// input (the host does, so it never fills there). Default 65 536.
    pub max_pending_events: usize,
    /// Most connected peers tracked. Further connections are refused. Default 10 000.
    pub max_peers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_transmit_size: LEAN_MAX_TRANSMIT_SIZE,
            max_control_entry_size: 256 * 1024,
            max_messages_per_rpc: 500,
            max_subscriptions_per_rpc: 256,
            max_control_entries_per_rpc: 5_000,
            max_ids_per_control_entry: 5_000,
            max_message_id_len: 128,
            max_topic_len: 1_024,
            max_subscriptions_per_peer: 1_024,
            max_subscription_changes_per_heartbeat: 256,
            max_backoff_entries: 10_000,
            max_px_peers_per_prune: 32,
            max_seen_entries: 1_000_000,
            max_seen_bytes: 64 * 1024 * 1024,
            max_mcache_entries: 100_000,
            max_mcache_bytes: 16 * 1024 * 1024,
            max_pending_validation: 10_000,
            max_idontwant_per_peer: 10_000,
            max_idontwant_ids_per_rpc: 5_000,
            max_promises_per_peer: 5_000,
            max_priority_queue_frames: 16_384,
            max_normal_queue_frames: 16_384,
            max_normal_queue_bytes: 4 * 1024 * 1024,
            max_priority_queue_bytes: 36 * 1024 * 1024,
            max_decoder_buffer: LEAN_MAX_TRANSMIT_SIZE + 10,
            max_pending_events: 65_536,
            max_peers: 10_000,
        }
    }
}

impl Limits {
    /// Checks that every limit is non-zero and consistent.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let nonzero = [
            ("max_transmit_size", self.max_transmit_size),
            ("max_control_entry_size", self.max_control_entry_size),
            ("max_messages_per_rpc", self.max_messages_per_rpc),
            ("max_subscriptions_per_rpc", self.max_subscriptions_per_rpc),
            (
                "max_control_entries_per_rpc",
                self.max_control_entries_per_rpc,
            ),
            ("max_ids_per_control_entry", self.max_ids_per_control_entry),
            ("max_message_id_len", self.max_message_id_len),
            ("max_topic_len", self.max_topic_len),
            ("max_backoff_entries", self.max_backoff_entries),
            (
                "max_subscriptions_per_peer",
                self.max_subscriptions_per_peer,
            ),
            (
                "max_subscription_changes_per_heartbeat",
                self.max_subscription_changes_per_heartbeat,
            ),
            ("max_seen_entries", self.max_seen_entries),
            ("max_seen_bytes", self.max_seen_bytes),
            ("max_mcache_entries", self.max_mcache_entries),
            ("max_mcache_bytes", self.max_mcache_bytes),
            ("max_pending_validation", self.max_pending_validation),
            ("max_idontwant_per_peer", self.max_idontwant_per_peer),
            ("max_idontwant_ids_per_rpc", self.max_idontwant_ids_per_rpc),
            ("max_promises_per_peer", self.max_promises_per_peer),
            ("max_priority_queue_frames", self.max_priority_queue_frames),
            ("max_normal_queue_frames", self.max_normal_queue_frames),
            ("max_normal_queue_bytes", self.max_normal_queue_bytes),
            ("max_priority_queue_bytes", self.max_priority_queue_bytes),
            ("max_pending_events", self.max_pending_events),
            ("max_peers", self.max_peers),
        ];
        for (name, value) in nonzero {
            if value == 0 {
                return Err(ConfigError::ZeroLimit(name));
            }
        }
        if self.max_priority_queue_bytes < self.max_normal_queue_bytes {
            return Err(ConfigError::Inconsistent(
                "max_priority_queue_bytes must be at least max_normal_queue_bytes",
            ));
        }
        if self.max_decoder_buffer < self.max_transmit_size {
            return Err(ConfigError::Inconsistent(
                "max_decoder_buffer must be at least max_transmit_size",
            ));
        }
        Ok(())
    }
}
