//! `chartgate demo`: realistic production and staging stores, and three registered branches
//! (the third, [`wdi`], a dataset update ready for the upgrader).
//!
//! Production gets `charts` charts of every type (line, bar, scatter, table) with titles in
//! several languages. Each staging store starts as a copy of production; after the branches are
//! registered (taking their baselines), staging gets new, modified (config, data, metadata) and
//! deleted charts plus edits that are not changes (keys reordered, `updated_at` touched), and
//! production gets changes of its own: some on charts staging also changed (conflicts), some
//! not (production-only changes, which must never become items). One staging row is broken JSON.
//! Deterministic for a given seed, so tests can rely on it.

use app::types::Role;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{json, Value};

use crate::access::Actor;
use crate::branches::{self, NewBranch};
use crate::charts::{ChartStore, RawChart};
use crate::error::{Error, Result};
use crate::scans;
use crate::state::AppState;

pub mod wdi;

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

/// The largest value a unit allows: a share or rate in percent never exceeds 100.
fn upper_bound(unit: &str) -> f64 {
    if unit == "%" {
        100.0
    } else {
        f64::INFINITY
    }
}

/// `x` rounded to two decimals and kept within `[0, max]`.
fn bounded(x: f64, max: f64) -> f64 {
    ((x.clamp(0.0, max)) * 100.0).round() / 100.0
}

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
            let max = upper_bound(unit);
            // Percentages start low enough to have room to grow, and stay within 100.
            let mut v: f64 = rng.gen_range(1.0..if max.is_finite() { max * 0.8 } else { 100.0 });
            for y in 0..years {
                v = bounded(v * rng.gen_range(0.95..1.07), max);
                let mut row = json!({"entity": entity, "time": 1990 + y as i64, "value": v});
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

/// Scales every `every`-th value by `factor`, kept within the unit's bound (`max`).
fn bump_values(v: &mut Value, every: usize, factor: f64, max: f64) {
    if let Some(rows) = v["rows"].as_array_mut() {
        for row in rows.iter_mut().step_by(every.max(1)) {
            if let Some(x) = row["value"].as_f64() {
                row["value"] = json!(bounded(x * factor, max));
            }
        }
    }
}

/// Creates the PostgreSQL or MySQL database `url` names when it is missing (nothing for SQLite
/// files and file stores, which are created on opening).
pub async fn ensure_database(url: &str) -> Result<()> {
    use crate::charts::store::StoreUrl;
    if let StoreUrl::Sql { engine: crate::db::Backend::Postgres | crate::db::Backend::Mysql, .. } =
        StoreUrl::parse(url)?
    {
        branches::ensure_server_database(url).await?;
    }
    Ok(())
}

/// One account per role, so a newcomer can sign in to the demo.
pub const ACCOUNTS: [(&str, Role); 3] = [
    ("lead@demo.chartgate.example", Role::Lead),
    ("reviewer@demo.chartgate.example", Role::Reviewer),
    ("viewer@demo.chartgate.example", Role::Viewer),
];

/// A demo account and the password it has now.
#[derive(Clone, Debug, Serialize)]
pub struct DemoAccount {
    pub email: String,
    pub role: Role,
    pub password: String,
}

/// Creates the demo's accounts (one per role) with generated passwords, or, when they exist
/// (a second run), gives them new ones. Only argon2 hashes are stored, so a password can be shown
/// once but never again: each run prints the passwords valid from then on. Like any password
/// change, a new password ends the account's sessions; its API tokens stay valid.
pub async fn accounts(state: &AppState, actor: &Actor) -> Result<Vec<DemoAccount>> {
    actor.require(Role::Lead)?;
    let mut out = Vec::new();
    for (email, role) in ACCOUNTS {
        let password = crate::accounts::generate_password();
        if crate::accounts::user_by_email(&state.db, email).await?.is_some() {
            crate::accounts::set_password(&state.db, actor, email, &password, None).await?;
        } else {
            crate::accounts::add_user(&state.db, actor, email, role, Some(&password)).await?;
        }
        out.push(DemoAccount { email: email.to_string(), role, password });
    }
    Ok(out)
}

/// Writes the demo stores and registers their branches as `actor` (who must be a lead).
pub async fn run(state: &AppState, actor: &Actor, opts: &DemoOptions) -> Result<DemoReport> {
    actor.require(Role::Lead)?;
    if opts.charts < 40 {
        return Err(Error::BadRequest("the demo needs at least 40 charts".into()));
    }
    // The demo's production is the default target's store. On PostgreSQL the demo creates the
    // stores' databases (production's and each branch's) when they are missing, as
    // `branch add --fork` does.
    let production_url = &state.targets.default_target().store_url;
    ensure_database(production_url).await?;
    let production = ChartStore::open(production_url, true).await?;
    production.create_schema().await?;
    let existing = production.stamps().await?.len();
    let names: Vec<String> = BRANCHES.iter().map(|b| state.env_name(b)).collect();
    if existing > 0 {
        let registered = branches::list(state, Role::Lead).await?;
        if names.iter().all(|n| registered.iter().any(|b| &b.name == n)) {
            return Ok(DemoReport { charts: existing, branches: names, already_present: true });
        }
        return Err(Error::Conflict(format!(
            "production store {} already holds {existing} charts; point production_url elsewhere or remove it",
            production.name()
        )));
    }

    let mut rng = StdRng::seed_from_u64(opts.seed);
    let progress = crate::progress::bar(opts.charts as u64, "writing production");
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
        ensure_database(&url).await?;
        let store = ChartStore::open(&url, true).await?;
        store.create_schema().await?;
        store.copy_from(&production).await?;
        let new = NewBranch {
            branch: raw,
            store_url: Some(&url),
            fork: false,
            preview_url: None,
            target: None,
            repository: None,
        };
        branches::register(state, actor, new).await?;
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
        let unit = serde_json::from_str::<Value>(&c.metadata).ok().and_then(|m| m["unit"].as_str().map(str::to_owned));
        let max = upper_bound(unit.as_deref().unwrap_or(""));
        staged.push(edit(c, "data", |v| bump_values(v, 5, 1.04, max)));
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
    // Chartgate sees the branches' work before production moves on, as a running server would:
    // the conflicts' common base is still production's then, and is kept (`scans::keep`), so
    // their merge can tell one-sided changes from choices.
    for name in &names {
        scans::rescan(state, actor, name, false).await?;
    }

    // Production moves on: conflicting edits, and changes only production made.
    // Every other conflict also retitles the chart in production: a path both sides changed,
    // for the reviewer to choose in the merge (design §11); the rest merge without a choice.
    let mut prod_edits: Vec<RawChart> = conflicted
        .iter()
        .enumerate()
        .map(|(i, c)| {
            edit(c, "config", |v| {
                v["subtitle"] = json!("Corrected in production");
                if i % 2 == 0 {
                    v["title"] = json!(format!("{} (production)", v["title"].as_str().unwrap_or("")));
                }
            })
        })
        .collect();
    for c in pick(share(2.0), 31, 233).into_iter().filter(|c| !staged_ids.contains(&c.id)) {
        prod_edits.push(edit(c, "metadata", |v| v["license"] = json!("CC BY 4.0 (production fix)")));
    }
    dedup_by_id(&mut prod_edits);
    production.put_many(&prod_edits).await?;

    // The dataset update (design §9), after the other branches took their baselines.
    // A file store has no `indicators` table: charts as code get no dataset update.
    let mut names = names;
    if production.charts_table().is_some() {
        names.push(wdi::add(state, actor, &production).await?);
    }

    for name in &names {
        scans::rescan(state, actor, name, false).await?;
    }
    if let Some(c) = staged2.iter().find(|c| c.slug.starts_with("life-expectancy-")) {
        stale_approval(state, actor, &names[1], s2, c).await?;
    }
    Ok(DemoReport { charts: n, branches: names, already_present: false })
}

/// A stale approval (design §11), so the demo shows a "since the last approval" diff: the axis
/// label fix is approved by `demo`, then edited again on staging.
async fn stale_approval(state: &AppState, actor: &Actor, branch: &str, store: &ChartStore, c: &RawChart) -> Result<()> {
    let item = crate::diffs::item(state, branch, &c.id).await?;
    {
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        crate::repo::reviews::record(
            &mut tx,
            &state.policy,
            crate::repo::reviews::Decision {
                branch,
                chart_id: &c.id,
                status: app::types::ReviewStatus::Approved,
                reviewer: "demo",
                comment: Some("The axis label reads well."),
                staging_hash: item.staging_hash.as_deref(),
                production_hash: item.production_hash.as_deref(),
                to_thread: true,
            },
        )
        .await?;
        tx.commit().await?;
    }
    let again = edit(c, "config", |v| v["yAxis"]["label"] = json!("years of life expectancy"));
    store.put_many(&[again]).await?;
    scans::rescan(state, actor, branch, false).await?;
    Ok(())
}

fn dedup_by_id(charts: &mut Vec<RawChart>) {
    let mut seen = std::collections::HashSet::new();
    charts.retain(|c| seen.insert(c.id.clone()));
}

#[cfg(test)]
mod bounds {
    use super::*;

    #[test]
    fn percentages_stay_within_0_and_100() {
        let mut rng = StdRng::seed_from_u64(7);
        for i in 0..200 {
            let c = chart(i, &mut rng, None);
            let meta: Value = serde_json::from_str(&c.metadata).unwrap();
            let mut data: Value = serde_json::from_str(&c.data).unwrap();
            let max = upper_bound(meta["unit"].as_str().unwrap());
            bump_values(&mut data, 1, 1.5, max);
            for row in data["rows"].as_array().unwrap() {
                let v = row["value"].as_f64().unwrap();
                assert!((0.0..=max).contains(&v), "{} has {v} {}", c.slug, meta["unit"]);
            }
        }
    }
}
