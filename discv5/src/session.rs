//! Established session keys and the bounded LRU session cache.
//!
//! Sessions are keyed by `(node ID, UDP address)` as the spec requires, so a packet from
//! another address never decrypts with keys agreed on one endpoint: it triggers a fresh
//! handshake instead.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;

use leanp2p_identity::Enr;

use crate::crypto::Key;
use crate::node_id::NodeId;
use crate::packet::MessageNonce;

/// Default number of sessions kept ([`SessionCache::new`] takes the real cap).
pub const DEFAULT_SESSION_CAPACITY: usize = 1000;

/// The key of a session: node ID and UDP endpoint.
pub type SessionKey = (NodeId, SocketAddr);

/// Keys and state of one session.
#[derive(Clone, Debug)]
pub struct Session {
    /// Key of messages we send.
    pub write_key: Key,
    /// Key of messages we receive.
    pub read_key: Key,
    /// Messages sent with `write_key` (the first 32 bits of each nonce).
    pub counter: u32,
    /// `false` for a session we initiated until the first message from the remote
    /// decrypts with it (which proves the remote holds its static key).
    pub established: bool,
    /// The remote's record, as verified during the handshake or updated since.
    pub enr: Enr,
}

impl Session {
    /// The next message nonce: the message counter (32 bits) then 64 random bits.
    /// Returns `None` once the counter is exhausted (the session must be renewed).
    pub fn next_nonce(&mut self, random: [u8; 8]) -> Option<MessageNonce> {
        self.counter = self.counter.checked_add(1)?;
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(&self.counter.to_be_bytes());
        nonce[4..].copy_from_slice(&random);
        Some(nonce)
    }
}

/// An LRU cache of at most `capacity` sessions.
#[derive(Clone, Debug)]
pub struct SessionCache {
    capacity: usize,
    sessions: HashMap<SessionKey, (Session, u64)>,
    /// use tick → key; the smallest tick is the least recently used session.
    order: BTreeMap<u64, SessionKey>,
    tick: u64,
}

impl SessionCache {
    /// An empty cache holding at most `capacity` (≥ 1) sessions.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            sessions: HashMap::new(),
            order: BTreeMap::new(),
            tick: 0,
        }
    }

    fn touch(&mut self, key: &SessionKey) {
        if let Some((_, tick)) = self.sessions.get_mut(key) {
            self.order.remove(tick);
            self.tick += 1;
            *tick = self.tick;
            self.order.insert(self.tick, *key);
        }
    }

    /// The session for `key`, marked as most recently used.
    pub fn get_mut(&mut self, key: &SessionKey) -> Option<&mut Session> {
        self.touch(key);
        self.sessions.get_mut(key).map(|(s, _)| s)
    }

    /// The session for `key`, without changing the LRU order.
    pub fn peek(&self, key: &SessionKey) -> Option<&Session> {
        self.sessions.get(key).map(|(s, _)| s)
    }

    /// Inserts or replaces a session; returns the key of a session evicted to make room.
    pub fn insert(&mut self, key: SessionKey, session: Session) -> Option<SessionKey> {
        let mut evicted = None;
        if !self.sessions.contains_key(&key) && self.sessions.len() >= self.capacity {
            if let Some((_, oldest)) = self.order.pop_first() {
                self.sessions.remove(&oldest);
                evicted = Some(oldest);
            }
        }
        if let Some((_, tick)) = self.sessions.get(&key) {
            self.order.remove(tick);
        }
        self.tick += 1;
        self.order.insert(self.tick, key);
        self.sessions.insert(key, (session, self.tick));
        evicted
    }

    /// Removes a session.
    pub fn remove(&mut self, key: &SessionKey) -> Option<Session> {
        let (session, tick) = self.sessions.remove(key)?;
        self.order.remove(&tick);
        Some(session)
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Keys of the established sessions, least recently used first.
    pub fn established_keys(&self) -> Vec<SessionKey> {
        self.order
            .values()
            .filter(|k| self.sessions.get(*k).is_some_and(|(s, _)| s.established))
            .copied()
            .collect()
    }

    /// All sessions, in no particular order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&SessionKey, &mut Session)> {
        self.sessions.iter_mut().map(|(k, (s, _))| (k, s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leanp2p_identity::Keypair;

    fn session() -> Session {
        let key = Keypair::from_secret_bytes(&[1; 32]).unwrap();
        Session {
            write_key: [1; 16],
            read_key: [2; 16],
            counter: 0,
            established: true,
            enr: Enr::builder().build(&key).unwrap(),
        }
    }

    fn key(n: u8) -> SessionKey {
        (
            NodeId([n; 32]),
            SocketAddr::from(([127, 0, 0, 1], 9000 + u16::from(n))),
        )
    }

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut cache = SessionCache::new(2);
        assert_eq!(cache.insert(key(1), session()), None);
        assert_eq!(cache.insert(key(2), session()), None);
        cache.get_mut(&key(1)).unwrap();
        assert_eq!(cache.insert(key(3), session()), Some(key(2)));
        assert_eq!(cache.len(), 2);
        assert!(cache.peek(&key(1)).is_some());
        assert!(cache.peek(&key(2)).is_none());
        // Replacing does not evict.
        assert_eq!(cache.insert(key(3), session()), None);
        assert!(cache.remove(&key(1)).is_some());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn nonces_count_up_and_stop_at_the_limit() {
        let mut s = session();
        let n = s.next_nonce([9; 8]).unwrap();
        assert_eq!(&n[..4], &1u32.to_be_bytes());
        assert_eq!(&n[4..], &[9; 8]);
        s.counter = u32::MAX;
        assert_eq!(s.next_nonce([0; 8]), None);
    }
}
