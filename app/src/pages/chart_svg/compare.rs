//! Which rows of one side are added or changed relative to the other side, and the one-line
//! summary under the chart.
//!
//! Its own module because every layout colours its marks by these statuses, and they must match
//! the server's data diff: rows are matched by [`crate::rows::Key`] (through [`Row::key`]).

use std::collections::{HashMap, HashSet};

use super::format::plural;
use super::rows::Row;
use crate::rows::Key;

/// How a row differs from the other side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, strum::IntoStaticStr)]
#[strum(serialize_all = "lowercase")]
pub enum Status {
    Same,
    Changed,
    Added,
}

impl Status {
    pub fn emphasised(self) -> bool {
        self != Status::Same
    }

    /// The CSS classes of a mark with this status.
    pub fn class(self) -> &'static str {
        match self {
            Status::Same => "",
            Status::Changed => "changed",
            Status::Added => "changed added",
        }
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeSummary {
    /// There was another side to compare with.
    pub compared: bool,
    /// Rows whose value differs from the other side's row with the same key.
    pub changed: usize,
    /// Rows whose key the other side does not have.
    pub added: usize,
    /// Keys the other side has and this side does not.
    pub removed: usize,
}

impl ChangeSummary {
    pub fn any(&self) -> bool {
        self.changed + self.added + self.removed > 0
    }

    pub fn text(&self) -> String {
        if !self.compared {
            return "Nothing to compare with: the chart exists on one side only.".into();
        }
        if !self.any() {
            return "No data points differ.".into();
        }
        let mut s = format!("{} changed, {} added", plural(self.changed, "point", "points"), self.added);
        if self.removed > 0 {
            s.push_str(&format!(", {} removed", self.removed));
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    /// One status per row of this side, in order.
    pub statuses: Vec<Status>,
    pub summary: ChangeSummary,
}

fn same_value(a: &Row, b: &Row) -> bool {
    match (a.num, b.num) {
        (Some(x), Some(y)) => x == y,
        _ => a.value == b.value,
    }
}

/// Which rows of `rows` are added or changed relative to `other` (by key); with no other side
/// nothing is highlighted. Hash lookups only, never iterated: O(n).
pub fn compare(rows: &[Row], other: Option<&[Row]>) -> Comparison {
    let Some(other) = other else {
        return Comparison { statuses: vec![Status::Same; rows.len()], summary: ChangeSummary::default() };
    };
    let mut theirs: HashMap<&Key<'_>, &Row> = HashMap::with_capacity(other.len());
    for r in other {
        theirs.entry(&r.key).or_insert(r);
    }
    let mut summary = ChangeSummary { compared: true, ..ChangeSummary::default() };
    let mut ours: HashSet<&Key<'_>> = HashSet::with_capacity(rows.len());
    let statuses = rows
        .iter()
        .map(|r| {
            let status = match theirs.get(&r.key) {
                None => {
                    summary.added += 1;
                    Status::Added
                }
                Some(t) if !same_value(r, t) => {
                    summary.changed += 1;
                    Status::Changed
                }
                Some(_) => Status::Same,
            };
            ours.insert(&r.key);
            status
        })
        .collect();
    summary.removed = theirs.keys().filter(|k| !ours.contains(*k)).count();
    Comparison { statuses, summary }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::chart_svg::testing::rows;
    use serde_json::json;

    #[test]
    fn detects_changed_and_added_rows_by_key() {
        let old = rows(json!([
            {"entity": "France", "time": 2000, "value": 1.5, "series": "gdp"},
            {"entity": "France", "time": 2001, "value": 1.6, "series": "gdp"},
            {"entity": "Spain", "time": 2000, "value": 3, "series": "gdp"},
            {"entity": "Italy", "time": 2000, "value": 9, "series": "gdp"},
        ]));
        // Reordered, with 2000.0 / "2000" spelled differently, one value changed, one added, one removed.
        let new = rows(json!([
            {"entity": "Spain", "time": "2000", "value": 3.0, "series": "gdp"},
            {"entity": "France", "time": 2001, "value": 1.7, "series": "gdp"},
            {"entity": "France", "time": 2000.0, "value": "1.5", "series": "gdp"},
            {"entity": "France", "time": 2002, "value": 1.8, "series": "gdp"},
            {"entity": "France", "time": 2002, "value": 1.8},
        ]));
        let c = compare(&new, Some(&old));
        assert_eq!(c.statuses, [Status::Same, Status::Changed, Status::Same, Status::Added, Status::Added]);
        assert_eq!(c.summary, ChangeSummary { compared: true, changed: 1, added: 2, removed: 1 });
        assert_eq!(c.summary.text(), "1 point changed, 2 added, 1 removed");

        let none = compare(&new, None);
        assert!(none.statuses.iter().all(|s| *s == Status::Same));
        assert!(!none.summary.compared && !none.summary.any());
        assert_eq!(compare(&old, Some(&old)).summary.text(), "No data points differ.");
    }

    #[test]
    fn null_and_missing_series_are_the_same_row() {
        let old = rows(json!([{"entity": "Chad", "time": 2000, "value": 1}]));
        let new = rows(json!([{"entity": "Chad", "time": " 2000 ", "value": 1, "series": null}]));
        let c = compare(&new, Some(&old));
        assert_eq!(c.statuses, [Status::Same]);
        assert!(!c.summary.any());
    }
}
