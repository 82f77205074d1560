//! Team review on a chart's page (design §14): every reviewer's verdict and what the policy still
//! needs, a lead's dismissal of a rejection, the conversation with its comment box, and asking a
//! colleague to look.
//!
//! Every control is a plain `<form method="post">` to the server's form endpoints, which act and
//! redirect back here with a notice: the same with or without WebAssembly. Comments are text:
//! Markdown is shown as typed, never turned into HTML.

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use super::super::common::links::{branch_url, chart_url};
use super::super::common::short_time;
use super::super::review::here;
use crate::types::{Comment, DiffItem, ReviewStatus, Verdict};

/// The verdicts on the item, what is missing, who owns it and who was asked.
#[component]
pub fn Verdicts(branch: String, item: RwSignal<DiffItem>, requested: Vec<String>, is_lead: bool) -> impl IntoView {
    let location = use_location();
    let next = move || here(&location.pathname.get(), &location.search.get());
    let dismiss_url = {
        let i = item.get_untracked();
        format!("{}/dismiss", chart_url(&branch, &i.chart_id))
    };
    view! {
        <div class="verdicts" data-testid="verdicts">
            {move || {
                let r = item.get().review;
                let progress = format!("{} of {} approvals", r.approvals.len(), r.required);
                view! {
                    <p>
                        <strong data-testid="progress">{progress}</strong>
                        {(!r.owners.is_empty()).then(|| view! {
                            <span class="muted" data-testid="owners">{format!(" · owners: {}", r.owners.join(", "))}</span>
                        })}
                    </p>
                    {r.missing.clone().map(|m| view! { <p class="missing" data-testid="missing">{m}</p> })}
                }
                .into_any()
            }}
            {move || {
                let r = item.get().review;
                let dismiss_url = dismiss_url.clone();
                let rows: Vec<Verdict> = r.approvals.iter().chain(r.rejections.iter()).cloned().collect();
                (!rows.is_empty()).then(|| view! {
                    <ul class="verdict-list" data-testid="verdict-list">
                        {rows.into_iter().map(|v| {
                            let dismissable = is_lead && v.status == ReviewStatus::Rejected && v.dismissed.is_none();
                            view! { <VerdictRow v=v.clone() stale=false dismiss=dismissable.then(|| dismiss_url.clone()) next=next() /> }.into_any()
                        }).collect_view()}
                    </ul>
                }.into_any())
            }}
            {move || {
                let stale = item.get().review.stale_verdicts;
                (!stale.is_empty()).then(|| view! {
                    <details class="stale-verdicts" data-testid="stale-verdicts">
                        <summary>{format!("{} verdict(s) on older content, not counted", stale.len())}</summary>
                        <ul class="verdict-list">
                            {stale.into_iter().map(|v| view! { <VerdictRow v stale=true dismiss=None next=String::new() /> }).collect_view()}
                        </ul>
                    </details>
                }.into_any())
            }}
            {(!requested.is_empty()).then(|| view! {
                <p class="muted" data-testid="requested">{format!("Asked to review: {}", requested.join(", "))}</p>
            })}
        </div>
    }
}

/// One verdict: who, what, when, their comment; a dismissed rejection says by whom and why; a
/// lead gets the dismissal form on a standing rejection.
#[component]
fn VerdictRow(v: Verdict, stale: bool, dismiss: Option<String>, next: String) -> impl IntoView {
    let what = match v.status {
        ReviewStatus::Approved => "approved",
        ReviewStatus::Rejected => "rejected",
        ReviewStatus::Pending => "reset",
    };
    let class = format!("verdict verdict-{what}{}", if stale { " stale" } else { "" });
    let reviewer = v.reviewer.clone();
    view! {
        <li class=class data-testid="verdict" data-reviewer=v.reviewer.clone()>
            <strong>{v.reviewer.clone()}</strong>
            {format!(" {what} · {}", short_time(&v.at))}
            {v.by_rule().then(|| view! { <span class="badge rule">"RULE"</span> })}
            {v.comment.clone().map(|c| view! { <blockquote class="as-text">{c}</blockquote> })}
            {v.dismissed.clone().map(|d| view! {
                <p class="dismissed" data-testid="dismissed">
                    {format!("Dismissed by {} at {}: ", d.by, short_time(&d.at))}
                    <span class="as-text">{d.reason}</span>
                </p>
            })}
            {dismiss.map(|action| view! {
                <form method="post" action=action class="dismiss-form" data-testid="dismiss-form">
                    <input type="hidden" name="reviewer" value=reviewer />
                    <input type="hidden" name="next" value=next />
                    <label>
                        "Dismiss this rejection, because "
                        <input type="text" name="reason" required maxlength="4000" placeholder="the reason (audited)" />
                    </label>
                    <button type="submit">"Dismiss"</button>
                </form>
            })}
        </li>
    }
}

/// The item's conversation and the comment box (reviewers and leads).
#[component]
pub fn Thread(branch: String, chart_id: String, comments: Vec<Comment>, can_comment: bool) -> impl IntoView {
    let action = format!("{}/comments", chart_url(&branch, &chart_id));
    let location = use_location();
    view! {
        <section class="thread" aria-label="Conversation" data-testid="thread">
            <h2>"Conversation"</h2>
            {if comments.is_empty() {
                view! { <p class="muted" data-testid="thread-empty">"No comment yet."</p> }.into_any()
            } else {
                view! {
                    <ol class="comments">
                        {comments.into_iter().map(|c| {
                            let verdict = c.verdict.map(|v| match v {
                                ReviewStatus::Approved => " · approved",
                                ReviewStatus::Rejected => " · rejected",
                                ReviewStatus::Pending => " · reset",
                            });
                            view! {
                                <li id=format!("comment-{}", c.id) class="comment" data-testid="comment">
                                    <p class="comment-head">
                                        <strong>{c.author.clone()}</strong>
                                        <span class="muted">{format!(" · {}", short_time(&c.at))}{verdict}</span>
                                        {c.on_older_content.then(|| view! {
                                            <span class="badge stale" data-testid="older-content" title="The chart has changed since this comment was written">
                                                "ON OLDER CONTENT"
                                            </span>
                                        })}
                                    </p>
                                    <div class="comment-body as-text" data-testid="comment-body">{c.body.clone()}</div>
                                </li>
                            }
                        }).collect_view()}
                    </ol>
                }.into_any()
            }}
            {can_comment.then(|| view! {
                <form method="post" action=action class="comment-form" data-testid="comment-form">
                    <input type="hidden" name="next" value=move || here(&location.pathname.get(), &location.search.get()) />
                    <label for="comment-body">"Add to the conversation"</label>
                    <textarea id="comment-body" name="body" rows="3" required maxlength="4000"
                        placeholder="A question or a note; shown as plain text"></textarea>
                    <button type="submit" data-testid="comment-submit">"Comment"</button>
                </form>
            })}
        </section>
    }
}

/// "Ask for a review": emails, for this chart (`chart_id`) or the whole branch.
#[component]
pub fn AskForReview(branch: String, #[prop(optional)] chart_id: Option<String>) -> impl IntoView {
    let action = format!("{}/requests", branch_url(&branch));
    let location = use_location();
    let what = if chart_id.is_some() { "this chart" } else { "this branch" };
    view! {
        <form method="post" action=action class="ask-form" data-testid="ask-form">
            <input type="hidden" name="next" value=move || here(&location.pathname.get(), &location.search.get()) />
            {chart_id.map(|id| view! { <input type="hidden" name="chart_id" value=id /> })}
            <label>
                {format!("Ask someone to review {what}: ")}
                <input type="text" name="reviewers" required placeholder="ana@example.org, ben@example.org" data-testid="ask-reviewers" />
            </label>
            <button type="submit">"Ask"</button>
        </form>
    }
}
