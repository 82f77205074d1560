//! Indicators (design §9): the optional `indicators` table of a chart store, and the
//! `config.dimensions[].indicator` references of its charts.
//!
//! A store without the table works exactly as before: [`ChartStore::has_indicators`] says so and
//! nothing else here is called on it. Part of the engine: no knowledge of branches or upgrades.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::raw::RawChart;
use super::store::sql::{any_text, SqlStore};
use super::store::ChartStore;
use crate::db::{self, placeholders, Backend};
use crate::error::{Error, Result};

pub const INDICATORS_TABLE: &str = "create table if not exists indicators (
    id         text primary key,
    dataset    text not null,
    name       text not null,
    unit       text,
    rows       text not null,
    updated_at text not null
)";

const UPSERT_INDICATOR: &str = "insert into indicators (id, dataset, name, unit, rows, updated_at)
    values ($1, $2, $3, $4, $5, $6)
    on conflict (id) do update set dataset = excluded.dataset, name = excluded.name,
    unit = excluded.unit, rows = excluded.rows, updated_at = excluded.updated_at";

const UPSERT_INDICATOR_MYSQL: &str = "insert into indicators (id, dataset, name, unit, `rows`, updated_at)
    values (?, ?, ?, ?, ?, ?)
    on duplicate key update dataset = values(dataset), name = values(name),
    unit = values(unit), `rows` = values(`rows`), updated_at = values(updated_at)";

/// `indicators` on MySQL: keys of bounded text, and `rows` quoted (a reserved word there).
pub const INDICATORS_TABLE_MYSQL: &str = "create table if not exists indicators (
    id         varchar(191) not null primary key,
    dataset    varchar(191) not null,
    name       varchar(500) not null,
    unit       varchar(191),
    `rows`     longtext not null,
    updated_at varchar(64) not null
) character set utf8mb4 collate utf8mb4_bin";

/// An indicator without its rows.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Indicator {
    pub id: String,
    pub dataset: String,
    pub name: String,
    pub unit: Option<String>,
}

/// One indicator to write (demo, tests, bench): `rows` is the JSON text of its rows.
#[derive(Clone, Debug)]
pub struct NewIndicator {
    pub id: String,
    pub dataset: String,
    pub name: String,
    pub unit: Option<String>,
    pub rows: String,
}

struct IndicatorRows {
    id: String,
    rows: String,
}

// Long text arrives from MySQL as a blob: read as text whatever the engine calls it.
impl sqlx::FromRow<'_, sqlx::any::AnyRow> for IndicatorRows {
    fn from_row(row: &sqlx::any::AnyRow) -> sqlx::Result<Self> {
        Ok(IndicatorRows { id: any_text(row, "id")?, rows: any_text(row, "rows")? })
    }
}

struct IdConfig {
    id: String,
    config: String,
}

impl sqlx::FromRow<'_, sqlx::any::AnyRow> for IdConfig {
    fn from_row(row: &sqlx::any::AnyRow) -> sqlx::Result<Self> {
        Ok(IdConfig { id: any_text(row, "id")?, config: any_text(row, "config")? })
    }
}

#[derive(sqlx::FromRow)]
struct Present {
    n: i64,
}

/// The dataset of an indicator id or a dataset version's name: the id up to its last `/`.
pub fn parent(id: &str) -> &str {
    id.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// The indicators a chart's config names in `dimensions[].indicator`, in order, once each.
pub fn dimension_indicators(config: &Value) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    if let Some(dims) = config.get("dimensions").and_then(Value::as_array) {
        for d in dims {
            if let Some(id) = d.get("indicator").and_then(Value::as_str) {
                if seen.insert(id.to_string()) {
                    out.push(id.to_string());
                }
            }
        }
    }
    out
}

/// [`dimension_indicators`] of a config's text; a config that is not JSON names none.
pub fn indicators_of_text(config: &str) -> Vec<String> {
    serde_json::from_str::<Value>(config).map(|v| dimension_indicators(&v)).unwrap_or_default()
}

/// Replaces every string value of `v` equal to a key of `mapping` (anywhere in the tree); true
/// when something changed.
fn replace_strings(v: &mut Value, mapping: &HashMap<String, String>) -> bool {
    match v {
        Value::String(s) => match mapping.get(s.as_str()) {
            Some(new) if new != s => {
                *s = new.clone();
                true
            }
            _ => false,
        },
        Value::Array(items) => items.iter_mut().fold(false, |acc, x| replace_strings(x, mapping) | acc),
        Value::Object(map) => map.values_mut().fold(false, |acc, x| replace_strings(x, mapping) | acc),
        _ => false,
    }
}

/// A chart's config and data with the indicators of `mapping` (old id → new id) replaced: every
/// config string equal to an old id becomes the new id, and the data rows of the old series are
/// replaced by the new indicator's rows (`new_rows`, by new id) tagged with the new series.
/// `None` when the chart names none of the old ids in its dimensions.
pub fn rewrite(
    raw: &RawChart,
    mapping: &HashMap<String, String>,
    new_rows: &HashMap<String, Vec<Value>>,
) -> std::result::Result<Option<(String, String)>, String> {
    let mut config: Value = serde_json::from_str(&raw.config).map_err(|e| format!("config is not valid JSON: {e}"))?;
    let named: Vec<String> =
        dimension_indicators(&config).into_iter().filter(|id| mapping.contains_key(id.as_str())).collect();
    if named.is_empty() {
        return Ok(None);
    }
    let mut data: Value = serde_json::from_str(&raw.data).map_err(|e| format!("data is not valid JSON: {e}"))?;
    replace_strings(&mut config, mapping);
    let rows =
        data.get_mut("rows").and_then(Value::as_array_mut).ok_or_else(|| "data has no rows array".to_string())?;
    let old: HashSet<&str> = named.iter().map(String::as_str).collect();
    rows.retain(|r| !r.get("series").and_then(Value::as_str).is_some_and(|s| old.contains(s)));
    for old_id in &named {
        let new_id = &mapping[old_id.as_str()];
        for r in new_rows.get(new_id).map(Vec::as_slice).unwrap_or_default() {
            let mut r = r.clone();
            if let Value::Object(m) = &mut r {
                m.insert("series".into(), Value::String(new_id.clone()));
            }
            rows.push(r);
        }
    }
    Ok(Some((config.to_string(), data.to_string())))
}

impl ChartStore {
    /// §3's table, beside which `indicators` lives: a mapped or file store has none.
    fn indicators_store(&self) -> Result<&SqlStore> {
        self.charts_table().ok_or_else(|| {
            Error::Unprocessable(format!(
                "{} is not a store of §3's charts table: it has no indicators table",
                self.name()
            ))
        })
    }

    /// True when the store has the optional `indicators` table.
    pub async fn has_indicators(&self) -> Result<bool> {
        let Some(t) = self.charts_table() else { return Ok(false) };
        let sql = match t.engine {
            Backend::Sqlite => "select count(*) as n from sqlite_master where type = 'table' and name = 'indicators'",
            Backend::Postgres => {
                "select count(*) as n from information_schema.tables
                 where table_name = 'indicators' and table_schema = current_schema()"
            }
            Backend::Mysql => {
                "select count(*) as n from information_schema.tables
                 where table_name = 'indicators' and table_schema = database()"
            }
        };
        let p: Present = sqlx::query_as(sql).fetch_one(t.pool()).await.map_err(|e| t.fail(e))?;
        Ok(p.n > 0)
    }

    pub async fn create_indicators_table(&self) -> Result<()> {
        let t = self.indicators_store()?;
        let ddl = if t.engine == Backend::Mysql { INDICATORS_TABLE_MYSQL } else { INDICATORS_TABLE };
        sqlx::query(ddl).execute(t.pool()).await.map_err(|e| t.fail(e))?;
        Ok(())
    }

    /// Every indicator (without rows), by id.
    pub async fn indicators(&self) -> Result<Vec<Indicator>> {
        let t = self.indicators_store()?;
        sqlx::query_as("select id, dataset, name, unit from indicators order by id")
            .fetch_all(t.pool())
            .await
            .map_err(|e| t.fail(e))
    }

    /// The rows of the given indicators, parsed, by id (those that exist).
    pub async fn indicator_rows(&self, ids: &[String]) -> Result<HashMap<String, Vec<Value>>> {
        let t = self.indicators_store()?;
        let mut out = HashMap::new();
        for chunk in ids.chunks(db::MAX_PARAMS) {
            let rows = if t.engine == Backend::Mysql { "`rows`" } else { "rows" };
            let sql =
                format!("select id, {rows} as rows from indicators where id in ({})", placeholders(0, chunk.len()));
            let sql = db::engine_sql(t.engine, &sql);
            let mut q = sqlx::query_as::<_, IndicatorRows>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(t.pool()).await.map_err(|e| t.fail(e))? {
                let rows: Vec<Value> = serde_json::from_str(&r.rows).map_err(|e| {
                    Error::store(&self.url, format!("rows of indicator {} are not valid JSON: {e}", r.id))
                })?;
                out.insert(r.id, rows);
            }
        }
        Ok(out)
    }

    /// Which of `ids` the store's `indicators` table holds.
    pub async fn existing_indicators(&self, ids: &[String]) -> Result<HashSet<String>> {
        let t = self.indicators_store()?;
        #[derive(sqlx::FromRow)]
        struct Id {
            id: String,
        }
        let mut out = HashSet::new();
        for chunk in ids.chunks(db::MAX_PARAMS) {
            let sql = format!("select id from indicators where id in ({})", placeholders(0, chunk.len()));
            let sql = db::engine_sql(t.engine, &sql);
            let mut q = sqlx::query_as::<_, Id>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(t.pool()).await.map_err(|e| t.fail(e))?.into_iter().map(|r| r.id));
        }
        Ok(out)
    }

    /// Writes indicators (insert or replace by id), in one transaction.
    pub async fn put_indicators(&self, list: &[NewIndicator]) -> Result<()> {
        let t = self.indicators_store()?;
        let mut tx = t.pool().begin().await.map_err(|e| t.fail(e))?;
        for i in list {
            sqlx::query(if t.engine == Backend::Mysql { UPSERT_INDICATOR_MYSQL } else { UPSERT_INDICATOR })
                .bind(&i.id)
                .bind(&i.dataset)
                .bind(&i.name)
                .bind(&i.unit)
                .bind(&i.rows)
                .bind(db::now())
                .execute(&mut *tx)
                .await
                .map_err(|e| t.fail(e))?;
        }
        tx.commit().await.map_err(|e| t.fail(e))
    }

    /// The indicators each chart names in its dimensions, for the charts whose config contains
    /// `needle` (a dataset id, or `"indicator"` for all): the text search narrows the rows read,
    /// the parsed dimensions decide.
    pub async fn chart_indicators(&self, needle: &str) -> Result<Vec<(String, Vec<String>)>> {
        let t = self.indicators_store()?;
        let sql = match t.engine {
            Backend::Sqlite => "select id, config from charts where instr(config, $1) > 0",
            Backend::Postgres => "select id, config from charts where strpos(config, $1) > 0",
            Backend::Mysql => "select id, config from charts where instr(config, ?) > 0",
        };
        let rows: Vec<IdConfig> = sqlx::query_as(sql).bind(needle).fetch_all(t.pool()).await.map_err(|e| t.fail(e))?;
        Ok(rows.into_iter().map(|r| (r.id, indicators_of_text(&r.config))).filter(|(_, ids)| !ids.is_empty()).collect())
    }

    /// Compare-and-swap of staging rows (the upgrader's write): each `(expected, new)` pair is
    /// written only if the row still has exactly the bytes and `updated_at` of `expected`.
    ///
    /// Each chart is its own unit of work — a savepoint (a nested transaction) inside one
    /// transaction per batch: a chart that changed is left alone, a chart whose write fails is
    /// rolled back alone (`Err` with the reason), and the batch commits once. A commit costs a
    /// few fsyncs on a SQLite store in rollback-journal mode (~25 ms here), so committing per
    /// chart would make 2,000 charts take a minute; per batch it takes well under a second.
    pub async fn swap_contents(
        &self,
        pairs: &[(&RawChart, &RawChart)],
    ) -> Result<Vec<std::result::Result<bool, String>>> {
        let t = self.indicators_store()?;
        let mut tx = match t.engine {
            Backend::Sqlite => t.pool().begin_with("begin immediate").await,
            Backend::Postgres | Backend::Mysql => t.pool().begin().await,
        }
        .map_err(|e| t.fail(e))?;
        let update = db::engine_sql(
            t.engine,
            "update charts set slug = $1, config = $2, data = $3, metadata = $4, updated_at = $5 where id = $6",
        );
        let mut out = Vec::with_capacity(pairs.len());
        for (expected, new) in pairs {
            sqlx::query("savepoint chart").execute(&mut *tx).await.map_err(|e| t.fail(e))?;
            let written = async {
                let row = t.read_in(&mut tx, &expected.id).await?;
                if row.as_ref() != Some(*expected) {
                    return Ok(Ok(false));
                }
                sqlx::query(&update)
                    .bind(&new.slug)
                    .bind(&new.config)
                    .bind(&new.data)
                    .bind(&new.metadata)
                    .bind(&new.updated_at)
                    .bind(&new.id)
                    .execute(&mut *tx)
                    .await?;
                // Read back: the row must hold exactly what was written.
                let back = t.read_in(&mut tx, &new.id).await?;
                if back.as_ref() != Some(*new) {
                    return Ok(Err(format!(
                        "chart {} read back after the write is not what was written; rolled back",
                        new.id
                    )));
                }
                Ok::<_, sqlx::Error>(Ok(true))
            }
            .await;
            // A write that failed, or read back otherwise, is undone alone.
            let written = written.unwrap_or_else(|e| Err(t.fail(e).to_string()));
            if written.is_err() {
                sqlx::query("rollback to savepoint chart").execute(&mut *tx).await.map_err(|e| t.fail(e))?;
            }
            sqlx::query("release savepoint chart").execute(&mut *tx).await.map_err(|e| t.fail(e))?;
            out.push(written);
        }
        tx.commit().await.map_err(|e| t.fail(e))?;
        Ok(out)
    }

    /// [`ChartStore::swap_contents`] of one chart: false when the row changed (or went away).
    pub async fn swap_content(&self, expected: &RawChart, new: &RawChart) -> Result<bool> {
        match self.swap_contents(&[(expected, new)]).await?.pop() {
            Some(Ok(w)) => Ok(w),
            Some(Err(e)) => Err(Error::Store { public: e, detail: format!("chart store {}", self.name()) }),
            None => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chart(config: Value, data: Value) -> RawChart {
        RawChart {
            id: "c".into(),
            slug: "c".into(),
            config: config.to_string(),
            data: data.to_string(),
            metadata: "{}".into(),
            updated_at: "2024-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn parent_is_the_id_up_to_its_last_slash() {
        assert_eq!(parent("wdi/2026-05-01/gdp"), "wdi/2026-05-01");
        assert_eq!(parent("wdi/2026-05-01"), "wdi");
        assert_eq!(parent("gdp"), "");
    }

    #[test]
    fn rewrite_replaces_ids_everywhere_and_the_rows_of_the_series() {
        let raw = chart(
            json!({"title": "GDP", "dimensions": [{"property": "y", "indicator": "d/1/gdp"}, {"property": "x", "indicator": "d/1/pop"}],
                   "map": {"column": "d/1/gdp"}}),
            json!({"rows": [
                {"entity": "France", "time": 2000, "value": 1.0, "series": "d/1/gdp"},
                {"entity": "France", "time": 2000, "value": 9.0, "series": "d/1/pop"}]}),
        );
        let mapping = HashMap::from([("d/1/gdp".to_string(), "d/2/gdp".to_string())]);
        let rows = HashMap::from([(
            "d/2/gdp".to_string(),
            vec![
                json!({"entity": "France", "time": 2000, "value": 2.0}),
                json!({"entity": "Peru", "time": 2001, "value": 3.0}),
            ],
        )]);
        let (config, data) = rewrite(&raw, &mapping, &rows).unwrap().unwrap();
        let config: Value = serde_json::from_str(&config).unwrap();
        assert_eq!(config["dimensions"][0]["indicator"], "d/2/gdp");
        assert_eq!(config["dimensions"][1]["indicator"], "d/1/pop");
        assert_eq!(config["map"]["column"], "d/2/gdp");
        let data: Value = serde_json::from_str(&data).unwrap();
        let series: Vec<&str> =
            data["rows"].as_array().unwrap().iter().map(|r| r["series"].as_str().unwrap()).collect();
        assert_eq!(series, ["d/1/pop", "d/2/gdp", "d/2/gdp"]);
        let none = chart(json!({"title": "no dims"}), json!({"rows": []}));
        assert_eq!(rewrite(&none, &mapping, &rows).unwrap(), None);
    }
}
