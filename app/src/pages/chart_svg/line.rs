//! The line chart layout: one polyline per (series, entity), x = time, y = value, with a dot on
//! every changed point (and on every point of short lines).
//!
//! Changed lines are kept first when there are too many to draw and are drawn last, on top, so a
//! reviewer sees what moved even in a chart with hundreds of lines.

use std::collections::BTreeMap;

use super::compare::Status;
use super::format::coord;
use super::legend::{legend, line_color_key, line_label, multi_series, Colors, Legend, LegendEntry};
use super::rows::{LineKey, Row};
use super::sample::{sample_indices, MAX_POINTS_PER_SERIES};
use super::scale::{extent, value_ticks, Scale, Tick, TimeAxis, PLOT};

/// Lines drawn at most; lines with changes are kept first.
pub const MAX_LINES: usize = 100;
/// Lines with at most this many points get a dot on every point, not only on the changed ones.
pub const DOTS_UP_TO: usize = 40;

#[derive(Clone, Debug, PartialEq)]
pub struct Marker {
    pub cx: f64,
    pub cy: f64,
    pub status: Status,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LineGeom {
    pub label: String,
    pub color: usize,
    /// The polyline's `points` attribute.
    pub points: String,
    /// Points in the polyline (after sampling) and in the data.
    pub drawn: usize,
    pub total: usize,
    pub markers: Vec<Marker>,
    /// Some point of this line is added or changed.
    pub changed: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LineChart {
    /// Unchanged lines first, so changed ones are drawn on top.
    pub lines: Vec<LineGeom>,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    pub legend: Legend,
    /// Lines not drawn (over [`MAX_LINES`]).
    pub hidden_lines: usize,
    /// Some line was thinned to [`MAX_POINTS_PER_SERIES`].
    pub sampled: bool,
}

/// A point in data units: (x, y, status).
type Pt = (f64, f64, Status);

/// One polyline per (series, entity), x = time, y = value; `None` when nothing is numeric.
pub fn line_chart(rows: &[Row], statuses: &[Status], colors: &Colors) -> Option<LineChart> {
    let plotted: Vec<(&Row, Status)> =
        rows.iter().zip(statuses.iter().copied()).filter(|(r, _)| r.num.is_some()).collect();
    let axis = TimeAxis::new(plotted.iter().map(|(r, _)| &r.key.time));
    let multi = multi_series(rows);
    let mut groups: BTreeMap<LineKey, Vec<Pt>> = BTreeMap::new();
    for (r, s) in plotted {
        if let (Some(x), Some(y)) = (axis.pos(&r.key.time), r.num) {
            groups.entry(r.line_key()).or_default().push((x, y, s));
        }
    }
    if groups.is_empty() {
        return None;
    }
    let mut groups: Vec<(LineKey, Vec<Pt>, bool)> = groups
        .into_iter()
        .map(|(k, pts)| {
            let changed = pts.iter().any(|p| p.2.emphasised());
            (k, pts, changed)
        })
        .collect();
    let hidden_lines = groups.len().saturating_sub(MAX_LINES);
    if hidden_lines > 0 {
        groups.sort_by_key(|g| !g.2); // stable: changed lines first, each part still sorted by key
        groups.truncate(MAX_LINES);
        groups.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let (x0, x1) = extent(groups.iter().flat_map(|g| g.1.iter().map(|p| p.0)))?;
    let (y0, y1) = extent(groups.iter().flat_map(|g| g.1.iter().map(|p| p.1)))?;
    let xs = axis.scale(x0, x1, PLOT.left, PLOT.right);
    let ys = Scale::new(y0, y1, PLOT.bottom, PLOT.top);

    let mut sampled = false;
    let mut lines: Vec<LineGeom> = groups
        .into_iter()
        .map(|((series, entity), mut pts, changed)| {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let total = pts.len();
            let idx = sample_indices(total, MAX_POINTS_PER_SERIES);
            sampled |= idx.len() < total;
            let points = idx
                .iter()
                .map(|&i| format!("{},{}", coord(xs.map(pts[i].0)), coord(ys.map(pts[i].1))))
                .collect::<Vec<_>>()
                .join(" ");
            let marked: Vec<&Pt> = if total <= DOTS_UP_TO {
                pts.iter().collect()
            } else {
                pts.iter().filter(|p| p.2.emphasised()).collect()
            };
            let markers = sample_indices(marked.len(), MAX_POINTS_PER_SERIES)
                .into_iter()
                .map(|i| Marker { cx: xs.map(marked[i].0), cy: ys.map(marked[i].1), status: marked[i].2 })
                .collect();
            LineGeom {
                label: line_label(&series, &entity, multi),
                color: colors.index(&line_color_key(&series, &entity)),
                points,
                drawn: idx.len(),
                total,
                markers,
                changed,
            }
        })
        .collect();
    let legend_entries =
        lines.iter().map(|l| LegendEntry { label: l.label.clone(), color: l.color, changed: l.changed }).collect();
    lines.sort_by_key(|l| l.changed); // stable
    Some(LineChart {
        lines,
        x_ticks: axis.ticks(&xs),
        y_ticks: value_ticks(&ys),
        legend: legend(legend_entries, hidden_lines),
        hidden_lines,
        sampled,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::chart_svg::compare::compare;
    use crate::pages::chart_svg::legend::MAX_LEGEND;
    use crate::pages::chart_svg::testing::rows;
    use serde_json::{json, Value};

    #[test]
    fn changed_points_mark_their_line() {
        let old = rows(json!([
            {"entity": "A", "time": 2000, "value": 1}, {"entity": "A", "time": 2001, "value": 2},
            {"entity": "B", "time": 2000, "value": 1}, {"entity": "B", "time": 2001, "value": 2},
        ]));
        let mut new = old.clone();
        new[3].value = json!(5);
        new[3].num = Some(5.0);
        let c = compare(&new, Some(&old));
        let colors = Colors::new(new.iter().map(|r| line_color_key(&r.series, &r.entity)));
        let chart = line_chart(&new, &c.statuses, &colors).unwrap();
        assert_eq!(chart.lines.len(), 2);
        // Changed lines are drawn last (on top).
        assert_eq!((chart.lines[0].label.as_str(), chart.lines[0].changed), ("A", false));
        assert_eq!((chart.lines[1].label.as_str(), chart.lines[1].changed), ("B", true));
        let emphasised: Vec<_> = chart.lines[1].markers.iter().filter(|m| m.status.emphasised()).collect();
        assert_eq!(emphasised.len(), 1);
        assert_eq!((emphasised[0].cx, emphasised[0].cy), (PLOT.right, PLOT.top));
        assert_eq!(chart.legend.entries.iter().map(|e| e.label.as_str()).collect::<Vec<_>>(), ["A", "B"]);
    }

    #[test]
    fn long_lines_are_sampled_keeping_the_changed_marker() {
        let n = 5_000;
        let big = rows(Value::Array((0..n).map(|i| json!({"entity": "A", "time": i, "value": i % 7})).collect()));
        let mut statuses = vec![Status::Same; n];
        statuses[1234] = Status::Changed;
        let chart = line_chart(&big, &statuses, &Colors::default()).unwrap();
        let line = &chart.lines[0];
        assert!(chart.sampled);
        assert_eq!((line.drawn, line.total), (MAX_POINTS_PER_SERIES, n));
        assert_eq!(line.points.split(' ').count(), MAX_POINTS_PER_SERIES);
        // Only the changed point gets a marker on a long line.
        assert_eq!(line.markers.len(), 1);
    }

    #[test]
    fn colours_agree_across_sides() {
        let a = rows(json!([{"entity": "B", "time": 1, "value": 1}]));
        let b = rows(json!([{"entity": "A", "time": 1, "value": 1}, {"entity": "B", "time": 1, "value": 1}]));
        let colors = Colors::new(a.iter().chain(&b).map(|r| line_color_key(&r.series, &r.entity)));
        let ca = line_chart(&a, &[Status::Same], &colors).unwrap();
        let cb = line_chart(&b, &[Status::Same; 2], &colors).unwrap();
        assert_eq!(ca.lines[0].color, cb.lines[1].color);
        assert_ne!(cb.lines[0].color, cb.lines[1].color);
    }

    #[test]
    fn legend_is_capped() {
        let r =
            rows(Value::Array((0..12).map(|i| json!({"entity": format!("E{i:02}"), "time": 1, "value": i})).collect()));
        let c = line_chart(&r, &[Status::Same; 12], &Colors::default()).unwrap();
        assert_eq!((c.legend.entries.len(), c.legend.more), (MAX_LEGEND, 4));
    }
}
