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

use crate::charts::store::identity::Confinement;
use crate::charts::store::mapping::{MappingConfig, RenderKeys};
use crate::charts::store::StoreSettings;
use crate::error::{Error, Result};
pub use crate::targets::{PromoteOn, TargetConfig};
use crate::targets::{Targets, PRODUCTION};

mod strict;

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
    /// The addresses (`10.0.0.7`) and networks (`10.0.0.0/24`) of the proxies in front. Only a
    /// request whose peer is one of them may sign in with `trusted_proxy_header`, and only their
    /// `X-Forwarded-For` says which client sign-in throttling counts. A list, or one string with
    /// commas (`CHARTGATE_TRUSTED_PROXIES=10.0.0.7,10.0.1.0/24`).
    #[serde(deserialize_with = "proxy_list")]
    pub trusted_proxies: Vec<ProxyNet>,
    /// How long a sign-in waits for a free password-hashing slot (one per core) before it is
    /// answered 429 with `Retry-After`.
    pub sign_in_wait: String,
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
    /// Directories the SQLite and file stores that leads register must lie in (see
    /// [`Confinement`]); with this or `store_hosts` set, nothing else is accepted.
    pub store_roots: Vec<PathBuf>,
    /// Database servers (`host` or `host:port`) the stores leads register may be on.
    pub store_hosts: Vec<String>,
    /// `[review]` (design §14): how many people must approve, whether a rejection holds, owners.
    /// Without it, the latest decision on an item is its answer (one reviewer's click).
    pub review: Option<ReviewPolicyConfig>,
}

pub use crate::policy::{OwnerRule, ReviewPolicyConfig};

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
            trusted_proxies: Vec::new(),
            sign_in_wait: "2s".into(),
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
            store_roots: Vec::new(),
            store_hosts: Vec::new(),
            review: None,
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
        let invalid = |e: String| Error::BadRequest(format!("invalid configuration ({}): {e}", path.display()));
        // A key no setting reads is a mistake (a misspelt setting would silently not happen); a
        // variable is only warned about, since other tools may share the prefix.
        check_keys(&path).map_err(invalid)?;
        let stray = stray_variables();
        for v in &stray {
            tracing::warn!(variable = %v.name, "{v}");
        }
        Self::figment(&path, &env_name, &stray)
            .extract()
            .map_err(|e| invalid(e.to_string()))
            .and_then(Config::validated)
    }

    fn figment(path: &Path, env_name: &str, stray: &[StrayVariable]) -> Figment {
        let file = Figment::from(Toml::file(path));
        let overlay = file.clone().focus(&format!("environments.{env_name}"));
        let stray: Vec<String> = stray.iter().map(|v| v.key.clone()).collect();
        Figment::from(Serialized::defaults(Config::default()))
            .merge(file)
            .merge(overlay)
            .merge(variables().filter(move |key| !stray.iter().any(|s| key.as_str().eq_ignore_ascii_case(s))))
    }

    fn validated(self) -> Result<Config> {
        parse_duration("archive_after", &self.archive_after)?;
        parse_duration("scan_interval", &self.scan_interval)?;
        parse_duration("full_scan_interval", &self.full_scan_interval)?;
        parse_duration("session_ttl", &self.session_ttl)?;
        parse_duration("sign_in_wait", &self.sign_in_wait)?;
        if self.trusted_proxy_header.is_some() && self.trusted_proxies.is_empty() {
            return Err(Error::BadRequest(
                "trusted_proxy_header needs trusted_proxies: the addresses of the proxies that set it \
                 (a header from anyone else signs nobody in)"
                    .into(),
            ));
        }
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
        if let Some(Err(why)) = self.staging_preview_url.as_deref().map(crate::naming::check_preview_template) {
            return Err(Error::BadRequest(format!("staging_preview_url: {why}")));
        }
        self.resolve_targets()?;
        self.store_settings().check()?;
        if let Some(review) = &self.review {
            crate::policy::check_config(review)?;
        }
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

    /// Where stores that leads register may be (`store_roots`, `store_hosts`).
    pub fn confinement(&self) -> Confinement {
        Confinement { roots: self.store_roots.clone(), hosts: self.store_hosts.clone() }
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

    pub fn sign_in_wait(&self) -> Duration {
        parse_duration("sign_in_wait", &self.sign_in_wait).unwrap_or(Duration::from_secs(2))
    }

    /// Whether `peer` is one of `trusted_proxies`.
    pub fn is_trusted_proxy(&self, peer: std::net::IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.trusted_proxies.iter().any(|net| net.0.contains(&peer))
    }

    /// The store URL of a branch's staging environment.
    pub fn staging_url(&self, env_name: &str) -> String {
        self.staging_url_template.replace("{branch}", env_name)
    }
}

/// One entry of `trusted_proxies`: an address (`10.0.0.7`, `::1`) or a network (`10.0.0.0/24`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyNet(pub ipnet::IpNet);

impl std::str::FromStr for ProxyNet {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let s = s.trim();
        match s.parse::<ipnet::IpNet>() {
            Ok(net) => Ok(ProxyNet(net.trunc())),
            Err(_) => s
                .parse::<std::net::IpAddr>()
                .map(|ip| ProxyNet(ip.to_canonical().into()))
                .map_err(|_| format!("trusted_proxies: {s:?} is neither an address nor a network like 10.0.0.0/24")),
        }
    }
}

impl Serialize for ProxyNet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// `trusted_proxies` as a list of strings, or as one string with commas (what an environment
/// variable gives).
fn proxy_list<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<ProxyNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s.split(',').map(str::to_string).filter(|s| !s.trim().is_empty()).collect(),
        OneOrMany::Many(v) => v,
    };
    items.iter().map(|s| s.parse().map_err(serde::de::Error::custom)).collect()
}

fn parse_duration(key: &str, value: &str) -> Result<Duration> {
    humantime::parse_duration(value).map_err(|e| Error::BadRequest(format!("{key} = {value:?}: {e}")))
}

/// `CHARTGATE_*` variables that are not settings: read by Chartgate itself (`CHARTGATE_ENV`,
/// `CHARTGATE_CONFIG`, the sync test hook [`crate::sync::ITEM_DELAY_VAR`]) or by its scripts, tests
/// and CI examples. Neither configuration nor warned about.
const NOT_SETTINGS: &[&str] = &[
    "env",
    "config",
    "sync_item_delay_ms",
    "token",
    "url",
    "test_pg_url",
    "test_mysql_url",
    "e2e_email",
    "e2e_password",
    "demo_accounts",
    "fuzz_seed",
    "setup_release",
];

/// The `CHARTGATE_*` variables, as figment reads them: `__` nests, so
/// `CHARTGATE_TARGETS__STAGING__STORE_URL` sets `targets.staging.store_url`.
fn variables() -> Env {
    Env::prefixed("CHARTGATE_").ignore(NOT_SETTINGS).split("__")
}

/// Refuses every key of the file at `path`, in its base or in any `[environments.NAME]` overlay
/// (the active one or not), that no setting reads: all of them at once, each with the nearest key
/// of its table. A file that does not parse is left to the extraction, which says why.
fn check_keys(path: &Path) -> std::result::Result<(), String> {
    use figment::value::Value;
    use figment::Provider;
    use strict::Step;

    let Ok(mut profiles) = Toml::file(path).data() else { return Ok(()) };
    let Some(mut base) = profiles.remove(&figment::Profile::Default) else { return Ok(()) };
    let overlays = base.remove("environments");
    let mut unknown = strict::unknown_keys::<Config>(&Value::from(base), Vec::new());
    let mut problems = Vec::new();
    match overlays {
        None => {}
        Some(Value::Dict(_, overlays)) => {
            for (name, overlay) in &overlays {
                let at = vec![Step::Key("environments".into()), Step::Key(name.clone())];
                match overlay {
                    Value::Dict(..) => unknown.extend(strict::unknown_keys::<Config>(overlay, at)),
                    _ => problems.push(format!("`{}` must be a table of settings", strict::dotted(&at))),
                }
            }
        }
        Some(_) => problems.push("`environments` must hold [environments.NAME] tables of settings".into()),
    }
    problems.splice(0..0, unknown.iter().map(ToString::to_string));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// A `CHARTGATE_*` variable that sets no setting: warned about and ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrayVariable {
    /// As written: `CHARTGATE_SCAN_INTERVALL`.
    pub name: String,
    /// As figment keys it: `scan_intervall`, `targets.staging.store_ur`.
    key: String,
    message: String,
}

impl std::fmt::Display for StrayVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The `CHARTGATE_*` variables of this process that set no setting (the known ones that are not
/// settings, [`NOT_SETTINGS`], aside), each with the nearest setting.
pub fn stray_variables() -> Vec<StrayVariable> {
    let env = variables();
    let mut stray: Vec<StrayVariable> = env
        .iter()
        .filter_map(|(key, value)| {
            let key = key.as_str().to_string();
            let value = figment::util::nest(&key, value.parse().unwrap_or_else(|never| match never {}));
            let unknown = strict::unknown_keys::<Config>(&value, Vec::new()).into_iter().next()?;
            let name = format!("CHARTGATE_{}", key.replace('.', "__").to_ascii_uppercase());
            let mut steps: Vec<&str> = key.split('.').collect();
            let message = match unknown.nearest() {
                // The variable's name is off: it names a key that is not there.
                _ if unknown.path.len() > steps.len() => format!("{name} is ignored: {unknown}"),
                Some(near) => {
                    let (at, key) = (unknown.path.len() - 1, strict::dotted(&unknown.path[..unknown.path.len() - 1]));
                    steps[at] = near;
                    let fixed = steps.join("__").to_ascii_uppercase();
                    let near = if key.is_empty() { near.to_string() } else { format!("{key}.{near}") };
                    format!("{name} matches no configuration key and is ignored (did you mean `{near}`, CHARTGATE_{fixed}?)")
                }
                None => format!("{name} matches no configuration key and is ignored"),
            };
            Some(StrayVariable { name, key, message })
        })
        .collect();
    stray.sort_by(|a, b| a.name.cmp(&b.name));
    stray
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
                ("name = \"x\"\nparts = [\"data\"]\nmax_points = 1", "unknown key `max_points` in [[auto_approve]] #1"),
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

    #[test]
    fn trusted_proxies_are_addresses_or_networks_and_the_header_needs_them() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "chartgate.toml",
                "trusted_proxy_header = \"X-Forwarded-Email\"\ntrusted_proxies = [\"10.0.0.7\", \"10.0.1.9/24\", \"::1\"]\n",
            )?;
            let c = Config::load(None).unwrap();
            let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
            assert!(c.is_trusted_proxy(ip("10.0.0.7")) && !c.is_trusted_proxy(ip("10.0.0.8")));
            assert!(c.is_trusted_proxy(ip("10.0.1.200")), "a network, written with a host part");
            assert!(c.is_trusted_proxy(ip("::1")) && c.is_trusted_proxy(ip("::ffff:10.0.0.7")));
            // One variable, addresses separated by commas.
            jail.set_env("CHARTGATE_TRUSTED_PROXIES", "192.0.2.1, 2001:db8::/32");
            let c = Config::load(None).unwrap();
            assert!(c.is_trusted_proxy(ip("192.0.2.1")) && c.is_trusted_proxy(ip("2001:db8:5::1")));
            assert!(!c.is_trusted_proxy(ip("10.0.0.7")));
            jail.set_env("CHARTGATE_TRUSTED_PROXIES", "10.0.0.300");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("trusted_proxies") && err.contains("10.0.0.300"), "{err}");
            // The header without proxies would trust anyone: refused.
            jail.create_file("chartgate.toml", "trusted_proxy_header = \"X-Forwarded-Email\"\n")?;
            jail.set_env("CHARTGATE_TRUSTED_PROXIES", "");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("trusted_proxy_header needs trusted_proxies"), "{err}");
            Ok(())
        });
    }
}

/// The chain of targets a configuration names: [`Config::resolve_targets`] and [`Targets::resolve`].
#[cfg(test)]
mod target_chains {
    use super::*;
    use crate::charts::store::identity::StoreIdentity;

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
        assert!(matches!(t.get("qa"), Err(Error::Unprocessable(m)) if m.contains("dev, production, staging")));
    }

    #[tokio::test]
    async fn a_target_owns_its_store_however_it_is_spelt() {
        // Absolute paths: other tests here move the working directory (figment's Jail).
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let c = config(&[
            ("production", table(&format!("sqlite://{d}/p.db"), None, PromoteOn::Manual)),
            ("staging", table(&format!("sqlite://{d}/s.db"), Some("production"), PromoteOn::Release)),
        ]);
        let t = c.resolve_targets().unwrap();
        for spelling in [
            format!("sqlite://{d}/s.db"),
            format!("sqlite:{d}/s.db"),
            format!("sqlite://{d}/./s.db"),
            format!("sqlite://{d}/nowhere/../s.db?mode=rw"),
        ] {
            let identity = StoreIdentity::of_url(&spelling).await.unwrap();
            assert_eq!(
                t.owning(&spelling, &identity).await.unwrap().map(|t| t.name.as_str()),
                Some("staging"),
                "{spelling}"
            );
        }
        let other_url = format!("sqlite://{d}/b.db");
        let other = StoreIdentity::of_url(&other_url).await.unwrap();
        assert!(t.owning(&other_url, &other).await.unwrap().is_none());
        let twice = config(&[
            ("production", table(&format!("sqlite://{d}/p.db"), None, PromoteOn::Manual)),
            ("staging", table(&format!("sqlite:{d}/./p.db"), Some("production"), PromoteOn::Release)),
        ]);
        assert!(refused(&twice).contains("share one store"), "{}", refused(&twice));
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

/// Strict configuration: a key no setting reads is refused, naming it and the nearest key; a
/// `CHARTGATE_*` variable that sets nothing is warned about.
#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail closures return figment::Error; test code only
mod strict_keys {
    use super::*;
    use figment::Jail;

    fn refused(jail: &mut Jail, file: &str) -> String {
        jail.create_file("chartgate.toml", file).unwrap();
        Config::load(None).expect_err(file).to_string()
    }

    #[test]
    fn a_misspelt_key_is_refused_with_the_nearest_one() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let err = refused(jail, "scan_intervall = \"5s\"\n");
            assert!(err.contains("chartgate.toml"), "{err}");
            assert!(err.contains("unknown key `scan_intervall` (did you mean `scan_interval`?)"), "{err}");
            // Case and dashes aside.
            let err = refused(jail, "Full-Scan-Interval = \"5s\"\n");
            assert!(err.contains("did you mean `full_scan_interval`?"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_misspelt_section_is_refused() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let err = refused(jail, "[reviw]\nauto = true\n");
            assert!(err.contains("unknown section `[reviw]`"), "{err}");
            let err = refused(jail, "[target.production]\nstore_url = \"sqlite://p.db\"\n");
            assert!(err.contains("unknown section `[target]` (did you mean `targets`?)"), "{err}");
            let err = refused(jail, "[file]\nchart_type = \"/type\"\n");
            assert!(err.contains("unknown section `[file]` (did you mean `files`?)"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn nested_tables_are_checked_by_their_own_keys() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let err = refused(jail, "[targets.production]\nstore_url = \"sqlite://p.db\"\npromote_onn = \"manual\"\n");
            assert!(
                err.contains("unknown key `promote_onn` in [targets.production] (did you mean `promote_on`?)"),
                "{err}"
            );
            let err = refused(jail, "[files]\nchart_typ = \"/type\"\n");
            assert!(err.contains("unknown key `chart_typ` in [files] (did you mean `chart_type`?)"), "{err}");
            let err = refused(jail, "[mappings.grapher]\nstamp = \"select 1\"\nread = \"select 2\"\n");
            assert!(err.contains("unknown key `stamp` in [mappings.grapher] (did you mean `stamps`?)"), "{err}");
            let err = refused(jail, "[[auto_approve]]\nname = \"a\"\nparts = [\"data\"]\n[[auto_approve]]\nname = \"b\"\npart = [\"data\"]\n");
            assert!(err.contains("unknown key `part` in [[auto_approve]] #2 (did you mean `parts`?)"), "{err}");
            // Nothing near: a small table lists its keys.
            let err = refused(jail, "[targets.production]\nstore_url = \"sqlite://p.db\"\nxyzzy = 1\n");
            assert!(
                err.contains("unknown key `xyzzy` in [targets.production] (its keys: store_url, promotes_to"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn every_overlay_is_checked_whichever_is_active() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let file = "[environments.dev]\nscan_intervall = \"5s\"\n";
            let err = refused(jail, file);
            assert!(
                err.contains("unknown key `scan_intervall` in [environments.dev] (did you mean `scan_interval`?)"),
                "{err}"
            );
            jail.set_env("CHARTGATE_ENV", "prod");
            let err = refused(jail, file);
            assert!(err.contains("[environments.dev]"), "an overlay not in use is checked too: {err}");
            let err = refused(
                jail,
                "[environments.prod.targets.production]\nstore_url = \"sqlite://p.db\"\npreview = \"x\"\n",
            );
            assert!(err.contains("unknown key `preview` in [environments.prod.targets.production]"), "{err}");
            let err = refused(jail, "environments = 3\n");
            assert!(err.contains("[environments.NAME] tables"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn all_unknown_keys_are_named_at_once_even_past_a_bad_value() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            let err = refused(
                jail,
                r#"
                archive_afer = "3d"
                branch_name_max = "many"
                [environments.prod]
                body_limit = "big"
                listne = "0.0.0.0:80"
                [environments.prod.targets.production]
                promote_on = "release"
                store_rul = "x"
                "#,
            );
            for expected in [
                "unknown key `archive_afer` (did you mean `archive_after`?)",
                "unknown key `listne` in [environments.prod] (did you mean `listen`?)",
                "unknown key `store_rul` in [environments.prod.targets.production] (did you mean `store_url`?)",
            ] {
                assert!(err.contains(expected), "missing {expected:?} in {err}");
            }
            Ok(())
        });
    }

    #[test]
    fn a_file_with_every_kind_of_section_loads() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.create_file(
                "chartgate.toml",
                r#"
                database_url = "sqlite://data/chartgate.db"
                production_url = "sqlite://data/production.db"
                staging_url_template = "sqlite://data/staging/{branch}.db"
                hook_secret = "a-long-enough-secret"
                listen = "127.0.0.1:3000"
                branch_name_max = 50
                archive_after = "3d"
                scan_interval = "60s"
                full_scan_interval = "1h"
                body_limit = 2097152
                session_ttl = "12h"
                trusted_proxies = ["10.0.0.7"]
                log_format = "text"
                default_target = "staging"
                store_roots = ["data"]
                store_hosts = ["localhost:5432"]

                [targets.production]
                store_url = "sqlite://data/production.db"
                preview_url = "https://example.org/grapher/{slug}"

                [targets.staging]
                store_url = "sqlite://data/staging.db"
                promotes_to = "production"
                promote_on = "merge"
                promote_branch = "main"
                sync_on_merge = false

                [mappings.grapher]
                stamps = "select id, updated_at from charts"
                read = "select * from charts where id in ({ids})"
                update = ["update charts set config = :config where id = :id"]
                insert = ["insert into charts (id, config) values (:id, :config)"]
                delete = ["delete from charts where id = :id"]
                chart_type = "/chartTypes/0"
                chart_types = { LineChart = "line" }
                default_type = "line"
                title = "/title"

                [files]
                chart_type = "/type"
                chart_types = { Line = "line" }

                [[auto_approve]]
                name = "small data revisions"
                parts = ["data"]
                max_changed_points = 5
                max_relative_change = 0.01
                slug = "energy-*"

                [environments.prod]
                listen = "0.0.0.0:3000"
                log_format = "json"

                [environments.prod.targets.production]
                store_url = "sqlite://data/prod-live.db"

                [environments.prod.files]
                title = "/name"
                "#,
            )?;
            let dev = Config::load(None).unwrap();
            assert_eq!(dev.targets["staging"].promote_branch.as_deref(), Some("main"));
            assert_eq!(dev.mappings["grapher"].stamps, "select id, updated_at from charts");
            assert_eq!(dev.files.chart_type.as_deref(), Some("/type"));
            jail.set_env("CHARTGATE_ENV", "prod");
            let prod = Config::load(None).unwrap();
            assert_eq!(prod.targets["production"].store_url, "sqlite://data/prod-live.db");
            assert_eq!((prod.log_format.as_str(), prod.files.title.as_deref()), ("json", Some("/name")));
            Ok(())
        });
    }

    /// The example files of the README and docs/, which must keep loading as written.
    #[test]
    fn the_documented_examples_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut pages = vec![root.join("README.md")];
        if let Ok(docs) = std::fs::read_dir(root.join("docs")) {
            pages.extend(docs.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "md")));
        }
        let mut blocks = 0;
        for page in pages {
            let Ok(text) = std::fs::read_to_string(&page) else { continue };
            for block in text.split("```toml\n").skip(1).map(|b| b.split("```").next().unwrap()) {
                if block.contains("did you mean") {
                    continue; // an example of the error itself
                }
                blocks += 1;
                // Partial snippets (`# … the statements above …`) may lack required keys; what they
                // have must still be known.
                let toml = figment::providers::Toml::string(block);
                let mut data =
                    figment::Provider::data(&toml).unwrap_or_else(|e| panic!("{}: {e}\n{block}", page.display()));
                let mut base = data.remove(&figment::Profile::Default).unwrap_or_default();
                let overlays = base.remove("environments");
                let mut unknown = strict::unknown_keys::<Config>(&base.into(), Vec::new());
                if let Some(figment::value::Value::Dict(_, overlays)) = overlays {
                    for (name, overlay) in overlays {
                        let at = vec![strict::Step::Key("environments".into()), strict::Step::Key(name)];
                        unknown.extend(strict::unknown_keys::<Config>(&overlay, at));
                    }
                }
                assert!(unknown.is_empty(), "{}: {unknown:?} in\n{block}", page.display());
            }
        }
        assert!(blocks > 0, "no TOML example found in the README or docs/");
    }

    #[test]
    fn stray_variables_are_warned_about_not_refused() {
        Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("CHARTGATE_SCAN_INTERVALL", "5s");
            jail.set_env("CHARTGATE_TARGETS__STAGING__STORE_UR", "sqlite://s.db");
            jail.set_env("CHARTGATE_FILES__CHART_TYP", "/kind");
            jail.set_env("CHARTGATE_XYZZY", "1");
            // Not settings, but Chartgate's own: never warned about.
            for (name, value) in [
                ("CHARTGATE_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test"),
                ("CHARTGATE_TOKEN", "cg_x"),
                (crate::sync::ITEM_DELAY_VAR, "5"),
                ("CHARTGATE_ENV", "dev"),
            ] {
                jail.set_env(name, value);
            }
            jail.set_env("CHARTGATE_SCAN_INTERVAL", "0s");
            let c = Config::load(None).expect("stray variables do not stop the configuration");
            assert_eq!(c.scan_interval, "0s");
            assert!(c.files.is_default() && c.targets.is_empty(), "a stray variable sets nothing");
            let stray: Vec<String> = stray_variables().iter().map(ToString::to_string).collect();
            assert_eq!(
                stray,
                [
                    "CHARTGATE_FILES__CHART_TYP matches no configuration key and is ignored (did you mean \
                     `files.chart_type`, CHARTGATE_FILES__CHART_TYPE?)",
                    "CHARTGATE_SCAN_INTERVALL matches no configuration key and is ignored (did you mean \
                     `scan_interval`, CHARTGATE_SCAN_INTERVAL?)",
                    "CHARTGATE_TARGETS__STAGING__STORE_UR matches no configuration key and is ignored (did you \
                     mean `targets.staging.store_url`, CHARTGATE_TARGETS__STAGING__STORE_URL?)",
                    "CHARTGATE_XYZZY matches no configuration key and is ignored",
                ]
            );
            Ok(())
        });
    }

    #[test]
    fn only_near_keys_are_suggested() {
        let known = &["scan_interval", "full_scan_interval", "listen", "targets", "files"];
        assert_eq!(strict::nearest("scan_intervall", known), Some("scan_interval"));
        assert_eq!(strict::nearest("SCAN-INTERVAL", known), Some("scan_interval"));
        assert_eq!(strict::nearest("target", known), Some("targets"));
        assert_eq!(strict::nearest("reviw", known), None);
        assert_eq!(strict::nearest("database", known), None);
    }
}
