//! Test environments: fresh databases per test on SQLite (a temp dir) or PostgreSQL (new
//! databases on the server of `CHARTGATE_TEST_PG_URL`, default the local one), and chart stores
//! filled with small, hand-written charts.

use chartgate::charts::{ChartStore, RawChart};
use chartgate::config::Config;
use chartgate::state::AppState;
use rand::Rng;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    Sqlite,
    Postgres,
    /// Chart stores on MySQL/MariaDB (§3's table); Chartgate's own database on SQLite.
    Mysql,
    /// Chart stores as directories of files; Chartgate's own database on SQLite.
    Files,
}

pub struct TestEnv {
    pub kind: Kind,
    pub dir: tempfile::TempDir,
    pg_base: Option<url::Url>,
    prefix: String,
}

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";
const DEFAULT_MYSQL: &str = "mysql://root@127.0.0.1:3306/test";

/// The MySQL/MariaDB server of the MySQL variants (`CHARTGATE_TEST_MYSQL_URL`, default the local
/// one); like PostgreSQL's, those variants run only when asked for, and then must find it.
pub async fn mysql_base() -> url::Url {
    let url = std::env::var("CHARTGATE_TEST_MYSQL_URL").unwrap_or_else(|_| DEFAULT_MYSQL.to_string());
    match chartgate::db::connect(&url, false, false, 1).await {
        Ok(pool) => pool.close().await,
        Err(e) => panic!(
            "a MySQL test ran but no MySQL/MariaDB answers at {url} ({e}); set CHARTGATE_TEST_MYSQL_URL, \
             or run without --include-ignored to leave the MySQL tests out"
        ),
    }
    url::Url::parse(&url).expect("a valid URL")
}

impl TestEnv {
    /// A fresh environment. The PostgreSQL variants of the tests are `#[ignore]`d unless asked
    /// for (`-- --include-ignored`, which scripts/test.sh passes when a server answers), so a run
    /// without PostgreSQL reports them as ignored, never as passed; asked for, an unreachable
    /// server is a failure.
    pub async fn new(kind: Kind) -> TestEnv {
        let dir = tempfile::tempdir().expect("temp dir");
        let prefix = format!("cgt_{:08x}", rand::thread_rng().gen::<u32>());
        let pg_base = match kind {
            Kind::Sqlite | Kind::Files => None,
            Kind::Mysql => Some(mysql_base().await),
            Kind::Postgres => {
                let url = std::env::var("CHARTGATE_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG.to_string());
                match chartgate::db::connect(&url, false, false, 1).await {
                    Ok(pool) => pool.close().await,
                    Err(e) => panic!(
                        "a PostgreSQL test ran but no PostgreSQL answers at {url} ({e}); set CHARTGATE_TEST_PG_URL, \
                         or run without --include-ignored to leave the PostgreSQL tests out"
                    ),
                }
                Some(url::Url::parse(&url).expect("a valid URL"))
            }
        };
        TestEnv { kind, dir, pg_base, prefix }
    }

    /// The URL of a fresh database called `name` in this environment (created on PostgreSQL).
    pub async fn database(&self, name: &str) -> String {
        // Chartgate's own databases (`chartgate…`) stay on SQLite beside MySQL or file stores.
        if self.kind == Kind::Files && !name.starts_with("chartgate") {
            return format!("file://{}/{name}", self.dir.path().display());
        }
        if self.kind == Kind::Mysql && name.starts_with("chartgate") {
            return format!("sqlite://{}/{name}.db", self.dir.path().display());
        }
        match &self.pg_base {
            None => format!("sqlite://{}/{name}.db", self.dir.path().display()),
            Some(base) => {
                let url = self.pg_url(name);
                let _ = base;
                chartgate::branches::create_server_database(&url).await.expect("create database");
                url
            }
        }
    }

    fn pg_name(&self, name: &str) -> String {
        format!("{}_{name}", self.prefix)
    }

    fn pg_url(&self, name: &str) -> String {
        let mut u = self.pg_base.clone().expect("postgres");
        u.set_path(&format!("/{}", self.pg_name(name)));
        u.to_string()
    }

    /// A configuration with its own Chartgate database and production store.
    pub async fn config(&self) -> Config {
        let staging_url_template = match self.kind {
            Kind::Sqlite => format!("sqlite://{}/staging/{{branch}}.db", self.dir.path().display()),
            Kind::Files => format!("file://{}/staging/{{branch}}", self.dir.path().display()),
            Kind::Postgres | Kind::Mysql => self.pg_url("stg_{branch}"),
        };
        Config {
            database_url: self.database("chartgate").await,
            production_url: self.database("production").await,
            staging_url_template: staging_url_template.replace("%7B", "{").replace("%7D", "}"),
            scan_interval: "0s".into(),
            ..Config::default()
        }
    }

    pub async fn state(&self) -> (AppState, ChartStore) {
        let config = self.config().await;
        let production = ChartStore::open(&config.production_url, true).await.expect("production store");
        production.create_schema().await.expect("schema");
        (AppState::new(config).await.expect("state"), production)
    }

    /// A new, empty chart store.
    pub async fn store(&self, name: &str) -> ChartStore {
        let url = self.database(name).await;
        let store = ChartStore::open(&url, true).await.expect("store");
        store.create_schema().await.expect("schema");
        store
    }

    pub async fn cleanup(self) {
        let Some(base) = &self.pg_base else { return };
        if self.kind == Kind::Mysql {
            let admin = chartgate::db::connect(base.as_str(), false, false, 1).await.expect("admin connection");
            let names: Vec<String> =
                sqlx::query("select cast(schema_name as char) as name from information_schema.schemata")
                    .fetch_all(&admin)
                    .await
                    .unwrap()
                    .iter()
                    .map(|r| sqlx::Row::get::<String, _>(r, "name"))
                    .collect();
            for name in names.into_iter().filter(|n| n.starts_with(&format!("{}_", self.prefix))) {
                let _ = sqlx::query(&format!("drop database if exists `{name}`")).execute(&admin).await;
            }
            admin.close().await;
            return;
        }
        let admin = chartgate::db::connect(base.as_str(), false, false, 1).await.expect("admin connection");
        // Every database named with this environment's prefix: those it made, and those a
        // registration made for it (a fork's staging database takes the branch's name).
        let names: Vec<String> =
            sqlx::query_scalar("select datname::text from pg_database").fetch_all(&admin).await.unwrap();
        for name in names.into_iter().filter(|n| n.starts_with(&format!("{}_", self.prefix))) {
            let _ = sqlx::query(&format!("drop database if exists \"{name}\" with (force)")).execute(&admin).await;
        }
        admin.close().await;
    }
}

/// Runs a check as one test per kind of environment named: `sqlite`, `postgres`, `mysql`,
/// `files`. The PostgreSQL and MySQL tests are `#[ignore]`d unless asked for (see
/// [`TestEnv::new`]).
#[macro_export]
macro_rules! on_kinds {
    ($check:ident: $($kind:ident),+) => {
        mod $check {
            $( $crate::on_kinds!(@test $check, $kind); )+
        }
    };
    (@test $check:ident, sqlite) => { $crate::on_kinds!(@fn $check, sqlite, Sqlite); };
    (@test $check:ident, files) => { $crate::on_kinds!(@fn $check, files, Files); };
    (@test $check:ident, postgres) => {
        $crate::on_kinds!(@fn $check, postgres, Postgres,
            "needs PostgreSQL: run with -- --include-ignored (scripts/test.sh does when one answers)");
    };
    (@test $check:ident, mysql) => {
        $crate::on_kinds!(@fn $check, mysql, Mysql,
            "needs MySQL/MariaDB: run with -- --include-ignored (scripts/test.sh does when one answers)");
    };
    (@fn $check:ident, $name:ident, $kind:ident $(, $ignore:literal)?) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[ignore = $ignore])?
        async fn $name() {
            let env = $crate::support::TestEnv::new($crate::support::Kind::$kind).await;
            super::$check(&env).await;
            env.cleanup().await;
        }
    };
}

/// Runs a check on every kind of chart store: SQLite, PostgreSQL, MySQL and files, as four
/// tests (the conformance of design §13: one behaviour, whatever the store). With `sql`, on the
/// SQL engines only: a check that edits a row without moving its stamp (a file's stamp is its
/// modification time, which every write moves).
#[macro_export]
macro_rules! on_stores {
    ($check:ident) => {
        $crate::on_kinds!($check: sqlite, postgres, mysql, files);
    };
    ($check:ident, sql) => {
        $crate::on_kinds!($check: sqlite, postgres, mysql);
    };
}

/// Runs a check on SQLite and on PostgreSQL, as two tests.
#[macro_export]
macro_rules! on_both {
    ($check:ident) => {
        $crate::on_kinds!($check: sqlite, postgres);
    };
}

pub fn rows(entities: &[&str], years: std::ops::Range<i64>, scale: f64) -> Value {
    let mut rows = Vec::new();
    for e in entities {
        for y in years.clone() {
            rows.push(json!({"entity": e, "time": y, "value": (y - 1990) as f64 * scale}));
        }
    }
    json!({ "rows": rows })
}

pub fn chart(id: &str, title: &str) -> RawChart {
    RawChart {
        id: id.into(),
        slug: format!("slug-{id}"),
        config: json!({"type": "line", "title": title, "yAxis": {"min": 0}}).to_string(),
        data: rows(&["France", "Chad"], 2000..2005, 1.5).to_string(),
        metadata: json!({"unit": "%", "source": "WB"}).to_string(),
        updated_at: "2025-01-01T00:00:00Z".into(),
    }
}

/// A copy of `c` with one JSON part changed by `f` and a new timestamp.
pub fn edited(c: &RawChart, part: &str, f: impl FnOnce(&mut Value)) -> RawChart {
    let mut out = c.clone();
    let text = match part {
        "config" => &mut out.config,
        "data" => &mut out.data,
        _ => &mut out.metadata,
    };
    let mut v: Value = serde_json::from_str(text).unwrap();
    f(&mut v);
    *text = v.to_string();
    out.updated_at = "2025-02-02T00:00:00Z".into();
    out
}
