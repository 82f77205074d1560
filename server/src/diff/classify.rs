//! Three-way classification (design §2) from the baseline (B), staging (S) and production (P)
//! versions of one chart. Pure and table-tested: everything about "is this an item?" lives here.

use app::types::ItemKind;

/// One side's view of a chart: its version hash and per-part fingerprints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side<'a> {
    pub hash: &'a str,
    pub config_fp: &'a str,
    pub data_fp: &'a str,
    pub metadata_fp: &'a str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    pub kind: ItemKind,
    pub conflict: bool,
    /// Which parts the branch changed (baseline → staging), in `config, data, metadata` order.
    pub parts: Vec<&'static str>,
}

/// `None` when the chart is not an item: unchanged (S = P) or changed only in production
/// (S = B ≠ P), which sync must never revert.
pub fn classify(b: Option<&Side<'_>>, s: Option<&Side<'_>>, p: Option<&Side<'_>>) -> Option<Classification> {
    let (hb, hs, hp) = (b.map(|x| x.hash), s.map(|x| x.hash), p.map(|x| x.hash));
    if hs == hp || hs == hb {
        return None;
    }
    let kind = match (b, s) {
        (_, None) => ItemKind::Deleted,
        (None, Some(_)) => ItemKind::New,
        (Some(_), Some(_)) => ItemKind::Modified,
    };
    let parts = match (b, s) {
        (Some(b), Some(s)) => parts_between(b, s),
        _ => ALL_PARTS.to_vec(),
    };
    Some(Classification { kind, conflict: hp != hb, parts })
}

/// [`classify`] of a chart whose baseline text is gone: both stores changed its bytes since the
/// baseline was taken, before anything needed its hash. Whether either change was real or only a
/// rewrite of the same content cannot be told any more, so the answer leans to review: unless
/// staging and production now agree, the chart is an item and a conflict (a person looks at
/// production's side), and its parts are those in which staging and production differ.
pub fn classify_without_base(s: Option<&Side<'_>>, p: Option<&Side<'_>>) -> Option<Classification> {
    if s.map(|x| x.hash) == p.map(|x| x.hash) {
        return None;
    }
    let Some(s) = s else {
        return Some(Classification { kind: ItemKind::Deleted, conflict: true, parts: ALL_PARTS.to_vec() });
    };
    let parts = match p {
        Some(p) => parts_between(s, p),
        None => ALL_PARTS.to_vec(),
    };
    Some(Classification { kind: ItemKind::Modified, conflict: true, parts })
}

const ALL_PARTS: [&str; 3] = ["config", "data", "metadata"];

/// The parts in which two versions differ, in `config, data, metadata` order.
fn parts_between(a: &Side<'_>, b: &Side<'_>) -> Vec<&'static str> {
    [(a.config_fp, b.config_fp), (a.data_fp, b.data_fp), (a.metadata_fp, b.metadata_fp)]
        .into_iter()
        .zip(ALL_PARTS)
        .filter(|((x, y), _)| x != y)
        .map(|(_, part)| part)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(hash: &'static str, fps: [&'static str; 3]) -> Side<'static> {
        Side { hash, config_fp: fps[0], data_fp: fps[1], metadata_fp: fps[2] }
    }

    const B: [&str; 3] = ["c0", "d0", "m0"];

    #[test]
    fn without_a_base_every_difference_is_a_conflict() {
        let s = side("h1", ["c1", "d0", "m1"]);
        let p = side("h2", ["c2", "d0", "m0"]);
        let c = classify_without_base(Some(&s), Some(&p)).unwrap();
        assert_eq!(c, Classification { kind: ItemKind::Modified, conflict: true, parts: vec!["config", "metadata"] });
        assert_eq!(classify_without_base(Some(&s), Some(&s)), None, "both sides made the same change");
        assert_eq!(classify_without_base(None, None), None, "both sides deleted it");
        let deleted = classify_without_base(None, Some(&p)).unwrap();
        assert_eq!((deleted.kind, deleted.conflict), (ItemKind::Deleted, true));
        let lost_in_production = classify_without_base(Some(&s), None).unwrap();
        assert_eq!(lost_in_production.parts, ALL_PARTS);
    }

    #[test]
    fn unchanged_everywhere_is_not_an_item() {
        let v = side("h0", B);
        assert_eq!(classify(Some(&v), Some(&v), Some(&v)), None);
    }

    #[test]
    fn absent_everywhere_is_not_an_item() {
        assert_eq!(classify(None, None, None), None);
    }

    #[test]
    fn production_only_change_is_not_an_item() {
        let b = side("h0", B);
        let p = side("h1", ["c1", "d0", "m0"]);
        assert_eq!(classify(Some(&b), Some(&b), Some(&p)), None);
    }

    #[test]
    fn production_only_creation_and_deletion_are_not_items() {
        let p = side("h1", B);
        assert_eq!(classify(None, None, Some(&p)), None, "created in production only");
        let b = side("h0", B);
        assert_eq!(classify(Some(&b), Some(&b), None), None, "deleted in production only");
    }

    #[test]
    fn staging_equal_to_production_is_not_an_item() {
        let b = side("h0", B);
        let sp = side("h1", ["c1", "d0", "m0"]);
        assert_eq!(classify(Some(&b), Some(&sp), Some(&sp)), None, "both made the same change");
    }

    #[test]
    fn modified_lists_the_changed_parts() {
        let b = side("h0", B);
        let s = side("h1", ["c0", "d1", "m1"]);
        let c = classify(Some(&b), Some(&s), Some(&b)).unwrap();
        assert_eq!(c, Classification { kind: ItemKind::Modified, conflict: false, parts: vec!["data", "metadata"] });
    }

    #[test]
    fn new_when_absent_from_baseline_and_production() {
        let s = side("h1", B);
        let c = classify(None, Some(&s), None).unwrap();
        assert_eq!(c.kind, ItemKind::New);
        assert!(!c.conflict);
        assert_eq!(c.parts, vec!["config", "data", "metadata"]);
    }

    #[test]
    fn deleted_when_absent_from_staging() {
        let b = side("h0", B);
        let c = classify(Some(&b), None, Some(&b)).unwrap();
        assert_eq!(c.kind, ItemKind::Deleted);
        assert!(!c.conflict);
    }

    #[test]
    fn conflict_when_both_sides_changed_differently() {
        let b = side("h0", B);
        let s = side("h1", ["c1", "d0", "m0"]);
        let p = side("h2", ["c2", "d0", "m0"]);
        let c = classify(Some(&b), Some(&s), Some(&p)).unwrap();
        assert_eq!(c, Classification { kind: ItemKind::Modified, conflict: true, parts: vec!["config"] });
    }

    #[test]
    fn conflicting_deletions_and_creations() {
        let b = side("h0", B);
        let p = side("h2", ["c2", "d0", "m0"]);
        let c = classify(Some(&b), None, Some(&p)).unwrap();
        assert_eq!((c.kind, c.conflict), (ItemKind::Deleted, true), "staging deleted what production edited");
        let s = side("h1", B);
        let c = classify(Some(&b), Some(&s), None).unwrap();
        assert_eq!((c.kind, c.conflict), (ItemKind::Modified, true), "staging edited what production deleted");
        let c = classify(None, Some(&s), Some(&p)).unwrap();
        assert_eq!((c.kind, c.conflict), (ItemKind::New, true), "both created the id differently");
    }
}
