//! `/me`: across open branches, the items waiting on the signed-in person (requested of them,
//! theirs to own, or with their verdict gone stale), newest change first, each with why.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::common::links::{branch_url, chart_url};
use super::common::{short_time, ErrorBox, ItemBadges};
use crate::api::my_reviews;
use crate::types::MyReviews;

#[component]
pub fn MyReviewsPage() -> impl IntoView {
    let query = use_query_map();
    let page = move || query.read().get("page").and_then(|p| p.parse::<u32>().ok());
    let found = Resource::new(page, my_reviews);
    view! {
        <h1>"My reviews"</h1>
        <Transition fallback=|| view! { <p class="loading">"Loading what waits on you…"</p> }>
            {move || Suspend::new(async move {
                match found.await {
                    Err(e) => view! { <ErrorBox message=e.to_string() /> }.into_any(),
                    Ok(r) => view! { <Inbox r /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Inbox(r: MyReviews) -> impl IntoView {
    if r.items.is_empty() {
        return view! {
            <section class="empty" data-testid="me-empty">
                <p>"Nothing waits on you: no open request, no chart you own needs you, no verdict of yours went stale."</p>
                <a href="/">"Back to the branches"</a>
            </section>
        }
        .into_any();
    }
    let pages = ((r.total + r.per_page as i64 - 1) / r.per_page.max(1) as i64).max(1);
    view! {
        <p class="muted" data-testid="me-total">{format!("{} items wait on you", r.total)}</p>
        <table class="diffs" data-testid="me-items">
            <thead>
                <tr><th>"Chart"</th><th>"Branch"</th><th>"State"</th><th>"Why you"</th><th>"Changed"</th></tr>
            </thead>
            <tbody>
                {r.items.into_iter().map(|w| view! {
                    <tr data-testid="me-row" data-chart-id=w.item.chart_id.clone() data-branch=w.branch.clone()>
                        <td>
                            <a class="title" href=chart_url(&w.branch, &w.item.chart_id)>{w.item.title.clone()}</a>
                            <div class="muted slug">{w.item.slug.clone()}</div>
                        </td>
                        <td><a href=branch_url(&w.branch)>{w.branch.clone()}</a></td>
                        <td>
                            <ItemBadges item=w.item.clone() />
                            {w.item.review.missing.clone().map(|m| view! { <div class="missing">{m}</div> })}
                        </td>
                        <td data-testid="me-reasons">{w.reasons.join("; ")}</td>
                        <td class="muted">{short_time(&w.item.changed_at)}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <nav class="pager" aria-label="Pages">
            <span>{format!("page {} of {}", r.page, pages)}</span>
            {(r.page > 1).then(|| view! { <a href=format!("/me?page={}", r.page - 1) rel="prev">"← previous"</a> })}
            {((r.page as i64) < pages).then(|| view! { <a href=format!("/me?page={}", r.page + 1) rel="next">"next →"</a> })}
        </nav>
    }
    .into_any()
}
