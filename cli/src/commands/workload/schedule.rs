//! The workload plan: who publishes what when, who is expected to receive it, and who
//! dials whom. A pure function of the flags and the seed, so the devnet, the simulator
//! and the final accounting all agree on it.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::payload::{Kind, MsgKey};

/// Most slots a run may have (bounds every per-run table: the block store, the receipt
/// log and the schedule itself).
pub(crate) const MAX_SLOTS: u64 = 100_000;

/// Everything that defines a run of the lean workload.
#[derive(Clone, Debug)]
pub(crate) struct Workload {
    /// Nodes that start at time zero.
    pub initial_nodes: usize,
    /// `Some(L)`: one more node joins half a slot into slot `L + 1` and syncs.
    pub late_joiner_after_slots: Option<u64>,
    /// Slot length.
    pub slot: Duration,
    /// Slots with a block (numbered 1..=slots).
    pub slots: u64,
    /// Time before slot 1 (connections, mesh).
    pub warmup: Duration,
    /// Time after the last slot before the run ends (propagation, sync).
    pub tail: Duration,
    /// Bytes of each block (before snappy).
    pub block_size: usize,
    /// Bytes of each attestation (before snappy).
    pub attestation_size: usize,
    /// Earlier nodes each node dials (kept and redialled as known peers).
    pub dial_peers: usize,
    /// Topic network segment.
    pub network: String,
    /// QUIC congestion controller of every node.
    pub congestion: crate::commands::congestion::Congestion,
    /// Seed of the topology and the payload bytes.
    pub seed: u64,
    /// Added to the run time in payload timestamps: µs since the Unix epoch at time zero
    /// for the devnet (CLI.md payload format), 0 in the simulator (virtual time).
    pub clock_base_us: u64,
}

/// One scheduled publication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Publication {
    /// What and by whom.
    pub key: MsgKey,
    /// When (run time).
    pub at: Duration,
}

impl Workload {
    /// Slots that fit in `total` after warm-up and tail (0 if none).
    pub(crate) fn slots_in(
        total: Duration,
        warmup: Duration,
        tail: Duration,
        slot: Duration,
    ) -> u64 {
        let usable = total.saturating_sub(warmup).saturating_sub(tail);
        if slot.is_zero() {
            return 0;
        }
        u64::try_from(usable.as_nanos() / slot.as_nanos()).unwrap_or(u64::MAX)
    }

    /// All nodes, the late joiner included.
    pub(crate) fn total_nodes(&self) -> usize {
        self.initial_nodes + usize::from(self.late_joiner_after_slots.is_some())
    }

    /// Index of the late joiner, if any.
    pub(crate) fn joiner(&self) -> Option<usize> {
        self.late_joiner_after_slots.map(|_| self.initial_nodes)
    }

    /// Whether node `i` is the late joiner.
    pub(crate) fn is_joiner(&self, i: usize) -> bool {
        self.joiner() == Some(i)
    }

    /// Start of slot `s` (1-based).
    pub(crate) fn slot_start(&self, s: u64) -> Duration {
        self.warmup + mul(self.slot, s.saturating_sub(1))
    }

    /// When attestations of slot `s` go out (a quarter into the slot, as in lean).
    pub(crate) fn attestation_time(&self, s: u64) -> Duration {
        self.slot_start(s) + self.slot / 4
    }

    /// The end of the run.
    pub(crate) fn end(&self) -> Duration {
        self.warmup + mul(self.slot, self.slots) + self.tail
    }

    /// Proposer of slot `s`: round-robin over the initial nodes.
    pub(crate) fn proposer(&self, s: u64) -> usize {
        let n = self.initial_nodes.max(1) as u64;
        usize::try_from(s.saturating_sub(1) % n).unwrap_or(0)
    }

    /// When node `i` starts (subscribes and dials): zero, or half a slot into slot
    /// `L + 1` for the late joiner.
    pub(crate) fn start_time(&self, i: usize) -> Duration {
        match self.late_joiner_after_slots {
            Some(l) if self.is_joiner(i) => self.slot_start(l + 1) + self.slot / 2,
            _ => Duration::ZERO,
        }
    }

    /// First slot whose gossip the late joiner must receive (and in which it starts
    /// attesting): the first slot that begins after it joined.
    pub(crate) fn joiner_first_slot(&self) -> u64 {
        self.late_joiner_after_slots.map_or(1, |l| l + 2)
    }

    /// Whether node `i` takes part in slot `s` (attests, must receive its gossip).
    pub(crate) fn present(&self, i: usize, s: u64) -> bool {
        i < self.initial_nodes || (self.is_joiner(i) && s >= self.joiner_first_slot())
    }

    /// Whether `receiver` must get the message `key` by gossip.
    pub(crate) fn expects(&self, receiver: usize, key: &MsgKey) -> bool {
        receiver != key.publisher as usize && self.present(receiver, key.slot)
    }

    /// Every publication, in time order.
    pub(crate) fn publications(&self) -> impl Iterator<Item = Publication> + '_ {
        (1..=self.slots).flat_map(move |s| {
            let block = Publication {
                key: MsgKey::new(s, Kind::Block, self.proposer(s)),
                at: self.slot_start(s),
            };
            let attestations = (0..self.total_nodes())
                .filter(move |&i| self.present(i, s))
                .map(move |i| Publication {
                    key: MsgKey::new(s, Kind::Attestation, i),
                    at: self.attestation_time(s),
                });
            std::iter::once(block).chain(attestations)
        })
    }

    /// The publications of node `i`, in time order.
    pub(crate) fn publications_of(&self, i: usize) -> Vec<Publication> {
        self.publications()
            .filter(|p| p.key.publisher as usize == i)
            .collect()
    }

    /// Nodes taking part in slot `s`.
    pub(crate) fn present_count(&self, s: u64) -> u64 {
        let joiner = self.joiner().is_some() && s >= self.joiner_first_slot();
        self.initial_nodes as u64 + u64::from(joiner)
    }

    /// Deliveries expected from the messages scheduled up to run time `t` (closed form
    /// per slot: a block and `p` attestations, each for the `p - 1` other present nodes).
    pub(crate) fn expected_until(&self, t: Duration) -> u64 {
        let mut expected = 0u64;
        for s in 1..=self.slots {
            if self.slot_start(s) > t {
                break;
            }
            let p = self.present_count(s);
            expected += p.saturating_sub(1);
            if self.attestation_time(s) <= t {
                expected += p * p.saturating_sub(1);
            }
        }
        expected
    }

    /// The earlier nodes node `i` dials: `min(i, dial_peers)` distinct initial nodes
    /// below `i` (every initial node for the late joiner, up to `dial_peers`), drawn
    /// with the seed.
    pub(crate) fn dial_targets(&self, i: usize) -> Vec<usize> {
        let below = i.min(self.initial_nodes);
        let mut pool: Vec<usize> = (0..below).collect();
        let want = below.min(self.dial_peers);
        let mut rng = ChaCha20Rng::seed_from_u64(self.seed);
        rng.set_stream(0x6469_616c_0000_0000 | i as u64);
        // Partial Fisher-Yates: the first `want` entries become the sample.
        for k in 0..want {
            let span = (pool.len() - k) as u64;
            let pick = k + usize::try_from(rng.next_u64() % span).unwrap_or(0);
            pool.swap(k, pick);
        }
        pool.truncate(want);
        pool.sort_unstable();
        pool
    }
}

fn mul(d: Duration, n: u64) -> Duration {
    d.saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn workload(nodes: usize, slots: u64, late: Option<u64>) -> Workload {
        Workload {
            initial_nodes: nodes,
            late_joiner_after_slots: late,
            slot: Duration::from_millis(1000),
            slots,
            warmup: Duration::from_millis(1500),
            tail: Duration::from_millis(1500),
            block_size: 4096,
            attestation_size: 300,
            dial_peers: 8,
            network: "12345678".into(),
            congestion: Default::default(),
            seed: 7,
            clock_base_us: 0,
        }
    }

    #[test]
    fn schedule_has_one_block_per_slot_and_attestations_from_present_nodes() {
        let w = workload(4, 5, Some(2));
        assert_eq!(w.total_nodes(), 5);
        assert_eq!(w.joiner(), Some(4));
        assert_eq!(w.start_time(4), Duration::from_millis(1500 + 2000 + 500));
        assert_eq!(w.joiner_first_slot(), 4);
        let all: Vec<_> = w.publications().collect();
        let blocks = all.iter().filter(|p| p.key.kind == Kind::Block).count();
        assert_eq!(blocks, 5);
        // 4 attestations in slots 1..=3, 5 in slots 4 and 5.
        assert_eq!(all.len() - blocks, 4 * 3 + 5 * 2);
        assert_eq!(w.proposer(1), 0);
        assert_eq!(w.proposer(5), 0);
        assert!(all.windows(2).all(|p| p[0].at <= p[1].at));
        assert!(!w.expects(4, &MsgKey::new(3, Kind::Block, 2)));
        assert!(w.expects(4, &MsgKey::new(4, Kind::Block, 3)));
        assert!(!w.expects(3, &MsgKey::new(4, Kind::Block, 3)));
        assert_eq!(w.end(), Duration::from_millis(1500 + 5000 + 1500));
    }

    #[test]
    fn expected_until_matches_the_publication_list() {
        let w = workload(6, 7, Some(3));
        let brute = |t: Duration| -> u64 {
            w.publications()
                .filter(|p| p.at <= t)
                .map(|p| {
                    (0..w.total_nodes())
                        .filter(|&r| w.expects(r, &p.key))
                        .count() as u64
                })
                .sum()
        };
        for ms in (0..12_000).step_by(125) {
            let t = Duration::from_millis(ms);
            assert_eq!(w.expected_until(t), brute(t), "at {t:?}");
        }
        assert!(w.expected_until(w.end()) > 0);
    }

    #[test]
    fn dial_targets_are_earlier_nodes_and_seeded() {
        let w = workload(20, 5, Some(2));
        assert!(w.dial_targets(0).is_empty());
        assert_eq!(w.dial_targets(3), vec![0, 1, 2]);
        let t = w.dial_targets(15);
        assert_eq!(t.len(), 8);
        assert!(t.iter().all(|&j| j < 15));
        assert_eq!(t, w.dial_targets(15));
        assert_eq!(w.dial_targets(20).len(), 8);
        let mut other = w.clone();
        other.seed = 8;
        assert_ne!(other.dial_targets(15), t);
    }

    #[test]
    fn slots_fit_between_warmup_and_tail() {
        let ms = Duration::from_millis;
        assert_eq!(
            Workload::slots_in(ms(8000), ms(1500), ms(1500), ms(1000)),
            5
        );
        assert_eq!(
            Workload::slots_in(ms(2000), ms(1500), ms(1500), ms(1000)),
            0
        );
    }
}
