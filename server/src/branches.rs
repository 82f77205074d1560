//! Staging environments: registration (which takes the baseline from the branch's target),
//! listing, archiving, and the environments of targets that promote (design §10).

use app::types::{BranchSummary, ItemCounts, Role};
use serde_json::json;

use crate::access::Actor;
use crate::charts::store::identity::StoreIdentity;
use crate::charts::store::StoreUrl;
use crate::charts::ChartStore;
use crate::db::{self, redact, Backend};
use crate::error::{Error, Result};
use crate::repo::audit::{self, Event};
use crate::repo::branches::{self as rows, BranchRow, NewBranchRow};
use crate::repo::{items, states};
use crate::scans;
use crate::state::AppState;
use crate::targets::Target;

pub struct NewBranch<'a> {
    pub branch: &'a str,
    /// The staging store; `None` with `fork` creates it from `staging_url_template`.
    pub store_url: Option<&'a str>,
    pub fork: bool,
    pub preview_url: Option<&'a str>,
    /// The target to check the branch against and sync it to; `None`: the default target.
    pub target: Option<&'a str>,
    /// The GitHub repository (`owner/name`) its pull requests must come from; `None`: bound by
    /// the first signed hook event for the branch's raw name.
    pub repository: Option<&'a str>,
}

/// Checks a repository's `owner/name` as GitHub spells them: letters, digits, `-`, `_`, `.`.
fn repository_name(given: &str) -> Result<&str> {
    let part = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    match given.split_once('/') {
        Some((owner, name)) if part(owner) && part(name) => Ok(given),
        _ => Err(Error::Unprocessable(format!("repository {given:?} is not a GitHub repository's owner/name"))),
    }
}

/// Registers a staging environment (leads): checks its store, takes the baseline (production
/// now) and runs the first scan. 409 if the environment exists.
pub async fn register(state: &AppState, actor: &Actor, new: NewBranch<'_>) -> Result<BranchSummary> {
    actor.require(Role::Lead)?;
    let raw = new.branch.trim();
    if raw.is_empty() {
        return Err(Error::BadRequest("a branch name is required".into()));
    }
    let name = state.env_name(raw);
    let preview_url = new.preview_url.map(str::trim).filter(|p| !p.is_empty());
    if let Some(Err(why)) = preview_url.map(crate::naming::check_preview_template) {
        return Err(Error::Unprocessable(why));
    }
    let repository = new.repository.map(str::trim).filter(|r| !r.is_empty()).map(repository_name).transpose()?;
    let target = match new.target.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => state.targets.get(t)?,
        None => state.targets.default_target(),
    };
    if state.targets.iter().any(|t| t.name == name) {
        return Err(Error::Conflict(format!("{name} is the name of a target; give the branch another name")));
    }
    if rows::get(&state.db, &name).await?.is_some() {
        return Err(Error::Conflict(format!("branch {name} is already registered")));
    }
    let target_store = state.target_store(target).await?;
    let store_url = match (new.store_url, new.fork) {
        (Some(_), true) => return Err(Error::Unprocessable("give either a store URL or --fork, not both".into())),
        (Some(url), false) => {
            StoreUrl::parse(url).map_err(|e| Error::Unprocessable(e.to_string()))?;
            let identity = state.config.confinement().admit(url).await?;
            refuse_target_store(state, url, &identity, None).await?;
            // What failed, in Chartgate's words: what the other end answered stays in the log,
            // so a store URL cannot be used to read other servers' or files' replies.
            let unusable = |e: Error| {
                tracing::warn!(store = %redact(url), error = %e.detail(), "a store given at registration cannot be used");
                Error::Unprocessable(format!("{} cannot be used as a chart store: {}", redact(url), e.for_lead()))
            };
            let store = state.stores.open(url, false).await.map_err(unusable)?;
            store.ping().await.map_err(unusable)?;
            url.to_string()
        }
        (None, true) => {
            let url = state.config.staging_url(&name);
            fork_store(state, &target_store, &url).await?;
            url
        }
        (None, false) => {
            return Err(Error::Unprocessable("a staging store URL (store_url) is required, unless forking".into()))
        }
    };
    let row = NewBranchRow {
        name: &name,
        raw_name: raw,
        store_url: &store_url,
        preview_url,
        created_by: &actor.name,
        target: &target.name,
        kind: "branch",
        repository,
    };
    let mut detail = json!({"fork": new.fork});
    if let Some(repository) = repository {
        detail["repository"] = json!(repository);
    }
    insert_with_baseline(state, actor, &row, target, detail).await?;
    // Incremental is enough: the branch has no staging states yet, so every staging row is read,
    // and its target was refreshed just above.
    scans::rescan_branch(state, &name, false).await?;
    get(state, &name, actor.role).await
}

/// Inserts the branch and takes its baseline (the target's store as it is now, held still while
/// it is copied), audited in the same transaction. 409 if the name is taken.
async fn insert_with_baseline(
    state: &AppState,
    actor: &Actor,
    row: &NewBranchRow<'_>,
    target: &Target,
    detail: serde_json::Value,
) -> Result<()> {
    let _fresh = scans::fresh_target(state, target).await?;
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    if !rows::insert(&mut tx, row).await? {
        return Err(Error::Conflict(format!("branch {} is already registered", row.name)));
    }
    states::take_baseline(&mut tx, row.name, &target.name).await?;
    let mut detail = detail;
    detail["raw_name"] = json!(row.raw_name);
    detail["store_url"] = json!(redact(row.store_url));
    detail["target"] = json!(target.name);
    detail["kind"] = json!(row.kind);
    audit::append(
        &mut *tx,
        Event {
            actor: &actor.name,
            action: "branch.register",
            branch: Some(row.name),
            detail: Some(detail),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Registers the environment of every target that promotes, as the configuration describes it:
/// a row under the target's name, checked against the next target, its baseline the next
/// target's content now (the first time). A target whose store or next target changed in the
/// configuration has its row updated and its baseline taken again. Targets whose store cannot be
/// read are skipped with a warning and tried again at the next call.
pub async fn ensure_environments(state: &AppState) -> Result<()> {
    let system = Actor::system();
    for env in state.targets.environments() {
        let next = state.targets.get(env.promotes_to.as_deref().expect("environments promote"))?;
        let existing = rows::get(&state.db, &env.name).await?;
        let result = match existing {
            Some(row) if row.store_url == env.store_url && row.target == next.name => continue,
            Some(row) if !row.is_target() => Err(Error::Conflict(format!(
                "a branch named {} is registered; target {} cannot take its name",
                row.name, env.name
            ))),
            Some(_) => retarget_environment(state, env, next).await,
            None => {
                let row = NewBranchRow {
                    name: &env.name,
                    raw_name: &env.name,
                    store_url: &env.store_url,
                    preview_url: env.preview_url.as_deref(),
                    created_by: &system.name,
                    target: &next.name,
                    kind: "target",
                    repository: None,
                };
                let registered =
                    insert_with_baseline(state, &system, &row, next, json!({"promotes_to": next.name})).await;
                match registered {
                    Ok(()) => scans::rescan_branch(state, &env.name, false).await.map(|_| ()),
                    Err(Error::Conflict(_)) => Ok(()), // another process registered it meanwhile
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(()) => {}
            Err(e @ (Error::Store { .. } | Error::Conflict(_))) => {
                tracing::warn!(target = %env.name, error = %e.detail(), "the environment of a target is not registered yet")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn retarget_environment(state: &AppState, env: &Target, next: &Target) -> Result<()> {
    let _fresh = scans::fresh_target(state, next).await?;
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    rows::update_environment(&mut tx, &env.name, &env.store_url, &next.name).await?;
    states::take_baseline(&mut tx, &env.name, &next.name).await?;
    audit::append(
        &mut *tx,
        Event {
            actor: crate::access::SYSTEM,
            action: "branch.retarget",
            branch: Some(&env.name),
            detail: Some(json!({"store_url": redact(&env.store_url), "target": next.name})),
            ..Default::default()
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Refuses a store that is a target's own, however its URL is spelt (see
/// [`crate::charts::store::identity`]): a branch's store is written without approvals (upgrades,
/// merges, undo), a target's only by a sync of approved charts. `own` names the one target the
/// store may belong to: a target's own environment row.
async fn refuse_target_store(state: &AppState, url: &str, identity: &StoreIdentity, own: Option<&str>) -> Result<()> {
    match state.targets.owning(url, identity).await? {
        Some(t) if Some(t.name.as_str()) != own => Err(Error::Unprocessable(format!(
            "{} is the store of target {}: a branch needs a store of its own",
            redact(url),
            t.name
        ))),
        _ => Ok(()),
    }
}

/// The store of a branch about to be written without a sync (an upgrade, a merge, an undo),
/// checked again now: a file swapped for a symlink to production since registration, or a
/// branch registered before stores were compared by identity, is refused here.
pub(crate) async fn writable_store(state: &AppState, row: &BranchRow) -> Result<ChartStore> {
    let own = (row.kind == "target").then_some(row.name.as_str());
    refuse_target_store(state, &row.store_url, &StoreIdentity::of_url(&row.store_url).await?, own).await?;
    state.stores.get(&row.store_url).await
}

/// Creates the store at `url` as a copy of the target's store: a new database (SQLite file,
/// PostgreSQL or MySQL database) with §3's table, or a new directory of chart files.
async fn fork_store(state: &AppState, target: &ChartStore, url: &str) -> Result<()> {
    refuse_target_store(state, url, &StoreIdentity::of_url(url).await?, None).await?;
    let exists = || Error::Conflict(format!("a store already exists at {}", redact(url)));
    match StoreUrl::parse(url)? {
        StoreUrl::Files { dir } => {
            if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
                return Err(exists());
            }
        }
        StoreUrl::Sql { engine: Backend::Sqlite, connect, .. } => {
            if std::path::Path::new(db::sqlite_path(&connect).as_ref()).exists() {
                return Err(exists());
            }
        }
        StoreUrl::Sql { .. } => create_server_database(url).await?,
    }
    let store = state.stores.open(url, true).await?;
    store.create_schema().await?;
    store.copy_from(target).await?;
    Ok(())
}

/// Creates the database a `postgres://` or `mysql://` URL names, through the server's
/// administrative database.
pub async fn create_server_database(url: &str) -> Result<()> {
    if make_server_database(url).await? {
        Ok(())
    } else {
        Err(Error::Conflict(format!("a store already exists at {}", redact(url))))
    }
}

/// Creates the database a server URL names unless it exists (the demo, re-run); true when it
/// was created.
pub async fn ensure_server_database(url: &str) -> Result<bool> {
    make_server_database(url).await
}

async fn make_server_database(url: &str) -> Result<bool> {
    let StoreUrl::Sql { engine, connect, .. } = StoreUrl::parse(url)? else {
        return Err(Error::BadRequest(format!("{} names no database server", redact(url))));
    };
    let mut parsed = url::Url::parse(&connect).map_err(|e| Error::BadRequest(format!("{}: {e}", redact(url))))?;
    let name = parsed.path().trim_start_matches('/').to_string();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(Error::BadRequest(format!("cannot create a database named {name:?}")));
    }
    let (admin_path, exists_sql, create) = match engine {
        Backend::Mysql => (
            "/",
            "select 1 as one from information_schema.schemata where schema_name = ?",
            format!("create database `{name}` character set utf8mb4 collate utf8mb4_bin"),
        ),
        _ => {
            ("/postgres", "select 1 as one from pg_database where datname = $1", format!("create database \"{name}\""))
        }
    };
    parsed.set_path(admin_path);
    let admin = db::connect(parsed.as_str(), false, false, 1).await.map_err(|e| Error::store(url, e))?;
    let exists = sqlx::query(exists_sql).bind(&name).fetch_optional(&admin).await?;
    if exists.is_some() {
        admin.close().await;
        return Ok(false);
    }
    sqlx::query(&create).execute(&admin).await?;
    admin.close().await;
    Ok(true)
}

fn not_found(name: &str) -> Error {
    Error::NotFound(format!("no branch {name} is registered"))
}

/// A branch as `reader` may see it: where its store is, and the detail of a scan error, are for
/// leads (a store's URL names a host or a server path).
fn summary(r: BranchRow, counts: ItemCounts, reader: Role) -> BranchSummary {
    BranchSummary {
        store_url: (reader >= Role::Lead).then(|| redact(&r.store_url)),
        name: r.name,
        raw_name: r.raw_name,
        preview_url: r.preview_url,
        state: r.state,
        created_at: r.created_at,
        created_by: r.created_by,
        merged_at: r.merged_at,
        archived_at: r.archived_at,
        last_scan_at: r.last_scan_at,
        last_scan_ms: r.last_scan_ms,
        scan_error: r.scan_error,
        scan_error_detail: r.scan_error_detail.filter(|_| reader >= Role::Lead),
        counts,
        target: r.target,
        kind: r.kind,
        repository: r.repository,
    }
}

/// A branch's row, by raw or environment name, without its counts: for callers that need only
/// its state, store or target (a decision, a detail page), where counting every item would be
/// most of the work.
pub(crate) async fn row(state: &AppState, branch: &str) -> Result<BranchRow> {
    let name = state.env_name(branch);
    rows::get(&state.db, &name).await?.ok_or_else(|| not_found(&name))
}

/// One branch (raw or environment name) with its counts.
pub async fn get(state: &AppState, branch: &str, reader: Role) -> Result<BranchSummary> {
    Ok(get_at(state, branch, reader).await?.0)
}

/// [`get`], and the revision the summary's counts are of (see [`crate::state::ListCache`]).
pub async fn get_at(state: &AppState, branch: &str, reader: Role) -> Result<(BranchSummary, i64)> {
    let row = row(state, branch).await?;
    let revision = row.revision;
    let counts = match state.lists.counts.get(&row.name, revision) {
        Some(counts) => counts,
        None => {
            let counts = items::counts(&state.db, &row.name).await?;
            state.lists.counts.keep(row.name.clone(), revision, counts.clone());
            counts
        }
    };
    Ok((summary(row, counts, reader), revision))
}

/// The targets in chain order: each after the one it promotes to.
pub fn targets(state: &AppState, reader: Role) -> Vec<app::types::TargetSummary> {
    let default = state.targets.default_target().name.clone();
    state
        .targets
        .chain()
        .into_iter()
        .map(|t| app::types::TargetSummary {
            name: t.name.clone(),
            store_url: (reader >= Role::Lead).then(|| t.store_key()),
            promotes_to: t.promotes_to.clone(),
            promote_on: t.promote_on.to_string(),
            promote_branch: (t.promote_on == crate::config::PromoteOn::Merge).then(|| t.promote_branch.clone()),
            sync_on_merge: t.sync_on_merge,
            default: t.name == default,
        })
        .collect()
}

/// Every branch with its counts: open first, then merged, then archived.
pub async fn list(state: &AppState, reader: Role) -> Result<Vec<BranchSummary>> {
    let mut out = Vec::new();
    for row in rows::list(&state.db).await? {
        let counts = items::counts(&state.db, &row.name).await?;
        out.push(summary(row, counts, reader));
    }
    Ok(out)
}

/// Archives a branch (leads): it stops being scanned; its reviews and audit stay.
pub async fn archive(state: &AppState, actor: &Actor, branch: &str) -> Result<BranchSummary> {
    actor.require(Role::Lead)?;
    let name = state.env_name(branch);
    let row = rows::get(&state.db, &name).await?.ok_or_else(|| not_found(&name))?;
    if row.is_target() {
        return Err(Error::Conflict(format!("{name} is the environment of a target; it is never archived")));
    }
    {
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        if !rows::archive(&mut tx, &name).await? {
            return Err(Error::Conflict(format!("branch {name} is already archived")));
        }
        audit::append(
            &mut *tx,
            Event { actor: &actor.name, action: "branch.archive", branch: Some(&name), ..Default::default() },
        )
        .await?;
        tx.commit().await?;
    }
    get(state, &name, actor.role).await
}
