//! Resource bounds of a [`crate::Endpoint`].
//!
//! Every buffer or table whose size a remote peer can influence has a limit here. The
//! defaults are sized for lean-consensus nodes (tens to a few hundred peers, blocks of a
//! few hundred KiB) and match rust-libp2p where it has an equivalent.

use crate::error::ConfigError;

/// Resource limits of one endpoint. Checked by [`crate::Config::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Maximum number of connections (handshaking, established or closing) the endpoint
    /// keeps at once. New inbound connections beyond it are refused with
    /// `CONNECTION_REFUSED`; `dial` returns [`crate::DialError::TooManyConnections`].
    /// Default 1024.
    pub max_connections: usize,
    /// Maximum number of connections whose handshake is still in progress, counted per
    /// direction: inbound connections beyond it are refused (and counted in
    /// [`crate::EndpointStats::incoming_refused`]), and `dial` returns
    /// [`crate::DialError::TooManyHandshakes`] once that many of our own dials are
    /// handshaking. Inbound handshakes never count against dials, so a flood of forged
    /// Initials cannot stop us from dialling out. Default 256, so 40 peers dialling at
    /// once all complete.
    pub max_handshakes: usize,
    /// Maximum number of inbound handshakes in progress from one source IP (loopback
    /// exempt). Beyond it an Initial whose address is not yet validated is answered with
    /// a Retry (a spoofer cannot complete it), a validated one is refused; both are
    /// counted in [`crate::EndpointStats::incoming_over_ip_limit`]. Default 8.
    pub max_handshakes_per_ip: usize,
    /// Number of inbound handshakes in progress from which every new inbound connection
    /// must first prove its address with a Retry round trip (as with
    /// [`crate::Config::validate_addresses`], but only under load), so that Initials from
    /// spoofed addresses hold no handshake slot. Default 64.
    pub retry_above_handshakes: usize,
    /// Maximum number of stateless datagrams (version negotiation, stateless reset,
    /// refusals, retries) queued for [`crate::Endpoint::poll_transmit`] between two drains.
    /// Further ones are dropped and counted. Default 64.
    pub max_queued_stateless_transmits: usize,
    /// Maximum number of bytes of one inbound datagram that are handed to QUIC; larger
    /// datagrams are dropped and counted (QUIC never sends more than 65 527). Default 65 527.
    pub max_datagram_size: usize,
    /// Bytes that quinn buffers for a connection whose handshake has not been accepted yet
    /// (quinn `incoming_buffer_size`). Default 64 KiB.
    pub incoming_buffer_size: u64,
    /// Total of [`Limits::incoming_buffer_size`] over all pending connections. Default 8 MiB.
    pub incoming_buffer_size_total: u64,
    /// Longest a closed connection is kept draining (absorbing the peer's late packets)
    /// before it is forgotten, however large the 3·PTO that QUIC asks for: a peer
    /// advertising a huge `max_ack_delay` (up to 16 s) could otherwise keep every
    /// connection it closes in the table, against [`Limits::max_connections`], for ~49 s.
    /// Connections forgotten early are counted in
    /// [`crate::EndpointStats::drains_cut_short`]. Default 3 s.
    pub max_drain_time: std::time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_handshakes: 256,
            max_handshakes_per_ip: 8,
            retry_above_handshakes: 64,
            max_queued_stateless_transmits: 64,
            max_datagram_size: 65_527,
            incoming_buffer_size: 64 * 1024,
            incoming_buffer_size_total: 8 * 1024 * 1024,
            max_drain_time: std::time::Duration::from_secs(3),
        }
    }
}

impl Limits {
    /// Checks that every limit is usable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_drain_time.is_zero() {
            return Err(ConfigError::InvalidLimit("max_drain_time must be > 0"));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::InvalidLimit("max_connections must be > 0"));
        }
        if self.max_handshakes == 0 || self.max_handshakes > self.max_connections {
            return Err(ConfigError::InvalidLimit(
                "max_handshakes must be in 1..=max_connections",
            ));
        }
        if self.max_handshakes_per_ip == 0 {
            return Err(ConfigError::InvalidLimit(
                "max_handshakes_per_ip must be > 0",
            ));
        }
        if self.max_queued_stateless_transmits == 0 {
            return Err(ConfigError::InvalidLimit(
                "max_queued_stateless_transmits must be > 0",
            ));
        }
        if self.max_datagram_size < 1200 {
            return Err(ConfigError::InvalidLimit(
                "max_datagram_size must be >= 1200 (QUIC minimum)",
            ));
        }
        if self.incoming_buffer_size == 0
            || self.incoming_buffer_size_total < self.incoming_buffer_size
        {
            return Err(ConfigError::InvalidLimit(
                "incoming_buffer_size must be > 0 and <= incoming_buffer_size_total",
            ));
        }
        Ok(())
    }
}
