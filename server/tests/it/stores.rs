//! The chart stores teams already run (design §13): the exact text a sync writes, a grapher-style
//! schema read and written through a mapping on SQLite, PostgreSQL and MariaDB (diff classes,
//! new and deleted charts, a pending deletion kept, a lossy mapping's write rolled back by the
//! read-back), charts as files (exact bytes, other files untouched, fork, unreadable files, a
//! directory that vanishes), and store URLs and mappings checked before anything is read.
//!
//! The conformance of every kind to one behaviour is the chain's own tests run on each kind
//! (`on_stores!` in `sync`, `engine` and `merges`); this file holds what only some kinds have.

use std::collections::BTreeMap;

use app::sync::SyncOutcome;
use app::types::{DiffQuery, ItemKind, ReviewStatus};
use chartgate::access::Actor;
use chartgate::charts::store::mapping::MappingConfig;
use chartgate::charts::store::StoreSettings;
use chartgate::charts::{canonicalize, ChartStore, RawChart};
use chartgate::config::Config;
use chartgate::error::Error;
use chartgate::scans;
use chartgate::state::AppState;
use serde_json::json;

use crate::engine::{items, register, register_fork, register_url};
use crate::support::{chart, edited, Kind, TestEnv};
use crate::sync::{decide, enqueue, outcomes, run};
use crate::{on_both, on_kinds, on_stores};

fn done(o: SyncOutcome) -> (SyncOutcome, Option<String>) {
    (o, None)
}

/// A staging edit written with its own spacing and key order (and a volatile field): the sync
/// writes those bytes, not Chartgate's canonical form of them.
async fn sync_writes_the_exact_staging_text(env: &TestEnv) {
    let (state, production) = env.state().await;
    let base = chart("c", "Exact");
    production.put_many(std::slice::from_ref(&base)).await.unwrap();
    let staging = env.store("staging").await;
    staging.copy_from(&production).await.unwrap();
    register(&state, "feature/exact", &staging).await.unwrap();
    let text = "{ \"yAxis\": {\"min\": 0.0},\n  \"type\": \"line\", \"title\": \"Exact, edited\", \"updated_at\": \"2026-01-01\" }";
    let data = "{\"rows\": [ {\"value\": 1.50, \"time\": 2000, \"entity\": \"France\"} ]}";
    staging
        .put_many(&[RawChart {
            config: text.into(),
            data: data.into(),
            updated_at: "2026-06-06T00:00:00Z".into(),
            ..base.clone()
        }])
        .await
        .unwrap();
    scans::rescan(&state, &Actor::system(), "feature-exact", false).await.unwrap();
    decide(&state, "feature-exact", "c", ReviewStatus::Approved).await;
    let job = run(&state, enqueue(&state, "feature-exact", false).await).await;
    assert_eq!(outcomes(&job)["c"], done(SyncOutcome::Updated), "{job:?}");
    let written = production.get("c").await.unwrap().unwrap();
    assert_eq!(written.config, text, "the config's bytes as staging holds them");
    assert_eq!(written.data, data, "the data's bytes as staging holds them");
    if env.kind == Kind::Files {
        let read = |dir: &str| std::fs::read(env.dir.path().join(dir).join("c.json")).unwrap();
        assert_eq!(read("production"), read("staging"), "a file store's file, byte for byte");
    }
}
on_stores!(sync_writes_the_exact_staging_text);

/// The grapher-style schema: configs in one table, charts joining it by id, data in a third;
/// integer chart ids. `lossy` is the same mapping with an `update` that forgets the metadata.
fn grapher_mapping(kind: Kind, lossy: bool) -> MappingConfig {
    // PostgreSQL binds text: integer columns take a cast there; SQLite and MySQL convert.
    let (idp, idcol) = match kind {
        Kind::Postgres => ("cast(:id as integer)", "cast(c.id as text)"),
        _ => (":id", "c.id"),
    };
    let metadata = if lossy { "'{}'" } else { ":metadata" };
    MappingConfig {
        stamps: "select c.id as id, c.last_edited_at as updated_at from charts c".into(),
        read: format!(
            "select c.id as id, cc.slug as slug, cc.full_json as config, d.rows_json as data, \
             d.meta_json as metadata, c.last_edited_at as updated_at \
             from charts c join chart_configs cc on cc.id = c.config_id join chart_data d on d.chart_id = c.id \
             where {idcol} in ({{ids}})"
        ),
        update: vec![
            "update chart_configs set slug = :slug, full_json = :config where id = :id".into(),
            format!("update chart_data set rows_json = :data, meta_json = {metadata} where chart_id = {idp}"),
            format!("update charts set last_edited_at = :updated_at where id = {idp}"),
        ],
        insert: vec![
            "insert into chart_configs (id, slug, full_json) values (:id, :slug, :config)".into(),
            // :id twice in one statement: the chart's id and the config it joins.
            format!("insert into charts (id, config_id, last_edited_at) values ({idp}, :id, :updated_at)"),
            format!("insert into chart_data (chart_id, rows_json, meta_json) values ({idp}, :data, :metadata)"),
        ],
        delete: vec![
            format!("delete from chart_data where chart_id = {idp}"),
            format!("delete from charts where id = {idp}"),
            "delete from chart_configs where id = :id".into(),
        ],
        chart_type: Some("/chartTypes/0".into()),
        chart_types: BTreeMap::from([("LineChart".into(), "line".into()), ("DiscreteBar".into(), "bar".into())]),
        default_type: Some("line".into()),
        title: Some("/title".into()),
    }
}

async fn grapher_schema(kind: Kind, url: &str) {
    let statements: [&str; 3] = match kind {
        Kind::Mysql => [
            "create table chart_configs (id varchar(64) primary key, slug varchar(191) not null unique, full_json longtext not null)",
            "create table charts (id int primary key, config_id varchar(64) not null, last_edited_at varchar(64) not null)",
            "create table chart_data (chart_id int primary key, rows_json longtext not null, meta_json longtext not null)",
        ],
        _ => [
            "create table chart_configs (id text primary key, slug text not null unique, full_json text not null)",
            "create table charts (id integer primary key, config_id text not null, last_edited_at text not null)",
            "create table chart_data (chart_id integer primary key, rows_json text not null, meta_json text not null)",
        ],
    };
    let pool = chartgate::db::connect(url, true, false, 1).await.unwrap();
    for s in statements {
        sqlx::query(s).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

fn grapher_chart(id: u32, title: &str) -> RawChart {
    RawChart {
        config: json!({"title": title, "chartTypes": ["LineChart"], "hasMapTab": false}).to_string(),
        ..chart(&id.to_string(), title)
    }
}

async fn mapped_grapher_schema(env: &TestEnv) {
    let production_db = env.database("production").await;
    let staging_db = env.database("staging").await;
    grapher_schema(env.kind, &production_db).await;
    grapher_schema(env.kind, &staging_db).await;
    let with_mapping =
        |url: &str, name: &str| format!("{url}{}mapping={name}", if url.contains('?') { "&" } else { "?" });
    let mappings = BTreeMap::from([
        ("grapher".to_string(), grapher_mapping(env.kind, false)),
        ("grapher_lossy".to_string(), grapher_mapping(env.kind, true)),
    ]);
    let config = Config {
        database_url: env.database("chartgate").await,
        production_url: with_mapping(&production_db, "grapher"),
        scan_interval: "0s".into(),
        mappings: mappings.clone(),
        ..Config::default()
    };
    let state = AppState::new(config.clone()).await.unwrap();
    let production = state.stores.get(&config.production_url).await.unwrap();
    let charts: Vec<RawChart> = (1..=4).map(|i| grapher_chart(i, &format!("Chart {i}"))).collect();
    production.put_many(&charts).await.unwrap();
    let mut stamps: Vec<String> = production.stamps().await.unwrap().into_iter().map(|s| s.id).collect();
    stamps.sort();
    assert_eq!(stamps, ["1", "2", "3", "4"], "integer ids read as text");
    let render = state.stores.settings.render_keys_for(&config.production_url);
    assert_eq!(render.chart_type_of(&serde_json::from_str(&charts[0].config).unwrap()).as_deref(), Some("line"));

    let staging = state.stores.open(&with_mapping(&staging_db, "grapher"), false).await.unwrap();
    staging.copy_from(&production).await.unwrap();
    register(&state, "feature/grapher", &staging).await.unwrap();
    let odd = "{\"title\": \"Chart 1, renamed\",   \"chartTypes\": [\"DiscreteBar\"], \"hasMapTab\": false}";
    staging
        .put_many(&[
            RawChart { config: odd.into(), updated_at: "2026-02-02T00:00:00Z".into(), ..charts[0].clone() },
            edited(&charts[3], "data", |v| v["rows"][0]["value"] = json!(42)),
            grapher_chart(5, "Chart 5, new"),
        ])
        .await
        .unwrap();
    staging.delete("2").await.unwrap();
    staging.delete("3").await.unwrap();
    scans::rescan(&state, &Actor::system(), "feature-grapher", false).await.unwrap();
    let found: BTreeMap<String, (ItemKind, Vec<String>)> = items(&state, "feature-grapher", DiffQuery::default())
        .await
        .into_iter()
        .map(|i| (i.chart_id, (i.kind, i.parts)))
        .collect();
    let parts = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let all = parts(&["config", "data", "metadata"]);
    assert_eq!(
        found,
        BTreeMap::from([
            ("1".to_string(), (ItemKind::Modified, parts(&["config"]))),
            ("2".to_string(), (ItemKind::Deleted, all.clone())),
            ("3".to_string(), (ItemKind::Deleted, all.clone())),
            ("4".to_string(), (ItemKind::Modified, parts(&["data"]))),
            ("5".to_string(), (ItemKind::New, all)),
        ])
    );
    // The page draws each side as the mapping reads it: production's LineChart as a line,
    // staging's DiscreteBar as bars, the title through the mapping's pointer.
    let d = chartgate::diffs::detail(&state, "feature-grapher", "1").await.unwrap();
    let drawn = |v: &Option<app::types::ChartVersion>| {
        v.as_ref().map(|v| (v.draw_as.clone().unwrap_or_default(), v.draw_title.clone().unwrap_or_default()))
    };
    assert_eq!(drawn(&d.production), Some(("line".into(), "Chart 1".into())));
    assert_eq!(drawn(&d.staging), Some(("bar".into(), "Chart 1, renamed".into())));
    for id in ["1", "2", "4", "5"] {
        decide(&state, "feature-grapher", id, ReviewStatus::Approved).await;
    }
    let job = run(&state, enqueue(&state, "feature-grapher", false).await).await;
    let o = outcomes(&job);
    assert_eq!(o["1"], done(SyncOutcome::Updated), "{job:?}");
    assert_eq!(o["2"], done(SyncOutcome::Deleted));
    assert_eq!(o["3"].0, SyncOutcome::Skipped, "a deletion nobody approved");
    assert_eq!(o["4"], done(SyncOutcome::Updated));
    assert_eq!(o["5"], done(SyncOutcome::Created));
    assert_eq!(production.get("1").await.unwrap().unwrap().config, odd, "exact text through the mapping");
    assert!(production.get("2").await.unwrap().is_none(), "deleted from all three tables");
    assert!(production.get("3").await.unwrap().is_some(), "the pending deletion is kept");
    assert_eq!(production.get("5").await.unwrap().unwrap().slug, "slug-5");

    // A mapping whose update loses the metadata: the read-back sees it, the write rolls back.
    let lossy = Config { production_url: with_mapping(&production_db, "grapher_lossy"), ..config.clone() };
    let lossy_state = AppState::new(Config { database_url: env.database("chartgate2").await, ..lossy }).await.unwrap();
    let staging2_db = env.database("staging2").await;
    grapher_schema(env.kind, &staging2_db).await;
    let staging2 = lossy_state.stores.open(&with_mapping(&staging2_db, "grapher"), false).await.unwrap();
    staging2.copy_from(&production).await.unwrap();
    register(&lossy_state, "feature/lossy", &staging2).await.unwrap();
    let before = production.get("4").await.unwrap().unwrap();
    let before_hash = canonicalize(&before).unwrap().hash;
    staging2.put_many(&[edited(&before, "metadata", |v| v["unit"] = json!("per cent"))]).await.unwrap();
    scans::rescan(&lossy_state, &Actor::system(), "feature-lossy", false).await.unwrap();
    decide(&lossy_state, "feature-lossy", "4", ReviewStatus::Approved).await;
    let job = run(&lossy_state, enqueue(&lossy_state, "feature-lossy", false).await).await;
    let (outcome, reason) = outcomes(&job)["4"].clone();
    let reason = reason.unwrap_or_default();
    assert_eq!(outcome, SyncOutcome::Failed, "{job:?}");
    assert!(reason.contains("metadata") && reason.contains("rolled back"), "{reason}");
    let after = production.get("4").await.unwrap().unwrap();
    assert_eq!(canonicalize(&after).unwrap().hash, before_hash, "nothing half-written: {after:?}");
}

on_kinds!(mapped_grapher_schema: sqlite, postgres, mysql);

/// Charts as files: other files are never listed, copied or touched; a fork copies the chart
/// files byte for byte; an unreadable file is an unreadable item; a directory that vanishes is a
/// scan error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_stores_touch_only_chart_files() {
    let env = TestEnv::new(Kind::Files).await;
    let (state, production) = env.state().await;
    production.put_many(&[chart("a", "Alpha"), chart("b", "Beta")]).await.unwrap();
    let prod_dir = env.dir.path().join("production");
    let others = [("README.md", "# charts\n"), (".hidden.json", "{\"secret\": 1}"), ("notes.txt", "x")];
    for (name, text) in others {
        std::fs::write(prod_dir.join(name), text).unwrap();
    }
    let mut ids: Vec<String> = production.stamps().await.unwrap().into_iter().map(|s| s.id).collect();
    ids.sort();
    assert_eq!(ids, ["a", "b"], "only <id>.json files are charts");

    register_fork(&state, "feature/files").await.unwrap();
    let staging_dir = env.dir.path().join("staging").join("feature-files");
    let mut copied: Vec<String> =
        std::fs::read_dir(&staging_dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    copied.sort();
    assert_eq!(copied, ["a.json", "b.json"], "a fork copies chart files only");
    assert_eq!(std::fs::read(prod_dir.join("a.json")).unwrap(), std::fs::read(staging_dir.join("a.json")).unwrap());

    // A hand edit with its own layout, and a file that is not JSON.
    let edited_text = "{\n    \"slug\": \"slug-a\",\n    \"config\": {\"type\": \"bar\", \"title\": \"Alpha\"},\n    \"data\": {\"rows\": []},\n    \"metadata\": {}\n}\n";
    std::fs::write(staging_dir.join("a.json"), edited_text).unwrap();
    std::fs::write(staging_dir.join("broken.json"), "{ not json").unwrap();
    std::fs::write(staging_dir.join("binary.json"), b"{\"slug\": \"\xff\xfe\"}").unwrap();
    scans::rescan(&state, &Actor::system(), "feature-files", false).await.unwrap();
    let list = items(&state, "feature-files", DiffQuery::default()).await;
    let error_of = |id: &str| list.iter().find(|i| i.chart_id == id).and_then(|i| i.error.clone()).unwrap_or_default();
    assert!(error_of("broken").contains("is not valid JSON"), "{}", error_of("broken"));
    // Not text at all: the item says so, not a JSON error of some stand-in text.
    let binary = error_of("binary");
    assert!(binary.contains("file cannot be read: it is not UTF-8 text"), "{binary}");
    // A file's stamp is its modification time and size, and reads as a time where it is shown.
    let a = list.iter().find(|i| i.chart_id == "a").expect("the edited chart is an item");
    let (when, size) = a.changed_at.split_once(", ").expect("time, size");
    assert!(chartgate::db::parse_time(when).is_some(), "an RFC 3339 time: {}", a.changed_at);
    assert_eq!(size, format!("{} bytes", edited_text.len()));
    decide(&state, "feature-files", "a", ReviewStatus::Approved).await;
    let job = run(&state, enqueue(&state, "feature-files", false).await).await;
    assert_eq!(outcomes(&job)["a"], done(SyncOutcome::Updated), "{job:?}");
    assert_eq!(std::fs::read_to_string(prod_dir.join("a.json")).unwrap(), edited_text, "the approved file's bytes");
    for (name, text) in others {
        assert_eq!(std::fs::read_to_string(prod_dir.join(name)).unwrap(), text, "{name} untouched");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&prod_dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no temporary file left: {leftovers:?}");

    // The staging directory vanishes: the scan fails with a reason, nothing panics.
    std::fs::remove_dir_all(&staging_dir).unwrap();
    let err = scans::rescan(&state, &Actor::system(), "feature-files", true).await.unwrap_err();
    assert!(err.detail().contains("no directory"), "{}", err.detail());
}

/// Store URLs and mappings are checked before anything is read or registered.
async fn store_urls_and_mappings_are_checked(env: &TestEnv) {
    let (state, _) = env.state().await;
    let refused = |url: String| {
        let state = state.clone();
        async move { register_url(&state, "feature/bad", &url).await.unwrap_err() }
    };
    let db = env.database("mapped").await;
    grapher_schema(env.kind, &db).await;
    let err = refused(format!("{db}?mapping=nope")).await;
    assert!(matches!(&err, Error::Unprocessable(m) if m.contains("unknown mapping \"nope\"")), "{err:?}");
    let err = refused("mssql://somewhere/db".into()).await;
    assert!(err.to_string().contains("unsupported store URL"), "{err:?}");
    let file = env.dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let err = refused(format!("file://{}", file.display())).await;
    assert!(err.to_string().contains("cannot be opened or reached"), "{err}");
    assert!(chartgate::repo::branches::open_names(&state.db).await.unwrap().is_empty(), "nothing registered");

    // A read without a metadata column, and a statement that does not prepare: named with the
    // mapping and the statement.
    let mut missing = grapher_mapping(env.kind, false);
    missing.read = missing.read.replace("d.meta_json as metadata, ", "");
    let mut broken = grapher_mapping(env.kind, false);
    broken.update[1] = "update no_such_table set x = :data where id = :id".into();
    let settings = StoreSettings {
        mappings: BTreeMap::from([("missing".into(), missing), ("broken".into(), broken)]),
        ..Default::default()
    };
    let err = ChartStore::open_with(&format!("{db}?mapping=missing"), false, &settings).await.err().unwrap();
    assert!(err.to_string().contains("mapping \"missing\"") && err.to_string().contains("no column metadata"), "{err}");
    let err = ChartStore::open_with(&format!("{db}?mapping=broken"), false, &settings).await.err().unwrap();
    assert!(err.to_string().contains("update[1]") && err.to_string().contains("does not prepare"), "{err}");

    // An unknown parameter is a configuration error, before any database is asked.
    let mut typo = grapher_mapping(env.kind, false);
    typo.insert[0] = "insert into chart_configs (id, slug, full_json) values (:id, :slug, :confg)".into();
    let settings = StoreSettings { mappings: BTreeMap::from([("typo".into(), typo)]), ..Default::default() };
    let err = settings.check().unwrap_err();
    assert!(err.to_string().contains("[mappings.typo] insert[0]") && err.to_string().contains(":confg"), "{err}");
}
on_both!(store_urls_and_mappings_are_checked);

/// `chartgate demo --store files` through the real binary: chart files on disk, and a server on
/// them lists the branches' changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_as_chart_files_and_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::api::run(dir.path(), &["demo", "--store", "files", "--charts", "40"]);
    assert!(out.contains("CHARTGATE_PRODUCTION_URL=file://data/files/production"), "{out}");
    let files = dir.path().join("data/files");
    let charts = std::fs::read_dir(files.join("production"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_str().is_some_and(|n| n.ends_with(".json")));
    assert_eq!(charts.count(), 40, "one file per chart");
    for branch in ["feature-energy-update", "fix-population-labels"] {
        assert!(files.join("staging").join(branch).is_dir(), "{branch}'s staging directory");
    }
    let lead = crate::api::token_for(dir.path(), "lead@example.org", "lead");
    let env = [
        ("CHARTGATE_PRODUCTION_URL", "file://data/files/production"),
        ("CHARTGATE_STAGING_URL_TEMPLATE", "file://data/files/staging/{branch}"),
    ];
    let (mut child, base) = crate::api::serve_in(dir.path(), &env);
    let answer = reqwest::Client::new()
        .get(format!("{base}/api/v1/branches/feature-energy-update/diffs?per_page=5"))
        .bearer_auth(&lead)
        .send()
        .await;
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(body["total"].as_u64().unwrap() > 0, "the branch's changes are listed: {body}");
}

/// A mapping that does not fit its store is named by `chartgate doctor` and stops `serve`; a
/// mapping with an unknown parameter stops every command before any database is asked.
#[test]
fn doctor_and_serve_name_a_mapping_that_does_not_fit_its_store() {
    let dir = tempfile::tempdir().unwrap();
    crate::api::run(dir.path(), &["demo", "--charts", "40"]);
    let config = "[mappings.cms]\n\
        stamps = \"select id, updated_at from charts\"\n\
        read = \"select c.id as id, c.slug as slug, c.full as config, c.data as data, c.metadata as metadata, c.updated_at as updated_at from chart_configs c where c.id in ({ids})\"\n\
        update = [\"update charts set config = :config where id = :id\"]\n\
        insert = [\"insert into charts (id, slug, config, data, metadata, updated_at) values (:id, :slug, :config, :data, :metadata, :updated_at)\"]\n\
        delete = [\"delete from charts where id = :id\"]\n";
    std::fs::write(dir.path().join("chartgate.toml"), config).unwrap();
    let mapped = format!("sqlite://{}/production.db?mapping=cms", dir.path().display());
    let env = [("CHARTGATE_PRODUCTION_URL", mapped.as_str())];

    let out = crate::api::chartgate(dir.path()).arg("doctor").envs(env).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("mapping \"cms\"") && text.contains("read does not prepare"), "{text}");

    let mut child = crate::api::chartgate(dir.path())
        .arg("serve")
        .env("CHARTGATE_LISTEN", "127.0.0.1:0")
        .envs(env)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve started with a mapping that does not fit its store");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("mapping \"cms\"") && stderr.contains("read"), "{stderr}");

    std::fs::write(dir.path().join("chartgate.toml"), config.replace(":config where", ":confg where")).unwrap();
    let out = crate::api::chartgate(dir.path()).args(["branch", "list"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("[mappings.cms] update[0]") && stderr.contains(":confg"), "{stderr}");
}

/// Issue 22, finding 5: the "a branch's store is not a target's own" check compared URL strings,
/// so production under another spelling — a doubled slash, `sqlite:` without slashes, a `./` or
/// `..` segment, a symlink, a hard link, a percent-encoded name, a `?mapping=` — registered as a
/// branch's staging, and a reviewer's upgrade then rewrote production with no approval. Every
/// spelling is refused now; and a staging file swapped for a symlink to production after it was
/// registered is refused the moment an upgrade would write it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_under_another_spelling_is_never_a_branch_s_store() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let (state, _) = env.state().await;
    let lead = Actor::operator("t");
    let d = env.dir.path().display();
    std::fs::create_dir_all(env.dir.path().join("sub")).unwrap();
    let production = env.dir.path().join("production.db");
    std::os::unix::fs::symlink(&production, env.dir.path().join("link.db")).unwrap();
    std::fs::hard_link(&production, env.dir.path().join("hard.db")).unwrap();
    let register = |url: String| {
        let state = state.clone();
        async move { register_url(&state, "feature/x", &url).await }
    };
    for spelling in [
        format!("sqlite://{d}//production.db"),
        format!("sqlite:{d}/production.db"),
        format!("sqlite://{d}/./production.db"),
        format!("sqlite://{d}/sub/../production.db"),
        format!("sqlite://{d}/link.db"),
        format!("sqlite://{d}/hard.db"),
        format!("sqlite://{d}/production%2Edb"),
        format!("sqlite://{d}/production.db?mode=rw"),
    ] {
        let err = register(spelling.clone()).await.err().unwrap_or_else(|| panic!("{spelling} was registered"));
        assert!(err.to_string().contains("is the store of target production"), "{spelling}: {err}");
    }
    assert!(chartgate::repo::branches::open_names(&state.db).await.unwrap().is_empty(), "nothing registered");

    // A store of its own registers; swapped for a symlink to production afterwards, an upgrade
    // (which writes staging without approvals) refuses to touch it.
    let own = env.dir.path().join("own.db");
    std::fs::copy(&production, &own).unwrap();
    register(format!("sqlite://{}", own.display())).await.expect("a store of its own registers");
    std::fs::remove_file(&own).unwrap();
    std::os::unix::fs::symlink(&production, &own).unwrap();
    let err = chartgate::upgrades::datasets(&state, &lead, "feature/x").await.unwrap_err();
    assert!(err.to_string().contains("is the store of target production"), "{err}");
}

/// Issue 22, finding 9: store URLs were a probe — a lead could make the server open any file or
/// connect to any host and read back what answered, and SQLite's errors told a missing file from
/// a directory from a non-database. With `store_roots` / `store_hosts` an operator confines the
/// stores leads may register; and whatever the failure, a lead reads one sentence in Chartgate's
/// words, never the other end's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_urls_are_no_probe() {
    let env = TestEnv::new(Kind::Sqlite).await;
    let (state, _) = env.state().await;
    let dir = env.dir.path();
    let register = |state: AppState, url: String| async move {
        match register_url(&state, "feature/p", &url).await {
            Err(e) => e,
            Ok(b) => panic!("{url} was registered as {}", b.name),
        }
    };
    std::fs::create_dir(dir.join("a-directory")).unwrap();
    std::fs::write(dir.join("not-a-database.db"), "hello, this is not SQLite, it is a secret file".repeat(100))
        .unwrap();
    let mut said = std::collections::BTreeSet::new();
    for (what, url) in [
        ("missing", format!("sqlite://{}/missing.db", dir.display())),
        ("directory", format!("sqlite://{}/a-directory", dir.display())),
        ("not a database", format!("sqlite://{}/not-a-database.db", dir.display())),
    ] {
        let err = register(state.clone(), url.clone()).await.to_string().replace(&url, "URL");
        assert!(err.contains("cannot be opened or reached"), "{what}: {err}");
        assert!(
            !err.contains("secret") && !err.contains("not a database") && !err.contains("directory"),
            "{what}: {err}"
        );
        said.insert(err);
    }
    assert_eq!(said.len(), 1, "every failure reads the same: {said:?}");
    // A port nothing listens on and one that answers something else read the same too.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let closed = register(state.clone(), format!("postgres://u@127.0.0.1:{port}/db")).await.to_string();
    assert!(closed.contains("cannot be opened or reached"), "{closed}");
    assert!(!closed.to_lowercase().contains("refused"), "{closed}");

    // Confined: only stores under store_roots or on store_hosts are even opened.
    let mut config = env.config().await;
    config.store_roots = vec![dir.join("stores")];
    config.store_hosts = vec!["db.internal:5432".into()];
    let confined = AppState::new(config).await.unwrap();
    std::fs::create_dir(dir.join("stores")).unwrap();
    std::fs::copy(dir.join("production.db"), dir.join("elsewhere.db")).unwrap();
    for url in [
        format!("sqlite://{}/elsewhere.db", dir.display()),
        format!("sqlite://{}/stores/../elsewhere.db", dir.display()),
        format!("file://{}", dir.display()),
        "postgres://postgres@127.0.0.1:5432/test".to_string(),
        format!("mysql://root@127.0.0.1:{port}/x"),
    ] {
        let err = register(confined.clone(), url.clone()).await.to_string();
        assert!(err.contains("outside the stores this server may use"), "{url}: {err}");
    }
    std::fs::copy(dir.join("production.db"), dir.join("stores/inside.db")).unwrap();
    let inside = format!("sqlite://{}/stores/inside.db", dir.display());
    register_url(&confined, "feature/inside", &inside).await.expect("a store under a root registers");
}
