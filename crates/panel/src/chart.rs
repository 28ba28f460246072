//! Charts drawn on the server as inline SVG: time lines and bars.
//!
//! Plotters was considered: its SVG backend only writes text when it is
//! built with a font stack (`ttf`/`ab_glyph` and a font file to measure
//! with), and without one it drops every label silently. Our charts need
//! axes, labels and nothing else, and SVG text is drawn by the browser, so
//! a few functions that write the markup directly are enough. Every text
//! that goes into the markup is escaped here; the result is then safe to
//! put into a page as is.

use std::fmt::Write as _;

/// A named series of `(x label, value)` points.
#[derive(Debug, Clone)]
pub struct Series {
    /// Shown in the legend.
    pub name: String,
    /// Points in x order.
    pub points: Vec<(String, f64)>,
}

const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 48.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 36.0;
/// Colours of series, in order (the stylesheet's palette).
const COLOURS: [&str; 6] = [
    "#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2",
];

/// Escapes text for SVG/HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A "nice" upper bound of the y axis at or above `max`: four ticks of a
/// whole step of 1, 2 or 5 times a power of ten (the charts count things).
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 4.0;
    }
    let raw = (max / 4.0).max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    step * 4.0
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

fn frame(out: &mut String, title: &str, max: f64, labels: &[&str], empty: &str) {
    let _ = write!(
        out,
        r##"<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"##,
        t = esc(title)
    );
    let plot_h = H - TOP - BOTTOM;
    for i in 0..=4 {
        let v = max * f64::from(i) / 4.0;
        let y = TOP + plot_h - plot_h * f64::from(i) / 4.0;
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{x2}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{tx}" y="{ty:.1}" font-size="10" text-anchor="end" fill="#6b7280">{v}</text>"##,
            x2 = W - RIGHT,
            tx = LEFT - 4.0,
            ty = y + 3.0,
            v = esc(&fmt_num(v))
        );
    }
    if labels.is_empty() {
        let _ = write!(
            out,
            r##"<text x="{x}" y="{y}" font-size="13" text-anchor="middle" fill="#6b7280">{e}</text>"##,
            x = W / 2.0,
            y = H / 2.0,
            e = esc(empty)
        );
        return;
    }
    // At most ~8 x labels, evenly spaced.
    let n = labels.len();
    let every = n.div_ceil(8).max(1);
    for (i, l) in labels.iter().enumerate() {
        if i % every != 0 && i != n - 1 {
            continue;
        }
        let _ = write!(
            out,
            r##"<text x="{x:.1}" y="{y}" font-size="10" text-anchor="middle" fill="#6b7280">{l}</text>"##,
            x = x_of(i, n),
            y = H - BOTTOM + 14.0,
            l = esc(l)
        );
    }
}

fn x_of(i: usize, n: usize) -> f64 {
    let plot_w = W - LEFT - RIGHT;
    if n <= 1 {
        return LEFT + plot_w / 2.0;
    }
    LEFT + plot_w * i as f64 / (n - 1) as f64
}

fn y_of(v: f64, max: f64) -> f64 {
    let plot_h = H - TOP - BOTTOM;
    TOP + plot_h - plot_h * (v / max).clamp(0.0, 1.0)
}

/// A line chart of one or more series sharing the x labels of the first.
/// `empty` is shown when there is no point at all.
pub fn lines(title: &str, series: &[Series], empty: &str) -> String {
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1))
            .fold(0.0, f64::max),
    );
    let labels: Vec<&str> = series
        .first()
        .map(|s| s.points.iter().map(|p| p.0.as_str()).collect())
        .unwrap_or_default();
    let mut out = String::new();
    frame(&mut out, title, max, &labels, empty);
    for (k, s) in series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let n = s.points.len();
        let pts: Vec<String> = s
            .points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x_of(i, n), y_of(p.1, max)))
            .collect();
        if n == 1 {
            let _ = write!(
                out,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{colour}"/>"##,
                x = x_of(0, 1),
                y = y_of(s.points[0].1, max)
            );
        } else if n > 1 {
            let _ = write!(
                out,
                r##"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{}</title></polyline>"##,
                pts.join(" "),
                esc(&s.name)
            );
        }
        let _ = write!(
            out,
            r##"<rect x="{x}" y="{y}" width="10" height="10" fill="{colour}"/><text x="{tx}" y="{ty}" font-size="11" fill="#374151">{name}</text>"##,
            x = LEFT + 4.0 + 130.0 * k as f64,
            y = H - 14.0,
            tx = LEFT + 18.0 + 130.0 * k as f64,
            ty = H - 5.0,
            name = esc(&s.name)
        );
    }
    out.push_str("</svg>");
    out
}

/// A bar chart of `(label, value)`.
pub fn bars(title: &str, items: &[(String, f64)], empty: &str) -> String {
    let max = nice_max(items.iter().map(|i| i.1).fold(0.0, f64::max));
    let labels: Vec<&str> = items.iter().map(|i| i.0.as_str()).collect();
    let mut out = String::new();
    let plot_w = W - LEFT - RIGHT;
    frame(
        &mut out,
        title,
        max,
        &[],
        if items.is_empty() { empty } else { "" },
    );
    let n = items.len().max(1) as f64;
    let slot = plot_w / n;
    let bw = (slot * 0.7).max(1.0);
    let every = labels.len().div_ceil(12).max(1);
    for (i, (label, v)) in items.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bw) / 2.0;
        let y = y_of(*v, max);
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{h:.1}" fill="{c}"><title>{l}: {v}</title></rect>"##,
            h = (H - BOTTOM - y).max(0.0),
            c = COLOURS[0],
            l = esc(label),
            v = esc(&fmt_num(*v))
        );
        if i % every == 0 {
            let _ = write!(
                out,
                r##"<text x="{x:.1}" y="{ty}" font-size="10" text-anchor="middle" fill="#6b7280">{l}</text>"##,
                x = x + bw / 2.0,
                ty = H - BOTTOM + 14.0,
                l = esc(label)
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_points_drawn() {
        let svg = lines(
            "<b>online</b>",
            &[Series {
                name: "a&b".into(),
                points: vec![("<x>".into(), 1.0), ("y".into(), 3.0)],
            }],
            "none",
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("&lt;b&gt;online&lt;/b&gt;"));
        assert!(svg.contains("a&amp;b"));
        assert!(svg.contains("&lt;x&gt;"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains("<polyline"));
        let empty = bars("t", &[], "no data");
        assert!(empty.contains("no data"));
        let b = bars("t", &[("e1".into(), 5.0), ("e2".into(), 7.0)], "");
        assert_eq!(b.matches("<rect").count(), 2);
    }

    #[test]
    fn nice_axis() {
        assert_eq!(nice_max(0.0), 4.0);
        assert_eq!(nice_max(1.0), 4.0);
        assert_eq!(nice_max(7.0), 8.0);
        assert_eq!(nice_max(130.0), 200.0);
        assert_eq!(nice_max(24.0), 40.0);
        assert_eq!(nice_max(4000.0), 4000.0);
    }
}
