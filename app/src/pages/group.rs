//! Review at scale (design §11): a branch's items shown by group — items whose change is the
//! same — and one group's page: the change in words, one representative chart drawn in full
//! with its diffs, small previews of the others, and one decision for all of them.
//!
//! Deciding is a plain `<form method="post">` first (it works without WebAssembly); it sends
//! back the items and hashes the page showed, so an item that moved since is refused, not
//! decided. Once hydrated, the buttons decide through the `review_group` server function and
//! reload the group.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_params_map};

use super::chart_svg::ChartSvg;
use super::common::links::{branch_url, chart_url, segment};
use super::common::{kind_label, ErrorBox, ItemBadges};
use super::diff_detail::{DataDiffView, JsonDiffView};
use super::review::{group_flash, here, ui};
use crate::api::{get_group, list_groups, review_group};
use crate::types::{ChangeGroup, GroupDetail, GroupReviewRequest, ReviewStatus, Role, SeenItem};

/// The groups page of a branch.
pub fn groups_url(branch: &str) -> String {
    format!("{}/groups", branch_url(branch))
}

/// One group of a branch.
pub fn group_url(branch: &str, id: &str) -> String {
    format!("{}/{}", groups_url(branch), segment(id))
}

#[component]
pub fn GroupsPage() -> impl IntoView {
    let params = use_params_map();
    let branch = move || params.read().get("branch").unwrap_or_default();
    let groups = Resource::new(branch, list_groups);
    view! {
        <h1>"Branch " <span class="branch-name">{branch}</span> " by group"</h1>
        <p class="muted">
            "Charts whose change is the same — the same edits at the same paths — form one group, to read once and decide once. "
            <a href=move || branch_url(&branch()) data-testid="show-list">"Show as a list"</a>
        </p>
        <Transition fallback=|| view! { <p class="loading">"Loading the groups…"</p> }>
            {move || Suspend::new(async move {
                let b = branch();
                match groups.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(list) if list.is_empty() => view! {
                        <section class="empty" data-testid="groups-empty"><p>"This branch changes no chart."</p></section>
                    }.into_any(),
                    Ok(list) => view! { <GroupTable branch=b list /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn GroupTable(branch: String, list: Vec<ChangeGroup>) -> impl IntoView {
    let shared = list.iter().filter(|g| g.items.len() > 1).count();
    view! {
        <p class="muted" data-testid="groups-count">
            {format!("{} groups, {} of them shared by several charts", list.len(), shared)}
        </p>
        <table class="groups" data-testid="groups">
            <caption class="visually-hidden">"Groups of charts with the same change"</caption>
            <thead>
                <tr>
                    <th scope="col">"Change"</th>
                    <th scope="col">"Kind"</th>
                    <th scope="col">"Parts"</th>
                    <th scope="col" class="num">"Charts"</th>
                    <th scope="col" class="num">"Pending"</th>
                </tr>
            </thead>
            <tbody>
                {list
                    .into_iter()
                    .map(|g| {
                        let href = group_url(&branch, &g.id);
                        view! {
                            <tr data-testid="group-row" data-group-id=g.id.clone()>
                                <td>
                                    <a href=href class="title" data-testid="group-summary">{g.summary.clone()}</a>
                                    <div class="muted slug">
                                        {g.items.iter().take(3).map(|i| i.slug.clone()).collect::<Vec<_>>().join(", ")}
                                        {(g.items.len() > 3).then(|| format!(", … {} more", g.items.len() - 3))}
                                    </div>
                                </td>
                                <td>
                                    <span class=format!("badge kind-{}", g.kind.as_str())>{kind_label(g.kind)}</span>
                                    {g.conflict.then(|| view! { <span class="badge conflict">"CONFLICT"</span> })}
                                </td>
                                <td>{g.parts.join(", ")}</td>
                                <td class="num" data-testid="group-size">{g.items.len()}</td>
                                <td class="num">{g.pending}</td>
                            </tr>
                        }
                        .into_any()
                    })
                    .collect_view()}
            </tbody>
        </table>
    }
}

#[component]
pub fn GroupPage() -> impl IntoView {
    let params = use_params_map();
    let key = move || {
        let p = params.read();
        (p.get("branch").unwrap_or_default(), p.get("id").unwrap_or_default())
    };
    let detail = Resource::new(key, |(b, id)| get_group(b, id));
    let reload = Callback::new(move |_| detail.refetch());
    let me = super::user_resource();
    view! {
        <Transition fallback=|| view! { <p class="loading">"Loading the group…"</p> }>
            {move || Suspend::new(async move {
                let (branch, _) = key();
                let can_review = me.can(Role::Reviewer).await;
                match detail.await {
                    Err(e) => view! {
                        <nav class="crumbs" aria-label="Group navigation">
                            <a href=groups_url(&branch)>{format!("← {branch} by group")}</a>
                        </nav>
                        <ErrorBox message=e.to_string() />
                    }.into_any(),
                    Ok(d) => view! { <GroupBody branch d reload can_review /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn GroupBody(branch: String, d: GroupDetail, reload: Callback<()>, can_review: bool) -> impl IntoView {
    let g = d.group.clone();
    let rep = d.representative.clone();
    let target_label = if rep.target == "production" { "Production".to_string() } else { rep.target.clone() };
    let old = rep.production.clone().or(rep.baseline.clone());
    view! {
        <nav class="crumbs" aria-label="Group navigation">
            <a href=groups_url(&branch)>{format!("← {branch} by group")}</a>
        </nav>
        <h1 data-testid="group-title">{g.summary.clone()}</h1>
        <p class="muted" data-testid="group-facts">
            {format!(
                "{} charts · {} · {} pending",
                g.items.len(),
                if g.parts.is_empty() { "no part".to_string() } else { g.parts.join(", ") },
                g.pending
            )}
        </p>
        <section class="review-panel" data-testid="group-review" aria-label="Decide the group">
            {if can_review {
                view! { <GroupControls branch=branch.clone() group=g.clone() reload /> }.into_any()
            } else {
                view! { <p class="muted">"Your role can view but not decide."</p> }.into_any()
            }}
        </section>
        <section aria-label="Representative chart" data-testid="representative">
            <h2>
                "One of them in full: "
                <a href=chart_url(&branch, &rep.item.chart_id)>{rep.item.title.clone()}</a>
            </h2>
            <div class="charts side-by-side">
                <ChartSvg version=rep.production.clone().or(rep.baseline.clone()) other=rep.staging.clone() label=target_label />
                <ChartSvg version=rep.staging.clone() other=old label="Staging" />
            </div>
            <h3>"Config"</h3>
            <JsonDiffView diff=rep.config_diff.clone() />
            <h3>"Data"</h3>
            <DataDiffView diff=rep.data_diff.clone() />
            <h3>"Metadata"</h3>
            <JsonDiffView diff=rep.metadata_diff.clone() />
        </section>
        <GroupRest branch=branch.clone() d=d.clone() />
    }
    .into_any()
}

/// Previews of the group's other charts (staging drawn, what differs from production marked),
/// then every item by name.
#[component]
fn GroupRest(branch: String, d: GroupDetail) -> impl IntoView {
    let previews = d.previews.clone();
    let items = d.group.items.clone();
    view! {
        <section aria-label="The other charts" data-testid="group-others">
            <h2>{format!("The other {} charts", items.len().saturating_sub(1))}</h2>
            <div class="group-thumbs" data-testid="group-thumbs">
                {previews
                    .into_iter()
                    .map(|p| {
                        let href = chart_url(&branch, &p.chart_id);
                        view! {
                            <a class="thumb" href=href data-testid="group-thumb">
                                <ChartSvg version=p.staging other=p.production label="Staging" />
                            </a>
                        }
                        .into_any()
                    })
                    .collect_view()}
            </div>
            <table class="diffs" data-testid="group-items">
                <caption class="visually-hidden">"Every chart of the group"</caption>
                <thead>
                    <tr><th scope="col">"Chart"</th><th scope="col">"State"</th></tr>
                </thead>
                <tbody>
                    {items
                        .into_iter()
                        .map(|i| {
                            view! {
                                <tr data-testid="group-item" data-chart-id=i.chart_id.clone()>
                                    <td>
                                        <a href=chart_url(&branch, &i.chart_id) class="title">{i.title.clone()}</a>
                                        <div class="muted slug">{i.slug.clone()}</div>
                                    </td>
                                    <td><ItemBadges item=i.clone() /></td>
                                </tr>
                            }
                            .into_any()
                        })
                        .collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

/// Approve / reject / reset for the whole group: a plain form that carries what the page showed.
#[component]
fn GroupControls(branch: String, group: ChangeGroup, reload: Callback<()>) -> impl IntoView {
    let location = use_location();
    let comment = NodeRef::<leptos::html::Textarea>::new();
    let seen: Vec<SeenItem> = group
        .items
        .iter()
        .map(|i| SeenItem {
            chart_id: i.chart_id.clone(),
            staging_hash: i.staging_hash.clone(),
            production_hash: i.production_hash.clone(),
        })
        .collect();
    let seen_json = serde_json::to_string(&seen).unwrap_or_else(|_| "[]".into());
    let action = format!("{}/review", group_url(&branch, &group.id));
    let busy = RwSignal::new(false);
    let conflict = group.conflict;
    let button = {
        let (branch, id) = (branch.clone(), group.id.clone());
        move |status: ReviewStatus, label: &'static str| {
            let (branch, id, seen) = (branch.clone(), id.clone(), seen.clone());
            let disabled = conflict && status == ReviewStatus::Approved;
            view! {
                <button
                    type="submit"
                    name="status"
                    value=status.as_str()
                    class=format!("decide decide-{}", status.as_str())
                    data-testid=format!("group-decide-{}", status.as_str())
                    disabled=move || disabled || busy.get()
                    on:click=move |ev| {
                        ev.prevent_default();
                        let text = comment.get_untracked().map(|c| c.value()).filter(|c| !c.trim().is_empty());
                        let request = GroupReviewRequest { status, comment: text, items: Some(seen.clone()) };
                        let (branch, id) = (branch.clone(), id.clone());
                        let flash = ui().flash;
                        busy.set(true);
                        leptos::task::spawn_local(async move {
                            match review_group(branch, id, request).await {
                                Ok(r) => flash.set(Some(group_flash(status.as_str(), r.decided.len(), r.refused.len()))),
                                Err(e) => flash.set(Some(super::review::Flash { kind: "error", text: format!("Not saved: {e}") })),
                            }
                            busy.set(false);
                            reload.run(());
                        });
                    }
                >
                    {label}
                </button>
            }
        }
    };
    view! {
        <form method="post" action=action class="review-controls" data-testid="group-form">
            <input type="hidden" name="seen" value=seen_json />
            <input type="hidden" name="next" value=move || here(&location.pathname.get(), &location.search.get()) />
            <label for="group-comment" class="visually-hidden">"Comment"</label>
            <textarea id="group-comment" node_ref=comment name="comment" rows="2" placeholder="Comment (optional), recorded on every chart" maxlength="4000"></textarea>
            <div class="buttons">
                {button(ReviewStatus::Approved, "Approve all")}
                {button(ReviewStatus::Rejected, "Reject all")}
                {button(ReviewStatus::Pending, "Reset all")}
            </div>
            {conflict.then(|| view! {
                <p class="conflict-note">"These charts are conflicts: approve each on its own page after looking at production's change."</p>
            })}
            <p class="muted">"Each chart is decided on the content shown here; a chart that changed since is refused and stays as it was."</p>
        </form>
    }
}
