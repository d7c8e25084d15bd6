//! Machines wired in memory: a tiny harness moves datagrams between N [`Discv5`]s with
//! injected time.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use leanp2p_identity::{Enr, Keypair};

use super::*;
use crate::message::RequestId;

struct Net {
    nodes: Vec<Discv5>,
    addrs: Vec<SocketAddr>,
    keys: Vec<Keypair>,
    ids: Vec<NodeId>,
    enrs: Vec<Enr>,
    events: Vec<Vec<Event>>,
    now: Instant,
    /// Datagrams that were sent, in order: (from index, to address, bytes).
    log: Vec<(usize, SocketAddr, Vec<u8>)>,
    /// When false, datagrams are dropped instead of delivered.
    deliver: bool,
}

fn keypair(i: usize) -> Keypair {
    Keypair::from_secret_bytes(&[i as u8 + 1; 32]).unwrap()
}

fn enr_for(key: &Keypair, port: u16, seq: u64) -> Enr {
    Enr::builder()
        .seq(seq)
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(port)
        .build(key)
        .unwrap()
}

impl Net {
    fn new(n: usize) -> Self {
        Self::with_seq(n, 1)
    }

    fn with_seq(n: usize, seq: u64) -> Self {
        let config = Config {
            table_ip_limits: None,
            ..Config::default()
        };
        Self::with_config(n, seq, config)
    }

    fn with_config(n: usize, seq: u64, config: Config) -> Self {
        let now = Instant::now();
        let mut net = Net {
            nodes: Vec::new(),
            addrs: Vec::new(),
            keys: Vec::new(),
            ids: Vec::new(),
            enrs: Vec::new(),
            events: vec![Vec::new(); n],
            now,
            log: Vec::new(),
            deliver: true,
        };
        for i in 0..n {
            let key = keypair(i);
            let port = 9000 + i as u16;
            let enr = enr_for(&key, port, seq);
            let node =
                Discv5::new(now, config.clone(), key.clone(), enr.clone(), [i as u8; 32]).unwrap();
            net.ids.push(node.local_id());
            net.enrs.push(enr);
            net.nodes.push(node);
            net.addrs
                .push(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
            net.keys.push(key);
        }
        net
    }

    /// Moves datagrams and events until nothing moves.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].poll_transmit() {
                    moved = true;
                    self.log.push((i, t.dest, t.bytes.clone()));
                    if !self.deliver {
                        continue;
                    }
                    if let Some(j) = self.addrs.iter().position(|a| *a == t.dest) {
                        let from = self.addrs[i];
                        self.nodes[j].handle_packet(self.now, from, &t.bytes);
                    }
                }
                while let Some(e) = self.nodes[i].poll_event() {
                    moved = true;
                    self.events[i].push(e);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("network did not settle");
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        for i in 0..self.nodes.len() {
            if self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                self.nodes[i].handle_timeout(self.now);
            }
        }
        self.pump();
    }

    fn take_events(&mut self, i: usize) -> Vec<Event> {
        std::mem::take(&mut self.events[i])
    }

    /// 0 learns 1's record and pings it; returns after the answer.
    fn connect(&mut self, a: usize, b: usize) {
        let enr = self.enrs[b].clone();
        self.nodes[a].add_enr(enr).unwrap();
        let id = self.ids[b];
        self.nodes[a].ping(self.now, id).unwrap();
        self.pump();
    }
}

fn has_pong(events: &[Event], request: RequestId) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Pong { request: r, .. } if *r == request))
}

#[test]
fn handshake_and_ping_pong() {
    let mut net = Net::new(2);
    net.nodes[0].add_enr(net.enrs[1].clone()).unwrap();
    let req = net.nodes[0].ping(net.now, net.ids[1]).unwrap();
    net.pump();
    let a = net.take_events(0);
    let b = net.take_events(1);
    assert!(a.iter().any(|e| matches!(e,
        Event::SessionEstablished { node, direction: Direction::Outbound, .. } if *node == net.ids[1])));
    assert!(b.iter().any(|e| matches!(e,
        Event::SessionEstablished { node, direction: Direction::Inbound, .. } if *node == net.ids[0])));
    let observed = a.iter().find_map(|e| match e {
        Event::Pong {
            request,
            observed,
            enr_seq,
            ..
        } if *request == req => Some((*observed, *enr_seq)),
        _ => None,
    });
    assert_eq!(observed, Some((net.addrs[0], 1)));
    assert_eq!(net.nodes[1].stats().whoareyou_sent, 1);
    assert_eq!(net.nodes[0].stats().handshakes_outbound, 1);
    assert_eq!(net.nodes[1].stats().handshakes_inbound, 1);
    assert!(net.nodes[0].table().get(&net.ids[1]).is_some());
    assert!(net.nodes[1].table().get(&net.ids[0]).is_some());
    assert!(net.nodes[0].has_session(&net.ids[1], net.addrs[1]));
    assert!(net.nodes[1].has_session(&net.ids[0], net.addrs[0]));
    // A second PING rides the session: no new challenge.
    let again = net.nodes[0].ping(net.now, net.ids[1]).unwrap();
    net.pump();
    assert!(has_pong(&net.take_events(0), again));
    assert_eq!(net.nodes[1].stats().whoareyou_sent, 1);
    assert_eq!(
        net.nodes[0].poll_timeout(),
        Some(net.now + Duration::from_secs(30))
    );
    assert_eq!(net.nodes[0].timeout_reason(), Some(TimeoutReason::Liveness));
    net.nodes[0].ping(net.now, net.ids[1]).unwrap();
    assert_eq!(net.nodes[0].timeout_reason(), Some(TimeoutReason::QueuedIo));
    assert_eq!(net.nodes[0].poll_timeout(), Some(net.now));
}

#[test]
fn handshake_the_other_way_then_reuse() {
    let mut net = Net::new(2);
    net.connect(1, 0);
    // Node 0 learned node 1 from the handshake and reuses the session.
    let req = net.nodes[0].ping(net.now, net.ids[1]).unwrap();
    net.pump();
    assert!(has_pong(&net.take_events(0), req));
    assert_eq!(net.nodes[0].stats().whoareyou_sent, 1);
    assert_eq!(net.nodes[1].stats().whoareyou_sent, 0);
}

#[test]
fn requests_wait_for_the_session() {
    let mut net = Net::new(2);
    net.nodes[0].add_enr(net.enrs[1].clone()).unwrap();
    let ping = net.nodes[0].ping(net.now, net.ids[1]).unwrap();
    let find = net.nodes[0].find_node(net.now, net.ids[1], &[0]).unwrap();
    let talk = net.nodes[0]
        .talk_request(net.now, net.ids[1], b"echo", b"hi")
        .unwrap();
    net.pump();
    let b = net.take_events(1);
    let talk_id = b
        .iter()
        .find_map(|e| match e {
            Event::TalkRequest {
                id,
                protocol,
                request,
                ..
            } => {
                assert_eq!(
                    (protocol.as_slice(), request.as_slice()),
                    (&b"echo"[..], &b"hi"[..])
                );
                Some(*id)
            }
            _ => None,
        })
        .unwrap();
    net.nodes[1].talk_response(net.now, talk_id, b"yo").unwrap();
    assert_eq!(
        net.nodes[1].talk_response(net.now, talk_id, b"again"),
        Err(CommandError::UnknownTalkRequest)
    );
    net.pump();
    let a = net.take_events(0);
    assert!(has_pong(&a, ping));
    assert!(a.iter().any(|e| matches!(e,
        Event::Nodes { request, enrs, .. } if *request == find && enrs == &vec![net.enrs[1].clone()])));
    assert!(a.iter().any(|e| matches!(e,
        Event::TalkResponse { request, response, .. } if *request == talk && response == b"yo")));
    assert_eq!(net.nodes[1].stats().whoareyou_sent, 1);
}

#[test]
fn find_node_returns_the_table() {
    let mut net = Net::new(3);
    // 2 and 1 both handshake with 0, so 0's table holds them.
    net.connect(2, 0);
    net.connect(1, 0);
    let d = net.ids[0].log_distance(&net.ids[2]);
    let req = net.nodes[1].find_node(net.now, net.ids[0], &[d]).unwrap();
    net.pump();
    let events = net.take_events(1);
    let enrs = events
        .iter()
        .find_map(|e| match e {
            Event::Nodes { request, enrs, .. } if *request == req => Some(enrs.clone()),
            _ => None,
        })
        .unwrap();
    assert!(enrs.contains(&net.enrs[2].clone()));
    // The learned record is contactable.
    let id2 = net.ids[2];
    let ping = net.nodes[1].ping(net.now, id2).unwrap();
    net.pump();
    assert!(has_pong(&net.take_events(1), ping));
}

#[test]
fn local_enr_update_propagates() {
    let mut net = Net::new(2);
    net.connect(0, 1);
    net.take_events(1);
    let newer = Enr::builder()
        .seq(2)
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(net.addrs[0].port())
        .raw("extra", b"x")
        .build(&net.keys[0])
        .unwrap();
    assert_eq!(
        net.nodes[0].update_local_enr(net.now, net.enrs[0].clone()),
        Err(CommandError::BadLocalEnr)
    );
    net.nodes[0]
        .update_local_enr(net.now, newer.clone())
        .unwrap();
    net.pump();
    let b = net.take_events(1);
    assert!(b
        .iter()
        .any(|e| matches!(e, Event::EnrUpdated { enr, .. } if *enr == newer)));
    assert_eq!(net.nodes[1].known_enr(&net.ids[0]), Some(&newer));
    assert_eq!(net.nodes[1].table().get(&net.ids[0]).unwrap().enr, newer);
}

#[test]
fn timeout_retries_once_then_fails() {
    let mut net = Net::new(2);
    net.deliver = false;
    net.nodes[0].add_enr(net.enrs[1].clone()).unwrap();
    let req = net.nodes[0].ping(net.now, net.ids[1]).unwrap();
    net.pump();
    assert_eq!(net.log.len(), 1);
    net.advance(Duration::from_secs(1));
    assert_eq!(net.nodes[0].stats().requests_retried, 1);
    assert_eq!(net.log.len(), 2);
    assert!(net.take_events(0).is_empty());
    net.advance(Duration::from_secs(1));
    let events = net.take_events(0);
    assert_eq!(
        events,
        vec![Event::RequestFailed {
            node: net.ids[1],
            request: req,
            error: RequestError::Timeout
        }]
    );
    assert_eq!(net.nodes[0].stats().requests_timed_out, 1);
    // Only the table refresh remains armed.
    assert_eq!(net.nodes[0].timeout_reason(), Some(TimeoutReason::Refresh));
}

#[test]
fn bad_packets_are_dropped_and_counted() {
    let mut net = Net::new(3);
    net.connect(0, 1);
    let (_, _, first) = net.log[0].clone();
    let (_, _, handshake) = net.log[2].clone();
    let from0 = net.addrs[0];
    let before = net.nodes[1].stats();
    // Truncated.
    net.nodes[1].handle_packet(net.now, from0, &first[..40]);
    // Masked for node 1 but delivered to node 2.
    net.nodes[2].handle_packet(net.now, from0, &first);
    // Oversized.
    net.nodes[1].handle_packet(net.now, from0, &[0u8; 1300]);
    // Replayed handshake: its challenge is gone.
    net.nodes[1].handle_packet(net.now, from0, &handshake);
    // Header bit flip: the message no longer authenticates, so it is challenged.
    let mut flipped = first.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    net.nodes[1].handle_packet(net.now, from0, &flipped);
    let after = net.nodes[1].stats();
    assert_eq!(after.dropped_too_small, before.dropped_too_small + 1);
    assert_eq!(net.nodes[2].stats().dropped_wrong_protocol, 1);
    assert_eq!(after.dropped_too_large, before.dropped_too_large + 1);
    assert_eq!(
        after.handshakes_unsolicited,
        before.handshakes_unsolicited + 1
    );
    assert_eq!(
        after.messages_undecryptable,
        before.messages_undecryptable + 1
    );
    // A WHOAREYOU nobody asked for.
    let (whoareyou, _) = crate::packet::encode_whoareyou([3; 16], &net.ids[0], [5; 12], [6; 16], 0);
    net.nodes[0].handle_packet(net.now, net.addrs[1], &whoareyou);
    assert_eq!(net.nodes[0].stats().whoareyou_unsolicited, 1);
}

#[test]
fn forged_nodes_answers_are_bounded() {
    let mut net = Net::new(2);
    net.connect(0, 1);
    net.take_events(0);
    let req = net.nodes[0].find_node(net.now, net.ids[1], &[256]).unwrap();
    // Don't let node 1 answer: node 1 forges NODES over its real session instead.
    while net.nodes[0].poll_transmit().is_some() {}
    let (to0, from1) = ((net.ids[0], net.addrs[0]), net.addrs[1]);
    let invalid = Message::Nodes {
        id: req,
        total: 17,
        enrs: vec![],
    };
    net.nodes[1]
        .send_with_session(to0, &invalid.encode())
        .unwrap();
    // A record at the wrong distance (node 1's own record is distance 0), in two parts.
    let wrong = Message::Nodes {
        id: req,
        total: 2,
        enrs: vec![net.enrs[1].clone()],
    };
    net.nodes[1]
        .send_with_session(to0, &wrong.encode())
        .unwrap();
    let unknown = Message::Nodes {
        id: RequestId::from_u64(1),
        total: 1,
        enrs: vec![],
    };
    net.nodes[1]
        .send_with_session(to0, &unknown.encode())
        .unwrap();
    net.pump();
    let stats = net.nodes[0].stats();
    assert_eq!(stats.messages_invalid, 1);
    assert_eq!(stats.nodes_records_dropped, 1);
    assert_eq!(stats.responses_unexpected, 1);
    // The partial answer is delivered at the timeout.
    assert!(net.take_events(0).is_empty());
    net.advance(Duration::from_secs(1));
    let events = net.take_events(0);
    assert!(events.iter().any(|e| matches!(e,
        Event::Nodes { request, enrs, .. } if *request == req && enrs.is_empty())));
    let _ = from1;
}

#[test]
fn one_outstanding_challenge_per_node_and_address() {
    let mut net = Net::new(2);
    let packet = |nonce: u8| {
        let header = crate::packet::Header {
            nonce: [nonce; 12],
            auth: crate::packet::AuthData::Message {
                src_id: NodeId([9; 32]),
            },
        };
        crate::packet::encode_message_packet([1; 16], &net.ids[1], &header, &[0; 16], b"x").unwrap()
    };
    let (first, second) = (packet(1), packet(2));
    net.nodes[1].handle_packet(net.now, net.addrs[0], &first);
    net.nodes[1].handle_packet(net.now, net.addrs[0], &second);
    let stats = net.nodes[1].stats();
    assert_eq!(stats.whoareyou_sent, 1);
    assert_eq!(stats.whoareyou_already_pending, 1);
    // Once the challenge expired, the node is challenged again.
    net.advance(Duration::from_secs(2));
    net.nodes[1].handle_packet(net.now, net.addrs[0], &second);
    assert_eq!(net.nodes[1].stats().whoareyou_sent, 2);
}

#[test]
fn whoareyou_is_rate_limited_per_ip() {
    let mut net = Net::new(2);
    let limit = Config::default().whoareyou_per_ip;
    for i in 0..(limit + 5) {
        // Distinct node IDs: one node gets one challenge at a time anyway.
        let mut src = [9; 32];
        src[0] = i as u8;
        let header = crate::packet::Header {
            nonce: [i as u8; 12],
            auth: crate::packet::AuthData::Message {
                src_id: NodeId(src),
            },
        };
        let bytes =
            crate::packet::encode_message_packet([1; 16], &net.ids[1], &header, &[0; 16], b"x")
                .unwrap();
        net.nodes[1].handle_packet(net.now, net.addrs[0], &bytes);
    }
    let stats = net.nodes[1].stats();
    assert_eq!(stats.whoareyou_sent, u64::from(limit));
    assert_eq!(stats.whoareyou_rate_limited, 5);
    // The window passes: challenges resume.
    net.advance(Duration::from_secs(2));
    let header = crate::packet::Header {
        nonce: [0xee; 12],
        auth: crate::packet::AuthData::Message {
            src_id: NodeId([9; 32]),
        },
    };
    let bytes = crate::packet::encode_message_packet([1; 16], &net.ids[1], &header, &[0; 16], b"x")
        .unwrap();
    net.nodes[1].handle_packet(net.now, net.addrs[0], &bytes);
    assert_eq!(net.nodes[1].stats().whoareyou_sent, u64::from(limit) + 1);
}

#[test]
fn liveness_ping_removes_dead_nodes() {
    let mut net = Net::new(2);
    net.connect(0, 1);
    assert_eq!(net.nodes[0].table().len(), 1);
    net.deliver = false;
    for _ in 0..4 {
        net.advance(Duration::from_secs(30));
        net.advance(Duration::from_secs(1));
        net.advance(Duration::from_secs(1));
    }
    assert_eq!(net.nodes[0].table().len(), 0);
    assert!(net
        .take_events(0)
        .iter()
        .all(|e| !matches!(e, Event::RequestFailed { .. })));
}

#[test]
fn commands_validate_their_input() {
    let mut net = Net::new(2);
    let unknown = NodeId([7; 32]);
    assert_eq!(
        net.nodes[0].ping(net.now, unknown),
        Err(CommandError::UnknownNode)
    );
    assert_eq!(
        net.nodes[0].add_enr(net.enrs[0].clone()),
        Err(CommandError::LocalNode)
    );
    let no_udp = Enr::builder().build(&net.keys[1]).unwrap();
    assert_eq!(
        net.nodes[0].add_enr(no_udp),
        Err(CommandError::NoUdpEndpoint)
    );
    net.nodes[0].add_enr(net.enrs[1].clone()).unwrap();
    assert_eq!(
        net.nodes[0].find_node(net.now, net.ids[1], &[257]),
        Err(CommandError::InvalidDistances)
    );
    assert_eq!(
        net.nodes[0].talk_request(net.now, net.ids[1], b"p", &[0; 1300]),
        Err(CommandError::TooLarge)
    );
    let wrong_key = enr_for(&net.keys[1], 1, 5);
    assert!(Discv5::new(
        net.now,
        Config::default(),
        net.keys[0].clone(),
        wrong_key,
        [0; 32]
    )
    .is_err());
}

#[test]
fn records_with_sequence_zero_still_handshake() {
    // A challenge with enr-seq 0 must be answered with the record, whatever our seq.
    let mut net = Net::with_seq(2, 0);
    net.connect(0, 1);
    assert!(net.nodes[0].has_session(&net.ids[1], net.addrs[1]));
    assert_eq!(net.nodes[1].stats().handshakes_invalid, 0);
}

#[test]
fn session_is_tied_to_the_address() {
    let mut net = Net::new(2);
    net.connect(0, 1);
    let ping = Message::Ping {
        id: RequestId::from_u64(5),
        enr_seq: 1,
    };
    // A valid packet of node 0's session replayed from another address is challenged.
    net.nodes[0]
        .send_with_session((net.ids[1], net.addrs[1]), &ping.encode())
        .unwrap();
    let t = net.nodes[0].poll_transmit().unwrap();
    let elsewhere = SocketAddr::from((Ipv4Addr::new(127, 0, 0, 9), 4444));
    net.nodes[1].handle_packet(net.now, elsewhere, &t.bytes);
    let stats = net.nodes[1].stats();
    assert_eq!(stats.messages_without_session, 2);
    assert_eq!(stats.whoareyou_sent, 2);
    let challenge = net.nodes[1].poll_transmit().unwrap();
    assert_eq!(challenge.dest, elsewhere);
}

#[test]
fn lookup_walks_to_the_target() {
    let mut net = Net::new(7);
    // Node 1 knows everyone; node 0 knows only node 1.
    for i in 2..7 {
        net.connect(i, 1);
    }
    net.connect(0, 1);
    let target = net.ids[4];
    let lookup = net.nodes[0].lookup(net.now, target).unwrap();
    net.pump();
    let closest = net
        .take_events(0)
        .into_iter()
        .find_map(|e| match e {
            Event::LookupFinished {
                id,
                target: t,
                closest,
            } if id == lookup => {
                assert_eq!(t, target);
                Some(closest)
            }
            _ => None,
        })
        .expect("lookup finished");
    assert_eq!(closest.first(), Some(&net.enrs[4]));
    assert!(closest.contains(&net.enrs[1]));
    for pair in closest.windows(2) {
        let d = |e: &Enr| NodeId(e.node_id()).distance(&target);
        assert!(d(&pair[0]) < d(&pair[1]));
    }
    assert_eq!(net.nodes[0].lookup_count(), 0);
}

#[test]
fn lookup_matching_reports_only_matching_records() {
    let mut net = Net::new(7);
    // Nodes 3 and 5 advertise a QUIC port (a new record, seq 2).
    for i in [3, 5] {
        let enr = Enr::builder()
            .seq(2)
            .ip4(Ipv4Addr::LOCALHOST)
            .udp4(net.addrs[i].port())
            .quic4(9100 + i as u16)
            .build(&net.keys[i])
            .unwrap();
        net.nodes[i].update_local_enr(net.now, enr.clone()).unwrap();
        net.enrs[i] = enr;
    }
    for i in 2..7 {
        net.connect(i, 1);
    }
    net.connect(0, 1);
    let target = net.ids[3];
    let finished = |net: &mut Net, lookup: LookupId| {
        net.pump();
        net.take_events(0)
            .into_iter()
            .find_map(|e| match e {
                Event::LookupFinished { id, closest, .. } if id == lookup => Some(closest),
                _ => None,
            })
            .expect("lookup finished")
    };
    // A plain lookup finds node 3 (QUIC) and node 1 (no QUIC) ...
    let plain = net.nodes[0].lookup(net.now, target).unwrap();
    let all = finished(&mut net, plain);
    assert!(
        all.contains(&net.enrs[3]) && all.contains(&net.enrs[1]),
        "{all:?}"
    );
    // ... the same lookup with a predicate reports only node 3.
    let has_quic = EnrPredicate::new(|enr: &Enr| enr.quic4().is_some());
    let matching = net.nodes[0]
        .lookup_matching(net.now, target, has_quic)
        .unwrap();
    let only = finished(&mut net, matching);
    assert_eq!(only, vec![net.enrs[3].clone()]);
}

#[test]
fn lookup_ends_when_nobody_answers() {
    let mut net = Net::new(2);
    net.deliver = false;
    assert_eq!(
        net.nodes[0].lookup(net.now, NodeId([1; 32])),
        Err(CommandError::UnknownNode)
    );
    net.nodes[0].add_enr(net.enrs[1].clone()).unwrap();
    let lookup = net.nodes[0].lookup(net.now, NodeId([1; 32])).unwrap();
    net.pump();
    net.advance(Duration::from_secs(1));
    net.advance(Duration::from_secs(1));
    let events = net.take_events(0);
    assert_eq!(
        events,
        vec![Event::LookupFinished {
            id: lookup,
            target: NodeId([1; 32]),
            closest: vec![]
        }]
    );
}

#[test]
fn pong_votes_report_the_external_address() {
    let mut net = Net::new(4);
    net.connect(0, 1);
    net.connect(0, 2);
    assert_eq!(net.nodes[0].external_address(), None);
    assert!(net
        .take_events(0)
        .iter()
        .all(|e| !matches!(e, Event::ExternalAddress { .. })));
    net.connect(0, 3);
    let events = net.take_events(0);
    assert!(events.contains(&Event::ExternalAddress { addr: net.addrs[0] }));
    assert_eq!(net.nodes[0].external_address(), Some(net.addrs[0]));
    // More agreeing votes do not repeat the event.
    let id1 = net.ids[1];
    net.nodes[0].ping(net.now, id1).unwrap();
    net.pump();
    assert!(net
        .take_events(0)
        .iter()
        .all(|e| !matches!(e, Event::ExternalAddress { .. })));
}

/// The handshake packet node 0 sent to node 1 in `net.log`, decoded.
fn handshake_record(net: &Net) -> Option<Vec<u8>> {
    net.log.iter().find_map(|(from, _, bytes)| {
        if *from != 0 {
            return None;
        }
        match crate::packet::decode_packet(&net.ids[1], bytes)
            .ok()?
            .header
            .auth
        {
            crate::packet::AuthData::Handshake { record, .. } => Some(record),
            _ => None,
        }
    })?
}

#[test]
fn record_rides_the_handshake_only_when_stale() {
    // Node 1 has no record of node 0: the handshake carries it.
    let mut net = Net::new(2);
    net.connect(0, 1);
    assert_eq!(handshake_record(&net), Some(net.enrs[0].to_rlp().to_vec()));
    // Node 1 already has node 0's current record: none is sent.
    let mut net = Net::new(2);
    net.nodes[1].add_enr(net.enrs[0].clone()).unwrap();
    net.connect(0, 1);
    assert!(net.nodes[0].has_session(&net.ids[1], net.addrs[1]));
    assert_eq!(handshake_record(&net), None);
    // Node 1 holds an older record (seq 1 < 2): the new one is sent and adopted.
    let mut net = Net::new(2);
    net.nodes[1].add_enr(net.enrs[0].clone()).unwrap();
    let newer = enr_for(&net.keys[0], net.addrs[0].port(), 2);
    net.nodes[0]
        .update_local_enr(net.now, newer.clone())
        .unwrap();
    net.connect(0, 1);
    assert_eq!(handshake_record(&net), Some(newer.to_rlp().to_vec()));
    assert_eq!(net.nodes[1].known_enr(&net.ids[0]), Some(&newer));
}

#[test]
fn nodes_beyond_sixteen_per_request_are_dropped() {
    let mut net = Net::new(2);
    net.connect(0, 1);
    net.take_events(0);
    // 20 valid records at log-distance 256 from node 1.
    let mut far = Vec::new();
    for seed in 100u32.. {
        let mut secret = [3u8; 32];
        secret[..4].copy_from_slice(&seed.to_be_bytes());
        let key = Keypair::from_secret_bytes(&secret).unwrap();
        let enr = enr_for(&key, 1000, 1);
        if NodeId(enr.node_id()).log_distance(&net.ids[1]) == 256 {
            far.push(enr);
        }
        if far.len() == 20 {
            break;
        }
    }
    let req = net.nodes[0].find_node(net.now, net.ids[1], &[256]).unwrap();
    while net.nodes[0].poll_transmit().is_some() {}
    let to0 = (net.ids[0], net.addrs[0]);
    for chunk in far.chunks(4) {
        let part = Message::Nodes {
            id: req,
            total: 5,
            enrs: chunk.to_vec(),
        };
        net.nodes[1].send_with_session(to0, &part.encode()).unwrap();
    }
    net.pump();
    let enrs = net
        .take_events(0)
        .into_iter()
        .find_map(|e| match e {
            Event::Nodes { request, enrs, .. } if request == req => Some(enrs),
            _ => None,
        })
        .unwrap();
    assert_eq!(enrs.len(), 16);
    assert_eq!(net.nodes[0].stats().nodes_records_dropped, 4);
}

#[test]
fn simultaneous_handshakes_converge() {
    // Both issue orders, so either the smaller or the larger ID sends first.
    for (first, second) in [(0usize, 1usize), (1, 0)] {
        let mut net = Net::new(2);
        net.nodes[0].add_enr(net.enrs[1].clone()).unwrap();
        net.nodes[1].add_enr(net.enrs[0].clone()).unwrap();
        let (id_first, id_second) = (net.ids[first], net.ids[second]);
        let p_first = net.nodes[first].ping(net.now, id_second).unwrap();
        let p_second = net.nodes[second].ping(net.now, id_first).unwrap();
        net.pump();
        let (e_first, e_second) = (net.take_events(first), net.take_events(second));
        assert!(has_pong(&e_first, p_first), "{e_first:?}");
        assert!(has_pong(&e_second, p_second), "{e_second:?}");
        let yielded =
            net.nodes[0].stats().challenges_yielded + net.nodes[1].stats().challenges_yielded;
        assert_eq!(yielded, 1);
        // The sessions agree: a fresh PING each way needs no new handshake.
        let challenges =
            |net: &Net| net.nodes[0].stats().whoareyou_sent + net.nodes[1].stats().whoareyou_sent;
        let before = challenges(&net);
        let p = net.nodes[0].ping(net.now, net.ids[1]).unwrap();
        let q = net.nodes[1].ping(net.now, net.ids[0]).unwrap();
        net.pump();
        assert!(has_pong(&net.take_events(0), p));
        assert!(has_pong(&net.take_events(1), q));
        assert_eq!(challenges(&net), before);
        assert_eq!(net.nodes[0].stats().requests_retried, 0);
        assert_eq!(net.nodes[1].stats().requests_retried, 0);
    }
}

#[test]
fn refresh_lookups_fill_the_table_from_a_bootnode() {
    let mut net = Net::new(12);
    // Node 1 is the bootnode: everyone else has a session with it.
    for i in 2..12 {
        net.connect(i, 1);
    }
    // Node 0 only knows the bootnode's record.
    net.nodes[0].add_enr(net.enrs[1].clone()).unwrap();
    assert_eq!(net.nodes[0].table().len(), 0);
    for _ in 0..6 {
        net.advance(Duration::from_secs(60));
        for _ in 0..3 {
            net.advance(Duration::from_secs(1));
        }
    }
    // Every other node, found through the bootnode and verified by a handshake.
    assert_eq!(net.nodes[0].table().len(), 11);
    // Internal lookups report nothing.
    assert!(net
        .take_events(0)
        .iter()
        .all(|e| !matches!(e, Event::LookupFinished { .. })));
}

#[test]
fn forged_handshake_does_not_cancel_the_challenge() {
    let mut net = Net::new(3);
    net.deliver = false;
    net.nodes[0].add_enr(net.enrs[1].clone()).unwrap();
    let ping = net.nodes[0].ping(net.now, net.ids[1]).unwrap();
    let random = net.nodes[0].poll_transmit().unwrap();
    net.nodes[1].handle_packet(net.now, net.addrs[0], &random.bytes);
    let challenge = net.nodes[1].poll_transmit().unwrap();
    // A handshake from node 2's key claiming node 0's ID and address: fails to verify.
    let forged = crate::packet::Header {
        nonce: [1; 12],
        auth: crate::packet::AuthData::Handshake {
            src_id: net.ids[0],
            id_signature: [3; 64],
            eph_pubkey: net.keys[2].secp256k1_public().to_bytes(),
            record: Some(net.enrs[2].to_rlp().to_vec()),
        },
    };
    let bytes =
        crate::packet::encode_message_packet([2; 16], &net.ids[1], &forged, &[0; 16], b"xx")
            .unwrap();
    net.nodes[1].handle_packet(net.now, net.addrs[0], &bytes);
    assert_eq!(net.nodes[1].stats().handshakes_invalid, 1);
    // The real handshake still completes.
    net.deliver = true;
    net.nodes[0].handle_packet(net.now, net.addrs[1], &challenge.bytes);
    net.pump();
    assert!(has_pong(&net.take_events(0), ping));
    assert_eq!(net.nodes[1].stats().handshakes_inbound, 1);
}

#[test]
fn unanswered_talk_request_gets_an_empty_response() {
    let mut net = Net::new(2);
    net.connect(0, 1);
    net.take_events(0);
    let talk = net.nodes[0]
        .talk_request(net.now, net.ids[1], b"unknown", b"?")
        .unwrap();
    net.pump();
    assert!(net
        .take_events(1)
        .iter()
        .any(|e| matches!(e, Event::TalkRequest { .. })));
    net.advance(Duration::from_millis(999));
    assert!(net.take_events(0).is_empty());
    net.advance(Duration::from_millis(1));
    let events = net.take_events(0);
    assert!(events.iter().any(|e| matches!(e,
        Event::TalkResponse { request, response, .. } if *request == talk && response.is_empty())));
    assert_eq!(net.nodes[1].stats().talk_requests_expired, 1);
}

#[test]
fn evicted_sessions_are_renegotiated() {
    let config = Config {
        table_ip_limits: None,
        session_capacity: 1,
        ..Config::default()
    };
    let mut net = Net::with_config(3, 1, config);
    net.connect(0, 1);
    net.connect(0, 2);
    assert_eq!(net.nodes[0].session_count(), 1);
    assert_eq!(net.nodes[0].stats().sessions_evicted, 1);
    assert!(!net.nodes[0].has_session(&net.ids[1], net.addrs[1]));
    // Node 1 still has its session: our fresh request is undecryptable there, gets a
    // WHOAREYOU, and a new handshake follows.
    let ping = net.nodes[0].ping(net.now, net.ids[1]).unwrap();
    net.pump();
    assert!(has_pong(&net.take_events(0), ping));
    assert_eq!(net.nodes[1].stats().messages_undecryptable, 1);
    assert_eq!(net.nodes[1].stats().handshakes_inbound, 2);
}

#[test]
fn a_newer_record_relayed_in_nodes_updates_what_we_know() {
    let mut net = Net::new(3);
    net.connect(1, 2);
    assert_eq!(net.nodes[1].known_enr(&net.ids[2]), Some(&net.enrs[2]));
    // 2 moves to seq 2 while its announcements are lost, then meets 0 (which learns
    // the new record in the handshake).
    let newer = Enr::builder()
        .seq(2)
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(net.addrs[2].port())
        .raw("extra", b"y")
        .build(&net.keys[2])
        .unwrap();
    net.deliver = false;
    net.nodes[2]
        .update_local_enr(net.now, newer.clone())
        .unwrap();
    net.pump();
    net.deliver = true;
    net.connect(2, 0);
    net.connect(1, 0);
    net.take_events(1);
    // 1 asks 0 for the bucket holding 2: the relayed record is newer than 1's.
    let d = net.ids[0].log_distance(&net.ids[2]);
    net.nodes[1].find_node(net.now, net.ids[0], &[d]).unwrap();
    net.pump();
    assert!(net
        .take_events(1)
        .iter()
        .any(|e| matches!(e, Event::EnrUpdated { enr, .. } if *enr == newer)));
    assert_eq!(net.nodes[1].known_enr(&net.ids[2]), Some(&newer));
}
