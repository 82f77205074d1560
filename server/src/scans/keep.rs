//! Which canonical texts a branch's scan keeps.
//!
//! Every version a target holds is kept by the target's own refresh (see
//! [`super::refresh_side`]): those are the branches' baselines, the bases of three-way merges.
//! A branch's scan keeps the rest someone will read or write: the staging versions of the
//! branch's items (decisions, audit rows and sync items point at those), and, for databases from
//! before targets were kept whole, the baseline of a chart the target changed while the branch
//! did not (once the target moved, the branch's staging store is the last place that text is).
//!
//! A staging chart equal to its baseline costs a state row, not its content again: the text is
//! stored once per content, whoever holds it.
//!
//! A kept text is checked against its hash before it is stored. When the store moved between the
//! scan and this read, the text is not stored now; the move makes the next scan look again.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::StreamExt;

use crate::charts::{canonicalize, ChartStore};
use crate::db::{self, placeholders, Db};
use crate::error::Result;
use crate::repo::items::NewItem;
use crate::repo::states::States;
use crate::repo::versions::{self, PackedVersion};

/// Where a wanted version's text can still be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Source {
    Staging,
    Target,
}

/// A version to keep: its hash, and the chart whose row on `source` holds it now.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Wanted {
    pub hash: String,
    pub chart_id: String,
    pub source: Source,
}

/// The versions the branch's items and its target-moved baselines point at, each with a store
/// that holds its text now. A baseline that neither store holds any more (both sides changed the
/// chart since it was taken) cannot be read again; if it was not kept before, it is not wanted.
pub(super) fn wanted(items: &[NewItem], baseline: &States, staging: &States, production: &States) -> Vec<Wanted> {
    let mut out = HashSet::new();
    let mut want = |hash: Option<&String>, chart_id: &str, source: Source| {
        if let Some(hash) = hash {
            out.insert(Wanted { hash: hash.clone(), chart_id: chart_id.to_string(), source });
        }
    };
    let item_ids: HashSet<&str> = items.iter().map(|i| i.chart_id.as_str()).collect();
    for item in items {
        let id = item.chart_id.as_str();
        want(item.staging_hash.as_ref(), id, Source::Staging);
        // The baseline is the production version unless the target moved; then it was kept
        // when the target moved (below, on an earlier scan), or both stores changed the chart
        // between two scans and its text is gone (a merge then has no base to offer).
        want(item.production_hash.as_ref(), id, Source::Target);
    }
    for (id, base) in baseline {
        if item_ids.contains(id.as_str()) || base.hash.is_none() {
            continue;
        }
        // By hash where the target's state has one; its first listing fingerprinted bytes only.
        let target_moved = match production.get(id) {
            Some(p) if p.hash.is_some() => p.hash != base.hash,
            Some(p) => p.raw_fp != base.raw_fp,
            None => true,
        };
        let staging_holds_it = staging.get(id).map(|s| &s.hash) == Some(&base.hash);
        if target_moved && staging_holds_it {
            want(base.hash.as_ref(), id, Source::Staging);
        }
    }
    let mut out: Vec<Wanted> = out.into_iter().collect();
    out.sort_by(|a, b| (&a.chart_id, &a.hash).cmp(&(&b.chart_id, &b.hash)));
    out
}

#[derive(sqlx::FromRow)]
struct Hash {
    hash: String,
}

/// Of the given hashes, those whose text is kept already.
async fn kept(db: &Db, hashes: &[&str]) -> Result<HashSet<String>> {
    let mut out = HashSet::new();
    for chunk in hashes.chunks(db::MAX_PARAMS) {
        let sql = format!("select hash from version_texts where hash in ({})", placeholders(0, chunk.len()));
        let mut q = sqlx::query_as::<_, Hash>(&sql);
        for h in chunk {
            q = q.bind(*h);
        }
        out.extend(q.fetch_all(&db.pool).await?.into_iter().map(|r| r.hash));
    }
    Ok(out)
}

/// Stores the wanted versions not kept yet — those the scan just packed as they are, the rest
/// read again from their store; returns how many were stored.
pub(super) async fn keep(
    db: &Db,
    wanted: &[Wanted],
    packed: &mut HashMap<String, PackedVersion>,
    staging: &ChartStore,
    target: &ChartStore,
) -> Result<usize> {
    let hashes: Vec<&str> = wanted.iter().map(|w| w.hash.as_str()).collect();
    let kept = kept(db, &hashes).await?;
    let mut at_hand = Vec::new();
    let mut by_source: HashMap<Source, HashMap<&str, HashSet<&str>>> = HashMap::new();
    for w in wanted.iter().filter(|w| !kept.contains(&w.hash)) {
        match packed.remove(&w.hash) {
            Some(v) => at_hand.push(v),
            None => {
                by_source.entry(w.source).or_default().entry(w.chart_id.as_str()).or_default().insert(w.hash.as_str());
            }
        }
    }
    let mut stored = at_hand.len();
    versions::insert(db, &at_hand).await?;
    for (source, charts) in by_source {
        let store = match source {
            Source::Staging => staging,
            Source::Target => target,
        };
        let ids: Vec<String> = charts.keys().map(|id| id.to_string()).collect();
        let asked: Arc<HashSet<String>> = Arc::new(charts.values().flatten().map(|h| h.to_string()).collect());
        // The row may have moved since the scan read it: keep only what was asked for.
        let mut batches = super::read_batches(store, &ids, move |raw| {
            canonicalize(&raw).ok().filter(|c| asked.contains(&c.hash)).map(|c| PackedVersion::of(&c))
        });
        while let Some(read) = batches.next().await {
            let packed: Vec<PackedVersion> = read?.into_iter().flatten().collect();
            stored += packed.len();
            versions::insert(db, &packed).await?;
        }
    }
    Ok(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::states::ChartState;
    use app::types::ItemKind;

    fn state(id: &str, hash: &str) -> ChartState {
        ChartState {
            chart_id: id.into(),
            slug: id.into(),
            title: id.into(),
            updated_at: "t".into(),
            raw_fp: format!("raw-{hash}"),
            hash: Some(hash.into()),
            config_fp: Some("c".into()),
            data_fp: Some("d".into()),
            metadata_fp: Some("m".into()),
            error: None,
        }
    }

    fn states(list: &[(&str, &str)]) -> States {
        list.iter().map(|(id, h)| (id.to_string(), state(id, h))).collect()
    }

    fn item(id: &str, staging: Option<&str>, production: Option<&str>, baseline: Option<&str>) -> NewItem {
        NewItem {
            chart_id: id.into(),
            slug: id.into(),
            title: id.into(),
            kind: ItemKind::Modified,
            conflict: false,
            parts: String::new(),
            staging_hash: staging.map(Into::into),
            production_hash: production.map(Into::into),
            baseline_hash: baseline.map(Into::into),
            error: None,
            changed_at: String::new(),
        }
    }

    #[test]
    fn items_and_target_moved_baselines_are_wanted_unchanged_charts_are_not() {
        // a: unchanged everywhere; b: changed on staging (an item); c: changed on the target only;
        // d: changed on both since the baseline (an item whose base is gone from both stores).
        let baseline = states(&[("a", "a0"), ("b", "b0"), ("c", "c0"), ("d", "d0")]);
        let staging = states(&[("a", "a0"), ("b", "b1"), ("c", "c0"), ("d", "d1")]);
        let production = states(&[("a", "a0"), ("b", "b0"), ("c", "c2"), ("d", "d2")]);
        let items = [item("b", Some("b1"), Some("b0"), Some("b0")), item("d", Some("d1"), Some("d2"), Some("d0"))];
        let got: Vec<(String, String, Source)> = wanted(&items, &baseline, &staging, &production)
            .into_iter()
            .map(|w| (w.chart_id, w.hash, w.source))
            .collect();
        let want = |id: &str, h: &str, s| (id.to_string(), h.to_string(), s);
        assert_eq!(
            got,
            [
                want("b", "b0", Source::Target),
                want("b", "b1", Source::Staging),
                want("c", "c0", Source::Staging),
                want("d", "d1", Source::Staging),
                want("d", "d2", Source::Target),
            ]
        );
    }
}
