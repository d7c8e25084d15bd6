//! A node's timeline for the HTML report (`--report`): cumulative application bytes in
//! and out (gossip + req/resp, from the host's counters), connections and stored blocks,
//! sampled by the harness at run time `t`. The interval grows with the run so a node
//! keeps at most about [`MAX_SAMPLES`] points.

use std::time::Duration;

use leanp2p_host::Node;

/// Points a node keeps at most (plus one final point).
pub(crate) const MAX_SAMPLES: u32 = 300;
/// Shortest interval between points.
const MIN_INTERVAL: Duration = Duration::from_millis(200);

/// One point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Run time.
    pub t: Duration,
    /// Gossip and req/resp bytes read so far.
    pub bytes_in: u64,
    /// Gossip and req/resp bytes written so far.
    pub bytes_out: u64,
    /// Established connections.
    pub connections: usize,
    /// Blocks in the node's store.
    pub blocks: usize,
}

/// The points of one node.
#[derive(Clone, Debug, Default)]
pub(crate) struct Timeline {
    samples: Vec<Sample>,
    next_at: Duration,
}

impl Timeline {
    /// The sampling interval for a run that ends at `end`.
    pub(crate) fn interval(end: Duration) -> Duration {
        (end / MAX_SAMPLES).max(MIN_INTERVAL)
    }

    /// Records a point at `t` if one is due (`force`: always, e.g. the last one).
    pub(crate) fn sample(
        &mut self,
        node: &Node,
        blocks: usize,
        t: Duration,
        end: Duration,
        force: bool,
    ) {
        if !force && t < self.next_at {
            return;
        }
        if self.samples.len() > MAX_SAMPLES as usize + 1 {
            return;
        }
        self.next_at = t + Self::interval(end);
        let stats = node.stats();
        let c = &stats.counters;
        self.samples.push(Sample {
            t,
            bytes_in: c.gossip_bytes_received + c.reqresp_bytes_received,
            bytes_out: c.gossip_bytes_sent + c.reqresp_bytes_sent,
            connections: stats.connections,
            blocks,
        });
    }

    /// The points, oldest first.
    pub(crate) fn samples(&self) -> &[Sample] {
        &self.samples
    }
}
