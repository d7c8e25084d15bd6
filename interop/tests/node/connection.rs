//! Connection lifetime: an idle, subscribed-but-silent connection outlives several of
//! rust-libp2p's idle timeouts; and our node redials a known peer that restarted.

use std::time::Duration;

use leanp2p_host::Direction;

use crate::support::*;

/// rust-libp2p's QUIC `max_idle_timeout` and swarm `idle_connection_timeout` here.
const THEIR_IDLE: Duration = Duration::from_secs(2);

/// One small message each way; both must arrive.
async fn gossip_round(pair: &mut Pair, seed: u64) {
    let ours = gossip_payload(seed, 1024);
    let theirs = gossip_payload(seed + 1, 1024);
    let (our_count, their_count) = (pair.seen.our_messages.len(), pair.seen.their_messages.len());
    let topic = pair.topic.clone();
    let data = ours.clone();
    pair.with_ours(move |node, now| node.publish(now, &topic, data.into()).map(drop))
        .await
        .expect("our publish");
    let topic = pair.their_topic.clone();
    pair.swarm
        .behaviour_mut()
        .gossipsub
        .publish(topic, theirs.clone())
        .expect("their publish");
    pair.wait(Duration::from_secs(20), "one message each way", |s| {
        s.our_messages.len() > our_count && s.their_messages.len() > their_count
    })
    .await;
    assert_eq!(pair.seen.their_messages[their_count].1, ours);
    assert_eq!(pair.seen.our_messages[our_count].1, theirs);
}

/// What keeps our side of an idle connection talking.
#[derive(Clone, Copy, Debug)]
enum KeepAlive {
    /// QUIC PING frames every 500 ms; no gossip keep-alive.
    Quic,
    /// An empty gossipsub RPC every second on the idle gossip stream; no QUIC keep-alive.
    Gossip,
}

async fn idle_connection_stays_up(
    role: Role,
    keep_alive: KeepAlive,
    our_secret: u8,
    their_secret: u8,
) {
    // rust-libp2p: short idle timeouts, no QUIC keep-alive of its own, no pings; the
    // connection lives only as long as our traffic keeps it alive.
    let mut theirs = TheirConfig::new(their_secret);
    theirs.quic_idle = THEIR_IDLE;
    theirs.idle_connection_timeout = THEIR_IDLE;
    theirs.quic_keep_alive = Duration::from_secs(600);
    theirs.ping_interval = Duration::from_secs(600);
    // Ours: one keep-alive well inside their idle timeout, no pings.
    let mut ours = our_config();
    match keep_alive {
        KeepAlive::Quic => {
            ours.quic
                .keep_alive_interval(Some(Duration::from_millis(500)));
            ours.gossip_keepalive(None);
        }
        KeepAlive::Gossip => {
            ours.quic.keep_alive_interval(None);
            ours.gossip_keepalive(Some(Duration::from_secs(1)));
        }
    }
    ours.ping.enabled = false;
    let mut pair = Pair::connect(role, theirs, ours, our_secret).await;
    pair.wait_mesh(Duration::from_secs(20)).await;

    // Subscribed but silent for more than 3× their idle timeout.
    pair.run_for(3 * THEIR_IDLE + Duration::from_millis(500))
        .await;
    let seen = &pair.seen;
    assert!(
        seen.our_disconnected.is_empty() && seen.their_closed.is_empty(),
        "the idle connection was closed ({keep_alive:?} keep-alive)\n{}",
        seen.summary()
    );
    assert_eq!(seen.our_connected.len(), 1);
    assert_eq!(seen.their_established.len(), 1);
    // And it still works.
    gossip_round(&mut pair, 7_000).await;
    assert!(pair.seen.our_disconnected.is_empty() && pair.seen.their_closed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_idle_connection_outlives_their_idle_timeout_with_quic_keepalive() {
    bounded(idle_connection_stays_up(
        Role::WeDial,
        KeepAlive::Quic,
        131,
        132,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dial_idle_connection_outlives_their_idle_timeout_with_quic_keepalive() {
    bounded(idle_connection_stays_up(
        Role::TheyDial,
        KeepAlive::Quic,
        133,
        134,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_dial_idle_connection_outlives_their_idle_timeout_with_gossip_keepalive() {
    bounded(idle_connection_stays_up(
        Role::WeDial,
        KeepAlive::Gossip,
        135,
        136,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn they_dial_idle_connection_outlives_their_idle_timeout_with_gossip_keepalive() {
    bounded(idle_connection_stays_up(
        Role::TheyDial,
        KeepAlive::Gossip,
        137,
        138,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn we_redial_a_known_peer_after_it_restarts() {
    bounded(async {
        let theirs = TheirConfig::new(142);
        // Ours: notice the dead peer within ~3 s, redial quickly.
        let mut ours = our_config();
        ours.quic
            .max_idle_timeout(Duration::from_secs(3))
            .keep_alive_interval(Some(Duration::from_millis(500)));
        ours.conn_manager.redial_initial_backoff = Duration::from_millis(200);
        ours.conn_manager.redial_max_backoff = Duration::from_secs(1);
        let mut pair = Pair::connect(Role::WeKeep, theirs, ours, 141).await;
        pair.wait_mesh(Duration::from_secs(20)).await;
        gossip_round(&mut pair, 8_000).await;

        let port = pair.their_port;
        pair.restart_theirs().await;
        assert_eq!(pair.their_port, port, "same port after the restart");
        let their_peer = pair.their_peer_ours();
        pair.wait(
            Duration::from_secs(30),
            "our redial of the restarted peer",
            |s| s.our_connected.len() >= 2 && s.their_established.len() >= 2,
        )
        .await;
        let seen = &pair.seen;
        assert_eq!(seen.our_connected[1], (their_peer, Direction::Outbound));
        assert_eq!(seen.their_established[1], (pair.our_peer_theirs(), false));
        assert!(
            seen.our_disconnected.iter().any(|(p, _)| *p == their_peer),
            "the old connection ended: {}",
            seen.summary()
        );

        pair.wait_mesh(Duration::from_secs(20)).await;
        gossip_round(&mut pair, 9_000).await;
    })
    .await;
}
