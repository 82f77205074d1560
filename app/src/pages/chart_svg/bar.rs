//! The bar chart layout: the latest value of each (series, entity) as a horizontal bar, largest
//! first, at most [`MAX_BARS`] of them, on a value axis that always includes zero.

use std::collections::BTreeMap;

use super::compare::Status;
use super::format::{fmt_value, time_text};
use super::legend::{line_color_key, line_label, multi_series, Colors};
use super::rows::{LineKey, Row};
use super::scale::{extent, value_ticks, Scale, Tick, TimeAxis, BAR_PLOT};

pub const MAX_BARS: usize = 15;

#[derive(Clone, Debug, PartialEq)]
pub struct BarGeom {
    pub label: String,
    pub value_label: String,
    /// The time the bar shows (the latest of its entity).
    pub time: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// Baseline of the label and value texts.
    pub text_y: f64,
    pub value_x: f64,
    pub color: usize,
    pub status: Status,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BarChart {
    pub bars: Vec<BarGeom>,
    pub x_ticks: Vec<Tick>,
    pub zero_x: f64,
    /// Bars not drawn (over [`MAX_BARS`]).
    pub more: usize,
}

/// `s` cut to `max` characters, the last one an ellipsis when anything was cut.
fn truncate_label(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// The latest time per (series, entity) as horizontal bars, largest first, at most [`MAX_BARS`].
pub fn bar_chart(rows: &[Row], statuses: &[Status], colors: &Colors) -> Option<BarChart> {
    let numeric: Vec<(&Row, Status)> =
        rows.iter().zip(statuses.iter().copied()).filter(|(r, _)| r.num.is_some()).collect();
    let axis = TimeAxis::new(numeric.iter().map(|(r, _)| &r.key.time));
    let multi = multi_series(rows);
    let mut latest: BTreeMap<LineKey, (f64, &Row, Status)> = BTreeMap::new();
    for (r, s) in numeric {
        let t = axis.pos(&r.key.time).unwrap_or(f64::NEG_INFINITY);
        let e = latest.entry(r.line_key()).or_insert((t, r, s));
        if t >= e.0 {
            *e = (t, r, s);
        }
    }
    let mut picked: Vec<(LineKey, f64, &Row, Status)> =
        latest.into_iter().map(|(k, (_, r, s))| (k, r.num.unwrap_or(0.0), r, s)).collect();
    if picked.is_empty() {
        return None;
    }
    // Largest first; ties by key (the sort is stable and the map was ordered).
    picked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let more = picked.len().saturating_sub(MAX_BARS);
    picked.truncate(MAX_BARS);

    let (lo, hi) = extent(picked.iter().map(|p| p.1))?;
    let xs = Scale::new(lo.min(0.0), hi.max(0.0), BAR_PLOT.left, BAR_PLOT.right);
    let zero_x = xs.map(0.0);
    let band = ((BAR_PLOT.bottom - BAR_PLOT.top) / picked.len() as f64).min(36.0);
    let height = band * 0.72;
    let bars = picked
        .into_iter()
        .enumerate()
        .map(|(i, ((series, entity), v, row, status))| {
            let end = xs.map(v);
            let y = BAR_PLOT.top + i as f64 * band + (band - height) / 2.0;
            BarGeom {
                label: truncate_label(&line_label(&series, &entity, multi), 24),
                value_label: fmt_value(v),
                time: time_text(&row.key.time),
                x: zero_x.min(end),
                y,
                width: (end - zero_x).abs().max(0.5),
                height,
                text_y: y + height / 2.0 + 4.0,
                value_x: zero_x.max(end) + 4.0,
                color: colors.index(&line_color_key(&series, &entity)),
                status,
            }
        })
        .collect();
    Some(BarChart { bars, x_ticks: value_ticks(&xs), zero_x, more })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::chart_svg::testing::rows;
    use serde_json::{json, Value};

    #[test]
    fn bars_show_latest_value_sorted_and_capped() {
        let mut v: Vec<Value> =
            (0..20).map(|i| json!({"entity": format!("E{i:02}"), "time": 2000, "value": i})).collect();
        v.push(json!({"entity": "E00", "time": 2010, "value": 100}));
        let r = rows(Value::Array(v));
        let c = bar_chart(&r, &vec![Status::Same; r.len()], &Colors::default()).unwrap();
        assert_eq!(c.bars.len(), MAX_BARS);
        assert_eq!(c.more, 5);
        assert_eq!((c.bars[0].label.as_str(), c.bars[0].value_label.as_str()), ("E00", "100"));
        assert_eq!(c.bars[1].label, "E19");
        assert!(c.bars.iter().all(|b| b.width > 0.0 && b.x >= BAR_PLOT.left - 1e-9));
        // All-equal (zero) values: no NaN.
        let z = rows(json!([{"entity": "A", "time": 1, "value": 0}, {"entity": "B", "time": 1, "value": 0}]));
        let c = bar_chart(&z, &[Status::Same; 2], &Colors::default()).unwrap();
        assert!(c.bars.iter().all(|b| b.x.is_finite() && b.width.is_finite()));
    }
}
