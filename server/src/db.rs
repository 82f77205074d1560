//! Connections to SQL databases by URL — Chartgate's own and the chart stores — over sqlx's `Any`
//! driver, so every query is written once for SQLite and PostgreSQL (`$1` placeholders, text
//! timestamps, integer booleans).

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use tokio::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of(url: &str) -> Result<Backend> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(Error::BadRequest(format!(
                "unsupported database URL {}: use sqlite://PATH or postgres://…",
                redact(url)
            )))
        }
    }
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// The file behind a `sqlite://` URL (without query string).
pub fn sqlite_path(url: &str) -> &str {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    rest.split('?').next().unwrap_or(rest)
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

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
    };
    let options: AnyConnectOptions = url.parse()?;
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
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
        let pool = connect(url, true, true, 8)
            .await
            .map_err(|e| Error::Unavailable(format!("cannot open Chartgate's database {}: {e}", redact(url))))?;
        Ok(Db { pool, backend, write_lock: Arc::new(Mutex::new(())) })
    }

    pub async fn migrate(&self) -> Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Serialises writers on SQLite; free on PostgreSQL.
    pub async fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        match self.backend {
            Backend::Sqlite => Some(self.write_lock.lock().await),
            Backend::Postgres => None,
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

/// `$1, $2, …, $n` starting after `offset` placeholders, for `in (…)` lists.
pub fn placeholders(offset: usize, n: usize) -> String {
    (offset + 1..=offset + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Binds `values` in order, for queries whose `where` clause was built with `$1…$n`.
pub fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    values: &'q [String],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for v in values {
        query = query.bind(v);
    }
    query
}
