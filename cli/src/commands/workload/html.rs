//! `devnet --report FILE.html` / `sim --report FILE.html`: one self-contained HTML page
//! (inline SVG, inline CSS, no script or network fetch) with five charts — propagation
//! latency CDF per message kind, delivery per node, bytes in / out per node over time,
//! connections over time, the late joiner's sync — and the data behind them as JSON in
//! `<script type="application/json" id="leanp2p-report-data">`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use serde_json::{json, Value};

use super::charts::{self, Bar, Marker, Series};
use super::driver::NodeDriver;
use super::payload::Kind;
use super::report::Report;
use super::schedule::Workload;
use super::timeline::Sample;

/// Points of a CDF curve at most (evenly spread over the sorted samples).
const MAX_CDF_POINTS: usize = 400;

/// What the page is about.
pub(crate) struct PageInput<'a> {
    /// `devnet` or `sim`.
    pub command: &'a str,
    /// One line describing the run (nodes, slots, sizes, seed, links).
    pub description: String,
    pub workload: &'a Workload,
    pub drivers: &'a [NodeDriver],
    pub report: &'a Report,
    /// Length of the run (wall or virtual seconds).
    pub run_secs: f64,
}

/// Propagation latencies (ms) of expected first deliveries, by kind.
fn latencies(workload: &Workload, drivers: &[NodeDriver]) -> (Vec<f64>, Vec<f64>) {
    let (mut blocks, mut attestations) = (Vec::new(), Vec::new());
    for publication in workload.publications() {
        for (r, driver) in drivers.iter().enumerate() {
            if !workload.expects(r, &publication.key) {
                continue;
            }
            if let Some(&ms) = driver.stats().received.get(&publication.key) {
                match publication.key.kind {
                    Kind::Block => blocks.push(ms),
                    Kind::Attestation => attestations.push(ms),
                }
            }
        }
    }
    (blocks, attestations)
}

/// `(latency ms, fraction of deliveries at or below it)`, at most [`MAX_CDF_POINTS`].
fn cdf(mut samples: Vec<f64>) -> Vec<(f64, f64)> {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n == 0 {
        return Vec::new();
    }
    let step = n.div_ceil(MAX_CDF_POINTS).max(1);
    let mut points: Vec<(f64, f64)> = (step - 1..n)
        .step_by(step)
        .map(|i| (round3(samples[i]), round4((i + 1) as f64 / n as f64)))
        .collect();
    if points.last().is_none_or(|p| p.1 < 1.0) {
        points.push((round3(samples[n - 1]), 1.0));
    }
    points
}

/// MB/s between consecutive samples of a cumulative byte counter.
fn rates(samples: &[Sample], bytes: fn(&Sample) -> u64) -> Vec<(f64, f64)> {
    samples
        .windows(2)
        .filter_map(|w| {
            let dt = w[1].t.saturating_sub(w[0].t).as_secs_f64();
            (dt > 0.0).then(|| {
                let mb = bytes(&w[1]).saturating_sub(bytes(&w[0])) as f64 / 1e6;
                (round3(w[1].t.as_secs_f64()), round3(mb / dt))
            })
        })
        .collect()
}

fn secs(t: Duration) -> f64 {
    round3(t.as_secs_f64())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// Node label: index, `(late)` for the late joiner.
fn node_name(workload: &Workload, i: usize) -> String {
    if workload.is_joiner(i) {
        format!("node {i} (late)")
    } else {
        format!("node {i}")
    }
}

/// The data of every chart, as embedded in the page.
pub(crate) fn data(input: &PageInput<'_>) -> Value {
    let w = input.workload;
    let (blocks, attestations) = latencies(w, input.drivers);
    let delivery: Vec<Value> = input
        .report
        .rows
        .iter()
        .map(|r| {
            json!({
                "node": r.index,
                "late_joiner": r.joiner,
                "expected": r.expected,
                "delivered": r.delivered,
                "duplicates": r.duplicates,
            })
        })
        .collect();
    let timeline: Vec<Value> = input
        .drivers
        .iter()
        .map(|d| {
            let s = d.timeline().samples();
            json!({
                "node": d.index(),
                "t_s": s.iter().map(|p| secs(p.t)).collect::<Vec<_>>(),
                "bytes_in": s.iter().map(|p| p.bytes_in).collect::<Vec<_>>(),
                "bytes_out": s.iter().map(|p| p.bytes_out).collect::<Vec<_>>(),
                "connections": s.iter().map(|p| p.connections).collect::<Vec<_>>(),
                "blocks": s.iter().map(|p| p.blocks).collect::<Vec<_>>(),
            })
        })
        .collect();
    let sync = w.joiner().and_then(|j| {
        let joiner = input.drivers.get(j)?;
        let stats = joiner.stats();
        let report = input.report.sync.as_ref();
        Some(json!({
            "node": j,
            "started_s": stats.started_at.map(secs),
            "synced_s": stats.synced_at.map(secs),
            "ok": report.map(|s| s.ok),
            "blocks_by_range_blocks": report.map(|s| s.range_blocks),
            "blocks_by_root_blocks": report.map(|s| s.root_blocks),
            "t_s": joiner.timeline().samples().iter().map(|p| secs(p.t)).collect::<Vec<_>>(),
            "blocks": joiner.timeline().samples().iter().map(|p| p.blocks).collect::<Vec<_>>(),
            "reference_blocks": reference_blocks(input.drivers, j),
        }))
    });
    json!({
        "command": input.command,
        "description": input.description,
        "nodes": input.drivers.len(),
        "slots": w.slots,
        "slot_ms": w.slot.as_millis() as u64,
        "run_s": round3(input.run_secs),
        "delivery_ratio": input.report.delivery_ratio(),
        "propagation_cdf": {
            "block": cdf(blocks).into_iter().map(|(x, y)| json!([x, y])).collect::<Vec<_>>(),
            "attestation": cdf(attestations).into_iter().map(|(x, y)| json!([x, y])).collect::<Vec<_>>(),
        },
        "delivery": delivery,
        "timeline": timeline,
        "sync": sync,
    })
}

/// At each of the joiner's sample times: the most blocks any other node held by then.
fn reference_blocks(drivers: &[NodeDriver], joiner: usize) -> Vec<usize> {
    let Some(j) = drivers.get(joiner) else {
        return Vec::new();
    };
    j.timeline()
        .samples()
        .iter()
        .map(|p| {
            drivers
                .iter()
                .filter(|d| d.index() != joiner)
                .filter_map(|d| {
                    d.timeline()
                        .samples()
                        .iter()
                        .take_while(|q| q.t <= p.t)
                        .last()
                        .map(|q| q.blocks)
                })
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// Chart points from a node's samples.
type PointsOf = dyn Fn(&[Sample]) -> Vec<(f64, f64)>;

/// The charts as `(section id, heading, svg or error text)`.
fn charts(input: &PageInput<'_>) -> Vec<(&'static str, &'static str, Result<String, String>)> {
    let w = input.workload;
    let (blocks, attestations) = latencies(w, input.drivers);
    let cdf_series = [
        ("block", cdf(blocks), 0),
        ("attestation", cdf(attestations), 1),
    ]
    .into_iter()
    .map(|(name, points, color)| Series {
        name: name.into(),
        points,
        color,
        strong: true,
    })
    .collect::<Vec<_>>();
    let propagation = charts::line_chart(
        "Propagation latency CDF",
        "latency (ms)",
        "fraction of deliveries",
        &cdf_series,
        &[],
    );
    let bars: Vec<Bar> = input
        .report
        .rows
        .iter()
        .map(|r| Bar {
            label: r.index.to_string(),
            value: if r.expected == 0 {
                0.0
            } else {
                r.delivered as f64 * 100.0 / r.expected as f64
            },
            highlight: r.joiner,
        })
        .collect();
    let delivery = charts::bar_chart(
        "Delivered / expected per node (late joiner highlighted)",
        "delivered (%)",
        &bars,
        100.0,
    );
    let per_node = |f: &PointsOf| -> Vec<Series> {
        input
            .drivers
            .iter()
            .map(|d| Series {
                name: node_name(w, d.index()),
                points: f(d.timeline().samples()),
                color: d.index(),
                strong: w.is_joiner(d.index()),
            })
            .collect()
    };
    let bytes_in = charts::line_chart(
        "Bytes in per node (gossip + req/resp)",
        "run time (s)",
        "MB/s",
        &per_node(&|s| rates(s, |p| p.bytes_in)),
        &[],
    );
    let bytes_out = charts::line_chart(
        "Bytes out per node (gossip + req/resp)",
        "run time (s)",
        "MB/s",
        &per_node(&|s| rates(s, |p| p.bytes_out)),
        &[],
    );
    let connections = charts::line_chart(
        "Connections per node",
        "run time (s)",
        "connections",
        &per_node(&|s| {
            s.iter()
                .map(|p| (secs(p.t), p.connections as f64))
                .collect()
        }),
        &[],
    );
    let sync = sync_chart(input);
    vec![
        ("propagation", "Propagation latency", propagation),
        ("delivery", "Delivery per node", delivery),
        ("bytes-in", "Bytes in over time", bytes_in),
        ("bytes-out", "Bytes out over time", bytes_out),
        ("connections", "Connections over time", connections),
        ("sync", "Late joiner sync", sync),
    ]
}

/// The late joiner's blocks against the most any other node held, with markers.
fn sync_chart(input: &PageInput<'_>) -> Result<String, String> {
    let Some(j) = input.workload.joiner() else {
        return Err("no late joiner in this run (--no-late-joiner)".into());
    };
    let Some(joiner) = input.drivers.get(j) else {
        return Err("the late joiner did not run".into());
    };
    let samples = joiner.timeline().samples();
    let reference = reference_blocks(input.drivers, j);
    let series = [
        Series {
            name: "others (most blocks)".into(),
            points: samples
                .iter()
                .zip(&reference)
                .map(|(p, &r)| (secs(p.t), r as f64))
                .collect(),
            color: 6,
            strong: false,
        },
        Series {
            name: format!("late joiner (node {j})"),
            points: samples
                .iter()
                .map(|p| (secs(p.t), p.blocks as f64))
                .collect(),
            color: 1,
            strong: true,
        },
    ];
    let stats = joiner.stats();
    let markers: Vec<Marker> = [("joined", stats.started_at), ("synced", stats.synced_at)]
        .into_iter()
        .filter_map(|(label, t)| {
            t.map(|t| Marker {
                x: secs(t),
                label: label.into(),
            })
        })
        .collect();
    charts::line_chart(
        "Late joiner: blocks held over time",
        "run time (s)",
        "blocks",
        &series,
        &markers,
    )
}

/// Minimal HTML escaping for text content.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The whole page.
pub(crate) fn page(input: &PageInput<'_>) -> String {
    let r = input.report;
    let mut html = String::new();
    let title = format!("leanp2p {} report", input.command);
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\n\
         <style>body{{font-family:sans-serif;margin:24px;max-width:1600px;color:#222}}\
         .grid{{display:flex;flex-wrap:wrap;gap:16px}}section{{border:1px solid #ddd;padding:8px}}\
         h2{{font-size:16px;margin:4px 0}}p.err{{color:#a00}}td,th{{padding:2px 10px;text-align:right}}</style>\n\
         </head><body>\n<h1>{title}</h1>\n<p>{}</p>\n",
        escape(&input.description)
    );
    let _ = write!(
        html,
        "<table><tr><th>delivered</th><th>delivery ratio</th><th>duplicates</th><th>p50 ms</th>\
         <th>p99 ms</th><th>late joiner</th><th>run s</th></tr><tr><td>{}/{}</td><td>{:.4}</td>\
         <td>{}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{:.2}</td></tr></table>\n<div class=\"grid\">\n",
        r.delivered,
        r.expected,
        r.delivery_ratio(),
        r.duplicates,
        r.latency.p50,
        r.latency.p99,
        match &r.sync {
            Some(s) if s.ok => "synced",
            Some(_) => "NOT synced",
            None => "none",
        },
        input.run_secs,
    );
    for (id, heading, chart) in charts(input) {
        let _ = writeln!(html, "<section id=\"{id}\"><h2>{heading}</h2>");
        match chart {
            Ok(svg) => html.push_str(&svg),
            Err(e) => {
                let _ = write!(html, "<p class=\"err\">{}</p>", escape(&e));
            }
        }
        html.push_str("\n</section>\n");
    }
    // `</` cannot end the script element early inside JSON strings.
    let data = data(input).to_string().replace("</", "<\\/");
    let _ = write!(
        html,
        "</div>\n<script type=\"application/json\" id=\"leanp2p-report-data\">{data}</script>\n</body></html>\n"
    );
    html
}

/// Writes the page to `file` (opened before the run, so a bad path fails early).
pub(crate) fn write(file: &mut std::fs::File, input: &PageInput<'_>) -> std::io::Result<()> {
    file.write_all(page(input).as_bytes())?;
    file.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_is_monotonic_bounded_and_ends_at_one() {
        assert!(cdf(Vec::new()).is_empty());
        let points = cdf((1..=1000).rev().map(f64::from).collect());
        assert!(points.len() <= MAX_CDF_POINTS + 1);
        assert!(points
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
        assert_eq!(points.last(), Some(&(1000.0, 1.0)));
        assert_eq!(cdf(vec![5.0]), vec![(5.0, 1.0)]);
    }

    #[test]
    fn rates_are_per_second_between_samples() {
        let at = |ms: u64, bytes: u64| Sample {
            t: Duration::from_millis(ms),
            bytes_in: bytes,
            bytes_out: 0,
            connections: 0,
            blocks: 0,
        };
        let r = rates(&[at(0, 0), at(500, 1_000_000), at(1500, 3_000_000)], |p| {
            p.bytes_in
        });
        assert_eq!(r, vec![(0.5, 2.0), (1.5, 2.0)]);
    }
}
