//! Indicators (design §9): the optional `indicators` table of a chart store, and the
//! `config.dimensions[].indicator` references of its charts.
//!
//! A store without the table works exactly as before: [`ChartStore::has_indicators`] says so and
//! nothing else here is called on it. Part of the engine: no knowledge of branches or upgrades.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde_json::Value;

use super::raw::RawChart;
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

#[derive(sqlx::FromRow)]
struct IndicatorRows {
    id: String,
    rows: String,
}

#[derive(sqlx::FromRow)]
struct IdConfig {
    id: String,
    config: String,
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
    /// True when the store has the optional `indicators` table.
    pub async fn has_indicators(&self) -> Result<bool> {
        let sql = match self.backend {
            Backend::Sqlite => "select count(*) as n from sqlite_master where type = 'table' and name = 'indicators'",
            Backend::Postgres => {
                "select count(*) as n from information_schema.tables
                 where table_name = 'indicators' and table_schema = current_schema()"
            }
        };
        let p: Present = sqlx::query_as(sql).fetch_one(self.pool()).await.map_err(|e| self.fail(e))?;
        Ok(p.n > 0)
    }

    pub async fn create_indicators_table(&self) -> Result<()> {
        sqlx::query(INDICATORS_TABLE).execute(self.pool()).await.map_err(|e| self.fail(e))?;
        Ok(())
    }

    /// Every indicator (without rows), by id.
    pub async fn indicators(&self) -> Result<Vec<Indicator>> {
        sqlx::query_as("select id, dataset, name, unit from indicators order by id")
            .fetch_all(self.pool())
            .await
            .map_err(|e| self.fail(e))
    }

    /// The rows of the given indicators, parsed, by id (those that exist).
    pub async fn indicator_rows(&self, ids: &[String]) -> Result<HashMap<String, Vec<Value>>> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(db::MAX_PARAMS) {
            let sql = format!("select id, rows from indicators where id in ({})", placeholders(0, chunk.len()));
            let mut q = sqlx::query_as::<_, IndicatorRows>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            for r in q.fetch_all(self.pool()).await.map_err(|e| self.fail(e))? {
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
        #[derive(sqlx::FromRow)]
        struct Id {
            id: String,
        }
        let mut out = HashSet::new();
        for chunk in ids.chunks(db::MAX_PARAMS) {
            let sql = format!("select id from indicators where id in ({})", placeholders(0, chunk.len()));
            let mut q = sqlx::query_as::<_, Id>(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            out.extend(q.fetch_all(self.pool()).await.map_err(|e| self.fail(e))?.into_iter().map(|r| r.id));
        }
        Ok(out)
    }

    /// Writes indicators (insert or replace by id), in one transaction.
    pub async fn put_indicators(&self, list: &[NewIndicator]) -> Result<()> {
        let mut tx = self.pool().begin().await.map_err(|e| self.fail(e))?;
        for i in list {
            sqlx::query(
                "insert into indicators (id, dataset, name, unit, rows, updated_at) values ($1, $2, $3, $4, $5, $6)
                 on conflict (id) do update set dataset = excluded.dataset, name = excluded.name,
                 unit = excluded.unit, rows = excluded.rows, updated_at = excluded.updated_at",
            )
            .bind(&i.id)
            .bind(&i.dataset)
            .bind(&i.name)
            .bind(&i.unit)
            .bind(&i.rows)
            .bind(db::now())
            .execute(&mut *tx)
            .await
            .map_err(|e| self.fail(e))?;
        }
        tx.commit().await.map_err(|e| self.fail(e))
    }

    /// The indicators each chart names in its dimensions, for the charts whose config contains
    /// `needle` (a dataset id, or `"indicator"` for all): the text search narrows the rows read,
    /// the parsed dimensions decide.
    pub async fn chart_indicators(&self, needle: &str) -> Result<Vec<(String, Vec<String>)>> {
        let sql = match self.backend {
            Backend::Sqlite => "select id, config from charts where instr(config, $1) > 0",
            Backend::Postgres => "select id, config from charts where strpos(config, $1) > 0",
        };
        let rows: Vec<IdConfig> =
            sqlx::query_as(sql).bind(needle).fetch_all(self.pool()).await.map_err(|e| self.fail(e))?;
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
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool().begin_with("begin immediate").await,
            Backend::Postgres => self.pool().begin().await,
        }
        .map_err(|e| self.fail(e))?;
        let lock = if self.backend == Backend::Postgres { " for update" } else { "" };
        let select = format!("select id, slug, config, data, metadata, updated_at from charts where id = $1{lock}");
        let mut out = Vec::with_capacity(pairs.len());
        for (expected, new) in pairs {
            sqlx::query("savepoint chart").execute(&mut *tx).await.map_err(|e| self.fail(e))?;
            let written = async {
                let row: Option<RawChart> = sqlx::query_as(&select).bind(&expected.id).fetch_optional(&mut *tx).await?;
                if row.as_ref() != Some(*expected) {
                    return Ok(false);
                }
                sqlx::query(
                    "update charts set slug = $2, config = $3, data = $4, metadata = $5, updated_at = $6 where id = $1",
                )
                .bind(&new.id)
                .bind(&new.slug)
                .bind(&new.config)
                .bind(&new.data)
                .bind(&new.metadata)
                .bind(&new.updated_at)
                .execute(&mut *tx)
                .await?;
                Ok::<_, sqlx::Error>(true)
            }
            .await;
            match written {
                Ok(w) => {
                    sqlx::query("release savepoint chart").execute(&mut *tx).await.map_err(|e| self.fail(e))?;
                    out.push(Ok(w));
                }
                Err(e) => {
                    sqlx::query("rollback to savepoint chart").execute(&mut *tx).await.map_err(|e| self.fail(e))?;
                    sqlx::query("release savepoint chart").execute(&mut *tx).await.map_err(|e| self.fail(e))?;
                    out.push(Err(self.fail(e).to_string()));
                }
            }
        }
        tx.commit().await.map_err(|e| self.fail(e))?;
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
