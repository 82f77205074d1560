//! The audit trail for team leads: filters in the URL (a plain GET form), the events with links
//! to the exact content each decision was made on, each event's detail as short labelled fields,
//! a CSV download of everything that matches, and decisions per day per reviewer drawn as
//! stacked bars.

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::Serialize;
use serde_json::{Map, Value};

use super::common::links::{chart_url, query_from, version_url, with_query};
use super::common::ErrorBox;
use crate::api::audit_events;
use crate::types::{AuditPage, AuditQuery, DayCount, Role};

/// The free-text filters of the form (the action is the "what" select, [`WHAT`]).
const FILTERS: [(&str, &str, &str); 5] = [
    ("branch", "Branch", "text"),
    ("actor", "Who (email)", "email"),
    ("chart_id", "Chart id", "text"),
    ("since", "Since", "date"),
    ("until", "Until", "date"),
];

/// The "what" select: each choice is the `action` filter the API reads (names and `prefix.*`).
pub const WHAT: [(&str, &str); 10] = [
    ("", "All events"),
    ("review.approve,review.reject,review.reset,review.bulk,review.group", "Verdicts"),
    ("review.dismiss", "Dismissals"),
    ("review.request", "Review requests"),
    ("comment.add", "Comments"),
    ("branch.*", "Branches"),
    ("sync.*", "Syncs"),
    ("merge.apply", "Merges"),
    ("upgrade.*", "Upgrades"),
    ("session.*,user.*,token.*", "Sign-ins and accounts"),
];

/// The choices of the "what" select, (value, label, selected): [`WHAT`], and an action filter
/// from the URL that is none of them (a link from an event's action, `action=review`) as a
/// choice of its own, so the form keeps it.
fn what_options(current: Option<&str>) -> Vec<(String, String, bool)> {
    let current = current.map(str::trim).unwrap_or("");
    let mut out: Vec<(String, String, bool)> =
        WHAT.iter().map(|(v, l)| (v.to_string(), l.to_string(), *v == current)).collect();
    if !WHAT.iter().any(|(v, _)| *v == current) {
        out.push((current.to_string(), format!("Only {current}"), true));
    }
    out
}

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

/// `2026-12-07T18:48:52.123Z` as `2026-12-07 18:48:52` (UTC, as the column says); anything
/// that is not a UTC RFC 3339 time stays as it is.
pub fn compact_time(at: &str) -> String {
    let utc = at.ends_with('Z') || at.ends_with('z') || at.ends_with("+00:00");
    match (at.get(..10), at.get(10..11), at.get(11..19)) {
        (Some(date), Some("T" | "t" | " "), Some(time)) if utc => format!("{date} {time}"),
        _ => at.to_string(),
    }
}

/// A content hash as the table shows it: its first 8 characters.
fn hash8(h: &str) -> String {
    h.chars().take(8).collect()
}

/// Text longer than this many characters is shown cut, the whole of it one click away.
const LONG: usize = 80;

/// How many entries of a list are named before "and N more".
const LISTED: usize = 5;

/// A field of an event's detail as the page shows it: (label, text).
pub type Field = (String, String);

/// `1 chart`, `3 charts`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The first [`LISTED`] texts, then "and N more".
fn listed(items: &[String]) -> String {
    let mut text = items.iter().take(LISTED).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > LISTED {
        text.push_str(&format!(" and {} more", items.len() - LISTED));
    }
    text
}

/// A scalar as text (`yes`/`no` for booleans); `None` for null, arrays and objects.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Bool(b) => Some(if *b { "yes" } else { "no" }.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Any value as one short readable text, never as JSON: scalars as they are, a list as its
/// entries (`a, b, c and 2 more`), an object as `key: value` pairs; what is nested deeper is
/// counted (`3 items`, `2 fields`). `None` for null.
fn readable(v: &Value) -> Option<String> {
    fn nested(v: &Value) -> Option<String> {
        match v {
            Value::Array(a) => Some(count(a.len(), "item", "items")),
            Value::Object(o) => Some(count(o.len(), "field", "fields")),
            other => scalar(other),
        }
    }
    match v {
        Value::Null => None,
        Value::Array(a) if a.is_empty() => Some("none".into()),
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(|x| nested(x).unwrap_or_else(|| "–".into())).collect();
            Some(listed(&items))
        }
        Value::Object(o) if o.is_empty() => Some("none".into()),
        Value::Object(o) => Some(
            o.iter()
                .filter_map(|(k, x)| nested(x).map(|t| format!("{}: {t}", label_of(k))))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        other => scalar(other),
    }
}

/// A detail key as a label: the known ones by name, the rest with spaces for `_`.
fn label_of(key: &str) -> String {
    match key {
        "store_url" => "store",
        "raw_name" => "name",
        "promotes_to" => "promotes to",
        "job_id" => "job",
        "dry_run" => "dry run",
        "to_apply" => "to apply",
        "staging_unreachable" => "staging unreachable",
        "heartbeat_at" => "last heartbeat",
        "merged_from_staging_hash" => "merged from",
        "upgrade_id" => "upgrade",
        "sessions_ended" => "sessions ended",
        "email" => "user",
        "comment_id" => "comment id",
        "body" => "comment",
        "summary" => "change",
        "chart_ids" => "charts",
        "delivery_id" => "delivery",
        "idempotency_key" => "idempotency key",
        other => return other.replace('_', " "),
    }
    .to_string()
}

/// Chart ids as `3 charts: a, b, c`.
fn charts(ids: &[Value]) -> String {
    let names: Vec<String> = ids.iter().filter_map(readable).collect();
    match names.len() {
        0 => "none".into(),
        n => format!("{}: {}", count(n, "chart", "charts"), listed(&names)),
    }
}

/// One known key's text, formatted for what it holds; `None` leaves it to [`readable`].
fn known(key: &str, v: &Value) -> Option<String> {
    match (key, v) {
        ("job_id" | "upgrade_id" | "comment_id", Value::Number(n)) => Some(format!("#{n}")),
        ("decided" | "chart_ids", Value::Array(ids)) => Some(charts(ids)),
        ("refused", Value::Array(r)) if r.is_empty() => Some("none".into()),
        ("refused", Value::Array(r)) => {
            // `[{chart_id, reason}]`: how many, then each with its reason.
            let each: Vec<String> = r
                .iter()
                .map(|x| {
                    let id = x.get("chart_id").and_then(scalar);
                    let why = x.get("reason").and_then(scalar);
                    match (id, why) {
                        (Some(id), Some(why)) => format!("{id}: {why}"),
                        (Some(one), None) | (None, Some(one)) => one,
                        (None, None) => readable(x).unwrap_or_default(),
                    }
                })
                .collect();
            Some(format!("{} ({})", r.len(), each.join("; ")))
        }
        ("reviewers", Value::Array(people)) => Some(listed(&people.iter().filter_map(readable).collect::<Vec<_>>())),
        ("outcomes", Value::Object(o)) => Some(
            o.iter().map(|(k, n)| format!("{k} {}", readable(n).unwrap_or_default())).collect::<Vec<_>>().join(", "),
        ),
        ("heartbeat_at", Value::String(t)) => Some(compact_time(t)),
        ("merged_from_staging_hash", Value::String(h)) => Some(hash8(h)),
        _ => None,
    }
}

/// Flags worth a field only when they are set (a sync that is a dry run, a resumed job).
const ONLY_WHEN_SET: [&str; 3] = ["dry_run", "resumed", "recovered"];

/// The keys of each action's detail in the order a lead reads them; keys not named here follow
/// (sorted), read by their own look. Written from every `audit::append` of the server.
fn order_of(action: &str) -> &'static [&'static str] {
    match action {
        "review.approve" | "review.reject" | "review.reset" => &["comment"],
        "review.bulk" => &["status", "decided", "refused", "comment"],
        "review.group" => &["summary", "status", "decided", "refused", "group"],
        "review.dismiss" => &["reviewer", "reason"],
        "review.request" => &["reviewers", "chart_ids"],
        "comment.add" => &["body", "comment_id"],
        "branch.register" => &["store_url", "fork", "target", "kind", "repository", "raw_name", "promotes_to"],
        "branch.retarget" => &["store_url", "target"],
        "branch.merge" => &["job_id"],
        "sync.item" => &["outcome", "reason", "action", "recovered", "dry_run", "job_id", "hop"],
        "sync.finish" => &["status", "outcomes", "error", "dry_run", "job_id", "hop"],
        "sync.plan" => &["items", "to_apply", "staging_unreachable", "dry_run", "job_id", "hop"],
        "sync.start" => &["job_id", "hop", "attempt", "resumed", "dry_run", "worker"],
        "sync.enqueue" => &["job_id", "hop", "trigger", "dry_run", "delivery_id", "idempotency_key"],
        "sync.requeue" => &["job_id", "worker", "heartbeat_at"],
        "merge.apply" => &["choices", "merged_from_staging_hash"],
        "upgrade.apply" => &["upgrade_id", "updated", "unchanged", "skipped", "mapping"],
        "upgrade.undo" => &["upgrade_id", "restored", "skipped", "mapping"],
        "user.password" => &["email", "sessions_ended"],
        "token.create" => &["token", "email"],
        _ => &[],
    }
}

/// An event's `detail` as short labelled fields, for any action: the known actions' keys in
/// their order and look (see [`order_of`], [`known`]), then any other key as `key: value`, its
/// nested values summarised; a detail that is not an object is one field, `detail`. Never JSON.
pub fn detail_fields(action: &str, detail: &Value) -> Vec<Field> {
    let Value::Object(object) = detail else {
        return readable(detail).map(|t| vec![("detail".to_string(), t)]).unwrap_or_default();
    };
    let mut out = Vec::new();
    let mut rest: Map<String, Value> = object.clone();
    let verdict = action.starts_with("review.");
    // An upgrade's datasets read as one move.
    if action.starts_with("upgrade.") {
        if let (Some(from), Some(to)) = (object.get("from").and_then(scalar), object.get("to").and_then(scalar)) {
            out.push(("dataset".to_string(), format!("{from} → {to}")));
            rest.remove("from");
            rest.remove("to");
        }
    }
    let field = |key: &str, v: &Value| -> Option<Field> {
        if ONLY_WHEN_SET.contains(&key) && v != &Value::Bool(true) {
            return None;
        }
        let text = known(key, v).or_else(|| readable(v))?;
        let label = match key {
            "status" if verdict => "verdict".to_string(),
            "action" if action == "sync.item" => "change".to_string(),
            _ => label_of(key),
        };
        Some((label, text))
    };
    for key in order_of(action) {
        match rest.remove(*key) {
            // No chart ids: the request is for the whole branch.
            None | Some(Value::Null) if action == "review.request" && *key == "chart_ids" => {
                out.push(("charts".to_string(), "the whole branch".to_string()))
            }
            Some(v) => out.extend(field(key, &v)),
            None => {}
        }
    }
    out.extend(rest.iter().filter_map(|(k, v)| field(k, v)));
    out
}

/// `text` cut where it may wrap before anywhere else: after each dot of an action (`review.`,
/// `approve`), before the `@` of an email (`rita`, `@example.org`).
fn wrap_points(text: &str, at: char) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for (i, piece) in text.split(at).enumerate() {
        match parts.last_mut() {
            Some(last) if i > 0 && at == '.' => {
                last.push(at);
                parts.push(piece.to_string());
            }
            _ if i > 0 => parts.push(format!("{at}{piece}")),
            _ => parts.push(piece.to_string()),
        }
    }
    parts
}

/// `text` with a `<wbr>` at each of its [`wrap_points`], so a narrow column wraps it there.
fn breakable(text: &str, at: char) -> impl IntoView {
    let parts = wrap_points(text, at);
    let last = parts.len().saturating_sub(1);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| view! { {part} {(i < last).then(|| view! { <wbr /> })} })
        .collect_view()
}

/// A field's text: whole when short, otherwise its start, the whole text one click away (and in
/// the `title`). Always text, never markup.
#[component]
fn FieldText(text: String) -> impl IntoView {
    if text.chars().count() <= LONG {
        return text.into_any();
    }
    let cut: String = text.chars().take(LONG - 1).collect();
    view! {
        <details class="audit-long">
            <summary title=text.clone()>
                <span class="cut">{cut}"…"</span>
                <span class="less">"show less"</span>
            </summary>
            <span class="whole">{text}</span>
        </details>
    }
    .into_any()
}

/// An event's detail as labelled fields (nothing when it has none).
#[component]
fn DetailFields(action: String, detail: Option<Value>) -> impl IntoView {
    let fields = detail.map(|d| detail_fields(&action, &d)).unwrap_or_default();
    (!fields.is_empty()).then(|| {
        view! {
            <dl class="audit-fields">
                {fields
                    .into_iter()
                    .map(|(label, text)| {
                        view! {
                            <div class="audit-field">
                                <dt>{label}":"</dt>
                                <dd><FieldText text=text /></dd>
                            </div>
                        }
                    })
                    .collect_view()}
            </dl>
        }
    })
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
        "since" => query.since.clone(),
        _ => query.until.clone(),
    };
    let pages = ((page.total + page.per_page as i64 - 1) / page.per_page.max(1) as i64).max(1);
    let page_link = |n: u32| with_query("/audit", &AuditQuery { page: Some(n), ..filters.clone() });
    // An event's actor or action as a link to the same filters narrowed to it.
    let only_actor = |a: &str| with_query("/audit", &AuditQuery { actor: Some(a.to_string()), ..filters.clone() });
    let only_action = |a: &str| with_query("/audit", &AuditQuery { action: Some(a.to_string()), ..filters.clone() });
    view! {
        <form method="get" action="/audit" class="audit-filters" data-testid="audit-filters">
            <label>
                "What"
                <select name="action" data-testid="filter-action">
                    {what_options(query.action.as_deref())
                        .into_iter()
                        .map(|(value, label, selected)| view! { <option value=value selected=selected>{label}</option> })
                        .collect_view()}
                </select>
            </label>
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
            view! { <section class="empty" data-testid="audit-empty"><p>"No events match these filters."</p></section> }.into_any()
        } else {
            view! {
                <table class="audit" data-testid="audit-table">
                    <colgroup>
                        <col class="audit-when" /><col class="audit-who" /><col class="audit-action" /><col class="audit-branch" />
                        <col class="audit-chart" /><col class="audit-hash" /><col class="audit-detail" />
                    </colgroup>
                    <thead>
                        <tr><th>"When (UTC)"</th><th>"Who"</th><th>"Action"</th><th>"Branch"</th><th>"Chart"</th><th>"Content"</th><th>"Detail"</th></tr>
                    </thead>
                    <tbody>
                        {page.events.iter().map(|e| {
                            let chart = e.chart_id.clone().map(|c| match &e.branch {
                                Some(b) => view! { <a href=chart_url(b, &c)>{c.clone()}</a> }.into_any(),
                                None => c.into_any(),
                            });
                            let hash_title = e.staging_hash.as_ref().map(|h| match &e.production_hash {
                                Some(p) => format!("staging {h}\nproduction {p}"),
                                None => format!("staging {h}"),
                            });
                            view! {
                                <tr data-testid="audit-row" data-action=e.action.clone()>
                                    <td class="audit-when">
                                        <time datetime=e.at.clone() title=e.at.clone() data-testid="audit-time">{compact_time(&e.at)}</time>
                                    </td>
                                    <td class="audit-who"><a href=only_actor(&e.actor) title=format!("only {}", e.actor)>{breakable(&e.actor, '@')}</a></td>
                                    <td class="audit-action">
                                        <a href=only_action(&e.action) title=format!("only {}", e.action)><code>{breakable(&e.action, '.')}</code></a>
                                    </td>
                                    <td class="audit-branch">{e.branch.clone()}</td>
                                    <td class="audit-chart">{chart}</td>
                                    <td class="audit-hash">
                                        {e.staging_hash.clone().map(|h| view! {
                                            <a href=version_url(&h) title=hash_title.clone() data-testid="version-link"><code>{hash8(&h)}</code></a>
                                        })}
                                    </td>
                                    <td class="audit-detail" data-testid="audit-detail">
                                        <DetailFields action=e.action.clone() detail=e.detail.clone() />
                                    </td>
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
    use serde_json::json;

    use super::*;

    fn fields(action: &str, detail: Value) -> Vec<(String, String)> {
        detail_fields(action, &detail)
    }

    fn f(label: &str, text: &str) -> (String, String) {
        (label.to_string(), text.to_string())
    }

    /// No field of any rendering may read as JSON.
    fn no_json(fields: &[(String, String)]) {
        for (label, text) in fields {
            assert!(!text.contains("{\"") && !text.contains("[\"") && !text.contains('{'), "{label}: {text}");
        }
    }

    #[test]
    fn verdicts_dismissals_requests_and_comments_read_as_fields() {
        assert_eq!(fields("review.approve", json!({"comment": "looks right"})), [f("comment", "looks right")]);
        assert_eq!(fields("review.reject", json!({"comment": "axis wrong"})), [f("comment", "axis wrong")]);
        assert_eq!(fields("review.reset", json!({})), []);
        assert_eq!(
            fields("review.dismiss", json!({"reviewer": "rita@example.org", "reason": "fixed upstream"})),
            [f("reviewer", "rita@example.org"), f("reason", "fixed upstream")]
        );
        assert_eq!(
            fields(
                "review.request",
                json!({"reviewers": ["a@example.org", "b@example.org"], "chart_ids": ["c1", "c2"]})
            ),
            [f("reviewers", "a@example.org, b@example.org"), f("charts", "2 charts: c1, c2")]
        );
        for whole in
            [json!({"reviewers": ["a@example.org"]}), json!({"reviewers": ["a@example.org"], "chart_ids": null})]
        {
            assert_eq!(
                fields("review.request", whole),
                [f("reviewers", "a@example.org"), f("charts", "the whole branch")]
            );
        }
        assert_eq!(
            fields("comment.add", json!({"comment_id": 7, "body": "why <b>this</b>?"})),
            [f("comment", "why <b>this</b>?"), f("comment id", "#7")]
        );
    }

    #[test]
    fn bulk_and_group_verdicts_count_what_was_decided_and_refused() {
        let bulk = fields(
            "review.bulk",
            json!({"status": "approved", "decided": ["a", "b", "c"],
                   "refused": [{"chart_id": "d", "reason": "the chart has a conflict"}]}),
        );
        assert_eq!(
            bulk,
            [
                f("verdict", "approved"),
                f("decided", "3 charts: a, b, c"),
                f("refused", "1 (d: the chart has a conflict)")
            ]
        );
        let many: Vec<String> = (1..=8).map(|i| format!("c{i}")).collect();
        let group = fields(
            "review.group",
            json!({"group": "9f2c", "summary": "subtitle → 'Revised'", "status": "rejected", "decided": many, "refused": []}),
        );
        assert_eq!(
            group,
            [
                f("change", "subtitle → 'Revised'"),
                f("verdict", "rejected"),
                f("decided", "8 charts: c1, c2, c3, c4, c5 and 3 more"),
                f("refused", "none"),
                f("group", "9f2c"),
            ]
        );
    }

    #[test]
    fn branches_syncs_merges_upgrades_and_accounts_read_as_fields() {
        assert_eq!(
            fields(
                "branch.register",
                json!({"fork": false, "kind": "branch", "raw_name": "feature/x", "store_url": "sqlite:///s/x.db", "target": "production"}),
            ),
            [
                f("store", "sqlite:///s/x.db"),
                f("fork", "no"),
                f("target", "production"),
                f("kind", "branch"),
                f("name", "feature/x"),
            ]
        );
        assert_eq!(
            fields(
                "sync.item",
                json!({"job_id": 4, "action": "update", "outcome": "skipped", "reason": "production moved",
                       "dry_run": false, "hop": "feature-x → production"}),
            ),
            [
                f("outcome", "skipped"),
                f("reason", "production moved"),
                f("change", "update"),
                f("job", "#4"),
                f("hop", "feature-x → production"),
            ]
        );
        assert_eq!(
            fields(
                "sync.finish",
                json!({"job_id": 4, "hop": "x → production", "status": "partial", "dry_run": true,
                       "outcomes": {"applied": 3, "skipped": 1}, "error": null}),
            ),
            [
                f("status", "partial"),
                f("outcomes", "applied 3, skipped 1"),
                f("dry run", "yes"),
                f("job", "#4"),
                f("hop", "x → production"),
            ]
        );
        assert_eq!(
            fields("sync.requeue", json!({"job_id": 2, "worker": "w1", "heartbeat_at": "2026-12-07T18:48:52.5Z"})),
            [f("job", "#2"), f("worker", "w1"), f("last heartbeat", "2026-12-07 18:48:52")]
        );
        assert_eq!(
            fields(
                "merge.apply",
                json!({"choices": {"config.title": "staging", "data": "production"}, "merged_from_staging_hash": "0123456789abcdef"}),
            ),
            [f("choices", "config.title: staging, data: production"), f("merged from", "01234567")]
        );
        assert_eq!(
            fields(
                "upgrade.apply",
                json!({"upgrade_id": 3, "from": "wdi-2024", "to": "wdi-2025", "mapping": {"gdp": "gdp_ppp"},
                       "updated": 5, "unchanged": 0, "skipped": 1}),
            ),
            [
                f("dataset", "wdi-2024 → wdi-2025"),
                f("upgrade", "#3"),
                f("updated", "5"),
                f("unchanged", "0"),
                f("skipped", "1"),
                f("mapping", "gdp: gdp_ppp"),
            ]
        );
        assert_eq!(
            fields("user.password", json!({"email": "u@example.org", "sessions_ended": 2})),
            [f("user", "u@example.org"), f("sessions ended", "2")]
        );
    }

    #[test]
    fn unknown_shapes_fall_back_to_readable_fields() {
        let out = fields(
            "something.new",
            json!({"a_list": [1, "two", {"x": 1}, [1, 2]], "nested": {"inner": {"deep": [1]}, "n": null, "ok": true},
                   "nothing": null, "empty": {}, "text": "plain"}),
        );
        assert_eq!(
            out,
            [
                f("a list", "1, two, 1 field, 2 items"),
                f("empty", "none"),
                f("nested", "inner: 1 field, ok: yes"),
                f("text", "plain"),
            ]
        );
        no_json(&out);
        // Known actions keep keys they do not know, after the known ones.
        assert_eq!(
            fields("review.approve", json!({"comment": "ok", "extra_note": {"k": "v"}})),
            [f("comment", "ok"), f("extra note", "k: v")]
        );
        // A detail that is not an object is one field.
        assert_eq!(fields("x.y", json!("just text")), [f("detail", "just text")]);
        assert_eq!(fields("x.y", json!([1, 2])), [f("detail", "1, 2")]);
        assert_eq!(fields("x.y", Value::Null), []);
    }

    #[test]
    fn actions_wrap_after_dots_and_emails_before_the_at() {
        assert_eq!(wrap_points("review.approve", '.'), ["review.", "approve"]);
        assert_eq!(wrap_points("a.b.c", '.'), ["a.", "b.", "c"]);
        assert_eq!(wrap_points("rita@example.org", '@'), ["rita", "@example.org"]);
        assert_eq!(wrap_points("system", '@'), ["system"]);
        assert_eq!(wrap_points("", '.'), [""]);
    }

    #[test]
    fn times_are_compact_and_utc_only() {
        assert_eq!(compact_time("2026-12-07T18:48:52.123456789Z"), "2026-12-07 18:48:52");
        assert_eq!(compact_time("2026-12-07T18:48:52Z"), "2026-12-07 18:48:52");
        assert_eq!(compact_time("2026-12-07T18:48:52+00:00"), "2026-12-07 18:48:52");
        // Not UTC, or not a time: as given, rather than a wrong hour.
        assert_eq!(compact_time("2026-12-07T18:48:52+02:00"), "2026-12-07T18:48:52+02:00");
        assert_eq!(compact_time("yesterday"), "yesterday");
    }

    #[test]
    fn the_what_select_keeps_an_action_it_does_not_list() {
        let selected = |current: Option<&str>| -> Vec<String> {
            what_options(current).into_iter().filter(|o| o.2).map(|o| o.1).collect()
        };
        assert_eq!(selected(None), ["All events"]);
        assert_eq!(selected(Some("review.dismiss")), ["Dismissals"]);
        assert_eq!(selected(Some(WHAT[1].0)), ["Verdicts"]);
        assert_eq!(selected(Some("sync.item")), ["Only sync.item"]);
        assert_eq!(what_options(Some("sync.item")).len(), WHAT.len() + 1);
        // The verdicts are the actions a decision writes, one by one and in bulk or by group.
        assert_eq!(
            WHAT[1].0.split(',').collect::<Vec<_>>(),
            ["review.approve", "review.reject", "review.reset", "review.bulk", "review.group"]
        );
    }

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
