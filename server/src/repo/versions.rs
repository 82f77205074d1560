//! The content store: the versions something points at, once each, addressed by their hash and
//! kept compressed. Append-only.
//!
//! A version's three canonical parts are packed into one zstd frame (`version_texts.packed`):
//! chart JSON is repetitive (the same keys on every data row), so a 25 KB chart takes ~3 KB.
//! Which versions are kept at all is the scan's choice (`scans::keep`).

use app::types::ChartVersion;
use rayon::prelude::*;

use crate::charts::CanonicalChart;
use crate::db::{self, Db};
use crate::error::{Error, Result};

/// zstd's level 1: on the scan benchmark's 20,000 canonical charts (352 MB) it packed them in
/// 0.70 s to 45.7 MB, level 3 (the default) in 0.81 s to 48.2 MB — level 1 is both faster and, on
/// JSON this repetitive, no larger. Every frame is readable whatever level wrote it.
const LEVEL: i32 = 1;

/// The three parts as one buffer: `config` and `data` each after its length (u64, little
/// endian), then `metadata` to the end.
fn pack(config: &str, data: &str, metadata: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(16 + config.len() + data.len() + metadata.len());
    for part in [config, data] {
        buf.extend_from_slice(&(part.len() as u64).to_le_bytes());
        buf.extend_from_slice(part.as_bytes());
    }
    buf.extend_from_slice(metadata.as_bytes());
    // One compression context per thread, reused: making one costs about as much as
    // compressing a small chart.
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Compressor<'static>>> =
            const { std::cell::RefCell::new(None) };
    }
    COMPRESSOR.with_borrow_mut(|c| {
        let c = match c {
            Some(c) => c,
            None => c.insert(zstd::bulk::Compressor::new(LEVEL).expect("zstd accepts level 1")),
        };
        let mut packed = c.compress(&buf).expect("compressing a buffer in memory does not fail");
        // The compressor allocates for the worst case (the input's size, ~25 KB) and returns a
        // frame of ~3 KB in it; a scan holds thousands of these before storing them.
        packed.shrink_to_fit();
        packed
    })
}

/// [`pack`] undone; `None` when the bytes are not a packed version (a damaged content store).
fn unpack(packed: &[u8]) -> Option<(String, String, String)> {
    let buf = zstd::stream::decode_all(packed).ok()?;
    let mut rest = buf.as_slice();
    let mut part = || -> Option<String> {
        let len = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
        let text = std::str::from_utf8(rest.get(8..8 + len)?).ok()?.to_string();
        rest = &rest[8 + len..];
        Some(text)
    };
    let (config, data) = (part()?, part()?);
    Some((config, data, std::str::from_utf8(rest).ok()?.to_string()))
}

/// A version ready to store: its text packed ([`PackedVersion::of`] is CPU work; callers run it
/// off the async threads, beside the canonicalisation that made the version).
pub struct PackedVersion {
    hash: String,
    slug: String,
    packed: Vec<u8>,
}

impl PackedVersion {
    pub fn of(v: &CanonicalChart) -> PackedVersion {
        PackedVersion { hash: v.hash.clone(), slug: v.slug.clone(), packed: pack(&v.config, &v.data, &v.metadata) }
    }

    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// Stores versions not seen before.
pub async fn insert(db: &Db, versions: &[PackedVersion]) -> Result<()> {
    if versions.is_empty() {
        return Ok(());
    }
    store_packed(db, versions).await
}

async fn store_packed(db: &Db, packed: &[PackedVersion]) -> Result<()> {
    let now = db::now();
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    db::insert_rows(
        &mut tx,
        "insert into version_texts (hash, slug, packed, created_at) values {values} on conflict (hash) do nothing",
        4,
        packed,
        |row, v| {
            row.push(&v.hash).push(&v.slug).push(v.packed.as_slice()).push(&now);
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A version's canonical text exactly as stored: the bytes its hash was computed over.
#[derive(Clone, Debug)]
pub struct VersionText {
    pub slug: String,
    pub config: String,
    pub data: String,
    pub metadata: String,
}

#[derive(sqlx::FromRow)]
struct PackedRow {
    slug: String,
    packed: Vec<u8>,
}

/// A version's text, unpacked. A row that does not unpack is a damaged content store: an error,
/// never a silent absence.
pub async fn text(db: &Db, hash: &str) -> Result<Option<VersionText>> {
    let row: Option<PackedRow> = sqlx::query_as("select slug, packed from version_texts where hash = $1")
        .bind(hash)
        .fetch_optional(&db.pool)
        .await?;
    row.map(|row| unpacked(hash, row.slug, &row.packed)).transpose()
}

fn unpacked(hash: &str, slug: String, packed: &[u8]) -> Result<VersionText> {
    let (config, data, metadata) =
        unpack(packed).ok_or_else(|| Error::internal(format!("version {hash}: stored text does not unpack")))?;
    Ok(VersionText { slug, config, data, metadata })
}

/// One version, parsed; its parts are the canonical text it was hashed over, so they always
/// parse. A part that does not is a damaged content store, and an error — never a silent `null`.
pub async fn get(db: &Db, hash: &str) -> Result<Option<ChartVersion>> {
    let Some(t) = text(db, hash).await? else { return Ok(None) };
    parsed(hash, t).map(Some)
}

fn parsed(hash: &str, t: VersionText) -> Result<ChartVersion> {
    let parse = |part: &str, text: &str| {
        serde_json::from_str(text)
            .map_err(|e| Error::internal(format!("version {hash}: stored {part} is not valid JSON: {e}")))
    };
    Ok(ChartVersion {
        config: parse("config", &t.config)?,
        data: parse("data", &t.data)?,
        metadata: parse("metadata", &t.metadata)?,
        hash: hash.to_string(),
        slug: t.slug,
        ..Default::default()
    })
}

/// The version of an optional hash (`None` for a chart absent on that side).
pub async fn get_opt(db: &Db, hash: Option<&str>) -> Result<Option<ChartVersion>> {
    match hash {
        Some(h) => get(db, h).await,
        None => Ok(None),
    }
}

#[derive(sqlx::FromRow)]
struct HashedPackedRow {
    hash: String,
    slug: String,
    packed: Vec<u8>,
}

/// [`get_opt`] of several hashes in one query (an item's three sides), in the order asked.
pub async fn get_many<const N: usize>(db: &Db, hashes: [Option<&str>; N]) -> Result<[Option<ChartVersion>; N]> {
    let wanted: Vec<&str> = hashes.iter().flatten().copied().collect();
    let mut found = std::collections::HashMap::new();
    if !wanted.is_empty() {
        let sql = format!(
            "select hash, slug, packed from version_texts where hash in ({})",
            db::placeholders(0, wanted.len())
        );
        let mut q = sqlx::query_as::<_, HashedPackedRow>(&sql);
        for h in &wanted {
            q = q.bind(*h);
        }
        for row in q.fetch_all(&db.pool).await? {
            found.insert(row.hash.clone(), row);
        }
    }
    let mut out = std::array::from_fn(|_| None);
    for (slot, hash) in out.iter_mut().zip(hashes) {
        let Some(row) = hash.and_then(|h| found.get(h)) else { continue };
        *slot = Some(parsed(&row.hash, unpacked(&row.hash, row.slug.clone(), &row.packed)?)?);
    }
    Ok(out)
}

#[derive(sqlx::FromRow)]
struct LegacyRow {
    hash: String,
    slug: String,
    config: String,
    data: String,
    metadata: String,
}

/// Moves the uncompressed rows of `versions` (before migration 0012) into `version_texts`, a
/// batch per transaction, so a database from before keeps every version it had. Returns how
/// many were moved; on a database that has none left this is one small query.
pub async fn move_legacy(db: &Db) -> Result<usize> {
    let mut moved = 0;
    loop {
        let rows: Vec<LegacyRow> =
            sqlx::query_as("select hash, slug, config, data, metadata from versions order by hash limit 200")
                .fetch_all(&db.pool)
                .await?;
        if rows.is_empty() {
            return Ok(moved);
        }
        let packed: Vec<PackedVersion> = rows
            .par_iter()
            .map(|r| PackedVersion {
                hash: r.hash.clone(),
                slug: r.slug.clone(),
                packed: pack(&r.config, &r.data, &r.metadata),
            })
            .collect();
        store_packed(db, &packed).await?;
        let _guard = db.write_guard().await;
        let mut tx = db.pool.begin().await?;
        let sql = format!("delete from versions where hash in ({})", db::placeholders(0, rows.len()));
        let mut q = sqlx::query(&sql);
        for r in &rows {
            q = q.bind(&r.hash);
        }
        q.execute(&mut *tx).await?;
        tx.commit().await?;
        moved += rows.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_keeps_every_byte_of_every_part() {
        for (c, d, m) in [("{}", "{}", "{}"), ("", "", ""), ("{\"t\":\"é 太\"}", "{\"rows\":[]}", "")] {
            let packed = pack(c, d, m);
            assert_eq!(unpack(&packed), Some((c.to_string(), d.to_string(), m.to_string())));
        }
        let data =
            format!("{{\"rows\":[{}]}}", vec!["{\"entity\":\"France\",\"time\":2000,\"value\":1.5}"; 300].join(","));
        let packed = pack("{}", &data, "{}");
        assert!(packed.len() * 10 < data.len(), "repetitive chart JSON compresses well");
        assert_eq!(packed.capacity(), packed.len(), "a held version holds its frame, not the worst case");
        assert_eq!(unpack(b"not zstd"), None);
    }
}
