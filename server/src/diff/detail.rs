//! What changed inside one chart: structured changes by JSON path plus text hunks (`similar`) for
//! config and metadata, and added/removed/changed rows for data, matched by the one row key of
//! [`app::rows`] (so the table agrees with the points the chart highlights).

use std::collections::BTreeMap;

use app::rows::{self, key_of};
use app::types::{DataDiff, Hunk, HunkLine, JsonChange, JsonDiff, RowChange, RowKey};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

/// How many path changes one diff lists before it stops (the hunks still show everything).
const MAX_CHANGES: usize = 1000;

pub fn json_diff(old: Option<&Value>, new: Option<&Value>) -> JsonDiff {
    let changes = json_changes(old, new);
    let pretty = |v: Option<&Value>| v.map(|v| serde_json::to_string_pretty(v).unwrap_or_default()).unwrap_or_default();
    JsonDiff { changes, hunks: hunks(&pretty(old), &pretty(new)) }
}

/// The changes by JSON path alone, without the text hunks (grouping compares many charts and
/// reads no hunk).
pub fn json_changes(old: Option<&Value>, new: Option<&Value>) -> Vec<JsonChange> {
    let mut changes = Vec::new();
    match (old, new) {
        (Some(o), Some(n)) => walk("", o, n, &mut changes),
        (None, Some(n)) => changes.push(change("", "added", None, Some(n))),
        (Some(o), None) => changes.push(change("", "removed", Some(o), None)),
        (None, None) => {}
    }
    changes.truncate(MAX_CHANGES);
    changes
}

fn change(path: &str, op: &str, old: Option<&Value>, new: Option<&Value>) -> JsonChange {
    JsonChange {
        path: if path.is_empty() { "/".into() } else { path.to_string() },
        op: op.into(),
        old: old.cloned(),
        new: new.cloned(),
    }
}

/// JSON-pointer escaping of one path segment.
fn segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<JsonChange>) {
    if out.len() >= MAX_CHANGES || old == new {
        return;
    }
    match (old, new) {
        (Value::Object(o), Value::Object(n)) => {
            for (k, ov) in o {
                let p = format!("{path}/{}", segment(k));
                match n.get(k) {
                    Some(nv) => walk(&p, ov, nv, out),
                    None => out.push(change(&p, "removed", Some(ov), None)),
                }
            }
            for (k, nv) in n.iter().filter(|(k, _)| !o.contains_key(*k)) {
                out.push(change(&format!("{path}/{}", segment(k)), "added", None, Some(nv)));
            }
        }
        (Value::Array(o), Value::Array(n)) => {
            for i in 0..o.len().max(n.len()) {
                let p = format!("{path}/{i}");
                match (o.get(i), n.get(i)) {
                    (Some(ov), Some(nv)) => walk(&p, ov, nv, out),
                    (Some(ov), None) => out.push(change(&p, "removed", Some(ov), None)),
                    (None, Some(nv)) => out.push(change(&p, "added", None, Some(nv))),
                    (None, None) => {}
                }
            }
        }
        _ => out.push(change(path, "changed", Some(old), Some(new))),
    }
}

/// Unified-diff hunks with three lines of context; changed lines carry their changed words.
pub fn hunks(old: &str, new: &str) -> Vec<Hunk> {
    let diff = TextDiff::from_lines(old, new);
    diff.grouped_ops(3)
        .iter()
        .map(|group| {
            let first = group.first().expect("groups are never empty");
            let last = group.last().expect("groups are never empty");
            let (old_start, new_start) = (first.old_range().start, first.new_range().start);
            let mut lines = Vec::new();
            for op in group {
                for c in diff.iter_inline_changes(op) {
                    let tag = match c.tag() {
                        ChangeTag::Equal => "equal",
                        ChangeTag::Delete => "delete",
                        ChangeTag::Insert => "insert",
                    };
                    let words: Vec<(bool, String)> = if c.tag() == ChangeTag::Equal {
                        Vec::new()
                    } else {
                        c.iter_strings_lossy()
                            .map(|(emph, text)| (emph, text.trim_end_matches('\n').to_string()))
                            .collect()
                    };
                    let text: String = c.iter_strings_lossy().map(|(_, t)| t.into_owned()).collect();
                    lines.push(HunkLine { tag: tag.into(), text: text.trim_end_matches('\n').to_string(), words });
                }
            }
            Hunk {
                old_start: old_start + 1,
                old_len: last.old_range().end - old_start,
                new_start: new_start + 1,
                new_len: last.new_range().end - new_start,
                lines,
            }
        })
        .collect()
}

/// The rows of a data part by key (the last row wins where malformed data repeats a key), with
/// the key as the wire shows it and what the row says besides its key.
fn rows_by_key(data: Option<&Value>) -> BTreeMap<rows::Key<'_>, (RowKey, Value)> {
    let mut out = BTreeMap::new();
    for row in data.map(rows::rows_of).unwrap_or_default() {
        let key = key_of(row);
        let shown = RowKey {
            series: key.series.as_deref().map(str::to_string),
            entity: key.entity.to_string(),
            time: row.get("time").cloned().unwrap_or(Value::Null),
        };
        out.insert(key, (shown, row_value(row)));
    }
    out
}

/// What a row says besides its key: `value` when it is the only other field, else the rest.
fn row_value(row: &Value) -> Value {
    match row {
        Value::Object(m) => {
            let rest: serde_json::Map<String, Value> = m
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "series" | "entity" | "time"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            match (rest.len(), rest.get("value")) {
                (1, Some(v)) => v.clone(),
                _ => Value::Object(rest),
            }
        }
        other => other.clone(),
    }
}

pub fn data_diff(old: Option<&Value>, new: Option<&Value>) -> DataDiff {
    let old = rows_by_key(old);
    let new = rows_by_key(new);
    let mut diff = DataDiff::default();
    for (k, (key, ov)) in &old {
        match new.get(k) {
            None => diff.removed.push(RowChange { key: key.clone(), old: Some(ov.clone()), new: None }),
            Some((_, nv)) if nv != ov => {
                diff.changed.push(RowChange { key: key.clone(), old: Some(ov.clone()), new: Some(nv.clone()) })
            }
            Some(_) => diff.unchanged += 1,
        }
    }
    for (k, (key, nv)) in &new {
        if !old.contains_key(k) {
            diff.added.push(RowChange { key: key.clone(), old: None, new: Some(nv.clone()) });
        }
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_changes_by_path() {
        let old = json!({"title": "GDP", "axis": {"y": {"min": 0}}, "tabs": ["chart", "map"], "gone": 1});
        let new =
            json!({"title": "GDP per capita", "axis": {"y": {"min": 0, "max": 10}}, "tabs": ["chart"], "a/b": true});
        let d = json_diff(Some(&old), Some(&new));
        let summary: Vec<(String, String)> = d.changes.iter().map(|c| (c.path.clone(), c.op.clone())).collect();
        assert_eq!(
            summary,
            [
                ("/axis/y/max".to_string(), "added".to_string()),
                ("/gone".into(), "removed".into()),
                ("/tabs/1".into(), "removed".into()),
                ("/title".into(), "changed".into()),
                ("/a~1b".into(), "added".into()),
            ]
        );
        assert!(!d.hunks.is_empty());
        let inserted: Vec<&str> =
            d.hunks.iter().flat_map(|h| &h.lines).filter(|l| l.tag == "insert").map(|l| l.text.as_str()).collect();
        assert!(inserted.iter().any(|l| l.contains("GDP per capita")), "{inserted:?}");
        let title =
            d.hunks.iter().flat_map(|h| &h.lines).find(|l| l.tag == "insert" && l.text.contains("GDP per")).unwrap();
        assert!(title.words.iter().any(|(emph, w)| *emph && w.contains("per capita")), "{:?}", title.words);
    }

    #[test]
    fn equal_documents_have_no_changes() {
        let v = json!({"a": [1, 2]});
        let d = json_diff(Some(&v), Some(&v));
        assert!(d.changes.is_empty() && d.hunks.is_empty());
    }

    #[test]
    fn data_rows_are_matched_by_key() {
        let old = json!({"rows": [
            {"entity": "France", "time": 2000, "value": 1.5},
            {"entity": "Chad", "time": 2000, "value": 2},
            {"series": "pop", "entity": "Chad", "time": 2000, "value": 9}
        ]});
        let new = json!({"rows": [
            {"entity": "France", "time": 2000, "value": 1.7},
            {"series": "pop", "entity": "Chad", "time": 2000, "value": 9},
            {"entity": "Peru", "time": 2001, "value": 3}
        ]});
        let d = data_diff(Some(&old), Some(&new));
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].key.entity, "France");
        assert_eq!((d.changed[0].old.clone(), d.changed[0].new.clone()), (Some(json!(1.5)), Some(json!(1.7))));
        assert_eq!(d.removed.len(), 1);
        assert_eq!(d.removed[0].key.entity, "Chad");
        assert_eq!(d.removed[0].key.series, None);
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].key.time, json!(2001));
        assert_eq!(d.unchanged, 1);
    }

    /// Canonicalisation, the data diff and the chart's highlighting all key rows with
    /// `app::rows::key_of`: a year written as a number or a numeric string, and a series missing
    /// or `null`, is the same row to all three.
    #[test]
    fn the_data_diff_the_canonical_order_and_the_chart_agree_on_row_keys() {
        use app::pages::chart_svg::compare::{compare, Status};
        use app::pages::chart_svg::rows::parse_rows;

        use crate::charts::{canonicalize, RawChart};

        let old = json!({"rows": [
            {"entity": "France", "time": 2000, "value": 1},
            {"entity": "France", "time": 2001, "series": null, "value": 2},
            {"series": "gdp", "entity": "Chad", "time": 1999, "value": 3}
        ]});
        let new = json!({"rows": [
            {"series": "gdp", "entity": "Chad", "time": "1999", "value": 3},
            {"entity": "France", "time": "2000", "value": 1},
            {"entity": "France", "time": 2001.0, "value": 5}
        ]});

        // The data diff: one changed value, nothing added or removed.
        let d = data_diff(Some(&old), Some(&new));
        assert_eq!((d.added.len(), d.removed.len(), d.changed.len(), d.unchanged), (0, 0, 1, 2));
        assert_eq!(d.changed[0].key.entity, "France");

        // The chart: the same single point is highlighted, nothing counts as added or removed.
        let (old_rows, new_rows) = (parse_rows(&old), parse_rows(&new));
        let c = compare(&new_rows, Some(&old_rows));
        assert_eq!((c.summary.changed, c.summary.added, c.summary.removed), (1, 0, 0));
        let highlighted: Vec<&str> = new_rows
            .iter()
            .zip(&c.statuses)
            .filter(|(_, s)| **s != Status::Same)
            .map(|(r, _)| r.entity.as_str())
            .collect();
        assert_eq!(highlighted, ["France"]);

        // Canonicalisation orders rows by the same key: both orders give one version.
        let raw = |data: &Value| RawChart {
            id: "c".into(),
            slug: "c".into(),
            config: "{}".into(),
            data: data.to_string(),
            metadata: "{}".into(),
            updated_at: String::new(),
        };
        let mut reversed = new.clone();
        reversed["rows"].as_array_mut().unwrap().reverse();
        assert_eq!(canonicalize(&raw(&new)).unwrap().hash, canonicalize(&raw(&reversed)).unwrap().hash);
        let canonical: Value = serde_json::from_str(&canonicalize(&raw(&new)).unwrap().data).unwrap();
        let order: Vec<(Option<&str>, &str)> = canonical["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r.get("series").and_then(Value::as_str), r["entity"].as_str().unwrap()))
            .collect();
        assert_eq!(order, [(None, "France"), (None, "France"), (Some("gdp"), "Chad")]);
    }

    #[test]
    fn a_new_chart_adds_every_row() {
        let new = json!({"rows": [{"entity": "A", "time": 1, "value": 1}, {"entity": "B", "time": 1, "value": 2}]});
        let d = data_diff(None, Some(&new));
        assert_eq!((d.added.len(), d.removed.len(), d.changed.len()), (2, 0, 0));
    }
}
