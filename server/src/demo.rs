//! `chartgate demo`: realistic production and staging stores, and two registered branches.
//!
//! Production gets `charts` charts of every type (line, bar, scatter, table) with titles in
//! several languages. Each staging store starts as a copy of production; after the branches are
//! registered (taking their baselines), staging gets new, modified (config, data, metadata) and
//! deleted charts plus edits that are not changes (keys reordered, `updated_at` touched), and
//! production gets changes of its own: some on charts staging also changed (conflicts), some
//! not (production-only changes, which must never become items). One staging row is broken JSON.
//! Deterministic for a given seed, so tests can rely on it.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};

use crate::branches::{self, NewBranch};
use crate::charts::{ChartStore, RawChart};
use crate::error::{Error, Result};
use crate::state::AppState;

pub const BRANCHES: [&str; 2] = ["feature/energy-update", "fix/population-labels"];

#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub charts: usize,
    /// Data rows per chart; `None` varies them (about 60 to 180).
    pub rows: Option<usize>,
    pub seed: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { charts: 300, rows: None, seed: 7 }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct DemoReport {
    pub charts: usize,
    pub branches: Vec<String>,
    pub already_present: bool,
}

const TOPICS: [(&str, &str, &str); 10] = [
    ("gdp-per-capita", "GDP per capita", "international-$"),
    ("life-expectancy", "Life expectancy at birth", "years"),
    ("co2-emissions", "CO₂ emissions per person", "tonnes"),
    ("population", "Population", "people"),
    ("child-mortality", "Child mortality rate", "%"),
    ("renewable-share", "Share of energy from renewables", "%"),
    ("literacy-rate", "Literacy rate", "%"),
    ("electricity-access", "Access to electricity", "%"),
    ("coal-consumption", "Coal consumption", "TWh"),
    ("solar-capacity", "Installed solar capacity", "GW"),
];

/// Titles in other languages, so the UI and search are exercised beyond ASCII.
const TRANSLATED: [&str; 10] = [
    "PIB par habitant",
    "Esperanza de vida al nacer",
    "人均二氧化碳排放量",
    "Bevölkerung",
    "معدل وفيات الأطفال",
    "再生可能エネルギーの割合",
    "Уровень грамотности",
    "बिजली तक पहुंच",
    "Consumo de carvão",
    "Installierte Solarleistung",
];

const ENTITIES: [&str; 16] = [
    "France",
    "Chad",
    "India",
    "Brazil",
    "Japan",
    "Nigeria",
    "Peru",
    "Germany",
    "Indonesia",
    "Kenya",
    "Mexico",
    "Norway",
    "Viet Nam",
    "Egypt",
    "Chile",
    "World",
];

const TYPES: [&str; 4] = ["line", "bar", "scatter", "table"];

fn chart(i: usize, rng: &mut StdRng, rows: Option<usize>) -> RawChart {
    let (topic, title, unit) = TOPICS[i % TOPICS.len()];
    let kind = TYPES[(i / TOPICS.len()) % TYPES.len()];
    let title = if i % 7 == 3 { TRANSLATED[i % TRANSLATED.len()].to_string() } else { title.to_string() };
    let entity_count = rng.gen_range(3..=6);
    let start = rng.gen_range(0..ENTITIES.len());
    let entities: Vec<&str> = (0..entity_count).map(|k| ENTITIES[(start + k) % ENTITIES.len()]).collect();
    let two_series = kind == "scatter";
    let years = match rows {
        Some(n) => (n / (entities.len() * if two_series { 2 } else { 1 })).max(1),
        None => rng.gen_range(20..=30),
    };
    let mut data = Vec::new();
    for entity in &entities {
        for series in if two_series { vec![Some("x"), Some("y")] } else { vec![None] } {
            let mut v: f64 = rng.gen_range(1.0..100.0);
            for y in 0..years {
                v = (v * rng.gen_range(0.95..1.07)).max(0.0);
                let mut row = json!({"entity": entity, "time": 1990 + y as i64, "value": (v * 100.0).round() / 100.0});
                if let Some(s) = series {
                    row["series"] = json!(s);
                }
                data.push(row);
            }
        }
    }
    let slug = format!("{topic}-{i}");
    let config = json!({
        "type": kind,
        "title": title,
        "subtitle": format!("Measured in {unit}, {} entities", entities.len()),
        "xAxis": {"label": if two_series { "GDP per capita" } else { "Year" }},
        "yAxis": {"label": unit, "min": 0},
        "colors": ["#3360a9", "#ce261e", "#00847e", "#6d3e91"],
        "tab": if kind == "table" { "table" } else { "chart" },
        "updated_at": "2025-06-01T00:00:00Z",
        "version": 1,
    });
    let metadata = json!({
        "description": format!("{title}. Annual values by country."),
        "unit": unit,
        "sources": [{"name": "World Bank – World Development Indicators", "url": "https://data.worldbank.org/"}],
        "license": "CC BY 4.0",
        "updated_at": "2025-06-01T00:00:00Z",
    });
    RawChart {
        id: format!("chart-{i:05}"),
        slug,
        config: config.to_string(),
        data: json!({"rows": data}).to_string(),
        metadata: metadata.to_string(),
        updated_at: "2025-06-01T00:00:00Z".into(),
    }
}

fn edit(c: &RawChart, part: &str, f: impl FnOnce(&mut Value)) -> RawChart {
    let mut out = c.clone();
    let text = match part {
        "config" => &mut out.config,
        "data" => &mut out.data,
        _ => &mut out.metadata,
    };
    let mut v: Value = serde_json::from_str(text).expect("demo charts are valid JSON");
    f(&mut v);
    *text = v.to_string();
    out.updated_at = crate::db::now();
    out
}

/// The same content written differently: top-level keys reversed, data pretty-printed.
fn rewritten(c: &RawChart) -> RawChart {
    let reversed = |text: &str| {
        let v: Value = serde_json::from_str(text).expect("demo charts are valid JSON");
        match v {
            Value::Object(m) => {
                let pairs: Vec<String> =
                    m.iter().rev().map(|(k, v)| format!("{}: {}", Value::String(k.clone()), v)).collect();
                format!("{{{}}}", pairs.join(", "))
            }
            other => other.to_string(),
        }
    };
    let data: Value = serde_json::from_str(&c.data).expect("demo charts are valid JSON");
    RawChart {
        config: reversed(&c.config),
        metadata: reversed(&c.metadata),
        data: serde_json::to_string_pretty(&data).expect("serialisable"),
        updated_at: crate::db::now(),
        ..c.clone()
    }
}

fn bump_values(v: &mut Value, every: usize, factor: f64) {
    if let Some(rows) = v["rows"].as_array_mut() {
        for row in rows.iter_mut().step_by(every.max(1)) {
            if let Some(x) = row["value"].as_f64() {
                row["value"] = json!(((x * factor) * 100.0).round() / 100.0);
            }
        }
    }
}

pub async fn run(state: &AppState, opts: &DemoOptions) -> Result<DemoReport> {
    if opts.charts < 40 {
        return Err(Error::BadRequest("the demo needs at least 40 charts".into()));
    }
    let production = ChartStore::open(&state.config.production_url, true).await?;
    production.create_schema().await?;
    let existing = production.stamps().await?.len();
    let names: Vec<String> = BRANCHES.iter().map(|b| branches::resolve(state, b)).collect();
    if existing > 0 {
        let registered = branches::list(state).await?;
        if names.iter().all(|n| registered.iter().any(|b| &b.name == n)) {
            return Ok(DemoReport { charts: existing, branches: names, already_present: true });
        }
        return Err(Error::Conflict(format!(
            "production store {} already holds {existing} charts; point production_url elsewhere or remove it",
            production.name()
        )));
    }

    let mut rng = StdRng::seed_from_u64(opts.seed);
    let progress = crate::cli::progress(opts.charts as u64, "writing production");
    let mut charts = Vec::with_capacity(opts.charts);
    for i in 0..opts.charts {
        let mut c = chart(i, &mut rng, opts.rows);
        if i == 5 {
            // Chart content is data, never markup: the UI must show this title as text.
            c = edit(&c, "config", |v| v["title"] = json!("<script>alert('xss')</script> & <b>bold</b> claims"));
            c.updated_at = "2025-06-01T00:00:00Z".into();
        }
        charts.push(c);
    }
    for chunk in charts.chunks(500) {
        production.put_many(chunk).await?;
        progress.inc(chunk.len() as u64);
    }
    progress.finish_and_clear();

    let mut stores = Vec::new();
    for (raw, name) in BRANCHES.iter().zip(&names) {
        let url = state.config.staging_url(name);
        let store = ChartStore::open(&url, true).await?;
        store.create_schema().await?;
        store.copy_from(&production).await?;
        branches::register(
            state,
            NewBranch { branch: raw, store_url: Some(&url), fork: false, preview_url: None, actor: "demo" },
        )
        .await?;
        stores.push(store);
    }

    let n = opts.charts;
    let pick = |k: usize, step: usize, offset: usize| -> Vec<&RawChart> {
        (0..k).map(|j| &charts[(j * step + offset) % n]).collect()
    };
    let share = |pct: f64| ((n as f64) * pct / 100.0).ceil() as usize;

    // Branch 1: a broad energy update.
    let s1 = &stores[0];
    let mut staged = Vec::new();
    for c in pick(share(3.0), 7, 11) {
        staged.push(edit(c, "config", |v| {
            v["subtitle"] = json!("Revised with the 2025 energy review");
            v["yAxis"]["min"] = json!(null);
        }));
    }
    for c in pick(share(3.0), 13, 48) {
        staged.push(edit(c, "data", |v| bump_values(v, 5, 1.04)));
    }
    for c in pick(share(2.0), 17, 85) {
        staged.push(edit(c, "metadata", |v| {
            v["description"] = json!(format!("{} Updated with 2024 figures.", v["description"].as_str().unwrap_or("")));
            if let Some(sources) = v["sources"].as_array_mut() {
                sources.push(json!({"name": "Energy Institute", "url": "https://www.energyinst.org/"}));
            }
        }));
    }
    for k in 0..share(2.0) {
        let mut c = chart(n + k, &mut rng, opts.rows);
        c.id = format!("chart-new-{k:04}");
        c.slug = format!("energy-new-{k}");
        c.updated_at = crate::db::now();
        staged.push(c);
    }
    // The chart whose title is markup is changed too, so reviewers (and tests) meet it.
    staged.push(edit(&charts[5], "config", |v| v["subtitle"] = json!("Now with <em>emphasis</em> in the subtitle")));
    // Not changes: the same content written differently.
    for c in pick(share(2.0), 19, 122) {
        staged.push(rewritten(c));
    }
    // Conflicts: staging and production both edit these after the fork.
    let conflicted: Vec<RawChart> = pick(share(1.0), 23, 159).into_iter().cloned().collect();
    for c in &conflicted {
        staged.push(edit(c, "config", |v| {
            v["title"] = json!(format!("{} (energy review)", v["title"].as_str().unwrap_or("")))
        }));
    }
    dedup_by_id(&mut staged);
    s1.put_many(&staged).await?;
    let staged_ids: std::collections::HashSet<String> = staged.iter().map(|c| c.id.clone()).collect();
    for c in pick(share(1.0), 29, 196).into_iter().filter(|c| !staged_ids.contains(&c.id)) {
        s1.delete(&c.id).await?;
    }

    // Branch 2: label fixes on population charts, and one row a broken export left invalid.
    let s2 = &stores[1];
    let mut staged2: Vec<RawChart> = charts
        .iter()
        .filter(|c| c.slug.starts_with("population-"))
        .take(share(2.0).max(3))
        .map(|c| edit(c, "metadata", |v| v["unit"] = json!("persons")))
        .collect();
    if let Some(c) = charts.iter().find(|c| c.slug.starts_with("life-expectancy-")) {
        staged2.push(edit(c, "config", |v| v["yAxis"]["label"] = json!("years of life")));
        let mut broken = charts.iter().rev().find(|c| c.slug.starts_with("literacy-rate-")).unwrap_or(c).clone();
        broken.data = "{\"rows\": [{\"entity\": \"France\", \"time\": 2000, ".into();
        broken.updated_at = crate::db::now();
        staged2.push(broken);
    }
    s2.put_many(&staged2).await?;

    // Production moves on: conflicting edits, and changes only production made.
    let mut prod_edits: Vec<RawChart> =
        conflicted.iter().map(|c| edit(c, "config", |v| v["subtitle"] = json!("Corrected in production"))).collect();
    for c in pick(share(2.0), 31, 233).into_iter().filter(|c| !staged_ids.contains(&c.id)) {
        prod_edits.push(edit(c, "metadata", |v| v["license"] = json!("CC BY 4.0 (production fix)")));
    }
    dedup_by_id(&mut prod_edits);
    production.put_many(&prod_edits).await?;

    for name in &names {
        branches::rescan(state, name, false).await?;
    }
    Ok(DemoReport { charts: n, branches: names, already_present: false })
}

fn dedup_by_id(charts: &mut Vec<RawChart>) {
    let mut seen = std::collections::HashSet::new();
    charts.retain(|c| seen.insert(c.id.clone()));
}
