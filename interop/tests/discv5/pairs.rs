//! One of ours and one of theirs: handshakes started by either side, PING/PONG,
//! FINDNODE, TALKREQ both ways, and ENR updates with a higher `seq` both ways.

use std::net::{IpAddr, Ipv4Addr};

use discv5::handler::NodeContact;
use discv5::IpMode;
use leanp2p_discv5::{Direction, Event, NodeId};
use leanp2p_identity::Enr;

use crate::support::{
    eventually, from_sigp, sigp_id, start_sigp, to_sigp, to_sigp_id, Ours, DEADLINE,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_handshake_ping_find_and_talk_to_sigp() {
    let (sigp, sigp_enr) = start_sigp([0x11; 32]).await;
    let mut sigp_events = sigp.event_stream().await.unwrap();
    let ours = Ours::start([0x22; 32]);
    let theirs = from_sigp(&sigp_enr);
    let their_id = NodeId(theirs.node_id());
    assert_eq!(their_id, sigp_id(&sigp));

    // We start the handshake (our PING provokes their WHOAREYOU).
    ours.with(|m, _| m.add_enr(theirs.clone())).unwrap();
    let ping = ours.with(|m, now| m.ping(now, their_id)).unwrap();
    let observed = ours
        .wait_for("PONG", |e| match e {
            Event::Pong {
                request, observed, ..
            } if *request == ping => Some(*observed),
            _ => None,
        })
        .await;
    assert_eq!(observed, ours.addr);
    let direction = ours
        .wait_for("session", |e| match e {
            Event::SessionEstablished {
                node, direction, ..
            } if *node == their_id => Some(*direction),
            _ => None,
        })
        .await;
    assert_eq!(direction, Direction::Outbound);
    assert!(ours.with(|m, _| m.has_session(&their_id, theirs_addr(&theirs))));

    // FINDNODE [0]: their own record.
    let find = ours
        .with(|m, now| m.find_node(now, their_id, &[0]))
        .unwrap();
    let enrs = ours
        .wait_for("NODES", |e| match e {
            Event::Nodes { request, enrs, .. } if *request == find => Some(enrs.clone()),
            _ => None,
        })
        .await;
    assert_eq!(enrs, vec![theirs.clone()]);

    // Their table holds us (verified session); the discv5 crate never returns the asker
    // itself in NODES, so a second node of ours contacts them and we ask for it.
    let sigp_table = sigp.table_entries_id();
    assert!(
        sigp_table.contains(&to_sigp_id(ours.id())),
        "{sigp_table:?}"
    );
    let other = Ours::start([0x23; 32]);
    other.with(|m, _| m.add_enr(theirs.clone())).unwrap();
    let ping = other.with(|m, now| m.ping(now, their_id)).unwrap();
    other
        .wait_for("PONG", |e| match e {
            Event::Pong { request, .. } if *request == ping => Some(()),
            _ => None,
        })
        .await;
    let distance = their_id.log_distance(&other.id());
    let find = ours
        .with(|m, now| m.find_node(now, their_id, &[distance]))
        .unwrap();
    let enrs = ours
        .wait_for("NODES from their table", |e| match e {
            Event::Nodes { request, enrs, .. } if *request == find => Some(enrs.clone()),
            _ => None,
        })
        .await;
    assert_eq!(enrs, vec![other.enr.clone()]);

    // TALKREQ from us, answered by their application.
    let talk = ours
        .with(|m, now| m.talk_request(now, their_id, b"echo", b"hello"))
        .unwrap();
    loop {
        let event = tokio::time::timeout(DEADLINE, sigp_events.recv())
            .await
            .expect("sigp event in time")
            .expect("sigp stream open");
        if let discv5::Event::TalkRequest(req) = event {
            assert_eq!((req.protocol(), req.body()), (&b"echo"[..], &b"hello"[..]));
            req.respond(b"world".to_vec()).unwrap();
            break;
        }
    }
    let response = ours
        .wait_for("TALKRESP", |e| match e {
            Event::TalkResponse {
                request, response, ..
            } if *request == talk => Some(response.clone()),
            _ => None,
        })
        .await;
    assert_eq!(response, b"world");
    let stats = ours.with(|m, _| m.stats());
    assert_eq!(stats.handshakes_outbound, 1);
    assert_eq!(stats.handshakes_invalid, 0);
    assert_eq!(stats.messages_invalid, 0);
}

fn theirs_addr(enr: &Enr) -> std::net::SocketAddr {
    leanp2p_discv5::udp_endpoint(enr).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigp_handshakes_pings_finds_and_talks_to_us() {
    let (sigp, _) = start_sigp([0x33; 32]).await;
    let ours = Ours::start([0x44; 32]);
    let our_enr = to_sigp(&ours.enr);
    assert_eq!(our_enr.node_id(), to_sigp_id(ours.id()));

    // They start the handshake: their PING gets our WHOAREYOU.
    let pong = tokio::time::timeout(DEADLINE, sigp.send_ping(our_enr.clone()))
        .await
        .expect("ping in time")
        .expect("pong");
    assert_eq!(pong.enr_seq, ours.enr.seq());
    assert_eq!(pong.ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let their_id = sigp_id(&sigp);
    let direction = ours
        .wait_for("session", |e| match e {
            Event::SessionEstablished {
                node, direction, ..
            } if *node == their_id => Some(*direction),
            _ => None,
        })
        .await;
    assert_eq!(direction, Direction::Inbound);

    let found = tokio::time::timeout(
        DEADLINE,
        sigp.find_node_designated_peer(our_enr.clone(), vec![0]),
    )
    .await
    .expect("findnode in time")
    .expect("nodes");
    assert_eq!(found, vec![our_enr.clone()]);

    // Our table holds the discv5-crate node (verified session, matching address): a
    // FINDNODE at its distance returns it.
    let distance = u64::from(ours.id().log_distance(&their_id));
    assert!(ours.with(|m, _| m.table().get(&their_id).is_some()));
    let found = tokio::time::timeout(
        DEADLINE,
        sigp.find_node_designated_peer(our_enr.clone(), vec![distance]),
    )
    .await
    .expect("findnode in time")
    .expect("nodes");
    assert_eq!(found, vec![sigp.local_enr()]);

    // TALKREQ from them. `Discv5::talk_req` takes a `NodeContact`, which the crate
    // exports as `discv5::handler::NodeContact`.
    let contact = NodeContact::try_from_enr(our_enr.clone(), IpMode::Ip4).unwrap();
    let request = sigp.talk_req(contact, b"echo".to_vec(), b"ping?".to_vec());
    let answer = tokio::spawn(async move { tokio::time::timeout(DEADLINE, request).await });
    let (talk, protocol, body) = ours
        .wait_for("TALKREQ", |e| match e {
            Event::TalkRequest {
                id,
                node,
                protocol,
                request,
                ..
            } if *node == their_id => Some((*id, protocol.clone(), request.clone())),
            _ => None,
        })
        .await;
    assert_eq!((&protocol[..], &body[..]), (&b"echo"[..], &b"ping?"[..]));
    ours.with(|m, now| m.talk_response(now, talk, b"pong!"))
        .unwrap();
    let response = answer
        .await
        .unwrap()
        .expect("TALKRESP in time")
        .expect("TALKRESP");
    assert_eq!(response, b"pong!");
    let stats = ours.with(|m, _| m.stats());
    assert_eq!(stats.handshakes_inbound, 1);
    assert_eq!(stats.handshakes_invalid, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enr_updates_with_a_higher_seq_propagate_both_ways() {
    let (sigp, sigp_enr) = start_sigp([0x55; 32]).await;
    let ours = Ours::start([0x66; 32]);
    let their_id = sigp_id(&sigp);
    ours.with(|m, _| m.add_enr(from_sigp(&sigp_enr))).unwrap();
    let ping = ours.with(|m, now| m.ping(now, their_id)).unwrap();
    ours.wait_for("PONG", |e| match e {
        Event::Pong { request, .. } if *request == ping => Some(()),
        _ => None,
    })
    .await;
    // Both tables now hold the other.
    let our_sigp_id = to_sigp_id(ours.id());
    eventually("sigp's table to hold us", || {
        sigp.find_enr(&our_sigp_id).is_some()
    })
    .await;
    let seq = ours.enr.seq();
    assert_eq!(sigp.find_enr(&our_sigp_id).unwrap().seq(), seq);

    // Ours: a new record (seq + 1, now with a QUIC port) is announced by PING; the
    // discv5 crate sees the higher enr_seq and fetches it with FINDNODE [0].
    let newer = Enr::builder()
        .seq(seq + 1)
        .ip4(Ipv4Addr::LOCALHOST)
        .udp4(ours.addr.port())
        .quic4(9_999)
        .build(&ours.key)
        .unwrap();
    ours.with(|m, now| m.update_local_enr(now, newer.clone()))
        .unwrap();
    eventually("sigp to fetch our seq 2 record", || {
        sigp.find_enr(&our_sigp_id)
            .is_some_and(|e| e.seq() == seq + 1)
    })
    .await;
    assert_eq!(sigp.find_enr(&our_sigp_id).unwrap(), to_sigp(&newer));

    // Theirs: a new field raises their seq; our next PING sees it in the PONG and
    // fetches the record.
    let before = sigp.local_enr().seq();
    sigp.enr_insert("quic", &8_888u16).unwrap();
    let updated = sigp.local_enr();
    assert_eq!(updated.seq(), before + 1);
    let ping = ours.with(|m, now| m.ping(now, their_id)).unwrap();
    let enr_seq = ours
        .wait_for("PONG", |e| match e {
            Event::Pong {
                request, enr_seq, ..
            } if *request == ping => Some(*enr_seq),
            _ => None,
        })
        .await;
    assert_eq!(enr_seq, updated.seq());
    let enr = ours
        .wait_for("EnrUpdated", |e| match e {
            Event::EnrUpdated { node, enr } if *node == their_id => Some(enr.clone()),
            _ => None,
        })
        .await;
    assert_eq!(enr, from_sigp(&updated));
    assert_eq!(enr.quic4(), Some(8_888));
    assert_eq!(
        ours.with(|m, _| m.known_enr(&their_id).map(Enr::seq)),
        Some(updated.seq())
    );
}
