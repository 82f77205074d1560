//! The scatter layout: rows of series `x` and `y` paired per (entity, time) into points coloured
//! by entity, or, when the data has no such series, time against value coloured by line.
//!
//! A paired point is as changed as the more changed of its two rows, so editing only the `y`
//! of a country still highlights its dot.

use std::collections::BTreeMap;

use super::compare::Status;
use super::format::time_text;
use super::legend::{legend, line_color_key, line_label, multi_series, Colors, Legend, LegendEntry};
use super::rows::Row;
use super::sample::{sample_keep_emphasised, MAX_POINTS_PER_SERIES};
use super::scale::{extent, value_ticks, Scale, Tick, TimeAxis, PLOT};

/// Points in data units, (x, y, status), grouped by (legend label, colour key).
type Groups = BTreeMap<(String, String), Vec<(f64, f64, Status)>>;

/// One scatter point in data units.
#[derive(Clone, Debug, PartialEq)]
pub struct XyPoint {
    pub entity: String,
    pub time: String,
    pub x: f64,
    pub y: f64,
    pub status: Status,
}

/// Whether the rows carry `x` and `y` series to pair.
pub fn has_xy(rows: &[Row]) -> bool {
    let is = |name: &str| rows.iter().any(|r| r.series.as_deref() == Some(name));
    is("x") && is("y")
}

/// Rows of series `x` and `y` paired per (entity, time), in (entity, time) order; a point is
/// `Added` when either of its rows is new, `Changed` when either differs. `None` without x/y series.
pub fn pair_xy(rows: &[Row], statuses: &[Status]) -> Option<Vec<XyPoint>> {
    if !has_xy(rows) {
        return None;
    }
    type Half = Option<(f64, Status)>;
    let mut pairs: BTreeMap<(String, String), (Half, Half)> = BTreeMap::new();
    for (r, &s) in rows.iter().zip(statuses) {
        let (Some(v), Some(series)) = (r.num, r.series.as_deref()) else { continue };
        if series != "x" && series != "y" {
            continue;
        }
        let e = pairs.entry((r.entity.clone(), time_text(&r.key.time))).or_default();
        if series == "x" {
            e.0 = Some((v, s));
        } else {
            e.1 = Some((v, s));
        }
    }
    Some(
        pairs
            .into_iter()
            .filter_map(|((entity, time), (x, y))| {
                let ((x, sx), (y, sy)) = (x?, y?);
                Some(XyPoint { entity, time, x, y, status: sx.max(sy) })
            })
            .collect(),
    )
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dot {
    pub cx: f64,
    pub cy: f64,
    pub color: usize,
    pub status: Status,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScatterChart {
    /// Unchanged dots first, so changed ones are drawn on top.
    pub dots: Vec<Dot>,
    pub x_ticks: Vec<Tick>,
    pub y_ticks: Vec<Tick>,
    /// Points come from x / y series (else time vs value).
    pub paired: bool,
    pub legend: Legend,
    pub sampled: bool,
}

/// Paired x / y points coloured by entity, or (without x / y series) time vs value coloured by line.
pub fn scatter_chart(rows: &[Row], statuses: &[Status], colors: &Colors) -> Option<ScatterChart> {
    let mut groups: Groups = BTreeMap::new();
    let paired = match pair_xy(rows, statuses) {
        Some(points) => {
            for p in points {
                let label = if p.entity.is_empty() { "(no entity)".to_owned() } else { p.entity.clone() };
                groups.entry((label, p.entity)).or_default().push((p.x, p.y, p.status));
            }
            true
        }
        None => {
            let plotted: Vec<(&Row, Status)> =
                rows.iter().zip(statuses.iter().copied()).filter(|(r, _)| r.num.is_some()).collect();
            let axis = TimeAxis::new(plotted.iter().map(|(r, _)| &r.key.time));
            let multi = multi_series(rows);
            for (r, s) in plotted {
                if let (Some(x), Some(y)) = (axis.pos(&r.key.time), r.num) {
                    let key = (line_label(&r.series, &r.entity, multi), line_color_key(&r.series, &r.entity));
                    groups.entry(key).or_default().push((x, y, s));
                }
            }
            let (x0, x1) = extent(groups.values().flatten().map(|p| p.0))?;
            let (y0, y1) = extent(groups.values().flatten().map(|p| p.1))?;
            let xs = axis.scale(x0, x1, PLOT.left, PLOT.right);
            let ys = Scale::new(y0, y1, PLOT.bottom, PLOT.top);
            return Some(scatter_layout(groups, colors, xs, ys, axis.ticks(&xs), false));
        }
    };
    let (x0, x1) = extent(groups.values().flatten().map(|p| p.0))?;
    let (y0, y1) = extent(groups.values().flatten().map(|p| p.1))?;
    let xs = Scale::new(x0, x1, PLOT.left, PLOT.right);
    let ys = Scale::new(y0, y1, PLOT.bottom, PLOT.top);
    Some(scatter_layout(groups, colors, xs, ys, value_ticks(&xs), paired))
}

fn scatter_layout(
    groups: Groups,
    colors: &Colors,
    xs: Scale,
    ys: Scale,
    x_ticks: Vec<Tick>,
    paired: bool,
) -> ScatterChart {
    let mut sampled = false;
    let mut entries = Vec::new();
    let mut dots = Vec::new();
    for ((label, color_key), pts) in groups {
        let color = colors.index(&color_key);
        let changed = pts.iter().any(|p| p.2.emphasised());
        entries.push(LegendEntry { label, color, changed });
        let total = pts.len();
        let pts = sample_keep_emphasised(pts, MAX_POINTS_PER_SERIES, |p| p.2.emphasised());
        sampled |= pts.len() < total;
        dots.extend(pts.into_iter().map(|(x, y, status)| Dot { cx: xs.map(x), cy: ys.map(y), color, status }));
    }
    dots.sort_by_key(|d| d.status.emphasised()); // stable
    ScatterChart { dots, x_ticks, y_ticks: value_ticks(&ys), paired, legend: legend(entries, 0), sampled }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::chart_svg::testing::rows;
    use serde_json::json;

    #[test]
    fn pairs_scatter_x_and_y_series() {
        let r = rows(json!([
            {"entity": "A", "time": 2000, "series": "x", "value": 1},
            {"entity": "A", "time": 2000, "series": "y", "value": 10},
            {"entity": "B", "time": 2000, "series": "y", "value": 20},
            {"entity": "B", "time": 2000, "series": "x", "value": 2},
            {"entity": "C", "time": 2000, "series": "x", "value": 3},
            {"entity": "D", "time": 2000, "series": "x", "value": "n/a"},
            {"entity": "D", "time": 2000, "series": "y", "value": 4},
        ]));
        let mut statuses = vec![Status::Same; r.len()];
        statuses[2] = Status::Changed;
        let pts = pair_xy(&r, &statuses).unwrap();
        assert_eq!(
            pts,
            vec![
                XyPoint { entity: "A".into(), time: "2000".into(), x: 1.0, y: 10.0, status: Status::Same },
                XyPoint { entity: "B".into(), time: "2000".into(), x: 2.0, y: 20.0, status: Status::Changed },
            ]
        );
        let chart = scatter_chart(&r, &statuses, &Colors::new(["A".into(), "B".into()])).unwrap();
        assert!(chart.paired);
        assert_eq!(chart.dots.len(), 2);
        assert_eq!(chart.dots[1].status, Status::Changed);
        assert_eq!((chart.dots[1].cx, chart.dots[1].cy), (PLOT.right, PLOT.top));
    }

    #[test]
    fn scatter_without_xy_falls_back_to_time_vs_value() {
        let r = rows(json!([
            {"entity": "A", "time": 2000, "value": 1},
            {"entity": "A", "time": 2001, "value": 2, "series": "x"},
        ]));
        assert!(pair_xy(&r, &[Status::Same; 2]).is_none());
        let chart = scatter_chart(&r, &[Status::Same; 2], &Colors::default()).unwrap();
        assert!(!chart.paired);
        assert_eq!(chart.dots.len(), 2);
        assert_eq!(chart.x_ticks.first().map(|t| t.label.as_str()), Some("2000"));
    }
}
