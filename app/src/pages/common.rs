//! Small pieces several pages share: badges, error and empty states, and (in [`links`]) the
//! app's own URLs.

pub mod links;

use leptos::prelude::*;

use crate::types::{DiffItem, ItemKind, ReviewStatus};

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="empty">
            <h1>"Not found"</h1>
            <p>"There is no page at this address. " <a href="/">"Back to the branches"</a></p>
        </section>
    }
}

/// A page's load error; `back` (address, label) offers the way out, such as the branch of a
/// chart that is not one of its items.
#[component]
pub fn ErrorBox(message: String, #[prop(optional)] back: Option<(String, &'static str)>) -> impl IntoView {
    view! {
        <div class="error-box" role="alert">
            <strong>"Could not load this page. "</strong>
            {message}
            {back.map(|(href, label)| view! { " " <a href=href data-testid="error-back">{label}</a> })}
        </div>
    }
}

pub fn kind_label(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::New => "NEW",
        ItemKind::Modified => "MODIFIED",
        ItemKind::Deleted => "DELETED",
    }
}

#[component]
pub fn ItemBadges(item: DiffItem) -> impl IntoView {
    let kind = item.kind;
    let status = item.review.effective();
    view! {
        <span class=format!("badge kind-{}", kind.as_str()) data-testid="kind-badge">
            {kind_label(kind)}
        </span>
        {item
            .conflict
            .then(|| view! { <span class="badge conflict" data-testid="conflict-badge">"CONFLICT"</span> })}
        {item
            .review
            .stale
            .then(|| view! { <span class="badge stale" data-testid="stale-badge">"STALE"</span> })}
        {item
            .error
            .is_some()
            .then(|| view! { <span class="badge error" data-testid="error-badge">"UNREADABLE"</span> })}
        {(status == ReviewStatus::Approved
            && item.review.reviewer.as_deref().is_some_and(|r| r.starts_with(crate::types::RULE_PREFIX)))
            .then(|| {
                view! {
                    <span class="badge rule" data-testid="rule-badge" title=item.review.reviewer.clone()>
                        "BY RULE"
                    </span>
                }
            })}
        {(status != ReviewStatus::Approved && (item.review.required > 1 || !item.review.owners.is_empty()))
            .then(|| {
                view! {
                    <span class="badge approvals" data-testid="progress-badge" title=item.review.missing.clone()>
                        {item.review.progress()}
                    </span>
                }
            })}
        <span class=format!("badge status-{}", status.as_str()) data-testid="status-badge">
            {match status {
                ReviewStatus::Pending => "pending",
                ReviewStatus::Approved => "approved",
                ReviewStatus::Rejected => "rejected",
            }}
        </span>
    }
}

/// A short, readable form of a content hash.
pub fn short_hash(hash: &Option<String>) -> String {
    match hash {
        Some(h) => h.chars().take(10).collect(),
        None => "absent".to_string(),
    }
}

/// `2026-11-22T01:40:08.4912Z` as `2026-11-22 01:40 UTC`.
pub fn short_time(t: &str) -> String {
    match (t.get(..10), t.get(11..16)) {
        (Some(date), Some(hm)) if t.len() >= 16 => format!("{date} {hm} UTC"),
        _ => t.to_string(),
    }
}
