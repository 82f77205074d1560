//! `branch_items` (the items of a branch's diff, rebuilt by every scan) and the
//! `item_decisions` view over them: each item with its decision and whether that decision is in
//! force. The view (migration 0004) is the one definition of "does this decision still count";
//! everything here and in the sync planner reads it.

use app::types::{DiffItem, ItemCounts, ItemKind, ReviewState, ReviewStatus};

use crate::db::{self, Count, Db, Filter};
use crate::error::{Error, Result};

/// Items a page holds at most (the diff list's `per_page`, `/me/reviews`').
pub const MAX_PER_PAGE: u32 = 500;

/// One item as a scan writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewItem {
    pub chart_id: String,
    pub slug: String,
    pub title: String,
    pub kind: ItemKind,
    pub conflict: bool,
    /// Comma-separated subset of `config,data,metadata`.
    pub parts: String,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub baseline_hash: Option<String>,
    pub error: Option<String>,
    pub changed_at: String,
}

/// Replaces the items of a branch.
pub async fn replace(db: &Db, branch: &str, items: &[NewItem]) -> Result<()> {
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    let before =
        sqlx::query("delete from branch_items where branch = $1").bind(branch).execute(&mut *tx).await?.rows_affected();
    db::insert_rows(
        &mut tx,
        "insert into branch_items (branch, chart_id, slug, title, search, kind, conflict, parts, staging_hash,
         production_hash, baseline_hash, error, changed_at) values {values}",
        13,
        items,
        |row, i| {
            row.push(branch)
                .push(&i.chart_id)
                .push(&i.slug)
                .push(&i.title)
                .push(format!("{} {}", i.slug, i.title).to_lowercase())
                .push(i.kind.as_str())
                .push(i.conflict as i64)
                .push(&i.parts)
                .push(&i.staging_hash)
                .push(&i.production_hash)
                .push(&i.baseline_hash)
                .push(&i.error)
                .push(&i.changed_at);
        },
    )
    .await?;
    tx.commit().await?;
    // The diff list's plan walks the list's index only once PostgreSQL knows the table is not
    // empty (3.9 ms instead of 0.4 ms a page at 2,500 items, before autovacuum came by).
    db::renew_statistics(db, "branch_items", before.abs_diff(items.len() as u64)).await?;
    Ok(())
}

pub async fn count(db: &Db, branch: &str) -> Result<usize> {
    let count: Count = sqlx::query_as("select count(*) as n from branch_items where branch = $1")
        .bind(branch)
        .fetch_one(&db.pool)
        .await?;
    Ok(count.n as usize)
}

#[derive(sqlx::FromRow)]
struct CountsRow {
    total: i64,
    new: i64,
    modified: i64,
    deleted: i64,
    conflicts: i64,
    pending: i64,
    approved: i64,
    rejected: i64,
    stale: i64,
    errors: i64,
}

/// Counts of a branch's items by kind and by the decision in force (stale counts as pending too).
pub async fn counts(db: &Db, branch: &str) -> Result<ItemCounts> {
    let r: CountsRow = sqlx::query_as(
        "select count(*) as total,
            coalesce(sum(case when kind = 'new' then 1 else 0 end), 0) as new,
            coalesce(sum(case when kind = 'modified' then 1 else 0 end), 0) as modified,
            coalesce(sum(case when kind = 'deleted' then 1 else 0 end), 0) as deleted,
            coalesce(sum(conflict), 0) as conflicts,
            coalesce(sum(case when in_force in ('pending', 'stale') then 1 else 0 end), 0) as pending,
            coalesce(sum(case when in_force = 'approved' then 1 else 0 end), 0) as approved,
            coalesce(sum(case when in_force = 'rejected' then 1 else 0 end), 0) as rejected,
            coalesce(sum(case when in_force = 'stale' then 1 else 0 end), 0) as stale,
            coalesce(sum(case when error is not null then 1 else 0 end), 0) as errors
         from item_decisions where branch = $1",
    )
    .bind(branch)
    .fetch_one(&db.pool)
    .await?;
    Ok(ItemCounts {
        total: r.total,
        new: r.new,
        modified: r.modified,
        deleted: r.deleted,
        conflicts: r.conflicts,
        pending: r.pending,
        approved: r.approved,
        rejected: r.rejected,
        stale: r.stale,
        errors: r.errors,
    })
}

/// A row of `item_decisions`.
#[derive(Clone, Debug, sqlx::FromRow, serde::Deserialize)]
pub struct DecisionRow {
    pub chart_id: String,
    pub slug: String,
    pub title: String,
    pub kind: String,
    pub conflict: i64,
    pub parts: String,
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub baseline_hash: Option<String>,
    pub error: Option<String>,
    pub changed_at: String,
    pub decided: Option<String>,
    pub reviewer: Option<String>,
    pub decided_at: Option<String>,
    pub comment: Option<String>,
    pub decided_staging_hash: Option<String>,
    pub decided_production_hash: Option<String>,
    /// `staging` or `production`: which side moved under the decision.
    pub moved: Option<String>,
    /// `pending`, `approved`, `rejected` or `stale`.
    pub in_force: String,
    /// The latest dataset update that wrote the item's staging content, if one did.
    pub upgrade: Option<i64>,
}

/// A [`DecisionRow`] with its place in a page.
#[derive(serde::Deserialize)]
struct Positioned {
    pos: i64,
    #[serde(flatten)]
    row: DecisionRow,
}

/// The columns of [`DecisionRow`] that `item_decisions` has (a macro, so [`DECISION_COLUMNS`]
/// can be built from it at compile time).
macro_rules! view_columns {
    () => {
        "chart_id, slug, title, kind, conflict, parts, staging_hash, production_hash, \
         baseline_hash, error, changed_at, decided, reviewer, decided_at, comment, decided_staging_hash, \
         decided_production_hash, moved, in_force"
    };
}
const VIEW_COLUMNS: &str = view_columns!();

/// [`VIEW_COLUMNS`] and `upgrade`, from `item_decisions` (unaliased): the upgrade is looked up in
/// the same query (by `upgrade_charts_item`), not in a second one per list.
const DECISION_COLUMNS: &str = concat!(
    view_columns!(),
    ", (select max(u.upgrade_id) from upgrade_charts u where u.branch = item_decisions.branch \
     and u.chart_id = item_decisions.chart_id and u.after_hash = item_decisions.staging_hash) as upgrade"
);

fn status(s: &str) -> Result<ReviewStatus> {
    s.parse().map_err(|_| Error::internal(format!("unknown review status {s:?}")))
}

impl DecisionRow {
    pub fn is_conflict(&self) -> bool {
        self.conflict != 0
    }

    /// The decision in force, as a status: a stale decision is `pending`.
    pub fn in_force(&self) -> Result<ReviewStatus> {
        match self.in_force.as_str() {
            "stale" => Ok(ReviewStatus::Pending),
            other => status(other),
        }
    }

    pub fn into_item(self) -> Result<DiffItem> {
        let review = match &self.decided {
            None => ReviewState::pending(),
            Some(decided) => ReviewState {
                status: status(decided)?,
                reviewer: self.reviewer.clone(),
                at: self.decided_at.clone(),
                comment: self.comment.clone(),
                stale: self.in_force == "stale",
                in_force: self.in_force()?,
                ..ReviewState::pending()
            },
        };
        Ok(DiffItem {
            kind: self.kind.parse().map_err(|_| Error::internal(format!("unknown kind {:?}", self.kind)))?,
            parts: self.parts.split(',').filter(|p| !p.is_empty()).map(str::to_string).collect(),
            conflict: self.is_conflict(),
            review,
            chart_id: self.chart_id,
            slug: self.slug,
            title: self.title,
            staging_hash: self.staging_hash,
            production_hash: self.production_hash,
            baseline_hash: self.baseline_hash,
            error: self.error,
            changed_at: self.changed_at,
            upgrade: self.upgrade,
            views_30d: None,
        })
    }
}

/// The order of a list page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Last change first, then slug (the default).
    Changed,
    Slug,
    /// Most-read first (`chart_views` of the target's store), then last change: sorted by the
    /// caller, so the page's rows come back in the default order.
    Views,
}

/// One page of a branch's items matching `filter` (built on `$1` = the branch), and how many
/// match in all.
///
/// `known_total`, the filter's total when the caller knows it, saves counting it again.
pub async fn page(
    db: &Db,
    filter: &Filter,
    order: Order,
    per_page: u32,
    page: u32,
    known_total: Option<i64>,
) -> Result<(Vec<DiffItem>, i64)> {
    let clause = filter.sql();
    let total = match known_total {
        Some(n) => n,
        None => {
            let count_sql = format!("select count(*) as n from item_decisions where branch = $1{clause}");
            let total: Count = sqlx::query_as_with(&count_sql, filter.arguments()).fetch_one(&db.pool).await?;
            total.n
        }
    };
    let order = match order {
        Order::Changed => "changed_at desc, slug",
        Order::Slug => "slug",
        Order::Views => "changed_at desc, slug",
    };
    // One answer for the page (see `db::fetch_json_rows`): fifty rows one message each through
    // sqlx's SQLite worker were ~7 % of the server's time under the load benchmark. The page's
    // order travels as `pos`, as an aggregate's input order is not the query's to promise.
    let rest = format!(
        "(select {DECISION_COLUMNS}, row_number() over (order by {order}) as pos
          from item_decisions where branch = $1{clause} order by {order}
          limit {per_page} offset {}) page",
        (page.max(1) as u64 - 1) * per_page as u64
    );
    let columns: Vec<&str> = VIEW_COLUMNS.split(", ").chain(["upgrade", "pos"]).collect();
    let mut rows: Vec<Positioned> = db::fetch_json_rows_with(db, &columns, &rest, filter.arguments()).await?;
    rows.sort_by_key(|r| r.pos);
    let items = rows.into_iter().map(|r| r.row.into_item()).collect::<Result<_>>()?;
    Ok((items, total))
}

/// An item of some branch, with the branch.
#[derive(sqlx::FromRow)]
struct BranchRow {
    branch: String,
    #[sqlx(flatten)]
    row: DecisionRow,
}

/// One page, across open branches, of the items matching `filter` (a filter with no branch
/// bound first), last change first; and how many match in all.
/// `known_total`, the filter's total when the caller knows it, saves counting it again.
pub async fn open_page(
    db: &Db,
    filter: &Filter,
    per_page: u32,
    page: u32,
    known_total: Option<i64>,
) -> Result<(Vec<(String, DiffItem)>, i64)> {
    let open = "branch in (select name from branches where state = 'open')";
    let clause = filter.sql();
    let total = match known_total {
        Some(n) => n,
        None => open_count(db, filter).await?,
    };
    let rows: Vec<BranchRow> = sqlx::query_as_with(
        &format!(
            "select branch, {DECISION_COLUMNS} from item_decisions where {open}{clause}
             order by changed_at desc, branch, slug limit {per_page} offset {}",
            (page.max(1) as u64 - 1) * per_page as u64
        ),
        filter.arguments(),
    )
    .fetch_all(&db.pool)
    .await?;
    let items = rows.into_iter().map(|r| Ok((r.branch, r.row.into_item()?))).collect::<Result<_>>()?;
    Ok((items, total))
}

/// How many items of open branches match `filter` (a filter with no branch bound first).
pub async fn open_count(db: &Db, filter: &Filter) -> Result<i64> {
    let total: Count = sqlx::query_as_with(
        &format!(
            "select count(*) as n from item_decisions where branch in (select name from branches where state = 'open'){}",
            filter.sql()
        ),
        filter.arguments(),
    )
    .fetch_one(&db.pool)
    .await?;
    Ok(total.n)
}

/// One item with its decision.
pub async fn one(db: &Db, branch: &str, chart_id: &str) -> Result<Option<DiffItem>> {
    let row: Option<DecisionRow> =
        sqlx::query_as(&format!("select {DECISION_COLUMNS} from item_decisions where branch = $1 and chart_id = $2"))
            .bind(branch)
            .bind(chart_id)
            .fetch_optional(&db.pool)
            .await?;
    row.map(DecisionRow::into_item).transpose()
}

/// Every item of a branch with its decision, as the sync planner reads them.
pub async fn decisions(db: &Db, branch: &str) -> Result<Vec<DecisionRow>> {
    Ok(sqlx::query_as(&format!("select {DECISION_COLUMNS} from item_decisions where branch = $1"))
        .bind(branch)
        .fetch_all(&db.pool)
        .await?)
}

/// Which of `chart_ids` are items of the branch.
pub async fn present(db: &Db, branch: &str, chart_ids: &[String]) -> Result<Vec<String>> {
    if chart_ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (0..chart_ids.len()).map(|n| format!("${}", n + 2)).collect();
    let sql = format!("select chart_id from branch_items where branch = $1 and chart_id in ({})", marks.join(", "));
    let binds: Vec<String> = std::iter::once(branch.to_string()).chain(chart_ids.iter().cloned()).collect();
    Ok(sqlx::query_scalar_with(&sql, db::arguments(&binds)).fetch_all(&db.pool).await?)
}

/// The current hashes and state of one item, read inside a decision's transaction.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ItemHashes {
    pub staging_hash: Option<String>,
    pub production_hash: Option<String>,
    pub conflict: i64,
    pub error: Option<String>,
}

pub async fn hashes(conn: &mut sqlx::AnyConnection, branch: &str, chart_id: &str) -> Result<Option<ItemHashes>> {
    Ok(sqlx::query_as(
        "select staging_hash, production_hash, conflict, error from branch_items where branch = $1 and chart_id = $2",
    )
    .bind(branch)
    .bind(chart_id)
    .fetch_optional(conn)
    .await?)
}

/// The items before and after the one at (`changed_at`, `slug`) in the list's default order
/// (last change first, then slug), in one query.
pub async fn neighbours(
    db: &Db,
    branch: &str,
    changed_at: &str,
    slug: &str,
) -> Result<(Option<String>, Option<String>)> {
    let rows: Vec<Neighbour> = sqlx::query_as(
        "select * from (select 1 as before, chart_id from branch_items
                        where branch = $1 and (changed_at > $2 or (changed_at = $2 and slug < $3))
                        order by changed_at asc, slug desc limit 1) b
         union all
         select * from (select 0 as before, chart_id from branch_items
                        where branch = $1 and (changed_at < $2 or (changed_at = $2 and slug > $3))
                        order by changed_at desc, slug asc limit 1) a",
    )
    .bind(branch)
    .bind(changed_at)
    .bind(slug)
    .fetch_all(&db.pool)
    .await?;
    let find = |before: bool| rows.iter().find(|r| (r.before != 0) == before).map(|r| r.chart_id.clone());
    Ok((find(true), find(false)))
}

#[derive(sqlx::FromRow)]
struct Neighbour {
    before: i64,
    chart_id: String,
}
