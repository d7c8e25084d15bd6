//! Endpoint configuration: transport parameters, timers and congestion control.
//!
//! Defaults mirror rust-libp2p's `libp2p-quic` `Config::new` (see the table in the
//! crate docs), so a leanp2p node looks like a rust-libp2p node on the wire.

use std::sync::Arc;
use std::time::Duration;

use quinn_proto::{IdleTimeout, MtuDiscoveryConfig, TransportConfig, VarInt};

use crate::error::ConfigError;
use crate::limits::Limits;

/// Congestion controller run by every connection of the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CongestionController {
    /// CUBIC (RFC 9438), quinn's and rust-libp2p's default.
    #[default]
    Cubic,
    /// NewReno (RFC 9002 §7).
    NewReno,
    /// BBR (quinn's experimental implementation).
    Bbr,
}

/// Configuration of a [`crate::Endpoint`]. Setters return `&mut Self` so they chain;
/// [`crate::Endpoint::new`] calls [`Config::validate`].
#[derive(Debug, Clone)]
pub struct Config {
    /// Idle timeout advertised in the `max_idle_timeout` transport parameter. A connection
    /// on which nothing was received for this long (at least 3 PTO) is closed with
    /// [`crate::CloseReason::TimedOut`]. Default 10 s.
    pub max_idle_timeout: Duration,
    /// Interval at which an ack-eliciting PING is sent on an otherwise idle connection.
    /// `None` disables keep-alive. Must be below `max_idle_timeout`. Default 5 s.
    pub keep_alive_interval: Option<Duration>,
    /// Time the handshake of a dial may take before the attempt is abandoned
    /// ([`crate::DialFailure::HandshakeTimedOut`] for dials). Default 5 s.
    pub handshake_timeout: Duration,
    /// Time an inbound handshake may take before it is abandoned and its slot freed. A
    /// half-open handshake (forged Initial, peer gone) holds an inbound slot this long,
    /// so it is shorter than `handshake_timeout`. Default 3 s.
    pub inbound_handshake_timeout: Duration,
    /// Bidirectional streams the peer may have open at once (`initial_max_streams_bidi`).
    /// Default 256.
    pub max_concurrent_bidi_streams: u32,
    /// Per-stream receive window (`initial_max_stream_data_bidi_*`). Default 10 000 000.
    pub stream_receive_window: u32,
    /// Connection receive window (`initial_max_data`). Default 15 000 000.
    pub receive_window: u32,
    /// Bytes of unacknowledged stream data buffered per connection in quinn. Default
    /// 10 000 000.
    pub send_window: u64,
    /// Congestion controller. Default [`CongestionController::Cubic`].
    pub congestion_controller: CongestionController,
    /// Whether datagram packetization-layer path MTU discovery runs. Default `true`.
    pub mtu_discovery: bool,
    /// Largest UDP payload MTU discovery probes for. Default 1452.
    pub mtu_upper_bound: u16,
    /// Maximum number of datagrams one [`crate::Transmit`] may carry (GSO batch). 1 means
    /// no segmentation offload and `segment_size` is always `None`. Default 1.
    pub max_gso_segments: usize,
    /// Length of the random destination connection ID of a client's first Initial
    /// (8..=20). Default 18.
    pub initial_dcid_len: u8,
    /// Whether inbound handshakes must first prove their address with a Retry round trip.
    /// Costs one RTT per inbound connection. Default `false` (as rust-libp2p).
    pub validate_addresses: bool,
    /// Resource limits.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_idle_timeout: Duration::from_secs(10),
            keep_alive_interval: Some(Duration::from_secs(5)),
            handshake_timeout: Duration::from_secs(5),
            inbound_handshake_timeout: Duration::from_secs(3),
            max_concurrent_bidi_streams: 256,
            stream_receive_window: 10_000_000,
            receive_window: 15_000_000,
            send_window: 10_000_000,
            congestion_controller: CongestionController::Cubic,
            mtu_discovery: true,
            mtu_upper_bound: 1452,
            max_gso_segments: 1,
            initial_dcid_len: 18,
            validate_addresses: false,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// Sets [`Config::max_idle_timeout`].
    pub fn max_idle_timeout(&mut self, value: Duration) -> &mut Self {
        self.max_idle_timeout = value;
        self
    }

    /// Sets [`Config::keep_alive_interval`].
    pub fn keep_alive_interval(&mut self, value: Option<Duration>) -> &mut Self {
        self.keep_alive_interval = value;
        self
    }

    /// Sets [`Config::handshake_timeout`].
    pub fn handshake_timeout(&mut self, value: Duration) -> &mut Self {
        self.handshake_timeout = value;
        self
    }

    /// Sets [`Config::inbound_handshake_timeout`].
    pub fn inbound_handshake_timeout(&mut self, value: Duration) -> &mut Self {
        self.inbound_handshake_timeout = value;
        self
    }

    /// Sets [`Config::max_concurrent_bidi_streams`].
    pub fn max_concurrent_bidi_streams(&mut self, value: u32) -> &mut Self {
        self.max_concurrent_bidi_streams = value;
        self
    }

    /// Sets [`Config::stream_receive_window`].
    pub fn stream_receive_window(&mut self, value: u32) -> &mut Self {
        self.stream_receive_window = value;
        self
    }

    /// Sets [`Config::receive_window`].
    pub fn receive_window(&mut self, value: u32) -> &mut Self {
        self.receive_window = value;
        self
    }

    /// Sets [`Config::send_window`].
    pub fn send_window(&mut self, value: u64) -> &mut Self {
        self.send_window = value;
        self
    }

    /// Sets [`Config::congestion_controller`].
    pub fn congestion_controller(&mut self, value: CongestionController) -> &mut Self {
        self.congestion_controller = value;
        self
    }

    /// Sets [`Config::mtu_discovery`].
    pub fn mtu_discovery(&mut self, value: bool) -> &mut Self {
        self.mtu_discovery = value;
        self
    }

    /// Sets [`Config::max_gso_segments`].
    pub fn max_gso_segments(&mut self, value: usize) -> &mut Self {
        self.max_gso_segments = value;
        self
    }

    /// Sets [`Config::validate_addresses`].
    pub fn validate_addresses(&mut self, value: bool) -> &mut Self {
        self.validate_addresses = value;
        self
    }

    /// Sets [`Config::limits`].
    pub fn limits(&mut self, value: Limits) -> &mut Self {
        self.limits = value;
        self
    }

    /// Checks the configuration for values quinn would reject or that cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.limits.validate()?;
        if self.max_idle_timeout.is_zero() || IdleTimeout::try_from(self.max_idle_timeout).is_err()
        {
            return Err(ConfigError::InvalidTimer(
                "max_idle_timeout must be > 0 and < 2^62 ms",
            ));
        }
        if let Some(interval) = self.keep_alive_interval {
            if interval.is_zero() || interval >= self.max_idle_timeout {
                return Err(ConfigError::InvalidTimer(
                    "keep_alive_interval must be > 0 and < max_idle_timeout",
                ));
            }
        }
        if self.handshake_timeout.is_zero() {
            return Err(ConfigError::InvalidTimer("handshake_timeout must be > 0"));
        }
        if self.inbound_handshake_timeout.is_zero() {
            return Err(ConfigError::InvalidTimer(
                "inbound_handshake_timeout must be > 0",
            ));
        }
        if self.max_concurrent_bidi_streams == 0 {
            return Err(ConfigError::InvalidWindow(
                "max_concurrent_bidi_streams must be > 0",
            ));
        }
        if self.stream_receive_window == 0 || self.receive_window < self.stream_receive_window {
            return Err(ConfigError::InvalidWindow(
                "stream_receive_window must be > 0 and <= receive_window",
            ));
        }
        if self.send_window == 0 || VarInt::from_u64(self.send_window).is_err() {
            return Err(ConfigError::InvalidWindow(
                "send_window must be > 0 and < 2^62",
            ));
        }
        if !(1200..=65_527).contains(&self.mtu_upper_bound) {
            return Err(ConfigError::InvalidWindow(
                "mtu_upper_bound must be in 1200..=65527",
            ));
        }
        if self.max_gso_segments == 0 || self.max_gso_segments > 64 {
            return Err(ConfigError::InvalidWindow(
                "max_gso_segments must be in 1..=64",
            ));
        }
        if !(8..=20).contains(&self.initial_dcid_len) {
            return Err(ConfigError::InvalidWindow(
                "initial_dcid_len must be in 8..=20",
            ));
        }
        Ok(())
    }

    /// The quinn transport configuration shared by every connection.
    pub(crate) fn transport_config(&self) -> Result<TransportConfig, ConfigError> {
        let mut transport = TransportConfig::default();
        let idle = IdleTimeout::try_from(self.max_idle_timeout)
            .map_err(|_| ConfigError::InvalidTimer("max_idle_timeout out of range"))?;
        transport
            .max_idle_timeout(Some(idle))
            .keep_alive_interval(self.keep_alive_interval)
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_concurrent_bidi_streams))
            .max_concurrent_uni_streams(VarInt::from_u32(0))
            .stream_receive_window(VarInt::from_u32(self.stream_receive_window))
            .receive_window(VarInt::from_u32(self.receive_window))
            .send_window(self.send_window)
            .datagram_receive_buffer_size(None)
            .allow_spin(false)
            .enable_segmentation_offload(self.max_gso_segments > 1);
        if self.mtu_discovery {
            let mut mtud = MtuDiscoveryConfig::default();
            mtud.upper_bound(self.mtu_upper_bound);
            transport.mtu_discovery_config(Some(mtud));
        } else {
            transport.mtu_discovery_config(None);
        }
        match self.congestion_controller {
            CongestionController::Cubic => transport.congestion_controller_factory(Arc::new(
                quinn_proto::congestion::CubicConfig::default(),
            )),
            CongestionController::NewReno => transport.congestion_controller_factory(Arc::new(
                quinn_proto::congestion::NewRenoConfig::default(),
            )),
            CongestionController::Bbr => transport.congestion_controller_factory(Arc::new(
                quinn_proto::congestion::BbrConfig::default(),
            )),
        };
        Ok(transport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_mirror_rust_libp2p() {
        let config = Config::default();
        assert_eq!(config.max_idle_timeout, Duration::from_secs(10));
        assert_eq!(config.keep_alive_interval, Some(Duration::from_secs(5)));
        assert_eq!(config.max_concurrent_bidi_streams, 256);
        assert!(config.stream_receive_window >= 10_000_000);
        assert!(config.receive_window >= 15_000_000);
        assert!(config.validate().is_ok());
        assert!(config.transport_config().is_ok());
    }

    #[test]
    fn keep_alive_must_be_below_idle() {
        let mut config = Config::default();
        config.keep_alive_interval(Some(Duration::from_secs(10)));
        assert!(matches!(
            config.validate(),
            Err(ConfigError::InvalidTimer(_))
        ));
        config.keep_alive_interval(None);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn windows_are_checked() {
        let mut config = Config::default();
        config.stream_receive_window(20_000_000);
        assert!(matches!(
            config.validate(),
            Err(ConfigError::InvalidWindow(_))
        ));
        let mut config = Config::default();
        config.limits.max_handshakes = config.limits.max_connections + 1;
        assert!(matches!(
            config.validate(),
            Err(ConfigError::InvalidLimit(_))
        ));
    }
}
