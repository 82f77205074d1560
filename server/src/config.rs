//! Configuration, layered as design §7: built-in defaults, then the base of `chartgate.toml`, then
//! its `[environments.<CHARTGATE_ENV>]` overlay, then `CHARTGATE_<KEY>` variables. A key the
//! overlay leaves out is inherited from the base. figment does the layering; `focus` turns the
//! overlay table into a provider of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::charts::store::mapping::{MappingConfig, RenderKeys};
use crate::charts::store::StoreSettings;
use crate::error::{Error, Result};
pub use crate::targets::{PromoteOn, TargetConfig};
use crate::targets::{Targets, PRODUCTION};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    pub database_url: String,
    pub production_url: String,
    pub staging_url_template: String,
    pub hook_secret: Option<String>,
    /// The previous hook secret, still accepted while GitHub's webhook is switched to the new one.
    pub hook_secret_previous: Option<String>,
    pub listen: String,
    pub branch_name_max: usize,
    pub archive_after: String,
    pub production_preview_url: Option<String>,
    pub staging_preview_url: Option<String>,
    /// Where `scripts/build.sh` put the browser bundle; pages still render without it.
    pub site_root: String,
    /// How often open branches are rescanned incrementally in the background (`0s`: never).
    pub scan_interval: String,
    /// How often a full rescan catches edits that did not touch `updated_at`.
    pub full_scan_interval: String,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// How long a browser session lasts.
    pub session_ttl: String,
    /// Trusted-proxy mode: take the signed-in user's email from this header (an SSO proxy in
    /// front sets it). Only for deployments where nothing else can reach the server.
    pub trusted_proxy_header: Option<String>,
    /// Mark cookies `Secure`; unset means "when the request came over TLS" (`X-Forwarded-Proto`).
    pub secure_cookies: Option<bool>,
    /// The stores sync writes to, by name (design §10). Empty: one target, `production`, whose
    /// store is `production_url`.
    pub targets: BTreeMap<String, TargetConfig>,
    /// The target a branch registered without one is checked against (default `production`).
    pub default_target: Option<String>,
    /// A running sync job whose heartbeat is older than this is resumed by another worker
    /// (unset: 5s on SQLite, 30s on PostgreSQL, where replicas' clocks may differ a little).
    pub sync_stale_after: Option<String>,
    /// `text` (default) or `json` (one object per line, for log shippers).
    pub log_format: String,
    /// When set, `GET /metrics` requires `Authorization: Bearer <metrics_token>`.
    pub metrics_token: Option<String>,
    /// A Slack-compatible incoming webhook told about sync jobs that end partial or failed.
    pub notify_url: Option<String>,
    /// A GitHub token: commit statuses `chartgate/review` and comments on pull requests.
    pub github_token: Option<String>,
    /// GitHub's REST API (GitHub Enterprise has its own).
    pub github_api_url: String,
    /// The address people reach Chartgate at, for links in notifications (default `http://{listen}`).
    pub public_url: Option<String>,
    /// `[[auto_approve]]` rules (design §11): small, well-bounded changes approved after each scan.
    pub auto_approve: Vec<AutoApproveRule>,
    /// `[mappings.NAME]` (design §13): stores' own schemas, named by `?mapping=NAME` in a URL.
    pub mappings: BTreeMap<String, MappingConfig>,
    /// `[files]`: how the configs of file stores are drawn (`chart_type`, `chart_types`, …).
    pub files: RenderKeys,
}

/// One `[[auto_approve]]` table: items whose change stays within it are approved after a scan as
/// the actor `rule:<name>`, bound to their hashes and audited like any decision. Only items no
/// person has decided on, never conflicts or unreadable items.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoApproveRule {
    pub name: String,
    /// The parts the change may touch (`config`, `data`, `metadata`); an item changing any other
    /// part is left to people.
    pub parts: Vec<String>,
    /// At most this many data points added, removed or changed (keyed by series, entity, time).
    pub max_changed_points: Option<usize>,
    /// At most this relative change of any changed value (`0.01`: 1 %). A point added or removed,
    /// a value that is not a number, or a change from 0 exceeds any bound.
    pub max_relative_change: Option<f64>,
    /// Only charts whose slug matches this glob (`energy-*`; `*`, `?` and `[a-z]` as in a shell).
    pub slug: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://data/chartgate.db".into(),
            production_url: "sqlite://data/production.db".into(),
            staging_url_template: "sqlite://data/staging/{branch}.db".into(),
            hook_secret: None,
            hook_secret_previous: None,
            listen: "127.0.0.1:3000".into(),
            branch_name_max: 50,
            archive_after: "3d".into(),
            production_preview_url: None,
            staging_preview_url: None,
            site_root: "target/site".into(),
            scan_interval: "60s".into(),
            full_scan_interval: "1h".into(),
            body_limit: 2 * 1024 * 1024,
            session_ttl: "12h".into(),
            trusted_proxy_header: None,
            secure_cookies: None,
            targets: BTreeMap::new(),
            default_target: None,
            sync_stale_after: None,
            log_format: "text".into(),
            metrics_token: None,
            notify_url: None,
            github_token: None,
            github_api_url: "https://api.github.com".into(),
            public_url: None,
            auto_approve: Vec::new(),
            mappings: BTreeMap::new(),
            files: RenderKeys::default(),
        }
    }
}

impl Config {
    /// Loads the configuration: `path` (or `CHARTGATE_CONFIG`, or `chartgate.toml` if present),
    /// overlay `CHARTGATE_ENV` (default `dev`), variables on top.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let path: PathBuf = match path {
            Some(p) => p.to_path_buf(),
            None => std::env::var_os("CHARTGATE_CONFIG")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("chartgate.toml")),
        };
        let env_name = std::env::var("CHARTGATE_ENV").unwrap_or_else(|_| "dev".into());
        Self::figment(&path, &env_name)
            .extract()
            .map_err(|e| Error::BadRequest(format!("invalid configuration ({}): {e}", path.display())))
            .and_then(Config::validated)
    }

    fn figment(path: &Path, env_name: &str) -> Figment {
        let file = Figment::from(Toml::file(path));
        let overlay = file.clone().focus(&format!("environments.{env_name}"));
        Figment::from(Serialized::defaults(Config::default()))
            .merge(file)
            .merge(overlay)
            // `__` nests: CHARTGATE_TARGETS__STAGING__STORE_URL sets targets.staging.store_url.
            .merge(Env::prefixed("CHARTGATE_").ignore(&["env", "config"]).split("__"))
    }

    fn validated(self) -> Result<Config> {
        parse_duration("archive_after", &self.archive_after)?;
        parse_duration("scan_interval", &self.scan_interval)?;
        parse_duration("full_scan_interval", &self.full_scan_interval)?;
        parse_duration("session_ttl", &self.session_ttl)?;
        if let Some(d) = &self.sync_stale_after {
            parse_duration("sync_stale_after", d)?;
        }
        if !self.staging_url_template.contains("{branch}") {
            return Err(Error::BadRequest("staging_url_template must contain {branch}".into()));
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return Err(Error::BadRequest(format!("log_format = {:?}: use \"text\" or \"json\"", self.log_format)));
        }
        if self.branch_name_max == 0 {
            return Err(Error::BadRequest("branch_name_max must be at least 1".into()));
        }
        self.resolve_targets()?;
        self.store_settings().check()?;
        let mut names = std::collections::BTreeSet::new();
        for rule in &self.auto_approve {
            let bad = |why: String| Error::BadRequest(format!("[[auto_approve]] {:?}: {why}", rule.name));
            if rule.name.trim().is_empty() || !names.insert(rule.name.as_str()) {
                return Err(bad("every rule needs a name of its own".into()));
            }
            if rule.parts.is_empty() {
                return Err(bad("parts must name at least one of config, data, metadata".into()));
            }
            if let Some(part) = rule.parts.iter().find(|p| !matches!(p.as_str(), "config" | "data" | "metadata")) {
                return Err(bad(format!("unknown part {part:?} (config, data or metadata)")));
            }
            if let Some(Err(e)) = rule.slug.as_deref().map(glob::Pattern::new) {
                return Err(bad(format!("slug is not a pattern: {e}")));
            }
            if rule.max_relative_change.is_some_and(|r| !(r >= 0.0 && r.is_finite())) {
                return Err(bad("max_relative_change must be a number of at least 0".into()));
            }
        }
        Ok(self)
    }

    /// What opening a store needs of the configuration: its mappings and `[files]` keys.
    pub fn store_settings(&self) -> StoreSettings {
        StoreSettings { mappings: self.mappings.clone(), files: self.files.clone() }
    }

    /// The chain of targets this configuration names, checked: its `[targets.*]` tables, or one
    /// `production` target on `production_url` when there are none.
    pub fn resolve_targets(&self) -> Result<Targets> {
        let tables: BTreeMap<String, TargetConfig> = if self.targets.is_empty() {
            let production = TargetConfig {
                store_url: self.production_url.clone(),
                promotes_to: None,
                promote_on: PromoteOn::Manual,
                promote_branch: None,
                preview_url: self.production_preview_url.clone(),
                sync_on_merge: true,
            };
            BTreeMap::from([(PRODUCTION.to_string(), production)])
        } else {
            self.targets.clone()
        };
        Targets::resolve(tables, self.default_target.as_deref(), self.branch_name_max)
    }

    pub fn archive_after(&self) -> Duration {
        parse_duration("archive_after", &self.archive_after).unwrap_or(Duration::from_secs(3 * 86400))
    }

    pub fn scan_interval(&self) -> Duration {
        parse_duration("scan_interval", &self.scan_interval).unwrap_or(Duration::from_secs(60))
    }

    pub fn full_scan_interval(&self) -> Duration {
        parse_duration("full_scan_interval", &self.full_scan_interval).unwrap_or(Duration::from_secs(3600))
    }

    pub fn sync_stale_after(&self) -> Option<Duration> {
        self.sync_stale_after.as_deref().and_then(|d| parse_duration("sync_stale_after", d).ok())
    }

    pub fn session_ttl(&self) -> Duration {
        parse_duration("session_ttl", &self.session_ttl).unwrap_or(Duration::from_secs(12 * 3600))
    }

    /// The store URL of a branch's staging environment.
    pub fn staging_url(&self, env_name: &str) -> String {
        self.staging_url_template.replace("{branch}", env_name)
    }
}

fn parse_duration(key: &str, value: &str) -> Result<Duration> {
    humantime::parse_duration(value).map_err(|e| Error::BadRequest(format!("{key} = {value:?}: {e}")))
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error; test code only
mod tests {
    use super::*;
    use figment::Jail;

    const FILE: &str = r#"
        production_url = "sqlite://base-prod.db"
        listen = "0.0.0.0:8080"
        branch_name_max = 40

        [environments.dev]
        listen = "127.0.0.1:4000"

        [environments.prod]
        production_url = "postgres://db/prod"
        archive_after = "7d"
    "#;

    #[test]
    fn defaults_apply_without_a_file() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let c = Config::load(Some(Path::new("missing.toml"))).unwrap();
            assert_eq!(c, Config::default());
            assert_eq!(c.archive_after(), Duration::from_secs(3 * 86400));
            Ok(())
        });
    }

    #[test]
    fn overlay_wins_over_base_and_inherits_what_it_leaves_out() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("chartgate.toml", FILE)?;
            jail.set_env("CHARTGATE_ENV", "prod");
            let c = Config::load(None).unwrap();
            assert_eq!(c.production_url, "postgres://db/prod", "overlay key wins");
            assert_eq!(c.listen, "0.0.0.0:8080", "base key inherited");
            assert_eq!(c.branch_name_max, 40);
            assert_eq!(c.archive_after(), Duration::from_secs(7 * 86400));
            assert_eq!(c.database_url, Config::default().database_url, "default kept");
            Ok(())
        });
    }

    #[test]
    fn auto_approval_rules_are_read_and_checked() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "chartgate.toml",
                r#"
                [[auto_approve]]
                name = "small data revisions"
                parts = ["data"]
                max_changed_points = 5
                max_relative_change = 0.01
                "#,
            )?;
            let c = Config::load(None).unwrap();
            assert_eq!(
                c.auto_approve,
                [AutoApproveRule {
                    name: "small data revisions".into(),
                    parts: vec!["data".into()],
                    max_changed_points: Some(5),
                    max_relative_change: Some(0.01),
                    slug: None,
                }]
            );
            for (bad, says) in [
                ("name = \"x\"\nparts = [\"title\"]", "unknown part"),
                ("name = \"x\"\nparts = []", "at least one"),
                ("name = \"\"\nparts = [\"data\"]", "a name of its own"),
                ("name = \"x\"\nparts = [\"data\"]\nmax_relative_change = -1", "at least 0"),
                ("name = \"x\"\nparts = [\"data\"]\nmax_points = 1", "unknown field"),
                ("name = \"x\"\nparts = [\"data\"]\nslug = \"[a\"", "not a pattern"),
            ] {
                jail.create_file("chartgate.toml", &format!("[[auto_approve]]\n{bad}\n"))?;
                let err = Config::load(None).unwrap_err().to_string();
                assert!(err.contains(says), "{bad}: {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn dev_is_the_default_overlay() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("chartgate.toml", FILE)?;
            let c = Config::load(None).unwrap();
            assert_eq!(c.listen, "127.0.0.1:4000");
            assert_eq!(c.production_url, "sqlite://base-prod.db");
            Ok(())
        });
    }

    #[test]
    fn variables_win_over_everything() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("custom.toml", FILE)?;
            jail.set_env("CHARTGATE_CONFIG", "custom.toml");
            jail.set_env("CHARTGATE_ENV", "prod");
            jail.set_env("CHARTGATE_PRODUCTION_URL", "sqlite://from-env.db");
            jail.set_env("CHARTGATE_LISTEN", "127.0.0.1:0");
            jail.set_env("CHARTGATE_BRANCH_NAME_MAX", "12");
            let c = Config::load(None).unwrap();
            assert_eq!(c.production_url, "sqlite://from-env.db");
            assert_eq!(c.listen, "127.0.0.1:0");
            assert_eq!(c.branch_name_max, 12);
            assert_eq!(c.archive_after(), Duration::from_secs(7 * 86400), "overlay still applies");
            Ok(())
        });
    }

    const CHAIN: &str = r#"
        default_target = "staging"

        [targets.production]
        store_url = "sqlite://prod.db"

        [targets.staging]
        store_url = "sqlite://staging.db"
        promotes_to = "production"
        promote_on = "release"

        [environments.prod.targets.production]
        store_url = "postgres://db/prod"
    "#;

    #[test]
    fn targets_layer_like_every_other_key() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file("chartgate.toml", CHAIN)?;
            let dev = Config::load(None).unwrap();
            assert_eq!(dev.targets["production"].store_url, "sqlite://prod.db");
            assert_eq!(dev.targets["staging"].promote_on, PromoteOn::Release);
            assert!(dev.targets["staging"].sync_on_merge, "sync_on_merge defaults to true");
            assert_eq!(dev.default_target.as_deref(), Some("staging"));

            jail.set_env("CHARTGATE_ENV", "prod");
            jail.set_env("CHARTGATE_TARGETS__STAGING__STORE_URL", "sqlite://from-env.db");
            let prod = Config::load(None).unwrap();
            assert_eq!(prod.targets["production"].store_url, "postgres://db/prod", "overlay wins");
            assert_eq!(prod.targets["staging"].store_url, "sqlite://from-env.db", "variables win");
            assert_eq!(prod.targets["staging"].promotes_to.as_deref(), Some("production"), "the rest is inherited");
            Ok(())
        });
    }

    #[test]
    fn a_bad_chain_stops_the_configuration_from_loading() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "chartgate.toml",
                r#"
                [targets.production]
                store_url = "sqlite://prod.db"
                promotes_to = "staging"
                [targets.staging]
                store_url = "sqlite://staging.db"
                promotes_to = "production"
                "#,
            )?;
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("cycle"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_named() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CHARTGATE_ARCHIVE_AFTER", "soon");
            let err = Config::load(Some(Path::new("none.toml"))).unwrap_err().to_string();
            assert!(err.contains("archive_after"), "{err}");
            Ok(())
        });
    }
}

/// The chain of targets a configuration names: [`Config::resolve_targets`] and [`Targets::resolve`].
#[cfg(test)]
mod target_chains {
    use super::*;

    fn table(store: &str, promotes_to: Option<&str>, on: PromoteOn) -> TargetConfig {
        TargetConfig {
            store_url: store.into(),
            promotes_to: promotes_to.map(str::to_string),
            promote_on: on,
            promote_branch: None,
            preview_url: None,
            sync_on_merge: true,
        }
    }

    fn config(targets: &[(&str, TargetConfig)]) -> Config {
        Config { targets: targets.iter().map(|(n, t)| (n.to_string(), t.clone())).collect(), ..Config::default() }
    }

    fn refused(c: &Config) -> String {
        c.resolve_targets().unwrap_err().to_string()
    }

    #[test]
    fn without_targets_there_is_production() {
        let c = Config { production_preview_url: Some("http://prod/{slug}".into()), ..Config::default() };
        let t = c.resolve_targets().unwrap();
        let p = t.default_target();
        assert_eq!((p.name.as_str(), p.store_url.as_str()), ("production", "sqlite://data/production.db"));
        assert_eq!(p.preview_url.as_deref(), Some("http://prod/{slug}"));
        assert_eq!(t.environments().count(), 0);
    }

    #[test]
    fn a_chain_resolves_in_order() {
        let c = config(&[
            ("production", table("sqlite://p.db", None, PromoteOn::Manual)),
            ("staging", table("sqlite://s.db", Some("production"), PromoteOn::Release)),
            ("dev", table("sqlite://d.db", Some("staging"), PromoteOn::Merge)),
        ]);
        let t = c.resolve_targets().unwrap();
        let chain: Vec<&str> = t.chain().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(chain, ["production", "staging", "dev"]);
        assert_eq!(t.get("dev").unwrap().promote_branch, "dev", "the default promote_branch is the target's name");
        assert_eq!(t.environments().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["dev", "staging"]);
        assert_eq!(t.by_store("sqlite://s.db").map(|t| t.name.as_str()), Some("staging"));
        assert!(matches!(t.get("qa"), Err(Error::Unprocessable(m)) if m.contains("dev, production, staging")));
    }

    #[test]
    fn bad_chains_are_refused_with_the_reason() {
        let unknown = config(&[("production", table("sqlite://p.db", Some("prod"), PromoteOn::Manual))]);
        assert!(refused(&unknown).contains("promotes_to \"prod\", which is not a target"));
        let cycle = config(&[
            ("a", table("sqlite://a.db", Some("b"), PromoteOn::Manual)),
            ("b", table("sqlite://b.db", Some("a"), PromoteOn::Manual)),
            ("production", table("sqlite://p.db", None, PromoteOn::Manual)),
        ]);
        assert!(refused(&cycle).contains("cycle"), "{}", refused(&cycle));
        let itself = config(&[("production", table("sqlite://p.db", Some("production"), PromoteOn::Manual))]);
        assert!(refused(&itself).contains("promotes to itself"));
        let shared = config(&[
            ("production", table("sqlite://p.db", None, PromoteOn::Manual)),
            ("staging", table("sqlite://p.db", Some("production"), PromoteOn::Manual)),
        ]);
        assert!(refused(&shared).contains("share one store"));
        let trigger = config(&[("production", table("sqlite://p.db", None, PromoteOn::Release))]);
        assert!(refused(&trigger).contains("no promotes_to"));
        let default = Config {
            default_target: Some("qa".into()),
            ..config(&[("production", table("sqlite://p.db", None, PromoteOn::Manual))])
        };
        assert!(refused(&default).contains("default_target \"qa\""));
        let name = config(&[("pro duction", table("sqlite://p.db", None, PromoteOn::Manual))]);
        assert!(refused(&name).contains("letters, digits"));
        let no_production = config(&[("live", table("sqlite://p.db", None, PromoteOn::Manual))]);
        assert!(
            refused(&no_production).contains("default_target \"production\""),
            "production must exist or default_target name one"
        );
    }
}
