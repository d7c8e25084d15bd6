//! The adversarial loopback suite (issue 18, hostile peers): our node (`leanp2p_host::Node`
//! on a `leanp2p-mio` reactor, 127.0.0.1, ephemeral ports) against raw attackers, while an
//! honest leanp2p peer keeps working beside them.
//!
//! * **Victim**: our node with the lean profile (ping every 500 ms); an application thread
//!   accepts every gossip message and answers status requests (`support.rs`).
//! * **Honest peer**: a second leanp2p node (a rust-libp2p 0.57 swarm in
//!   `their_honest.rs`) that, every 100 ms during an attack, publishes a block-topic
//!   message while the victim publishes one back, and every second sends a status
//!   request (the lean status quota is 5 per 15 s); pings run both ways every 500 ms.
//!   After each attack every one of those messages must have arrived at the other side,
//!   every request must have completed with a response, each side must have at least
//!   two more successful pings, and the honest connection must never have dropped
//!   (`HonestLoad`).
//! * **Attackers** (`raw.rs`): a bare `leanp2p_quic::Endpoint` (quinn-proto + libp2p TLS)
//!   on its own UDP socket, completing real handshakes under its own PeerId and writing
//!   hand-made multistream-select, gossip and req/resp bytes; plain `UdpSocket`s for
//!   forged Initials.
//! * **Bounds** (sampled from `Node::stats()` on the reactor thread every 20 ms during
//!   the attack, `support::Bounds`): `buffered_bytes_total` ≤ 8 MiB, `queued_events` ≤
//!   8,192 (≤ 4,096 where the application is slow), `queued_event_bytes` ≤ 32 MiB; and
//!   each test asserts that the counter of its defence moved, proving the attack reached
//!   the node.
//!
//! | test | defect | attack | extra assertion |
//! |---|---|---|---|
//! | `gossip::idontwant_flood` | 1 | ~1.1 MB RPCs of IDONTWANT ids, repeated (4 MiB backlog kept) | `idontwant_dropped` > 0 |
//! | `transport::forged_initials_while_an_honest_peer_dials` | 2 | every 250 ms 300 forged 1,200-byte Initials from 10 fresh ports + 20 half-open real dials from fresh ports; the honest peer dials in during the flood | `incoming_retried + incoming_refused` > 0; only the honest connection established |
//! | `gossip::subscription_toggle_flood_with_a_slow_app` | 3 | 2,000 one-change subscribe/unsubscribe frames per 100 ms, app spends 1 ms per event, 64-event channel | `subscription_changes_ignored + events_collapsed + event_backpressure_pauses` > 0 |
//! | `gossip::fast_publisher_with_a_slow_app` | 3 | 500 distinct valid messages per 100 ms against the slow app | `event_backpressure_pauses` > 0 (`Limits::max_peer_queued_events`) |
//! | `transport::many_connections_under_one_peer_id` | 4 | 4 new dials per 100 ms under one PeerId | the victim never holds more than `max_connections_per_peer` (2); `connections_refused_per_peer` > 0 |
//! | `transport::pings_without_receive_credit` | 6 | 64 KiB of pings per 100 ms on a ping stream never read, 2 KiB stream window | victim buffers ≤ 16 KiB for the attacker |
//! | `gossip::snappy_bomb_duplicates` | 7 | 400 copies of a 10 MiB-declaring tiny message, 30 copies of a real 10 MiB-of-zeros block | `duplicates_raw` counts all but the first of each; message ids computed ≤ distinct messages |
//! | `gossip::padded_small_messages` | 8 | 16 small messages each padded to 4 MiB with unknown field 15 | every padded message delivered |
//! | `gossip::gossip_after_the_victim_gave_up` | 11 | attacker answers `na` to the victim's `/meshsub` until it gives up, then publishes on its own stream | `early_gossip_dropped` moved; nothing delivered from it |
//! | `transport::negotiations_that_never_finish` | beyond | 64 streams per 100 ms with a header and half a proposal (negotiation timeout 2 s) | `inbound_streams_refused` and `negotiation_timeouts` > 0 |
//! | `transport::request_with_a_huge_length_prefix_then_stall` | beyond | per 100 ms: 2 status streams declaring 2^40 B / 10 MiB, 1 blocks_by_root stream declaring its 32,772-byte maximum, each then silent (inbound timeout 2 s) | `invalid_requests` moved; `rejected_concurrency` > 0 and more than 2 stalled requests admitted (the timeout freed slots) |
//! | `transport::streams_beyond_the_caps` | beyond | 10 ping, 10 identify and 10 status streams per 100 ms on one connection | `inbound_streams_refused` > 0; ≤ 256 streams tracked |
//! | `gossip::a_mesh_peer_that_never_reads` | beyond | a mesh peer never reads our `/meshsub` stream (64 KiB window) while the honest peer publishes 1 MiB per 100 ms for us to forward | victim buffers ≤ `gossip_peer_buffer` (4 MiB) + 512 KiB for it; `gossip_forwards_dropped` > 0 |
//! | `their_honest::rust_libp2p_honest_peer_under_combined_attacks` | 1, 2, 6 | the IDONTWANT flood, the Initial flood and the stingy pinger at once, with a **rust-libp2p 0.57 swarm** as the honest peer (gossipsub, ping, status client) | every message, response and ping reaches the swarm; the three defences' counters moved |
//!
//! Each attack runs 4 s beside the honest workload; every wait has a deadline
//! (`support::WAIT_LIMIT`, 20 s) and panics saying what it waited for. No assertion is
//! about speed. The whole target takes about 30 s on 2 cores (`--nocapture` prints the
//! victim's counters and peaks after each attack).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

mod gossip;
mod raw;
mod support;
mod their_honest;
mod transport;
