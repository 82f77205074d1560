//! A chart store: a SQL database (SQLite file or PostgreSQL) holding the `charts` table of design
//! §3. Chartgate reads staging and production stores and, on sync, writes rows of that table and
//! nothing else. Every error names the store, so a user can tell which environment is broken.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::AnyPool;
use tokio::sync::Mutex;

use super::canonical::canonicalize;
use super::raw::{RawChart, Stamp};
use crate::db::{self, placeholders, redact, Backend};
use crate::error::{Error, Result};

/// The columns of `charts`, in the order [`RawChart`] names them.
const CHART_COLUMNS: &str = "id, slug, config, data, metadata, updated_at";

#[derive(Clone)]
pub struct ChartStore {
    pub url: String,
    pub backend: Backend,
    pool: AnyPool,
    /// The change marker each scanner (`side:branch`) saw when it last listed this store.
    markers: Arc<std::sync::Mutex<HashMap<String, Option<ChangeMarker>>>>,
    /// The last `chart_views` read (see [`ChartStore::chart_views`]).
    views: Arc<std::sync::Mutex<Option<ViewsRead>>>,
}

/// `chart_views` as read (`None`: the store has no such table), with when and at which change
/// marker.
struct ViewsRead {
    marker: Option<ChangeMarker>,
    at: std::time::Instant,
    views: Option<Arc<HashMap<String, i64>>>,
}

/// How long views read from a store without a change marker (PostgreSQL) are used again.
const VIEWS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// How long such a store is taken to have no `chart_views` table before it is asked again: a
/// table an operator adds shows within a second.
const NO_VIEWS_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Modification time and length of a SQLite store's file and its write-ahead log: any commit
/// changes one of them. Listing `updated_at` of a SQLite store reads every page of the table
/// (the column sits after ~25 KB of JSON), so an unchanged file is worth knowing about.
pub type ChangeMarker = [(u128, u64); 2];

pub const CHARTS_TABLE: &str = "create table if not exists charts (
    id         text primary key,
    slug       text not null unique,
    config     text not null,
    data       text not null,
    metadata   text not null,
    updated_at text not null
)";

/// The optional index of design §3 (see [`ChartStore::prepare`]).
pub const STAMPS_INDEX_NAME: &str = "charts_id_updated_at";
const STAMPS_INDEX: &str = "create index if not exists charts_id_updated_at on charts (id, updated_at)";

impl ChartStore {
    /// Opens an existing store; `create` makes a missing SQLite file (for the demo and `--fork`).
    pub async fn open(url: &str, create: bool) -> Result<ChartStore> {
        let backend = Backend::of(url)?;
        let pool = db::connect(url, create, false, 4).await.map_err(|e| store_error(url, e))?;
        Ok(ChartStore { url: url.to_string(), backend, pool, markers: Default::default(), views: Default::default() })
    }

    /// The store's change marker: SQLite only (PostgreSQL keeps large text out of line, so its
    /// listing is cheap anyway); `None` when it cannot be taken.
    pub fn change_marker(&self) -> Option<ChangeMarker> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let path = db::sqlite_path(&self.url);
        let stat = |p: &str| -> Option<(u128, u64)> {
            match std::fs::metadata(p) {
                Ok(m) => {
                    let mtime = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
                    Some((mtime, m.len()))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some((0, 0)),
                Err(_) => None,
            }
        };
        Some([stat(path)?, stat(&format!("{path}-wal"))?])
    }

    /// True when this store's files are exactly as `key`'s last scan left them.
    pub fn unchanged_for(&self, key: &str) -> bool {
        let now = self.change_marker();
        now.is_some() && self.last_marker(key) == now
    }

    pub fn last_marker(&self, key: &str) -> Option<ChangeMarker> {
        self.markers.lock().expect("marker lock").get(key).copied().flatten()
    }

    pub fn set_marker(&self, key: &str, marker: Option<ChangeMarker>) {
        self.markers.lock().expect("marker lock").insert(key.to_string(), marker);
    }

    /// The store's name in messages (its URL without a password).
    pub fn name(&self) -> String {
        redact(&self.url)
    }

    pub(super) fn fail(&self, e: sqlx::Error) -> Error {
        store_error(&self.url, e)
    }

    pub async fn create_schema(&self) -> Result<()> {
        sqlx::query(CHARTS_TABLE).execute(&self.pool).await.map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Adds the optional index of design §3, `charts_id_updated_at (id, updated_at)`, unless the
    /// store has it; returns whether it was added. With it, listing `(id, updated_at)` — what
    /// every rescan after a write does — reads a small index instead of every chart's JSON (on
    /// SQLite `updated_at` sits after ~25 KB of text per row). Chartgate never adds it by itself:
    /// a store's schema is its owner's, so this runs only when asked (`chartgate store prepare`).
    pub async fn prepare(&self) -> Result<bool> {
        let had = self.has_stamps_index().await?;
        if !had {
            sqlx::query(STAMPS_INDEX).execute(&self.pool).await.map_err(|e| self.fail(e))?;
        }
        Ok(!had)
    }

    /// Whether the store has the index [`ChartStore::prepare`] adds.
    pub async fn has_stamps_index(&self) -> Result<bool> {
        let sql = match self.backend {
            Backend::Sqlite => "select count(*) as n from sqlite_master where type = 'index' and name = $1",
            Backend::Postgres => "select count(*) as n from pg_indexes where tablename = 'charts' and indexname = $1",
        };
        #[derive(sqlx::FromRow)]
        struct Count {
            n: i64,
        }
        let found: Count =
            sqlx::query_as(sql).bind(STAMPS_INDEX_NAME).fetch_one(&self.pool).await.map_err(|e| self.fail(e))?;
        Ok(found.n > 0)
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("select count(*) from charts").fetch_one(&self.pool).await.map_err(|e| self.fail(e))?;
        Ok(())
    }

    pub async fn stamps(&self) -> Result<Vec<Stamp>> {
        if self.backend == Backend::Sqlite {
            return self
                .sqlite_read(|conn| {
                    let mut stmt = conn.prepare_cached("select id, updated_at from charts")?;
                    let rows =
                        stmt.query_map([], |r| Ok(Stamp { id: r.get("id")?, updated_at: r.get("updated_at")? }))?;
                    rows.collect()
                })
                .await;
        }
        sqlx::query_as("select id, updated_at from charts").fetch_all(&self.pool).await.map_err(|e| self.fail(e))
    }

    /// Runs a read on a SQLite store through rusqlite on a blocking thread.
    ///
    /// Scans read every byte of every chart; sqlx's SQLite driver hands each row from its worker
    /// thread to the async side one message at a time, which costs more in thread wake-ups than
    /// the reading itself. A plain read-only connection on a blocking thread reads a whole batch
    /// in one go.
    async fn sqlite_read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let path = db::sqlite_path(&self.url).to_string();
        let url = self.url.clone();
        tokio::task::spawn_blocking(move || {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = rusqlite::Connection::open_with_flags(&path, flags)?;
            conn.busy_timeout(std::time::Duration::from_secs(10))?;
            f(&conn)
        })
        .await
        .map_err(crate::error::Error::internal)?
        .map_err(|e| Error::store(&url, e))
    }

    /// Reads the given charts (those that exist).
    pub async fn read(&self, ids: &[String]) -> Result<Vec<RawChart>> {
        self.read_each(ids, |raw| raw).await
    }

    /// Reads the given charts (those that exist) and hands each to `each` on the thread that
    /// read it, keeping only what `each` returns. A scan keeps a chart's state, not its 25 KB of
    /// JSON: dropped where it was read, the text is freed by the thread that allocated it, which
    /// the allocator reuses at once; handed to another thread first, it was held per thread and a
    /// 20,000-chart registration's memory grew with every batch read.
    pub async fn read_each<T: Send + 'static>(
        &self,
        ids: &[String],
        each: impl Fn(RawChart) -> T + Send + 'static,
    ) -> Result<Vec<T>> {
        if self.backend == Backend::Sqlite {
            let ids = ids.to_vec();
            return self
                .sqlite_read(move |conn| {
                    let mut out = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks(db::MAX_PARAMS) {
                        let marks = vec!["?"; chunk.len()].join(", ");
                        let sql = format!("select {CHART_COLUMNS} from charts where id in ({marks})");
                        let mut stmt = conn.prepare_cached(&sql)?;
                        let rows = stmt.query_map(rusqlite::params_from_iter(chunk.iter()), |r| {
                            Ok(RawChart {
                                id: r.get("id")?,
                                slug: r.get("slug")?,
                                config: r.get("config")?,
                                data: r.get("data")?,
                                metadata: r.get("metadata")?,
                                updated_at: r.get("updated_at")?,
                            })
                        })?;
                        for row in rows {
                            out.push(each(row?));
                        }
                    }
                    Ok(out)
                })
                .await;
        }
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(db::MAX_PARAMS) {
            let sql = format!("select {CHART_COLUMNS} from charts where id in ({})", placeholders(0, chunk.len()));
            let mut q = sqlx::query_as::<_, RawChart>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            rows.extend(q.fetch_all(&self.pool).await.map_err(|e| self.fail(e))?);
        }
        tokio::task::spawn_blocking(move || rows.into_iter().map(each).collect())
            .await
            .map_err(crate::error::Error::internal)
    }

    pub async fn get(&self, id: &str) -> Result<Option<RawChart>> {
        Ok(self.read(&[id.to_string()]).await?.pop())
    }

    /// Writes charts as they are (insert or replace by id), in one transaction.
    pub async fn put_many(&self, charts: &[RawChart]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(|e| self.fail(e))?;
        for c in charts {
            sqlx::query(
                "insert into charts (id, slug, config, data, metadata, updated_at) values ($1, $2, $3, $4, $5, $6)
                 on conflict (id) do update set slug = excluded.slug, config = excluded.config, data = excluded.data,
                 metadata = excluded.metadata, updated_at = excluded.updated_at",
            )
            .bind(&c.id)
            .bind(&c.slug)
            .bind(&c.config)
            .bind(&c.data)
            .bind(&c.metadata)
            .bind(&c.updated_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| self.fail(e))?;
        }
        tx.commit().await.map_err(|e| self.fail(e))
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        sqlx::query("delete from charts where id = $1").bind(id).execute(&self.pool).await.map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Copies every chart of `from` into this store (used by `branch add --fork`).
    pub async fn copy_from(&self, from: &ChartStore) -> Result<usize> {
        let ids: Vec<String> = from.stamps().await?.into_iter().map(|s| s.id).collect();
        for chunk in ids.chunks(db::MAX_PARAMS) {
            self.put_many(&from.read(chunk).await?).await?;
        }
        Ok(ids.len())
    }

    /// Page views per chart over 30 days, from the store's optional `chart_views (chart_id text
    /// primary key, views_30d integer)` table (design §11); `None` when the store has no such
    /// table (or it cannot be read: relevance is a help, never a reason to fail the list).
    ///
    /// Every diff list shows them, so they are read again only when the store changed (SQLite:
    /// its files' change marker) or, without a marker (PostgreSQL), after ten seconds. A list
    /// used to read the whole table, row by row, on every request. That a store has no such
    /// table is kept too (for a second without a marker): asking on every list cost a failed
    /// statement each time, and an error line in PostgreSQL's log per request.
    pub async fn chart_views(&self) -> Option<Arc<HashMap<String, i64>>> {
        let marker = self.change_marker();
        if let Some(last) = self.views.lock().expect("views lock").as_ref() {
            let fresh = match marker {
                Some(now) => last.marker == Some(now),
                None if last.views.is_some() => last.at.elapsed() < VIEWS_FRESH_FOR,
                None => last.at.elapsed() < NO_VIEWS_FRESH_FOR,
            };
            if fresh {
                return last.views.clone();
            }
        }
        #[derive(sqlx::FromRow)]
        struct Views {
            chart_id: String,
            views_30d: Option<i64>,
        }
        let views =
            match sqlx::query_as::<_, Views>("select chart_id, views_30d from chart_views").fetch_all(&self.pool).await
            {
                Ok(rows) => Some(Arc::new(rows.into_iter().map(|r| (r.chart_id, r.views_30d.unwrap_or(0))).collect())),
                Err(e) => {
                    tracing::debug!(store = %self.name(), error = %e, "no chart_views table");
                    None
                }
            };
        let read = ViewsRead { marker, at: std::time::Instant::now(), views: views.clone() };
        *self.views.lock().expect("views lock") = Some(read);
        views
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Compare-and-swap of one chart, in one transaction (the sync job's only write path).
    ///
    /// Reads the row (locked: `begin immediate` on SQLite, `for update` on PostgreSQL),
    /// canonicalises it and compares its version hash: equal to `target`'s hash, nothing to do;
    /// different from `expected` (the hash the approval was made on, `None` for "absent"), nothing
    /// is written either. Otherwise writes `target` (`None` deletes) unless `dry_run`, and commits.
    /// A constraint the write breaks (a slug another chart uses) is an [`Error::Conflict`]; an
    /// unreachable store an [`Error::Store`].
    pub async fn compare_and_swap(
        &self,
        id: &str,
        expected: Option<&str>,
        target: Option<&Target<'_>>,
        dry_run: bool,
    ) -> Result<Swap> {
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("begin immediate").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .map_err(|e| self.fail(e))?;
        let lock = if self.backend == Backend::Postgres { " for update" } else { "" };
        let row: Option<RawChart> = sqlx::query_as(&format!("select {CHART_COLUMNS} from charts where id = $1{lock}"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| self.fail(e))?;
        let current = match row {
            None => None,
            Some(raw) => match canonicalize(&raw) {
                Ok(c) => Some(c.hash),
                Err(e) => return Ok(Swap::Unreadable(format!("production chart {id}: {e}"))),
            },
        };
        if current.as_deref() == target.map(|t| t.hash) {
            return Ok(Swap::AlreadyThere);
        }
        if current.as_deref() != expected {
            return Ok(Swap::Changed { found: current });
        }
        if dry_run {
            return Ok(Swap::Written);
        }
        let written = match target {
            None => sqlx::query("delete from charts where id = $1").bind(id).execute(&mut *tx).await,
            Some(t) => {
                let sql = if current.is_some() {
                    "update charts set slug = $2, config = $3, data = $4, metadata = $5, updated_at = $6 where id = $1"
                } else {
                    "insert into charts (id, slug, config, data, metadata, updated_at) values ($1, $2, $3, $4, $5, $6)"
                };
                sqlx::query(sql)
                    .bind(id)
                    .bind(t.slug)
                    .bind(t.config)
                    .bind(t.data)
                    .bind(t.metadata)
                    .bind(db::now())
                    .execute(&mut *tx)
                    .await
            }
        };
        match written {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                let slug = target.map(|t| t.slug).unwrap_or_default();
                return Err(Error::Conflict(format!(
                    "production already has another chart with slug {slug:?} (or id {id:?})"
                )));
            }
            Err(e) => return Err(self.fail(e)),
        }
        tx.commit().await.map_err(|e| self.fail(e))?;
        Ok(Swap::Written)
    }
}

/// The content a compare-and-swap writes: a canonical version and its hash.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub hash: &'a str,
    pub slug: &'a str,
    pub config: &'a str,
    pub data: &'a str,
    pub metadata: &'a str,
}

/// What [`ChartStore::compare_and_swap`] found and did.
#[derive(Clone, Debug, PartialEq)]
pub enum Swap {
    /// Production held the expected version; the target was written (or, dry, would be).
    Written,
    /// Production already holds the target; nothing written.
    AlreadyThere,
    /// Production holds neither (`found`: what it holds); nothing written.
    Changed { found: Option<String> },
    /// The production row is not valid JSON; nothing written.
    Unreadable(String),
}

fn store_error(url: &str, e: sqlx::Error) -> Error {
    let why = match &e {
        sqlx::Error::Configuration(m) => m.to_string(),
        sqlx::Error::Database(d) => d.message().to_string(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::PoolTimedOut => "timed out connecting".to_string(),
        other => other.to_string(),
    };
    Error::store(url, why)
}

/// Open chart stores by URL, so a scan reuses its connections instead of connecting per call.
#[derive(Clone, Default)]
pub struct StorePools {
    open: Arc<Mutex<HashMap<String, ChartStore>>>,
}

impl StorePools {
    pub async fn get(&self, url: &str) -> Result<ChartStore> {
        if let Some(s) = self.open.lock().await.get(url) {
            return Ok(s.clone());
        }
        let store = ChartStore::open(url, false).await?;
        self.open.lock().await.insert(url.to_string(), store.clone());
        Ok(store)
    }

    /// Forgets a store whose connections failed, so the next call reconnects.
    pub async fn forget(&self, url: &str) {
        self.open.lock().await.remove(url);
    }
}
