//! The landing page: the chain of targets (design §10), and under each target the environments
//! and branches checked against it, each with its counts for that hop. Without `[targets]` there
//! is one target, `production`, and the page is the list of branches.

use leptos::prelude::*;

use super::common::links::branch_url;
use super::common::{short_time, ErrorBox};
use crate::api::{list_branches, list_targets};
use crate::types::{BranchSummary, TargetSummary};

#[component]
pub fn BranchesPage() -> impl IntoView {
    let branches = Resource::new(|| (), |_| list_branches());
    let targets = Resource::new(|| (), |_| list_targets());
    view! {
        <h1>"Branches"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading branches…"</p> }>
            {move || Suspend::new(async move {
                match (branches.await, targets.await) {
                    (Err(e), _) | (_, Err(e)) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    (Ok(list), _) if list.is_empty() => {
                        view! {
                            <section class="empty">
                                <p>"No staging environment is registered yet."</p>
                                <p>
                                    "Register one with " <code>"chartgate branch add BRANCH --store URL"</code>
                                    " or " <code>"POST /api/v1/branches"</code> "."
                                </p>
                            </section>
                        }
                            .into_any()
                    }
                    (Ok(list), Ok(targets)) => view! { <Chain targets list /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// How a target is promoted, in words.
fn promotion(t: &TargetSummary) -> String {
    match (&t.promotes_to, t.promote_on.as_str()) {
        (None, _) => "end of the chain".into(),
        (Some(next), "release") => format!("promoted to {next} when a release is published"),
        (Some(next), "merge") => {
            format!(
                "promoted to {next} when a pull request merges into {}",
                t.promote_branch.as_deref().unwrap_or(&t.name)
            )
        }
        (Some(next), _) => format!("promoted to {next} by a manual sync"),
    }
}

/// One section per target, the end of the chain first; a target with one lone branch list (the
/// common set-up) still gets its heading, so a page reads the same however many targets exist.
#[component]
fn Chain(targets: Vec<TargetSummary>, list: Vec<BranchSummary>) -> impl IntoView {
    let several = targets.len() > 1;
    let known: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    let orphans: Vec<BranchSummary> = list.iter().filter(|b| !known.contains(&b.target)).cloned().collect();
    let sections = targets
        .into_iter()
        .map(|t| {
            let rows: Vec<BranchSummary> = list.iter().filter(|b| b.target == t.name).cloned().collect();
            let pending: i64 = rows.iter().map(|b| b.counts.pending).sum();
            let heading = match &t.promotes_to {
                Some(next) if several => format!("{} → {next}", t.name),
                _ => t.name.clone(),
            };
            view! {
                <section class="target" data-testid="target" data-target=t.name.clone() aria-label=format!("Target {}", t.name)>
                    <h2>
                        <span class="target-name">{heading}</span>
                        {t.default.then(|| view! { <span class="badge">"default"</span> })}
                    </h2>
                    <p class="muted">
                        {promotion(&t)}
                        {t.store_url.clone().map(|url| view! { " · store " <code>{url}</code> })}
                        {(!t.sync_on_merge).then_some(" · merged branches wait for a manual sync")}
                    </p>
                    {if rows.is_empty() {
                        view! { <p class="muted" data-testid="target-empty">"Nothing is checked against this target yet."</p> }
                            .into_any()
                    } else {
                        view! {
                            <p class="muted">{format!("{} checked against {} · {pending} pending", rows.len(), t.name)}</p>
                            <BranchTable list=rows target=t.name.clone() />
                        }
                            .into_any()
                    }}
                </section>
            }
            .into_any()
        })
        .collect_view();
    view! {
        {sections}
        {(!orphans.is_empty())
            .then(|| {
                view! {
                    <section class="target" data-testid="target" data-target="" aria-label="Targets no longer configured">
                        <h2>"Targets no longer configured"</h2>
                        <p class="muted">"These branches name a target the configuration no longer has."</p>
                        <BranchTable list=orphans target="an unknown target".to_string() />
                    </section>
                }
            })}
    }
}

#[component]
fn BranchTable(list: Vec<BranchSummary>, target: String) -> impl IntoView {
    view! {
        <table class="branches">
            <caption class="visually-hidden">{format!("Branches and environments checked against {target}")}</caption>
            <thead>
                <tr>
                    <th scope="col">"Branch"</th>
                    <th scope="col">"State"</th>
                    <th scope="col" class="num">"New"</th>
                    <th scope="col" class="num">"Modified"</th>
                    <th scope="col" class="num">"Deleted"</th>
                    <th scope="col" class="num">"Conflicts"</th>
                    <th scope="col" class="num">"Pending"</th>
                    <th scope="col" class="num">"Approved"</th>
                    <th scope="col" class="num">"Rejected"</th>
                    <th scope="col">"Last scan"</th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|b| {
                        let href = branch_url(&b.name);
                        let c = b.counts.clone();
                        let hop = format!("{} → {}", b.name, b.target);
                        view! {
                            <tr data-testid="branch-row" data-kind=b.kind.clone() title=hop>
                                <td>
                                    <a href=href>{b.name.clone()}</a>
                                    {(b.kind == "target")
                                        .then(|| view! { <span class="badge environment">"environment"</span> })}
                                    {(b.raw_name != b.name)
                                        .then(|| view! { <div class="muted">{b.raw_name.clone()}</div> })}
                                    {b
                                        .preview_url
                                        .clone()
                                        .map(|u| {
                                            view! {
                                                <div>
                                                    <a class="muted" href=u rel="noopener" target="_blank">
                                                        "preview"
                                                    </a>
                                                </div>
                                            }
                                        })}
                                </td>
                                <td>
                                    <span class=format!("badge state-{}", b.state)>{b.state.clone()}</span>
                                </td>
                                <td class="num">{c.new}</td>
                                <td class="num">{c.modified}</td>
                                <td class="num">{c.deleted}</td>
                                <td class="num">{c.conflicts}</td>
                                <td class="num">{c.pending}</td>
                                <td class="num">{c.approved}</td>
                                <td class="num">{c.rejected}</td>
                                <td>
                                    {b
                                        .last_scan_at
                                        .as_deref()
                                        .map(short_time)
                                        .unwrap_or_else(|| "never".into())}
                                    {b
                                        .scan_error
                                        .clone()
                                        .map(|e| view! { <div class="error-text">{e}</div> })}
                                </td>
                            </tr>
                        }
                        .into_any()
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}
