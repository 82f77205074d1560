//! Sync jobs: the latest jobs, and one job's live progress (items done of total, the outcome of
//! every item, counts by outcome), with a re-run button for leads (a plain form).

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;

use super::common::links::{branch_url, version_url};
use super::common::{short_time, ErrorBox};
use crate::api::{get_job, list_jobs};
use crate::sync::SyncJob;
use crate::types::Role;

#[component]
pub fn JobsPage() -> impl IntoView {
    let jobs = Resource::new(|| (), |_| list_jobs(None));
    view! {
        <h1>"Sync jobs"</h1>
        <Suspense fallback=|| view! { <p class="loading">"Loading jobs…"</p> }>
            {move || Suspend::new(async move {
                match jobs.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="empty" data-testid="jobs-empty">
                            <p>"No sync has run yet. A merge hook, " <code>"POST /api/v1/sync"</code> " or " <code>"chartgate sync BRANCH"</code> " starts one."</p>
                        </section>
                    }.into_any(),
                    Ok(list) => view! {
                        <table class="jobs" data-testid="jobs-table">
                            <thead><tr><th>"Job"</th><th>"Branch"</th><th>"Hop"</th><th>"Status"</th><th>"Progress"</th><th>"Trigger"</th><th>"By"</th><th>"Created"</th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|j| view! {
                                    <tr data-testid="job-row">
                                        <td><a href=format!("/jobs/{}", j.id)>{format!("#{}", j.id)}</a>{j.dry_run.then_some(" (dry run)")}</td>
                                        <td><a href=branch_url(&j.branch)>{j.branch.clone()}</a></td>
                                        <td class="hop" data-testid="job-hop">{j.hop.clone()}</td>
                                        <td><span class=format!("badge job-{}", j.status.as_str())>{j.status.as_str()}</span></td>
                                        <td class="num">{format!("{} / {}", j.done, j.total)}</td>
                                        <td>{j.trigger.as_str()}</td>
                                        <td>{j.actor.clone()}</td>
                                        <td class="muted">{short_time(&j.created_at)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn JobPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").and_then(|i| i.parse::<i64>().ok()).unwrap_or(0);
    let job = Resource::new(id, get_job);
    let me = super::user_resource();
    // Live progress: poll while the job is not finished (browser only).
    Effect::new(move |_| {
        let handle = set_interval_with_handle(
            move || {
                let finished = job.get_untracked().and_then(|j| j.ok()).is_some_and(|j| j.status.is_finished());
                if !finished {
                    job.refetch();
                }
            },
            std::time::Duration::from_millis(1000),
        );
        if let Ok(h) = handle {
            on_cleanup(move || h.clear());
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading the job…"</p> }>
            {move || Suspend::new(async move {
                let lead = me.can(Role::Lead).await;
                match job.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(j) => view! { <JobBody job=j lead /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn JobBody(job: SyncJob, lead: bool) -> impl IntoView {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for item in &job.items {
        let key = item.outcome.map(|o| o.as_str().to_string()).unwrap_or_else(|| "waiting".into());
        *counts.entry(key).or_default() += 1;
    }
    let pct = if job.total > 0 { job.done as f64 * 100.0 / job.total as f64 } else { 0.0 };
    view! {
        <p><a href="/jobs">"← all jobs"</a></p>
        <h1>{format!("Sync job #{}", job.id)} {job.dry_run.then(|| view! { <span class="badge">"DRY RUN"</span> })}</h1>
        <p>
            <span class=format!("badge job-{}", job.status.as_str()) data-testid="job-status">{job.status.as_str()}</span>
            " " <span class="hop" data-testid="job-hop">{job.hop.clone()}</span>
            {format!(" · {} by {} · created {}", job.trigger.as_str(), job.actor, short_time(&job.created_at))}
            {job.finished_at.as_deref().map(|f| format!(" · finished {}", short_time(f)))}
        </p>
        {job.error.clone().map(|e| view! { <ErrorBox message=e /> })}
        <div class="progress" data-testid="job-progress" role="progressbar" aria-valuenow=job.done aria-valuemax=job.total>
            <div class="progress-bar" style=format!("width:{pct:.1}%")></div>
            <span>{format!("{} of {} items", job.done, job.total)}</span>
        </div>
        <p class="outcome-counts" data-testid="outcome-counts">
            {counts.into_iter().map(|(k, n)| view! { <span class=format!("badge outcome-{k}")>{format!("{k}: {n}")}</span> }).collect_view()}
        </p>
        {(lead && job.status.is_finished()).then(|| view! {
            <form method="post" action=format!("/jobs/{}/rerun", job.id)>
                <button type="submit" class="primary" data-testid="rerun">"Run this sync again"</button>
            </form>
        })}
        <table class="job-items" data-testid="job-items">
            <thead><tr><th>"Chart"</th><th>"Action"</th><th>"Outcome"</th><th>"Reason"</th><th>"Version"</th></tr></thead>
            <tbody>
                {job.items.iter().map(|i| view! {
                    <tr>
                        <td>{i.slug.clone()}<div class="muted">{i.chart_id.clone()}</div></td>
                        <td>{i.action.as_str()}</td>
                        <td>{i.outcome.map(|o| o.as_str()).unwrap_or("waiting")}</td>
                        <td>{i.reason.clone()}</td>
                        <td>{i.version.clone().map(|h| view! { <a href=version_url(&h)><code>{h.chars().take(10).collect::<String>()}</code></a> })}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
    }
}
