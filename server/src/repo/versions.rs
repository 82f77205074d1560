//! The content store: every version Chartgate has seen, once, addressed by its hash. Append-only.

use app::types::ChartVersion;

use crate::charts::CanonicalChart;
use crate::db::{self, Db};
use crate::error::{Error, Result};

/// Stores versions not seen before.
pub async fn insert(db: &Db, versions: &[&CanonicalChart]) -> Result<()> {
    if versions.is_empty() {
        return Ok(());
    }
    let now = db::now();
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    db::insert_rows(
        &mut tx,
        "insert into versions (hash, slug, config, data, metadata, created_at) values {values}
         on conflict (hash) do nothing",
        6,
        versions,
        |row, v| {
            row.push(&v.hash).push(&v.slug).push(&v.config).push(&v.data).push(&v.metadata).push(&now);
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    hash: String,
    slug: String,
    config: String,
    data: String,
    metadata: String,
}

/// One version; its parts are the canonical text it was hashed over, so they always parse. A
/// part that does not is a damaged content store, and an error — never a silent `null`.
pub async fn get(db: &Db, hash: &str) -> Result<Option<ChartVersion>> {
    let row: Option<VersionRow> =
        sqlx::query_as("select hash, slug, config, data, metadata from versions where hash = $1")
            .bind(hash)
            .fetch_optional(&db.pool)
            .await?;
    let Some(r) = row else { return Ok(None) };
    let parse = |part: &str, text: &str| {
        serde_json::from_str(text)
            .map_err(|e| Error::internal(format!("version {hash}: stored {part} is not valid JSON: {e}")))
    };
    Ok(Some(ChartVersion {
        config: parse("config", &r.config)?,
        data: parse("data", &r.data)?,
        metadata: parse("metadata", &r.metadata)?,
        hash: r.hash,
        slug: r.slug,
    }))
}

/// A version's canonical text exactly as stored: the bytes its hash was computed over.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct VersionText {
    pub slug: String,
    pub config: String,
    pub data: String,
    pub metadata: String,
}

pub async fn text(db: &Db, hash: &str) -> Result<Option<VersionText>> {
    Ok(sqlx::query_as("select slug, config, data, metadata from versions where hash = $1")
        .bind(hash)
        .fetch_optional(&db.pool)
        .await?)
}

/// The version of an optional hash (`None` for a chart absent on that side).
pub async fn get_opt(db: &Db, hash: Option<&str>) -> Result<Option<ChartVersion>> {
    match hash {
        Some(h) => get(db, h).await,
        None => Ok(None),
    }
}
