//! Per-peer, per-protocol token buckets (GCRA form: one instant per bucket).

use crate::protocol::Quota;
use std::time::{Duration, Instant};

/// Outcome of asking a bucket for tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Tokens taken; go ahead now.
    Now,
    /// Tokens reserved; go ahead after this delay.
    After(Duration),
    /// Not within `max_wait`; nothing taken. Carries when it would be possible
    /// (`None`: the cost exceeds the bucket, never possible).
    Denied(Option<Duration>),
}

/// A token bucket stored as its "theoretical arrival time": the bucket is full
/// when `tat <= now`, and each token pushes `tat` forward by
/// `replenish_all_every / max_tokens`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    tat: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn new(now: Instant) -> Self {
        Self { tat: now }
    }

    /// `true` when the bucket is full again (safe to forget).
    pub(crate) fn is_full(&self, now: Instant) -> bool {
        self.tat <= now
    }

    /// Takes `cost` tokens if they are available now or within `max_wait`.
    pub(crate) fn take(
        &mut self,
        now: Instant,
        quota: Quota,
        cost: u64,
        max_wait: Duration,
    ) -> Admit {
        if cost > quota.max_tokens || quota.max_tokens == 0 {
            return Admit::Denied(None);
        }
        let nanos =
            quota.replenish_all_every.as_nanos() * u128::from(cost) / u128::from(quota.max_tokens);
        let increment = Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        let start = self.tat.max(now);
        let Some(new_tat) = start.checked_add(increment) else {
            return Admit::Denied(None);
        };
        let wait = new_tat
            .saturating_duration_since(now)
            .saturating_sub(quota.replenish_all_every);
        if wait.is_zero() {
            self.tat = new_tat;
            Admit::Now
        } else if wait <= max_wait {
            self.tat = new_tat;
            Admit::After(wait)
        } else {
            Admit::Denied(Some(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let t0 = Instant::now();
        let q = Quota::n_every(5, Duration::from_secs(15));
        let mut b = Bucket::new(t0);
        for _ in 0..5 {
            assert_eq!(b.take(t0, q, 1, Duration::ZERO), Admit::Now);
        }
        assert_eq!(
            b.take(t0, q, 1, Duration::ZERO),
            Admit::Denied(Some(Duration::from_secs(3)))
        );
        assert_eq!(
            b.take(t0, q, 1, Duration::from_secs(5)),
            Admit::After(Duration::from_secs(3))
        );
        // the reservation moved the next slot to 6 s
        assert_eq!(
            b.take(t0 + Duration::from_secs(3), q, 1, Duration::ZERO),
            Admit::Denied(Some(Duration::from_secs(3)))
        );
        assert_eq!(
            b.take(t0 + Duration::from_secs(6), q, 1, Duration::ZERO),
            Admit::Now
        );
        assert!(!b.is_full(t0 + Duration::from_secs(20)));
        assert!(b.is_full(t0 + Duration::from_secs(21)));
        assert_eq!(b.take(t0, q, 6, Duration::MAX), Admit::Denied(None));
    }

    #[test]
    fn weighted_costs() {
        let t0 = Instant::now();
        let q = Quota::n_every(1024, Duration::from_secs(10));
        let mut b = Bucket::new(t0);
        assert_eq!(b.take(t0, q, 1024, Duration::ZERO), Admit::Now);
        assert!(matches!(
            b.take(t0, q, 512, Duration::ZERO),
            Admit::Denied(Some(_))
        ));
        assert_eq!(
            b.take(t0 + Duration::from_secs(5), q, 512, Duration::ZERO),
            Admit::Now
        );
    }
}
