//! Two QUIC endpoints joined in memory on a simulated clock, with a bulk-transfer driver:
//! a two-node [`QuicNet`].

use std::time::{Duration, Instant};

use bytes::Bytes;
use leanp2p_quic::{Config as QuicConfig, ConnId, Endpoint, Event as QuicEvent, StreamId};

use crate::quic_net::{LinkConfig, QuicNet, QuicNode};
use crate::{fail, FixtureError};

/// Upper bound on driver steps for one transfer, so that a stuck connection ends in an
/// error instead of a hang.
const MAX_STEPS: usize = 10_000_000;

/// A client (node 0 of [`QuicPair::net`]) connected to a server (node 1) over a
/// [`QuicNet`] with a fixed one-way latency, no loss and no reordering. Both nodes read
/// every stream as soon as it is readable and only count the bytes
/// ([`QuicNode::keep_received`] is off), so long benches do not grow memory.
///
/// [`QuicPair::transfer`] and [`QuicPair::transfer_bytes`] consume both nodes'
/// [`QuicNode::events`] as they drive.
pub struct QuicPair {
    /// The network; node 0 is the client, node 1 the server. Set
    /// [`QuicNet::recv_batch`] here.
    pub net: QuicNet,
    /// The client's side of the connection.
    pub client_conn: ConnId,
    /// The server's side of the connection.
    pub server_conn: ConnId,
}

impl QuicPair {
    /// Index of the client in [`QuicPair::net`].
    pub const CLIENT: usize = 0;
    /// Index of the server in [`QuicPair::net`].
    pub const SERVER: usize = 1;

    /// Two endpoints with `config` (keys 1 and 2, seeds fixed, see
    /// [`QuicNet::with_addrs`]), the client dialled to the server and the handshake driven
    /// to completion, starting at simulated time `t0`.
    pub fn connect(
        t0: Instant,
        config: QuicConfig,
        latency: Duration,
    ) -> Result<Self, FixtureError> {
        let link = LinkConfig {
            latency,
            ..LinkConfig::default()
        };
        let mut net = QuicNet::with_configs(t0, vec![config.clone(), config], link)?;
        for node in &mut net.nodes {
            node.keep_received = false;
        }
        let (client_conn, server_conn) = net.connect(Self::CLIENT, Self::SERVER)?;
        Ok(Self {
            net,
            client_conn,
            server_conn,
        })
    }

    /// The simulated time.
    pub fn now(&self) -> Instant {
        self.net.time
    }

    /// The dialling node.
    pub fn client(&self) -> &QuicNode {
        &self.net.nodes[Self::CLIENT]
    }

    /// The listening node.
    pub fn server(&self) -> &QuicNode {
        &self.net.nodes[Self::SERVER]
    }

    /// Counts allocations inside the endpoints' `poll_transmit` calls with `counter`
    /// (see [`QuicNet::set_alloc_counter`]).
    pub fn set_alloc_counter(&mut self, counter: fn() -> u64) {
        self.net.set_alloc_counter(counter);
    }

    /// Opens a bidirectional stream from the client.
    pub fn open_client_stream(&mut self) -> Result<StreamId, FixtureError> {
        let conn = self.client_conn;
        self.client_endpoint()
            .open_bi(conn)
            .map_err(|e| fail(format!("open_bi: {e}")))
    }

    /// Writes all of `data` on the client's `stream` (as flow control allows) and drives
    /// both endpoints until the server has read every byte of it. Returns the simulated
    /// time it took. The data goes through `Endpoint::write`, which copies it into QUIC.
    pub fn transfer(&mut self, stream: StreamId, data: &[u8]) -> Result<Duration, FixtureError> {
        self.transfer_with(stream, data.len(), |endpoint, conn, offset| {
            let rest = data.get(offset..).unwrap_or_default();
            endpoint.write(conn, stream, rest)
        })
    }

    /// [`QuicPair::transfer`] through `Endpoint::write_chunks`: QUIC takes references to
    /// `data` instead of copying it (as the host's send buffers do).
    pub fn transfer_bytes(
        &mut self,
        stream: StreamId,
        data: &Bytes,
    ) -> Result<Duration, FixtureError> {
        let mut chunk = [data.clone()];
        self.transfer_with(stream, data.len(), |endpoint, conn, _offset| {
            endpoint.write_chunks(conn, stream, &mut chunk)
        })
    }

    fn client_endpoint(&mut self) -> &mut Endpoint {
        &mut self.net.nodes[Self::CLIENT].endpoint
    }

    /// Drives a transfer of `len` bytes on `stream`; `write(endpoint, conn, offset)` offers
    /// the bytes from `offset` on and returns how many the endpoint took. Writes again
    /// only after a short write was followed by `Writable`.
    fn transfer_with<W>(
        &mut self,
        stream: StreamId,
        len: usize,
        mut write: W,
    ) -> Result<Duration, FixtureError>
    where
        W: FnMut(&mut Endpoint, ConnId, usize) -> Result<usize, leanp2p_quic::WriteError>,
    {
        let start = self.now();
        let target = self.server().stats.bytes_read + len as u64;
        let conn = self.client_conn;
        let mut offset = 0;
        let mut writable = true;
        for _ in 0..MAX_STEPS {
            if writable && offset < len {
                let taken = write(self.client_endpoint(), conn, offset)
                    .map_err(|e| fail(format!("write: {e}")))?;
                writable = offset + taken == len;
                offset += taken;
            }
            if !self.net.step() {
                return Err(fail("network went quiet during the transfer"));
            }
            for (i, node) in self.net.nodes.iter_mut().enumerate() {
                for event in node.events.drain(..) {
                    match event {
                        QuicEvent::Writable { stream: s, .. }
                            if i == Self::CLIENT && s == stream =>
                        {
                            writable = true;
                        }
                        QuicEvent::Closed { reason, .. } => {
                            return Err(fail(format!("connection closed: {reason:?}")))
                        }
                        _ => {}
                    }
                }
            }
            if self.server().stats.bytes_read >= target {
                return Ok(self.now().saturating_duration_since(start));
            }
        }
        Err(fail("transfer did not finish"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{lean_gossip_payload, message_rpc_body, ssz_like_payload, MeshedRouter};
    use leanp2p_gossipsub::lean;

    #[test]
    fn payloads_are_deterministic_and_compressible() {
        let a = ssz_like_payload(64 * 1024, 1);
        assert_eq!(a.len(), 64 * 1024);
        assert_eq!(a, ssz_like_payload(64 * 1024, 1));
        assert_ne!(a, ssz_like_payload(64 * 1024, 2));
        let compressed = lean_gossip_payload(64 * 1024, 1).unwrap();
        assert!(compressed.len() < a.len() * 3 / 4, "{}", compressed.len());
        assert!(compressed.len() > a.len() / 4, "{}", compressed.len());
        let back = lean::snappy_decompress(&compressed, lean::MAX_PAYLOAD_SIZE).unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn meshed_router_forms_a_full_mesh_and_forwards() {
        let t0 = Instant::now();
        let mut fixture = MeshedRouter::new(t0, 8).unwrap();
        assert_eq!(fixture.mesh_len(), 8);
        let data = lean_gossip_payload(8192, 9).unwrap();
        let body = message_rpc_body(&fixture.topic, data);
        let source = fixture.peers[0];
        fixture
            .router
            .handle_rpc(fixture.now, source, body)
            .unwrap();
        let (frames, _) = fixture.drain();
        // IDONTWANT (payload over 1 000 bytes) and the forward, to the 7 other mesh peers.
        assert_eq!(frames, 14);
        fixture.advance_to(t0 + Duration::from_secs(3));
        assert_eq!(fixture.mesh_len(), 8);
    }

    #[test]
    fn quic_pair_transfers_a_stream_in_simulated_time() {
        let t0 = Instant::now();
        let mut pair =
            QuicPair::connect(t0, QuicConfig::default(), Duration::from_millis(5)).unwrap();
        let stream = pair.open_client_stream().unwrap();
        let data = ssz_like_payload(300 * 1024, 3);
        for batch in [1, 32] {
            pair.net.recv_batch = batch;
            let (client, server) = (pair.client().stats, pair.server().stats);
            let took = pair.transfer(stream, &data).unwrap();
            assert_eq!(
                pair.server().stats.bytes_read - server.bytes_read,
                data.len() as u64
            );
            assert!(pair.client().stats.datagrams_sent - client.datagrams_sent >= 200);
            // At least one round trip of the simulated link.
            assert!(took >= Duration::from_millis(10), "{took:?}");
        }
        assert!(pair.now() > t0);
    }
}
