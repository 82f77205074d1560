//! Deciding: the review controls (on the detail page and on list rows), the optimistic update
//! with rollback, the flash message, and the keyboard shortcuts reviewers repeat all day.
//!
//! Every control is a plain `<form method="post">` first, so it works before (or without)
//! WebAssembly: the server's form endpoint decides and redirects back. Once hydrated, a click or
//! a key press decides through the `review_item` server function instead, shows the new status
//! at once, and rolls back with a visible message when the server refuses — a 409 means the
//! chart changed since it was loaded, so the page reloads the diff.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_query_map};

use super::common::links::chart_url;

use crate::api::review_item;
use crate::error::AppError;
use crate::types::{DiffItem, ReviewRequest, ReviewStatus};

#[derive(Clone, Debug, PartialEq)]
pub struct Flash {
    /// `ok`, `warn` or `error`.
    pub kind: &'static str,
    pub text: String,
}

/// Page-wide UI state, provided by the app: the flash message and the shortcut help.
#[derive(Clone, Copy)]
pub struct Ui {
    pub flash: RwSignal<Option<Flash>>,
    pub help: RwSignal<bool>,
}

pub fn ui() -> Ui {
    use_context::<Ui>().expect("the app provides Ui")
}

fn verb(status: ReviewStatus) -> &'static str {
    match status {
        ReviewStatus::Approved => "Approved",
        ReviewStatus::Rejected => "Rejected",
        ReviewStatus::Pending => "Reset to pending",
    }
}

/// Decides `item` as `status`: shows it at once, then confirms or rolls back.
pub fn submit_review(
    branch: String,
    item: RwSignal<DiffItem>,
    status: ReviewStatus,
    comment: Option<String>,
    reload: Callback<()>,
) {
    let Ui { flash, .. } = ui();
    let before = item.get_untracked();
    if let Some(e) = &before.error {
        flash.set(Some(Flash { kind: "error", text: format!("This chart cannot be decided: {e}") }));
        return;
    }
    item.update(|i| i.review.decided(status));
    let request = ReviewRequest {
        status,
        staging_hash: before.staging_hash.clone(),
        production_hash: before.production_hash.clone(),
        comment: comment.filter(|c| !c.trim().is_empty()),
    };
    leptos::task::spawn_local(async move {
        match review_item(branch, before.chart_id.clone(), request).await {
            Ok(updated) => {
                let text = format!("{}: {}", verb(status), updated.title);
                item.set(updated);
                flash.set(Some(Flash { kind: "ok", text }));
                reload.run(());
            }
            Err(AppError::Conflict(message)) => {
                item.set(before);
                flash.set(Some(Flash { kind: "warn", text: format!("{message} The diff has been reloaded.") }));
                reload.run(());
            }
            Err(e) => {
                item.set(before);
                flash.set(Some(Flash { kind: "error", text: format!("Not saved: {e}") }));
            }
        }
    });
}

/// The current page as a local URL. The server's `search` comes without its `?`; the browser's
/// with it.
pub fn here(path: &str, search: &str) -> String {
    match search.trim_start_matches('?') {
        "" => path.to_string(),
        q => format!("{path}?{q}"),
    }
}

/// Approve / reject / reset buttons for one item, with an optional comment box.
#[component]
pub fn ReviewControls(
    branch: String,
    item: RwSignal<DiffItem>,
    reload: Callback<()>,
    #[prop(optional)] with_comment: bool,
) -> impl IntoView {
    let location = use_location();
    let comment = NodeRef::<leptos::html::Textarea>::new();
    let snapshot = item.get_untracked();
    let action = format!("{}/review", chart_url(&branch, &snapshot.chart_id));
    let button = move |status: ReviewStatus, label: &'static str, key: &'static str| {
        let branch = branch.clone();
        let current = move || item.read().review.effective() == status;
        view! {
            <button
                type="submit"
                name="status"
                value=status.as_str()
                class=move || format!("decide decide-{}{}", status.as_str(), if current() { " current" } else { "" })
                title=format!("{label} ({key})")
                data-testid=format!("decide-{}", status.as_str())
                on:click=move |ev| {
                    ev.prevent_default();
                    let text = comment.get_untracked().map(|c| c.value());
                    submit_review(branch.clone(), item, status, text, reload);
                }
            >
                {label}
                <kbd>{key}</kbd>
            </button>
        }
    };
    view! {
        <form method="post" action=action class="review-controls">
            <input type="hidden" name="staging_hash" value=move || item.read().staging_hash.clone().unwrap_or_default() />
            <input
                type="hidden"
                name="production_hash"
                value=move || item.read().production_hash.clone().unwrap_or_default()
            />
            <input type="hidden" name="next" value=move || here(&location.pathname.get(), &location.search.get()) />
            {with_comment
                .then(|| {
                    view! {
                        <textarea node_ref=comment name="comment" rows="2" placeholder="Comment (optional)" maxlength="4000"></textarea>
                    }
                })}
            <div class="buttons">
                {button(ReviewStatus::Approved, "Approve", "a")}
                {button(ReviewStatus::Rejected, "Reject", "r")}
                {button(ReviewStatus::Pending, "Reset", "u")}
            </div>
        </form>
    }
}

/// What deciding a group did: how many items were decided, and how many refused because they
/// changed since the page loaded (or cannot be decided in a group).
pub fn group_flash(status: &str, decided: usize, refused: usize) -> Flash {
    let verb = match status {
        "approved" => "Approved",
        "rejected" => "Rejected",
        _ => "Reset",
    };
    let items = |n: usize| if n == 1 { "1 item".to_string() } else { format!("{n} items") };
    if refused == 0 {
        Flash { kind: "ok", text: format!("{verb} {}.", items(decided)) }
    } else {
        Flash {
            kind: "warn",
            text: format!(
                "{verb} {}; {} refused: they changed since the page loaded or need their own page. Review them again.",
                items(decided),
                items(refused)
            ),
        }
    }
}

/// The flash message of the last action, and `?notice=` left by the no-JavaScript form flow.
#[component]
pub fn FlashMessage() -> impl IntoView {
    let Ui { flash, .. } = ui();
    let query = use_query_map();
    let from_query = move || {
        let notice = query.read().get("notice")?;
        Some(match notice.as_str() {
            "approved" | "rejected" | "pending" => Flash { kind: "ok", text: format!("Saved: {notice}.") },
            "conflict" => {
                Flash { kind: "warn", text: "The chart changed since you loaded it; review it again.".into() }
            }
            "forbidden" => Flash { kind: "error", text: "Your role cannot decide reviews.".into() },
            "merged" => Flash {
                kind: "ok",
                text: "Merged into staging: the chart below is the merge, ready for review.".into(),
            },
            "merged-away" => Flash {
                kind: "ok",
                text: "Merged: staging now holds exactly what production holds, so the chart needs no review.".into(),
            },
            "commented" => Flash { kind: "ok", text: "Comment added.".into() },
            "dismissed" => Flash { kind: "ok", text: "Rejection dismissed; the reason is in the audit trail.".into() },
            "requested" => Flash { kind: "ok", text: "Review requested: they will see it under My reviews.".into() },
            "invalid" => Flash {
                kind: "error",
                text: format!(
                    "Not saved: {}",
                    query.read().get("why").unwrap_or_else(|| "the form was not accepted".into())
                ),
            },
            "merge-incomplete" => {
                Flash { kind: "warn", text: "Choose staging or production for every conflicting path.".into() }
            }
            n if n.starts_with("group-") => {
                let count = |k: &str| query.read().get(k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
                let (decided, refused) = (count("decided"), count("refused"));
                group_flash(n.trim_start_matches("group-"), decided, refused)
            }
            _ => Flash { kind: "error", text: "That did not go through; nothing was changed.".into() },
        })
    };
    move || {
        flash.get().or_else(from_query).map(|f| {
            view! {
                <div class=format!("flash flash-{}", f.kind) role="status" data-testid="flash">
                    {f.text}
                </div>
            }
        })
    }
}

/// Calls `on_key` with the key of every shortcut pressed outside a text field (browser only).
pub fn use_shortcuts(on_key: impl Fn(&str) + 'static) {
    let on_key = std::rc::Rc::new(on_key);
    Effect::new(move |_| {
        use leptos::wasm_bindgen::JsCast;
        let on_key = on_key.clone();
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            if ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
                return;
            }
            let typing = ev
                .target()
                .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
                .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
            if typing {
                return;
            }
            let key = ev.key();
            if matches!(key.as_str(), "j" | "k" | "a" | "r" | "u" | "v" | "/" | "?" | "Escape") {
                ev.prevent_default();
                on_key(&key);
            }
        });
        on_cleanup(move || handle.remove());
    });
}

/// Focuses the search box (the `/` shortcut).
pub fn focus_search() {
    use leptos::wasm_bindgen::JsCast;
    if let Some(el) =
        document().get_element_by_id("search").and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok())
    {
        let _ = el.focus();
    }
}

/// The `?` overlay listing the shortcuts.
#[component]
pub fn ShortcutHelp() -> impl IntoView {
    let Ui { help, .. } = ui();
    move || {
        help.get().then(|| {
            view! {
                <div class="shortcut-help" role="dialog" aria-label="Keyboard shortcuts" data-testid="shortcut-help">
                    <h2>"Keyboard shortcuts"</h2>
                    <dl>
                        <dt><kbd>"j"</kbd>" / "<kbd>"k"</kbd></dt><dd>"next / previous item"</dd>
                        <dt><kbd>"a"</kbd></dt><dd>"approve"</dd>
                        <dt><kbd>"r"</kbd></dt><dd>"reject"</dd>
                        <dt><kbd>"u"</kbd></dt><dd>"reset to pending"</dd>
                        <dt><kbd>"v"</kbd></dt><dd>"next compare view: side by side, stacked, overlay, swipe (chart page)"</dd>
                        <dt><kbd>"/"</kbd></dt><dd>"search"</dd>
                        <dt><kbd>"?"</kbd></dt><dd>"this help (Esc closes)"</dd>
                    </dl>
                    <button type="button" on:click=move |_| help.set(false)>"Close"</button>
                </div>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn here_keeps_the_query_with_one_question_mark() {
        assert_eq!(super::here("/branches/b", "kind=new"), "/branches/b?kind=new");
        assert_eq!(super::here("/branches/b", "?kind=new"), "/branches/b?kind=new");
        assert_eq!(super::here("/branches/b", ""), "/branches/b");
    }
}
