//! `--pace-mbit`: the node pacer on real sockets, measured where the paced bytes arrive.
//!
//! The sending node of a bulk run gets a [`leanp2p_host::PacerConfig::TokenBucket`]; the
//! receiving node samples, once per reactor turn, the UDP payload bytes its connection has
//! received so far ([`leanp2p_quic::ConnectionStats::bytes_received`]) — the datagrams read
//! in that wakeup, stamped with the wakeup's time. Those are exactly the bytes the pacer
//! counts (the sender's whole egress on its one connection, ACK-only packets included). The
//! [`ArrivalMeter`] folds each sample into [`BurstTracker`] as it comes, so it keeps no
//! sample buffer at all: its memory is constant however long the run.
//!
//! The sender's pacer is a [`MeteredPacer`]: the same [`TokenBucket`] whose `on_send` also
//! feeds a second meter, so the result shows both what the pacer let out (sender side,
//! each `poll_transmit` — a GSO batch is one send — at the time it was taken) and what
//! arrived (receiver side, which adds kernel and receiver scheduling).
//!
//! Reported: the configured rate and burst, the achieved rate (bytes after the first sample
//! over first → last sample, as the pacing bench counts), its deviation in %, and the
//! largest burst: the maximum over sample intervals `[t_i, t_j]` of the bytes that arrived
//! in it minus `rate × (t_j − t_i)`. A wakeup stamps all the datagrams it read with one
//! time, so receiver scheduling delays show up as bursts too: the figure is an upper bound
//! on what the sender emitted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use leanp2p_host::{Pacer, TokenBucket};
use serde_json::{json, Value};

use super::report::round3;

/// Bytes per second of `mbit` megabits (1e6 bits) per second.
pub(crate) fn bytes_per_s(mbit: u64) -> u64 {
    mbit.saturating_mul(1_000_000) / 8
}

/// The largest burst of a stream of arrival samples over a configured rate, computed in one
/// pass with constant memory.
///
/// For samples `(t_k, b_k)` in time order, the burst of the interval `[t_i, t_j]` is
/// `Σ_{k=i..=j} b_k − rate × (t_j − t_i)`. With prefix sums `S_j = Σ_{k≤j} b_k` that is
/// `(S_j − rate·t_j) − (S_{i−1} − rate·t_i)`, so the maximum over `i ≤ j` needs only the
/// running minimum of `S_{i−1} − rate·t_i`. Values are kept in byte-nanoseconds (`i128`),
/// so the result is exact.
#[derive(Debug, Clone)]
pub(crate) struct BurstTracker {
    /// Bytes per second.
    rate: u64,
    /// `S_{j}` of the samples so far, in bytes.
    total: u64,
    /// Minimum over seen `i` of `S_{i−1}·1e9 − rate·t_i` (byte-ns); `None` before a sample.
    min_start: Option<i128>,
    /// Largest burst so far, in byte-ns.
    max_burst: i128,
    /// Time of the last sample (nanoseconds since the tracker's epoch).
    last_ns: u64,
}

impl BurstTracker {
    /// A tracker for `rate` bytes per second (at least 1).
    pub(crate) fn new(rate: u64) -> Self {
        Self {
            rate: rate.max(1),
            total: 0,
            min_start: None,
            max_burst: 0,
            last_ns: 0,
        }
    }

    /// Folds in `bytes` that arrived at `t_ns` nanoseconds after the epoch. Times must not
    /// go backwards; an earlier time is taken as the last one.
    pub(crate) fn push(&mut self, t_ns: u64, bytes: u64) {
        let t_ns = t_ns.max(self.last_ns);
        self.last_ns = t_ns;
        let line = i128::from(self.rate) * i128::from(t_ns);
        // This sample may open an interval: S_{j−1}·1e9 − rate·t_j.
        let start = i128::from(self.total) * 1_000_000_000 - line;
        let min_start = self.min_start.map_or(start, |m| m.min(start));
        self.min_start = Some(min_start);
        self.total = self.total.saturating_add(bytes);
        let end = i128::from(self.total) * 1_000_000_000 - line;
        self.max_burst = self.max_burst.max(end - min_start);
    }

    /// The largest burst so far in bytes (rounded down; 0 before any sample).
    pub(crate) fn max_burst_bytes(&self) -> u64 {
        u64::try_from(self.max_burst / 1_000_000_000).unwrap_or(u64::MAX)
    }

    /// Bytes seen so far.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }
}

/// The largest burst of `samples` (time, bytes) over `rate` bytes per second; see
/// [`BurstTracker`].
#[cfg(test)]
pub(crate) fn max_burst(rate: u64, samples: &[(Duration, u64)]) -> u64 {
    let mut tracker = BurstTracker::new(rate);
    for (t, bytes) in samples {
        tracker.push(u64::try_from(t.as_nanos()).unwrap_or(u64::MAX), *bytes);
    }
    tracker.max_burst_bytes()
}

/// The `pacing` object of a paced run: `rate_mbit`, `burst_bytes`, the receive-side
/// measurement (see [`ArrivalMeter::json`]; `measured_at` names the receiver), `sender`
/// (the same fields from the sender's [`MeteredPacer`]) and `pacer_waits`.
pub(crate) fn pacing_json(
    settings: PaceSettings,
    (receiver, received): (&str, &ArrivalMeter),
    (sender, sent): (&str, &ArrivalMeter),
    pacer_waits: u64,
) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("rate_mbit".into(), json!(settings.mbit));
    out.insert("burst_bytes".into(), json!(settings.burst));
    if let Value::Object(fields) =
        received.json(&format!("{receiver}: UDP bytes read per reactor wakeup"))
    {
        out.extend(fields);
    }
    out.insert(
        "sender".into(),
        sent.json(&format!(
            "{sender}: each datagram or GSO batch the pacer let out"
        )),
    );
    out.insert("pacer_waits".into(), json!(pacer_waits));
    Value::Object(out)
}

/// A meter shared between a node's pacer and the driver that stops it and reads it.
pub(crate) type SharedMeter = Arc<Mutex<ArrivalMeter>>;

/// A [`TokenBucket`] that also records every send it allows in a [`SharedMeter`].
#[derive(Debug)]
pub(crate) struct MeteredPacer {
    bucket: TokenBucket,
    sent: SharedMeter,
}

impl MeteredPacer {
    /// The bucket of `settings`, recording into `sent`.
    pub(crate) fn new(settings: PaceSettings, sent: SharedMeter) -> Self {
        Self {
            bucket: TokenBucket::new(settings.rate(), settings.burst),
            sent,
        }
    }
}

impl Pacer for MeteredPacer {
    fn delay(&mut self, now: Instant, bytes: usize) -> Option<Instant> {
        self.bucket.delay(now, bytes)
    }

    fn on_send(&mut self, now: Instant, bytes: usize) {
        self.bucket.on_send(now, bytes);
        if let Ok(mut meter) = self.sent.lock() {
            meter.record(now, bytes as u64);
        }
    }

    fn allowance(&mut self, now: Instant) -> Option<usize> {
        self.bucket.allowance(now)
    }
}

/// The pacer settings of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PaceSettings {
    /// Megabits (1e6 bits) per second.
    pub(crate) mbit: u64,
    /// Token-bucket size in bytes.
    pub(crate) burst: u64,
}

impl PaceSettings {
    /// Bytes per second.
    pub(crate) fn rate(&self) -> u64 {
        bytes_per_s(self.mbit)
    }
}

/// Receive-side arrival samples of one connection: cumulative UDP bytes, read per reactor
/// turn, turned into deltas and folded into a [`BurstTracker`].
#[derive(Debug)]
pub(crate) struct ArrivalMeter {
    settings: PaceSettings,
    tracker: BurstTracker,
    epoch: Option<Instant>,
    /// Connection bytes received when the meter started (the handshake), then at the last
    /// sample.
    seen: Option<u64>,
    first: Option<(Instant, u64)>,
    last: Option<Instant>,
    samples: u64,
    stopped: bool,
}

impl ArrivalMeter {
    /// A meter for a run paced with `settings`.
    pub(crate) fn new(settings: PaceSettings) -> Self {
        Self {
            settings,
            tracker: BurstTracker::new(settings.rate()),
            epoch: None,
            seen: None,
            first: None,
            last: None,
            samples: 0,
            stopped: false,
        }
    }

    /// The connection's cumulative received bytes at `now`. The first call sets the
    /// baseline (bytes before it are not counted); later calls add what arrived since.
    /// Ignored once [`ArrivalMeter::stop`]ped.
    pub(crate) fn observe(&mut self, now: Instant, cumulative: u64) {
        if self.stopped {
            return;
        }
        let Some(seen) = self.seen else {
            self.seen = Some(cumulative);
            return;
        };
        let delta = cumulative.saturating_sub(seen);
        self.seen = Some(cumulative);
        self.record(now, delta);
    }

    /// `bytes` sent or received at `now` (nothing for 0). Ignored once stopped.
    pub(crate) fn record(&mut self, now: Instant, delta: u64) {
        if self.stopped || delta == 0 {
            return;
        }
        let epoch = *self.epoch.get_or_insert(now);
        let t_ns =
            u64::try_from(now.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX);
        self.tracker.push(t_ns, delta);
        self.first.get_or_insert((now, delta));
        self.last = Some(now);
        self.samples += 1;
    }

    /// The transfer is over: later samples (ACKs, closing) are not part of it.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
    }

    /// Achieved bytes per second: bytes after the first sample over first → last sample.
    pub(crate) fn achieved_rate(&self) -> Option<f64> {
        let (t0, b0) = self.first?;
        let span = self.last?.saturating_duration_since(t0).as_secs_f64();
        (span > 0.0).then(|| (self.tracker.total() - b0) as f64 / span)
    }

    /// The measured fields: `measured_at` (where), `wire_bytes`, `samples`,
    /// `first_to_last_s`, `achieved_mbit`, `deviation_pct`, `max_burst_bytes`,
    /// `burst_within_configured`.
    pub(crate) fn json(&self, measured_at: &str) -> Value {
        let rate = self.settings.rate() as f64;
        let achieved = self.achieved_rate();
        let span = match (self.first, self.last) {
            (Some((t0, _)), Some(t1)) => t1.saturating_duration_since(t0),
            _ => Duration::ZERO,
        };
        let burst = self.tracker.max_burst_bytes();
        json!({
            "measured_at": measured_at,
            "wire_bytes": self.tracker.total(),
            "samples": self.samples,
            "first_to_last_s": round3(span.as_secs_f64() * 1000.0) / 1000.0,
            "achieved_mbit": achieved.map_or(Value::Null, |a| json!(round3(a * 8.0 / 1e6))),
            "deviation_pct": achieved.map_or(Value::Null, |a| json!(round3((a / rate - 1.0) * 100.0))),
            "max_burst_bytes": burst,
            "burst_within_configured": burst <= self.settings.burst,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn rate_from_mbit_is_decimal() {
        assert_eq!(bytes_per_s(100), 12_500_000);
        assert_eq!(bytes_per_s(1000), 125_000_000);
    }

    #[test]
    fn one_sample_is_a_burst_of_its_size() {
        assert_eq!(max_burst(1000, &[(Duration::ZERO, 1500)]), 1500);
        assert_eq!(max_burst(1000, &[]), 0);
    }

    #[test]
    fn traffic_exactly_at_rate_bursts_one_sample() {
        // 1,000 B/s = 1 B/ms: 10 B every 10 ms. Any interval [t_i, t_j] holds
        // 10·(j−i+1) B against a budget of 10·(j−i) B: the burst is one sample.
        let samples: Vec<_> = (0..100).map(|i| (MS * (10 * i), 10)).collect();
        assert_eq!(max_burst(1000, &samples), 10);
    }

    #[test]
    fn slower_than_rate_never_exceeds_one_sample() {
        let samples: Vec<_> = (0..100).map(|i| (MS * (20 * i), 10)).collect();
        assert_eq!(max_burst(1000, &samples), 10);
    }

    #[test]
    fn a_clump_in_the_middle_is_found() {
        // Paced at 1 B/ms, then 5 samples of 10 B at one instant (t = 500 ms), then paced
        // again: the interval around the clump holds 10 (the sample before the clump at
        // 490 ms) + 50 B over 10 ms => 60 − 10 = 50 B.
        let mut samples: Vec<_> = (0..50).map(|i| (MS * (10 * i), 10)).collect();
        samples.extend((0..5).map(|_| (MS * 500, 10)));
        samples.extend((51..100).map(|i| (MS * (10 * i), 10)));
        assert_eq!(max_burst(1000, &samples), 50);
    }

    #[test]
    fn a_faster_stretch_accumulates_its_excess() {
        // 1 B/ms allowed; from 0 to 100 ms 20 B arrive every 10 ms (twice the rate):
        // over [0, 100 ms] 11 × 20 = 220 B against 100 B => 120 B.
        let mut samples: Vec<_> = (0..=10).map(|i| (MS * (10 * i), 20)).collect();
        // Then a long quiet gap and one datagram: no larger burst.
        samples.push((MS * 10_000, 20));
        assert_eq!(max_burst(1000, &samples), 120);
    }

    #[test]
    fn the_best_interval_may_start_after_the_first_sample() {
        // A slow start (1 B per 100 ms), then 100 B in 10 samples over 9 ms.
        let mut samples: Vec<_> = (0..10).map(|i| (MS * (100 * i), 1)).collect();
        samples.extend((0..10).map(|i| (MS * (1000 + i), 10)));
        // Interval [1000 ms, 1009 ms]: 100 B − 9 B = 91 B (starting earlier only adds
        // budget faster than bytes).
        assert_eq!(max_burst(1000, &samples), 91);
    }

    #[test]
    fn sub_byte_budgets_round_down_exactly() {
        // 3 B/s; samples at 0 and 1 s of 5 B: [0, 1 s] = 10 − 3 = 7 B; at 0.5 s: 1.5 B budget.
        assert_eq!(
            max_burst(3, &[(Duration::ZERO, 5), (Duration::from_secs(1), 5)]),
            7
        );
        assert_eq!(
            max_burst(3, &[(Duration::ZERO, 5), (MS * 500, 5)]),
            8 // 10 − 1.5 = 8.5, rounded down
        );
    }

    #[test]
    fn meter_counts_deltas_after_the_baseline_and_stops() {
        let t0 = Instant::now();
        let settings = PaceSettings {
            mbit: 8, // 1,000,000 B/s = 1 B/µs
            burst: 3000,
        };
        let mut meter = ArrivalMeter::new(settings);
        meter.observe(t0, 5_000); // handshake bytes: the baseline
        meter.observe(t0 + MS, 5_000); // nothing new: no sample
        meter.observe(t0 + MS * 2, 7_000); // 2,000 B, the first sample
        meter.observe(t0 + MS * 3, 8_000); // 1,000 B
        meter.observe(t0 + MS * 4, 9_000); // 1,000 B
        meter.stop();
        meter.observe(t0 + MS * 100, 9_100); // after the transfer: ignored
        assert_eq!(meter.samples, 3);
        assert_eq!(meter.tracker.total(), 4_000);
        // (4,000 − 2,000) B over 2 ms = 1e6 B/s: exactly the configured rate.
        let achieved = meter.achieved_rate().unwrap();
        assert!((achieved - 1e6).abs() < 1e-6, "{achieved}");
        let out = meter.json("server");
        assert_eq!(out["measured_at"], json!("server"));
        assert_eq!(out["deviation_pct"], json!(0.0));
        assert_eq!(out["achieved_mbit"], json!(8.0));
        // Max burst: the first sample alone, 2,000 B (later samples arrive at the rate).
        assert_eq!(out["max_burst_bytes"], json!(2000));
        assert_eq!(out["burst_within_configured"], json!(true));
    }

    #[test]
    fn metered_pacer_paces_like_the_bucket_and_records_sends() {
        let t0 = Instant::now();
        let settings = PaceSettings {
            mbit: 8, // 1 B/µs
            burst: 3000,
        };
        let sent: SharedMeter = Arc::new(Mutex::new(ArrivalMeter::new(settings)));
        let mut pacer = MeteredPacer::new(settings, Arc::clone(&sent));
        let mut bucket = TokenBucket::new(settings.rate(), settings.burst);
        let mut now = t0;
        for _ in 0..10 {
            let (ours, theirs) = (pacer.delay(now, 1500), bucket.delay(now, 1500));
            assert_eq!(ours, theirs);
            now = ours.map_or(now, |at| at.max(now));
            pacer.on_send(now, 1500);
            bucket.on_send(now, 1500);
        }
        let meter = sent.lock().unwrap();
        assert_eq!(meter.samples, 10);
        assert_eq!(meter.tracker.total(), 15_000);
        // Two sends empty the full bucket at t0; an empty bucket resumes once it is full
        // again (the burst is under TokenBucket::RESUME_DATAGRAMS datagrams), 3,000 µs
        // later, for two more: never more than the bucket ahead of the rate.
        assert_eq!(meter.tracker.max_burst_bytes(), 3000);
    }

    #[test]
    fn meter_without_two_samples_has_no_rate() {
        let mut meter = ArrivalMeter::new(PaceSettings {
            mbit: 100,
            burst: 65_536,
        });
        meter.observe(Instant::now(), 0);
        assert_eq!(meter.achieved_rate(), None);
        assert_eq!(meter.json("server")["achieved_mbit"], Value::Null);
    }
}
