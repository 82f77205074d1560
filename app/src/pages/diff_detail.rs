//! One changed chart: what the branch changed in its config, data and metadata.

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::common::{short_hash, ErrorBox, ItemBadges};
use crate::api::get_diff;
use crate::types::{DataDiff, DiffDetail, JsonDiff, RowChange};

#[component]
pub fn DiffDetailPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        (p.get("branch").unwrap_or_default(), p.get("chart_id").unwrap_or_default())
    };
    let detail = Resource::new(key, |(b, c)| get_diff(b, c));
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading the chart…"</p> }>
            {move || Suspend::new(async move {
                let (branch, _) = key();
                match detail.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(d) => view! { <DetailBody branch d /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn DetailBody(branch: String, d: DiffDetail) -> impl IntoView {
    let item = d.item.clone();
    view! {
        <p>
            <a href=format!("/branches/{branch}")>{format!("← {branch}")}</a>
        </p>
        <h1 data-testid="chart-title">{item.title.clone()}</h1>
        <p class="muted">{format!("{} · {}", item.slug, item.chart_id)}</p>
        <p>
            <ItemBadges item=item.clone() />
        </p>
        {item.error.clone().map(|e| view! { <ErrorBox message=e /> })}
        <dl class="hashes">
            <dt>"baseline"</dt>
            <dd><code>{short_hash(&item.baseline_hash)}</code></dd>
            <dt>"staging"</dt>
            <dd><code>{short_hash(&item.staging_hash)}</code></dd>
            <dt>"production"</dt>
            <dd><code>{short_hash(&item.production_hash)}</code></dd>
        </dl>
        <p class="links">
            {d.staging_preview_url.clone().map(|u| view! { <a href=u target="_blank" rel="noopener">"staging preview"</a> })}
            " "
            {d.production_preview_url.clone().map(|u| view! { <a href=u target="_blank" rel="noopener">"production preview"</a> })}
        </p>
        <section>
            <h2>"Config"</h2>
            <JsonDiffView diff=d.config_diff.clone() />
            {d.production_config_diff.clone().map(|pd| view! {
                <h3>"Production's own config changes since the fork"</h3>
                <JsonDiffView diff=pd />
            })}
        </section>
        <section>
            <h2>"Data"</h2>
            <DataDiffView diff=d.data_diff.clone() />
        </section>
        <section>
            <h2>"Metadata"</h2>
            <JsonDiffView diff=d.metadata_diff.clone() />
        </section>
    }
}

fn show(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "—".into(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    }
}

#[component]
fn JsonDiffView(diff: JsonDiff) -> impl IntoView {
    if diff.changes.is_empty() {
        return view! { <p class="muted">"No change."</p> }.into_any();
    }
    view! {
        <table class="json-changes" data-testid="json-changes">
            <thead>
                <tr><th>"Path"</th><th>"Before"</th><th>"After"</th></tr>
            </thead>
            <tbody>
                {diff.changes.iter().map(|c| view! {
                    <tr class=format!("op-{}", c.op)>
                        <td><code>{c.path.clone()}</code></td>
                        <td class="old">{show(&c.old)}</td>
                        <td class="new">{show(&c.new)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <pre class="hunks">
            {diff.hunks.iter().map(|h| view! {
                <span class="hunk-head">{format!("@@ -{},{} +{},{} @@\n", h.old_start, h.old_len, h.new_start, h.new_len)}</span>
                {h.lines.iter().map(|l| {
                    let sign = match l.tag.as_str() { "insert" => "+", "delete" => "-", _ => " " };
                    view! { <span class=format!("line {}", l.tag)>{format!("{sign} {}\n", l.text)}</span> }
                }).collect_view()}
            }).collect_view()}
        </pre>
    }
    .into_any()
}

fn row_view(kind: &'static str, r: &RowChange) -> impl IntoView {
    view! {
        <tr class=format!("row-{kind}")>
            <td>{kind}</td>
            <td>{r.key.series.clone().unwrap_or_default()}</td>
            <td>{r.key.entity.clone()}</td>
            <td>{r.key.time.to_string()}</td>
            <td class="old">{show(&r.old)}</td>
            <td class="new">{show(&r.new)}</td>
        </tr>
    }
}

#[component]
fn DataDiffView(diff: DataDiff) -> impl IntoView {
    if diff.added.is_empty() && diff.removed.is_empty() && diff.changed.is_empty() {
        return view! { <p class="muted">{format!("No change ({} rows).", diff.unchanged)}</p> }.into_any();
    }
    view! {
        <p class="muted">
            {format!(
                "{} added, {} removed, {} changed, {} unchanged",
                diff.added.len(),
                diff.removed.len(),
                diff.changed.len(),
                diff.unchanged,
            )}
        </p>
        <table class="data-diff" data-testid="data-diff">
            <thead>
                <tr><th></th><th>"Series"</th><th>"Entity"</th><th>"Time"</th><th>"Old"</th><th>"New"</th></tr>
            </thead>
            <tbody>
                {diff.changed.iter().map(|r| row_view("changed", r)).collect_view()}
                {diff.added.iter().map(|r| row_view("added", r)).collect_view()}
                {diff.removed.iter().map(|r| row_view("removed", r)).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
