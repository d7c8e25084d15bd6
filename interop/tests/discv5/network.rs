//! A mixed network: 5 of ours and 5 of theirs, one bootnode (ours). Every node runs
//! iterative lookups of seeded random targets until the union of its lookup results
//! holds all 9 other nodes; lookups cross implementations at every hop.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use discv5::enr::NodeId as SigpNodeId;
use leanp2p_discv5::{Event, NodeId};
use rand::{Rng, SeedableRng};

use crate::support::{from_sigp, sigp_id, start_sigp, to_sigp, Ours, DEADLINE};

/// Lookup rounds before the test gives up (each round is one lookup per unfinished node).
const MAX_ROUNDS: usize = 12;
/// Bound of the whole test.
const TEST_DEADLINE: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_in_a_mixed_network_find_every_node() {
    let started = Instant::now();
    let ours: Vec<Ours> = (0..5u8).map(|i| Ours::start([0x70 + i; 32])).collect();
    let mut theirs = Vec::new();
    for i in 0..5u8 {
        theirs.push(start_sigp([0x90 + i; 32]).await.0);
    }
    let all: BTreeSet<NodeId> = ours
        .iter()
        .map(Ours::id)
        .chain(theirs.iter().map(sigp_id))
        .collect();
    assert_eq!(all.len(), 10);

    // Everyone knows the bootnode (ours[0]) and pings it once, so its table holds all.
    let boot = ours[0].enr.clone();
    for node in &ours[1..] {
        node.with(|m, _| m.add_enr(boot.clone())).unwrap();
        let ping = node.with(|m, now| m.ping(now, ours[0].id())).unwrap();
        node.wait_for("PONG from the bootnode", |e| match e {
            Event::Pong { request, .. } if *request == ping => Some(()),
            _ => None,
        })
        .await;
    }
    for node in &theirs {
        node.add_enr(to_sigp(&boot)).unwrap();
        tokio::time::timeout(DEADLINE, node.send_ping(to_sigp(&boot)))
            .await
            .expect("ping in time")
            .expect("pong from the bootnode");
    }
    assert_eq!(ours[0].with(|m, _| m.table().len()), 9);

    let mut rng = rand::rngs::StdRng::seed_from_u64(15);
    let mut found_by_ours = vec![BTreeSet::new(); ours.len()];
    let mut found_by_theirs = vec![BTreeSet::new(); theirs.len()];
    let missing = |found: &BTreeSet<NodeId>, me: NodeId| {
        all.iter()
            .filter(|n| **n != me && !found.contains(n))
            .count()
    };
    for _round in 0..MAX_ROUNDS {
        assert!(started.elapsed() < TEST_DEADLINE, "test ran too long");
        // Ours: one lookup per unfinished node, all at once.
        let mut pending = Vec::new();
        for (i, node) in ours.iter().enumerate() {
            if missing(&found_by_ours[i], node.id()) > 0 {
                let target = NodeId(rng.gen());
                pending.push((i, node.with(|m, now| m.lookup(now, target)).unwrap()));
            }
        }
        // Theirs: likewise, through the discv5 crate's iterative FINDNODE query.
        let mut queries = Vec::new();
        for (i, node) in theirs.iter().enumerate() {
            if missing(&found_by_theirs[i], sigp_id(node)) > 0 {
                let target = SigpNodeId::new(&rng.gen::<[u8; 32]>());
                queries.push((i, tokio::spawn(node.find_node(target))));
            }
        }
        for (i, lookup) in pending {
            let closest = ours[i]
                .wait_for("LookupFinished", |e| match e {
                    Event::LookupFinished { id, closest, .. } if *id == lookup => {
                        Some(closest.clone())
                    }
                    _ => None,
                })
                .await;
            found_by_ours[i].extend(closest.iter().map(|e| NodeId(e.node_id())));
        }
        for (i, query) in queries {
            let found = tokio::time::timeout(DEADLINE, query)
                .await
                .expect("query in time")
                .unwrap()
                .expect("query result");
            found_by_theirs[i].extend(found.iter().map(|e| NodeId(from_sigp(e).node_id())));
        }
        let done_ours = ours
            .iter()
            .zip(&found_by_ours)
            .all(|(n, f)| missing(f, n.id()) == 0);
        let done_theirs = theirs
            .iter()
            .zip(&found_by_theirs)
            .all(|(n, f)| missing(f, sigp_id(n)) == 0);
        if done_ours && done_theirs {
            for node in &ours {
                let stats = node.with(|m, _| m.stats());
                assert_eq!(stats.handshakes_invalid, 0);
                assert_eq!(stats.messages_invalid, 0);
            }
            return;
        }
    }
    let ours_missing: Vec<usize> = ours
        .iter()
        .zip(&found_by_ours)
        .map(|(n, f)| missing(f, n.id()))
        .collect();
    let theirs_missing: Vec<usize> = theirs
        .iter()
        .zip(&found_by_theirs)
        .map(|(n, f)| missing(f, sigp_id(n)))
        .collect();
    panic!("after {MAX_ROUNDS} rounds, nodes still missing: ours {ours_missing:?}, theirs {theirs_missing:?}");
}
