//! Targets: the stores sync writes to, in a chain (design §10).
//!
//! Without `[targets]` there is one target, `production`, whose store is `production_url`, and
//! everything reads as the design's sections 1–9. With `[targets.<name>]` tables, a branch is
//! registered against one target (`default_target`, else `production`) and its baseline, diff,
//! reviews and sync are against that target's store. A target with `promotes_to` is itself an
//! environment of the next one: it is registered like a branch under its own name (never
//! archived), its diff against the next target is reviewed, and a promotion syncs it.
//!
//! The chain is checked when the configuration loads: an unknown `promotes_to` or
//! `default_target`, a cycle, two targets on one store, or a trigger without a next target are
//! refused at start-up with the reason.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{Config, PromoteOn, TargetConfig};
use crate::db::redact;
use crate::error::{Error, Result};
use crate::naming::env_name;

/// The name of the one target of a configuration without `[targets]`.
pub const PRODUCTION: &str = "production";

/// A target, resolved from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub store_url: String,
    pub promotes_to: Option<String>,
    pub promote_on: PromoteOn,
    /// The git branch whose merges promote (`promote_on = "merge"`).
    pub promote_branch: String,
    pub preview_url: Option<String>,
    pub sync_on_merge: bool,
}

impl Target {
    /// What identifies the target's store on a sync job (its URL without a password): jobs on
    /// one store run one at a time.
    pub fn store_key(&self) -> String {
        redact(&self.store_url)
    }
}

/// Every target of the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Targets {
    by_name: BTreeMap<String, Target>,
    default: String,
}

impl Targets {
    /// Resolves and checks the configuration's targets.
    pub fn from_config(config: &Config) -> Result<Targets> {
        let tables: BTreeMap<String, TargetConfig> = if config.targets.is_empty() {
            let production = TargetConfig {
                store_url: config.production_url.clone(),
                promotes_to: None,
                promote_on: PromoteOn::Manual,
                promote_branch: None,
                preview_url: config.production_preview_url.clone(),
                sync_on_merge: true,
            };
            BTreeMap::from([(PRODUCTION.to_string(), production)])
        } else {
            config.targets.clone()
        };
        let refuse = |why: String| Err(Error::BadRequest(format!("invalid [targets]: {why}")));
        let mut stores: BTreeMap<String, &str> = BTreeMap::new();
        for (name, t) in &tables {
            if name.is_empty() || env_name(name, config.branch_name_max) != *name {
                return refuse(format!(
                    "target name {name:?} must be letters, digits and '-' (at most {} characters)",
                    config.branch_name_max
                ));
            }
            if t.store_url.trim().is_empty() {
                return refuse(format!("target {name} has no store_url"));
            }
            if let Some(other) = stores.insert(redact(&t.store_url), name) {
                return refuse(format!("targets {other} and {name} share one store ({})", redact(&t.store_url)));
            }
            match &t.promotes_to {
                Some(next) if !tables.contains_key(next) => {
                    return refuse(format!("target {name} promotes_to {next:?}, which is not a target"))
                }
                Some(next) if next == name => return refuse(format!("target {name} promotes to itself")),
                None if t.promote_on != PromoteOn::Manual => {
                    return refuse(format!("target {name} has promote_on = {:?} but no promotes_to", t.promote_on))
                }
                _ => {}
            }
        }
        for start in tables.keys() {
            let mut seen = BTreeSet::from([start.as_str()]);
            let mut at = start.as_str();
            while let Some(next) = tables[at].promotes_to.as_deref() {
                if !seen.insert(next) {
                    return refuse(format!(
                        "promotes_to makes a cycle through {}",
                        seen.into_iter().collect::<Vec<_>>().join(", ")
                    ));
                }
                at = next;
            }
        }
        let default = config.default_target.clone().unwrap_or_else(|| PRODUCTION.to_string());
        if !tables.contains_key(&default) {
            return refuse(format!(
                "default_target {default:?} is not a target (targets: {})",
                tables.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let by_name = tables
            .into_iter()
            .map(|(name, t)| {
                let target = Target {
                    promote_branch: t.promote_branch.unwrap_or_else(|| name.clone()),
                    name: name.clone(),
                    store_url: t.store_url,
                    promotes_to: t.promotes_to,
                    promote_on: t.promote_on,
                    preview_url: t.preview_url,
                    sync_on_merge: t.sync_on_merge,
                };
                (name, target)
            })
            .collect();
        Ok(Targets { by_name, default })
    }

    /// The target of a name; 422 naming the known ones otherwise.
    pub fn get(&self, name: &str) -> Result<&Target> {
        self.by_name.get(name).ok_or_else(|| {
            Error::Unprocessable(format!(
                "unknown target {name:?}; the targets are {}",
                self.by_name.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// The target of branches registered without one.
    pub fn default_target(&self) -> &Target {
        &self.by_name[&self.default]
    }

    pub fn iter(&self) -> impl Iterator<Item = &Target> {
        self.by_name.values()
    }

    /// Targets that are environments of another (they promote).
    pub fn environments(&self) -> impl Iterator<Item = &Target> {
        self.iter().filter(|t| t.promotes_to.is_some())
    }

    /// The target whose store is `url`, if any.
    pub fn by_store(&self, url: &str) -> Option<&Target> {
        let key = redact(url);
        self.iter().find(|t| t.store_key() == key)
    }

    /// The chain from the end (targets that promote nowhere) up: each target after the one it
    /// promotes to.
    pub fn chain(&self) -> Vec<&Target> {
        let mut out: Vec<&Target> = Vec::new();
        let mut rest: Vec<&Target> = self.iter().collect();
        while !rest.is_empty() {
            let (ready, waiting): (Vec<&Target>, Vec<&Target>) = rest
                .into_iter()
                .partition(|t| t.promotes_to.as_deref().is_none_or(|next| out.iter().any(|o| o.name == next)));
            out.extend(ready);
            rest = waiting;
        }
        out
    }
}

#[cfg(test)]
mod tests {
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
        Targets::from_config(c).unwrap_err().to_string()
    }

    #[test]
    fn without_targets_there_is_production() {
        let c = Config { production_preview_url: Some("http://prod/{slug}".into()), ..Config::default() };
        let t = Targets::from_config(&c).unwrap();
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
        let t = Targets::from_config(&c).unwrap();
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
