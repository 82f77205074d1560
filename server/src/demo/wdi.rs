//! The demo's dataset update (design §9): branch `data/wdi-2026-update`, whose staging store
//! holds a new version of the WDI dataset beside the one its charts draw, ready to upgrade.
//!
//! Production gets an `indicators` table with `wdi/2025-01-01` and charts drawing it (they are
//! added after the other demo branches took their baselines, so for those branches they are
//! production-only changes, never items). The branch's store is a copy of production plus
//! `wdi/2026-05-01`: two indicators keep their names, one is renamed, one has its words
//! reordered, one is dropped and one is new. Production does not get the new version, so a sync
//! of the upgraded charts skips them with `missing indicator` until the data deploy lands.

use serde_json::{json, Value};

use crate::access::Actor;
use crate::branches::{self, NewBranch};
use crate::charts::indicators::NewIndicator;
use crate::charts::{ChartStore, RawChart};
use crate::error::Result;
use crate::state::AppState;

pub const BRANCH: &str = "data/wdi-2026-update";
pub const OLD: &str = "wdi/2025-01-01";
pub const NEW: &str = "wdi/2026-05-01";

/// (short id, name, unit) of the old version.
const OLD_INDICATORS: [(&str, &str, &str); 5] = [
    ("gdp_per_capita", "GDP per capita, PPP (constant 2017 international $)", "international-$"),
    ("life_expectancy", "Life expectancy at birth, total (years)", "years"),
    ("population", "Population, total", "people"),
    ("co2_per_capita", "CO2 emissions (metric tons per capita)", "tonnes"),
    ("forest_area", "Forest area (sq. km)", "km²"),
];

/// The new version: exact names, a rename (GDP), words reordered (CO2), forest area dropped,
/// renewables new.
const NEW_INDICATORS: [(&str, &str, &str); 5] = [
    ("gdp_per_capita_ppp", "GDP per capita, PPP (constant 2021 international $)", "international-$"),
    ("life_expectancy", "Life expectancy at birth, total (years)", "years"),
    ("population", "Population, total", "people"),
    ("co2_per_capita", "CO2 emissions per capita (metric tons)", "tonnes"),
    ("renewables_share", "Renewable energy consumption (% of total final energy consumption)", "%"),
];

const ENTITIES: [&str; 6] = ["France", "India", "Brazil", "Kenya", "Japan", "Peru"];

/// Rows of an indicator: deterministic values; `revision` scales them a little and adds a year.
fn rows(k: usize, revision: bool) -> Vec<Value> {
    let years = if revision { 2000..2024 } else { 2000..2023 };
    let mut out = Vec::new();
    for (e, entity) in ENTITIES.iter().enumerate() {
        for year in years.clone() {
            let base = 10.0 + (k * 7 + e * 3) as f64 + (year - 2000) as f64 * 0.5;
            let value = if revision && (year + e as i32) % 4 == 0 { base * 1.03 } else { base };
            out.push(json!({"entity": entity, "time": year, "value": (value * 100.0).round() / 100.0}));
        }
    }
    out
}

fn indicators(dataset: &str, list: &[(&str, &str, &str)], revision: bool) -> Vec<NewIndicator> {
    list.iter()
        .enumerate()
        .map(|(k, (short, name, unit))| NewIndicator {
            id: format!("{dataset}/{short}"),
            dataset: dataset.to_string(),
            name: name.to_string(),
            unit: Some(unit.to_string()),
            rows: Value::Array(rows(k, revision)).to_string(),
        })
        .collect()
}

/// The charts drawing the old version: one per indicator, plus a few drawing two.
fn charts() -> Vec<RawChart> {
    let pick: [(&str, &[usize]); 8] = [
        ("GDP per capita", &[0]),
        ("Life expectancy", &[1]),
        ("Population", &[2]),
        ("CO2 emissions per person", &[3]),
        ("Forest area", &[4]),
        ("GDP and life expectancy", &[0, 1]),
        ("CO2 and GDP", &[3, 0]),
        ("Population and CO2", &[2, 3]),
    ];
    let old = indicators(OLD, &OLD_INDICATORS, false);
    pick.iter()
        .enumerate()
        .map(|(i, (title, dims))| {
            let properties = ["y", "x"];
            let dimensions: Vec<Value> = dims
                .iter()
                .enumerate()
                .map(|(d, k)| json!({"property": properties[d.min(1)], "indicator": old[*k].id}))
                .collect();
            let mut data = Vec::new();
            for k in dims.iter() {
                let rows: Vec<Value> = serde_json::from_str(&old[*k].rows).expect("demo rows");
                for mut r in rows {
                    r["series"] = json!(old[*k].id);
                    data.push(r);
                }
            }
            let kind = if dims.len() > 1 { "scatter" } else { "line" };
            let config = json!({"type": kind, "title": format!("{title} (WDI)"), "dimensions": dimensions,
                                "yAxis": {"label": OLD_INDICATORS[dims[0]].2}});
            let metadata = json!({"description": format!("{title}, from the World Development Indicators."),
                                  "sources": [{"name": "World Bank – World Development Indicators"}]});
            RawChart {
                id: format!("wdi-chart-{i:02}"),
                slug: format!("wdi-{}", title.to_lowercase().replace(' ', "-")),
                config: config.to_string(),
                data: json!({"rows": data}).to_string(),
                metadata: metadata.to_string(),
                updated_at: "2025-06-01T00:00:00Z".into(),
            }
        })
        .collect()
}

/// Adds the WDI charts and old indicators to production, then creates and registers the branch
/// with the new dataset version on its staging store. Returns the branch's environment name.
pub async fn add(state: &AppState, actor: &Actor, production: &ChartStore) -> Result<String> {
    production.create_indicators_table().await?;
    production.put_indicators(&indicators(OLD, &OLD_INDICATORS, false)).await?;
    production.put_many(&charts()).await?;

    let name = state.env_name(BRANCH);
    let url = state.config.staging_url(&name);
    super::ensure_database(&url).await?;
    let store = ChartStore::open(&url, true).await?;
    store.create_schema().await?;
    store.copy_from(production).await?;
    store.create_indicators_table().await?;
    store.put_indicators(&indicators(OLD, &OLD_INDICATORS, false)).await?;
    store.put_indicators(&indicators(NEW, &NEW_INDICATORS, true)).await?;
    let new = NewBranch {
        branch: BRANCH,
        store_url: Some(&url),
        fork: false,
        preview_url: None,
        target: None,
        repository: None,
    };
    branches::register(state, actor, new).await?;
    Ok(name)
}
