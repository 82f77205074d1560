//! Staging environments: their names, registration (which takes the baseline), listing,
//! archiving, and rescans that record when they ran and why they failed.

use app::types::{BranchSummary, ItemCounts};
use serde_json::json;
use sqlx::Row;

use crate::audit::{self, Event};
use crate::charts::ChartStore;
use crate::db::{self, redact, Backend};
use crate::error::{Error, Result};
use crate::scan::{self, ScanReport, PRODUCTION};
use crate::state::AppState;

/// The environment name of a branch (design §1): every character that is not an ASCII letter or
/// digit becomes `-`, cut to `max` characters.
pub fn env_name(branch: &str, max: usize) -> String {
    branch.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(max).collect()
}

pub struct NewBranch<'a> {
    pub branch: &'a str,
    /// The staging store; `None` with `fork` creates it from `staging_url_template`.
    pub store_url: Option<&'a str>,
    pub fork: bool,
    pub preview_url: Option<&'a str>,
    pub actor: &'a str,
}

/// Registers a staging environment: checks its store, takes the baseline (production now) and
/// runs the first scan. 409 if the environment exists.
pub async fn register(state: &AppState, new: NewBranch<'_>) -> Result<BranchSummary> {
    let raw = new.branch.trim();
    if raw.is_empty() {
        return Err(Error::BadRequest("a branch name is required".into()));
    }
    let name = env_name(raw, state.config.branch_name_max);
    if get_row(state, &name).await?.is_some() {
        return Err(Error::Conflict(format!("branch {name} is already registered")));
    }
    let production = state.production().await?;
    let store_url = match (new.store_url, new.fork) {
        (Some(_), true) => return Err(Error::BadRequest("give either a store URL or --fork, not both".into())),
        (Some(url), false) => {
            Backend::of(url).map_err(|e| Error::Unprocessable(e.to_string()))?;
            let store = ChartStore::open(url, false).await.map_err(|e| Error::Unprocessable(e.to_string()))?;
            store.ping().await.map_err(|e| Error::Unprocessable(e.to_string()))?;
            url.to_string()
        }
        (None, true) => {
            let url = state.config.staging_url(&name);
            fork_store(&production, &url).await?;
            url
        }
        (None, false) => return Err(Error::BadRequest("a staging store URL (store_url) is required".into())),
    };

    // The baseline is production as it is now: bring Chartgate's view of it up to date first.
    let lock = state.scan_locks.for_branch(PRODUCTION).await;
    {
        let _held = lock.lock().await;
        scan::refresh_side(&state.db, &production, PRODUCTION, "", false, Default::default()).await?;
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        let inserted = sqlx::query(
            "insert into branches (name, raw_name, store_url, preview_url, state, created_at, created_by)
             values ($1, $2, $3, $4, 'open', $5, $6) on conflict (name) do nothing",
        )
        .bind(&name)
        .bind(raw)
        .bind(&store_url)
        .bind(new.preview_url)
        .bind(db::now())
        .bind(new.actor)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(Error::Conflict(format!("branch {name} is already registered")));
        }
        scan::take_baseline(&mut tx, &name).await?;
        audit::append(
            &mut *tx,
            Event {
                actor: new.actor,
                action: "branch.register",
                branch: Some(&name),
                detail: Some(json!({"raw_name": raw, "store_url": redact(&store_url), "fork": new.fork})),
                ..Default::default()
            },
        )
        .await?;
        tx.commit().await?;
    }
    // Incremental is enough: the branch has no staging states yet, so every staging row is read,
    // and production was refreshed just above.
    rescan(state, &name, false).await?;
    get(state, &name).await
}

/// Creates the store at `url` as a copy of production.
async fn fork_store(production: &ChartStore, url: &str) -> Result<()> {
    if Backend::of(url)? == Backend::Postgres {
        create_postgres_database(url).await?;
    } else if std::path::Path::new(db::sqlite_path(url)).exists() {
        return Err(Error::Conflict(format!("a store already exists at {}", redact(url))));
    }
    let store = ChartStore::open(url, true).await?;
    store.create_schema().await?;
    store.copy_from(production).await?;
    Ok(())
}

/// Creates the database a `postgres://` URL names, through the server's `postgres` database.
pub async fn create_postgres_database(url: &str) -> Result<()> {
    let mut parsed = url::Url::parse(url).map_err(|e| Error::BadRequest(format!("{}: {e}", redact(url))))?;
    let name = parsed.path().trim_start_matches('/').to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(Error::BadRequest(format!("cannot create a database named {name:?}")));
    }
    parsed.set_path("/postgres");
    let admin = db::connect(parsed.as_str(), false, false, 1)
        .await
        .map_err(|e| Error::Store(format!("cannot reach PostgreSQL at {}: {e}", redact(url))))?;
    let exists = sqlx::query("select 1 from pg_database where datname = $1").bind(&name).fetch_optional(&admin).await?;
    if exists.is_some() {
        return Err(Error::Conflict(format!("a store already exists at {}", redact(url))));
    }
    sqlx::query(&format!("create database \"{name}\"")).execute(&admin).await?;
    admin.close().await;
    Ok(())
}

/// Rescans a branch now (incrementally unless `full`), one scan per branch at a time. A store
/// that cannot be read is recorded on the branch (and shown), then returned as the error.
pub async fn rescan(state: &AppState, name: &str, full: bool) -> Result<ScanReport> {
    let row = get_row(state, name).await?.ok_or_else(|| not_found(name))?;
    let store_url: String = row.try_get("store_url")?;
    let lock = state.scan_locks.for_branch(name).await;
    let _held = lock.lock().await;
    let prod_lock = state.scan_locks.for_branch(PRODUCTION).await;
    let _prod_held = prod_lock.lock().await;
    let result = async {
        let production = state.production().await?;
        let staging = state.stores.get(&store_url).await?;
        scan::scan_branch(&state.db, &production, &staging, name, full).await
    }
    .await;
    if let Err(Error::Store(message)) = &result {
        state.stores.forget(&store_url).await;
        state.stores.forget(&state.config.production_url).await;
        let _guard = state.db.write_guard().await;
        sqlx::query("update branches set scan_error = $1 where name = $2")
            .bind(message)
            .bind(name)
            .execute(&state.db.pool)
            .await?;
    }
    result
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("no branch {name} is registered"))
}

/// Accepts a raw branch name or an environment name.
pub fn resolve(state: &AppState, branch: &str) -> String {
    env_name(branch, state.config.branch_name_max)
}

async fn get_row(state: &AppState, name: &str) -> Result<Option<sqlx::any::AnyRow>> {
    Ok(sqlx::query(&format!("select {BRANCH_COLUMNS} from branches where name = $1"))
        .bind(name)
        .fetch_optional(&state.db.pool)
        .await?)
}

const BRANCH_COLUMNS: &str = "name, raw_name, store_url, preview_url, state, created_at, created_by, merged_at, \
                              archived_at, last_scan_at, last_scan_ms, scan_error";

fn summary_from_row(r: &sqlx::any::AnyRow) -> Result<BranchSummary> {
    let store_url: String = r.try_get("store_url")?;
    Ok(BranchSummary {
        name: r.try_get("name")?,
        raw_name: r.try_get("raw_name")?,
        store_url: redact(&store_url),
        preview_url: r.try_get("preview_url")?,
        state: r.try_get("state")?,
        created_at: r.try_get("created_at")?,
        created_by: r.try_get("created_by")?,
        merged_at: r.try_get("merged_at")?,
        archived_at: r.try_get("archived_at")?,
        last_scan_at: r.try_get("last_scan_at")?,
        last_scan_ms: r.try_get("last_scan_ms")?,
        scan_error: r.try_get("scan_error")?,
        counts: ItemCounts::default(),
    })
}

pub async fn get(state: &AppState, branch: &str) -> Result<BranchSummary> {
    let name = resolve(state, branch);
    let row = get_row(state, &name).await?.ok_or_else(|| not_found(&name))?;
    let mut summary = summary_from_row(&row)?;
    summary.counts = crate::diffs::counts(&state.db, &name).await?;
    Ok(summary)
}

pub async fn list(state: &AppState) -> Result<Vec<BranchSummary>> {
    let rows = sqlx::query(&format!(
        "select {BRANCH_COLUMNS} from branches order by case state when 'open' then 0 when 'merged' then 1 else 2 end, created_at desc"
    ))
    .fetch_all(&state.db.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let mut s = summary_from_row(&r)?;
        s.counts = crate::diffs::counts(&state.db, &s.name).await?;
        out.push(s);
    }
    Ok(out)
}

/// Archives a branch: it stops being scanned; its reviews and audit stay.
pub async fn archive(state: &AppState, branch: &str, actor: &str) -> Result<BranchSummary> {
    let name = resolve(state, branch);
    get_row(state, &name).await?.ok_or_else(|| not_found(&name))?;
    {
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        let changed = sqlx::query(
            "update branches set state = 'archived', archived_at = $1 where name = $2 and state <> 'archived'",
        )
        .bind(db::now())
        .bind(&name)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Err(Error::Conflict(format!("branch {name} is already archived")));
        }
        audit::append(&mut *tx, Event { actor, action: "branch.archive", branch: Some(&name), ..Default::default() })
            .await?;
        tx.commit().await?;
    }
    get(state, &name).await
}

/// Names of the branches background rescans keep fresh.
pub async fn open_names(state: &AppState) -> Result<Vec<String>> {
    let rows =
        sqlx::query("select name from branches where state = 'open' order by name").fetch_all(&state.db.pool).await?;
    rows.iter().map(|r| r.try_get(0).map_err(Error::from)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_follow_the_design() {
        assert_eq!(env_name("feature/123", 50), "feature-123");
        assert_eq!(env_name("fix/ünïcode branch!", 50), "fix--n-code-branch-");
        assert_eq!(env_name(&"a".repeat(80), 50).len(), 50);
        assert_eq!(env_name("feature/abc", 7), "feature");
        assert_eq!(env_name("feature-123", 50), "feature-123", "an environment name maps to itself");
    }
}
