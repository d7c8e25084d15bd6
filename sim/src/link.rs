//! Link model: latency, jitter, loss, bandwidth and MTU between two nodes (netem shape).

use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

/// Properties of the path between two nodes, applied to each direction independently.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub latency: Duration,
    /// Extra one-way delay drawn uniformly from `[0, jitter]` per datagram. A jitter
    /// larger than the gap between two datagrams reorders them.
    pub jitter: Duration,
    /// Probability in `[0, 1]` that a datagram is dropped.
    pub loss: f64,
    /// Serialization rate per direction; `None` is unlimited. Each datagram occupies the
    /// link for `size / rate` after the previous one left, so bursts queue up.
    pub bandwidth_bytes_per_sec: Option<u64>,
    /// Tail-drop buffer in front of a bandwidth-limited link: a datagram that would
    /// find more than this many bytes still waiting to be serialized is dropped (a
    /// router queue, netem's `limit`). `None` queues without bound; ignored without a
    /// bandwidth limit.
    pub queue_bytes: Option<usize>,
    /// Largest UDP payload the link carries; bigger datagrams are dropped (as a real
    /// path would, which is what QUIC path-MTU discovery probes for).
    pub mtu: usize,
}

impl Default for LinkConfig {
    /// 10 ms latency, no jitter, no loss, unlimited bandwidth and queue, 1452-byte MTU.
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: 0.0,
            bandwidth_bytes_per_sec: None,
            queue_bytes: None,
            mtu: 1452,
        }
    }
}

/// What happens to one datagram on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Arrives at this instant.
    Arrive(Instant),
    /// Dropped by random loss.
    Lost,
    /// Dropped for exceeding the MTU.
    TooBig,
    /// Dropped because the link's queue was full.
    QueueFull,
}

/// Per-direction link state: when the sender's side of the link is free again.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Direction {
    busy_until: Option<Instant>,
}

impl Direction {
    /// Decides the fate of a `size`-byte datagram sent at `now`. Always draws the same
    /// number of random values per datagram, so one decision never shifts the stream of
    /// another link's choices differently depending on the outcome.
    pub(crate) fn send(
        &mut self,
        config: &LinkConfig,
        now: Instant,
        size: usize,
        rng: &mut ChaCha20Rng,
    ) -> Fate {
        let loss_draw = unit(rng);
        let jitter_draw = unit(rng);
        if size > config.mtu {
            return Fate::TooBig;
        }
        if loss_draw < config.loss {
            return Fate::Lost;
        }
        let departure = match config.bandwidth_bytes_per_sec {
            Some(rate) if rate > 0 => {
                let start = self.busy_until.map_or(now, |busy| busy.max(now));
                if let Some(limit) = config.queue_bytes {
                    let waiting = (start - now).as_nanos() * u128::from(rate) / 1_000_000_000;
                    if waiting + size as u128 > limit as u128 {
                        return Fate::QueueFull;
                    }
                }
                let nanos = (size as u128 * 1_000_000_000) / u128::from(rate);
                let done = start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
                self.busy_until = Some(done);
                done
            }
            _ => now,
        };
        let jitter = config.jitter.mul_f64(jitter_draw);
        Fate::Arrive(departure + config.latency + jitter)
    }
}

/// A uniform draw in `[0, 1)` with 53 bits of precision.
fn unit(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    #[test]
    fn bandwidth_queues_back_to_back_datagrams() {
        let t0 = Instant::now();
        let config = LinkConfig {
            latency: Duration::from_millis(5),
            bandwidth_bytes_per_sec: Some(1_000_000),
            ..LinkConfig::default()
        };
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut dir = Direction::default();
        // 1000 bytes at 1 MB/s = 1 ms each.
        assert_eq!(
            dir.send(&config, t0, 1000, &mut rng),
            Fate::Arrive(t0 + Duration::from_millis(6))
        );
        assert_eq!(
            dir.send(&config, t0, 1000, &mut rng),
            Fate::Arrive(t0 + Duration::from_millis(7))
        );
        assert_eq!(dir.send(&config, t0, 2000, &mut rng), Fate::TooBig);
    }

    #[test]
    fn full_queue_drops_at_the_tail() {
        let t0 = Instant::now();
        let config = LinkConfig {
            bandwidth_bytes_per_sec: Some(1_000_000),
            queue_bytes: Some(2_500),
            ..LinkConfig::default()
        };
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut dir = Direction::default();
        let fates: Vec<_> = (0..4)
            .map(|_| dir.send(&config, t0, 1000, &mut rng))
            .collect();
        // Bytes waiting before each: 0, 1000, then 2000 (2000 + 1000 > 2500: dropped).
        assert!(matches!(fates[0], Fate::Arrive(_)));
        assert!(matches!(fates[1], Fate::Arrive(_)));
        assert_eq!(fates[2], Fate::QueueFull);
        assert_eq!(fates[3], Fate::QueueFull);
        // 1.5 ms later half the queue has drained.
        let later = t0 + Duration::from_micros(1500);
        assert!(matches!(
            dir.send(&config, later, 1000, &mut rng),
            Fate::Arrive(_)
        ));
    }

    #[test]
    fn loss_rate_is_roughly_as_configured() {
        let t0 = Instant::now();
        let config = LinkConfig {
            loss: 0.25,
            ..LinkConfig::default()
        };
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let mut dir = Direction::default();
        let lost = (0..10_000)
            .filter(|_| dir.send(&config, t0, 100, &mut rng) == Fate::Lost)
            .count();
        assert!((2_200..2_800).contains(&lost), "lost {lost}");
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let t0 = Instant::now();
        let config = LinkConfig {
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(4),
            ..LinkConfig::default()
        };
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let mut dir = Direction::default();
        for _ in 0..1000 {
            let Fate::Arrive(at) = dir.send(&config, t0, 100, &mut rng) else {
                panic!("no loss configured");
            };
            assert!(at >= t0 + Duration::from_millis(10));
            assert!(at <= t0 + Duration::from_millis(14));
        }
    }
}
