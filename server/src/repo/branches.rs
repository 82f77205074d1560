//! `branches`: the registered staging environments and their scan bookkeeping.

use crate::db::{self, Db};
use crate::error::Result;

/// A row of `branches`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct BranchRow {
    pub name: String,
    pub raw_name: String,
    pub store_url: String,
    pub preview_url: Option<String>,
    pub state: String,
    pub created_at: String,
    pub created_by: String,
    pub merged_at: Option<String>,
    pub archived_at: Option<String>,
    pub last_scan_at: Option<String>,
    pub last_scan_ms: Option<i64>,
    pub scan_error: Option<String>,
    pub scan_error_detail: Option<String>,
    /// The target the branch is checked against and synced to.
    pub target: String,
    /// `branch`, or `target` for a target that is an environment of the next one.
    pub kind: String,
    /// The generation of the target's side the items were built from (`-1`: never built).
    pub target_generation: i64,
    /// Bumped by every change to the branch's items or decisions (triggers, migration 0014).
    pub revision: i64,
    /// The GitHub repository (`owner/name`) its pull requests must come from: given at
    /// registration or bound by the first signed event for its raw name (migration 0016).
    pub repository: Option<String>,
}

impl BranchRow {
    /// A target's environment (never archived, never marked merged).
    pub fn is_target(&self) -> bool {
        self.kind == "target"
    }
}

const COLUMNS: &str = "name, raw_name, store_url, preview_url, state, created_at, created_by, merged_at, \
                       archived_at, last_scan_at, last_scan_ms, scan_error, scan_error_detail, target, kind, target_generation, \
                       revision, repository";

pub async fn get(db: &Db, name: &str) -> Result<Option<BranchRow>> {
    Ok(sqlx::query_as(&format!("select {COLUMNS} from branches where name = $1"))
        .bind(name)
        .fetch_optional(&db.pool)
        .await?)
}

/// Open branches first, then merged, then archived; newest first within each.
pub async fn list(db: &Db) -> Result<Vec<BranchRow>> {
    Ok(sqlx::query_as(&format!(
        "select {COLUMNS} from branches
         order by case state when 'open' then 0 when 'merged' then 1 else 2 end, created_at desc"
    ))
    .fetch_all(&db.pool)
    .await?)
}

/// A branch to insert.
pub struct NewBranchRow<'a> {
    pub name: &'a str,
    pub raw_name: &'a str,
    pub store_url: &'a str,
    pub preview_url: Option<&'a str>,
    pub created_by: &'a str,
    pub target: &'a str,
    /// `branch` or `target`.
    pub kind: &'a str,
    /// `owner/name` of the GitHub repository, when the registration named one.
    pub repository: Option<&'a str>,
}

/// Inserts an open branch; false when one of that name exists.
pub async fn insert(conn: &mut sqlx::AnyConnection, b: &NewBranchRow<'_>) -> Result<bool> {
    let inserted = sqlx::query(
        "insert into branches (name, raw_name, store_url, preview_url, state, created_at, created_by, target, kind,
             repository)
         values ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9) on conflict (name) do nothing",
    )
    .bind(b.name)
    .bind(b.raw_name)
    .bind(b.store_url)
    .bind(b.preview_url)
    .bind(db::now())
    .bind(b.created_by)
    .bind(b.target)
    .bind(b.kind)
    .bind(b.repository)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Binds a branch that has no repository yet to `repository` (the first signed event for its
/// raw name does); returns the repository the branch has afterwards, this one or the one it
/// already had. One statement, so two first events racing bind one repository.
pub async fn bind_repository(db: &Db, name: &str, repository: &str) -> Result<Option<String>> {
    let _guard = db.write_guard().await;
    sqlx::query("update branches set repository = $1 where name = $2 and repository is null")
        .bind(repository)
        .bind(name)
        .execute(&db.pool)
        .await?;
    Ok(get(db, name).await?.and_then(|b| b.repository))
}

/// Points a target's environment at its store and next target as the configuration now says.
pub async fn update_environment(
    conn: &mut sqlx::AnyConnection,
    name: &str,
    store_url: &str,
    target: &str,
) -> Result<()> {
    sqlx::query("update branches set store_url = $1, target = $2 where name = $3 and kind = 'target'")
        .bind(store_url)
        .bind(target)
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// Archives a branch; false when it was archived already.
pub async fn archive(conn: &mut sqlx::AnyConnection, name: &str) -> Result<bool> {
    let changed =
        sqlx::query("update branches set state = 'archived', archived_at = $1 where name = $2 and state <> 'archived'")
            .bind(db::now())
            .bind(name)
            .execute(conn)
            .await?;
    Ok(changed.rows_affected() == 1)
}

/// Marks an open branch merged; false when it was not open (or is a target's environment, which
/// is promoted, never merged).
pub async fn mark_merged(conn: &mut sqlx::AnyConnection, name: &str, at: &str) -> Result<bool> {
    let merged = sqlx::query(
        "update branches set state = 'merged', merged_at = $1 where name = $2 and state = 'open' and kind = 'branch'",
    )
    .bind(at)
    .bind(name)
    .execute(conn)
    .await?;
    Ok(merged.rows_affected() == 1)
}

/// Records why the last scan failed: `message` for anyone, `detail` for leads.
pub async fn set_scan_error(db: &Db, name: &str, message: &str, detail: &str) -> Result<()> {
    let _guard = db.write_guard().await;
    sqlx::query("update branches set scan_error = $1, scan_error_detail = $2 where name = $3")
        .bind(message)
        .bind(detail)
        .bind(name)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Records a successful scan (and clears the last error) and the target generation its items
/// reflect.
pub async fn record_scan(
    db: &Db,
    name: &str,
    at: &str,
    duration_ms: u64,
    full: bool,
    target_generation: i64,
) -> Result<()> {
    let _guard = db.write_guard().await;
    sqlx::query(
        "update branches set last_scan_at = $1, last_scan_ms = $2, scan_error = null, scan_error_detail = null,
         last_full_scan_at = case when $3 = 1 then $1 else last_full_scan_at end, target_generation = $4
         where name = $5",
    )
    .bind(at)
    .bind(duration_ms as i64)
    .bind(full as i64)
    .bind(target_generation)
    .bind(name)
    .execute(&db.pool)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Name {
    name: String,
}

/// Names of the branches background rescans keep fresh.
pub async fn open_names(db: &Db) -> Result<Vec<String>> {
    let rows: Vec<Name> =
        sqlx::query_as("select name from branches where state = 'open' order by name").fetch_all(&db.pool).await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// A merged branch and when it merged.
#[derive(sqlx::FromRow)]
pub struct Merged {
    pub name: String,
    pub merged_at: String,
}

pub async fn merged(db: &Db) -> Result<Vec<Merged>> {
    Ok(sqlx::query_as("select name, merged_at from branches where state = 'merged' and merged_at is not null")
        .fetch_all(&db.pool)
        .await?)
}
