//! SQL chart stores: §3's `charts` table or a store's own schema through a mapping, on SQLite,
//! PostgreSQL or MySQL/MariaDB.
//!
//! Every operation runs a [`Mapping`]'s statements, compiled for the engine: §3's table is the
//! built-in mapping, so listing, reading, the compare-and-swap and its read-back are one code path
//! for the three engines and for every schema. What differs by engine is said once, here: how a
//! write transaction starts, how rows are locked, the DDL of §3's table.
//!
//! Values are read by column name and taken as text whatever their SQL type (an integer id, a
//! `text` or `longtext` column): Chartgate hashes text. A type the driver cannot hand over as
//! text (MySQL's `datetime` or `json`, PostgreSQL's `jsonb`) is named by the mapping's
//! validation, with the cast that fixes it.

use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Executor, Row};

use super::mapping::{Compiled, Mapping, Param, Statement, READ_COLUMNS, STAMP_COLUMNS};
use super::{before_write, ReadBack, Swap, Target};
use crate::charts::raw::{RawChart, Stamp};
use crate::db::{self, Backend};
use crate::error::{Error, Result};

#[derive(Clone)]
pub struct SqlStore {
    pub engine: Backend,
    /// The URL connected to (without `?mapping=`).
    pub url: String,
    pool: AnyPool,
    pub mapping: Arc<Mapping>,
}

/// Ids per `read` statement.
const IDS_PER_READ: usize = db::MAX_PARAMS;

impl SqlStore {
    pub async fn open(url: &str, engine: Backend, create: bool, mapping: Arc<Mapping>) -> Result<SqlStore> {
        let pool = db::connect(url, create, false, 4).await.map_err(|e| store_error(url, e))?;
        Ok(SqlStore { engine, url: url.to_string(), pool, mapping })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn fail(&self, e: sqlx::Error) -> Error {
        store_error(&self.url, e)
    }

    /// §3's table, with its DDL for this engine (MySQL keys need bounded text).
    pub async fn create_schema(&self) -> Result<()> {
        if !self.mapping.builtin {
            return Err(Error::Unprocessable(format!(
                "the store {} is read through mapping {:?}: its schema is its owner's; create it, then register the store",
                db::redact(&self.url),
                self.mapping.name
            )));
        }
        let ddl = match self.engine {
            Backend::Mysql => CHARTS_TABLE_MYSQL,
            Backend::Sqlite | Backend::Postgres => CHARTS_TABLE,
        };
        sqlx::query(ddl).execute(&self.pool).await.map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Checks every statement of the mapping against the store: it prepares, `stamps` and
    /// `read` return the columns Chartgate reads. The error names the statement and the store.
    pub async fn validate(&self) -> Result<()> {
        // A connection of its own, closed afterwards: a prepared statement is cached by its text,
        // and PostgreSQL infers parameter types at prepare (`cast(:id as integer)` makes one an
        // integer), where Chartgate later binds text.
        let mut conn = self.pool.acquire().await.map_err(|e| self.fail(e))?.detach();
        let checked = self.validate_on(&mut conn).await;
        let _ = sqlx::Connection::close(conn).await;
        checked
    }

    async fn validate_on(&self, conn: &mut sqlx::AnyConnection) -> Result<()> {
        let m = &self.mapping;
        for (key, statement) in m.statements() {
            let compiled = statement.compile(self.engine, 1);
            let named = |why: String| {
                Error::Unprocessable(format!("mapping {:?} on store {}: {key} {why}", m.name, db::redact(&self.url)))
            };
            let prepared = conn.prepare(&compiled.sql).await.map_err(|e| named(prepare_failure(&e)))?;
            let wanted: &[&str] = match key.as_str() {
                "stamps" => &STAMP_COLUMNS,
                "read" => &READ_COLUMNS,
                _ => &[],
            };
            use sqlx::{Column, Statement as _};
            let columns: Vec<String> = prepared.columns().iter().map(|c| c.name().to_ascii_lowercase()).collect();
            let missing: Vec<&str> = wanted.iter().copied().filter(|w| !columns.iter().any(|c| c == w)).collect();
            if !missing.is_empty() {
                return Err(named(format!(
                    "returns no column {} (it returns {}); name them with `as`",
                    missing.join(", "),
                    if columns.is_empty() { "none".to_string() } else { columns.join(", ") }
                )));
            }
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<()> {
        let sql = if self.mapping.builtin { "select count(*) as n from charts" } else { "select 1 as n" };
        sqlx::query(sql).fetch_one(&self.pool).await.map_err(|e| self.fail(e))?;
        Ok(())
    }

    pub async fn stamps(&self) -> Result<Vec<Stamp>> {
        let compiled = self.mapping.stamps.compile(self.engine, 0);
        if self.engine == Backend::Sqlite {
            return self
                .sqlite_read(move |conn| {
                    let mut stmt = conn.prepare_cached(&compiled.sql)?;
                    let rows = stmt.query_map([], |r| {
                        Ok(Stamp { id: lite_text(r, "id")?, updated_at: lite_text(r, "updated_at")? })
                    })?;
                    rows.collect()
                })
                .await;
        }
        let rows = sqlx::query(&compiled.sql).fetch_all(&self.pool).await.map_err(|e| self.fail(e))?;
        rows.iter()
            .map(|r| Ok(Stamp { id: any_text(r, "id")?, updated_at: any_text(r, "updated_at")? }))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.fail(e))
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
        .map_err(Error::internal)?
        .map_err(|e| Error::store(&url, e))
    }

    /// See [`super::ChartStore::read_each`].
    pub async fn read_each<T: Send + 'static>(
        &self,
        ids: &[String],
        each: impl Fn(RawChart) -> T + Send + 'static,
    ) -> Result<Vec<T>> {
        if self.engine == Backend::Sqlite {
            let ids = ids.to_vec();
            let read = self.mapping.read.clone();
            return self
                .sqlite_read(move |conn| {
                    let mut out = Vec::with_capacity(ids.len());
                    for chunk in ids.chunks(IDS_PER_READ) {
                        let compiled = read.compile(Backend::Sqlite, chunk.len());
                        let mut stmt = conn.prepare_cached(&compiled.sql)?;
                        let rows = stmt.query_map(rusqlite::params_from_iter(chunk.iter()), lite_chart)?;
                        for row in rows {
                            out.push(each(row?));
                        }
                    }
                    Ok(out)
                })
                .await;
        }
        let mut rows = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_READ) {
            let compiled = self.mapping.read.compile(self.engine, chunk.len());
            let values = Values { id: "", chart: None, ids: chunk, updated_at: "" };
            let read = sqlx::query_with(&compiled.sql, values.arguments(&compiled)).fetch_all(&self.pool).await;
            for row in read.map_err(|e| self.fail(e))? {
                rows.push(any_chart(&row).map_err(|e| self.fail(e))?);
            }
        }
        tokio::task::spawn_blocking(move || rows.into_iter().map(each).collect()).await.map_err(Error::internal)
    }

    /// Reads one chart inside a transaction; §3's table locks its row on PostgreSQL and MySQL.
    pub(crate) async fn read_in(
        &self,
        conn: &mut sqlx::AnyConnection,
        id: &str,
    ) -> Result<Option<RawChart>, sqlx::Error> {
        let mut compiled = self.mapping.read.compile(self.engine, 1);
        if self.mapping.builtin && self.engine != Backend::Sqlite {
            compiled.sql.push_str(" for update");
        }
        let ids = [id.to_string()];
        let values = Values { id, chart: None, ids: &ids, updated_at: "" };
        let row = sqlx::query_with(&compiled.sql, values.arguments(&compiled)).fetch_optional(&mut *conn).await?;
        row.as_ref().map(any_chart).transpose()
    }

    /// Starts a write transaction: SQLite takes its one writer at once (`begin immediate`);
    /// §3's table on a server locks the row it reads; a mapping's reads (joins the engine may not
    /// lock) run serializable, so a concurrent write to what they read aborts ours instead of
    /// being overwritten.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let serializable = !self.mapping.builtin;
        let tx = match self.engine {
            Backend::Sqlite => self.pool.begin_with("begin immediate").await,
            Backend::Postgres if serializable => self.pool.begin_with("begin isolation level serializable").await,
            Backend::Mysql if serializable => {
                let mut conn = self.pool.acquire().await.map_err(|e| self.fail(e))?;
                conn.execute("set transaction isolation level serializable").await.map_err(|e| self.fail(e))?;
                // The setting holds for the next transaction on this connection only.
                let tx = sqlx::Transaction::begin(conn, None).await;
                return tx.map_err(|e| self.fail(e));
            }
            _ => self.pool.begin().await,
        };
        tx.map_err(|e| self.fail(e))
    }

    /// Runs a write's statements (`update`, `insert` or `delete`) for one chart.
    async fn run_all(
        &self,
        conn: &mut sqlx::AnyConnection,
        statements: &[Statement],
        id: &str,
        chart: Option<&Target<'_>>,
        updated_at: &str,
    ) -> Result<(), sqlx::Error> {
        for statement in statements {
            let compiled = statement.compile(self.engine, 0);
            let values = Values { id, chart, ids: &[], updated_at };
            sqlx::query_with(&compiled.sql, values.arguments(&compiled)).execute(&mut *conn).await?;
        }
        Ok(())
    }

    /// See [`super::ChartStore::compare_and_swap`].
    pub async fn compare_and_swap(
        &self,
        id: &str,
        expected: Option<&str>,
        target: Option<&Target<'_>>,
        dry_run: bool,
    ) -> Result<Swap> {
        let mut tx = self.begin().await?;
        let row = self.read_in(&mut tx, id).await.map_err(|e| self.fail(e))?;
        if let Some(known) = before_write(id, row.as_ref(), expected, target, dry_run) {
            return Ok(known);
        }
        let m = &self.mapping;
        let statements = match target {
            None => &m.delete,
            Some(_) if row.is_some() => &m.update,
            Some(_) => &m.insert,
        };
        let updated_at = db::now();
        match self.run_all(&mut tx, statements, id, target, &updated_at).await {
            Ok(()) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                let slug = target.map(|t| t.slug).unwrap_or_default();
                return Err(Error::Conflict(format!(
                    "the store already has another chart with slug {slug:?} (or id {id:?})"
                )));
            }
            Err(e) if is_serialization_failure(&e) => return Ok(Swap::Changed { found: None }),
            Err(e) => return Err(self.fail(e)),
        }
        // Read back through the same path and check it is what was approved; a mapping that
        // loses a field, or an engine that rewrites the text, rolls the write back.
        let back = match self.read_in(&mut tx, id).await {
            Ok(back) => back,
            Err(e) if is_serialization_failure(&e) => return Ok(Swap::Changed { found: None }),
            Err(e) => return Err(self.fail(e)),
        };
        if let Some(differs) = ReadBack::check(id, target, back.as_ref()) {
            tx.rollback().await.map_err(|e| self.fail(e))?;
            return Ok(Swap::ReadBackDiffers(differs));
        }
        match tx.commit().await {
            Ok(()) => Ok(Swap::Written),
            Err(e) if is_serialization_failure(&e) => Ok(Swap::Changed { found: None }),
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Writes charts as they are (insert or replace by id), in one transaction: the demo and
    /// `--fork`. §3's table upserts; a mapping reads each chart to choose `update` or `insert`.
    pub async fn put_many(&self, charts: &[RawChart]) -> Result<()> {
        let upsert = self.mapping.builtin.then(|| {
            let upsert = match self.engine {
                Backend::Mysql => UPSERT_MYSQL,
                Backend::Sqlite | Backend::Postgres => UPSERT,
            };
            Statement::parse(upsert).expect("the built-in upsert parses").compile(self.engine, 0)
        });
        let mut tx = self.pool.begin().await.map_err(|e| self.fail(e))?;
        for c in charts {
            let target = Target::of_raw("", c);
            if let Some(compiled) = &upsert {
                let values = Values { id: &c.id, chart: Some(&target), ids: &[], updated_at: &c.updated_at };
                let done = sqlx::query_with(&compiled.sql, values.arguments(compiled)).execute(&mut *tx).await;
                done.map_err(|e| self.fail(e))?;
                continue;
            }
            let exists = self.read_in(&mut tx, &c.id).await.map_err(|e| self.fail(e))?.is_some();
            let statements = if exists { &self.mapping.update } else { &self.mapping.insert };
            self.run_all(&mut tx, statements, &c.id, Some(&target), &c.updated_at).await.map_err(|e| self.fail(e))?;
        }
        tx.commit().await.map_err(|e| self.fail(e))
    }

    pub async fn delete(&self, id: &str) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(|e| self.fail(e))?;
        self.run_all(&mut tx, &self.mapping.delete, id, None, "").await.map_err(|e| self.fail(e))?;
        tx.commit().await.map_err(|e| self.fail(e))
    }

    /// Whether §3's table has the optional stamps index (design §3, `chartgate store prepare`).
    pub async fn has_stamps_index(&self) -> Result<bool> {
        let sql = match self.engine {
            Backend::Sqlite => "select count(*) as n from sqlite_master where type = 'index' and name = $1",
            Backend::Postgres => "select count(*) as n from pg_indexes where tablename = 'charts' and indexname = $1",
            Backend::Mysql => {
                "select count(*) as n from information_schema.statistics
                 where table_schema = database() and table_name = 'charts' and index_name = $1"
            }
        };
        let found = sqlx::query(&db::engine_sql(self.engine, sql))
            .bind(STAMPS_INDEX_NAME)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.fail(e))?;
        let n: i64 = found.try_get("n").map_err(|e| self.fail(e))?;
        Ok(n > 0)
    }

    /// Adds §3's optional stamps index unless present; true when added.
    pub async fn prepare(&self) -> Result<bool> {
        if !self.mapping.builtin {
            return Err(Error::Unprocessable(format!(
                "the store {} is read through mapping {:?}: its indexes are its owner's (index what `stamps` reads)",
                db::redact(&self.url),
                self.mapping.name
            )));
        }
        if self.has_stamps_index().await? {
            return Ok(false);
        }
        sqlx::query(STAMPS_INDEX).execute(&self.pool).await.map_err(|e| self.fail(e))?;
        Ok(true)
    }
}

/// The values a statement's parameters take.
struct Values<'a> {
    id: &'a str,
    chart: Option<&'a Target<'a>>,
    ids: &'a [String],
    updated_at: &'a str,
}

impl<'a> Values<'a> {
    /// The values in the order the compiled statement binds them, borrowed (a chart's 25 KB
    /// of text is not copied to be bound).
    fn arguments(&self, compiled: &Compiled) -> sqlx::any::AnyArguments<'a> {
        let mut arguments = sqlx::any::AnyArguments::default();
        for p in &compiled.binds {
            let chart = self.chart;
            let text: &'a str = match p {
                Param::Id => self.id,
                Param::Slug => chart.map_or("", |c| c.slug),
                Param::Config => chart.map_or("", |c| c.config),
                Param::Data => chart.map_or("", |c| c.data),
                Param::Metadata => chart.map_or("", |c| c.metadata),
                Param::UpdatedAt => self.updated_at,
                Param::Ids(i) => self.ids[*i].as_str(),
            };
            sqlx::Arguments::add(&mut arguments, text).expect("text binds");
        }
        arguments
    }
}

/// A column's value as text, whatever its SQL type (`None`, SQL null, as an empty text, which
/// then fails as JSON: an unreadable item, not a failed scan).
pub(crate) fn any_text(row: &AnyRow, column: &str) -> Result<String, sqlx::Error> {
    if let Ok(v) = row.try_get::<Option<String>, _>(column) {
        return Ok(v.unwrap_or_default());
    }
    if let Ok(v) = row.try_get::<Option<Vec<u8>>, _>(column) {
        return Ok(String::from_utf8_lossy(&v.unwrap_or_default()).into_owned());
    }
    if let Ok(v) = row.try_get::<Option<i64>, _>(column) {
        return Ok(v.map(|v| v.to_string()).unwrap_or_default());
    }
    if let Ok(v) = row.try_get::<Option<i32>, _>(column) {
        return Ok(v.map(|v| v.to_string()).unwrap_or_default());
    }
    if let Ok(v) = row.try_get::<Option<f64>, _>(column) {
        return Ok(v.map(|v| v.to_string()).unwrap_or_default());
    }
    row.try_get::<String, _>(column)
}

/// A chart from a row, each column read by name with `text` (sqlx's or rusqlite's reader).
fn chart_of<E>(text: impl Fn(&str) -> Result<String, E>) -> Result<RawChart, E> {
    Ok(RawChart {
        id: text("id")?,
        slug: text("slug")?,
        config: text("config")?,
        data: text("data")?,
        metadata: text("metadata")?,
        updated_at: text("updated_at")?,
    })
}

fn any_chart(row: &AnyRow) -> Result<RawChart, sqlx::Error> {
    chart_of(|column| any_text(row, column))
}

fn lite_text(row: &rusqlite::Row<'_>, column: &str) -> rusqlite::Result<String> {
    use rusqlite::types::ValueRef;
    Ok(match row.get_ref(column)? {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(f) => f.to_string(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
    })
}

fn lite_chart(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawChart> {
    chart_of(|column| lite_text(r, column))
}

/// PostgreSQL's serialization failure or deadlock, MySQL's deadlock or lock wait: another
/// transaction wrote what ours read.
fn is_serialization_failure(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            matches!(d.code().as_deref(), Some("40001" | "40P01" | "1213" | "1205"))
                || d.message().contains("Deadlock found")
                || d.message().contains("could not serialize")
        }
        _ => false,
    }
}

/// A failed prepare in a user's words.
fn prepare_failure(e: &sqlx::Error) -> String {
    let why = match e {
        sqlx::Error::Database(d) => d.message().to_string(),
        other => other.to_string(),
    };
    if why.contains("Any driver does not support") {
        return format!(
            "returns a column whose type Chartgate cannot read as text ({why}); cast it (MySQL: cast(… as char), PostgreSQL: …::text)"
        );
    }
    format!("does not prepare: {why}")
}

pub(super) fn store_error(url: &str, e: sqlx::Error) -> Error {
    let why = match &e {
        sqlx::Error::Configuration(m) => m.to_string(),
        sqlx::Error::Database(d) => d.message().to_string(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::PoolTimedOut => "timed out connecting".to_string(),
        other => other.to_string(),
    };
    Error::store(url, why)
}

pub const CHARTS_TABLE: &str = "create table if not exists charts (
    id         text primary key,
    slug       text not null unique,
    config     text not null,
    data       text not null,
    metadata   text not null,
    updated_at text not null
)";

/// §3's table on MySQL, whose keys cannot be unbounded `text`.
const CHARTS_TABLE_MYSQL: &str = "create table if not exists charts (
    id         varchar(191) not null primary key,
    slug       varchar(191) not null unique,
    config     longtext not null,
    data       longtext not null,
    metadata   longtext not null,
    updated_at varchar(64) not null
) character set utf8mb4 collate utf8mb4_bin";

const UPSERT: &str = "insert into charts (id, slug, config, data, metadata, updated_at)
    values (:id, :slug, :config, :data, :metadata, :updated_at)
    on conflict (id) do update set slug = excluded.slug, config = excluded.config, data = excluded.data,
    metadata = excluded.metadata, updated_at = excluded.updated_at";

const UPSERT_MYSQL: &str = "insert into charts (id, slug, config, data, metadata, updated_at)
    values (:id, :slug, :config, :data, :metadata, :updated_at)
    on duplicate key update slug = values(slug), config = values(config), data = values(data),
    metadata = values(metadata), updated_at = values(updated_at)";

/// The optional index of design §3 (see [`SqlStore::prepare`]).
pub const STAMPS_INDEX_NAME: &str = "charts_id_updated_at";
const STAMPS_INDEX: &str = "create index charts_id_updated_at on charts (id, updated_at)";
