//! Our full node (`leanp2p-host` driven by `leanp2p-mio` over a real UDP socket) against a
//! rust-libp2p 0.57 swarm configured as Ethereum clients configure theirs: QUIC,
//! gossipsub with `MessageAuthenticity::Anonymous` / `ValidationMode::Anonymous`
//! (StrictNoSign), the lean message id and a 10 MiB `max_transmit_size`, request-response
//! with an `ssz_snappy` codec for the lean status / blocks_by_root / blocks_by_range
//! protocols, identify and ping.
//!
//! Every scenario runs in both roles (we dial / they dial) on 127.0.0.1 with ephemeral
//! ports, and bounds its own runtime: each wait has a deadline and panics with what it
//! was waiting for.
//!
//! * `basics`: QUIC+TLS handshake with the right PeerIds, identify both ways, ping both
//!   ways.
//! * `gossip`: 1 KiB, 300 KiB and 4 MiB messages both ways, all delivered in order; and
//!   the same with 128 KiB QUIC windows so flow control bites on every message.
//! * `reqresp`: status, blocks_by_root (10 × 200 KiB) and blocks_by_range both ways.
//! * `connection`: an idle (subscribed, silent) connection outlives 3× rust-libp2p's idle
//!   timeouts; after the rust peer restarts on the same port with the same key, our node
//!   redials it and gossip flows again.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a test failure

mod basics;
mod codec;
mod connection;
mod content;
mod gossip;
mod reqresp;
mod support;
