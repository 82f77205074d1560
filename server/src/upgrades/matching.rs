//! Matching the indicators of an old dataset version onto a new one by name, and comparing their
//! data side by side.
//!
//! **Names.** Both names are normalised first: lower case; brackets, punctuation and symbols
//! become spaces (so `GDP (current US$)` and `GDP, current US$` read alike); the words are then
//! sorted, so word order does not count (`Population, total` = `Total population`). Names equal
//! as given, or equal once normalised, score 1 and are matched first.
//!
//! **Measure: Sørensen–Dice on character bigrams** (`strsim::sorensen_dice`) of the normalised
//! names. Renames in dataset updates are mostly a word added or dropped, a year or a unit
//! changed (`constant 2017 US$` → `constant 2021 US$`): bigram overlap keeps such pairs high
//! (0.87–0.93 for the renames in the tests and the demo) whatever the position of the change,
//! while Levenshtein punishes added words by their length and Jaro–Winkler over-rewards a shared
//! first word (`GDP …` matches every GDP indicator about equally). Different indicators of one
//! dataset that share words stay lower (`CO2 emissions per capita` / `GDP per capita` 0.45,
//! `Population, total` / `Population growth (annual %)` 0.57).
//!
//! **Threshold: [`THRESHOLD`] = 0.6**, between the two: lower lets different indicators that
//! share a word or two (`… per capita`, `Population …`) through; higher drops renames that add
//! two or three words. Near-twins (`Male population` / `Female population`, 0.93) pass it, which
//! is why exact names are matched first and each pair shows its data side by side. Below it an old indicator is proposed as unmatched (`new: None`), which the
//! reviewer can still map by hand. Each new indicator is used at most once (best scores first),
//! since one new indicator mapped from two old ones is refused.

use std::collections::{HashMap, HashSet};

use app::upgrades::Pair;
use serde_json::Value;

use crate::charts::indicators::Indicator;

/// The least similarity of two normalised names that proposes a match.
pub const THRESHOLD: f64 = 0.6;

/// The name as compared: lower case, only letters and digits, words sorted.
pub fn normalise(name: &str) -> String {
    let lowered: String = name.to_lowercase().chars().map(|c| if c.is_alphanumeric() { c } else { ' ' }).collect();
    let mut words: Vec<&str> = lowered.split_whitespace().collect();
    words.sort_unstable();
    words.join(" ")
}

/// Similarity of two names in 0..1: 1 when equal as given or once normalised.
pub fn similarity(a: &str, b: &str) -> f64 {
    if a == b {
        return 1.0;
    }
    let (na, nb) = (normalise(a), normalise(b));
    if na == nb {
        return 1.0;
    }
    strsim::sorensen_dice(&na, &nb)
}

/// The proposed mapping of `old` onto `new`: one pair per old indicator (in `old`'s order), the
/// best unused new indicator at or above [`THRESHOLD`], exact names first.
pub fn propose(old: &[Indicator], new: &[Indicator]) -> Vec<(usize, Option<(usize, f64)>)> {
    let mut candidates: Vec<(f64, usize, usize)> = Vec::new();
    for (i, o) in old.iter().enumerate() {
        for (j, n) in new.iter().enumerate() {
            let s = similarity(&o.name, &n.name);
            if s >= THRESHOLD {
                // Exact names (as given) before names equal only once normalised.
                let bonus = if o.name == n.name { 1.0 } else { 0.0 };
                candidates.push((s + bonus, i, j));
            }
        }
    }
    candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut chosen: HashMap<usize, (usize, f64)> = HashMap::new();
    let mut used: HashSet<usize> = HashSet::new();
    for (s, i, j) in candidates {
        if chosen.contains_key(&i) || used.contains(&j) {
            continue;
        }
        used.insert(j);
        chosen.insert(i, (j, s.min(1.0)));
    }
    (0..old.len()).map(|i| (i, chosen.get(&i).copied())).collect()
}

/// The key of a data row: its entity and time, as text.
fn row_key(r: &Value) -> Option<(String, String)> {
    let entity = r.get("entity")?;
    let time = r.get("time")?;
    let text = |v: &Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    Some((text(entity), text(time)))
}

/// The data of two indicators side by side.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Comparison {
    pub old_rows: i64,
    pub new_rows: i64,
    pub rows_in_common: i64,
    pub values_changed: i64,
    /// The largest |new − old| / |old| over rows in common with a non-zero old value.
    pub max_relative_change: Option<f64>,
}

pub fn compare(old: &[Value], new: &[Value]) -> Comparison {
    let by_key: HashMap<(String, String), &Value> =
        old.iter().filter_map(|r| Some((row_key(r)?, r.get("value").unwrap_or(&Value::Null)))).collect();
    let mut c = Comparison { old_rows: old.len() as i64, new_rows: new.len() as i64, ..Default::default() };
    for r in new {
        let Some(key) = row_key(r) else { continue };
        let Some(before) = by_key.get(&key) else { continue };
        c.rows_in_common += 1;
        let after = r.get("value").unwrap_or(&Value::Null);
        match (before.as_f64(), after.as_f64()) {
            (Some(a), Some(b)) if a != b => {
                c.values_changed += 1;
                if a != 0.0 {
                    let rel = ((b - a) / a).abs();
                    c.max_relative_change = Some(c.max_relative_change.map_or(rel, |m: f64| m.max(rel)));
                }
            }
            (Some(_), Some(_)) => {}
            _ if *before != after => c.values_changed += 1,
            _ => {}
        }
    }
    c
}

/// A wire pair from a proposal and the comparison of the two indicators' rows.
pub fn pair(old: &Indicator, new: Option<(&Indicator, f64)>, comparison: Comparison) -> Pair {
    Pair {
        old: old.id.clone(),
        old_name: old.name.clone(),
        new: new.map(|(n, _)| n.id.clone()),
        new_name: new.map(|(n, _)| n.name.clone()),
        score: new.map(|(_, s)| (s * 1000.0).round() / 1000.0).unwrap_or(0.0),
        old_rows: comparison.old_rows,
        new_rows: comparison.new_rows,
        rows_in_common: comparison.rows_in_common,
        values_changed: comparison.values_changed,
        max_relative_change: comparison.max_relative_change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ind(id: &str, name: &str) -> Indicator {
        Indicator { id: id.into(), dataset: "d/1".into(), name: name.into(), unit: None }
    }

    /// The new indicator (by index) and score proposed for each old one.
    fn matches(old: &[&str], new: &[&str]) -> Vec<Option<(usize, f64)>> {
        let old: Vec<Indicator> = old.iter().enumerate().map(|(i, n)| ind(&format!("o{i}"), n)).collect();
        let new: Vec<Indicator> = new.iter().enumerate().map(|(i, n)| ind(&format!("n{i}"), n)).collect();
        propose(&old, &new).into_iter().map(|(_, m)| m).collect()
    }

    #[test]
    fn exact_names_score_one() {
        let m = matches(&["GDP per capita", "Population, total"], &["Population, total", "GDP per capita"]);
        assert_eq!(m, [Some((1, 1.0)), Some((0, 1.0))]);
    }

    #[test]
    fn exact_names_win_over_near_ones() {
        // "Female population" is very like "Male population"; the exact one takes it.
        let m = matches(&["Male population", "Female population"], &["Female population", "Male population"]);
        assert_eq!(m, [Some((1, 1.0)), Some((0, 1.0))]);
    }

    #[test]
    fn renamed_indicators_match_above_the_threshold() {
        let m = matches(
            &["GDP per capita, PPP (constant 2017 international $)", "Life expectancy at birth, total (years)"],
            &["Life expectancy at birth (years)", "GDP per capita, PPP (constant 2021 international $)"],
        );
        let (j, s) = m[0].expect("GDP matched");
        assert_eq!(j, 1);
        assert!((THRESHOLD..1.0).contains(&s), "{s}");
        let (j, s) = m[1].expect("life expectancy matched");
        assert_eq!(j, 0);
        assert!((THRESHOLD..1.0).contains(&s), "{s}");
    }

    #[test]
    fn word_order_does_not_count() {
        assert_eq!(similarity("Population, total", "Total population"), 1.0);
        assert_eq!(matches(&["Urban population, share"], &["Share: urban population"]), [Some((0, 1.0))]);
    }

    #[test]
    fn units_in_brackets_read_like_the_same_words_without_them() {
        assert_eq!(similarity("CO2 emissions (metric tons per capita)", "CO2 emissions, metric tons per capita"), 1.0);
        let s = similarity("Access to electricity (% of population)", "Access to electricity, share of population");
        assert!(s >= THRESHOLD, "{s}");
    }

    #[test]
    fn nothing_similar_stays_unmatched() {
        let m = matches(&["Forest area (sq. km)", "Literacy rate, adult"], &["CO2 emissions per capita"]);
        assert_eq!(m, [None, None]);
        for (a, b) in
            [("Forest area (sq. km)", "CO2 emissions per capita"), ("Literacy rate, adult", "Mobile subscriptions")]
        {
            assert!(similarity(a, b) < THRESHOLD, "{a} ~ {b}: {}", similarity(a, b));
        }
    }

    #[test]
    fn a_new_indicator_is_proposed_once() {
        let m = matches(&["GDP per capita", "GDP per capita (old series)"], &["GDP per capita"]);
        assert_eq!(m[0], Some((0, 1.0)));
        assert_eq!(m[1], None);
    }

    #[test]
    fn comparison_counts_common_rows_and_changes() {
        let old = [
            json!({"entity": "France", "time": 2000, "value": 10.0}),
            json!({"entity": "France", "time": 2001, "value": 20.0}),
            json!({"entity": "Peru", "time": 2000, "value": 5.0}),
        ];
        let new = [
            json!({"entity": "France", "time": 2000, "value": 10.0}),
            json!({"entity": "France", "time": 2001, "value": 25.0}),
            json!({"entity": "Peru", "time": 2000, "value": 4.0}),
            json!({"entity": "Chad", "time": 2000, "value": 1.0}),
        ];
        let c = compare(&old, &new);
        assert_eq!((c.old_rows, c.new_rows, c.rows_in_common, c.values_changed), (3, 4, 3, 2));
        assert_eq!(c.max_relative_change, Some(0.25));
    }
}
