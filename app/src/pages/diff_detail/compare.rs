//! The chart page's compare views (design §11): production and staging side by side, stacked,
//! overlaid (staging drawn over production in one frame) or swiped (a divider the reviewer drags
//! reveals staging over production).
//!
//! The view lives in the URL (`?layout=side|stacked|overlay|swipe`), so every view is a plain link
//! that works without JavaScript and can be shared; once hydrated, the same links and the `v` key
//! switch in place (the history entry is replaced, so Back still leaves the chart).
//!
//! Overlay and swipe put both figures in one grid cell, so they share a box, and cut the caption
//! to one line so both plots start at the same height: the SVGs share a viewBox and a width, so
//! their plot areas coincide. Each side is still scaled to its own data, so the frame says when
//! the two axes differ ([`ChartModel::frame`]). Table charts have no plot to lay over another and
//! stay side by side in every view. A conflict's baseline is drawn under the frame: the overlay
//! and the swipe compare production with staging.
//!
//! The swipe works without JavaScript: staging sits in a box with `overflow: hidden` and
//! `resize: horizontal`, drawn at the frame's full width (`100cqw`), so dragging the box's corner
//! moves the divider. Once hydrated, a range input under the frame moves it instead (by keyboard
//! too), and the resize handle goes away (style/main.css keys both on `body[data-hydrated]`).

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

use crate::pages::chart_svg::model::{self, ChartKind};
use crate::pages::chart_svg::ChartSvg;
use crate::types::ChartVersion;

/// How the two sides of a chart are laid out on its page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    #[default]
    Side,
    Stacked,
    Overlay,
    Swipe,
}

impl Layout {
    /// In the control's order, which is also the order `v` cycles through.
    pub const ALL: [Layout; 4] = [Layout::Side, Layout::Stacked, Layout::Overlay, Layout::Swipe];

    /// The view `?layout=` names; a missing or unknown value is side by side.
    pub fn from_query(value: Option<&str>) -> Layout {
        let value = value.map(str::trim).unwrap_or_default();
        Layout::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(value)).unwrap_or_default()
    }

    /// The value of `?layout=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Side => "side",
            Layout::Stacked => "stacked",
            Layout::Overlay => "overlay",
            Layout::Swipe => "swipe",
        }
    }

    /// The control's visible label.
    pub fn label(self) -> &'static str {
        match self {
            Layout::Side => "side by side",
            Layout::Stacked => "stacked",
            Layout::Overlay => "overlay",
            Layout::Swipe => "swipe",
        }
    }

    /// The view after this one (the `v` key), back to the first after the last.
    pub fn next(self) -> Layout {
        let at = Layout::ALL.iter().position(|l| *l == self).unwrap_or_default();
        Layout::ALL[(at + 1) % Layout::ALL.len()]
    }

    /// The chart page at `chart_url` in this view.
    pub fn href(self, chart_url: &str) -> String {
        format!("{chart_url}?layout={}", self.as_str())
    }

    /// `chart_url` keeping this view (previous / next chart): side by side, the default, adds
    /// nothing, so plain links stay plain.
    pub fn keep(self, chart_url: &str) -> String {
        if self == Layout::Side {
            chart_url.to_string()
        } else {
            self.href(chart_url)
        }
    }
}

/// Switches the view in place (browser only): replaces the history entry and keeps the scroll.
pub fn switch_view(navigate: &impl Fn(&str, NavigateOptions), href: &str) {
    navigate(href, NavigateOptions { replace: true, scroll: false, ..Default::default() });
}

/// The segmented control choosing the view: one link per view, the current one marked.
#[component]
pub fn LayoutSwitch(layout: Memo<Layout>, chart_url: String) -> impl IntoView {
    let navigate = use_navigate();
    let links = Layout::ALL.map(|view| {
        let href = view.href(&chart_url);
        let navigate = navigate.clone();
        view! {
            <a
                href=href.clone()
                class="layout-option"
                data-testid=format!("layout-{}", view.as_str())
                aria-current=move || (layout.get() == view).then_some("true")
                on:click=move |ev| {
                    ev.prevent_default();
                    switch_view(&navigate, &href);
                }
            >
                {view.label()}
            </a>
        }
    });
    view! {
        <nav class="layout-switch" aria-label="Compare view" data-testid="layout-switch">
            {links.into_iter().collect_view()}
            <kbd title="v cycles the views">"v"</kbd>
        </nav>
    }
}

/// Can this side be laid over another? Absent sides (a placeholder box) can; tables cannot.
fn has_plot(version: &Option<ChartVersion>) -> bool {
    version.as_ref().is_none_or(|v| ChartKind::of(v) != ChartKind::Table)
}

/// Whether production and staging are drawn on axes that read the same (see the module doc).
fn same_axes(production: &ChartVersion, staging: &ChartVersion) -> bool {
    let (p, s) = (model::build(production, Some(staging)), model::build(staging, Some(production)));
    p.frame().is_some() && p.frame() == s.frame()
}

/// The charts of the page in `layout`: `[data-testid=charts]`, holding the figures, or for
/// overlay and swipe the frame holding production and staging.
#[component]
pub fn ComparedCharts(
    layout: Memo<Layout>,
    baseline: Option<ChartVersion>,
    production: Option<ChartVersion>,
    staging: Option<ChartVersion>,
    /// Draw the baseline too (a conflict).
    conflict: bool,
    /// Production's caption: "Production", or the branch's other target.
    target_label: String,
) -> impl IntoView {
    // The swipe divider's place, in percent of the frame; kept while the reviewer switches views.
    let revealed = RwSignal::new(50u8);
    // The overlay's staging layer opacity, in percent; kept likewise.
    let opacity = RwSignal::new(100u8);
    let framed = has_plot(&production) && has_plot(&staging);
    move || {
        let layout = layout.get();
        let base = conflict.then(|| {
            view! {
                <ChartSvg
                    version=baseline.clone()
                    other=None
                    label="Baseline"
                    summary_text="The content the branch forked from: production and staging have each changed it since."
                />
            }
        });
        let production_svg = view! {
            <ChartSvg version=production.clone() other=staging.clone() label=target_label.clone() />
        };
        let staging_svg = view! {
            <ChartSvg version=staging.clone() other=production.clone().or(baseline.clone()) label="Staging" />
        };
        if !(framed && matches!(layout, Layout::Overlay | Layout::Swipe)) {
            let class = if layout == Layout::Stacked { "charts stacked" } else { "charts side-by-side" };
            let no_frame = matches!(layout, Layout::Overlay | Layout::Swipe).then(|| {
                view! {
                    <p class="muted" data-testid="no-frame">
                        "A table cannot be laid over another: both sides are shown side by side."
                    </p>
                }
            });
            return view! {
                {no_frame}
                <div class=class data-testid="charts" data-layout=layout.as_str()>
                    {base}
                    {production_svg}
                    {staging_svg}
                </div>
            }
            .into_any();
        }
        let frame = if layout == Layout::Overlay {
            overlay(production_svg, staging_svg, &target_label, opacity).into_any()
        } else {
            swipe(production_svg, staging_svg, &target_label, revealed).into_any()
        };
        let axes_differ = match (&production, &staging) {
            (Some(p), Some(s)) => !same_axes(p, s),
            _ => false,
        };
        let differ = axes_differ.then(|| {
            view! {
                <p class="compare-warning" data-testid="axes-differ">
                    "The two sides are scaled to their own data and their axes differ: a mark's place is not the same value on both. The axes shown are staging's; side by side shows both."
                </p>
            }
        });
        view! {
            <div class="charts framed" data-testid="charts" data-layout=layout.as_str()>
                {differ}
                {frame}
                {base.map(|b| view! { <div class="compare-baseline">{b}</div> })}
            </div>
        }
        .into_any()
    }
}

/// Staging in colour over production in grey, in one frame; once hydrated, a slider fades
/// staging to let production show through.
fn overlay(
    production: impl IntoView,
    staging: impl IntoView,
    target_label: &str,
    opacity: RwSignal<u8>,
) -> impl IntoView {
    view! {
        <div class="compare-frame overlay" data-testid="compare-frame" data-layout="overlay">
            <ul class="compare-key" aria-label="Which is which">
                <li>
                    <span class="key key-staging" aria-hidden="true"></span>
                    "Staging: in colour, on top"
                </li>
                <li>
                    <span class="key key-production" aria-hidden="true"></span>
                    {format!("{target_label}: grey, beneath")}
                </li>
            </ul>
            <div class="compare-stack">
                <div class="compare-layer under">{production}</div>
                <div
                    class="compare-layer over"
                    data-testid="overlay-staging"
                    style=move || format!("opacity: {}", f32::from(opacity.get()) / 100.0)
                >
                    {staging}
                </div>
            </div>
            {percent_slider("Staging opacity", "5", 100, "overlay-opacity", opacity)}
        </div>
    }
}

/// Staging left of a divider, production right of it, in one frame.
fn swipe(
    production: impl IntoView,
    staging: impl IntoView,
    target_label: &str,
    revealed: RwSignal<u8>,
) -> impl IntoView {
    view! {
        <div class="compare-frame swipe" data-testid="compare-frame" data-layout="swipe">
            <p class="compare-key">
                {format!("Staging left of the divider, {target_label} right of it.")}
                <span class="swipe-hint-no-js">" Drag the handle at the divider's foot to move it."</span>
            </p>
            <div class="compare-stack">
                <div class="compare-layer under">{production}</div>
                <div
                    class="compare-layer over"
                    role="group"
                    aria-label="Staging, left of the swipe divider"
                    data-testid="swipe-reveal"
                    style=move || format!("width: {}%", revealed.get())
                >
                    {staging}
                </div>
            </div>
            {percent_slider("Swipe divider", "1", 50, "swipe-divider", revealed)}
        </div>
    }
}

/// A 0–100 slider under a frame, bound to `value` (what share of staging shows), starting at
/// `start`; screen readers hear "N % staging".
fn percent_slider(
    label: &'static str,
    step: &'static str,
    start: u8,
    testid: &'static str,
    value: RwSignal<u8>,
) -> impl IntoView {
    view! {
        <label class="compare-control">
            {label}
            <input
                type="range"
                min="0"
                max="100"
                step=step
                value=start.to_string()
                data-testid=testid
                aria-valuetext=move || format!("{} % staging", value.get())
                prop:value=move || value.get().to_string()
                on:input=move |ev| value.set(event_target_value(&ev).parse().unwrap_or(start))
            />
        </label>
    }
}

#[cfg(test)]
mod tests {
    use super::Layout;

    #[test]
    fn the_query_names_the_view_and_anything_else_is_side_by_side() {
        for layout in Layout::ALL {
            assert_eq!(Layout::from_query(Some(layout.as_str())), layout);
        }
        assert_eq!(Layout::from_query(Some(" Overlay ")), Layout::Overlay);
        assert_eq!(Layout::from_query(None), Layout::Side);
        assert_eq!(Layout::from_query(Some("")), Layout::Side);
        assert_eq!(Layout::from_query(Some("grid")), Layout::Side);
    }

    #[test]
    fn v_cycles_through_every_view_in_the_controls_order() {
        let mut seen = vec![Layout::Side];
        while seen.len() <= Layout::ALL.len() {
            seen.push(seen.last().unwrap().next());
        }
        assert_eq!(seen, [Layout::Side, Layout::Stacked, Layout::Overlay, Layout::Swipe, Layout::Side]);
    }

    #[test]
    fn links_carry_the_view_and_keep_plain_urls_plain() {
        assert_eq!(Layout::Swipe.href("/branches/b/charts/7"), "/branches/b/charts/7?layout=swipe");
        assert_eq!(Layout::Side.href("/branches/b/charts/7"), "/branches/b/charts/7?layout=side");
        assert_eq!(Layout::Side.keep("/branches/b/charts/7"), "/branches/b/charts/7");
        assert_eq!(Layout::Overlay.keep("/branches/b/charts/7"), "/branches/b/charts/7?layout=overlay");
    }
}

#[cfg(all(test, feature = "ssr"))]
mod render_tests {
    use leptos::prelude::*;
    use serde_json::json;

    use super::{ComparedCharts, Layout};
    use crate::types::ChartVersion;

    fn version(kind: &str, values: [f64; 2]) -> ChartVersion {
        let rows: Vec<_> =
            values.iter().enumerate().map(|(i, v)| json!({"entity": "A", "time": 2000 + i, "value": v})).collect();
        ChartVersion {
            hash: "h".into(),
            slug: "s".into(),
            config: json!({ "type": kind }),
            data: json!({ "rows": rows }),
            metadata: json!({}),
            ..Default::default()
        }
    }

    fn render(layout: Layout, production: ChartVersion, staging: ChartVersion) -> String {
        Owner::new().with(|| {
            let layout = Memo::new(move |_| layout);
            view! {
                <ComparedCharts
                    layout
                    baseline=None
                    production=Some(production)
                    staging=Some(staging)
                    conflict=false
                    target_label="Production".to_string()
                />
            }
            .to_html()
        })
    }

    #[test]
    fn overlay_and_swipe_frame_production_beneath_staging() {
        for layout in [Layout::Overlay, Layout::Swipe] {
            let html = render(layout, version("line", [1.0, 2.0]), version("line", [2.0, 1.0]));
            let frame = html.find(r#"data-testid="compare-frame""#).expect(&html);
            let (production, staging) = (
                html.find(r#"data-side="Production""#).expect(&html),
                html.find(r#"data-side="Staging""#).expect(&html),
            );
            assert!(frame < production && production < staging, "{html}");
            assert!(!html.contains("axes-differ"), "same extent, same axes: {html}");
        }
        let html = render(Layout::Swipe, version("line", [1.0, 2.0]), version("line", [1.0, 2.0]));
        assert!(html.contains("width: 50%") && html.contains(r#"type="range""#), "{html}");
    }

    #[test]
    fn differing_axes_are_told_and_tables_stay_side_by_side() {
        let html = render(Layout::Overlay, version("line", [1.0, 2.0]), version("line", [1.0, 9.0]));
        assert!(html.contains("axes-differ"), "{html}");
        let html = render(Layout::Overlay, version("table", [1.0, 2.0]), version("table", [1.0, 9.0]));
        assert!(!html.contains("compare-frame") && html.contains("no-frame"), "{html}");
        assert!(html.contains(r#"class="charts side-by-side""#), "{html}");
    }
}
