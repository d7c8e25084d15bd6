//! `--congestion`: the QUIC congestion controller of `node`, `devnet` and `sim`.

use clap::ValueEnum;
use leanp2p_quic::CongestionController;

/// The congestion controller every connection runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum Congestion {
    /// CUBIC (RFC 9438): quinn's and rust-libp2p's default.
    Cubic,
    /// NewReno (RFC 9002 §7).
    Newreno,
    /// BBR (quinn's implementation): does not read random loss as congestion. The lean
    /// profile's default.
    #[default]
    Bbr,
}

impl From<Congestion> for CongestionController {
    fn from(value: Congestion) -> Self {
        match value {
            Congestion::Cubic => Self::Cubic,
            Congestion::Newreno => Self::NewReno,
            Congestion::Bbr => Self::Bbr,
        }
    }
}
