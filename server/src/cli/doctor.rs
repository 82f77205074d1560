//! `chartgate doctor`: checks a set-up and says, in words, what is wrong and how to fix it —
//! the configuration, Chartgate's database, each target's store and every open branch's store,
//! the hook secret, notifications and the browser bundle. It changes nothing (it does not even
//! create a missing SQLite file). Exits non-zero when a check failed; warnings alone pass.

use std::path::Path;

use crate::charts::store::StoreSettings;
use crate::charts::ChartStore;
use crate::config::Config;
use crate::db::{self, Backend, Db};
use crate::error::{Error, Result};
use crate::repo::branches as branch_rows;

#[derive(Default)]
struct Report {
    failures: usize,
    warnings: usize,
}

impl Report {
    fn ok(&mut self, what: &str) {
        println!("ok    {what}");
    }

    fn warn(&mut self, what: &str, fix: &str) {
        self.warnings += 1;
        println!("warn  {what}\n      fix: {fix}");
    }

    fn fail(&mut self, what: &str, fix: &str) {
        self.failures += 1;
        println!("FAIL  {what}\n      fix: {fix}");
    }
}

pub async fn run(config_path: Option<&Path>) -> Result<()> {
    let mut r = Report::default();
    let config = match Config::load(config_path) {
        Ok(c) => {
            let file = config_path.map(|p| p.display().to_string()).or_else(|| std::env::var("CHARTGATE_CONFIG").ok());
            r.ok(&format!(
                "configuration loads ({}, environment {})",
                file.unwrap_or_else(|| "chartgate.toml if present, defaults otherwise".into()),
                std::env::var("CHARTGATE_ENV").unwrap_or_else(|_| "dev".into())
            ));
            // Loading refuses a key no setting reads; a variable that sets nothing only warns.
            for stray in crate::config::stray_variables() {
                r.warn(
                    &stray.to_string(),
                    &format!("correct its name, or unset {} if it is not for Chartgate", stray.name),
                );
            }
            c
        }
        Err(e) => {
            r.fail(
                &format!("the configuration does not load: {}", e.public_message()),
                "correct (or remove) the keys it names in chartgate.toml, or the CHARTGATE_* variable that sets it",
            );
            return finish(r);
        }
    };

    let db = check_database(&mut r, &config).await;
    check_stores(&mut r, &config, db.as_ref()).await;
    check_review_policy(&mut r, &config, db.as_ref()).await;
    check_hook_secret(&mut r, &config);
    check_notifications(&mut r, &config);
    check_bundle(&mut r, &config);
    finish(r)
}

fn finish(r: Report) -> Result<()> {
    println!();
    if r.failures == 0 {
        println!("doctor: all checks passed ({} warnings)", r.warnings);
        Ok(())
    } else {
        Err(Error::BadRequest(format!("doctor found {} problem(s) and {} warning(s)", r.failures, r.warnings)))
    }
}

async fn check_database(r: &mut Report, config: &Config) -> Option<Db> {
    let url = &config.database_url;
    let shown = db::redact(url);
    let backend = match Backend::of(url) {
        Ok(b) => b,
        Err(e) => {
            r.fail(
                &format!("database_url {shown} is not usable: {}", e.public_message()),
                "use sqlite://PATH or postgres://USER@HOST/DB",
            );
            return None;
        }
    };
    if backend == Backend::Sqlite && !Path::new(db::sqlite_path(url).as_ref()).exists() {
        r.fail(
            &format!("Chartgate's database {shown} does not exist"),
            "run `chartgate migrate` (or `chartgate serve`, which migrates first) in this directory",
        );
        return None;
    }
    let db = match Db::connect(url).await {
        Ok(db) => db,
        Err(e) => {
            r.fail(
                &format!("Chartgate's database cannot be opened: {}", e.public_message()),
                "check database_url (CHARTGATE_DATABASE_URL), that the server runs and the user may connect",
            );
            return None;
        }
    };
    match db.pending_migrations().await {
        Ok(p) if p.is_empty() => r.ok(&format!("Chartgate's database {shown} answers and is migrated")),
        Ok(p) => r.fail(
            &format!("Chartgate's database {shown} lacks {} migration(s): {}", p.len(), p.join(", ")),
            "run `chartgate migrate` (serve also migrates at start)",
        ),
        Err(e) => {
            r.fail(&format!("cannot read the migrations of {shown}: {}", e.public_message()), "run `chartgate migrate`")
        }
    }
    Some(db)
}

async fn check_store(r: &mut Report, settings: &StoreSettings, what: &str, url: &str, fix: &str) {
    let shown = db::redact(url);
    if Backend::of(url).ok() == Some(Backend::Sqlite) && !Path::new(db::sqlite_path(url).as_ref()).exists() {
        r.fail(&format!("{what}: the store {shown} does not exist"), fix);
        return;
    }
    let reached = async {
        // A mapped store is validated as it opens: every statement prepared, columns named.
        let store = ChartStore::open_with(url, false, settings).await?;
        store.ping().await?;
        store.stamps().await.map(|s| s.len())
    }
    .await;
    match reached {
        Ok(n) => r.ok(&format!("{what}: store {shown} answers ({n} charts)")),
        Err(e) => r.fail(&format!("{what}: the store {shown} cannot be read: {}", e.public_message()), fix),
    }
}

async fn check_stores(r: &mut Report, config: &Config, db: Option<&Db>) {
    let Ok(targets) = config.resolve_targets() else { return };
    let settings = config.store_settings();
    for target in targets.iter() {
        check_store(
            r,
            &settings,
            &format!("target {}", target.name),
            &target.store_url,
            "check its store_url (production_url without [targets]); `chartgate demo` creates a demo store",
        )
        .await;
    }
    let Some(db) = db else { return };
    let branches = match branch_rows::list(db).await {
        Ok(b) => b,
        Err(e) => {
            r.fail(&format!("cannot list the branches: {}", e.public_message()), "run `chartgate migrate`");
            return;
        }
    };
    let open: Vec<_> = branches.into_iter().filter(|b| b.state == "open" && !b.is_target()).collect();
    if open.is_empty() {
        r.ok("no open branches to check");
    }
    for b in open {
        check_store(
            r,
            &settings,
            &format!("branch {}", b.name),
            &b.store_url,
            &format!("restore the branch's store, or archive it: `chartgate branch archive {}`", b.name),
        )
        .await;
    }
}

/// `[review]`: every owner is a user who can review.
async fn check_review_policy(r: &mut Report, config: &Config, db: Option<&Db>) {
    let (Some(_), Some(db)) = (&config.review, db) else { return };
    let policy = crate::policy::Policy::new(config.review.as_ref());
    match crate::state::check_owners(db, &policy).await {
        Ok(()) => r.ok("review policy: every owner is a reviewer"),
        Err(e) => r.fail(&e.to_string(), "add the user (`chartgate users add`) or correct [[review.owners]]"),
    }
}

fn check_hook_secret(r: &mut Report, config: &Config) {
    match config.hook_secret.as_deref() {
        None | Some("") => r.warn(
            "no hook_secret: the GitHub hook answers 503, so merges do not start syncs",
            "set hook_secret (CHARTGATE_HOOK_SECRET) to the secret of the repository's webhook",
        ),
        Some(s) if s.len() < 16 => r.fail(
            &format!("hook_secret is only {} characters long: easy to guess", s.len()),
            "use at least 16 random characters, e.g. `openssl rand -hex 32`, here and in GitHub's webhook",
        ),
        Some(_) => r.ok("hook_secret is set"),
    }
}

fn check_notifications(r: &mut Report, config: &Config) {
    for (key, value) in [("notify_url", &config.notify_url), ("public_url", &config.public_url)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            match url::Url::parse(v) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => r.ok(&format!("{key} is a URL")),
                _ => r.fail(&format!("{key} = {v:?} is not an http(s) URL"), &format!("set {key} to https://…")),
            }
        }
    }
    if config.github_token.as_deref().is_some_and(|t| !t.is_empty()) {
        match url::Url::parse(&config.github_api_url) {
            Ok(_) => r.ok("github_token is set: commit statuses and comments go to github_api_url"),
            Err(_) => r.fail(
                &format!("github_api_url = {:?} is not a URL", config.github_api_url),
                "leave it unset for github.com, or set https://HOST/api/v3 for GitHub Enterprise",
            ),
        }
    }
}

fn check_bundle(r: &mut Report, config: &Config) {
    let pkg = Path::new(&config.site_root).join("pkg");
    let missing: Vec<&str> =
        ["chartgate.js", "chartgate.wasm", "chartgate.css"].into_iter().filter(|f| !pkg.join(f).exists()).collect();
    if missing.is_empty() {
        r.ok(&format!("the browser bundle is in {}", pkg.display()));
    } else {
        r.fail(
            &format!(
                "the browser bundle is incomplete: {} missing from {} (pages render but do not become interactive)",
                missing.join(", "),
                pkg.display()
            ),
            "run `scripts/build.sh --release` (or set site_root to where it put the bundle)",
        );
    }
}
