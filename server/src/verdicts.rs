//! What every reviewer's verdict adds up to, read where it is shown or relied on (design §14):
//! the verdicts and what is missing on list and detail items, what the gate still waits for,
//! and who an item waits on (the "waiting on me" clause of the list, `/me` and the header's
//! badge). One read of a branch's (or a page's) verdicts, grouped by chart, judged by the
//! [`Policy`] — so the list, the gate, the commit status and the sync say the same words.
//!
//! Layer: below the features that show items (diffs, reviews, inbox, notify, sync); it reads
//! Chartgate's database through the repositories only.

use std::collections::{BTreeMap, HashMap};

use app::types::DiffItem;

use crate::db::{Db, Filter};
use crate::error::Result;
use crate::policy::{Policy, VerdictRow};
use crate::repo::items;
use crate::repo::reviews::verdicts_of;
use crate::state::AppState;

/// The verdicts of a branch's items, by chart.
pub struct ByChart(HashMap<String, Vec<VerdictRow>>);

impl ByChart {
    /// The verdicts of the given items of `branch` (all of them when `chart_ids` is `None`).
    pub async fn read(db: &Db, branch: &str, chart_ids: Option<&[String]>) -> Result<ByChart> {
        let mut by = HashMap::new();
        for v in verdicts_of(db, branch, chart_ids).await? {
            by.entry(v.chart_id.clone()).or_insert_with(Vec::new).push(v);
        }
        Ok(ByChart(by))
    }

    /// Every verdict on `chart_id` (none: an empty slice).
    pub fn of(&self, chart_id: &str) -> &[VerdictRow] {
        self.0.get(chart_id).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Fills each item's verdicts and what the policy still needs, read in one query.
pub async fn attach(state: &AppState, branch: &str, items: &mut [DiffItem]) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = items.iter().map(|i| i.chart_id.clone()).collect();
    let by = ByChart::read(&state.db, branch, Some(&ids)).await?;
    for item in items.iter_mut() {
        let judged = state.policy.judge(
            &item.slug,
            item.staging_hash.as_deref(),
            item.production_hash.as_deref(),
            by.of(&item.chart_id),
        );
        judged.fill(&mut item.review);
    }
    Ok(())
}

/// What the branch's items not approved still need, grouped: "2 items: needs 1 more approval",
/// most common first.
pub async fn waiting_for(state: &AppState, branch: &str) -> Result<Vec<String>> {
    let rows = items::decisions(&state.db, branch).await?;
    let open: Vec<&items::DecisionRow> = rows.iter().filter(|r| r.in_force != "approved").collect();
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let by = ByChart::read(&state.db, branch, None).await?;
    let mut needs: BTreeMap<String, usize> = BTreeMap::new();
    for row in open {
        let why = match row.error {
            Some(_) => "unreadable: fix the store".to_string(),
            None => state
                .policy
                .judge(&row.slug, row.staging_hash.as_deref(), row.production_hash.as_deref(), by.of(&row.chart_id))
                .missing
                .unwrap_or_else(|| "a fresh look".into()),
        };
        *needs.entry(why).or_default() += 1;
    }
    let mut counted: Vec<(String, usize)> = needs.into_iter().collect();
    counted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(counted
        .into_iter()
        .map(|(why, n)| match n {
            1 => format!("1 item: {why}"),
            n => format!("{n} items: {why}"),
        })
        .collect())
}

/// A verdict of `{0}` on the row's item (`item_decisions`), current or not.
fn verdict_of(current: bool) -> String {
    let (same, join) = if current { ("=", "and") } else { ("<>", "or") };
    format!(
        "exists (select 1 from verdicts v where v.branch = item_decisions.branch \
         and v.chart_id = item_decisions.chart_id and v.reviewer = {{0}} and v.status <> 'pending' \
         and (coalesce(v.staging_hash, '') {same} coalesce(item_decisions.staging_hash, '') {join} \
         coalesce(v.production_hash, '') {same} coalesce(item_decisions.production_hash, '')))"
    )
}

/// Adds to `f` (a filter on `item_decisions`) the items waiting on `email`.
pub fn waiting_on(policy: &Policy, email: &str, f: &mut Filter) {
    let mut values = vec![email.to_string()];
    let mut like = |pattern: &String| {
        values.push(pattern.clone());
        format!("slug like {{{}}} escape '\\'", values.len() - 1)
    };
    let mut owned = Vec::new();
    for (mine, earlier) in policy.owned_patterns(email) {
        let mine: Vec<String> = mine.iter().map(&mut like).collect();
        let earlier: Vec<String> = earlier.iter().map(&mut like).collect();
        owned.push(match earlier.is_empty() {
            true => format!("({})", mine.join(" or ")),
            false => format!("(({}) and not ({}))", mine.join(" or "), earlier.join(" or ")),
        });
    }
    // Two lookups by the whole key rather than one with an `or`: a third less time per item.
    let requested = "(exists (select 1 from review_requests q where q.branch = item_decisions.branch \
                     and q.chart_id = '' and q.reviewer = {0}) \
                     or exists (select 1 from review_requests q where q.branch = item_decisions.branch \
                     and q.chart_id = item_decisions.chart_id and q.reviewer = {0}))";
    let asked = match owned.is_empty() {
        true => requested.to_string(),
        false => format!("{requested} or (in_force <> 'approved' and ({}))", owned.join(" or ")),
    };
    let clause = format!("((({asked}) and not {}) or {})", verdict_of(true), verdict_of(false));
    f.and_with(&clause, &values);
}

/// Who was asked to review the chart (or its branch) and has no current verdict on it.
pub async fn requested_of(db: &Db, branch: &str, chart_id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "select distinct q.reviewer from review_requests q
         join branch_items i on i.branch = q.branch and i.chart_id = $2
         where q.branch = $1 and (q.chart_id = '' or q.chart_id = $2)
           and not exists (select 1 from verdicts v where v.branch = q.branch and v.chart_id = $2
             and v.reviewer = q.reviewer and v.status <> 'pending'
             and coalesce(v.staging_hash, '') = coalesce(i.staging_hash, '')
             and coalesce(v.production_hash, '') = coalesce(i.production_hash, ''))
         order by q.reviewer",
    )
    .bind(branch)
    .bind(chart_id)
    .fetch_all(&db.pool)
    .await?)
}
