//! Per-minute gauges of the churn soak (`sim/tests/soak.rs`): what is sampled from each
//! node, the flatness rule and the window report.

use std::fmt::Write as _;

use leanp2p_host::Node;

/// One gauge sampled from every running node once per virtual minute, with the
/// constant slack of the flatness rule (see [`Series::check_flat`]).
#[derive(Debug, Clone, Copy)]
pub struct Gauge {
    /// Name in reports (the `Stats` field it reads).
    pub name: &'static str,
    /// Absolute slack added to `1.5 × earlier maximum` (covers one block in flight,
    /// a peer or two reconnecting at the sample instant, and zero baselines).
    pub slack: usize,
}

/// The sampled gauges, in the order of [`sample`]'s array.
pub const GAUGES: [Gauge; 18] = [
    Gauge {
        name: "buffered_bytes_total",
        slack: 128 * 1024,
    },
    Gauge {
        name: "queued_events",
        slack: 16,
    },
    Gauge {
        name: "queued_event_bytes",
        slack: 64 * 1024,
    },
    Gauge {
        name: "connected_peers",
        slack: 4,
    },
    Gauge {
        name: "connections",
        slack: 4,
    },
    Gauge {
        name: "address_book_len",
        slack: 4,
    },
    Gauge {
        name: "known_peers_len",
        slack: 2,
    },
    Gauge {
        name: "gossipsub.seen_len",
        slack: 32,
    },
    Gauge {
        name: "gossipsub.mcache_len",
        slack: 16,
    },
    Gauge {
        name: "gossipsub.backoff_len",
        slack: 8,
    },
    Gauge {
        name: "gossipsub.pending_validation",
        slack: 8,
    },
    Gauge {
        name: "gossipsub.queued_bytes",
        slack: 128 * 1024,
    },
    Gauge {
        name: "quic.connection_count",
        slack: 4,
    },
    Gauge {
        name: "quic.handshake_count",
        slack: 4,
    },
    Gauge {
        name: "host.streams",
        slack: 8,
    },
    Gauge {
        name: "host.ping_rtt_len",
        slack: 4,
    },
    Gauge {
        name: "gossipsub.peers",
        slack: 4,
    },
    Gauge {
        name: "gossipsub.queued_frames",
        slack: 32,
    },
];

/// Number of gauges.
pub const N_GAUGES: usize = GAUGES.len();

/// Index of a gauge in [`GAUGES`] by name (panics on a typo: test code).
pub fn gauge(name: &str) -> usize {
    GAUGES
        .iter()
        .position(|g| g.name == name)
        .unwrap_or_else(|| panic!("no gauge {name}"))
}

/// Reads every gauge of one node.
pub fn sample(node: &Node) -> [usize; N_GAUGES] {
    let stats = node.stats();
    let endpoint = node.endpoint();
    let streams = node
        .connected_peers()
        .flat_map(|peer| node.connections_to(peer))
        .map(|conn| node.stream_count(conn))
        .sum();
    [
        stats.buffered_bytes_total,
        stats.queued_events,
        stats.queued_event_bytes,
        stats.connected_peers,
        stats.connections,
        stats.address_book_len,
        stats.known_peers_len,
        stats.gossipsub.seen_len,
        stats.gossipsub.mcache_len,
        stats.gossipsub.backoff_len,
        stats.gossipsub.pending_validation,
        stats.gossipsub.queued_bytes,
        endpoint.connection_count(),
        endpoint.handshake_count(),
        streams,
        stats.ping_rtt.len(),
        stats.gossipsub.peers.len(),
        stats.gossipsub.queued_frames,
    ]
}

/// The samples of a run: for every minute, every node's gauges (`None` while crashed).
#[derive(Debug, Default, Clone)]
pub struct Series {
    /// `minutes[m][node]`: the sample taken at the end of virtual minute `m + 1`.
    pub minutes: Vec<Vec<Option<[usize; N_GAUGES]>>>,
}

/// A gauge whose later window rose above the flatness bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Growth {
    /// Gauge name.
    pub gauge: &'static str,
    /// `None`: the maximum over all nodes; `Some(i)`: node `i`'s own series.
    pub node: Option<usize>,
    /// Maximum over the reference window.
    pub reference: usize,
    /// Maximum over the later window.
    pub later: usize,
    /// The bound it exceeded.
    pub bound: usize,
}

impl Series {
    /// Records one minute's samples.
    pub fn push(&mut self, row: Vec<Option<[usize; N_GAUGES]>>) {
        self.minutes.push(row);
    }

    /// Maximum of gauge `g` over minutes `from..to` (1-based end-of-minute samples
    /// `from + 1 ..= to`) and over `nodes` (all when `None`).
    pub fn max(&self, g: usize, from: usize, to: usize, node: Option<usize>) -> usize {
        self.minutes
            .get(from..to.min(self.minutes.len()))
            .unwrap_or_default()
            .iter()
            .flat_map(|row| {
                row.iter()
                    .enumerate()
                    .filter(move |(i, _)| node.is_none_or(|n| n == *i))
                    .filter_map(|(_, s)| s.map(|s| s[g]))
            })
            .max()
            .unwrap_or(0)
    }

    /// The flatness rule: for every gauge, the maximum over `later` is at most
    /// `1.5 × (maximum over reference) + slack`, over all nodes together and for each
    /// node's own series. Returns every violation.
    pub fn check_flat(
        &self,
        reference: (usize, usize),
        later: (usize, usize),
        nodes: usize,
    ) -> Vec<Growth> {
        let mut out = Vec::new();
        for (g, gauge) in GAUGES.iter().enumerate() {
            let scopes = std::iter::once(None).chain((0..nodes).map(Some));
            for node in scopes {
                let before = self.max(g, reference.0, reference.1, node);
                let after = self.max(g, later.0, later.1, node);
                let bound = before + before / 2 + gauge.slack;
                if after > bound {
                    out.push(Growth {
                        gauge: gauge.name,
                        node,
                        reference: before,
                        later: after,
                        bound,
                    });
                }
            }
        }
        out
    }

    /// A table: one row per gauge, one column per `window`-minute window, each cell the
    /// maximum over all nodes in that window.
    pub fn report(&self, window: usize) -> String {
        let window = window.max(1);
        let windows = self.minutes.len().div_ceil(window);
        let mut out = String::new();
        let _ = write!(out, "{:<30}", "gauge (max over nodes)");
        for w in 0..windows {
            let _ = write!(
                out,
                " {:>11}",
                format!(
                    "{}-{}m",
                    w * window,
                    ((w + 1) * window).min(self.minutes.len())
                )
            );
        }
        out.push('\n');
        for (g, gauge) in GAUGES.iter().enumerate() {
            let _ = write!(out, "{:<30}", gauge.name);
            for w in 0..windows {
                let _ = write!(
                    out,
                    " {:>11}",
                    self.max(g, w * window, (w + 1) * window, None)
                );
            }
            out.push('\n');
        }
        out
    }
}
