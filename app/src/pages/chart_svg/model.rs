//! One chart version, compared with the other side, as everything the view draws: its kind and
//! texts, the change summary, the laid-out body and the notes under it.
//!
//! [`build`] is the only place that knows every layout: it reads the chart data contract
//! (DESIGN §3) through [`super::rows`], compares through [`super::compare`], and picks the layout
//! the config asks for. No Leptos here or below, so every step is unit-tested; everything is
//! deterministic (ordered maps for anything iterated, fixed float formatting) so the server's HTML
//! and the browser's hydration always agree.

use serde_json::Value;

use super::bar::{bar_chart, BarChart};
use super::compare::{compare, ChangeSummary, Comparison};
use super::format::plural;
use super::legend::{line_color_key, Colors};
use super::line::{line_chart, LineChart};
use super::rows::parse_rows;
use super::sample::MAX_POINTS_PER_SERIES;
use super::scatter::{has_xy, scatter_chart, ScatterChart};
use super::table::{table, TableModel};
use crate::types::ChartVersion;

/// `config.type`, the layout a chart asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase", ascii_case_insensitive)]
pub enum ChartKind {
    Line,
    Bar,
    Scatter,
    Table,
}

impl ChartKind {
    /// `config.type`; unknown or missing types render as a table (DESIGN §3).
    pub fn from_config(config: &Value) -> ChartKind {
        Self::named(config.get("type").and_then(Value::as_str))
    }

    /// The kind a version is drawn as: the type its store's render keys read from a foreign config
    /// (design §13), else its own `config.type`.
    pub fn of(version: &ChartVersion) -> ChartKind {
        match version.draw_as.as_deref() {
            Some(name) => Self::named(Some(name)),
            None => Self::from_config(&version.config),
        }
    }

    fn named(name: Option<&str>) -> ChartKind {
        name.and_then(|s| s.trim().parse().ok()).unwrap_or(ChartKind::Table)
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// A non-blank string field of the config (`title`, `subtitle`); anything else is ignored.
pub fn text_field(config: &Value, key: &str) -> Option<String> {
    config.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// Nothing drawable; the message says why.
    Empty(String),
    Line(LineChart),
    Bar(BarChart),
    Scatter(ScatterChart),
    Table(TableModel),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ChartModel {
    pub kind: ChartKind,
    pub title: Option<String>,
    pub subtitle: Option<String>,
    pub summary: ChangeSummary,
    pub body: Body,
    /// Remarks under the chart: skipped rows, sampling, caps.
    pub notes: Vec<String>,
}

impl ChartModel {
    /// What a reader reads the marks' places against: the kind, then every tick label (and a bar
    /// chart's bar labels, in drawing order). Each side is scaled to its own data, so two models
    /// put equal values at equal places only when their frames are equal (to the labels'
    /// precision); the overlay and swipe views say so when they are not. None when nothing is
    /// drawn on axes (tables, empty charts).
    pub fn frame(&self) -> Option<(ChartKind, Vec<&str>)> {
        let (ticks, bars): (Vec<&super::scale::Tick>, &[super::bar::BarGeom]) = match &self.body {
            Body::Line(c) => (c.x_ticks.iter().chain(&c.y_ticks).collect(), &[]),
            Body::Scatter(c) => (c.x_ticks.iter().chain(&c.y_ticks).collect(), &[]),
            Body::Bar(c) => (c.x_ticks.iter().collect(), &c.bars),
            Body::Table(_) | Body::Empty(_) => return None,
        };
        let labels = ticks.into_iter().map(|t| t.label.as_str()).chain(bars.iter().map(|b| b.label.as_str())).collect();
        Some((self.kind, labels))
    }
}

pub fn build(version: &ChartVersion, other: Option<&ChartVersion>) -> ChartModel {
    let kind = ChartKind::of(version);
    let rows = parse_rows(&version.data);
    let other_rows = other.map(|o| parse_rows(&o.data));
    let Comparison { statuses, summary } = compare(&rows, other_rows.as_deref());
    let both = || rows.iter().chain(other_rows.iter().flatten());
    let line_colors = || Colors::new(both().map(|r| line_color_key(&r.series, &r.entity)));

    let mut notes = Vec::new();
    let skipped = rows.iter().filter(|r| r.num.is_none()).count();
    if kind != ChartKind::Table && skipped > 0 {
        notes.push(format!("{} with a non-numeric value not drawn.", plural(skipped, "row", "rows")));
    }
    let empty =
        || Body::Empty(if rows.is_empty() { "No data rows.".into() } else { "No numeric values to draw.".into() });
    let body = match kind {
        ChartKind::Line => line_chart(&rows, &statuses, &line_colors()).map_or_else(empty, |c| {
            if c.sampled {
                notes.push(format!("Long lines thinned to {MAX_POINTS_PER_SERIES} points each for drawing."));
            }
            if c.hidden_lines > 0 {
                notes.push(format!("{} not drawn.", plural(c.hidden_lines, "more line", "more lines")));
            }
            Body::Line(c)
        }),
        ChartKind::Bar => bar_chart(&rows, &statuses, &line_colors()).map_or_else(empty, |c| {
            notes.push("Latest value per entity.".into());
            if c.more > 0 {
                notes.push(format!("{} not shown.", plural(c.more, "more bar", "more bars")));
            }
            Body::Bar(c)
        }),
        ChartKind::Scatter => {
            let colors = if has_xy(&rows) { Colors::new(both().map(|r| r.entity.clone())) } else { line_colors() };
            scatter_chart(&rows, &statuses, &colors).map_or_else(empty, |c| {
                if c.sampled {
                    notes.push(format!("Large groups thinned to {MAX_POINTS_PER_SERIES} points each for drawing."));
                }
                Body::Scatter(c)
            })
        }
        ChartKind::Table if rows.is_empty() => empty(),
        ChartKind::Table => Body::Table(table(&rows, &statuses)),
    };
    ChartModel {
        kind,
        title: version.draw_title.clone().or_else(|| text_field(&version.config, "title")),
        subtitle: text_field(&version.config, "subtitle"),
        summary,
        body,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::chart_svg::scale::PLOT;
    use crate::pages::chart_svg::testing::version;
    use serde_json::json;

    #[test]
    fn a_store_s_render_keys_decide_the_kind_and_title() {
        let rows = json!({"rows": [{"entity": "A", "time": 1, "value": 1}, {"entity": "A", "time": 2, "value": 2}]});
        let mut foreign = version(json!({"chartTypes": ["LineChart"], "title": "own"}), rows);
        assert_eq!(build(&foreign, None).kind, ChartKind::Table, "without keys a foreign config is a table");
        foreign.draw_as = Some("line".into());
        foreign.draw_title = Some("Read through the title pointer".into());
        let m = build(&foreign, None);
        assert_eq!(m.kind, ChartKind::Line);
        assert_eq!(m.title.as_deref(), Some("Read through the title pointer"));
        foreign.draw_as = Some("sankey".into());
        assert_eq!(build(&foreign, None).kind, ChartKind::Table, "what the renderer cannot draw is a table");
    }

    #[test]
    fn unknown_or_missing_type_is_a_table() {
        assert_eq!(ChartKind::from_config(&json!({"type": "pie"})), ChartKind::Table);
        assert_eq!(ChartKind::from_config(&json!({})), ChartKind::Table);
        assert_eq!(ChartKind::from_config(&json!({"type": 3})), ChartKind::Table);
        assert_eq!(ChartKind::from_config(&json!({"type": " Line "})), ChartKind::Line);
        let m =
            build(&version(json!({"type": "pie"}), json!({"rows": [{"entity": "A", "time": 1, "value": "x"}]})), None);
        assert_eq!(m.kind, ChartKind::Table);
        assert!(matches!(m.body, Body::Table(ref t) if t.rows.len() == 1 && t.rows[0].value == "x"));
    }

    #[test]
    fn bad_data_is_skipped_not_fatal() {
        for data in [json!(null), json!({}), json!({"rows": "nope"}), json!({"rows": [1, null, "x"]})] {
            let m = build(&version(json!({"type": "line"}), data), None);
            assert_eq!(m.body, Body::Empty("No data rows.".into()));
        }
        let m = build(
            &version(
                json!({"type": "line"}),
                json!({"rows": [{"entity": "A", "time": 2000, "value": "n/a"}, {"entity": "A", "time": 2001, "value": 4}]}),
            ),
            None,
        );
        let Body::Line(c) = &m.body else { panic!("{:?}", m.body) };
        assert_eq!(c.lines[0].total, 1);
        // A single point: one dot, in the middle of both (widened) domains.
        assert_eq!(c.lines[0].markers.len(), 1);
        assert_eq!(c.lines[0].markers[0].cx, (PLOT.left + PLOT.right) / 2.0);
        assert_eq!(m.notes, ["1 row with a non-numeric value not drawn."]);
    }

    #[test]
    fn kinds_are_named_as_in_the_config() {
        for kind in [ChartKind::Line, ChartKind::Bar, ChartKind::Scatter, ChartKind::Table] {
            assert_eq!(ChartKind::from_config(&json!({ "type": kind.as_str().to_uppercase() })), kind);
        }
        assert_eq!(ChartKind::Scatter.as_str(), "scatter");
    }

    #[test]
    fn frames_match_only_when_the_axes_read_the_same() {
        let line = |values: [f64; 2]| {
            let rows: Vec<_> =
                values.iter().enumerate().map(|(i, v)| json!({"entity": "A", "time": 2000 + i, "value": v})).collect();
            build(&version(json!({"type": "line"}), json!({ "rows": rows })), None)
        };
        assert!(line([1.0, 2.0]).frame().is_some());
        assert_eq!(line([1.0, 2.0]).frame(), line([2.0, 1.0]).frame(), "same extent, same axes");
        assert_ne!(line([1.0, 2.0]).frame(), line([1.0, 9.0]).frame(), "a new maximum moves the y axis");
        let table =
            build(&version(json!({"type": "table"}), json!({"rows": [{"entity": "A", "time": 1, "value": 1}]})), None);
        assert_eq!(table.frame(), None);
    }
}
