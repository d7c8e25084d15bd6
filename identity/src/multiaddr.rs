//! The multiaddr subset a QUIC-only lean node needs, with text and binary encodings.
//!
//! We implement the subset ourselves instead of depending on the `multiaddr` crate: the
//! subset is ~300 lines, it keeps `PeerId` our own type (no conversion at every dial), and
//! an unknown protocol becomes a typed error naming it rather than a generic failure.
//! Supported: `/ip4`, `/ip6`, `/dns`, `/dns4`, `/dns6`, `/tcp`, `/udp`, `/quic` (draft-29,
//! parsed so it can be refused with a clear error), `/quic-v1`, `/p2p` (alias `/ipfs`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use crate::error::MultiaddrError;
use crate::PeerId;

/// Longest DNS name accepted (RFC 1035 limit).
pub const MAX_DNS_NAME_LEN: usize = 253;
/// Most protocol components accepted in one multiaddr (bounds decode work).
pub const MAX_COMPONENTS: usize = 16;

const CODE_IP4: u64 = 4;
const CODE_TCP: u64 = 6;
const CODE_IP6: u64 = 41;
const CODE_DNS: u64 = 53;
const CODE_DNS4: u64 = 54;
const CODE_DNS6: u64 = 55;
const CODE_UDP: u64 = 273;
const CODE_P2P: u64 = 421;
const CODE_QUIC: u64 = 460;
const CODE_QUIC_V1: u64 = 461;

/// One component of a multiaddr.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `/ip4/<a.b.c.d>`
    Ip4(Ipv4Addr),
    /// `/ip6/<addr>`
    Ip6(Ipv6Addr),
    /// `/dns/<name>`
    Dns(String),
    /// `/dns4/<name>`
    Dns4(String),
    /// `/dns6/<name>`
    Dns6(String),
    /// `/tcp/<port>`
    Tcp(u16),
    /// `/udp/<port>`
    Udp(u16),
    /// `/quic` (QUIC draft-29; legacy, never dialled)
    Quic,
    /// `/quic-v1` (RFC 9000)
    QuicV1,
    /// `/p2p/<peer-id>`
    P2p(PeerId),
}

impl Protocol {
    fn code(&self) -> u64 {
        match self {
            Protocol::Ip4(_) => CODE_IP4,
            Protocol::Ip6(_) => CODE_IP6,
            Protocol::Dns(_) => CODE_DNS,
            Protocol::Dns4(_) => CODE_DNS4,
            Protocol::Dns6(_) => CODE_DNS6,
            Protocol::Tcp(_) => CODE_TCP,
            Protocol::Udp(_) => CODE_UDP,
            Protocol::Quic => CODE_QUIC,
            Protocol::QuicV1 => CODE_QUIC_V1,
            Protocol::P2p(_) => CODE_P2P,
        }
    }

    fn write_bytes(&self, out: &mut Vec<u8>) {
        let mut buf = unsigned_varint::encode::u64_buffer();
        out.extend_from_slice(unsigned_varint::encode::u64(self.code(), &mut buf));
        match self {
            Protocol::Ip4(ip) => out.extend_from_slice(&ip.octets()),
            Protocol::Ip6(ip) => out.extend_from_slice(&ip.octets()),
            Protocol::Dns(name) | Protocol::Dns4(name) | Protocol::Dns6(name) => {
                write_length_prefixed(out, name.as_bytes())
            }
            Protocol::Tcp(port) | Protocol::Udp(port) => out.extend_from_slice(&port.to_be_bytes()),
            Protocol::Quic | Protocol::QuicV1 => {}
            Protocol::P2p(peer) => write_length_prefixed(out, peer.as_bytes()),
        }
    }

    /// Reads one component from the front of `input`; returns it and the rest.
    fn read_bytes(input: &[u8]) -> Result<(Self, &[u8]), MultiaddrError> {
        let (code, rest) =
            unsigned_varint::decode::u64(input).map_err(|_| MultiaddrError::InvalidVarint)?;
        let (protocol, rest) = match code {
            CODE_IP4 => {
                let (v, rest) = split(rest, 4)?;
                let octets: [u8; 4] = v.try_into().map_err(|_| MultiaddrError::Truncated)?;
                (Protocol::Ip4(Ipv4Addr::from(octets)), rest)
            }
            CODE_IP6 => {
                let (v, rest) = split(rest, 16)?;
                let octets: [u8; 16] = v.try_into().map_err(|_| MultiaddrError::Truncated)?;
                (Protocol::Ip6(Ipv6Addr::from(octets)), rest)
            }
            CODE_DNS | CODE_DNS4 | CODE_DNS6 => {
                let (v, rest) = read_length_prefixed(rest)?;
                let name = parse_dns_name(
                    std::str::from_utf8(v).map_err(|_| MultiaddrError::InvalidDnsName)?,
                )?;
                let p = match code {
                    CODE_DNS => Protocol::Dns(name),
                    CODE_DNS4 => Protocol::Dns4(name),
                    _ => Protocol::Dns6(name),
                };
                (p, rest)
            }
            CODE_TCP | CODE_UDP => {
                let (v, rest) = split(rest, 2)?;
                let port = u16::from_be_bytes(v.try_into().map_err(|_| MultiaddrError::Truncated)?);
                (
                    if code == CODE_TCP {
                        Protocol::Tcp(port)
                    } else {
                        Protocol::Udp(port)
                    },
                    rest,
                )
            }
            CODE_QUIC => (Protocol::Quic, rest),
            CODE_QUIC_V1 => (Protocol::QuicV1, rest),
            CODE_P2P => {
                let (v, rest) = read_length_prefixed(rest)?;
                (Protocol::P2p(PeerId::from_bytes(v)?), rest)
            }
            other => return Err(MultiaddrError::UnknownProtocolCode(other)),
        };
        Ok((protocol, rest))
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Ip4(ip) => write!(f, "/ip4/{ip}"),
            Protocol::Ip6(ip) => write!(f, "/ip6/{ip}"),
            Protocol::Dns(n) => write!(f, "/dns/{n}"),
            Protocol::Dns4(n) => write!(f, "/dns4/{n}"),
            Protocol::Dns6(n) => write!(f, "/dns6/{n}"),
            Protocol::Tcp(p) => write!(f, "/tcp/{p}"),
            Protocol::Udp(p) => write!(f, "/udp/{p}"),
            Protocol::Quic => f.write_str("/quic"),
            Protocol::QuicV1 => f.write_str("/quic-v1"),
            Protocol::P2p(id) => write!(f, "/p2p/{id}"),
        }
    }
}

fn write_length_prefixed(out: &mut Vec<u8>, value: &[u8]) {
    let mut buf = unsigned_varint::encode::usize_buffer();
    out.extend_from_slice(unsigned_varint::encode::usize(value.len(), &mut buf));
    out.extend_from_slice(value);
}

fn read_length_prefixed(input: &[u8]) -> Result<(&[u8], &[u8]), MultiaddrError> {
    let (len, rest) =
        unsigned_varint::decode::usize(input).map_err(|_| MultiaddrError::InvalidVarint)?;
    split(rest, len)
}

fn split(input: &[u8], n: usize) -> Result<(&[u8], &[u8]), MultiaddrError> {
    if input.len() < n {
        return Err(MultiaddrError::Truncated);
    }
    Ok(input.split_at(n))
}

fn parse_dns_name(name: &str) -> Result<String, MultiaddrError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_DNS_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if valid {
        Ok(name.to_owned())
    } else {
        Err(MultiaddrError::InvalidDnsName)
    }
}

/// A multiaddr: a sequence of [`Protocol`] components.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Multiaddr(Vec<Protocol>);

impl Multiaddr {
    /// An empty multiaddr.
    pub fn empty() -> Self {
        Self(Vec::new())
    }

    /// `/ip4|ip6/<ip>/udp/<port>/quic-v1`, optionally with `/p2p/<peer>`.
    pub fn quic_v1(addr: SocketAddr, peer: Option<PeerId>) -> Self {
        let ip = match addr.ip() {
            IpAddr::V4(ip) => Protocol::Ip4(ip),
            IpAddr::V6(ip) => Protocol::Ip6(ip),
        };
        let mut components = vec![ip, Protocol::Udp(addr.port()), Protocol::QuicV1];
        components.extend(peer.map(Protocol::P2p));
        Self(components)
    }

    /// Appends a component.
    pub fn push(&mut self, p: Protocol) {
        self.0.push(p);
    }

    /// This address with `p` appended.
    pub fn with(mut self, p: Protocol) -> Self {
        self.0.push(p);
        self
    }

    /// The components in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Protocol> {
        self.0.iter()
    }

    /// The components as a slice.
    pub fn protocols(&self) -> &[Protocol] {
        &self.0
    }

    /// Whether there are no components.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The PeerId of a trailing `/p2p/<id>` component, if any.
    pub fn peer_id(&self) -> Option<PeerId> {
        match self.0.last() {
            Some(Protocol::P2p(id)) => Some(*id),
            _ => None,
        }
    }

    /// This address without a trailing `/p2p/<id>`.
    pub fn without_peer_id(&self) -> Self {
        let mut out = self.clone();
        if let Some(Protocol::P2p(_)) = out.0.last() {
            out.0.pop();
        }
        out
    }

    /// For `/ip4|ip6/<ip>/udp/<port>/quic-v1[/p2p/<id>]`: the UDP socket address and the
    /// optional expected PeerId. Anything else (DNS, TCP, draft-29 `/quic`) is an error
    /// saying why it cannot be dialled over QUIC v1.
    pub fn to_quic_v1_target(&self) -> Result<(SocketAddr, Option<PeerId>), MultiaddrError> {
        match self.0.as_slice() {
            [ip, Protocol::Udp(port), Protocol::QuicV1, rest @ ..] => {
                let ip = match ip {
                    Protocol::Ip4(ip) => IpAddr::V4(*ip),
                    Protocol::Ip6(ip) => IpAddr::V6(*ip),
                    Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) => {
                        return Err(MultiaddrError::NotDialable(
                            "DNS names are not resolved by the sans-IO stack; resolve first",
                        ))
                    }
                    _ => return Err(MultiaddrError::NotDialable("expected /ip4 or /ip6 first")),
                };
                let peer = match rest {
                    [] => None,
                    [Protocol::P2p(id)] => Some(*id),
                    _ => {
                        return Err(MultiaddrError::NotDialable(
                            "unexpected components after /quic-v1",
                        ))
                    }
                };
                Ok((SocketAddr::new(ip, *port), peer))
            }
            [_, Protocol::Udp(_), Protocol::Quic, ..] => Err(MultiaddrError::NotDialable(
                "/quic is QUIC draft-29, which is not supported; use /quic-v1",
            )),
            _ => Err(MultiaddrError::NotDialable(
                "expected /ip4|ip6/<ip>/udp/<port>/quic-v1[/p2p/<peer-id>]",
            )),
        }
    }

    /// Binary encoding: concatenated `uvarint(code) ‖ value`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        for p in &self.0 {
            p.write_bytes(&mut out);
        }
        out
    }

    /// Decodes the binary encoding.
    pub fn from_bytes(mut bytes: &[u8]) -> Result<Self, MultiaddrError> {
        let mut components = Vec::new();
        while !bytes.is_empty() {
            if components.len() == MAX_COMPONENTS {
                return Err(MultiaddrError::TooManyComponents);
            }
            let (p, rest) = Protocol::read_bytes(bytes)?;
            components.push(p);
            bytes = rest;
        }
        Ok(Self(components))
    }
}

impl FromIterator<Protocol> for Multiaddr {
    fn from_iter<T: IntoIterator<Item = Protocol>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for Multiaddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|p| p.fmt(f))
    }
}

impl fmt::Debug for Multiaddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Multiaddr({self})")
    }
}

impl FromStr for Multiaddr {
    type Err = MultiaddrError;

    /// Parses the text form; the empty string (what an empty multiaddr displays as) and
    /// `/` both parse to the empty multiaddr.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Ok(Self::empty());
        }
        let rest = s
            .strip_prefix('/')
            .ok_or(MultiaddrError::MissingLeadingSlash)?;
        let mut parts = rest.split('/');
        let mut components = Vec::new();
        if rest.is_empty() {
            return Ok(Self(components));
        }
        while let Some(name) = parts.next() {
            if components.len() == MAX_COMPONENTS {
                return Err(MultiaddrError::TooManyComponents);
            }
            let mut value = |proto: &'static str| {
                parts
                    .next()
                    .filter(|v| !v.is_empty())
                    .ok_or(MultiaddrError::MissingValue(proto))
            };
            let p = match name {
                "ip4" => Protocol::Ip4(
                    value("ip4")?
                        .parse()
                        .map_err(|_| MultiaddrError::InvalidValue("ip4"))?,
                ),
                "ip6" => Protocol::Ip6(
                    value("ip6")?
                        .parse()
                        .map_err(|_| MultiaddrError::InvalidValue("ip6"))?,
                ),
                "dns" => Protocol::Dns(parse_dns_name(value("dns")?)?),
                "dns4" => Protocol::Dns4(parse_dns_name(value("dns4")?)?),
                "dns6" => Protocol::Dns6(parse_dns_name(value("dns6")?)?),
                "tcp" => Protocol::Tcp(
                    value("tcp")?
                        .parse()
                        .map_err(|_| MultiaddrError::InvalidValue("tcp"))?,
                ),
                "udp" => Protocol::Udp(
                    value("udp")?
                        .parse()
                        .map_err(|_| MultiaddrError::InvalidValue("udp"))?,
                ),
                "quic" => Protocol::Quic,
                "quic-v1" => Protocol::QuicV1,
                "p2p" | "ipfs" => Protocol::P2p(value("p2p")?.parse()?),
                "" => return Err(MultiaddrError::EmptyComponent),
                other => return Err(MultiaddrError::UnknownProtocol(other.to_owned())),
            };
            components.push(p);
        }
        Ok(Self(components))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_are_typed() {
        assert_eq!(
            "/ip4/1.2.3.4/webrtc".parse::<Multiaddr>(),
            Err(MultiaddrError::UnknownProtocol("webrtc".into()))
        );
        assert_eq!(
            "ip4/1.2.3.4".parse::<Multiaddr>(),
            Err(MultiaddrError::MissingLeadingSlash)
        );
        assert_eq!(
            "/ip4".parse::<Multiaddr>(),
            Err(MultiaddrError::MissingValue("ip4"))
        );
        assert_eq!(
            "/ip4/1.2.3".parse::<Multiaddr>(),
            Err(MultiaddrError::InvalidValue("ip4"))
        );
        assert_eq!(
            "/udp/70000".parse::<Multiaddr>(),
            Err(MultiaddrError::InvalidValue("udp"))
        );
        assert_eq!(
            "/ip4/1.2.3.4//udp/1".parse::<Multiaddr>(),
            Err(MultiaddrError::EmptyComponent)
        );
        assert_eq!(
            Multiaddr::from_bytes(&[0x90, 0x03]),
            Err(MultiaddrError::UnknownProtocolCode(400))
        );
        assert_eq!(
            Multiaddr::from_bytes(&[0x04, 1, 2]),
            Err(MultiaddrError::Truncated)
        );
    }

    #[test]
    fn quic_target_rules() {
        let a: Multiaddr = "/ip6/::1/udp/9001/quic-v1".parse().unwrap_or_default();
        assert_eq!(
            a.to_quic_v1_target().ok(),
            Some((
                "[::1]:9001"
                    .parse()
                    .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
                None
            ))
        );
        let draft: Multiaddr = "/ip4/1.2.3.4/udp/1/quic".parse().unwrap_or_default();
        assert!(
            matches!(draft.to_quic_v1_target(), Err(MultiaddrError::NotDialable(m)) if m.contains("draft-29"))
        );
        let dns: Multiaddr = "/dns4/boot.example.org/udp/1/quic-v1"
            .parse()
            .unwrap_or_default();
        assert!(dns.to_quic_v1_target().is_err());
        assert_eq!(dns.to_string(), "/dns4/boot.example.org/udp/1/quic-v1");
        assert_eq!("/".parse::<Multiaddr>(), Ok(Multiaddr::empty()));
    }
}
