//! Time-bounded set of message ids (the seen cache) and other small time-keyed caches.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// A set whose entries expire `ttl` after insertion, with a hard size cap (oldest
/// evicted): a [`TimeMap`] without values.
#[derive(Debug)]
pub(crate) struct TimeCache<K: Hash + Eq + Clone>(TimeMap<K, ()>);

impl<K: Hash + Eq + Clone> TimeCache<K> {
    #[cfg(test)]
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        Self(TimeMap::new(ttl, max))
    }

    /// Also bounded by `max_bytes`, each entry weighing `weight(key)` bytes.
    pub(crate) fn with_byte_cap(
        ttl: Duration,
        max: usize,
        max_bytes: usize,
        weight: fn(&K) -> usize,
    ) -> Self {
        Self(TimeMap::with_byte_cap(ttl, max, max_bytes, weight))
    }

    /// Inserts `key`; `false` if it was already present (not refreshed).
    pub(crate) fn insert(&mut self, now: Instant, key: K) -> bool {
        self.0.insert(now, key, ())
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        self.0.contains_key(key)
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        self.0.expire(now);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Entries evicted by the size cap before their ttl.
    pub(crate) fn evicted_early(&self) -> u64 {
        self.0.evicted_early
    }
}

/// A map whose entries expire `ttl` after insertion, with hard caps on entries and on
/// bytes (oldest evicted first; each entry weighs `weight(key)` bytes).
#[derive(Debug)]
pub(crate) struct TimeMap<K: Hash + Eq + Clone, V> {
    map: HashMap<K, V>,
    order: VecDeque<(Instant, K)>,
    ttl: Duration,
    max: usize,
    max_bytes: usize,
    bytes: usize,
    weight: fn(&K) -> usize,
    /// Entries evicted by the cap before their ttl.
    pub(crate) evicted_early: u64,
}

impl<K: Hash + Eq + Clone, V> TimeMap<K, V> {
    #[cfg(test)]
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        Self::with_byte_cap(ttl, max, usize::MAX, |_| 0)
    }

    /// Also bounded by `max_bytes`, each entry weighing `weight(key)` bytes.
    pub(crate) fn with_byte_cap(
        ttl: Duration,
        max: usize,
        max_bytes: usize,
        weight: fn(&K) -> usize,
    ) -> Self {
        Self {
            map: HashMap::new(),
            order: VecDeque::new(),
            ttl,
            max,
            max_bytes,
            bytes: 0,
            weight,
            evicted_early: 0,
        }
    }

    /// Bytes held, by the weight function.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Inserts `key → value` unless `key` is present (then nothing changes, not
    /// refreshed, and `false` is returned).
    pub(crate) fn insert(&mut self, now: Instant, key: K, value: V) -> bool {
        self.expire(now);
        if self.map.contains_key(&key) {
            return false;
        }
        let weight = (self.weight)(&key);
        while self.map.len() >= self.max
            || (!self.map.is_empty() && self.bytes.saturating_add(weight) > self.max_bytes)
        {
            match self.order.pop_front() {
                Some((_, old)) => {
                    self.bytes -= (self.weight)(&old);
                    self.map.remove(&old);
                    self.evicted_early += 1;
                }
                None => break,
            }
        }
        if self.max == 0 || weight > self.max_bytes {
            return true;
        }
        self.bytes += weight;
        self.map.insert(key.clone(), value);
        self.order.push_back((now + self.ttl, key));
        true
    }

    /// The value of an unexpired `key` (entries past their ttl are dropped first).
    pub(crate) fn get(&mut self, now: Instant, key: &K) -> Option<&V> {
        self.expire(now);
        self.map.get(key)
    }

    /// Whether `key` is present (as of the last expiry).
    pub(crate) fn contains_key(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((expires, _)) = self.order.front() {
            if *expires > now {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.bytes -= (self.weight)(&key);
                self.map.remove(&key);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_ttl_and_cap_evicts_oldest() {
        let t0 = Instant::now();
        let mut cache = TimeCache::new(Duration::from_secs(10), 2);
        assert!(cache.insert(t0, 1));
        assert!(!cache.insert(t0 + Duration::from_secs(1), 1));
        assert!(cache.insert(t0 + Duration::from_secs(2), 2));
        assert!(cache.insert(t0 + Duration::from_secs(3), 3));
        assert!(!cache.contains(&1), "evicted by the cap");
        cache.expire(t0 + Duration::from_secs(12));
        assert!(!cache.contains(&2));
        assert!(cache.contains(&3));
        cache.expire(t0 + Duration::from_secs(13));
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn time_map_expires_and_caps_like_time_cache() {
        let t0 = Instant::now();
        let mut map = TimeMap::new(Duration::from_secs(10), 2);
        map.insert(t0, 1, "a");
        map.insert(t0 + Duration::from_secs(1), 1, "b");
        assert_eq!(map.get(t0, &1), Some(&"a"), "not overwritten");
        map.insert(t0 + Duration::from_secs(2), 2, "c");
        map.insert(t0 + Duration::from_secs(3), 3, "d");
        assert_eq!(
            map.get(t0 + Duration::from_secs(3), &1),
            None,
            "evicted by the cap"
        );
        assert_eq!(map.get(t0 + Duration::from_secs(12), &2), None);
        assert_eq!(map.get(t0 + Duration::from_secs(12), &3), Some(&"d"));
        map.expire(t0 + Duration::from_secs(13));
        assert_eq!(map.len(), 0);
    }

    #[test]
    fn the_byte_cap_evicts_oldest_and_accounts_expiry() {
        let t0 = Instant::now();
        let mut map: TimeMap<Vec<u8>, ()> =
            TimeMap::with_byte_cap(Duration::from_secs(10), 100, 10, |k| k.len());
        map.insert(t0, vec![1; 4], ());
        map.insert(t0, vec![2; 4], ());
        assert_eq!(map.bytes(), 8);
        map.insert(t0 + Duration::from_secs(1), vec![3; 4], ());
        assert_eq!((map.len(), map.bytes(), map.evicted_early), (2, 8, 1));
        assert!(!map.contains_key(&vec![1; 4]));
        map.expire(t0 + Duration::from_secs(12));
        assert_eq!((map.len(), map.bytes()), (0, 0));
    }
}
