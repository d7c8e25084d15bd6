//! Per-peer IDONTWANT memory: a bounded map plus a FIFO expiry queue.
//!
//! Every operation is O(1) amortised per id: an id is pushed onto the queue once when
//! first inserted (plus at most once more per refresh) and popped once, either when it
//! expires or when it is evicted to make room under the cap. Nothing ever scans all
//! entries, so a peer flooding IDONTWANT ids costs us time linear in the ids it sends.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::types::MessageId;

/// Ids a peer told us not to send, each with the instant its notice expires.
///
/// Invariant: `order` holds exactly the keys of `map`, each once, in insertion order.
/// A queue entry's instant may be earlier than the map's (the id was refreshed); such
/// an entry is re-queued with the map's instant when it reaches the front.
#[derive(Debug, Default)]
pub(crate) struct DontSend {
    map: HashMap<MessageId, Instant>,
    order: VecDeque<(Instant, MessageId)>,
    /// Queue entries popped or pushed: the work done, for complexity tests.
    #[cfg(test)]
    pub(crate) visits: u64,
}

impl DontSend {
    /// Remembers `id` until `expires`. A repeated id keeps its queue position and has its
    /// expiry refreshed. At `cap` entries the oldest (first inserted) is evicted to make
    /// room. Returns the number of ids evicted (0 or 1).
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        id: MessageId,
        expires: Instant,
        cap: usize,
    ) -> usize {
        self.expire(now);
        if let Some(e) = self.map.get_mut(&id) {
            *e = (*e).max(expires);
            return 0;
        }
        let mut evicted = 0;
        while self.map.len() >= cap.max(1) {
            let Some((_, old)) = self.order.pop_front() else {
                break;
            };
            self.visit();
            if self.map.remove(&old).is_some() {
                evicted += 1;
            }
        }
        self.map.insert(id.clone(), expires);
        self.order.push_back((expires, id));
        self.visit();
        evicted
    }

    /// Whether `cap` ids are remembered (expired ones included until
    /// [`DontSend::expire`]).
    pub(crate) fn is_full(&self, cap: usize) -> bool {
        self.map.len() >= cap.max(1)
    }

    /// Whether `id` is remembered and its notice has not expired at `now`.
    pub(crate) fn contains(&self, now: Instant, id: &MessageId) -> bool {
        self.map.get(id).is_some_and(|e| *e > now)
    }

    /// Forgets the ids whose notices expired at `now` (from the front of the queue).
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some((queued, _)) = self.order.front() {
            if *queued > now {
                break;
            }
            let Some((_, id)) = self.order.pop_front() else {
                break;
            };
            self.visit();
            match self.map.get(&id) {
                // Refreshed since it was queued: queue it again with its new expiry
                // (which is after `now`, so this loop stops when it reaches it again).
                Some(e) if *e > now => {
                    let e = *e;
                    self.order.push_back((e, id));
                    self.visit();
                }
                _ => {
                    self.map.remove(&id);
                }
            }
        }
    }

    /// Number of remembered ids (expired ones included until [`DontSend::expire`]).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    #[inline]
    fn visit(&mut self) {
        #[cfg(test)]
        {
            self.visits += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id(i: u32) -> MessageId {
        MessageId::new(&i.to_be_bytes())
    }

    #[test]
    fn expires_refreshes_and_evicts_oldest() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut d = DontSend::default();
        assert_eq!(d.insert(t0, id(1), t0 + 3 * s, 2), 0);
        assert_eq!(d.insert(t0 + s, id(2), t0 + 4 * s, 2), 0);
        // Refresh id 1 until t0+5.
        assert_eq!(d.insert(t0 + s, id(1), t0 + 5 * s, 2), 0);
        assert_eq!(d.len(), 2);
        // At t0+4: id 1 (queued for t0+3) was refreshed and stays; id 2 expired.
        d.expire(t0 + 4 * s);
        assert!(d.contains(t0 + 4 * s, &id(1)));
        assert!(!d.contains(t0 + 4 * s, &id(2)));
        assert_eq!(d.len(), 1);
        // The cap evicts the oldest inserted.
        assert_eq!(d.insert(t0 + 4 * s, id(3), t0 + 7 * s, 2), 0);
        assert_eq!(d.insert(t0 + 4 * s, id(4), t0 + 7 * s, 2), 1);
        assert!(!d.contains(t0 + 4 * s, &id(1)));
        assert!(d.contains(t0 + 4 * s, &id(3)) && d.contains(t0 + 4 * s, &id(4)));
        d.expire(t0 + 7 * s);
        assert_eq!(d.len(), 0);
    }
}
