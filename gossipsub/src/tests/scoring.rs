//! Peer scoring: thresholds gate gossip, publish, graylist and PX; P4 and P7 penalties.

use std::time::Duration;

use super::*;
use crate::{PeerScoreParams, PeerScoreThresholds, ScoreConfig, TopicScoreParams, Validation};

fn scored_config() -> crate::Config {
    let mut cfg = test_config();
    let mut params = PeerScoreParams::default();
    params.topics.insert(topic(), TopicScoreParams::default());
    cfg.scoring = Some(ScoreConfig {
        params,
        thresholds: PeerScoreThresholds::default(),
    });
    cfg
}

#[test]
fn score_thresholds_gate_gossip_publish_and_graylist() {
    let mut h = Harness::new(scored_config());
    let peers = h.connect(1..=4, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.drain();
    // app weight 10: score = 10 × app score.
    h.gs.set_application_score(&peers[1], -2.0); // -20 < gossip -10
    h.gs.set_application_score(&peers[2], -6.0); // -60 < publish -50
    h.gs.set_application_score(&peers[3], -9.0); // -90 < graylist -80
    assert_eq!(h.gs.peer_score(&peers[1]), -20.0);
    // Gossip: IHAVE from peers[1] is ignored; from peers[0] answered.
    h.control(peers[1], ihave(TOPIC, &[b"aaaaaaaaaaaaaaaaaaaa"]))
        .unwrap();
    assert!(h.drain().is_empty());
    h.control(peers[0], ihave(TOPIC, &[b"aaaaaaaaaaaaaaaaaaaa"]))
        .unwrap();
    assert_eq!(h.drain().len(), 1);
    // Graylist: everything from peers[3] is ignored.
    assert_eq!(
        h.rpc(peers[3], msg(TOPIC, b"x")),
        Err(crate::RpcError::Graylisted)
    );
    // Publish (flood): only peers at or above the publish threshold.
    h.gs.publish(h.now, &topic(), Bytes::from_static(b"p"))
        .unwrap();
    let sent = h.drain();
    assert_eq!(messages_to(&sent, peers[0]), 1);
    assert_eq!(messages_to(&sent, peers[1]), 1);
    assert_eq!(messages_to(&sent, peers[2]), 0);
    assert_eq!(messages_to(&sent, peers[3]), 0);
    // Negative-score mesh peers are pruned at the heartbeat.
    h.heartbeat();
    let mesh = h.mesh();
    assert_eq!(mesh, vec![peers[0]]);
    for p in &peers[1..] {
        assert!(!mesh.contains(p));
    }
}

#[test]
fn rejected_message_penalises_sender_p4() {
    let mut h = Harness::new(scored_config());
    let peers = h.connect(1..=2, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.rpc(peers[0], msg(TOPIC, b"bad")).unwrap();
    h.rpc(peers[1], msg(TOPIC, b"bad")).unwrap(); // duplicate during validation
    let id = lean_id(TOPIC, b"bad");
    h.gs.report_validation(h.now, &id, peers[0], Validation::Reject)
        .unwrap();
    // P4 = 1² × -1 × topic weight 0.5 = -0.5 for both deliverers.
    assert!(h.gs.peer_score(&peers[0]) < 0.0);
    assert!(h.gs.peer_score(&peers[1]) < 0.0);
    // Ignore does not penalise.
    h.rpc(peers[0], msg(TOPIC, b"meh")).unwrap();
    let before = h.gs.peer_score(&peers[0]);
    h.gs.report_validation(h.now, &lean_id(TOPIC, b"meh"), peers[0], Validation::Ignore)
        .unwrap();
    assert_eq!(h.gs.peer_score(&peers[0]), before);
}

#[test]
fn broken_iwant_promise_penalised_p7() {
    let mut cfg = scored_config();
    // No P1 (time in mesh) so the penalty shows alone.
    cfg.scoring
        .as_mut()
        .unwrap()
        .params
        .topics
        .get_mut(&topic())
        .unwrap()
        .time_in_mesh_weight = 0.0;
    let mut h = Harness::new(cfg);
    let p = h.connect([1], true, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.control(p, ihave(TOPIC, &[b"never-delivered-id!!"]))
        .unwrap();
    assert_eq!(h.gs.peer_score(&p), 0.0);
    for _ in 0..6 {
        h.heartbeat(); // 4.2 s > iwant_followup_time 3 s
    }
    assert_eq!(h.gs.stats().counters.broken_promises, 1);
    assert!(h.gs.peer_score(&p) < 0.0, "score {}", h.gs.peer_score(&p));
    // Kept promise: no penalty.
    let q = h.connect([2], true, &[TOPIC])[0];
    h.control(q, ihave(TOPIC, &[lean_id(TOPIC, b"d").as_bytes()]))
        .unwrap();
    h.rpc(q, msg(TOPIC, b"d")).unwrap();
    for _ in 0..6 {
        h.heartbeat();
    }
    assert_eq!(h.gs.stats().counters.broken_promises, 1);
}

#[test]
fn backoff_violation_penalised_p7_and_decays() {
    let mut h = Harness::new(scored_config());
    let p = h.connect([1], false, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.control(p, prune(TOPIC, Some(60), vec![])).unwrap();
    h.control(p, graft(TOPIC)).unwrap();
    // Within graft_flood_threshold: penalty 2 → (2)² × -10 = -40.
    assert_eq!(h.gs.peer_score(&p), -40.0);
    h.advance(Duration::from_secs(1));
    h.gs.handle_timeout(h.now);
    assert!(h.gs.peer_score(&p) > -40.0, "P7 decays");
}

#[test]
fn px_gated_by_accept_px_threshold() {
    let mut h = Harness::new(scored_config());
    let p = h.connect([1], true, &[TOPIC])[0];
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.events();
    h.control(p, prune(TOPIC, Some(60), vec![peer(50)]))
        .unwrap();
    assert!(h.events().is_empty(), "score 0 < accept_px_threshold 10");
    let q = h.connect([2], true, &[TOPIC])[0];
    h.events();
    h.gs.set_application_score(&q, 2.0);
    h.control(q, prune(TOPIC, Some(60), vec![peer(50)]))
        .unwrap();
    assert_eq!(h.events().len(), 1);
}

#[test]
fn mesh_time_and_first_deliveries_raise_score() {
    let mut h = Harness::new(scored_config());
    let peers = h.connect(1..=2, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    h.rpc(peers[0], msg(TOPIC, b"first")).unwrap();
    h.gs.report_validation(
        h.now,
        &lean_id(TOPIC, b"first"),
        peers[0],
        Validation::Accept,
    )
    .unwrap();
    let s0 = h.gs.peer_score(&peers[0]);
    assert!(s0 > 0.0, "P2 first delivery");
    h.advance(Duration::from_secs(1));
    h.gs.handle_timeout(h.now);
    assert!(h.gs.peer_score(&peers[1]) > 0.0, "P1 time in mesh");
}

#[test]
fn invalid_score_params_rejected() {
    let mut cfg = scored_config();
    cfg.scoring.as_mut().unwrap().thresholds.publish_threshold = 1.0;
    assert!(crate::Gossipsub::new(std::time::Instant::now(), cfg, [0; 32]).is_err());
    let mut cfg = test_config();
    cfg.mesh_n_low = 9;
    assert!(matches!(
        crate::Gossipsub::new(std::time::Instant::now(), cfg, [0; 32]),
        Err(crate::ConfigError::InvalidMeshParams)
    ));
}

#[test]
fn gossip_emission_skips_peers_below_gossip_threshold() {
    let mut h = Harness::new(scored_config());
    let peers = h.connect(1..=12, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    let mesh = h.mesh();
    let outside: Vec<PeerId> = peers
        .iter()
        .filter(|p| !mesh.contains(p))
        .copied()
        .collect();
    assert_eq!(outside.len(), 4);
    h.gs.set_application_score(&outside[0], -2.0); // -20 < gossip threshold -10
    h.gs.publish(h.now, &topic(), Bytes::from_static(b"x"))
        .unwrap();
    h.drain();
    h.heartbeat();
    let sent = h.drain();
    for p in &outside {
        let got_ihave = sent.iter().any(|s| s.to == *p && !s.rpc.ihave.is_empty());
        assert_eq!(got_ihave, *p != outside[0], "{p}");
    }
}

#[test]
fn opportunistic_grafting_adds_better_peers() {
    let mut cfg = scored_config();
    cfg.opportunistic_graft_ticks = 2;
    // No P1, so mesh peers stay at 0 and the median is below the threshold.
    cfg.scoring
        .as_mut()
        .unwrap()
        .params
        .topics
        .get_mut(&topic())
        .unwrap()
        .time_in_mesh_weight = 0.0;
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=12, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    let mesh = h.mesh();
    let outside: Vec<PeerId> = peers
        .iter()
        .filter(|p| !mesh.contains(p))
        .copied()
        .collect();
    // Mesh median score 0 < threshold 20; two outside peers score 50.
    h.gs.set_application_score(&outside[0], 5.0);
    h.gs.set_application_score(&outside[1], 5.0);
    h.heartbeat();
    assert_eq!(h.mesh().len(), 8, "not on an opportunistic tick");
    h.heartbeat();
    let sent = h.drain();
    let new_mesh = h.mesh();
    assert_eq!(new_mesh.len(), 10);
    assert!(new_mesh.contains(&outside[0]) && new_mesh.contains(&outside[1]));
    assert_eq!(grafts_to(&sent, outside[0]), 1);
}

#[test]
fn mesh_delivery_deficit_p3_and_failure_penalty_p3b() {
    let mut cfg = scored_config();
    {
        let tp = cfg
            .scoring
            .as_mut()
            .unwrap()
            .params
            .topics
            .get_mut(&topic())
            .unwrap();
        tp.time_in_mesh_weight = 0.0;
        tp.mesh_message_deliveries_threshold = 3.0;
        tp.mesh_message_deliveries_decay = 0.9;
    }
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=2, true, &[TOPIC]);
    h.gs.subscribe(h.now, &topic()).unwrap();
    // peers[0] keeps delivering first; peers[1] never delivers.
    for i in 0..9u8 {
        h.advance(Duration::from_millis(700));
        let data = [i; 4];
        h.rpc(peers[0], msg(TOPIC, &data)).unwrap();
        h.gs.report_validation(h.now, &lean_id(TOPIC, &data), peers[0], Validation::Accept)
            .unwrap();
        h.gs.handle_timeout(h.now);
    }
    // 6.3 s > activation 5 s: the silent peer has P3 = (3 − 0)² × −1 × 0.5 = −4.5 and is
    // pruned at the next heartbeat; the delivering peer stays.
    assert!(
        h.gs.peer_score(&peers[0]) >= 0.0,
        "{}",
        h.gs.peer_score(&peers[0])
    );
    assert!(
        !h.mesh().contains(&peers[1]),
        "negative score: pruned at the heartbeat"
    );
    assert!(h.mesh().contains(&peers[0]));
    // Out of the mesh P3 no longer applies, but the P3b failure penalty (deficit² = 9) does.
    let s = h.gs.peer_score(&peers[1]);
    assert!((s - (-4.5)).abs() < 1e-9, "P3b {s}");
}

#[test]
fn ip_colocation_p6() {
    let mut cfg = scored_config();
    cfg.scoring
        .as_mut()
        .unwrap()
        .params
        .ip_colocation_factor_threshold = 1.0;
    let mut h = Harness::new(cfg);
    let ip: std::net::IpAddr = "10.0.0.1".parse().unwrap();
    let other: std::net::IpAddr = "10.0.0.2".parse().unwrap();
    for i in 1..=3 {
        let conn = PeerConnection {
            ip: Some(ip),
            ..PeerConnection::new(ProtocolVersion::V1_2, true)
        };
        h.gs.handle_peer_connected(h.now, peer(i), conn).unwrap();
    }
    let conn = PeerConnection {
        ip: Some(other),
        ..PeerConnection::new(ProtocolVersion::V1_2, true)
    };
    h.gs.handle_peer_connected(h.now, peer(4), conn).unwrap();
    // (3 − 1)² × −5 = −20.
    assert_eq!(h.gs.peer_score(&peer(1)), -20.0);
    assert_eq!(h.gs.peer_score(&peer(4)), 0.0);
    h.gs.handle_peer_disconnected(h.now, peer(3));
    assert_eq!(h.gs.peer_score(&peer(1)), -5.0);
}

#[test]
fn subscription_churn_is_capped_per_heartbeat_and_penalised_once() {
    let mut cfg = scored_config();
    cfg.limits.max_subscription_changes_per_heartbeat = 10;
    cfg.limits.max_subscriptions_per_rpc = 1_000;
    let mut h = Harness::new(cfg);
    let peers = h.connect(1..=1, true, &[]);
    h.events();
    // 1,000 toggles in one RPC: 10 accepted (events), 990 ignored.
    let subs = (0..1000).map(|k| sub("/churn", k % 2 == 0)).collect();
    let result = h.rpc(
        peers[0],
        Rpc {
            subscriptions: subs,
            ..Default::default()
        },
    );
    assert_eq!(
        result,
        Err(crate::RpcError::PartiallyInvalid { dropped: 990 })
    );
    assert_eq!(h.events().len(), 10);
    assert_eq!(h.gs.stats().counters.subscription_changes_ignored, 990);
    assert!(h.gs.peer_score(&peers[0]) < 0.0, "one P7 penalty");
    // The next heartbeat resets the allowance.
    h.heartbeat();
    h.events();
    h.rpc(
        peers[0],
        Rpc {
            subscriptions: vec![sub("/churn", true)],
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(h.events().len(), 1);
}

#[test]
fn under_the_lean_scoring_a_graft_flood_during_backoff_graylists_the_peer() {
    let mut cfg = test_config();
    cfg.scoring = Some(crate::lean::scoring("devnet0", 1));
    let mut h = Harness::new(cfg);
    h.gs.subscribe(h.now, &topic()).unwrap();
    let peers = h.connect(1..=1, true, &[TOPIC]);
    let attacker = peers[0];
    // The attacker prunes us (a backoff for it on TOPIC), then GRAFTs anyway, again and
    // again (each within the graft-flood threshold: two penalties each).
    h.control(attacker, prune(TOPIC, Some(60), vec![])).unwrap();
    let mut grafts = 0;
    while h.rpc(attacker, Rpc::default()) != Err(crate::RpcError::Graylisted) {
        h.control(attacker, graft(TOPIC)).unwrap();
        grafts += 1;
        assert!(grafts <= 20, "not graylisted after {grafts} GRAFTs");
    }
    assert!(grafts >= 8, "graylisted after only {grafts} GRAFTs");
    assert!(h.gs.peer_score(&attacker) < -16_000.0);
    assert!(h.gs.stats().counters.backoff_violations >= grafts as u64);
}
