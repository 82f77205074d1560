//! The plain functions behind [`super::ChartSvg`]: reading the chart data contract (DESIGN §3),
//! comparing two versions row by row, and laying charts out in SVG user units.
//!
//! No Leptos in here, so every step is unit-tested. Everything is deterministic (ordered maps for
//! anything that is iterated, fixed float formatting) so the server's HTML and the browser's
//! hydration always agree.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde_json::Value;

use crate::types::ChartVersion;

/// The SVG coordinate system every chart is drawn in (scaled to 100% width by CSS).
pub const VIEW_BOX: &str = "0 0 640 360";
pub const WIDTH: f64 = 640.0;
pub const HEIGHT: f64 = 360.0;
/// Drawn points per series (line, or entity in a scatter); longer series are sampled evenly.
pub const MAX_POINTS_PER_SERIES: usize = 500;
/// Lines drawn at most; lines with changes are kept first.
pub const MAX_LINES: usize = 100;
pub const MAX_LEGEND: usize = 8;
pub const MAX_BARS: usize = 15;
pub const MAX_TABLE_ROWS: usize = 50;
/// Lines with at most this many points get a dot on every point, not only on the changed ones.
pub const DOTS_UP_TO: usize = 40;

/// Fill / stroke colours, and the darker variant used for emphasised (changed) marks.
pub const PALETTE: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
pub const PALETTE_DARK: [&str; 10] =
    ["#2c4a6e", "#a85a0c", "#9c2224", "#3f7c77", "#33692b", "#9a7e0f", "#74466a", "#c2404f", "#5e4536", "#6f6561"];

/// Where line and scatter charts draw their marks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

pub const PLOT: Rect = Rect { left: 64.0, top: 14.0, right: 624.0, bottom: 322.0 };
/// Bar charts: labels right-aligned at `left - 6`, room for value labels after `right`.
pub const BAR_PLOT: Rect = Rect { left: 156.0, top: 10.0, right: 560.0, bottom: 322.0 };

// ---------------------------------------------------------------------------------------------
// The chart's kind and texts

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChartKind {
    Line,
    Bar,
    Scatter,
    Table,
}

impl ChartKind {
    /// `config.type`; unknown or missing types render as a table (DESIGN §3).
    pub fn from_config(config: &Value) -> ChartKind {
        match config.get("type").and_then(Value::as_str).map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            Some("line") => ChartKind::Line,
            Some("bar") => ChartKind::Bar,
            Some("scatter") => ChartKind::Scatter,
            _ => ChartKind::Table,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ChartKind::Line => "line",
            ChartKind::Bar => "bar",
            ChartKind::Scatter => "scatter",
            ChartKind::Table => "table",
        }
    }
}

/// A non-blank string field of the config (`title`, `subtitle`); anything else is ignored.
pub fn text_field(config: &Value, key: &str) -> Option<String> {
    config.get(key).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
}

// ---------------------------------------------------------------------------------------------
// Rows and their keys

#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub series: Option<String>,
    pub entity: String,
    pub time: Value,
    pub value: Value,
    /// `value` as a finite number, if it is one (numeric strings count).
    pub num: Option<f64>,
}

/// A row's identity: (`series`, `entity`, `time`), with the time normalised (`2000`, `2000.0`
/// and `"2000"` are the same year).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub series: Option<String>,
    pub entity: String,
    pub time: String,
}

impl Row {
    pub fn key(&self) -> Key {
        Key { series: self.series.clone(), entity: self.entity.clone(), time: time_key(&self.time) }
    }
}

/// A finite number, from a JSON number or a numeric string.
pub fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

fn num_key(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

pub fn time_key(t: &Value) -> String {
    match as_number(t) {
        Some(f) => num_key(f),
        None => display(t),
    }
}

/// A JSON value as a table cell shows it.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

fn opt_string(v: Option<&Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => Some(v.to_string()),
    }
}

/// `data.rows` (or `data` itself when it is an array); anything that is not an object is skipped.
pub fn parse_rows(data: &Value) -> Vec<Row> {
    let rows = match data {
        Value::Array(a) => a,
        _ => match data.get("rows").and_then(Value::as_array) {
            Some(a) => a,
            None => return Vec::new(),
        },
    };
    rows.iter()
        .filter_map(|r| {
            let o = r.as_object()?;
            let value = o.get("value").cloned().unwrap_or(Value::Null);
            Some(Row {
                series: opt_string(o.get("series")),
                entity: opt_string(o.get("entity")).unwrap_or_default(),
                time: o.get("time").cloned().unwrap_or(Value::Null),
                num: as_number(&value),
                value,
            })
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Comparison with the other side

/// How a row differs from the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Same,
    Changed,
    Added,
}

impl Status {
    pub fn emphasised(self) -> bool {
        self != Status::Same
    }

    /// The CSS classes of a mark with this status.
    pub fn class(self) -> &'static str {
        match self {
            Status::Same => "",
            Status::Changed => "changed",
            Status::Added => "changed added",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Same => "same",
            Status::Changed => "changed",
            Status::Added => "added",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeSummary {
    /// There was another side to compare with.
    pub compared: bool,
    /// Rows whose value differs from the other side's row with the same key.
    pub changed: usize,
    /// Rows whose key the other side does not have.
    pub added: usize,
    /// Keys the other side has and this side does not.
    pub removed: usize,
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl ChangeSummary {
    pub fn any(&self) -> bool {
        self.changed + self.added + self.removed > 0
    }

    pub fn text(&self) -> String {
        if !self.compared {
            return "Nothing to compare with: the chart exists on one side only.".into();
        }
        if !self.any() {
            return "No data points differ.".into();
        }
        let mut s = format!("{} changed, {} added", plural(self.changed, "point", "points"), self.added);
        if self.removed > 0 {
            s.push_str(&format!(", {} removed", self.removed));
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// One status per row of this side, in order.
    pub statuses: Vec<Status>,
    pub summary: ChangeSummary,
}

fn same_value(a: &Row, b: &Row) -> bool {
    match (a.num, b.num) {
        (Some(x), Some(y)) => x == y,
        _ => a.value == b.value,
    }
}

/// Which rows of `rows` are added or changed relative to `other` (by key); with no other side
/// nothing is highlighted. Hash lookups only, never iterated: O(n).
pub fn compare(rows: &[Row], other: Option<&[Row]>) -> Comparison {
    let Some(other) = other else {
        return Comparison { statuses: vec![Status::Same; rows.len()], summary: ChangeSummary::default() };
    };
    let mut theirs: HashMap<Key, &Row> = HashMap::with_capacity(other.len());
    for r in other {
        theirs.entry(r.key()).or_insert(r);
    }
    let mut summary = ChangeSummary { compared: true, ..ChangeSummary::default() };
    let mut ours: HashSet<Key> = HashSet::with_capacity(rows.len());
    let statuses = rows
        .iter()
        .map(|r| {
            let key = r.key();
            let status = match theirs.get(&key) {
                None => {
                    summary.added += 1;
                    Status::Added
                }
                Some(t) if !same_value(r, t) => {
                    summary.changed += 1;
                    Status::Changed
                }
                Some(_) => Status::Same,
            };
            ours.insert(key);
            status
        })
        .collect();
    summary.removed = theirs.keys().filter(|k| !ours.contains(*k)).count();
    Comparison { statuses, summary }
}

// ---------------------------------------------------------------------------------------------
// Scales, ticks, numbers

/// A linear map from a data domain to a screen range, safe with equal or non-finite bounds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub r0: f64,
    pub r1: f64,
}

impl Scale {
    /// Equal bounds are widened by 10% of the value (or by 1 around zero) so nothing divides by 0.
    pub fn new(min: f64, max: f64, r0: f64, r1: f64) -> Scale {
        let (mut d0, mut d1) =
            if min.is_finite() && max.is_finite() { (min.min(max), min.max(max)) } else { (0.0, 1.0) };
        if d0 == d1 {
            let pad = if d0 == 0.0 { 1.0 } else { d0.abs() * 0.1 };
            d0 -= pad;
            d1 += pad;
        }
        Scale { d0, d1, r0, r1 }
    }

    pub fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span == 0.0 || !span.is_finite() || !v.is_finite() {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / span * (self.r1 - self.r0)
    }

    /// Min, mid, max of the domain.
    pub fn ticks(&self) -> [f64; 3] {
        [self.d0, self.d0 + (self.d1 - self.d0) / 2.0, self.d1]
    }
}

/// Min and max of the finite values, if any.
pub fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A compact value label: `1.5`, `12.3k`, `4.56M`, `0.00123`.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e12 {
        (v / 1e12, "T")
    } else if a >= 1e9 {
        (v / 1e9, "B")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let sa = scaled.abs();
    let decimals = if sa >= 100.0 {
        0
    } else if sa >= 10.0 {
        1
    } else if sa >= 1.0 {
        2
    } else {
        ((-sa.log10().floor()) as usize + 2).min(12)
    };
    let s = trim_zeros(format!("{scaled:.decimals$}"));
    let s = if s == "-0" { "0".to_owned() } else { s };
    format!("{s}{suffix}")
}

/// A time label: whole numbers (years) in full, others like values.
pub fn fmt_time(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        num_key(v)
    } else {
        fmt_value(v)
    }
}

/// A coordinate as written into SVG attributes.
pub fn coord(v: f64) -> String {
    let s = trim_zeros(format!("{v:.1}"));
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    /// Screen coordinate along the axis.
    pub pos: f64,
    pub label: String,
}

/// Min / mid / max value ticks.
pub fn value_ticks(scale: &Scale) -> Vec<Tick> {
    scale.ticks().iter().map(|&v| Tick { pos: scale.map(v), label: fmt_value(v) }).collect()
}

/// How times become x positions: numbers (years) as they are, otherwise the rank of the time
/// among the chart's sorted distinct times.
#[derive(Clone, Debug, PartialEq)]
pub enum TimeAxis {
    Numeric,
    Ordinal(Vec<String>),
}

impl TimeAxis {
    pub fn new<'a>(times: impl IntoIterator<Item = &'a Value>) -> TimeAxis {
        let mut keys = BTreeSet::new();
        let mut numeric = true;
        for t in times {
            if as_number(t).is_none() {
                numeric = false;
            }
            keys.insert(time_key(t));
        }
        if numeric {
            TimeAxis::Numeric
        } else {
            TimeAxis::Ordinal(keys.into_iter().collect())
        }
    }

    pub fn pos(&self, t: &Value) -> Option<f64> {
        match self {
            TimeAxis::Numeric => as_number(t),
            TimeAxis::Ordinal(keys) => keys.binary_search(&time_key(t)).ok().map(|i| i as f64),
        }
    }

    pub fn label(&self, pos: f64) -> String {
        match self {
            TimeAxis::Numeric => fmt_time(pos),
            TimeAxis::Ordinal(keys) => {
                let i = pos.round();
                if (pos - i).abs() > 1e-9 || i < 0.0 {
                    return String::new();
                }
                keys.get(i as usize).cloned().unwrap_or_default()
            }
        }
    }

    /// A scale over `min..=max`; a single time is widened by one step (not by 10%, which would
    /// turn the year 2000 into 1800..2200).
    pub fn scale(&self, min: f64, max: f64, r0: f64, r1: f64) -> Scale {
        if min == max && min.is_finite() {
            Scale::new(min - 1.0, max + 1.0, r0, r1)
        } else {
            Scale::new(min, max, r0, r1)
        }
    }

    /// Min / mid / max time ticks, the mid rounded to a whole step when the ends are whole.
    pub fn ticks(&self, scale: &Scale) -> Vec<Tick> {
        let [lo, mid, hi] = scale.ticks();
        let mid = if lo.fract() == 0.0 && hi.fract() == 0.0 { mid.round() } else { mid };
        let mut out: Vec<Tick> = Vec::new();
        for v in [lo, mid, hi] {
            let label = self.label(v);
            if label.is_empty() || out.iter().any(|t| t.label == label) {
                continue;
            }
            out.push(Tick { pos: scale.map(v), label });
        }
        out
    }
}

/// `cap` indices spread evenly over `0..n` (all of them when `n <= cap`), first and last included.
pub fn sample_indices(n: usize, cap: usize) -> Vec<usize> {
    if n <= cap {
        return (0..n).collect();
    }
    match cap {
        0 => Vec::new(),
        1 => vec![0],
        _ => {
            let (n1, c1) = ((n - 1) as u64, (cap - 1) as u64);
            (0..cap as u64).map(|i| (i * n1 / c1) as usize).collect()
        }
    }
}

/// At most `cap` of `items`, emphasised ones first (themselves sampled if too many), the rest
/// filled with an even sample of the others; original order kept.
pub fn sample_keep_emphasised<T>(items: Vec<T>, cap: usize, emphasised: impl Fn(&T) -> bool) -> Vec<T> {
    if items.len() <= cap {
        return items;
    }
    let (emph, plain): (Vec<usize>, Vec<usize>) = (0..items.len()).partition(|&i| emphasised(&items[i]));
    let mut keep: Vec<usize> = sample_indices(emph.len(), cap).into_iter().map(|i| emph[i]).collect();
    let room = cap - keep.len();
    keep.extend(sample_indices(plain.len(), room).into_iter().map(|i| plain[i]));
    keep.sort_unstable();
    let mut keep = keep.into_iter().peekable();
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| {
            if keep.peek() == Some(&i) {
                keep.next();
                Some(item)
            } else {
                None
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Colours and legends

/// Palette slots by sorted key over both sides, so an entity has the same colour on each side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Colors(BTreeMap<String, usize>);

impl Colors {
    pub fn new(keys: impl IntoIterator<Item = String>) -> Colors {
        let set: BTreeSet<String> = keys.into_iter().collect();
        Colors(set.into_iter().enumerate().map(|(i, k)| (k, i)).collect())
    }

    pub fn index(&self, key: &str) -> usize {
        self.0.get(key).copied().unwrap_or(0) % PALETTE.len()
    }
}

pub fn line_color_key(series: &Option<String>, entity: &str) -> String {
    format!("{}\u{1f}{entity}", series.as_deref().unwrap_or(""))
}

fn line_label(series: &Option<String>, entity: &str, multi_series: bool) -> String {
    let entity = if entity.is_empty() { "(no entity)" } else { entity };
    match series {
        Some(s) if multi_series => format!("{entity} · {s}"),
        _ => entity.to_owned(),
    }
}

fn multi_series(rows: &[Row]) -> bool {
    let mut first: Option<&Option<String>> = None;
    rows.iter().any(|r| match first {
        None => {
            first = Some(&r.series);
            false
        }
        Some(f) => *f != r.series,
    })
}

#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    pub label: String,
    pub color: usize,
    pub changed: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Legend {
    pub entries: Vec<LegendEntry>,
    /// Entries left out ("+N more").
    pub more: usize,
}

fn legend(mut entries: Vec<LegendEntry>, hidden: usize) -> Legend {
    let more = entries.len().saturating_sub(MAX_LEGEND) + hidden;
    entries.truncate(MAX_LEGEND);
    Legend { entries, more }
}

// ---------------------------------------------------------------------------------------------
// Line charts

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

type LineKey = (Option<String>, String);
/// A point in data units: (x, y, status).
type Pt = (f64, f64, Status);
/// Scatter groups by (legend label, colour key).
type Groups = BTreeMap<(String, String), Vec<Pt>>;

/// One polyline per (series, entity), x = time, y = value; `None` when nothing is numeric.
pub fn line_chart(rows: &[Row], statuses: &[Status], colors: &Colors) -> Option<LineChart> {
    let plotted: Vec<(&Row, Status)> =
        rows.iter().zip(statuses.iter().copied()).filter(|(r, _)| r.num.is_some()).collect();
    let axis = TimeAxis::new(plotted.iter().map(|(r, _)| &r.time));
    let multi = multi_series(rows);
    let mut groups: BTreeMap<LineKey, Vec<Pt>> = BTreeMap::new();
    for (r, s) in plotted {
        if let (Some(x), Some(y)) = (axis.pos(&r.time), r.num) {
            groups.entry((r.series.clone(), r.entity.clone())).or_default().push((x, y, s));
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

// ---------------------------------------------------------------------------------------------
// Bar charts

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
    let axis = TimeAxis::new(numeric.iter().map(|(r, _)| &r.time));
    let multi = multi_series(rows);
    let mut latest: BTreeMap<LineKey, (f64, &Row, Status)> = BTreeMap::new();
    for (r, s) in numeric {
        let t = axis.pos(&r.time).unwrap_or(f64::NEG_INFINITY);
        let e = latest.entry((r.series.clone(), r.entity.clone())).or_insert((t, r, s));
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
                time: time_key(&row.time),
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

// ---------------------------------------------------------------------------------------------
// Scatter charts

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
        let e = pairs.entry((r.entity.clone(), time_key(&r.time))).or_default();
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
    // (group label, colour key) -> points in data units
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
            let axis = TimeAxis::new(plotted.iter().map(|(r, _)| &r.time));
            let multi = multi_series(rows);
            for (r, s) in plotted {
                if let (Some(x), Some(y)) = (axis.pos(&r.time), r.num) {
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

// ---------------------------------------------------------------------------------------------
// Tables

#[derive(Clone, Debug, PartialEq)]
pub struct TableRow {
    pub entity: String,
    pub time: String,
    pub value: String,
    pub series: String,
    pub status: Status,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TableModel {
    pub rows: Vec<TableRow>,
    /// Rows not shown (over [`MAX_TABLE_ROWS`]).
    pub more: usize,
}

pub fn table(rows: &[Row], statuses: &[Status]) -> TableModel {
    let shown = rows
        .iter()
        .zip(statuses)
        .take(MAX_TABLE_ROWS)
        .map(|(r, &status)| TableRow {
            entity: r.entity.clone(),
            time: display(&r.time),
            value: display(&r.value),
            series: r.series.clone().unwrap_or_default(),
            status,
        })
        .collect();
    TableModel { rows: shown, more: rows.len().saturating_sub(MAX_TABLE_ROWS) }
}

// ---------------------------------------------------------------------------------------------
// The whole chart

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

pub fn build(version: &ChartVersion, other: Option<&ChartVersion>) -> ChartModel {
    let kind = ChartKind::from_config(&version.config);
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
        title: text_field(&version.config, "title"),
        subtitle: text_field(&version.config, "subtitle"),
        summary,
        body,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rows(v: Value) -> Vec<Row> {
        parse_rows(&json!({ "rows": v }))
    }

    fn version(config: Value, data: Value) -> ChartVersion {
        ChartVersion { hash: "h".into(), slug: "s".into(), config, data, metadata: json!({}) }
    }

    #[test]
    fn scale_with_equal_values_does_not_divide_by_zero() {
        let s = Scale::new(5.0, 5.0, 0.0, 100.0);
        assert!(s.d0 < 5.0 && s.d1 > 5.0);
        assert_eq!(s.map(5.0), 50.0);
        assert_eq!(value_ticks(&s).iter().map(|t| t.label.as_str()).collect::<Vec<_>>(), ["4.5", "5", "5.5"]);
        let z = Scale::new(0.0, 0.0, 10.0, 20.0);
        assert_eq!(z.ticks(), [-1.0, 0.0, 1.0]);
        assert_eq!(z.map(0.0), 15.0);
        let bad = Scale::new(f64::NAN, 3.0, 0.0, 10.0);
        assert!(bad.map(0.5).is_finite());
        // Inverted range (SVG y grows downwards).
        let y = Scale::new(0.0, 10.0, 300.0, 0.0);
        assert_eq!(y.map(10.0), 0.0);
        assert_eq!(y.map(0.0), 300.0);
    }

    #[test]
    fn single_time_is_widened_by_one_step() {
        let axis = TimeAxis::Numeric;
        let s = axis.scale(2000.0, 2000.0, 0.0, 100.0);
        let labels: Vec<String> = axis.ticks(&s).into_iter().map(|t| t.label).collect();
        assert_eq!(labels, ["1999", "2000", "2001"]);
        let s = axis.scale(2000.0, 2005.0, 0.0, 100.0);
        assert_eq!(axis.ticks(&s).into_iter().map(|t| t.label).collect::<Vec<_>>(), ["2000", "2003", "2005"]);
    }

    #[test]
    fn ordinal_times_rank_strings() {
        let r = rows(json!([
            {"entity": "A", "time": "2020-02", "value": 1},
            {"entity": "A", "time": "2020-01", "value": 2},
        ]));
        let axis = TimeAxis::new(r.iter().map(|r| &r.time));
        assert_eq!(axis, TimeAxis::Ordinal(vec!["2020-01".into(), "2020-02".into()]));
        assert_eq!(axis.pos(&json!("2020-02")), Some(1.0));
        let s = axis.scale(0.0, 1.0, 0.0, 10.0);
        assert_eq!(axis.ticks(&s).into_iter().map(|t| t.label).collect::<Vec<_>>(), ["2020-01", "2020-02"]);
    }

    #[test]
    fn formats_numbers_compactly() {
        assert_eq!(fmt_value(1.5), "1.5");
        assert_eq!(fmt_value(12_345.0), "12.3k");
        assert_eq!(fmt_value(-4_560_000.0), "-4.56M");
        assert_eq!(fmt_value(0.001234), "0.00123");
        assert_eq!(fmt_value(0.0), "0");
        assert_eq!(fmt_time(2000.0), "2000");
        assert_eq!(coord(-0.04), "0");
        assert_eq!(coord(12.25), "12.2");
    }

    #[test]
    fn detects_changed_and_added_rows_by_key() {
        let old = rows(json!([
            {"entity": "France", "time": 2000, "value": 1.5, "series": "gdp"},
            {"entity": "France", "time": 2001, "value": 1.6, "series": "gdp"},
            {"entity": "Spain", "time": 2000, "value": 3, "series": "gdp"},
            {"entity": "Italy", "time": 2000, "value": 9, "series": "gdp"},
        ]));
        // Reordered, with 2000.0 / "2000" spelled differently, one value changed, one added, one removed.
        let new = rows(json!([
            {"entity": "Spain", "time": "2000", "value": 3.0, "series": "gdp"},
            {"entity": "France", "time": 2001, "value": 1.7, "series": "gdp"},
            {"entity": "France", "time": 2000.0, "value": "1.5", "series": "gdp"},
            {"entity": "France", "time": 2002, "value": 1.8, "series": "gdp"},
            {"entity": "France", "time": 2002, "value": 1.8},
        ]));
        let c = compare(&new, Some(&old));
        assert_eq!(c.statuses, [Status::Same, Status::Changed, Status::Same, Status::Added, Status::Added]);
        assert_eq!(c.summary, ChangeSummary { compared: true, changed: 1, added: 2, removed: 1 });
        assert_eq!(c.summary.text(), "1 point changed, 2 added, 1 removed");

        let none = compare(&new, None);
        assert!(none.statuses.iter().all(|s| *s == Status::Same));
        assert!(!none.summary.compared && !none.summary.any());
        assert_eq!(compare(&old, Some(&old)).summary.text(), "No data points differ.");
    }

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
    fn table_is_capped_with_a_count_of_the_rest() {
        let r: Vec<Row> = rows(Value::Array((0..120).map(|i| json!({"entity": "A", "time": i, "value": i})).collect()));
        let t = table(&r, &vec![Status::Same; r.len()]);
        assert_eq!((t.rows.len(), t.more), (MAX_TABLE_ROWS, 70));
    }

    #[test]
    fn caps_points_per_series_by_even_sampling() {
        let idx = sample_indices(10_000, MAX_POINTS_PER_SERIES);
        assert_eq!(idx.len(), MAX_POINTS_PER_SERIES);
        assert_eq!((idx[0], *idx.last().unwrap()), (0, 9_999));
        assert!(idx.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(sample_indices(3, 500), [0, 1, 2]);
        assert_eq!(sample_indices(5, 1), [0]);

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

        let kept = sample_keep_emphasised((0..n).collect::<Vec<_>>(), 500, |&i| i == 1234);
        assert_eq!(kept.len(), 500);
        assert!(kept.contains(&1234));
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
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
