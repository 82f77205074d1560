//! The audit trail for team leads: filters in the URL (a plain GET form), the events with links
//! to the exact content each decision was made on, a CSV download of everything that matches,
//! and decisions per day per reviewer drawn as stacked bars.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::Serialize;

use super::common::links::{chart_url, query_from, version_url, with_query};
use super::common::{short_time, ErrorBox};
use crate::api::audit_events;
use crate::types::{AuditPage, AuditQuery, DayCount, Role};

const FILTERS: [(&str, &str, &str); 6] = [
    ("branch", "Branch", "text"),
    ("actor", "Actor (email)", "email"),
    ("chart_id", "Chart id", "text"),
    ("action", "Action (review, branch, sync…)", "text"),
    ("since", "Since", "date"),
    ("until", "Until", "date"),
];

/// The filters of a query, without its page: what every link of the page keeps.
fn filters_of(query: &AuditQuery) -> AuditQuery {
    AuditQuery { page: None, per_page: None, ..query.clone() }
}

/// The CSV export of everything the filters match: `format=csv`, then the filters.
fn csv_url(filters: &AuditQuery) -> String {
    #[derive(Serialize)]
    struct CsvExport<'a> {
        format: &'static str,
        #[serde(flatten)]
        filters: &'a AuditQuery,
    }
    with_query("/api/v1/audit", &CsvExport { format: "csv", filters })
}

#[component]
pub fn AuditPageView() -> impl IntoView {
    let query = use_query_map();
    // The page size is the server's choice, not the URL's.
    let audit_query = move || AuditQuery { per_page: None, ..query_from(&query.read()) };
    let page = Resource::new(audit_query, audit_events);
    let me = super::user_resource();
    view! {
        <h1>"Audit trail"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading the audit trail…"</p> }>
            {move || Suspend::new(async move {
                let q = audit_query();
                if !me.can(Role::Lead).await {
                    return view! { <ErrorBox message="Only team leads can see the audit trail.".to_string() /> }.into_any();
                }
                match page.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(p) => view! { <AuditBody query=q page=p /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn AuditBody(query: AuditQuery, page: AuditPage) -> impl IntoView {
    let filters = filters_of(&query);
    let csv = csv_url(&filters);
    let value = |k: &str| match k {
        "branch" => query.branch.clone(),
        "actor" => query.actor.clone(),
        "chart_id" => query.chart_id.clone(),
        "action" => query.action.clone(),
        "since" => query.since.clone(),
        _ => query.until.clone(),
    };
    let pages = ((page.total + page.per_page as i64 - 1) / page.per_page.max(1) as i64).max(1);
    let page_link = |n: u32| with_query("/audit", &AuditQuery { page: Some(n), ..filters.clone() });
    view! {
        <form method="get" action="/audit" class="audit-filters" data-testid="audit-filters">
            {FILTERS
                .iter()
                .map(|(name, label, kind)| {
                    view! {
                        <label>
                            {*label}
                            <input type=*kind name=*name value=value(name).unwrap_or_default() data-testid=format!("filter-{name}") />
                        </label>
                    }
                })
                .collect_view()}
            <button type="submit" class="primary">"Filter"</button>
            <a href="/audit">"Clear"</a>
            <a href=csv download="chartgate-audit.csv" data-testid="csv-link">"Download CSV"</a>
        </form>
        <DecisionsPlot per_day=page.per_day.clone() />
        <p class="muted" data-testid="audit-total">{format!("{} event{}", page.total, if page.total == 1 { "" } else { "s" })}</p>
        {if page.events.is_empty() {
            view! { <section class="empty" data-testid="audit-empty"><p>"No event matches these filters."</p></section> }.into_any()
        } else {
            view! {
                <table class="audit" data-testid="audit-table">
                    <thead>
                        <tr><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Branch"</th><th>"Chart"</th><th>"Content approved"</th><th>"Detail"</th></tr>
                    </thead>
                    <tbody>
                        {page.events.iter().map(|e| {
                            let chart = e.chart_id.clone().map(|c| match &e.branch {
                                Some(b) => view! { <a href=chart_url(b, &c)>{c.clone()}</a> }.into_any(),
                                None => c.into_any(),
                            });
                            let comment = e.detail.as_ref().and_then(|d| d.get("comment")).and_then(|c| c.as_str()).map(str::to_string);
                            let detail = comment.or_else(|| e.detail.as_ref().map(|d| d.to_string()));
                            view! {
                                <tr data-testid="audit-row">
                                    <td>{short_time(&e.at)}</td>
                                    <td>{e.actor.clone()}</td>
                                    <td><code>{e.action.clone()}</code></td>
                                    <td>{e.branch.clone()}</td>
                                    <td>{chart}</td>
                                    <td>
                                        {e.staging_hash.clone().map(|h| view! {
                                            <a href=version_url(&h) data-testid="version-link"><code>{h.chars().take(10).collect::<String>()}</code></a>
                                        })}
                                    </td>
                                    <td class="muted">{detail}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
        <nav class="pager" aria-label="Pages">
            <span>{format!("page {} of {}", page.page, pages)}</span>
            {(page.page > 1).then(|| view! { <a href=page_link(page.page - 1) rel="prev">"← newer"</a> })}
            {((page.page as i64) < pages).then(|| view! { <a href=page_link(page.page + 1) rel="next">"older →"</a> })}
        </nav>
    }
}

const PALETTE: [&str; 8] = ["#3360a9", "#ce261e", "#00847e", "#6d3e91", "#c15065", "#996d39", "#18470f", "#286bbb"];

/// Decisions per day, one stacked bar per day, one colour per reviewer.
#[component]
fn DecisionsPlot(per_day: Vec<DayCount>) -> impl IntoView {
    if per_day.is_empty() {
        return view! { <p class="muted" data-testid="plot-empty">"No decisions in this range."</p> }.into_any();
    }
    let actors: Vec<String> = per_day.iter().map(|d| d.actor.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut days: BTreeMap<String, Vec<(usize, i64)>> = BTreeMap::new();
    for d in &per_day {
        let a = actors.iter().position(|x| x == &d.actor).unwrap_or(0);
        days.entry(d.day.clone()).or_default().push((a, d.decisions));
    }
    let max = days.values().map(|v| v.iter().map(|(_, n)| n).sum::<i64>()).max().unwrap_or(1).max(1) as f64;
    let (width, height, left, bottom) = (640.0, 220.0, 40.0, 30.0);
    let slot = (width - left) / days.len() as f64;
    let bar = (slot * 0.7).min(40.0);
    let scale = (height - bottom - 10.0) / max;
    view! {
        <figure class="plot" data-testid="decisions-plot">
            <svg viewBox=format!("0 0 {width} {height}") width="100%" role="img" aria-label="Decisions per day per reviewer">
                <line x1=left y1=height - bottom x2=width y2=height - bottom stroke="#999" />
                <text x=left - 6.0 y=10.0 text-anchor="end" font-size="10">{max as i64}</text>
                <text x=left - 6.0 y=height - bottom text-anchor="end" font-size="10">"0"</text>
                {days.iter().enumerate().map(|(i, (day, counts))| {
                    let x = left + slot * i as f64 + (slot - bar) / 2.0;
                    let mut y = height - bottom;
                    let segments = counts.iter().map(|(a, n)| {
                        let h = *n as f64 * scale;
                        y -= h;
                        view! {
                            <rect class="bar-seg" x=x y=y width=bar height=h fill=PALETTE[a % PALETTE.len()]>
                                <title>{format!("{day}: {} decided {n}", actors[*a])}</title>
                            </rect>
                        }
                    }).collect_view();
                    view! {
                        <g data-day=day.clone()>
                            {segments}
                            <text x=x + bar / 2.0 y=height - bottom + 14.0 text-anchor="middle" font-size="9">{day[5..].to_string()}</text>
                        </g>
                    }
                }).collect_view()}
            </svg>
            <figcaption class="chart-legend">
                {actors.iter().enumerate().map(|(i, a)| view! {
                    <span class="legend-entry"><span class="swatch" style=format!("background:{}", PALETTE[i % PALETTE.len()])></span>{a.clone()}</span>
                }).collect_view()}
            </figcaption>
        </figure>
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_filters_and_drop_the_page() {
        let q = AuditQuery {
            actor: Some("lead@example.org".into()),
            since: Some("2026-11-01".into()),
            page: Some(4),
            per_page: Some(10),
            ..Default::default()
        };
        let filters = filters_of(&q);
        assert_eq!(csv_url(&filters), "/api/v1/audit?format=csv&actor=lead%40example.org&since=2026-11-01");
        assert_eq!(csv_url(&AuditQuery::default()), "/api/v1/audit?format=csv");
        assert_eq!(
            with_query("/audit", &AuditQuery { page: Some(5), ..filters }),
            "/audit?actor=lead%40example.org&since=2026-11-01&page=5"
        );
    }
}
