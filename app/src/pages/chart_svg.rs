//! Charts drawn as plain SVG on the server and hydrated by the same component: no JavaScript
//! library, nothing random, so the browser's hydration matches the server's HTML exactly.
//!
//! [`model::build`] turns a version (and the other side) into a [`model::ChartModel`] with plain,
//! unit-tested functions, one module per concern:
//!
//! - [`rows`]: the data rows and their key (the shared [`crate::rows`] key);
//! - [`compare`]: which rows are added or changed relative to the other side;
//! - [`scale`], [`format`](mod@format), [`sample`], [`legend`]: scales and ticks, number and
//!   time text, thinning long series, colours and legends;
//! - [`line`](mod@line), [`bar`], [`scatter`], [`table`]: the four layouts, used by [`model`] alone.
//!
//! This file only turns a [`model::ChartModel`] into a view. All chart content reaches the page as
//! text or attribute values, which Leptos escapes: never as raw HTML.

pub mod bar;
pub mod compare;
pub mod format;
pub mod legend;
pub mod line;
pub mod model;
pub mod rows;
pub mod sample;
pub mod scale;
pub mod scatter;
pub mod table;
#[cfg(test)]
mod testing;

use leptos::prelude::*;

use crate::types::ChartVersion;
use bar::BarChart;
use compare::Status;
use format::coord;
use legend::{Legend, PALETTE, PALETTE_DARK};
use line::LineChart;
use model::{Body, ChartModel};
use scale::{Tick, BAR_PLOT, PLOT, VIEW_BOX};
use scatter::ScatterChart;
use table::TableModel;

/// One side of a chart comparison, with the points that differ from `other` emphasised.
#[component]
pub fn ChartSvg(
    /// The version to draw; None draws an "absent on this side" placeholder box.
    version: Option<ChartVersion>,
    /// The other side of the comparison; what differs from it is highlighted.
    other: Option<ChartVersion>,
    /// Caption, e.g. "Production" / "Staging" / "Baseline".
    #[prop(into)]
    label: String,
    /// Replaces the change summary under the chart (the baseline, compared with nothing, says
    /// what it is instead).
    #[prop(optional, into)]
    summary_text: Option<String>,
) -> impl IntoView {
    let Some(version) = version else {
        return absent(&label).into_any();
    };
    let m = model::build(&version, other.as_ref());
    let kind = m.kind.as_str();
    let aria = aria_label(&label, &m);
    let ChartModel { title, subtitle, summary, body, notes, .. } = m;
    let body = match body {
        Body::Empty(message) => empty_svg(aria, message).into_any(),
        Body::Line(c) => line_view(aria, c).into_any(),
        Body::Bar(c) => bar_view(aria, c).into_any(),
        Body::Scatter(c) => scatter_view(aria, c).into_any(),
        Body::Table(t) => table_view(aria, t).into_any(),
    };
    let summary_class = if summary.any() { "chart-summary has-changes" } else { "chart-summary" };
    view! {
        <figure class=format!("chart chart-{kind}") data-testid="chart-svg" data-chart-type=kind data-side=label.clone()>
            <figcaption>
                <span class="chart-side">{label.clone()}</span>
                {title.map(|t| view! { <span class="chart-title">{t}</span> })}
                {subtitle.map(|s| view! { <span class="chart-subtitle">{s}</span> })}
            </figcaption>
            {body}
            {notes.into_iter().map(|n| view! { <p class="chart-note">{n}</p> }).collect_view()}
            <p
                class=summary_class
                data-testid="chart-change-summary"
                data-changed=summary.changed.to_string()
                data-added=summary.added.to_string()
                data-removed=summary.removed.to_string()
                title="Data points compared by (series, entity, time) with the other side"
            >
                {summary_text.unwrap_or_else(|| summary.text())}
            </p>
        </figure>
    }
    .into_any()
}

/// What a screen reader announces for the chart.
fn aria_label(label: &str, m: &ChartModel) -> String {
    let kind = m.kind.as_str();
    match &m.title {
        Some(t) => format!("{label}: {t} ({kind} chart)"),
        None => format!("{label}: untitled {kind} chart"),
    }
}

fn absent(label: &str) -> impl IntoView {
    let (side, aria, empty) =
        (label.to_string(), format!("{label}: the chart is absent on this side"), format!("No chart in {label}."));
    let label = label.to_string();
    view! {
        <figure class="chart chart-absent" data-testid="chart-svg" data-chart-type="none" data-side=side>
            <figcaption>
                <span class="chart-side">{label.to_string()}</span>
                <span class="chart-title">"absent"</span>
            </figcaption>
            <svg
                class="chart-svg"
                viewBox=VIEW_BOX
                width="100%"
                role="img"
                aria-label=aria
            >
                <rect class="absent-box" x="8" y="8" width="624" height="344" rx="8" />
                <text class="absent-text" x="320" y="184" text-anchor="middle">
                    "Absent on this side"
                </text>
            </svg>
            <p class="chart-summary" data-testid="chart-change-summary" data-changed="0" data-added="0" data-removed="0">
                {empty}
            </p>
        </figure>
    }
}

fn empty_svg(aria: String, message: String) -> impl IntoView {
    view! {
        <svg class="chart-svg" viewBox=VIEW_BOX width="100%" role="img" aria-label=aria>
            <rect class="empty-box" x="8" y="8" width="624" height="344" rx="8" />
            <text class="empty-text" x="320" y="184" text-anchor="middle">
                {message}
            </text>
        </svg>
    }
}

/// `class="..."` of a mark: its own class plus `changed` / `added` when emphasised.
fn mark_class(base: &str, status: Status) -> String {
    if status.emphasised() {
        format!("{base} {}", status.class())
    } else {
        base.to_owned()
    }
}

fn changed_attr(status: Status) -> Option<&'static str> {
    status.emphasised().then_some("true")
}

fn change_attr(status: Status) -> Option<&'static str> {
    status.emphasised().then_some(status.as_str())
}

/// A point: palette fill; emphasised points are larger with a dark ring.
fn dot(cx: f64, cy: f64, color: usize, status: Status, base: &'static str) -> impl IntoView {
    let emphasised = status.emphasised();
    view! {
        <circle
            class=mark_class(base, status)
            cx=coord(cx)
            cy=coord(cy)
            r=if emphasised { "5" } else { "2.5" }
            fill=if emphasised { PALETTE_DARK[color] } else { PALETTE[color] }
            stroke=if emphasised { "#111827" } else { "none" }
            stroke-width=if emphasised { "2" } else { "0" }
            data-changed=changed_attr(status)
            data-change=change_attr(status)
        />
    }
}

/// Axes and min / mid / max ticks of the [`PLOT`] area.
fn axes(x_ticks: Vec<Tick>, y_ticks: Vec<Tick>) -> impl IntoView {
    let (l, r, t, b) = (coord(PLOT.left), coord(PLOT.right), coord(PLOT.top), coord(PLOT.bottom));
    view! {
        <g class="axis" aria-hidden="true">
            {y_ticks
                .into_iter()
                .map(|tk| {
                    let y = coord(tk.pos);
                    view! {
                        <line class="grid" x1=l.clone() x2=r.clone() y1=y.clone() y2=y.clone() />
                        <text class="tick-label" x=coord(PLOT.left - 6.0) y=coord(tk.pos + 4.0) text-anchor="end">
                            {tk.label}
                        </text>
                    }
                })
                .collect_view()}
            {x_ticks
                .into_iter()
                .map(|tk| {
                    let x = coord(tk.pos);
                    view! {
                        <line class="tick" x1=x.clone() x2=x.clone() y1=b.clone() y2=coord(PLOT.bottom + 4.0) />
                        <text class="tick-label" x=x y=coord(PLOT.bottom + 18.0) text-anchor="middle">
                            {tk.label}
                        </text>
                    }
                })
                .collect_view()}
            <line class="axis-line" x1=l.clone() x2=l.clone() y1=t y2=b.clone() />
            <line class="axis-line" x1=l x2=r y1=b.clone() y2=b />
        </g>
    }
}

fn legend_view(legend: Legend) -> impl IntoView {
    let more = (legend.more > 0).then(|| view! { <li class="legend-more">{format!("+{} more", legend.more)}</li> });
    view! {
        <ul class="chart-legend">
            {legend
                .entries
                .into_iter()
                .map(|e| {
                    view! {
                        <li
                            class=if e.changed { "legend-entry series-changed" } else { "legend-entry" }
                            data-changed=e.changed.then_some("true")
                        >
                            <span class="swatch" style=format!("background:{}", PALETTE[e.color])></span>
                            {e.label}
                        </li>
                    }
                })
                .collect_view()}
            {more}
        </ul>
    }
}

fn line_view(aria: String, c: LineChart) -> impl IntoView {
    let LineChart { lines, x_ticks, y_ticks, legend, .. } = c;
    view! {
        <svg class="chart-svg" viewBox=VIEW_BOX width="100%" role="img" aria-label=aria>
            {axes(x_ticks, y_ticks)}
            <g class="marks">
                {lines
                    .into_iter()
                    .map(|l| {
                        let color = l.color;
                        view! {
                            <g
                                class=if l.changed { "line series-changed" } else { "line" }
                                data-series=l.label
                                data-changed=l.changed.then_some("true")
                            >
                                <polyline
                                    points=l.points
                                    fill="none"
                                    stroke=if l.changed { PALETTE_DARK[color] } else { PALETTE[color] }
                                    stroke-width=if l.changed { "2.5" } else { "1.5" }
                                    stroke-linejoin="round"
                                />
                                {l
                                    .markers
                                    .into_iter()
                                    .map(|m| dot(m.cx, m.cy, color, m.status, "point"))
                                    .collect_view()}
                            </g>
                        }
                    })
                    .collect_view()}
            </g>
        </svg>
        {legend_view(legend)}
    }
}

fn bar_view(aria: String, c: BarChart) -> impl IntoView {
    let BarChart { bars, x_ticks, zero_x, .. } = c;
    let (top, bottom) = (coord(BAR_PLOT.top), coord(BAR_PLOT.bottom));
    view! {
        <svg class="chart-svg" viewBox=VIEW_BOX width="100%" role="img" aria-label=aria>
            <g class="axis" aria-hidden="true">
                {x_ticks
                    .into_iter()
                    .map(|tk| {
                        let x = coord(tk.pos);
                        view! {
                            <line class="grid" x1=x.clone() x2=x.clone() y1=top.clone() y2=bottom.clone() />
                            <text
                                class="tick-label"
                                x=x
                                y=coord(BAR_PLOT.bottom + 18.0)
                                text-anchor="middle"
                            >
                                {tk.label}
                            </text>
                        }
                    })
                    .collect_view()}
                <line class="axis-line" x1=coord(zero_x) x2=coord(zero_x) y1=top.clone() y2=bottom.clone() />
            </g>
            <g class="marks">
                {bars
                    .into_iter()
                    .map(|b| {
                        let emphasised = b.status.emphasised();
                        view! {
                            <g
                                class=mark_class("bar", b.status)
                                data-changed=changed_attr(b.status)
                                data-change=change_attr(b.status)
                                data-time=b.time
                            >
                                <text
                                    class="bar-label"
                                    x=coord(BAR_PLOT.left - 6.0)
                                    y=coord(b.text_y)
                                    text-anchor="end"
                                >
                                    {b.label}
                                </text>
                                <rect
                                    x=coord(b.x)
                                    y=coord(b.y)
                                    width=coord(b.width)
                                    height=coord(b.height)
                                    fill=if emphasised { PALETTE_DARK[b.color] } else { PALETTE[b.color] }
                                    stroke=if emphasised { "#111827" } else { "none" }
                                    stroke-width=if emphasised { "2" } else { "0" }
                                />
                                <text class="bar-value" x=coord(b.value_x) y=coord(b.text_y)>
                                    {b.value_label}
                                </text>
                            </g>
                        }
                    })
                    .collect_view()}
            </g>
        </svg>
    }
}

fn scatter_view(aria: String, c: ScatterChart) -> impl IntoView {
    let ScatterChart { dots, x_ticks, y_ticks, paired, legend, .. } = c;
    let (x_name, y_name) = if paired { ("x", "y") } else { ("time", "value") };
    view! {
        <svg
            class="chart-svg"
            viewBox=VIEW_BOX
            width="100%"
            role="img"
            aria-label=aria
            data-axes=format!("{x_name} vs {y_name}")
        >
            {axes(x_ticks, y_ticks)}
            <g class="marks">
                {dots.into_iter().map(|d| dot(d.cx, d.cy, d.color, d.status, "point")).collect_view()}
            </g>
        </svg>
        {legend_view(legend)}
    }
}

fn table_view(aria: String, t: TableModel) -> impl IntoView {
    let more = (t.more > 0).then(|| {
        view! { <p class="chart-note table-more">{format!("{} more {}", t.more, if t.more == 1 { "row" } else { "rows" })}</p> }
    });
    view! {
        <div class="chart-table-wrap" tabindex="0">
            <table class="chart-table" aria-label=aria>
                <thead>
                    <tr>
                        <th>"Entity"</th>
                        <th>"Time"</th>
                        <th class="num">"Value"</th>
                        <th>"Series"</th>
                    </tr>
                </thead>
                <tbody>
                    {t
                        .rows
                        .into_iter()
                        .map(|r| {
                            view! {
                                <tr
                                    class=mark_class("row", r.status)
                                    data-changed=changed_attr(r.status)
                                    data-change=change_attr(r.status)
                                >
                                    <td>{r.entity}</td>
                                    <td>{r.time}</td>
                                    <td class="num">{r.value}</td>
                                    <td>{r.series}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
        {more}
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::testing::version;
    use super::*;
    use serde_json::{json, Value};

    fn render(version: Option<ChartVersion>, other: Option<ChartVersion>, label: &'static str) -> String {
        let owner = Owner::new();
        owner.with(|| view! { <ChartSvg version other label /> }.to_html())
    }

    const EVIL: &str = "<script>alert(1)</script>";

    #[test]
    fn title_and_data_are_escaped_text() {
        let v = version(
            json!({"type": "line", "title": EVIL, "subtitle": "<b>bold</b>"}),
            json!({"rows": [{"entity": EVIL, "time": 2000, "value": 1}, {"entity": EVIL, "time": 2001, "value": 2}]}),
        );
        let html = render(Some(v.clone()), None, "Staging");
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        // Also as a table (cells) and a bar chart (SVG text).
        for t in ["table", "bar", "scatter"] {
            let mut v = v.clone();
            v.config["type"] = json!(t);
            let html = render(Some(v), None, "Staging");
            assert!(!html.contains("<script>"), "{t}: {html}");
        }
    }

    #[test]
    fn renders_figure_with_highlights() {
        let old = version(
            json!({"type": "line", "title": "GDP"}),
            json!({"rows": [
                {"entity": "France", "time": 2000, "value": 1.5},
                {"entity": "France", "time": 2001, "value": 1.6},
                {"entity": "Spain", "time": 2000, "value": 2},
            ]}),
        );
        let mut new = old.clone();
        new.data = json!({"rows": [
            {"entity": "France", "time": 2000, "value": 1.5},
            {"entity": "France", "time": 2001, "value": 1.9},
            {"entity": "Spain", "time": 2000, "value": 2},
            {"entity": "Spain", "time": 2001, "value": 2.5},
        ]});
        let html = render(Some(new), Some(old), "Staging");
        assert!(html.contains(r#"data-testid="chart-svg""#), "{html}");
        assert!(html.contains(r#"data-chart-type="line""#), "{html}");
        assert!(html.contains(r#"data-side="Staging""#), "{html}");
        assert!(html.contains(r#"viewBox="0 0 640 360""#), "{html}");
        assert!(html.contains(r#"role="img""#), "{html}");
        assert!(html.contains("<figcaption>"), "{html}");
        assert!(html.contains("series-changed"), "{html}");
        assert_eq!(html.matches(r#"class="point changed"#).count(), 2, "{html}");
        assert!(html.contains(r#"data-changed="true""#), "{html}");
        assert!(html.contains("1 point changed, 1 added"), "{html}");
        assert!(html.contains(r#"data-testid="chart-change-summary""#), "{html}");
    }

    #[test]
    fn renders_absent_and_unknown_types() {
        let html = render(None, None, "Production");
        assert!(html.contains(r#"data-chart-type="none""#) && html.contains("Absent on this side"), "{html}");
        let v = version(json!({"type": "sankey"}), json!({"rows": [{"entity": "A", "time": 1, "value": 1}]}));
        let html = render(Some(v), None, "Staging");
        assert!(html.contains(r#"data-chart-type="table""#) && html.contains("<table"), "{html}");
        assert!(html.contains("Nothing to compare with"), "{html}");
    }

    #[test]
    fn rendering_is_deterministic() {
        let rows: Vec<Value> = (0..300)
            .map(|i| json!({"entity": format!("E{}", i % 13), "time": 1900 + i / 13, "value": (i * 7919) % 101}))
            .collect();
        let v = version(json!({"type": "line"}), json!({ "rows": rows }));
        let mut o = v.clone();
        o.data["rows"][5]["value"] = json!(-3);
        assert_eq!(render(Some(v.clone()), Some(o.clone()), "A"), render(Some(v), Some(o), "A"));
    }
}
