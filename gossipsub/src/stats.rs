//! Counters and gauges for metrics (`lean_gossip_mesh_peers` and friends).

use std::collections::BTreeMap;

use leanp2p_identity::PeerId;

use crate::types::TopicHash;

/// Per-topic gauges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicStats {
    /// Peers in our mesh for the topic.
    pub mesh_peers: usize,
    /// Peers in the topic's fanout set.
    pub fanout_peers: usize,
    /// Connected peers subscribed to the topic.
    pub subscribed_peers: usize,
}

/// Per-peer gauges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerStats {
    /// Frames in the priority lane.
    pub priority_queue_len: usize,
    /// Frames in the normal lane.
    pub normal_queue_len: usize,
    /// Bytes queued in both lanes.
    pub queued_bytes: usize,
    /// Frames dropped from the normal lane.
    pub dropped_normal: u64,
    /// Own publishes refused because the priority lane was full.
    pub dropped_priority: u64,
    /// Current score (0 with scoring off).
    pub score: f64,
    /// Topics the peer is subscribed to.
    pub topics: usize,
}

/// Monotonic counters since construction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames passed to `handle_rpc`.
    pub rpcs_received: u64,
    /// RPC sections skipped as malformed / over a limit.
    pub rpc_sections_dropped: u64,
    /// RPCs refused for carrying more than
    /// [`crate::Limits::max_subscriptions_per_rpc`] subscription changes
    /// ([`crate::RpcError::TooManySubscriptions`]).
    pub rpcs_over_subscription_limit: u64,
    /// Subscription changes ignored because the peer went over
    /// [`crate::Limits::max_subscription_changes_per_heartbeat`].
    pub subscription_changes_ignored: u64,
    /// PRUNE backoffs evicted early because the table held
    /// [`crate::Limits::max_backoff_entries`].
    pub backoffs_evicted: u64,
    /// Message signatures verified (StrictSign): duplicates of verified bytes and
    /// messages on topics we are not in are not verified.
    pub signatures_verified: u64,
    /// Message ids pushed out of the seen cache by
    /// [`crate::Limits::max_seen_entries`] before their `seen_ttl`: a copy arriving
    /// later is no longer recognised as a duplicate. Non-zero only under a flood of
    /// distinct messages (the lean profile's scoring graylists peers whose messages the
    /// application rejects).
    pub seen_evicted_early: u64,
    /// Messages evicted from the message cache before their window expired, to keep it
    /// within [`crate::Limits::max_mcache_bytes`].
    pub mcache_evicted_early: u64,
    /// Frames dropped because they exceeded `max_transmit_size`.
    pub frames_too_large: u64,
    /// Frames ignored because the sender was graylisted.
    pub graylisted_rpcs: u64,
    /// Messages received (including duplicates).
    pub messages_received: u64,
    /// Duplicate messages received.
    pub duplicates: u64,
    /// Duplicates recognised by the raw-message seen cache (a hash of the message as
    /// received), without computing the message id — under the lean profile, without
    /// decompressing. Included in `duplicates`.
    pub duplicates_raw: u64,
    /// Inbound messages whose id was computed with `message_id_fn` (under the lean
    /// profile each one costs a snappy decompression).
    pub message_ids_computed: u64,
    /// Messages rejected before validation (signature policy, size, topic).
    pub invalid_messages: u64,
    /// Messages accepted by the application.
    pub validation_accepted: u64,
    /// Messages rejected by the application.
    pub validation_rejected: u64,
    /// Messages ignored by the application.
    pub validation_ignored: u64,
    /// Messages dropped because validation timed out.
    pub validation_timeouts: u64,
    /// Messages dropped because too many awaited validation.
    pub validation_queue_full: u64,
    /// Messages for topics we are not subscribed to.
    pub unsubscribed_topic_messages: u64,
    /// Message frames queued to peers as forwards.
    pub messages_forwarded: u64,
    /// Own messages published.
    pub messages_published: u64,
    /// `publish` calls refused with [`crate::PublishError::Backpressure`].
    pub publishes_backpressured: u64,
    /// Message sends skipped because the peer sent IDONTWANT.
    pub idontwant_suppressed: u64,
    /// IDONTWANT ids sent.
    pub idontwant_sent: u64,
    /// IDONTWANT ids received.
    pub idontwant_received: u64,
    /// IDONTWANT ids dropped by a cap: remembered ids evicted (oldest first) to make room
    /// under [`crate::Limits::max_idontwant_per_peer`], plus ids beyond
    /// [`crate::Limits::max_idontwant_ids_per_rpc`] or
    /// [`crate::Limits::max_ids_per_control_entry`] in one RPC (those are not counted as
    /// received).
    pub idontwant_dropped: u64,
    /// IDONTWANT ids ignored because the peer did not negotiate `/meshsub/1.2.0`
    /// (IDONTWANT is a v1.2 message; older peers' notices are not honoured).
    pub idontwant_unsupported: u64,
    /// IHAVE entries sent.
    pub ihave_sent: u64,
    /// IHAVE entries received.
    pub ihave_received: u64,
    /// IHAVE entries ignored (caps, score, topic).
    pub ihave_ignored: u64,
    /// Message ids requested with IWANT.
    pub iwant_sent: u64,
    /// IWANT ids received.
    pub iwant_received: u64,
    /// Messages sent in reply to IWANT.
    pub iwant_replies: u64,
    /// GRAFTs sent.
    pub graft_sent: u64,
    /// GRAFTs received.
    pub graft_received: u64,
    /// PRUNEs sent.
    pub prune_sent: u64,
    /// PRUNEs received.
    pub prune_received: u64,
    /// GRAFTs received during a backoff (penalised).
    pub backoff_violations: u64,
    /// Broken IWANT promises (penalised).
    pub broken_promises: u64,
    /// PX peers accepted and reported.
    pub px_peers_received: u64,
    /// Frames dropped from normal lanes (all peers).
    pub dropped_normal: u64,
    /// Own publishes refused by full priority lanes (all peers).
    pub dropped_priority: u64,
    /// Gossip ids dropped by control caps.
    pub dropped_gossip_ids: u64,
    /// SlowPeer events emitted.
    pub slow_peer_events: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Heartbeats run.
    pub heartbeats: u64,
}

/// A snapshot of the router state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Per topic we are subscribed to or have fanout for.
    pub topics: BTreeMap<TopicHash, TopicStats>,
    /// Per connected peer.
    pub peers: BTreeMap<PeerId, PeerStats>,
    /// Counters.
    pub counters: Counters,
    /// Frames queued for all peers.
    pub queued_frames: usize,
    /// Bytes queued for all peers.
    pub queued_bytes: usize,
    /// Messages in the message cache.
    pub mcache_len: usize,
    /// Frame bytes in the message cache (at most [`crate::Limits::max_mcache_bytes`]).
    pub mcache_bytes: usize,
    /// Ids in the seen cache.
    pub seen_len: usize,
    /// (topic, peer) PRUNE backoffs held (they outlive disconnects, as in go/rust-libp2p).
    pub backoff_len: usize,
    /// Messages awaiting validation.
    pub pending_validation: usize,
}
