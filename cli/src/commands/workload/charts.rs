//! SVG charts for the `--report` page, drawn with `plotters` (SVG backend only): line
//! charts (CDFs, time series) and a bar chart. Each chart is a self-contained `<svg>`
//! string; a drawing error is returned as text for the page to show instead.

use plotters::prelude::*;

/// Chart size in pixels.
const SIZE: (u32, u32) = (700, 340);
/// Series shown in a legend at most (more nodes: no legend, colours only).
const MAX_LEGEND: usize = 12;

/// One line of a line chart.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Colour index (stable per node / kind).
    pub color: usize,
    /// Drawn thick (the series that matters most).
    pub strong: bool,
}

/// A vertical marker line with a label (e.g. "joined", "synced").
#[derive(Clone, Debug)]
pub(crate) struct Marker {
    pub x: f64,
    pub label: String,
}

/// Text of a drawing error.
fn err(e: impl std::fmt::Display) -> String {
    format!("chart: {e}")
}

fn color(index: usize) -> RGBColor {
    // A colour-blind-friendly cycle (Okabe–Ito), then plotters' palette.
    const BASE: [RGBColor; 8] = [
        RGBColor(0, 114, 178),
        RGBColor(213, 94, 0),
        RGBColor(0, 158, 115),
        RGBColor(204, 121, 167),
        RGBColor(230, 159, 0),
        RGBColor(86, 180, 233),
        RGBColor(120, 120, 120),
        RGBColor(240, 228, 66),
    ];
    match BASE.get(index) {
        Some(c) => *c,
        None => {
            let (r, g, b) = Palette99::pick(index).rgb();
            RGBColor(r, g, b)
        }
    }
}

/// Axis ranges that hold every point (and are never empty).
fn bounds(series: &[Series], y_floor: Option<f64>) -> (f64, f64, f64, f64) {
    let points = series.iter().flat_map(|s| s.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if let Some(floor) = y_floor {
        y0 = y0.min(floor);
    }
    if x1 - x0 < 1e-9 {
        x1 = x0 + 1.0;
    }
    if y1 - y0 < 1e-9 {
        y1 = y0 + 1.0;
    }
    (x0, x1, y0, y1 + (y1 - y0) * 0.05)
}

/// A line chart of `series` (y from 0 unless the data go below), with `markers`.
pub(crate) fn line_chart(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    markers: &[Marker],
) -> Result<String, String> {
    let (x0, x1, y0, y1) = bounds(series, Some(0.0));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(RGBColor(236, 236, 236))
            .draw()
            .map_err(err)?;
        for marker in markers {
            let style = RGBColor(90, 90, 90).stroke_width(1);
            chart
                .draw_series(LineSeries::new([(marker.x, y0), (marker.x, y1)], style))
                .map_err(err)?;
            chart
                .draw_series([Text::new(
                    marker.label.clone(),
                    (marker.x, y1),
                    ("sans-serif", 13).into_font().color(&BLACK),
                )])
                .map_err(err)?;
        }
        let legend = series.len() <= MAX_LEGEND;
        for s in series {
            let c = color(s.color);
            let style = c.stroke_width(if s.strong { 3 } else { 2 });
            let drawn = chart
                .draw_series(LineSeries::new(s.points.iter().copied(), style))
                .map_err(err)?;
            if legend {
                drawn.label(s.name.clone()).legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], c.stroke_width(3))
                });
            }
        }
        if legend && !series.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(RGBColor(180, 180, 180))
                .position(SeriesLabelPosition::LowerRight)
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// One bar of a bar chart.
#[derive(Clone, Debug)]
pub(crate) struct Bar {
    pub label: String,
    pub value: f64,
    /// Highlighted (e.g. the late joiner).
    pub highlight: bool,
}

/// A bar chart, one bar per entry, `y_max` at the top.
pub(crate) fn bar_chart(
    title: &str,
    y_desc: &str,
    bars: &[Bar],
    y_max: f64,
) -> Result<String, String> {
    let n = bars.len().max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5..n - 0.5, 0.0..y_max.max(1e-9) * 1.05)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(bars.len().min(40))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 0.01 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_desc("node")
            .y_desc(y_desc)
            .light_line_style(RGBColor(236, 236, 236))
            .draw()
            .map_err(err)?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, bar)| {
                let x = i as f64;
                let c = if bar.highlight { color(1) } else { color(0) };
                Rectangle::new([(x - 0.38, 0.0), (x + 0.38, bar.value)], c.filled())
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_with_their_series() {
        let series = [Series {
            name: "block".into(),
            points: vec![(1.0, 0.5), (2.0, 1.0)],
            color: 0,
            strong: true,
        }];
        let marker = [Marker {
            x: 1.5,
            label: "synced".into(),
        }];
        let svg = line_chart("CDF", "ms", "fraction", &series, &marker).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("block") && svg.contains("synced") && svg.contains("CDF"));
        let bars = [Bar {
            label: "0".into(),
            value: 100.0,
            highlight: false,
        }];
        let svg = bar_chart("delivery", "%", &bars, 100.0).unwrap();
        assert!(svg.contains("<rect"), "{svg}");
        // No data still draws axes.
        assert!(line_chart("empty", "x", "y", &[], &[]).is_ok());
    }
}
