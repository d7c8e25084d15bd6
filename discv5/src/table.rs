//! The Kademlia routing table: 256 buckets of [`BUCKET_SIZE`] entries by log-distance
//! from the local node ID, each with a replacement cache of [`REPLACEMENT_CACHE_SIZE`].
//!
//! Only nodes that completed a verified session are inserted (the machine enforces it).
//! A full bucket sends newcomers to its replacement cache; when a member fails a liveness
//! PING it is removed and the most recent replacement takes its place. IPv4 diversity is
//! bounded per /24 subnet: at most [`IpLimits::per_bucket`] entries in one bucket and
//! [`IpLimits::per_table`] in the whole table (replacements are checked on promotion).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use leanp2p_identity::Enr;

use crate::node_id::NodeId;

/// Entries per bucket (Kademlia `k`).
pub const BUCKET_SIZE: usize = 16;
/// Replacement-cache entries per bucket.
pub const REPLACEMENT_CACHE_SIZE: usize = 8;
/// Number of buckets (log-distances 1..=256).
pub const BUCKET_COUNT: usize = 256;

/// Per-/24 subnet limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpLimits {
    /// Most entries of one /24 in one bucket.
    pub per_bucket: usize,
    /// Most entries of one /24 in the table.
    pub per_table: usize,
}

impl Default for IpLimits {
    fn default() -> Self {
        Self {
            per_bucket: 2,
            per_table: 10,
        }
    }
}

/// One table entry.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The node's record.
    pub enr: Enr,
    /// The address its session was verified on.
    pub addr: SocketAddr,
    /// When the node last answered a PING or completed a session.
    pub last_seen: Instant,
}

impl Entry {
    /// The node's ID.
    pub fn node_id(&self) -> NodeId {
        NodeId(self.enr.node_id())
    }
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    /// Least recently seen first.
    entries: Vec<Entry>,
    /// Most recently added last.
    replacements: VecDeque<Entry>,
}

/// What [`Table::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Added to its bucket.
    Inserted,
    /// Already present: record, address and last-seen refreshed.
    Updated,
    /// Bucket full: kept in the replacement cache.
    Replacement,
    /// Refused by the per-/24 limits.
    IpLimited,
    /// The local node itself.
    Local,
}

/// The routing table.
#[derive(Clone, Debug)]
pub struct Table {
    local: NodeId,
    buckets: Vec<Bucket>,
    limits: Option<IpLimits>,
}

fn subnet24(addr: &SocketAddr) -> Option<[u8; 3]> {
    match addr.ip() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            Some([o[0], o[1], o[2]])
        }
        IpAddr::V6(_) => None,
    }
}

impl Table {
    /// An empty table around `local`; `limits: None` disables the /24 limits (tests,
    /// private networks).
    pub fn new(local: NodeId, limits: Option<IpLimits>) -> Self {
        Self {
            local,
            buckets: vec![Bucket::default(); BUCKET_COUNT],
            limits,
        }
    }

    fn bucket_index(&self, node: &NodeId) -> Option<usize> {
        let d = self.local.log_distance(node);
        (d > 0).then(|| usize::from(d) - 1)
    }

    fn subnet_counts(&self, bucket: usize, subnet: [u8; 3]) -> (usize, usize) {
        let matches = |e: &&Entry| subnet24(&e.addr) == Some(subnet);
        let in_bucket = self.buckets[bucket].entries.iter().filter(matches).count();
        let in_table = self
            .buckets
            .iter()
            .map(|b| b.entries.iter().filter(matches).count())
            .sum();
        (in_bucket, in_table)
    }

    fn ip_allowed(&self, bucket: usize, addr: &SocketAddr) -> bool {
        match (self.limits, subnet24(addr)) {
            (Some(limits), Some(subnet)) => {
                let (b, t) = self.subnet_counts(bucket, subnet);
                b < limits.per_bucket && t < limits.per_table
            }
            _ => true,
        }
    }

    /// Inserts a node whose session was verified on `addr`.
    pub fn insert(&mut self, enr: Enr, addr: SocketAddr, now: Instant) -> InsertOutcome {
        let node = NodeId(enr.node_id());
        let Some(index) = self.bucket_index(&node) else {
            return InsertOutcome::Local;
        };
        let bucket = &mut self.buckets[index];
        if let Some(pos) = bucket.entries.iter().position(|e| e.node_id() == node) {
            let mut entry = bucket.entries.remove(pos);
            if enr.seq() >= entry.enr.seq() {
                entry.enr = enr;
            }
            entry.addr = addr;
            entry.last_seen = now;
            bucket.entries.push(entry);
            return InsertOutcome::Updated;
        }
        let entry = Entry {
            enr,
            addr,
            last_seen: now,
        };
        if self.buckets[index].entries.len() >= BUCKET_SIZE {
            let bucket = &mut self.buckets[index];
            bucket.replacements.retain(|e| e.node_id() != node);
            if bucket.replacements.len() >= REPLACEMENT_CACHE_SIZE {
                bucket.replacements.pop_front();
            }
            bucket.replacements.push_back(entry);
            return InsertOutcome::Replacement;
        }
        if !self.ip_allowed(index, &addr) {
            return InsertOutcome::IpLimited;
        }
        self.buckets[index].entries.push(entry);
        InsertOutcome::Inserted
    }

    /// Replaces a node's record if `enr` is newer. Returns whether it changed.
    pub fn update_enr(&mut self, enr: &Enr) -> bool {
        let node = NodeId(enr.node_id());
        let Some(index) = self.bucket_index(&node) else {
            return false;
        };
        for entry in &mut self.buckets[index].entries {
            if entry.node_id() == node && enr.seq() > entry.enr.seq() {
                entry.enr = enr.clone();
                return true;
            }
        }
        false
    }

    /// Records a successful liveness check (moves the node to the tail of its bucket).
    pub fn mark_seen(&mut self, node: &NodeId, now: Instant) {
        let Some(index) = self.bucket_index(node) else {
            return;
        };
        let bucket = &mut self.buckets[index];
        if let Some(pos) = bucket.entries.iter().position(|e| e.node_id() == *node) {
            let mut entry = bucket.entries.remove(pos);
            entry.last_seen = now;
            bucket.entries.push(entry);
        }
    }

    /// Removes a node (failed liveness check) and promotes the most recent replacement
    /// that passes the /24 limits. Returns whether the node was a member.
    pub fn remove(&mut self, node: &NodeId) -> bool {
        let Some(index) = self.bucket_index(node) else {
            return false;
        };
        let bucket = &mut self.buckets[index];
        bucket.replacements.retain(|e| e.node_id() != *node);
        let Some(pos) = bucket.entries.iter().position(|e| e.node_id() == *node) else {
            return false;
        };
        bucket.entries.remove(pos);
        while let Some(candidate) = self.buckets[index].replacements.pop_back() {
            if self.ip_allowed(index, &candidate.addr) {
                self.buckets[index].entries.insert(0, candidate);
                break;
            }
        }
        true
    }

    /// The entry of `node`, if a member.
    pub fn get(&self, node: &NodeId) -> Option<&Entry> {
        let index = self.bucket_index(node)?;
        self.buckets[index]
            .entries
            .iter()
            .find(|e| e.node_id() == *node)
    }

    /// Members at log-distance `distance` (1..=256) from the local node.
    pub fn at_distance(&self, distance: u16) -> impl Iterator<Item = &Entry> {
        let index = usize::from(distance).checked_sub(1);
        index
            .and_then(|i| self.buckets.get(i))
            .into_iter()
            .flat_map(|b| b.entries.iter())
    }

    /// Up to `n` members closest to `target` by XOR distance.
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<&Entry> {
        let mut all: Vec<&Entry> = self.buckets.iter().flat_map(|b| b.entries.iter()).collect();
        all.sort_by_key(|e| e.node_id().distance(target));
        all.truncate(n);
        all
    }

    /// The member seen least recently (the next liveness check).
    pub fn least_recently_seen(&self) -> Option<&Entry> {
        self.buckets
            .iter()
            .filter_map(|b| b.entries.first())
            .min_by_key(|e| e.last_seen)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// Whether the table has no members.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `Err` naming the first broken rule: a bucket over [`BUCKET_SIZE`] or its
    /// replacement cache over [`REPLACEMENT_CACHE_SIZE`], a node in the wrong bucket or
    /// twice, a /24 over its limits (bound checks of the fuzz targets).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn check_bounds(&self) -> Result<(), String> {
        let mut members = std::collections::HashSet::new();
        for (index, bucket) in self.buckets.iter().enumerate() {
            if bucket.entries.len() > BUCKET_SIZE
                || bucket.replacements.len() > REPLACEMENT_CACHE_SIZE
            {
                return Err(format!(
                    "bucket {index}: {} entries, {} replacements",
                    bucket.entries.len(),
                    bucket.replacements.len()
                ));
            }
            for entry in &bucket.entries {
                let node = entry.node_id();
                if self.bucket_index(&node) != Some(index) || !members.insert(node) {
                    return Err(format!("bucket {index}: misplaced or repeated {node}"));
                }
                if let (Some(limits), Some(subnet)) = (self.limits, subnet24(&entry.addr)) {
                    let (in_bucket, in_table) = self.subnet_counts(index, subnet);
                    if in_bucket > limits.per_bucket || in_table > limits.per_table {
                        return Err(format!("bucket {index}: /24 {subnet:?} over its limits"));
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leanp2p_identity::Keypair;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn enr(seed: u32) -> Enr {
        let mut secret = [1u8; 32];
        secret[..4].copy_from_slice(&seed.to_be_bytes());
        let key = Keypair::from_secret_bytes(&secret).unwrap();
        Enr::builder().build(&key).unwrap()
    }

    fn addr(a: u8, b: u8) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::new(10, a, b, 1), 9000))
    }

    /// Records whose IDs fall in the same bucket of a table centred on `local`.
    fn same_bucket(local: &NodeId, count: usize) -> (u16, Vec<Enr>) {
        let mut by_distance: std::collections::BTreeMap<u16, Vec<Enr>> = Default::default();
        for seed in 0..2000 {
            let e = enr(seed);
            let d = local.log_distance(&NodeId(e.node_id()));
            let list = by_distance.entry(d).or_default();
            list.push(e);
            if list.len() == count {
                return (d, list.clone());
            }
        }
        panic!("not enough records")
    }

    #[test]
    fn full_bucket_uses_replacements_and_promotes_on_remove() {
        let local = NodeId([0; 32]);
        let mut table = Table::new(local, None);
        let t0 = Instant::now();
        let (d, enrs) = same_bucket(&local, BUCKET_SIZE + 2);
        for (i, e) in enrs.iter().enumerate().take(BUCKET_SIZE) {
            let at = t0 + Duration::from_secs(i as u64);
            assert_eq!(
                table.insert(e.clone(), addr(0, i as u8), at),
                InsertOutcome::Inserted
            );
        }
        let extra = enrs[BUCKET_SIZE].clone();
        assert_eq!(
            table.insert(extra.clone(), addr(1, 0), t0),
            InsertOutcome::Replacement
        );
        assert_eq!(table.at_distance(d).count(), BUCKET_SIZE);
        let oldest = table.least_recently_seen().unwrap().node_id();
        assert_eq!(oldest, NodeId(enrs[0].node_id()));
        assert!(table.remove(&oldest));
        assert!(table.get(&NodeId(extra.node_id())).is_some());
        assert_eq!(table.len(), BUCKET_SIZE);
        assert_eq!(
            table.insert(enrs[1].clone(), addr(0, 1), t0 + Duration::from_secs(99)),
            InsertOutcome::Updated
        );
    }

    #[test]
    fn subnet_limits() {
        let local = NodeId([0; 32]);
        let mut table = Table::new(local, Some(IpLimits::default()));
        let t0 = Instant::now();
        let (_, enrs) = same_bucket(&local, 3);
        assert_eq!(
            table.insert(enrs[0].clone(), addr(5, 5), t0),
            InsertOutcome::Inserted
        );
        assert_eq!(
            table.insert(enrs[1].clone(), addr(5, 5), t0),
            InsertOutcome::Inserted
        );
        assert_eq!(
            table.insert(enrs[2].clone(), addr(5, 5), t0),
            InsertOutcome::IpLimited
        );
        // Table-wide: 10 per /24 across buckets.
        let mut inserted = 2;
        let mut limited = 0;
        for seed in 3000..3200 {
            match table.insert(enr(seed), addr(5, 5), t0) {
                InsertOutcome::Inserted => inserted += 1,
                InsertOutcome::IpLimited if inserted == 10 => limited += 1,
                _ => {}
            }
            if limited == 5 {
                break;
            }
        }
        assert_eq!((inserted, limited), (10, 5));
        let other_subnet = SocketAddr::from(([10, 9, 9, 9], 1));
        assert_ne!(
            table.insert(enr(1), other_subnet, t0),
            InsertOutcome::IpLimited
        );
    }

    #[test]
    fn local_node_is_never_inserted_and_closest_sorts() {
        let key = Keypair::from_secret_bytes(&[1; 32]).unwrap();
        let me = Enr::builder().build(&key).unwrap();
        let local = NodeId(me.node_id());
        let mut table = Table::new(local, None);
        let t0 = Instant::now();
        assert_eq!(table.insert(me, addr(0, 0), t0), InsertOutcome::Local);
        for seed in 10..40 {
            table.insert(enr(seed), addr(0, seed as u8), t0);
        }
        let target = NodeId([0x55; 32]);
        let closest = table.closest(&target, 5);
        assert_eq!(closest.len(), 5);
        for pair in closest.windows(2) {
            assert!(pair[0].node_id().distance(&target) <= pair[1].node_id().distance(&target));
        }
    }
}
