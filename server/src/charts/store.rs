//! A chart store: a SQL database (SQLite file or PostgreSQL) holding the `charts` table of design
//! §3. Chartgate reads staging and production stores and, on sync, writes rows of that table and
//! nothing else. Every error names the store, so a user can tell which environment is broken.

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::{AnyPool, Row};
use tokio::sync::Mutex;

use crate::db::{self, placeholders, redact, Backend};
use crate::error::{Error, Result};

/// One row of `charts`, exactly as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RawChart {
    pub id: String,
    pub slug: String,
    pub config: String,
    pub data: String,
    pub metadata: String,
    pub updated_at: String,
}

/// What an incremental scan reads of every row: enough to tell whether it moved.
#[derive(Clone, Debug, PartialEq)]
pub struct Stamp {
    pub id: String,
    pub updated_at: String,
}

#[derive(Clone)]
pub struct ChartStore {
    pub url: String,
    pub backend: Backend,
    pool: AnyPool,
}

pub const CHARTS_TABLE: &str = "create table if not exists charts (
    id         text primary key,
    slug       text not null unique,
    config     text not null,
    data       text not null,
    metadata   text not null,
    updated_at text not null
)";

impl ChartStore {
    /// Opens an existing store; `create` makes a missing SQLite file (for the demo and `--fork`).
    pub async fn open(url: &str, create: bool) -> Result<ChartStore> {
        let backend = Backend::of(url)?;
        let pool = db::connect(url, create, false, 4).await.map_err(|e| store_error(url, e))?;
        Ok(ChartStore { url: url.to_string(), backend, pool })
    }

    /// The store's name in messages (its URL without a password).
    pub fn name(&self) -> String {
        redact(&self.url)
    }

    fn fail(&self, e: sqlx::Error) -> Error {
        store_error(&self.url, e)
    }

    pub async fn create_schema(&self) -> Result<()> {
        sqlx::query(CHARTS_TABLE).execute(&self.pool).await.map_err(|e| self.fail(e))?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<()> {
        sqlx::query("select count(*) from charts").fetch_one(&self.pool).await.map_err(|e| self.fail(e))?;
        Ok(())
    }

    pub async fn stamps(&self) -> Result<Vec<Stamp>> {
        let rows =
            sqlx::query("select id, updated_at from charts").fetch_all(&self.pool).await.map_err(|e| self.fail(e))?;
        rows.iter()
            .map(|r| Ok(Stamp { id: r.try_get(0)?, updated_at: r.try_get(1)? }))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(|e| self.fail(e))
    }

    /// Reads the given charts (those that exist).
    pub async fn read(&self, ids: &[String]) -> Result<Vec<RawChart>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let sql = format!(
                "select id, slug, config, data, metadata, updated_at from charts where id in ({})",
                placeholders(0, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            let rows = q.fetch_all(&self.pool).await.map_err(|e| self.fail(e))?;
            for r in rows {
                out.push(raw_from_row(&r).map_err(|e| self.fail(e))?);
            }
        }
        Ok(out)
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
        for chunk in ids.chunks(500) {
            self.put_many(&from.read(chunk).await?).await?;
        }
        Ok(ids.len())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

fn raw_from_row(r: &sqlx::any::AnyRow) -> Result<RawChart, sqlx::Error> {
    Ok(RawChart {
        id: r.try_get(0)?,
        slug: r.try_get(1)?,
        config: r.try_get(2)?,
        data: r.try_get(3)?,
        metadata: r.try_get(4)?,
        updated_at: r.try_get(5)?,
    })
}

fn store_error(url: &str, e: sqlx::Error) -> Error {
    let why = match &e {
        sqlx::Error::Configuration(m) => m.to_string(),
        sqlx::Error::Database(d) => d.message().to_string(),
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::PoolTimedOut => "timed out connecting".to_string(),
        other => other.to_string(),
    };
    Error::Store(format!("chart store {} is not usable: {why}", redact(url)))
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
