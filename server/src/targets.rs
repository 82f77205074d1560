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

use serde::{Deserialize, Serialize};

use crate::charts::store::identity::StoreIdentity;
use crate::db::redact;
use crate::error::{Error, Result};
use crate::naming::{check_preview_template, env_name};

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

/// One `[targets.<name>]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetConfig {
    pub store_url: String,
    /// The next target in the chain: this target is then an environment of that one, reviewed and
    /// promoted like a branch.
    pub promotes_to: Option<String>,
    /// What starts a promotion to `promotes_to`: `release`, `merge` or `manual` (the default).
    #[serde(default)]
    pub promote_on: PromoteOn,
    /// With `promote_on = "merge"`: the git branch whose merges promote (default the target's name).
    pub promote_branch: Option<String>,
    /// Preview links of this target's site, `{branch}` and `{slug}` substituted.
    pub preview_url: Option<String>,
    /// Whether a merged branch of this target is synced at once (else it waits for a manual sync).
    #[serde(default = "yes")]
    pub sync_on_merge: bool,
}

fn yes() -> bool {
    true
}

/// What starts a promotion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, strum::Display, strum::IntoStaticStr)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum PromoteOn {
    /// A signed GitHub `release` event with `action: published`.
    Release,
    /// A pull request merged into `promote_branch`.
    Merge,
    /// `POST /sync` or `chartgate sync` only.
    #[default]
    Manual,
}

impl Targets {
    /// Checks a chain of targets (the configuration's tables; see
    /// [`crate::config::Config::resolve_targets`]): names, stores, `promotes_to` and the default.
    pub fn resolve(
        tables: BTreeMap<String, TargetConfig>,
        default_target: Option<&str>,
        branch_name_max: usize,
    ) -> Result<Targets> {
        let refuse = |why: String| Err(Error::BadRequest(format!("invalid [targets]: {why}")));
        let mut stores: Vec<(Option<StoreIdentity>, &str, &str)> = Vec::new();
        for (name, t) in &tables {
            if name.is_empty() || env_name(name, branch_name_max) != *name {
                return refuse(format!(
                    "target name {name:?} must be letters, digits and '-' (at most {} characters)",
                    branch_name_max
                ));
            }
            if t.store_url.trim().is_empty() {
                return refuse(format!("target {name} has no store_url"));
            }
            if let Some(Err(why)) = t.preview_url.as_deref().map(check_preview_template) {
                return refuse(format!("target {name}: {why}"));
            }
            // One store under two spellings is still one store (see `StoreIdentity`).
            let identity = StoreIdentity::of(&t.store_url).ok();
            let shared = stores.iter().find(|(other, url, _)| match (other, &identity) {
                (Some(a), Some(b)) => a.same(b),
                _ => redact(url) == redact(&t.store_url),
            });
            if let Some((_, _, other)) = shared {
                return refuse(format!("targets {other} and {name} share one store ({})", redact(&t.store_url)));
            }
            stores.push((identity, &t.store_url, name));
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
        let default = default_target.unwrap_or(PRODUCTION).to_string();
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

    /// The target whose store is the one `url` names (its `identity`), however it is spelt (see
    /// [`StoreIdentity`]), if any.
    pub async fn owning(&self, url: &str, identity: &StoreIdentity) -> Result<Option<&Target>> {
        for target in self.iter() {
            let same = match StoreIdentity::of_url(&target.store_url).await {
                Ok(theirs) => theirs.same(identity),
                Err(_) => redact(&target.store_url) == redact(url),
            };
            if same {
                return Ok(Some(target));
            }
        }
        Ok(None)
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
