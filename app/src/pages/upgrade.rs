//! The upgrader's pages (design §9): `/branches/{b}/upgrade` picks the datasets (the suggestion
//! preselected), shows the proposed mapping with the data side by side and a select per row to
//! change or skip a match, and the charts that will change; applying goes to
//! `/branches/{b}/upgrades/{id}`, which links to the branch's list filtered to the upgrade and
//! offers approve-all and undo.
//!
//! Every control is a plain GET or POST form, so the pages work before (and without)
//! WebAssembly. Large sections end in `.into_any()` to keep the hydrate build's view types small.

use leptos::prelude::*;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::common::links::{branch_url, chart_url};
use super::common::{short_time, ErrorBox};
use crate::types::Role;
use crate::upgrades::api::{get_upgrade, upgrade_datasets, upgrade_preview};
use crate::upgrades::{Datasets, Pair, Preview, Upgrade};

fn upgrade_url(branch: &str) -> String {
    format!("{}/upgrade", branch_url(branch))
}

fn upgrade_page_url(branch: &str, id: i64) -> String {
    format!("{}/upgrades/{id}", branch_url(branch))
}

/// The list of a branch filtered to one upgrade's items.
pub fn upgrade_items_url(branch: &str, id: i64) -> String {
    format!("{}?upgrade={id}", branch_url(branch))
}

fn percent(x: Option<f64>) -> String {
    x.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "–".into())
}

/// `?done=` and `?error=` left by the form endpoints.
#[component]
fn Notices() -> impl IntoView {
    let query = use_query_map();
    view! {
        {move || {
            query
                .read()
                .get("done")
                .and_then(|n| match n.as_str() {
                    "applied" => Some("The upgrade was applied; the branch was rescanned."),
                    "undone" => Some("The upgrade was undone."),
                    _ => None,
                })
                .map(|text| view! { <p class="notice" role="status" data-testid="upgrade-notice">{text}</p> })
        }}
        {move || {
            query.read().get("error").map(|e| view! { <div class="error-box" role="alert" data-testid="upgrade-error">{e}</div> })
        }}
    }
}

#[component]
pub fn UpgradePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let branch = move || params.read().get("branch").unwrap_or_default();
    let chosen = move || {
        let q = query.read();
        (q.get("from").filter(|s| !s.is_empty()), q.get("to").filter(|s| !s.is_empty()))
    };
    let datasets = Resource::new(branch, upgrade_datasets);
    let me = super::user_resource();
    view! {
        <p><a href=move || branch_url(&branch())>"← the branch's diff"</a></p>
        <h1>"Dataset upgrade · " <span class="branch-name">{branch}</span></h1>
        <Notices />
        <Suspense fallback=|| view! { <p class="loading">"Loading the datasets…"</p> }>
            {move || Suspend::new(async move {
                let b = branch();
                let can_review = me.can(Role::Reviewer).await;
                match datasets.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(d) => {
                        let (from, to) = chosen();
                        let suggestion = d.suggested.first().cloned();
                        let from = from.or_else(|| suggestion.as_ref().map(|s| s.from.clone()));
                        let to = to.or_else(|| suggestion.as_ref().map(|s| s.to.clone()));
                        view! {
                            <DatasetPicker branch=b.clone() datasets=d from=from.clone() to=to.clone() />
                            {match (from, to, can_review) {
                                (Some(from), Some(to), true) => view! { <MappingSection branch=b from to /> }.into_any(),
                                (_, _, false) => view! { <p class="muted">"Reviewers and leads can preview and apply upgrades."</p> }.into_any(),
                                _ => view! { <p class="muted">"Pick the dataset the charts use and its new version."</p> }.into_any(),
                            }}
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
fn DatasetPicker(branch: String, datasets: Datasets, from: Option<String>, to: Option<String>) -> impl IntoView {
    let options = move |current: Option<String>| {
        datasets
            .datasets
            .iter()
            .map(|d| {
                let label = format!("{} ({} indicators, {} charts)", d.dataset, d.indicators, d.charts);
                let selected = current.as_deref() == Some(d.dataset.as_str());
                view! { <option value=d.dataset.clone() selected=selected>{label}</option> }
            })
            .collect_view()
    };
    let from_options = options.clone()(from);
    let to_options = options(to);
    view! {
        <form method="get" action=upgrade_url(&branch) class="upgrade-pick" data-testid="dataset-picker">
            <label>"From " <select name="from" data-testid="from">{from_options}</select></label>
            <label>" to " <select name="to" data-testid="to">{to_options}</select></label>
            <button type="submit" data-testid="show-mapping">"Show the mapping"</button>
        </form>
    }
    .into_any()
}

#[component]
fn MappingSection(branch: String, from: String, to: String) -> impl IntoView {
    let preview = Resource::new(
        {
            let (b, f, t) = (branch.clone(), from.clone(), to.clone());
            move || (b.clone(), f.clone(), t.clone())
        },
        |(b, f, t)| upgrade_preview(b, f, t),
    );
    view! {
        <Suspense fallback=|| view! { <p class="loading">"Matching the indicators…"</p> }>
            {move || {
                let branch = branch.clone();
                Suspend::new(async move {
                    match preview.await {
                        Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                        Ok(p) => view! { <MappingForm branch preview=p /> }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
    .into_any()
}

#[component]
fn MappingRow(pair: Pair, choices: Vec<(String, String)>) -> impl IntoView {
    let field = format!("map:{}", pair.old);
    let current = pair.new.clone().unwrap_or_default();
    let options = choices
        .into_iter()
        .map(|(id, name)| {
            let selected = id == current;
            view! { <option value=id.clone() selected=selected>{format!("{name} — {id}")}</option> }
        })
        .collect_view();
    let score = if pair.new.is_some() { format!("{:.2}", pair.score) } else { "–".into() };
    view! {
        <tr data-testid="mapping-row" data-old=pair.old.clone()>
            <td>{pair.old_name.clone()}<div class="muted">{pair.old.clone()}</div></td>
            <td>
                <select name=field data-testid="mapping-select">
                    <option value="" selected=current.is_empty()>"— leave alone —"</option>
                    {options}
                </select>
            </td>
            <td class="num" data-testid="score">{score}</td>
            <td class="num">{format!("{} / {}", pair.rows_in_common, pair.old_rows)}</td>
            <td class="num">{pair.values_changed}</td>
            <td class="num">{percent(pair.max_relative_change)}</td>
        </tr>
    }
    .into_any()
}

#[component]
fn MappingForm(branch: String, preview: Preview) -> impl IntoView {
    let choices: Vec<(String, String)> =
        preview.new_indicators.iter().map(|i| (i.id.clone(), i.name.clone())).collect();
    let rows =
        preview.pairs.iter().cloned().map(|pair| view! { <MappingRow pair choices=choices.clone() /> }).collect_view();
    let shown = 200;
    let more = preview.charts.len().saturating_sub(shown);
    let charts = preview
        .charts
        .iter()
        .take(shown)
        .map(|id| view! { <li><a href=chart_url(&branch, id)>{id.clone()}</a></li> })
        .collect_view();
    let action = format!("{}/upgrade/apply", branch_url(&branch));
    view! {
        <form method="post" action=action data-testid="mapping-form">
            <input type="hidden" name="from" value=preview.from.clone() />
            <input type="hidden" name="to" value=preview.to.clone() />
            <table class="mapping" data-testid="mapping">
                <thead>
                    <tr>
                        <th>"Old indicator"</th>
                        <th>"New indicator"</th>
                        <th>"Score"</th>
                        <th>"Rows in common"</th>
                        <th>"Values changed"</th>
                        <th>"Largest change"</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
            {(!preview.unmatched_new.is_empty())
                .then(|| view! {
                    <p data-testid="unmatched-new">
                        "New indicators nothing maps to: " {preview.unmatched_new.join(", ")}
                    </p>
                })}
            <h2>{format!("Charts that will change ({})", preview.charts.len())}</h2>
            <ul class="upgrade-charts" data-testid="upgrade-charts">{charts}</ul>
            {(more > 0).then(|| view! { <p class="muted">{format!("… and {more} more")}</p> })}
            <button type="submit" class="primary" data-testid="apply-upgrade">"Apply the upgrade"</button>
        </form>
    }
    .into_any()
}

#[component]
pub fn UpgradeDetailPage() -> impl IntoView {
    let params = use_params_map();
    let branch = move || params.read().get("branch").unwrap_or_default();
    let id = move || params.read().get("id").and_then(|i| i.parse::<i64>().ok()).unwrap_or(0);
    let upgrade = Resource::new(move || (branch(), id()), |(b, i)| get_upgrade(b, i));
    let me = super::user_resource();
    view! {
        <Notices />
        <Suspense fallback=|| view! { <p class="loading">"Loading the upgrade…"</p> }>
            {move || Suspend::new(async move {
                let can_review = me.can(Role::Reviewer).await;
                match upgrade.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(u) => view! { <UpgradeBody upgrade=u can_review /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn UpgradeBody(upgrade: Upgrade, can_review: bool) -> impl IntoView {
    let u = upgrade;
    let base = upgrade_page_url(&u.branch, u.id);
    let mapping = u
        .mapping
        .iter()
        .map(|(old, new)| {
            view! {
                <tr>
                    <td>{old.clone()}</td>
                    <td>{new.clone().unwrap_or_else(|| "— left alone —".into())}</td>
                </tr>
            }
        })
        .collect_view();
    let charts = u
        .charts
        .iter()
        .map(|c| {
            view! {
                <tr data-testid="upgrade-chart">
                    <td><a href=chart_url(&u.branch, &c.chart_id)>{c.chart_id.clone()}</a></td>
                    <td>{c.outcome.clone()}</td>
                    <td>{c.reason.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let actions = (can_review && u.undone_at.is_none()).then(|| {
        view! {
            <div class="upgrade-actions">
                <form method="post" action=format!("{base}/approve")>
                    <button type="submit" class="primary" data-testid="approve-upgrade">"Approve all its items"</button>
                </form>
                <form method="post" action=format!("{base}/undo")>
                    <button type="submit" data-testid="undo-upgrade">"Undo this upgrade"</button>
                </form>
            </div>
        }
    });
    view! {
        <p><a href=upgrade_url(&u.branch)>"← dataset upgrades of " {u.branch.clone()}</a></p>
        <h1 data-testid="upgrade-title">{format!("Upgrade #{}: {} → {}", u.id, u.from, u.to)}</h1>
        <p class="muted">
            {format!("by {} · {} · {} updated, {} unchanged, {} skipped", u.actor, short_time(&u.created_at), u.updated, u.unchanged, u.skipped)}
            {u.undone_at.as_deref().map(|at| format!(" · undone {} by {}", short_time(at), u.undone_by.clone().unwrap_or_default()))}
        </p>
        <p>
            <a href=upgrade_items_url(&u.branch, u.id) data-testid="upgrade-items-link">
                {format!("Review the {} charts of this upgrade", u.updated)}
            </a>
        </p>
        {actions}
        <h2>"Mapping"</h2>
        <table class="mapping"><thead><tr><th>"Old"</th><th>"New"</th></tr></thead><tbody>{mapping}</tbody></table>
        <h2>"Charts"</h2>
        <table class="job-items"><thead><tr><th>"Chart"</th><th>"Outcome"</th><th>"Reason"</th></tr></thead><tbody>{charts}</tbody></table>
    }
    .into_any()
}

/// The banner of a diff list filtered to one upgrade: what it is, and approve-all.
#[component]
pub fn UpgradeBanner(branch: String, id: i64, can_review: bool) -> impl IntoView {
    let page = upgrade_page_url(&branch, id);
    view! {
        <p class="notice" data-testid="upgrade-filter">
            {format!("Showing the charts of dataset upgrade #{id}. ")}
            <a href=page.clone()>"The upgrade"</a>
            " · "
            <a href=branch_url(&branch)>"all items"</a>
        </p>
        {can_review.then(|| view! {
            <form method="post" action=format!("{page}/approve")>
                <button type="submit" class="primary" data-testid="approve-upgrade">"Approve all charts of this upgrade"</button>
            </form>
        })}
    }
    .into_any()
}

/// The link from a branch's diff to its upgrader.
pub fn upgrader_link(branch: &str) -> impl IntoView {
    view! { <a href=upgrade_url(branch) data-testid="upgrader-link">"Dataset upgrades"</a> }
}
