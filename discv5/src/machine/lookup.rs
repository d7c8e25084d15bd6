//! Iterative lookups (Kademlia, α = [`LOOKUP_ALPHA`]): find the nodes closest to a target
//! by asking the closest known nodes for ever closer ones.
//!
//! A lookup keeps at most [`MAX_LOOKUP_CANDIDATES`] candidates, sends at most
//! [`MAX_LOOKUP_QUERIES`] FINDNODEs, and ends when the [`LOOKUP_RESULTS`] closest
//! candidates that did not fail have all answered, or nothing is left to ask. Each query
//! is an ordinary request (timeout and retry included), so a lookup needs no timer of its
//! own.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use leanp2p_identity::Enr;

use super::{udp_endpoint, CommandError, Discv5, Event, Origin};
use crate::message::{Message, MAX_DISTANCE};
use crate::node_id::NodeId;

/// Parallel queries of one lookup.
pub const LOOKUP_ALPHA: usize = 3;
/// Nodes a lookup returns (Kademlia `k`).
pub const LOOKUP_RESULTS: usize = 16;
/// Candidates a lookup remembers (the farthest are forgotten first).
pub const MAX_LOOKUP_CANDIDATES: usize = 64;
/// FINDNODE requests one lookup may send.
pub const MAX_LOOKUP_QUERIES: usize = 64;

/// A filter on the records a lookup reports ([`Discv5::lookup_matching`]), e.g. "has a
/// `quic` port and our network's `eth2` field". Cheap to clone (shared).
#[derive(Clone)]
pub struct EnrPredicate(Arc<dyn Fn(&Enr) -> bool + Send + Sync>);

impl EnrPredicate {
    /// Wraps `f`.
    pub fn new(f: impl Fn(&Enr) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Whether `enr` passes.
    pub fn matches(&self, enr: &Enr) -> bool {
        (self.0)(enr)
    }
}

impl std::fmt::Debug for EnrPredicate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrPredicate(..)")
    }
}

/// Handle of a lookup started with [`Discv5::lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LookupId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CandidateState {
    NotQueried,
    Waiting,
    Responded,
    Failed,
}

#[derive(Clone, Debug)]
struct Candidate {
    node: NodeId,
    enr: Enr,
    state: CandidateState,
}

/// State of one lookup.
#[derive(Clone, Debug)]
pub(super) struct Lookup {
    target: NodeId,
    /// By XOR distance to the target, closest first.
    candidates: BTreeMap<[u8; 32], Candidate>,
    queried: HashSet<NodeId>,
    in_flight: usize,
    /// A table refresh: its result is not reported.
    internal: bool,
    /// Only records passing it are reported (all candidates are still asked).
    predicate: Option<EnrPredicate>,
}

impl Lookup {
    fn add(&mut self, enr: Enr) {
        let node = NodeId(enr.node_id());
        let key = node.distance(&self.target);
        if self.candidates.contains_key(&key) {
            return;
        }
        self.candidates.insert(
            key,
            Candidate {
                node,
                enr,
                state: CandidateState::NotQueried,
            },
        );
        // Forget the farthest candidates that are not being asked right now.
        while self.candidates.len() > MAX_LOOKUP_CANDIDATES {
            let farthest = self
                .candidates
                .iter()
                .rev()
                .find(|(_, c)| c.state != CandidateState::Waiting)
                .map(|(k, _)| *k);
            match farthest {
                Some(k) => {
                    self.candidates.remove(&k);
                }
                None => break,
            }
        }
    }

    fn set_state(&mut self, node: &NodeId, state: CandidateState) {
        let key = node.distance(&self.target);
        if let Some(c) = self.candidates.get_mut(&key) {
            if c.state == CandidateState::Waiting {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            c.state = state;
        }
    }

    pub(super) fn is_internal(&self) -> bool {
        self.internal
    }

    /// Candidates remembered and nodes queried (bound checks of the fuzz targets).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(super) fn sizes(&self) -> (usize, usize) {
        (self.candidates.len(), self.queried.len())
    }

    /// The closest candidates that did not fail, up to [`LOOKUP_RESULTS`].
    fn closest_alive(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates
            .values()
            .filter(|c| c.state != CandidateState::Failed)
            .take(LOOKUP_RESULTS)
    }
}

/// The distances asked of `peer` when looking for `target`: the bucket the target falls
/// in from the peer's point of view, and its two neighbours.
fn lookup_distances(target: &NodeId, peer: &NodeId) -> Vec<u16> {
    let d = target.log_distance(peer).max(1);
    let mut out = vec![d];
    if d < MAX_DISTANCE {
        out.push(d + 1);
    }
    if d > 1 {
        out.push(d - 1);
    }
    out
}

impl Discv5 {
    /// Starts an iterative lookup of the nodes closest to `target`, seeded from the table
    /// and the known contacts; ends with [`Event::LookupFinished`].
    pub fn lookup(&mut self, now: Instant, target: NodeId) -> Result<LookupId, CommandError> {
        self.start_lookup(now, target, false, None)
    }

    /// [`Discv5::lookup`] that reports only records passing `predicate`: every node on
    /// the way is still asked (a node that fails the filter still routes), and
    /// [`Event::LookupFinished`] lists up to [`LOOKUP_RESULTS`] nodes that answered and
    /// match, closest to the target first.
    pub fn lookup_matching(
        &mut self,
        now: Instant,
        target: NodeId,
        predicate: EnrPredicate,
    ) -> Result<LookupId, CommandError> {
        self.start_lookup(now, target, false, Some(predicate))
    }

    pub(super) fn start_lookup(
        &mut self,
        now: Instant,
        target: NodeId,
        internal: bool,
        predicate: Option<EnrPredicate>,
    ) -> Result<LookupId, CommandError> {
        self.last_now = now;
        if self.lookups.len() >= self.config.max_lookups {
            return Err(CommandError::TooManyRequests);
        }
        let mut seeds: Vec<Enr> = self
            .table
            .closest(&target, LOOKUP_RESULTS)
            .into_iter()
            .map(|e| e.enr.clone())
            .collect();
        seeds.extend(self.contacts.values().map(|c| c.enr.clone()));
        if seeds.is_empty() {
            return Err(CommandError::UnknownNode);
        }
        let mut lookup = Lookup {
            target,
            candidates: BTreeMap::new(),
            queried: HashSet::new(),
            in_flight: 0,
            internal,
            predicate,
        };
        for enr in seeds {
            lookup.add(enr);
        }
        let id = LookupId(self.next_lookup);
        self.next_lookup += 1;
        self.lookups.insert(id, lookup);
        self.advance_lookup(now, id);
        Ok(id)
    }

    /// Sends queries up to α in flight, or ends the lookup when it has converged.
    pub(super) fn advance_lookup(&mut self, now: Instant, id: LookupId) {
        loop {
            let Some(lookup) = self.lookups.get(&id) else {
                return;
            };
            if lookup.in_flight >= LOOKUP_ALPHA {
                return;
            }
            let next = (lookup.queried.len() < MAX_LOOKUP_QUERIES)
                .then(|| {
                    lookup
                        .closest_alive()
                        .find(|c| c.state == CandidateState::NotQueried)
                        .map(|c| (c.node, c.enr.clone()))
                })
                .flatten();
            let Some((node, enr)) = next else {
                if lookup.in_flight == 0 {
                    self.finish_lookup(id);
                }
                return;
            };
            let target = lookup.target;
            if let Some(addr) = udp_endpoint(&enr) {
                self.remember(enr, addr);
            }
            let distances = lookup_distances(&target, &node);
            let sent = self
                .start_request(now, node, Origin::Lookup(id), |rid| Message::FindNode {
                    id: rid,
                    distances,
                })
                .is_ok();
            let Some(lookup) = self.lookups.get_mut(&id) else {
                return;
            };
            lookup.queried.insert(node);
            if sent {
                lookup.set_state(&node, CandidateState::Waiting);
                lookup.in_flight += 1;
            } else {
                lookup.set_state(&node, CandidateState::Failed);
            }
        }
    }

    /// A lookup query answered: its records become candidates.
    pub(super) fn lookup_answered(
        &mut self,
        now: Instant,
        id: LookupId,
        node: NodeId,
        found: Vec<Enr>,
    ) {
        let local = self.local_id;
        let Some(lookup) = self.lookups.get_mut(&id) else {
            return;
        };
        lookup.set_state(&node, CandidateState::Responded);
        for enr in found {
            let candidate = NodeId(enr.node_id());
            if candidate != local
                && !lookup.queried.contains(&candidate)
                && udp_endpoint(&enr).is_some()
            {
                lookup.add(enr);
            }
        }
        self.advance_lookup(now, id);
    }

    /// A lookup query failed.
    pub(super) fn lookup_failed(&mut self, now: Instant, id: LookupId, node: NodeId) {
        if let Some(lookup) = self.lookups.get_mut(&id) {
            lookup.set_state(&node, CandidateState::Failed);
        }
        self.advance_lookup(now, id);
    }

    fn finish_lookup(&mut self, id: LookupId) {
        let Some(lookup) = self.lookups.remove(&id) else {
            return;
        };
        if lookup.internal {
            return;
        }
        let closest: Vec<Enr> = lookup
            .candidates
            .values()
            .filter(|c| c.state == CandidateState::Responded)
            .filter(|c| lookup.predicate.as_ref().is_none_or(|p| p.matches(&c.enr)))
            .take(LOOKUP_RESULTS)
            .map(|c| c.enr.clone())
            .collect();
        self.queue_event(Event::LookupFinished {
            id,
            target: lookup.target,
            closest,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_stay_in_range() {
        let a = NodeId([0; 32]);
        let mut b = [0u8; 32];
        b[0] = 0x80;
        assert_eq!(lookup_distances(&a, &NodeId(b)), vec![256, 255]);
        assert_eq!(lookup_distances(&a, &a), vec![1, 2]);
        b[0] = 0;
        b[31] = 4;
        assert_eq!(lookup_distances(&a, &NodeId(b)), vec![3, 4, 2]);
    }
}
