//! `--metrics-addr HOST:PORT`: the node's metrics in the OpenMetrics text format at
//! `GET /metrics`, built with `prometheus-client` and served by `tiny_http`
//! ([`server`]).
//!
//! Two sources feed one [`Registry`]:
//! * the host's [`Stats`] snapshot, read on the reactor's thread at each scrape and
//!   encoded by [`StatsCollector`]: the leanMetrics series (`lean_connected_peers`,
//!   `lean_peer_connection_events_total`, `lean_peer_disconnection_events_total`,
//!   `lean_gossip_mesh_peers`) and our own `leanp2p_*` counters and gauges;
//! * [`Recorder`] histograms the event handler fills as things happen: gossip
//!   propagation and validation latency, req/resp latency, ping RTT.
//!
//! Label values are bounded: topics are the ones we subscribe to or publish on,
//! protocols the ones we request, results `ok`/`failed`.

pub(crate) mod server;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use leanp2p_host::Stats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// `topic` label of the gossip histograms.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: String,
}

/// `protocol` and `result` labels of the req/resp histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    protocol: String,
    result: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Gossip propagation: 1 ms … 16 s (doubling).
fn propagation_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Validation (event to verdict): 10 µs … 2.6 s (×4).
fn validation_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_01, 4.0, 10))
}

/// Req/resp request to last chunk: 1 ms … 16 s (doubling).
fn request_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// Ping RTT: 100 µs … 3.3 s (doubling).
fn ping_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

/// The histograms the event handler records into (cheap to clone: handles to shared
/// atomics). Recording works whether or not `--metrics-addr` serves them.
#[derive(Clone, Debug)]
pub(crate) struct Recorder {
    gossip_propagation: HistogramFamily<TopicLabels>,
    gossip_validation: HistogramFamily<TopicLabels>,
    request_latency: HistogramFamily<RequestLabels>,
    ping_rtt: Histogram,
}

impl Recorder {
    fn new() -> Self {
        Self {
            gossip_propagation: Family::new_with_constructor(propagation_histogram),
            gossip_validation: Family::new_with_constructor(validation_histogram),
            request_latency: Family::new_with_constructor(request_histogram),
            ping_rtt: ping_histogram(),
        }
    }

    /// A gossip message on `topic` took `ms` from its publisher's stamp to us.
    pub(crate) fn gossip_propagation(&self, topic: &str, ms: f64) {
        let labels = TopicLabels {
            topic: topic.to_string(),
        };
        self.gossip_propagation
            .get_or_create(&labels)
            .observe(ms / 1000.0);
    }

    /// A gossip message on `topic` waited `took` between its event and our verdict.
    pub(crate) fn gossip_validation(&self, topic: &str, took: Duration) {
        let labels = TopicLabels {
            topic: topic.to_string(),
        };
        self.gossip_validation
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// An outbound request of `protocol` ended after `took`.
    pub(crate) fn request(&self, protocol: &str, ok: bool, took: Duration) {
        let labels = RequestLabels {
            protocol: protocol.to_string(),
            result: if ok { "ok" } else { "failed" }.to_string(),
        };
        self.request_latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// A ping of ours came back after `rtt`.
    pub(crate) fn ping(&self, rtt: Duration) {
        self.ping_rtt.observe(rtt.as_secs_f64());
    }
}

/// The registry and the stats slot its collector reads.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    snapshot: Arc<Mutex<Option<Stats>>>,
    recorder: Recorder,
}

impl Metrics {
    /// Registers every series.
    pub(crate) fn new() -> Self {
        let recorder = Recorder::new();
        let snapshot = Arc::new(Mutex::new(None));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(StatsCollector {
            snapshot: Arc::clone(&snapshot),
        }));
        registry.register(
            "leanp2p_gossip_propagation_seconds",
            "Gossip messages from the publisher's send stamp (payload header) to their \
             delivery here, by topic (needs synchronised clocks across hosts)",
            recorder.gossip_propagation.clone(),
        );
        registry.register(
            "leanp2p_gossip_validation_seconds",
            "Gossip messages from their delivery event to our validation verdict, by topic",
            recorder.gossip_validation.clone(),
        );
        registry.register(
            "leanp2p_reqresp_request_seconds",
            "Outbound req/resp requests from sending to the end of the response, by \
             protocol and result",
            recorder.request_latency.clone(),
        );
        registry.register(
            "leanp2p_ping_rtt_seconds",
            "Round-trip time of our libp2p pings",
            recorder.ping_rtt.clone(),
        );
        Self {
            registry,
            snapshot,
            recorder,
        }
    }

    /// The histograms' recording handle.
    pub(crate) fn recorder(&self) -> Recorder {
        self.recorder.clone()
    }

    /// The OpenMetrics text of `stats` and the histograms (ends with `# EOF`).
    pub(crate) fn render(&self, stats: Stats) -> String {
        *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = Some(stats);
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::warn!(%e, "metrics encoding");
        }
        out
    }
}

/// Encodes the host's [`Stats`] snapshot of the current scrape.
#[derive(Debug)]
struct StatsCollector {
    snapshot: Arc<Mutex<Option<Stats>>>,
}

impl Collector for StatsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let guard = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(stats) = guard.as_ref() else {
            return Ok(());
        };
        let c = &stats.counters;
        gauge(
            &mut encoder,
            "lean_connected_peers",
            "Number of connected peers",
            stats.connected_peers as u64,
        )?;
        {
            let counter = ConstCounter::new(0u64);
            let mut family = encoder.encode_descriptor(
                "lean_peer_connection_events",
                "Total number of peer connection events",
                None,
                counter.metric_type(),
            )?;
            for (direction, result, n) in [
                ("inbound", "success", c.connections_inbound),
                ("outbound", "success", c.connections_outbound),
                ("outbound", "error", c.dials_failed),
            ] {
                let labels = [("direction", direction), ("result", result)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let counter = ConstCounter::new(0u64);
            let mut family = encoder.encode_descriptor(
                "lean_peer_disconnection_events",
                "Total number of peer disconnection events",
                None,
                counter.metric_type(),
            )?;
            for ((direction, reason), n) in &c.disconnections {
                let labels = [("direction", *direction), ("reason", *reason)];
                ConstCounter::new(*n).encode(family.encode_family(&labels)?)?;
            }
        }
        {
            let g = ConstGauge::new(0u64);
            let mut family = encoder.encode_descriptor(
                "lean_gossip_mesh_peers",
                "Number of peers in the gossipsub mesh, by topic",
                None,
                g.metric_type(),
            )?;
            for (topic, n) in &stats.mesh_peers {
                let labels = [("topic", topic.as_str())];
                ConstGauge::new(*n as u64).encode(family.encode_family(&labels)?)?;
            }
        }
        for (name, help, n) in [
            (
                "leanp2p_connections",
                "Established QUIC connections",
                stats.connections,
            ),
            (
                "leanp2p_outbound_peers",
                "Connected peers with at least one outbound connection",
                stats.outbound_peers,
            ),
            (
                "leanp2p_inbound_peers",
                "Connected peers with only inbound connections",
                stats.inbound_peers,
            ),
            (
                "leanp2p_buffered_bytes",
                "Unsent bytes the host holds for all peers",
                stats.buffered_bytes_total,
            ),
            (
                "leanp2p_queued_events",
                "Events waiting for the application",
                stats.queued_events,
            ),
        ] {
            gauge(&mut encoder, name, help, n as u64)?;
        }
        for (name, help, n) in [
            (
                "leanp2p_gossip_frames_sent",
                "Gossip frames written to peers",
                c.gossip_frames_sent,
            ),
            (
                "leanp2p_gossip_bytes_sent",
                "Gossip bytes written to peers (length prefix included)",
                c.gossip_bytes_sent,
            ),
            (
                "leanp2p_gossip_frames_received",
                "Gossip frames read from peers",
                c.gossip_frames_received,
            ),
            (
                "leanp2p_gossip_bytes_received",
                "Gossip bytes read from peers",
                c.gossip_bytes_received,
            ),
            (
                "leanp2p_gossip_frames_dropped",
                "Gossip frames for peers no longer tracked, or discarded with them",
                c.gossip_frames_dropped,
            ),
            (
                "leanp2p_gossip_forwards_dropped",
                "Forwards and IWANT replies dropped for peers over their gossip budget",
                c.gossip_forwards_dropped,
            ),
            (
                "leanp2p_gossip_priority_dropped",
                "Control frames and own publishes dropped for peers over budget and reserve",
                c.gossip_priority_dropped,
            ),
            (
                "leanp2p_slow_peer_disconnects",
                "Peers disconnected after a long gossip overflow",
                c.slow_peer_disconnects,
            ),
            (
                "leanp2p_reqresp_bytes_sent",
                "Req/resp bytes written",
                c.reqresp_bytes_sent,
            ),
            (
                "leanp2p_reqresp_bytes_received",
                "Req/resp bytes read",
                c.reqresp_bytes_received,
            ),
            (
                "leanp2p_pings_succeeded",
                "Successful pings of ours",
                c.pings_succeeded,
            ),
            (
                "leanp2p_pings_failed",
                "Failed pings of ours",
                c.pings_failed,
            ),
            (
                "leanp2p_events_dropped",
                "Informational events dropped at the event queue limit",
                c.events_dropped,
            ),
            (
                "leanp2p_datagrams_sent",
                "UDP datagrams handed to the socket",
                c.datagrams_sent,
            ),
            (
                "leanp2p_bytes_sent",
                "UDP payload bytes handed to the socket",
                c.bytes_sent,
            ),
        ] {
            let counter = ConstCounter::new(n);
            let metric = encoder.encode_descriptor(name, help, None, counter.metric_type())?;
            counter.encode(metric)?;
        }
        Ok(())
    }
}

/// One unlabelled gauge.
fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(value);
    let metric = encoder.encode_descriptor(name, help, None, g.metric_type())?;
    g.encode(metric)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Instant;

    use leanp2p_host::{lean, Keypair, Node, TopicHash};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;

    /// The stats of a fresh node subscribed to the lean block topic.
    fn stats() -> Stats {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let key = Keypair::generate(&mut rng);
        let t0 = Instant::now();
        let mut node = Node::new(t0, lean::config("test"), &key, [7; 32]).unwrap();
        node.subscribe(t0, &TopicHash::new("/leanconsensus/0/block/ssz_snappy"))
            .unwrap();
        let mut stats = node.stats();
        // A fresh node has closed no connection yet.
        stats
            .counters
            .disconnections
            .insert(("inbound", "remote_close"), 1);
        stats
    }

    /// Metrics with one sample in every histogram.
    fn recorded() -> Metrics {
        let metrics = Metrics::new();
        let r = metrics.recorder();
        r.gossip_propagation("/leanconsensus/0/block/ssz_snappy", 12.5);
        r.gossip_validation(
            "/leanconsensus/0/block/ssz_snappy",
            Duration::from_micros(30),
        );
        r.request(
            "/leanconsensus/req/status/1/ssz_snappy",
            true,
            Duration::from_millis(4),
        );
        r.ping(Duration::from_micros(900));
        metrics
    }

    /// Sample names (the part before `{` or the value) of an exposition.
    fn sample_names(text: &str) -> BTreeSet<String> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split(['{', ' ']).next())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn exposition_has_help_types_lean_names_and_histograms() {
        let text = recorded().render(stats());
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("\nlean_connected_peers 0\n"), "{text}");
        assert!(text.contains("# TYPE lean_connected_peers gauge\n"));
        assert!(text.contains("# HELP lean_connected_peers Number of connected peers\n"));
        assert!(text.contains(
            "lean_peer_connection_events_total{direction=\"inbound\",result=\"success\"} 0\n"
        ));
        assert!(text
            .contains("lean_gossip_mesh_peers{topic=\"/leanconsensus/0/block/ssz_snappy\"} 0\n"));
        assert!(text.contains("# TYPE leanp2p_ping_rtt_seconds histogram\n"));
        assert!(
            text.contains("leanp2p_ping_rtt_seconds_count 1\n"),
            "{text}"
        );
        assert!(text.contains(
            "leanp2p_gossip_propagation_seconds_bucket{le=\"0.016\",topic=\"/leanconsensus/0/block/ssz_snappy\"} 1\n"
        ), "{text}");
        let names = sample_names(&text);
        // The series the hand-written exposition had keep their names.
        for name in [
            "lean_connected_peers",
            "lean_peer_connection_events_total",
            "lean_gossip_mesh_peers",
            "leanp2p_gossip_frames_sent_total",
            "leanp2p_gossip_bytes_sent_total",
            "leanp2p_gossip_frames_received_total",
            "leanp2p_gossip_bytes_received_total",
            "leanp2p_gossip_frames_dropped_total",
            "leanp2p_reqresp_bytes_sent_total",
            "leanp2p_reqresp_bytes_received_total",
            "leanp2p_datagrams_sent_total",
            "leanp2p_bytes_sent_total",
            "leanp2p_reqresp_request_seconds_bucket",
            "leanp2p_gossip_validation_seconds_sum",
        ] {
            assert!(names.contains(name), "{name} missing from\n{text}");
        }
    }

    #[test]
    fn every_series_the_grafana_dashboard_queries_is_exported() {
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../../../../docs/grafana/leanp2p.json")).unwrap();
        let mut exprs = Vec::new();
        collect_exprs(&dashboard, &mut exprs);
        assert!(exprs.len() >= 8, "{exprs:?}");
        let names = sample_names(&recorded().render(stats()));
        let mut queried = BTreeSet::new();
        for expr in &exprs {
            for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if token.starts_with("lean_") || token.starts_with("leanp2p_") {
                    queried.insert(token.to_string());
                }
            }
        }
        assert!(queried.len() >= 8, "{queried:?}");
        for series in &queried {
            assert!(
                names.contains(series),
                "dashboard queries {series}, not exported"
            );
        }
    }

    /// Every `expr` string of the dashboard's panel targets.
    fn collect_exprs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                        _ => collect_exprs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for v in items {
                    collect_exprs(v, out);
                }
            }
            _ => {}
        }
    }
}
