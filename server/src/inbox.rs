//! "Waiting on me" (design §14): across open branches, the items a person should look at —
//! requested of them (the chart, or its whole branch), owned by them under the policy while not
//! yet approved, or carrying their verdict gone stale — and not already answered by a current
//! verdict of theirs. The same clause filters a branch's list (`waiting_on=me`), fills `/me` and
//! `GET /api/v1/me/reviews`, and counts the header's badge.

use std::collections::HashMap;

use app::types::{AskForReview, AskedForReview, MyReviews, Role, WaitingItem};
use serde_json::json;

use crate::access::User;
use crate::db::Filter;
use crate::error::{Error, Result};
use crate::repo::audit::{self, Event};
use crate::repo::{items, requests, users};
use crate::state::AppState;

const DEFAULT_PER_PAGE: u32 = 50;

/// The items waiting on `user` across open branches, newest change first.
pub async fn my_reviews(state: &AppState, user: &User, page: Option<u32>, per_page: Option<u32>) -> Result<MyReviews> {
    let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE);
    if per_page == 0 || per_page > items::MAX_PER_PAGE {
        return Err(Error::BadRequest(format!("per_page must be between 1 and {}", items::MAX_PER_PAGE)));
    }
    let page = page.unwrap_or(1).max(1);
    // The answer holds until an open branch's revision moves (an item, a verdict, a request):
    // an inbox is read again and again in between, by its page and by whoever polls it.
    let revision = open_revision(state).await?;
    let key = format!("{}\u{0}{page}\u{0}{per_page}", user.email);
    if let Some(kept) = state.lists.inboxes.get(&key, revision) {
        return Ok(kept);
    }
    let mut f = Filter::after(Vec::new());
    crate::verdicts::waiting_on(&state.policy, &user.email, &mut f);
    let total = count_at(state, &user.email, revision).await?;
    let (found, total) = items::open_page(&state.db, &f, per_page, page, Some(total)).await?;
    // Verdicts are read per branch (one query each), then the page is put back in its order.
    let order: Vec<(String, String)> = found.iter().map(|(b, i)| (b.clone(), i.chart_id.clone())).collect();
    let mut by_branch: HashMap<String, Vec<app::types::DiffItem>> = HashMap::new();
    for (branch, item) in found {
        by_branch.entry(branch).or_default().push(item);
    }
    for (branch, list) in by_branch.iter_mut() {
        crate::verdicts::attach(state, branch, list).await?;
    }
    let mut found = Vec::with_capacity(order.len());
    for (branch, chart_id) in order {
        let list = by_branch.get_mut(&branch).expect("grouped above");
        let at = list.iter().position(|i| i.chart_id == chart_id).expect("grouped above");
        found.push((branch, list.swap_remove(at)));
    }
    let mut reasons = reasons(state, &user.email, &found).await?;
    let items = found
        .into_iter()
        .map(|(branch, item)| {
            let why = reasons.remove(&(branch.clone(), item.chart_id.clone())).unwrap_or_default();
            WaitingItem { branch, item, reasons: why }
        })
        .collect();
    let answer = MyReviews { items, total, page, per_page };
    state.lists.inboxes.keep(key, revision, answer.clone());
    Ok(answer)
}

/// Why each item waits on `email`: who asked, ownership, a stale verdict.
async fn reasons(
    state: &AppState,
    email: &str,
    found: &[(String, app::types::DiffItem)],
) -> Result<HashMap<(String, String), Vec<String>>> {
    #[derive(sqlx::FromRow)]
    struct Asked {
        branch: String,
        chart_id: String,
        requested_by: String,
    }
    let asked: Vec<Asked> = sqlx::query_as(
        "select q.branch, q.chart_id, q.requested_by from review_requests q
         join branches b on b.name = q.branch and b.state = 'open' where q.reviewer = $1",
    )
    .bind(email)
    .fetch_all(&state.db.pool)
    .await?;
    let mut out: HashMap<(String, String), Vec<String>> = HashMap::new();
    for (branch, item) in found {
        let mut why = Vec::new();
        let askers: Vec<&str> = asked
            .iter()
            .filter(|a| &a.branch == branch && (a.chart_id.is_empty() || a.chart_id == item.chart_id))
            .map(|a| a.requested_by.as_str())
            .collect();
        if !askers.is_empty() {
            why.push(format!("requested by {}", askers.join(", ")));
        }
        if state.policy.owners_of(&item.slug).iter().any(|o| o.eq_ignore_ascii_case(email)) {
            why.push("you own it".into());
        }
        why.extend(
            item.review
                .stale_verdicts
                .iter()
                .filter(|v| v.reviewer == email)
                .map(|v| format!("your {} is stale: the content changed", noun(v.status))),
        );
        out.insert((branch.clone(), item.chart_id.clone()), why);
    }
    Ok(out)
}

fn noun(status: app::types::ReviewStatus) -> &'static str {
    match status {
        app::types::ReviewStatus::Approved => "approval",
        app::types::ReviewStatus::Rejected => "rejection",
        app::types::ReviewStatus::Pending => "verdict",
    }
}

/// How many items wait on `email`: the header's badge. Counted once per state of the open
/// branches (their revisions move with every item, verdict and request).
pub async fn count(state: &AppState, email: &str) -> Result<i64> {
    count_at(state, email, open_revision(state).await?).await
}

/// One number for the state of the open branches: their revisions only grow, and a branch
/// leaving the open ones changes how many there are.
async fn open_revision(state: &AppState) -> Result<i64> {
    #[derive(sqlx::FromRow)]
    struct Revisions {
        total: Option<i64>,
        n: i64,
    }
    let r: Revisions = sqlx::query_as(
        "select cast(coalesce(sum(revision), 0) as bigint) as total, count(*) as n from branches where state = 'open'",
    )
    .fetch_one(&state.db.pool)
    .await?;
    Ok(r.total.unwrap_or(0).wrapping_mul(1_000_003).wrapping_add(r.n))
}

/// [`count`] at the open branches' `revision`.
async fn count_at(state: &AppState, email: &str, revision: i64) -> Result<i64> {
    let key = email.to_string();
    if let Some(n) = state.lists.waiting.get(&key, revision) {
        return Ok(n);
    }
    let mut f = Filter::after(Vec::new());
    crate::verdicts::waiting_on(&state.policy, email, &mut f);
    let n = items::open_count(&state.db, &f).await?;
    state.lists.waiting.keep(key, revision, n);
    Ok(n)
}

/// People one request may name at most.
const MAX_ASKED: usize = 50;

/// Asks people to review a branch, or some of its charts (reviewers and leads ask; those asked
/// must be able to review). Audited (`review.request`); `notify_url` hears of it, naming them.
pub async fn ask(state: &AppState, branch: &str, user: &User, req: &AskForReview) -> Result<AskedForReview> {
    user.require(Role::Reviewer)?;
    let mut reviewers: Vec<String> = req.reviewers.iter().map(|r| r.trim().to_lowercase()).collect();
    reviewers.sort();
    reviewers.dedup();
    if reviewers.is_empty() || reviewers.len() > MAX_ASKED {
        return Err(Error::BadRequest(format!("reviewers must name 1 to {MAX_ASKED} people by email")));
    }
    for email in &reviewers {
        match users::active_by_email(&state.db, email).await? {
            Some(u) if u.role >= Role::Reviewer => {}
            Some(_) => return Err(Error::Unprocessable(format!("{email} is a viewer and cannot review"))),
            None => return Err(Error::Unprocessable(format!("{email:?} is not a user of Chartgate"))),
        }
    }
    let name = crate::reviews::open_branch(state, branch).await?;
    let chart_ids = match &req.chart_ids {
        None => None,
        Some(ids) if ids.is_empty() || ids.len() > crate::reviews::MAX_BULK => {
            return Err(Error::BadRequest(format!(
                "chart_ids must hold 1 to {} ids, or be left out for the whole branch",
                crate::reviews::MAX_BULK
            )))
        }
        Some(ids) => {
            let mut ids = ids.clone();
            ids.sort();
            ids.dedup();
            let known: std::collections::HashSet<String> =
                items::present(&state.db, &name, &ids).await?.into_iter().collect();
            let unknown: Vec<&str> = ids.iter().filter(|i| !known.contains(*i)).map(String::as_str).collect();
            if !unknown.is_empty() {
                return Err(Error::Unprocessable(format!(
                    "not items of branch {name}: {}",
                    unknown.iter().take(10).copied().collect::<Vec<_>>().join(", ")
                )));
            }
            Some(ids)
        }
    };
    {
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        let charts: Vec<&str> = match &chart_ids {
            None => vec![requests::WHOLE_BRANCH],
            Some(ids) => ids.iter().map(String::as_str).collect(),
        };
        for reviewer in &reviewers {
            for chart in &charts {
                requests::upsert(&mut tx, &name, chart, reviewer, &user.email).await?;
            }
        }
        let mut detail = json!({ "reviewers": reviewers });
        if let Some(ids) = &chart_ids {
            detail["chart_ids"] = json!(ids);
        }
        audit::append(
            &mut *tx,
            Event {
                actor: &user.email,
                action: "review.request",
                branch: Some(&name),
                detail: Some(detail),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
    }
    crate::notify::review_requested(state, &name, &user.email, &reviewers, chart_ids.as_deref());
    Ok(AskedForReview { branch: name, reviewers, chart_ids })
}
