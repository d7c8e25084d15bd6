//! UDP sockets for the reactor: binding with raised buffers, and batched I/O through
//! `quinn-udp` (GSO on send, GRO + `recvmmsg` on receive, ECN and the destination IP
//! from control messages).
//!
//! Everything here is non-blocking; `WouldBlock` is returned to the reactor, which owns
//! the retry policy.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use leanp2p_quic::Ecn;
use mio::net::UdpSocket;
use quinn_udp::{EcnCodepoint, RecvMeta, UdpSocketState};

/// Datagrams (or GRO batches) read per `recvmmsg` call.
pub(crate) const RECV_BATCH: usize = quinn_udp::BATCH_SIZE;
/// Bytes of one receive slot: a whole GRO batch (the kernel coalesces at most 64 KiB) or
/// the largest UDP payload.
pub(crate) const RECV_SLOT: usize = 64 * 1024;

/// One bound, non-blocking UDP socket with its `quinn-udp` state.
pub(crate) struct UdpIo {
    pub(crate) socket: UdpSocket,
    pub(crate) state: UdpSocketState,
    pub(crate) local: SocketAddr,
}

/// What the kernel granted a socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Granted {
    pub(crate) send_buffer: usize,
    pub(crate) recv_buffer: usize,
    pub(crate) max_gso_segments: usize,
    pub(crate) gro_segments: usize,
}

impl UdpIo {
    /// Binds `addr` (IPv6 sockets are v6-only), asks for the buffer sizes and sets up
    /// GSO/GRO, ECN and packet-info reporting as far as the platform allows.
    pub(crate) fn bind(
        addr: SocketAddr,
        send_buffer: usize,
        recv_buffer: usize,
    ) -> io::Result<(Self, Granted)> {
        let domain = socket2::Domain::for_address(addr);
        let socket =
            socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        // Best effort: the kernel caps these at net.core.{r,w}mem_max.
        if let Err(e) = socket.set_recv_buffer_size(recv_buffer) {
            tracing::debug!(error = %e, "SO_RCVBUF not raised");
        }
        if let Err(e) = socket.set_send_buffer_size(send_buffer) {
            tracing::debug!(error = %e, "SO_SNDBUF not raised");
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        let granted_send = socket.send_buffer_size().unwrap_or(0);
        let granted_recv = socket.recv_buffer_size().unwrap_or(0);
        let std_socket: std::net::UdpSocket = socket.into();
        let state = UdpSocketState::new((&std_socket).into())?;
        let socket = UdpSocket::from_std(std_socket);
        let local = socket.local_addr()?;
        let granted = Granted {
            send_buffer: granted_send,
            recv_buffer: granted_recv,
            max_gso_segments: state.max_gso_segments(),
            gro_segments: state.gro_segments(),
        };
        tracing::debug!(
            %local,
            sndbuf = granted.send_buffer,
            rcvbuf = granted.recv_buffer,
            gso_segments = granted.max_gso_segments,
            gro_segments = granted.gro_segments,
            "UDP socket ready"
        );
        Ok((
            Self {
                socket,
                state,
                local,
            },
            granted,
        ))
    }

    /// Sends `contents` (one datagram, or several of `segment_size` bytes in one GSO
    /// call when `segment_size` is `Some`).
    pub(crate) fn send(
        &self,
        destination: SocketAddr,
        ecn: Option<Ecn>,
        src_ip: Option<std::net::IpAddr>,
        contents: &[u8],
        segment_size: Option<usize>,
    ) -> io::Result<()> {
        // A source address of the other family cannot be used on this socket.
        let src_ip = src_ip.filter(|ip| ip.is_ipv4() == self.local.is_ipv4());
        let transmit = quinn_udp::Transmit {
            destination,
            ecn: ecn.map(ecn_to_codepoint),
            contents,
            segment_size,
            src_ip,
        };
        self.state.try_send((&self.socket).into(), &transmit)
    }

    /// Most datagrams one GSO send may carry now (1 without GSO; drops to 1 when the
    /// kernel turned out to refuse GSO).
    pub(crate) fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments().max(1)
    }

    /// One `recvmmsg`: fills `meta[..n]`; slot `i` of `buf` (`RECV_SLOT` bytes each)
    /// holds message `i`.
    pub(crate) fn recv(&self, buf: &mut [u8], meta: &mut [RecvMeta]) -> io::Result<usize> {
        let mut slots = buf.chunks_mut(RECV_SLOT);
        let mut bufs: [IoSliceMut<'_>; RECV_BATCH] =
            std::array::from_fn(|_| IoSliceMut::new(slots.next().unwrap_or_default()));
        let usable = bufs
            .iter()
            .take_while(|b| !b.is_empty())
            .count()
            .min(meta.len());
        let bufs = bufs.get_mut(..usable).unwrap_or_default();
        self.state.recv((&self.socket).into(), bufs, meta)
    }
}

pub(crate) fn ecn_to_codepoint(ecn: Ecn) -> EcnCodepoint {
    match ecn {
        Ecn::Ect0 => EcnCodepoint::Ect0,
        Ecn::Ect1 => EcnCodepoint::Ect1,
        Ecn::Ce => EcnCodepoint::Ce,
    }
}

pub(crate) fn ecn_from_codepoint(ecn: EcnCodepoint) -> Ecn {
    match ecn {
        EcnCodepoint::Ect0 => Ecn::Ect0,
        EcnCodepoint::Ect1 => Ecn::Ect1,
        EcnCodepoint::Ce => Ecn::Ce,
    }
}

/// The most datagrams per GSO send this machine's kernel accepts (1 without GSO), probed
/// on a throw-away socket on 127.0.0.1. Use it for `quic::Config::max_gso_segments`
/// (clamped to that field's 1..=64).
pub fn probe_gso_segments() -> usize {
    let addr = SocketAddr::from(([127, 0, 0, 1], 0));
    match UdpIo::bind(addr, 0, 0) {
        Ok((io, _)) => io.max_gso_segments(),
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecn_codepoints_map_both_ways() {
        for ecn in [Ecn::Ect0, Ecn::Ect1, Ecn::Ce] {
            assert_eq!(ecn_from_codepoint(ecn_to_codepoint(ecn)), ecn);
        }
    }

    #[test]
    fn probe_reports_at_least_one_segment() {
        assert!(probe_gso_segments() >= 1);
    }

    /// Reads until `want` payload bytes arrived (bounded: 5 s of non-blocking polls);
    /// returns each received buffer's (bytes, stride, ECN).
    fn recv_bytes(io: &UdpIo, want: usize) -> Vec<(Vec<u8>, usize, Option<EcnCodepoint>)> {
        let mut buf = vec![0u8; RECV_BATCH * RECV_SLOT];
        let mut meta = vec![RecvMeta::default(); RECV_BATCH];
        let mut got = Vec::new();
        let mut total = 0;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while total < want {
            assert!(
                std::time::Instant::now() < deadline,
                "only {total} of {want} bytes"
            );
            match io.recv(&mut buf, &mut meta) {
                Ok(n) => {
                    for (m, slot) in meta.iter().take(n).zip(buf.chunks(RECV_SLOT)) {
                        total += m.len;
                        got.push((slot[..m.len].to_vec(), m.stride, m.ecn));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                Err(e) => panic!("recv: {e}"),
            }
        }
        got
    }

    #[test]
    fn a_gso_batch_arrives_as_its_datagrams() {
        let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
        let (tx, _) = UdpIo::bind(localhost, 1 << 20, 1 << 20).unwrap();
        let (rx, granted) = UdpIo::bind(localhost, 1 << 20, 1 << 20).unwrap();
        assert!(granted.recv_buffer > 0);
        // Three datagrams of 1,000 bytes and a short last one, numbered by their first byte.
        let mut batch = Vec::new();
        for (i, len) in [1000usize, 1000, 1000, 300].into_iter().enumerate() {
            batch.extend(std::iter::repeat_n(i as u8, len));
        }
        let segment = (tx.max_gso_segments() > 1).then_some(1000);
        if segment.is_some() {
            tx.send(rx.local, Some(Ecn::Ect0), None, &batch, segment)
                .unwrap();
        } else {
            for chunk in batch.chunks(1000) {
                tx.send(rx.local, Some(Ecn::Ect0), None, chunk, None)
                    .unwrap();
            }
        }
        let received = recv_bytes(&rx, batch.len());
        // Split every buffer by its stride, as the reactor does.
        let mut datagrams = Vec::new();
        for (bytes, stride, ecn) in received {
            if cfg!(target_os = "linux") {
                assert_eq!(ecn, Some(EcnCodepoint::Ect0), "ECN is carried both ways");
            }
            let stride = if stride == 0 { bytes.len() } else { stride };
            datagrams.extend(bytes.chunks(stride).map(<[u8]>::to_vec));
        }
        let expected: Vec<Vec<u8>> = batch.chunks(1000).map(<[u8]>::to_vec).collect();
        assert_eq!(datagrams, expected);
    }
}
