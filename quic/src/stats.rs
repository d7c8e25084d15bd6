//! Counters of the endpoint and per-connection transport statistics.

use std::time::Duration;

/// Endpoint-wide counters. Monotonic; never reset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams handed to [`crate::Endpoint::handle_datagram`].
    pub datagrams_received: u64,
    /// Datagrams dropped without effect: undecodable, unknown connection, too large,
    /// unsupported version on a client, or buffered-then-discarded handshake data.
    pub datagrams_dropped: u64,
    /// Datagrams returned by [`crate::Endpoint::poll_transmit`] (a GSO batch counts each
    /// segment).
    pub datagrams_sent: u64,
    /// Stateless transmits (version negotiation, reset, refusal) dropped because
    /// [`crate::Limits::max_queued_stateless_transmits`] were queued.
    pub stateless_transmits_dropped: u64,
    /// Inbound connection attempts refused because of connection or handshake limits.
    pub incoming_refused: u64,
    /// Inbound connection attempts answered with a Retry (address validation).
    pub incoming_retried: u64,
    /// Inbound connection attempts over [`crate::Limits::max_handshakes_per_ip`]: retried
    /// (unvalidated address, also counted in `incoming_retried`) or refused (validated
    /// address, also counted in `incoming_refused`).
    pub incoming_over_ip_limit: u64,
    /// Inbound handshakes abandoned after [`crate::Config::inbound_handshake_timeout`]
    /// (also counted in `incoming_failed`).
    pub incoming_handshakes_timed_out: u64,
    /// Closed connections forgotten at [`crate::Limits::max_drain_time`] before QUIC's
    /// own drain period (3·PTO) ended.
    pub drains_cut_short: u64,
    /// Inbound handshakes that failed (bad certificate, timeout, peer gave up).
    pub incoming_failed: u64,
    /// Connections that reached [`crate::Event::Connected`].
    pub connections_established: u64,
    /// Dials that ended in [`crate::Event::DialFailed`].
    pub dials_failed: u64,
}

/// Transport statistics of one connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Minimum observed round-trip time.
    pub min_rtt: Duration,
    /// Congestion window in bytes.
    pub cwnd: u64,
    /// Congestion events (window reductions).
    pub congestion_events: u64,
    /// Packets declared lost.
    pub lost_packets: u64,
    /// Bytes in packets declared lost.
    pub lost_bytes: u64,
    /// Packets sent.
    pub sent_packets: u64,
    /// UDP datagrams sent.
    pub datagrams_sent: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP datagrams received.
    pub datagrams_received: u64,
    /// UDP payload bytes received.
    pub bytes_received: u64,
    /// Current path MTU.
    pub current_mtu: u16,
}

impl ConnectionStats {
    pub(crate) fn from_quinn(stats: &quinn_proto::ConnectionStats) -> Self {
        Self {
            rtt: stats.path.rtt,
            min_rtt: stats.path.min_rtt,
            cwnd: stats.path.cwnd,
            congestion_events: stats.path.congestion_events,
            lost_packets: stats.path.lost_packets,
            lost_bytes: stats.path.lost_bytes,
            sent_packets: stats.path.sent_packets,
            datagrams_sent: stats.udp_tx.datagrams,
            bytes_sent: stats.udp_tx.bytes,
            datagrams_received: stats.udp_rx.datagrams,
            bytes_received: stats.udp_rx.bytes,
            current_mtu: stats.path.current_mtu,
        }
    }
}
