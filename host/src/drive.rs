//! [`Node::drive`]: the drain rule as one call, for embedders that run the node on their
//! own runtime (tokio, a blocking loop, a game loop, ...).
//!
//! The order is the one `runtime-mio` applies on every wakeup: run due timers, send every
//! datagram, hand out every event (the callback may act on the node), send what the
//! callbacks produced, and repeat while the node still has work due at `now`. The raw
//! `poll_*` methods stay available for drivers that need more control (per-wakeup caps,
//! a transmit held back on `WouldBlock`).

use std::net::{IpAddr, SocketAddr};
use std::slice::Chunks;
use std::time::Instant;

use leanp2p_quic::{Ecn, Transmit};

use crate::event::NodeEvent;
use crate::node::Node;

/// Rounds of timers, transmits and events one [`Node::drive`] call runs while the node
/// still reports work due at `now`. Each round drains everything; a second round is only
/// needed when sending freed stream credit or a callback queued more work, so the bound
/// is never reached in practice. When it is, `drive` returns a deadline `<= now` and the
/// caller simply calls it again.
pub const MAX_DRIVE_ROUNDS: usize = 16;

/// What the node wants sent: one UDP datagram, or a GSO batch of equal-sized datagrams
/// (the last may be shorter) when [`Outgoing::segment_size`] is `Some`.
///
/// A driver without GSO sends each item of [`Outgoing::datagrams`] with one `send_to`.
/// If a send fails (the socket buffer is full, the destination is unreachable, ...), drop
/// the datagram: QUIC's loss recovery retransmits what mattered.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Where to send it.
    pub destination: SocketAddr,
    /// The local IP to send from when the node replies on a specific address
    /// (`IP_PKTINFO`); `None` lets the OS pick. Sockets bound to one address ignore it.
    pub src_ip: Option<IpAddr>,
    /// ECN codepoint to set on the datagrams, if the socket can; ignoring it is safe.
    pub ecn: Option<Ecn>,
    /// `Some(n)`: `contents` holds several datagrams of `n` bytes each (the last may be
    /// shorter); only produced when `quic::Config::max_gso_segments` is above 1.
    pub segment_size: Option<usize>,
    /// The UDP payload bytes (all segments back to back).
    pub contents: &'a [u8],
}

impl<'a> Outgoing<'a> {
    /// A transmit returned by [`Node::poll_transmit`] and the buffer it was written into.
    pub fn new(transmit: &Transmit, buf: &'a [u8]) -> Self {
        Self {
            destination: transmit.destination,
            src_ip: transmit.src_ip,
            ecn: transmit.ecn,
            segment_size: transmit.segment_size,
            contents: buf.get(..transmit.size).unwrap_or(buf),
        }
    }

    /// The individual datagrams: `contents` split by `segment_size` (one item when it is
    /// `None`). Send each with its own `send_to` when the socket has no GSO.
    pub fn datagrams(&self) -> Chunks<'a, u8> {
        let segment = self.segment_size.unwrap_or(self.contents.len()).max(1);
        self.contents.chunks(segment)
    }

    /// How many datagrams [`Outgoing::datagrams`] yields.
    pub fn datagram_count(&self) -> usize {
        self.datagrams().len()
    }
}

impl Node {
    /// Runs the drain rule once for `now` and returns when to call it again.
    ///
    /// Call it after every input (`handle_datagram`), every command (`dial`, `publish`,
    /// `respond`, ...) and whenever the returned deadline passes. It:
    ///
    /// 1. runs [`Node::handle_timeout`] if the node's deadline is `<= now`;
    /// 2. hands every datagram of [`Node::poll_transmit`] to `send`;
    /// 3. hands every [`NodeEvent`] of [`Node::poll_event`] to `on_event`, together with
    ///    the node so the callback can act at once (validate, respond, publish);
    /// 4. sends what the callbacks produced, and repeats from 1 while the node still has
    ///    work due at `now` (at most [`MAX_DRIVE_ROUNDS`] rounds).
    ///
    /// Returns [`Node::poll_timeout`]: sleep until that instant or the next datagram or
    /// command, whichever comes first. A deadline `<= now` means "run again now" (do not
    /// sleep); `None` means no timer is armed (wait for input only).
    ///
    /// `buf` is scratch space for the datagram bytes, reused across calls; its contents
    /// are overwritten.
    ///
    /// ```
    /// use std::time::Instant;
    /// use leanp2p_host::{lean, Keypair, Node, NodeEvent};
    ///
    /// let t0 = Instant::now();
    /// let key = Keypair::from_secret_bytes(&[7; 32]).unwrap();
    /// let mut node = Node::new(t0, lean::config("example/0.1"), &key, [1; 32]).unwrap();
    /// let mut buf = Vec::new();
    /// let mut sent = 0;
    /// let wake_at = node.drive(
    ///     t0,
    ///     &mut buf,
    ///     |out| sent += out.datagram_count(),
    ///     |_node, event| {
    ///         if let NodeEvent::Message { .. } = event { /* validate */ }
    ///     },
    /// );
    /// assert_eq!(sent, 0); // nothing to say yet
    /// assert!(wake_at.is_some_and(|t| t > t0)); // the gossipsub heartbeat
    /// ```
    pub fn drive(
        &mut self,
        now: Instant,
        buf: &mut Vec<u8>,
        mut send: impl FnMut(Outgoing<'_>),
        mut on_event: impl FnMut(&mut Node, NodeEvent),
    ) -> Option<Instant> {
        for _ in 0..MAX_DRIVE_ROUNDS {
            if self.poll_timeout().is_some_and(|deadline| deadline <= now) {
                self.handle_timeout(now);
            }
            self.send_all(now, buf, &mut send);
            while let Some(event) = self.poll_event() {
                on_event(self, event);
            }
            // Work done by the callbacks leaves before the caller sleeps.
            self.send_all(now, buf, &mut send);
            if self.poll_timeout().is_none_or(|deadline| deadline > now) {
                break;
            }
        }
        self.poll_timeout()
    }

    fn send_all(&mut self, now: Instant, buf: &mut Vec<u8>, send: &mut impl FnMut(Outgoing<'_>)) {
        while let Some(transmit) = self.poll_transmit(now, buf) {
            send(Outgoing::new(&transmit, buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    use bytes::Bytes;
    use leanp2p_identity::Keypair;

    use super::*;
    use crate::{lean, Datagram, Validation};

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    fn unlistening_node(t0: Instant, secret: u8) -> Node {
        let key = Keypair::from_secret_bytes(&[secret; 32]).unwrap();
        Node::new(t0, lean::config("drive-test"), &key, [secret; 32]).unwrap()
    }

    fn node(t0: Instant, secret: u8, port: u16) -> Node {
        let mut node = unlistening_node(t0, secret);
        node.listen(t0, addr(port)).unwrap();
        node
    }

    /// Two nodes wired by hand: datagrams are queued and delivered one millisecond
    /// later; `drive` is the only way either node is drained.
    struct Pair {
        now: Instant,
        nodes: [Node; 2],
        addrs: [SocketAddr; 2],
        wires: [Vec<(SocketAddr, Vec<u8>)>; 2],
        events: [Vec<NodeEvent>; 2],
        deadlines: [Option<Instant>; 2],
        buf: Vec<u8>,
    }

    impl Pair {
        fn new(t0: Instant) -> Self {
            Self {
                now: t0,
                nodes: [node(t0, 1, 9001), node(t0, 2, 9002)],
                addrs: [addr(9001), addr(9002)],
                wires: [Vec::new(), Vec::new()],
                events: [Vec::new(), Vec::new()],
                deadlines: [None, None],
                buf: Vec::new(),
            }
        }

        fn drive(&mut self, i: usize) {
            let (now, to) = (self.now, 1 - i);
            let (wire, events) = (&mut self.wires[to], &mut self.events[i]);
            let to_addr = self.addrs[to];
            self.deadlines[i] = self.nodes[i].drive(
                now,
                &mut self.buf,
                |out| {
                    assert_eq!(out.destination, to_addr);
                    for datagram in out.datagrams() {
                        wire.push((out.destination, datagram.to_vec()));
                    }
                },
                |node, event| {
                    if let NodeEvent::Message {
                        id,
                        propagation_source,
                        ..
                    } = &event
                    {
                        node.report_validation(now, id, *propagation_source, Validation::Accept)
                            .unwrap();
                    }
                    events.push(event);
                },
            );
            // Every drive leaves nothing queued: the next deadline is a real timer.
            assert!(
                self.deadlines[i].is_none_or(|d| d > now),
                "node {i}: deadline {:?} at or before now ({:?})",
                self.deadlines[i].map(|d| d.saturating_duration_since(now)),
                self.nodes[i].timeout_reason()
            );
        }

        /// Delivers what is on the wires, then sleeps to the next deadline or delivery.
        fn step(&mut self) {
            for to in 0..2 {
                let from = self.addrs[1 - to];
                for (_, data) in std::mem::take(&mut self.wires[to]) {
                    self.nodes[to].handle_datagram(
                        self.now,
                        Datagram {
                            remote: from,
                            local_ip: None,
                            ecn: None,
                            data: &data,
                        },
                    );
                }
                self.drive(to);
            }
            let busy = self.wires.iter().any(|w| !w.is_empty());
            let next = if busy {
                self.now + Duration::from_millis(1)
            } else {
                let deadline = self.deadlines.iter().flatten().min().copied();
                deadline.unwrap_or(self.now + Duration::from_millis(1))
            };
            self.now = next.max(self.now);
        }

        fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Pair) -> bool) -> bool {
            let end = self.now + limit;
            while self.now < end {
                if done(self) {
                    return true;
                }
                self.step();
            }
            done(self)
        }
    }

    #[test]
    fn outgoing_splits_a_gso_batch_by_segment_size() {
        let bytes = [1u8; 25];
        let transmit = Transmit {
            destination: addr(1),
            size: 25,
            segment_size: Some(10),
            ecn: None,
            src_ip: None,
        };
        let out = Outgoing::new(&transmit, &bytes);
        let sizes: Vec<usize> = out.datagrams().map(<[u8]>::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(out.datagram_count(), 3);

        let single = Transmit {
            segment_size: None,
            size: 7,
            ..transmit
        };
        let out = Outgoing::new(&single, &bytes);
        assert_eq!(out.contents.len(), 7);
        assert_eq!(out.datagrams().collect::<Vec<_>>(), [&bytes[..7]]);
    }

    #[test]
    fn an_idle_node_sends_nothing_and_sleeps_until_its_heartbeat() {
        let t0 = Instant::now();
        let mut n = node(t0, 3, 9003);
        let mut buf = Vec::new();
        let mut sent = 0;
        let mut events = 0;
        let wake = n.drive(t0, &mut buf, |_| sent += 1, |_, _| events += 1);
        assert_eq!((sent, events), (0, 0));
        let wake = wake.unwrap();
        assert!(wake > t0);
        // At the deadline, drive runs the timer itself and moves the deadline on.
        let next = n.drive(wake, &mut buf, |_| sent += 1, |_, _| events += 1);
        assert!(next.unwrap() > wake);
    }

    #[test]
    fn a_dial_leaves_in_the_same_drive_call_and_a_node_that_never_listened_accepts_it() {
        let t0 = Instant::now();
        let mut pair = Pair::new(t0);
        pair.nodes[1] = unlistening_node(t0, 2);
        let peer = pair.nodes[1].local_peer_id();
        pair.nodes[0].dial(t0, pair.addrs[1], Some(peer)).unwrap();
        pair.drive(0);
        assert!(!pair.wires[1].is_empty(), "the Initial was not sent");
        let connected = pair.run_until(Duration::from_secs(5), |p| {
            p.events.iter().all(|events| {
                events
                    .iter()
                    .any(|e| matches!(e, NodeEvent::Connected { .. }))
            })
        });
        assert!(connected, "`listen` is not needed to accept a connection");
    }

    #[test]
    fn two_nodes_driven_only_by_drive_connect_gossip_and_answer_a_request() {
        let t0 = Instant::now();
        let mut pair = Pair::new(t0);
        let topic = lean::topics(lean::DEFAULT_NETWORK, 0).remove(0);
        for n in &mut pair.nodes {
            n.subscribe(t0, &topic).unwrap();
        }
        let (p0, p1) = (pair.nodes[0].local_peer_id(), pair.nodes[1].local_peer_id());
        pair.nodes[0].dial(t0, pair.addrs[1], Some(p1)).unwrap();

        // Publishing needs the peer's subscription: wait for `Subscribed`.
        let subscribed = pair.run_until(Duration::from_secs(5), |p| {
            p.events[0]
                .iter()
                .any(|e| matches!(e, NodeEvent::Subscribed { peer, .. } if *peer == p1))
        });
        assert!(subscribed, "node 0 never saw node 1 subscribe");

        let data = Bytes::from(
            leanp2p_gossipsub::lean::snappy_compress(b"block at slot 1", lean::MAX_PAYLOAD_SIZE)
                .unwrap(),
        );
        pair.nodes[0]
            .publish(pair.now, &topic, data.clone())
            .unwrap();
        let delivered = pair.run_until(Duration::from_secs(5), |p| {
            p.events[1].iter().any(|e| match e {
                NodeEvent::Message {
                    data: d,
                    propagation_source,
                    ..
                } => *d == data && *propagation_source == p0,
                _ => false,
            })
        });
        assert!(delivered, "the gossip message did not arrive");

        // A status request, answered outside the callback (as a client would after
        // looking up its chain state).
        let status = leanp2p_reqresp::lean::Status::default().to_ssz().unwrap();
        let request = pair.nodes[0]
            .request(pair.now, p1, &lean::STATUS, Bytes::from(status.clone()))
            .unwrap();
        let asked = pair.run_until(Duration::from_secs(5), |p| {
            p.events[1]
                .iter()
                .any(|e| matches!(e, NodeEvent::InboundRequest { .. }))
        });
        assert!(asked);
        let channel = pair.events[1]
            .iter()
            .find_map(|e| match e {
                NodeEvent::InboundRequest { channel, .. } => Some(*channel),
                _ => None,
            })
            .unwrap();
        let now = pair.now;
        pair.nodes[1]
            .respond(
                now,
                channel,
                crate::ResponseChunk::success(Bytes::from(status.clone())),
            )
            .unwrap();
        pair.nodes[1].end_response(now, channel).unwrap();
        let answered = pair.run_until(Duration::from_secs(5), |p| {
            p.events[0].iter().any(|e| match e {
                NodeEvent::RequestCompleted {
                    request: r, chunks, ..
                } => *r == request && *chunks == 1,
                _ => false,
            })
        });
        assert!(answered, "the status response did not complete");
    }
}
