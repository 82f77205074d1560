//! `upgrades` and `upgrade_charts` (migration 0009): what each dataset upgrade of a branch did,
//! chart by chart, with the exact bytes it replaced so that undo can put them back.

use crate::db::{self, Db};
use crate::error::Result;

/// A row of `upgrades` with its outcome counts.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UpgradeRow {
    pub id: i64,
    pub branch: String,
    pub from_dataset: String,
    pub to_dataset: String,
    pub mapping: String,
    pub actor: String,
    pub created_at: String,
    pub undone_at: Option<String>,
    pub undone_by: Option<String>,
    pub updated: i64,
    pub unchanged: i64,
    pub skipped: i64,
}

const UPGRADE_COLUMNS: &str = "u.id, u.branch, u.from_dataset, u.to_dataset, u.mapping, u.actor, u.created_at, \
    u.undone_at, u.undone_by, \
    (select count(*) from upgrade_charts c where c.upgrade_id = u.id and c.outcome = 'updated') as updated, \
    (select count(*) from upgrade_charts c where c.upgrade_id = u.id and c.outcome = 'unchanged') as unchanged, \
    (select count(*) from upgrade_charts c where c.upgrade_id = u.id and c.outcome = 'skipped') as skipped";

/// One chart an upgrade considered. `before_*` are the exact bytes an updated chart had.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct UpgradeChart {
    pub chart_id: String,
    pub outcome: String,
    pub reason: Option<String>,
    pub before_slug: Option<String>,
    pub before_config: Option<String>,
    pub before_data: Option<String>,
    pub before_metadata: Option<String>,
    pub before_updated_at: Option<String>,
    /// Fingerprint and `updated_at` of the row the upgrade wrote (see `upgrades::row_mark`).
    pub after_fp: Option<String>,
    /// Version hash of the row the upgrade wrote.
    pub after_hash: Option<String>,
    pub undo_outcome: Option<String>,
    pub undo_reason: Option<String>,
}

const CHART_COLUMNS: &str = "chart_id, outcome, reason, before_slug, before_config, before_data, before_metadata, \
    before_updated_at, after_fp, after_hash, undo_outcome, undo_reason";

#[derive(sqlx::FromRow)]
struct Id {
    id: i64,
}

/// A new upgrade to record.
pub struct NewUpgrade<'a> {
    pub branch: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    /// JSON object: old id → new id or null.
    pub mapping: &'a str,
    pub actor: &'a str,
}

/// Records an upgrade and its charts, audited (`audit_detail` of its id), in one transaction;
/// returns its id.
pub async fn insert(
    db: &Db,
    new: NewUpgrade<'_>,
    charts: &[UpgradeChart],
    audit_detail: impl FnOnce(i64) -> serde_json::Value,
) -> Result<i64> {
    let NewUpgrade { branch, from, to, mapping, actor } = new;
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    let row: Id = sqlx::query_as(
        "insert into upgrades (branch, from_dataset, to_dataset, mapping, actor, created_at)
         values ($1, $2, $3, $4, $5, $6) returning id",
    )
    .bind(branch)
    .bind(from)
    .bind(to)
    .bind(mapping)
    .bind(actor)
    .bind(db::now())
    .fetch_one(&mut *tx)
    .await?;
    db::insert_rows(
        &mut tx,
        "insert into upgrade_charts (upgrade_id, branch, chart_id, outcome, reason, before_slug, before_config,
         before_data, before_metadata, before_updated_at, after_fp, after_hash) values {values}",
        12,
        charts,
        |b, c| {
            b.push(row.id)
                .push(branch)
                .push(&c.chart_id)
                .push(&c.outcome)
                .push(&c.reason)
                .push(&c.before_slug)
                .push(&c.before_config)
                .push(&c.before_data)
                .push(&c.before_metadata)
                .push(&c.before_updated_at)
                .push(&c.after_fp)
                .push(&c.after_hash);
        },
    )
    .await?;
    crate::repo::audit::append(
        &mut *tx,
        crate::repo::audit::Event {
            actor,
            action: "upgrade.apply",
            branch: Some(branch),
            detail: Some(audit_detail(row.id)),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(row.id)
}

pub async fn list(db: &Db, branch: &str) -> Result<Vec<UpgradeRow>> {
    Ok(sqlx::query_as(&format!("select {UPGRADE_COLUMNS} from upgrades u where u.branch = $1 order by u.id desc"))
        .bind(branch)
        .fetch_all(&db.pool)
        .await?)
}

pub async fn get(db: &Db, branch: &str, id: i64) -> Result<Option<UpgradeRow>> {
    Ok(sqlx::query_as(&format!("select {UPGRADE_COLUMNS} from upgrades u where u.branch = $1 and u.id = $2"))
        .bind(branch)
        .bind(id)
        .fetch_optional(&db.pool)
        .await?)
}

pub async fn charts(db: &Db, id: i64) -> Result<Vec<UpgradeChart>> {
    Ok(sqlx::query_as(&format!("select {CHART_COLUMNS} from upgrade_charts where upgrade_id = $1 order by chart_id"))
        .bind(id)
        .fetch_all(&db.pool)
        .await?)
}

/// Marks an upgrade undone with each chart's undo outcome, audited, in one transaction. False
/// when another undo got there first.
pub async fn mark_undone(
    db: &Db,
    id: i64,
    actor: &str,
    branch: &str,
    outcomes: &[(String, String, Option<String>)],
    detail: serde_json::Value,
) -> Result<bool> {
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    let done = sqlx::query("update upgrades set undone_at = $2, undone_by = $3 where id = $1 and undone_at is null")
        .bind(id)
        .bind(db::now())
        .bind(actor)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    for (chart_id, outcome, reason) in outcomes {
        sqlx::query(
            "update upgrade_charts set undo_outcome = $3, undo_reason = $4 where upgrade_id = $1 and chart_id = $2",
        )
        .bind(id)
        .bind(chart_id)
        .bind(outcome)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
    }
    crate::repo::audit::append(
        &mut *tx,
        crate::repo::audit::Event {
            actor,
            action: "upgrade.undo",
            branch: Some(branch),
            detail: Some(detail),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// The `where` clause (on `item_decisions`) of the items an upgrade made: the chart was updated
/// by it and staging still holds what it wrote. `?` is the upgrade's id.
pub const ITEM_FILTER: &str = "exists (select 1 from upgrade_charts uc where uc.upgrade_id = cast(? as bigint) \
    and uc.branch = item_decisions.branch and uc.chart_id = item_decisions.chart_id \
    and uc.after_hash = item_decisions.staging_hash)";
