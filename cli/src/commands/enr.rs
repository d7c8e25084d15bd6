//! `leanp2p enr`: print our ENR and the multiaddr other nodes will dial.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};

use clap::Args;
use leanp2p_identity::Enr;

use super::discovery::default_discovery_port;
use super::keys::KeySource;
use super::CliError;

#[derive(Debug, Args)]
pub(crate) struct EnrArgs {
    #[command(flatten)]
    key: KeySource,
    /// IPv4 address to advertise (`ip`).
    #[arg(long, value_name = "IP", required_unless_present = "ip6")]
    ip: Option<Ipv4Addr>,
    /// UDP port of the QUIC listener for --ip (`quic`).
    #[arg(long, value_name = "PORT", requires = "ip")]
    quic: Option<u16>,
    /// Discovery (discv5) port for --ip (`udp`). Default: --quic + 1, what `leanp2p
    /// node` binds without --discovery-port; 0 = no `udp` entry.
    #[arg(long, value_name = "PORT", requires = "ip")]
    udp: Option<u16>,
    /// IPv6 address to advertise (`ip6`).
    #[arg(long, value_name = "IP")]
    ip6: Option<Ipv6Addr>,
    /// UDP port of the QUIC listener for --ip6 (`quic6`).
    #[arg(long, value_name = "PORT", requires = "ip6")]
    quic6: Option<u16>,
    /// Discovery (discv5) port for --ip6 (`udp6`). Default: --quic6 + 1; 0 = no `udp6`
    /// entry.
    #[arg(long, value_name = "PORT", requires = "ip6")]
    udp6: Option<u16>,
    /// Record sequence number.
    #[arg(long, default_value_t = 1)]
    seq: u64,
}

/// The discovery port of a record: the flag, else the QUIC port + 1; 0 = none.
fn discovery_port(flag: Option<u16>, quic: Option<u16>) -> Option<u16> {
    flag.or_else(|| quic.and_then(default_discovery_port))
        .filter(|&port| port != 0)
}

/// Prints two lines: the `enr:…` text, then the QUIC multiaddr it maps to.
pub(crate) fn enr(args: &EnrArgs, stdout: &mut impl Write) -> Result<(), CliError> {
    let key = args.key.load()?;
    let mut builder = Enr::builder();
    builder.seq(args.seq);
    if let Some(ip) = args.ip {
        builder.ip4(ip);
    }
    if let Some(port) = args.quic {
        builder.quic4(port);
    }
    if let Some(port) = discovery_port(args.udp, args.quic) {
        builder.udp4(port);
    }
    if let Some(ip) = args.ip6 {
        builder.ip6(ip);
    }
    if let Some(port) = args.quic6 {
        builder.quic6(port);
    }
    if let Some(port) = discovery_port(args.udp6, args.quic6) {
        builder.udp6(port);
    }
    let record = builder.build(&key)?;
    let addr = record.to_quic_multiaddr()?;
    writeln!(stdout, "{record}\n{addr}").map_err(CliError::Stdout)
}
