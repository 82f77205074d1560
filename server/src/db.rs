//! Connections to SQL databases by URL — Chartgate's own and the chart stores — over sqlx's `Any`
//! driver, so every query is written once for SQLite and PostgreSQL (`$1` placeholders, text
//! timestamps, integer booleans).

use std::panic::Location;
use std::path::Path;
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    /// MySQL 8 / MariaDB 10.6+: chart stores only (design §13), never Chartgate's own database.
    Mysql,
}

impl Backend {
    pub fn of(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            Ok(Backend::Mysql)
        } else {
            Err(Error::BadRequest(format!(
                "unsupported database URL {}: use sqlite://PATH, postgres://… or mysql://…",
                redact(url)
            )))
        }
    }
}

/// A URL without its password (defined with the error type, which needs it for store errors;
/// connections and messages here use it too).
pub use crate::error::redact;

/// The file behind a `sqlite://` URL (without query string), percent-decoded as sqlx decodes it:
/// what the pool opens and what the direct reads (rusqlite) open must be one file.
pub fn sqlite_path(url: &str) -> std::borrow::Cow<'_, str> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or(rest);
    percent_encoding::percent_decode_str(path).decode_utf8_lossy()
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// How long opening a connection may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a pooled PostgreSQL connection may sit idle and still be handed out without a ping.
const PING_AFTER_IDLE: Duration = Duration::from_millis(500);

/// Opens a pool. `create` makes a missing SQLite file (and its folder); without it a missing
/// file is an error, which is what a chart store wants.
/// `own` marks Chartgate's own database, which gets WAL; a chart store's journal mode belongs
/// to its owners and is left alone.
pub async fn connect(url: &str, create: bool, own: bool, max_connections: u32) -> Result<AnyPool, sqlx::Error> {
    install_drivers();
    let backend = Backend::of(url).map_err(|e| sqlx::Error::Configuration(e.to_string().into()))?;
    let url = match backend {
        Backend::Sqlite => {
            let path = sqlite_path(url);
            let path = path.as_ref();
            if create {
                if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(sqlx::Error::Io)?;
                }
            } else if !Path::new(path).exists() {
                return Err(sqlx::Error::Configuration(format!("no database file at {path}").into()));
            }
            format!("sqlite://{path}?mode={}", if create { "rwc" } else { "rw" })
        }
        Backend::Postgres => url.to_string(),
        // sqlx knows MariaDB by MySQL's scheme.
        Backend::Mysql => url.replacen("mariadb://", "mysql://", 1),
    };
    let options: AnyConnectOptions = url.parse()?;
    if backend != Backend::Sqlite {
        // One direct attempt first: a pool retries a refused connection until its acquire
        // time-out, where a server that is not there should be reported at once.
        use sqlx::Connection;
        match tokio::time::timeout(CONNECT_TIMEOUT, sqlx::AnyConnection::connect_with(&options)).await {
            Ok(Ok(probe)) => probe.close().await?,
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(sqlx::Error::PoolTimedOut),
        }
    }
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(CONNECT_TIMEOUT)
        // A pooled SQLite connection is a file handle on a worker thread: pinging it before every
        // query tests nothing and cost a thread round trip per query (~6 % of the server's time
        // under the load benchmark). A PostgreSQL connection may have died with its server, so
        // one that sat idle is pinged first — but not one that answered moments ago (HikariCP's
        // bypass window): under load, a ping per query was a third of the server's round trips.
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                // A connection that does not answer is dropped, and the pool hands out another.
                if backend != Backend::Sqlite && meta.idle_for >= PING_AFTER_IDLE {
                    use sqlx::Connection;
                    return Ok(conn.ping().await.is_ok());
                }
                Ok(true)
            })
        })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if backend == Backend::Sqlite {
                    conn.execute("pragma busy_timeout = 10000").await?;
                    if own {
                        conn.execute("pragma journal_mode = wal; pragma synchronous = normal").await?;
                    }
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
}

/// Chartgate's own database.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// SQLite allows one writer; taking this before a write transaction turns "database is
    /// locked" races between our own tasks into an orderly queue. PostgreSQL needs no such thing.
    write_lock: Arc<Mutex<()>>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Db {
    pub async fn connect(url: &str) -> Result<Db> {
        let backend = Backend::of(url)?;
        if backend == Backend::Mysql {
            return Err(Error::BadRequest(format!(
                "database_url {}: Chartgate's own database is SQLite or PostgreSQL (MySQL is for chart stores)",
                redact(url)
            )));
        }
        let pool = connect(url, true, true, 8)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot open Chartgate's database {}: {e}", redact(url))))?;
        Ok(Db { pool, backend, write_lock: Arc::new(Mutex::new(())) })
    }

    pub async fn migrate(&self) -> Result<()> {
        let migrator = self.migrator();
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// The descriptions of the migrations not applied yet (`chartgate doctor`; `serve` and
    /// `migrate` apply them).
    pub async fn pending_migrations(&self) -> Result<Vec<String>> {
        let migrator = self.migrator();
        let applied: Vec<i64> = sqlx::query_scalar("select version from _sqlx_migrations where success")
            .fetch_all(&self.pool)
            .await
            .unwrap_or_default();
        Ok(migrator
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect())
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres | Backend::Mysql => &POSTGRES_MIGRATIONS,
        }
    }

    /// Serialises writers on SQLite; free on PostgreSQL. The wait and the hold are measured
    /// (`chartgate_db_write_lock_*_seconds`), and a hold long enough to stall every other writer
    /// is logged with the place that took it: on SQLite, that place sets everyone's write latency.
    #[track_caller]
    pub fn write_guard(&self) -> impl std::future::Future<Output = WriteGuard<'_>> + Send + '_ {
        let taken_at = Location::caller();
        async move {
            let held = match self.backend {
                Backend::Sqlite => {
                    let asked = Instant::now();
                    let held = self.write_lock.lock().await;
                    crate::telemetry::write_lock_wait(asked.elapsed());
                    Some(held)
                }
                Backend::Postgres | Backend::Mysql => None,
            };
            WriteGuard { held, taken_at, since: Instant::now() }
        }
    }
}

/// SQLite's one writer, held until dropped (see [`Db::write_guard`]).
pub struct WriteGuard<'a> {
    held: Option<MutexGuard<'a, ()>>,
    taken_at: &'static Location<'static>,
    since: Instant,
}

/// A hold this long delays every decision queued behind it past the latency target (design §12):
/// logged at debug (a registration's bulk writes take this long, and say so only when asked).
const LONG_HOLD: Duration = Duration::from_millis(100);

/// A hold this long stalls the server's writers visibly: a warning.
const STALLING_HOLD: Duration = Duration::from_secs(1);

impl Drop for WriteGuard<'_> {
    fn drop(&mut self) {
        if self.held.is_none() {
            return;
        }
        let held = self.since.elapsed();
        crate::telemetry::write_lock_held(held);
        let (at, held_ms) = (self.taken_at, held.as_millis() as u64);
        if held >= STALLING_HOLD {
            tracing::warn!(%at, held_ms, "held the database's one writer for over a second; other writers waited");
        } else if held >= LONG_HOLD {
            tracing::debug!(%at, held_ms, "held the database's one writer long; other writers waited");
        }
    }
}

/// Now, as the RFC 3339 UTC text every table stores.
pub fn now() -> String {
    format_time(time::OffsetDateTime::now_utc())
}

pub fn format_time(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC).format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

pub fn parse_time(s: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

/// A query of the `Any` driver, as the helpers below take and return it.
pub type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Renews PostgreSQL's statistics of `table` when a write moved at least a thousand of its rows.
///
/// PostgreSQL plans from statistics autovacuum takes when it comes by; right after a
/// registration they still describe an empty table, and plans fit for an empty table (sorting
/// every row, nested loops) cost seconds on a full one. SQLite plans from its indexes alone.
pub async fn renew_statistics(db: &Db, table: &str, rows_moved: u64) -> Result<(), crate::error::Error> {
    const AFTER: u64 = 1000;
    if db.backend == Backend::Postgres && rows_moved >= AFTER {
        sqlx::query(&format!("analyze {table}")).execute(&db.pool).await?;
    }
    Ok(())
}

/// Parameters per statement. SQLite looks bound parameters up by name in a list, so a statement's
/// binding cost grows with the square of its parameter count: thousands of parameters per
/// statement cost more than the rows themselves. A few hundred is the sweet spot.
pub const MAX_PARAMS: usize = 240;

/// `$1, $2, …, $n` starting after `offset` placeholders, for `in (…)` lists.
///
/// Placeholders are written out as `$n` because sqlx's `QueryBuilder` writes `?` for the `Any`
/// driver, which PostgreSQL does not accept.
pub fn placeholders(offset: usize, n: usize) -> String {
    (offset + 1..=offset + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// A statement written with `$n` placeholders, as `backend` takes it. MySQL's placeholders are
/// `?`, bound in order of appearance: there every `$n` must appear once, in increasing order
/// (checked in debug builds). Only chart-store statements run on MySQL.
pub fn engine_sql(backend: Backend, sql: &str) -> std::borrow::Cow<'_, str> {
    if backend != Backend::Mysql || !sql.contains('$') {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut expected = 1;
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut n = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                n.push(d);
                chars.next();
            }
            debug_assert_eq!(n.parse::<usize>().ok(), Some(expected), "placeholders in order: {sql}");
            expected += 1;
            out.push('?');
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Inserts `rows` with multi-row statements of at most [`MAX_PARAMS`] parameters each (more
/// per statement is slower on SQLite: sqlx looks up every parameter's name for each value bound,
/// so a statement's binding grows with the square of its parameters).
///
/// `statement` is the whole statement with `{values}` where the `values (…), (…)` list goes
/// (so an `on conflict` clause can follow it); `bind` binds one row's `columns` values in order.
pub async fn insert_rows<'q, T>(
    conn: &mut sqlx::AnyConnection,
    statement: &str,
    columns: usize,
    rows: &'q [T],
    bind: impl Fn(&mut Binds<'q>, &'q T),
) -> Result<(), sqlx::Error> {
    debug_assert!(statement.contains("{values}"), "the statement needs a {{values}} slot");
    for chunk in rows.chunks((MAX_PARAMS / columns).max(1)) {
        let values: Vec<String> =
            (0..chunk.len()).map(|i| format!("({})", placeholders(i * columns, columns))).collect();
        let sql = statement.replace("{values}", &values.join(", "));
        let mut binds = Binds::default();
        for row in chunk {
            bind(&mut binds, row);
        }
        let arguments = binds.finish()?;
        debug_assert_eq!(sqlx::Arguments::len(&arguments), chunk.len() * columns, "one value per column");
        sqlx::query_with(&sql, arguments).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows to write as one JSON array, bound as a single parameter and taken apart by the database
/// (`json_each` / `json_array_elements`): the mirror of [`fetch_json_rows`]. Binding 20,000 chart
/// states value by value through sqlx took ~190 ms a side; handed over as one text, a fraction.
///
/// Writes `insert into {into} select <leading>, <each field of each element> … {tail}`, where
/// `into` names the table and its columns (the `leading` values first, then `fields` in order),
/// each field is read as text (or null), and `tail` may be an `on conflict` clause.
pub async fn insert_json_rows<T: serde::Serialize>(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    into: &str,
    leading: &[&str],
    fields: &[&str],
    rows: &[T],
    tail: &str,
) -> Result<(), crate::error::Error> {
    let first = leading.len() + 1;
    let (element, elements) = json_elements(backend, first);
    let picked: Vec<String> =
        (1..first).map(|i| format!("${i}")).chain(fields.iter().map(|f| format!("{element} ->> '{f}'"))).collect();
    // SQLite needs a `where` before `on conflict` in an `insert … select`.
    let sql = format!("insert into {into} select {} from {elements} where true {tail}", picked.join(", "));
    execute_json_chunks(conn, &sql, leading, rows).await
}

/// The rows of a JSON array bound as parameter `$n`, for a `from` clause: the expression of one
/// element (whose fields are read with `->> 'name'`) and the table of elements, named `j`.
pub fn json_elements(backend: Backend, n: usize) -> (&'static str, String) {
    match backend {
        Backend::Sqlite => ("j.value", format!("json_each(${n}) j")),
        Backend::Postgres | Backend::Mysql => ("j", format!("json_array_elements(${n}::json) j")),
    }
}

/// The texts of a JSON array of strings bound as parameter `$n`, as a subquery for `in (…)`.
pub fn json_texts(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("select value from json_each(${n})"),
        Backend::Postgres | Backend::Mysql => format!("select value from json_array_elements_text(${n}::json)"),
    }
}

/// Runs `sql` (see [`json_elements`]) once per few thousand `rows`, binding `leading` and then the
/// chunk as one JSON array: bounds the JSON text held at once (~2 MB of chart states).
pub async fn execute_json_chunks<T: serde::Serialize>(
    conn: &mut sqlx::AnyConnection,
    sql: &str,
    leading: &[&str],
    rows: &[T],
) -> Result<(), crate::error::Error> {
    const ROWS: usize = 5000;
    for chunk in rows.chunks(ROWS) {
        let json = serde_json::to_string(chunk).map_err(crate::error::Error::internal)?;
        let mut q = sqlx::query(sql);
        for value in leading {
            q = q.bind(*value);
        }
        q.bind(json).execute(&mut *conn).await?;
    }
    Ok(())
}

/// The values of a multi-row statement, bound in order by [`insert_rows`]' callback.
#[derive(Default)]
pub struct Binds<'q> {
    arguments: sqlx::any::AnyArguments<'q>,
    error: Option<sqlx::error::BoxDynError>,
}

impl<'q> Binds<'q> {
    pub fn push<T>(&mut self, value: T) -> &mut Self
    where
        T: sqlx::Encode<'q, sqlx::Any> + sqlx::Type<sqlx::Any> + 'q,
    {
        if let Err(e) = sqlx::Arguments::add(&mut self.arguments, value) {
            self.error.get_or_insert(e);
        }
        self
    }

    fn finish(self) -> Result<sqlx::any::AnyArguments<'q>, sqlx::Error> {
        match self.error {
            Some(e) => Err(sqlx::Error::Encode(e)),
            None => Ok(self.arguments),
        }
    }
}

/// `values` as the arguments of a statement whose placeholders are `$1…$n`, in order.
pub fn arguments(values: &[String]) -> sqlx::any::AnyArguments<'_> {
    let mut arguments = sqlx::any::AnyArguments::default();
    for v in values {
        sqlx::Arguments::add(&mut arguments, v).expect("text always encodes");
    }
    arguments
}

/// Many small rows in one answer: `select COLUMNS from REST`, built by the database as one JSON
/// array of objects (named columns, read by name) and parsed here.
///
/// sqlx's SQLite driver hands every row from its worker thread to the caller as a message; for
/// the 20,000 chart states of a large store, the thread wake-ups cost ten times the query. One
/// row holding them all costs one. `rest` is everything after `from`, with `$n` placeholders for
/// `binds`.
pub async fn fetch_json_rows<T: serde::de::DeserializeOwned>(
    db: &Db,
    columns: &[&str],
    rest: &str,
    binds: &[&str],
) -> Result<Vec<T>, crate::error::Error> {
    let mut arguments = sqlx::any::AnyArguments::default();
    for b in binds {
        sqlx::Arguments::add(&mut arguments, *b).expect("text always encodes");
    }
    fetch_json_rows_with(db, columns, rest, arguments).await
}

/// [`fetch_json_rows`] with arguments already built (a [`Filter`]'s).
pub async fn fetch_json_rows_with<T: serde::de::DeserializeOwned>(
    db: &Db,
    columns: &[&str],
    rest: &str,
    arguments: sqlx::any::AnyArguments<'_>,
) -> Result<Vec<T>, crate::error::Error> {
    fetch_json_rows_in(db, columns, rest, None, arguments).await
}

/// Every row of `from` (a table and its `where`, with `$1…$n` for `binds`), handed to `each`
/// [`JSON_PAGE`] rows at a time, each row an object named by its columns (as [`fetch_json_rows`];
/// a column may be an expression ending in `as name`). What is
/// held is one page, not the whole answer beside its parsed rows: a side's stamps at 100,000
/// charts were ~40 MB at once.
///
/// On SQLite a page is one JSON answer (see [`fetch_json_rows`]), the next starting after the
/// last `key` (a unique, indexed column) the database returned — compared by the database, in
/// its collation, never by Rust's byte order. PostgreSQL streams the rows, each as its JSON
/// object: no page has to be sorted, and a row costs no thread hop there.
pub async fn each_json_page<T: serde::de::DeserializeOwned>(
    db: &Db,
    columns: &[&str],
    from: &str,
    key: &str,
    binds: &[&str],
    key_of: impl Fn(&T) -> &str,
    mut each: impl FnMut(Vec<T>),
) -> Result<(), crate::error::Error> {
    if db.backend == Backend::Postgres {
        let parse = |j: &str| {
            serde_json::from_str::<T>(j).map_err(|e| crate::error::Error::internal(format!("row as JSON: {e}")))
        };
        let sql = format!("select row_to_json(page)::text as j from (select {} from {from}) page", columns.join(", "));
        let mut query = sqlx::query_as::<_, Json>(&sql);
        for b in binds {
            query = query.bind(*b);
        }
        let mut rows = query.fetch(&db.pool);
        let mut page = Vec::with_capacity(JSON_PAGE);
        while let Some(row) = futures::TryStreamExt::try_next(&mut rows).await? {
            page.push(parse(&row.j)?);
            if page.len() == JSON_PAGE {
                each(std::mem::replace(&mut page, Vec::with_capacity(JSON_PAGE)));
            }
        }
        each(page);
        return Ok(());
    }
    let after_at = binds.len() + 1;
    let rest = format!(
        "(select {} from {from} and {key} > ${after_at} order by {key} limit {JSON_PAGE}) page",
        columns.join(", ")
    );
    let names: Vec<&str> = columns.iter().map(|c| c.rsplit(' ').next().unwrap_or(c)).collect();
    let mut after = String::new();
    loop {
        let mut arguments = sqlx::any::AnyArguments::default();
        for b in binds.iter().chain([&after.as_str()]) {
            sqlx::Arguments::add(&mut arguments, *b).expect("text always encodes");
        }
        let rows: Vec<T> = fetch_json_rows_in(db, &names, &rest, Some(key), arguments).await?;
        let whole = rows.len() == JSON_PAGE;
        if let Some(last) = rows.last() {
            after = key_of(last).to_string();
        }
        each(rows);
        if !whole {
            return Ok(());
        }
    }
}

/// Rows per page of [`each_json_page`].
pub const JSON_PAGE: usize = 10_000;

/// [`fetch_json_rows_with`], the array in the order of `order` (a column of `rest`) when given.
async fn fetch_json_rows_in<T: serde::de::DeserializeOwned>(
    db: &Db,
    columns: &[&str],
    rest: &str,
    order: Option<&str>,
    arguments: sqlx::any::AnyArguments<'_>,
) -> Result<Vec<T>, crate::error::Error> {
    let pairs: Vec<String> = columns.iter().map(|c| format!("'{c}', {c}")).collect();
    let order_by = order.map(|o| format!(" order by {o}")).unwrap_or_default();
    let sql = match db.backend {
        Backend::Sqlite => {
            format!("select json_group_array(json_object({}){order_by}) as j from {rest}", pairs.join(", "))
        }
        Backend::Postgres | Backend::Mysql => format!(
            "select coalesce(json_agg(json_build_object({}){order_by}), '[]')::text as j from {rest}",
            pairs.join(", ")
        ),
    };
    let row = sqlx::query_as_with::<_, Json, _>(&sql, arguments).fetch_one(&db.pool).await?;
    serde_json::from_str(&row.j).map_err(|e| crate::error::Error::internal(format!("rows as JSON: {e}")))
}

#[derive(sqlx::FromRow)]
struct Json {
    j: String,
}

/// A row of `select count(*) as n …`.
#[derive(sqlx::FromRow)]
pub struct Count {
    pub n: i64,
}

/// A `where` clause built from optional filters, each bound as the next `$n`.
#[derive(Debug, Default)]
pub struct Filter {
    sql: String,
    binds: Vec<String>,
}

impl Filter {
    /// Starts from binds the statement already has (`$1…$k`).
    pub fn after(binds: Vec<String>) -> Filter {
        Filter { sql: String::new(), binds }
    }

    /// Adds ` and …` with `?` standing for `value`'s placeholder.
    pub fn and(&mut self, clause: &str, value: String) {
        self.binds.push(value);
        self.sql.push_str(" and ");
        self.sql.push_str(&clause.replace('?', &format!("${}", self.binds.len())));
    }

    /// Adds ` and …` where `{0}`, `{1}`, … stand for `values`' placeholders (each may appear
    /// several times).
    pub fn and_with(&mut self, clause: &str, values: &[String]) {
        let mut clause = clause.to_string();
        for (n, value) in values.iter().enumerate() {
            self.binds.push(value.clone());
            clause = clause.replace(&format!("{{{n}}}"), &format!("${}", self.binds.len()));
        }
        self.sql.push_str(" and ");
        self.sql.push_str(&clause);
    }

    /// Adds ` and …` with nothing to bind.
    pub fn and_raw(&mut self, clause: &str) {
        self.sql.push_str(" and ");
        self.sql.push_str(clause);
    }

    /// The clauses, each starting with ` and `.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn binds(&self) -> &[String] {
        &self.binds
    }

    /// The binds as a statement's arguments.
    pub fn arguments(&self) -> sqlx::any::AnyArguments<'_> {
        arguments(&self.binds)
    }

    /// The number of the next placeholder.
    pub fn next_placeholder(&self) -> usize {
        self.binds.len() + 1
    }
}

/// Escapes `%`, `_` and `\` for a `like … escape '\'` pattern and lower-cases it; `prefix`
/// and `suffix` say whether to match anything before and after.
pub fn like_pattern(text: &str, prefix: bool, suffix: bool) -> String {
    let mut out = String::new();
    if prefix {
        out.push('%');
    }
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    if suffix {
        out.push('%');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards_and_lower_case() {
        assert_eq!(like_pattern("GDP_100%", true, true), "%gdp\\_100\\%%");
        assert_eq!(like_pattern("Énergie", true, true), "%énergie%");
        assert_eq!(like_pattern("re_view", false, false), "re\\_view");
    }

    #[test]
    fn filters_number_their_placeholders_after_the_given_binds() {
        let mut f = Filter::after(vec!["branch".into()]);
        f.and("kind = ?", "new".into());
        f.and_raw("conflict = 1");
        f.and("search like ? escape '\\'", "%x%".into());
        assert_eq!(f.sql(), " and kind = $2 and conflict = 1 and search like $3 escape '\\'");
        assert_eq!(f.binds(), ["branch", "new", "%x%"]);
        assert_eq!(f.next_placeholder(), 4);
    }

    #[test]
    fn placeholders_continue_from_an_offset() {
        assert_eq!(placeholders(2, 3), "$3, $4, $5");
    }
}
