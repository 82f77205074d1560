//! One changed chart: production and staging drawn side by side, stacked, overlaid or swiped
//! ([`compare`]; baseline too for conflicts), the review controls, then the config diff (side by side, changed words marked), the data
//! diff (old → new by row key), the metadata diff, and every decision ever made on the chart.

mod compare;
mod live;
mod team;

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use super::common::links::{branch_url, chart_url, segment, version_url};
use super::common::{short_hash, short_time, ErrorBox, ItemBadges};
use super::merge::MergeView;
use super::review::{submit_review, ui, ReviewControls};
use crate::api::get_diff;
use crate::types::{
    AuditEvent, DataDiff, DiffDetail, DiffItem, Hunk, HunkLine, JsonDiff, ReviewStatus, Role, RowChange, SinceApproval,
};
use compare::{switch_view, ComparedCharts, Layout, LayoutSwitch};
use live::{LiveFrames, LiveLinks};
pub(super) use team::AskForReview;
use team::{Thread, Verdicts};

#[component]
pub fn DiffDetailPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        (p.get("branch").unwrap_or_default(), p.get("chart_id").unwrap_or_default())
    };
    let detail = Resource::new(key, |(b, c)| get_diff(b, c));
    let reload = Callback::new(move |_| detail.refetch());
    let me = super::user_resource();
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading the chart…"</p> }>
            {move || Suspend::new(async move {
                let (branch, _) = key();
                let can_review = me.can(Role::Reviewer).await;
                let is_lead = me.can(Role::Lead).await;
                match detail.await {
                    Err(e) => {
                        let back = (branch_url(&branch), "Back to the branch's changes");
                        view! { <ErrorBox message=e.to_string() back /> }.into_any()
                    }
                    Ok(d) => view! { <DetailBody branch d reload can_review is_lead /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn DetailBody(branch: String, d: DiffDetail, reload: Callback<()>, can_review: bool, is_lead: bool) -> impl IntoView {
    let item = RwSignal::new(d.item.clone());
    let snapshot: DiffItem = d.item.clone();
    let query = use_query_map();
    let layout = Memo::new(move |_| Layout::from_query(query.read().get("layout").as_deref()));
    // The live renderings are a page load of their own (see `live`): read once, not tracked.
    let live = query.read_untracked().get(live::QUERY).is_some_and(|v| v == "1")
        && (d.production_preview_url.is_some() || d.staging_preview_url.is_some());
    if live {
        crate::pages::allow_frames(&d.preview_origins);
    }
    let this_url = chart_url(&branch, &snapshot.chart_id);
    let link = |id: &Option<String>| id.as_deref().map(|id| chart_url(&branch, id));
    let (prev, next) = (link(&d.prev_chart_id), link(&d.next_chart_id));
    {
        let (prev, next, branch, this_url) = (prev.clone(), next.clone(), branch.clone(), this_url.clone());
        let navigate = use_navigate();
        let help = ui().help;
        super::review::use_shortcuts(move |key| match key {
            "j" => {
                if let Some(n) = &next {
                    navigate(&layout.get_untracked().keep(n), Default::default());
                }
            }
            "k" => {
                if let Some(p) = &prev {
                    navigate(&layout.get_untracked().keep(p), Default::default());
                }
            }
            "v" => switch_view(&navigate, &layout.get_untracked().next().href(&this_url)),
            "?" => help.update(|h| *h = !*h),
            "Escape" => help.set(false),
            "a" | "r" | "u" if can_review => {
                let status = match key {
                    "a" => ReviewStatus::Approved,
                    "r" => ReviewStatus::Rejected,
                    _ => ReviewStatus::Pending,
                };
                let comment = document()
                    .get_element_by_id("review-comment")
                    .and_then(|e| {
                        leptos::wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::HtmlTextAreaElement>(e).ok()
                    })
                    .map(|t| t.value());
                submit_review(branch.clone(), item, status, comment, reload);
            }
            _ => {}
        });
    }
    let review = move || item.get().review;
    let readable = snapshot.error.is_none();
    // A side with no hash is absent, or unreadable when the item's error names that side.
    let side_hash = {
        let error = snapshot.error.clone();
        move |side: &str, hash: &Option<String>| match (hash, &error) {
            (None, Some(e)) if e.starts_with(&format!("{side} ")) => "unreadable".to_string(),
            _ => short_hash(hash),
        }
    };
    let conflict = snapshot.conflict;
    let (baseline, staging, production) = (d.baseline.clone(), d.staging.clone(), d.production.clone());
    // The side the branch is checked against: "Production" unless the branch has another target.
    let target_label = if d.target == "production" { "Production".to_string() } else { d.target.clone() };
    view! {
        <nav class="crumbs" aria-label="Chart navigation">
            <a href=branch_url(&branch)>{format!("← {branch}")}</a>
            <span class="nav-items">
                {prev.map(|p| view! { <a href=move || layout.get().keep(&p) rel="prev" title="previous (k)">"← previous"</a> })}
                {next.map(|n| view! { <a href=move || layout.get().keep(&n) rel="next" title="next (j)">"next →"</a> })}
            </span>
        </nav>
        <h1 data-testid="chart-title">{snapshot.title.clone()}</h1>
        <p class="muted">
            {format!("{} · {} · changed {} · ", snapshot.slug, snapshot.chart_id, short_time(&snapshot.changed_at))}
            <span class="hop" data-testid="hop">{format!("{branch} → {}", d.target)}</span>
        </p>
        <p>{move || view! { <ItemBadges item=item.get() /> }}</p>
        {snapshot.error.clone().map(|e| view! { <Unreadable error=e /> })}
        {d.since_approval.clone().filter(|_| readable).map(|s| view! { <SinceApprovalView since=s branch=branch.clone() chart_id=snapshot.chart_id.clone() /> }.into_any())}
        <section class="review-panel" data-testid="review-panel" aria-label="Review">
            <div class="review-state">
                {move || {
                    let r = review();
                    let who = r
                        .reviewer
                        .clone()
                        .map(|who| format!(" by {who} at {}", r.at.as_deref().map(short_time).unwrap_or_default()))
                        .unwrap_or_default();
                    view! {
                        <strong data-testid="review-status">{r.effective().as_str()}</strong>
                        <span class="muted">{who}</span>
                        {r.stale.then(|| view! { <span class="badge stale">"STALE: the content changed since this decision"</span> })}
                        {r.comment.clone().map(|c| view! { <blockquote>{c}</blockquote> })}
                    }
                }}
            </div>
            {conflict
                .then(|| {
                    view! {
                        <p class="conflict-note">
                            "Conflict: production changed this chart since the branch forked. Look at the production side below before approving; the approval is bound to what production holds now."
                        </p>
                    }
                })}
            {view! { <Verdicts branch=branch.clone() item requested=d.requested.clone() is_lead /> }.into_any()}
            {if !readable {
                view! { <p class="muted" data-testid="no-decision">"No decision can be made until the row is readable."</p> }.into_any()
            } else if can_review {
                view! { <ReviewControls branch=branch.clone() item reload with_comment=true /> }.into_any()
            } else {
                view! { <p class="muted">"Your role can view but not decide."</p> }.into_any()
            }}
        </section>
        <dl class="hashes">
            <dt>"baseline"</dt>
            <dd><code>{side_hash("baseline", &snapshot.baseline_hash)}</code></dd>
            <dt>"staging"</dt>
            <dd><code>{side_hash("staging", &snapshot.staging_hash)}</code></dd>
            <dt>"production"</dt>
            <dd><code>{side_hash("production", &snapshot.production_hash)}</code></dd>
        </dl>
        <LiveLinks
            production=d.production_preview_url.clone()
            staging=d.staging_preview_url.clone()
            chart_url=this_url.clone()
            showing=live
        />
        {live.then(|| view! {
            <LiveFrames
                production=d.production_preview_url.clone()
                staging=d.staging_preview_url.clone()
                target_label=target_label.clone()
                slug=snapshot.slug.clone()
            />
        })}
        {readable.then(|| view! {
        <section aria-label="Charts">
            <h2 class="charts-head">
                "Charts"
                <LayoutSwitch layout chart_url=this_url.clone() />
            </h2>
            <ComparedCharts layout baseline=baseline.clone() production=production.clone() staging=staging.clone() conflict target_label=target_label.clone() />
        </section>
        <section aria-label="Config diff">
            <h2>"Config"</h2>
            <JsonDiffView diff=d.config_diff.clone() />
            {d.production_config_diff.clone().map(|pd| view! {
                <h3>"Production's own config changes since the fork"</h3>
                <JsonDiffView diff=pd />
            })}
        </section>
        <section aria-label="Data diff">
            <h2>"Data"</h2>
            <DataDiffView diff=d.data_diff.clone() />
        </section>
        <section aria-label="Metadata diff">
            <h2>"Metadata"</h2>
            <JsonDiffView diff=d.metadata_diff.clone() />
        </section>
        }.into_any())}
        {d.merge.clone().map(|plan| view! { <MergeView plan branch=branch.clone() can_review /> }.into_any())}
        {view! {
            <Thread branch=branch.clone() chart_id=snapshot.chart_id.clone() comments=d.comments.clone() can_comment=can_review />
            {can_review.then(|| view! { <AskForReview branch=branch.clone() chart_id=snapshot.chart_id.clone() /> })}
        }.into_any()}
        <section aria-label="Review history">
            <h2>"Review history of this chart"</h2>
            <History events=d.history.clone() />
        </section>
    }
}

fn show(v: &Option<serde_json::Value>) -> String {
    match v {
        None => "—".into(),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    }
}

/// A line of a hunk, with its changed words marked.
fn line_view(l: &HunkLine) -> impl IntoView {
    let words = if l.words.is_empty() { vec![(false, l.text.clone())] } else { l.words.clone() };
    words
        .into_iter()
        .map(|(emph, text)| if emph { view! { <mark>{text}</mark> }.into_any() } else { text.into_any() })
        .collect_view()
}

/// Pairs each run of deleted lines with the inserted lines that follow it, for two columns.
fn side_by_side(h: &Hunk) -> Vec<(Option<HunkLine>, Option<HunkLine>)> {
    let mut rows = Vec::new();
    let mut i = 0;
    let lines = &h.lines;
    while i < lines.len() {
        if lines[i].tag == "equal" {
            rows.push((Some(lines[i].clone()), Some(lines[i].clone())));
            i += 1;
            continue;
        }
        let dels: Vec<HunkLine> = lines[i..].iter().take_while(|l| l.tag == "delete").cloned().collect();
        i += dels.len();
        let ins: Vec<HunkLine> = lines[i..].iter().take_while(|l| l.tag == "insert").cloned().collect();
        i += ins.len();
        for k in 0..dels.len().max(ins.len()) {
            rows.push((dels.get(k).cloned(), ins.get(k).cloned()));
        }
    }
    rows
}

#[component]
pub(super) fn JsonDiffView(diff: JsonDiff) -> impl IntoView {
    if diff.changes.is_empty() {
        return view! { <p class="muted">"No change."</p> }.into_any();
    }
    let cell = |l: Option<HunkLine>| match l {
        Some(l) => view! { <td class=format!("code {}", l.tag)>{line_view(&l)}</td> }.into_any(),
        None => view! { <td class="code empty"></td> }.into_any(),
    };
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
        <table class="sbs" data-testid="side-by-side">
            <thead><tr><th>"Before"</th><th>"After"</th></tr></thead>
            {diff.hunks.iter().map(|h| view! {
                <tbody>
                    <tr class="hunk-head"><td colspan="2">{format!("@@ -{},{} +{},{} @@", h.old_start, h.old_len, h.new_start, h.new_len)}</td></tr>
                    {side_by_side(h).into_iter().map(|(old, new)| view! { <tr>{cell(old)}{cell(new)}</tr> }).collect_view()}
                </tbody>
            }).collect_view()}
        </table>
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
            <td class="arrow">"→"</td>
            <td class="new">{show(&r.new)}</td>
        </tr>
    }
}

#[component]
pub(super) fn DataDiffView(diff: DataDiff) -> impl IntoView {
    if diff.added.is_empty() && diff.removed.is_empty() && diff.changed.is_empty() {
        return view! { <p class="muted">{format!("No change ({} rows).", diff.unchanged)}</p> }.into_any();
    }
    view! {
        <p class="muted" data-testid="data-summary">
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
                <tr><th></th><th>"Series"</th><th>"Entity"</th><th>"Time"</th><th>"Old"</th><th></th><th>"New"</th></tr>
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

#[component]
fn History(events: Vec<AuditEvent>) -> impl IntoView {
    if events.is_empty() {
        return view! { <p class="muted" data-testid="history-empty">"No decision yet, on any branch."</p> }.into_any();
    }
    view! {
        <table class="history" data-testid="history">
            <thead><tr><th>"When"</th><th>"Branch"</th><th>"Who"</th><th>"Decision"</th><th>"Content"</th><th>"Comment"</th></tr></thead>
            <tbody>
                {events.into_iter().map(|e| {
                    let comment = e.detail.as_ref().and_then(|d| d.get("comment")).and_then(|c| c.as_str()).map(str::to_string);
                    view! {
                        <tr>
                            <td>{short_time(&e.at)}</td>
                            <td>{e.branch.clone().unwrap_or_default()}</td>
                            <td>{e.actor.clone()}</td>
                            <td>{if e.action == "merge.apply" { "merged".to_string() } else { e.action.trim_start_matches("review.").to_string() }}</td>
                            <td>
                                {e.staging_hash.clone().map(|h| view! {
                                    <a href=version_url(&h)><code>{h.chars().take(10).collect::<String>()}</code></a>
                                })}
                            </td>
                            <td>{comment}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// An item whose row cannot be read: the store's error, and why nothing else is shown.
#[component]
fn Unreadable(error: String) -> impl IntoView {
    view! {
        <div class="error-box" role="alert" data-testid="unreadable">
            <strong>"This chart's row is unreadable. "</strong>
            <span data-testid="unreadable-error">{error}</span>
            <p>"No diff is shown: it cannot be computed from a row that does not parse. Fix the row in its store; the next scan picks it up."</p>
        </div>
    }
}

/// What changed since the last approval (design §11): from the staging content the reviewer
/// approved to staging now, so a stale approval can be renewed by reading only the difference.
#[component]
fn SinceApprovalView(since: SinceApproval, branch: String, chart_id: String) -> impl IntoView {
    let api = format!("/api/v1/branches/{}/diffs/{}?against=approved", segment(&branch), segment(&chart_id));
    let moved = match (since.staging_moved, since.production_moved) {
        (true, true) => "Staging and production have both changed since.",
        (true, false) => "Staging has changed since.",
        (false, _) => "Staging holds the approved content; only production has changed since.",
    };
    view! {
        <section class="since-approval" data-testid="since-approval" aria-label="Since the last approval">
            <h2>"Since the last approval"</h2>
            <p>
                {format!("Approved by {} at {}, on staging content ", since.reviewer, short_time(&since.at))}
                {since.approved_staging_hash.clone().map(|h| view! { <a href=version_url(&h)><code>{short_hash(&Some(h.clone()))}</code></a> })}
                ". " {moved} " "
                <a class="muted" href=api>"(as JSON)"</a>
            </p>
            {since.staging_moved.then(|| view! {
                <h3>"Config since the approval"</h3>
                <JsonDiffView diff=since.config_diff.clone() />
                <h3>"Data since the approval"</h3>
                <DataDiffView diff=since.data_diff.clone() />
                <h3>"Metadata since the approval"</h3>
                <JsonDiffView diff=since.metadata_diff.clone() />
            })}
        </section>
    }
    .into_any()
}
