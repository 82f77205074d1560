//! Three-way merge of a conflict (design §11): every path that changed since the fork, on one side
//! or both, and the chart that results from keeping each one-sided change and a reviewer's choice
//! for each path both sides changed differently.
//!
//! Paths are JSON pointers into config and metadata, where an array is one value (merging inside
//! arrays by index would invent orders nobody wrote); a data row is one value keyed like the data
//! diff (`/data/rows/[series, entity, time]`, so `"2000"` and `2000` are the same year), and the
//! data part's other fields are pointers. The merge starts from staging and brings in
//! production's changes, so a path changed on staging only needs no work.

use std::collections::{BTreeMap, BTreeSet};

use app::rows::{self, key_of, Key, Time};
use app::types::{ChartVersion, MergeEntry, MergeSide};
use serde_json::{json, Map, Value};

const PARTS: [&str; 3] = ["config", "data", "metadata"];

/// The changed paths of a conflict, in part then path order.
///
/// Without a baseline (its text was not kept: both stores changed the chart between two scans),
/// no side's change can be told to be one-sided, so every path where staging and production
/// differ is a choice to make.
pub fn plan(baseline: Option<&ChartVersion>, staging: &ChartVersion, production: &ChartVersion) -> Vec<MergeEntry> {
    let mut entries = Vec::new();
    for part in PARTS {
        let b = baseline.map(|b| leaves(part, b)).unwrap_or_default();
        let (s, p) = (leaves(part, staging), leaves(part, production));
        let paths: BTreeSet<&String> = b.keys().chain(s.keys()).chain(p.keys()).collect();
        for path in paths {
            let (bv, sv, pv) = (b.get(path), s.get(path), p.get(path));
            if sv == pv {
                continue; // unchanged, or the same change on both sides
            }
            let from = if baseline.is_none() {
                None
            } else if sv == bv {
                Some(MergeSide::Production)
            } else if pv == bv {
                Some(MergeSide::Staging)
            } else {
                None
            };
            entries.push(MergeEntry {
                path: path.clone(),
                part: part.to_string(),
                conflicting: from.is_none(),
                from,
                baseline: bv.cloned(),
                staging: sv.cloned(),
                production: pv.cloned(),
            });
        }
    }
    entries
}

/// Why a merge cannot be made from the choices given.
#[derive(Debug, PartialEq, Eq)]
pub enum ChoiceError {
    /// Conflicting paths without a choice.
    Missing(Vec<String>),
    /// Choices for paths that are not conflicting.
    Unknown(Vec<String>),
}

/// Staging's content with production's one-sided changes and the chosen side of every
/// conflicting path: `(config, data, metadata)`.
pub fn merged(
    staging: &ChartVersion,
    entries: &[MergeEntry],
    choices: &BTreeMap<String, MergeSide>,
) -> Result<(Value, Value, Value), ChoiceError> {
    let conflicting: BTreeSet<&str> = entries.iter().filter(|e| e.conflicting).map(|e| e.path.as_str()).collect();
    let missing: Vec<String> =
        conflicting.iter().filter(|p| !choices.contains_key(**p)).map(|p| p.to_string()).collect();
    if !missing.is_empty() {
        return Err(ChoiceError::Missing(missing));
    }
    let unknown: Vec<String> = choices.keys().filter(|p| !conflicting.contains(p.as_str())).cloned().collect();
    if !unknown.is_empty() {
        return Err(ChoiceError::Unknown(unknown));
    }
    let mut config = staging.config.clone();
    let mut data = staging.data.clone();
    let mut metadata = staging.metadata.clone();
    let mut rows: BTreeMap<Key<'static>, Value> =
        rows::rows_of(&staging.data).iter().map(|r| (key_of(r).into_owned(), r.clone())).collect();
    let mut rows_touched = false;
    for entry in entries {
        let side = match entry.from {
            Some(side) => side,
            None => choices[&entry.path],
        };
        if side == MergeSide::Staging {
            continue; // staging's value is already there
        }
        let value = entry.production.clone();
        if entry.part == "data" && entry.path.starts_with(ROWS_PREFIX) {
            rows_touched = true;
            // Every row entry has a row on some side: its path came from one.
            let Some(key) = row_key([&entry.production, &entry.staging, &entry.baseline]) else { continue };
            match value {
                Some(row) => rows.insert(key, row),
                None => rows.remove(&key),
            };
            continue;
        }
        let doc = match entry.part.as_str() {
            "config" => &mut config,
            "data" => &mut data,
            _ => &mut metadata,
        };
        let pointer = &entry.path[entry.part.len() + 1..];
        set_pointer(doc, pointer, value);
    }
    if rows_touched {
        let merged_rows = Value::Array(rows.into_values().collect());
        match &mut data {
            Value::Object(m) => {
                m.insert("rows".into(), merged_rows);
            }
            other => *other = merged_rows,
        }
    }
    Ok((config, data, metadata))
}

const ROWS_PREFIX: &str = "/data/rows/";

/// The key of the data row an entry names, read back from any side's row (they share the key).
fn row_key(rows: [&Option<Value>; 3]) -> Option<Key<'static>> {
    rows.into_iter().flatten().map(|row| key_of(row).into_owned()).next()
}

/// The leaves of one part of a version: pointer → value.
fn leaves(part: &str, version: &ChartVersion) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    match part {
        "config" => walk(&format!("/{part}"), &version.config, &mut out),
        "metadata" => walk(&format!("/{part}"), &version.metadata, &mut out),
        _ => {
            for row in rows::rows_of(&version.data) {
                out.insert(format!("{ROWS_PREFIX}{}", key_text(&key_of(row))), row.clone());
            }
            if let Value::Object(m) = &version.data {
                for (k, v) in m.iter().filter(|(k, _)| k.as_str() != "rows") {
                    walk(&format!("/data/{}", escape(k)), v, &mut out);
                }
            }
        }
    }
    out
}

fn walk(path: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                walk(&format!("{path}/{}", escape(k)), v, out);
            }
        }
        other => {
            out.insert(path.to_string(), other.clone());
        }
    }
}

/// `[series, entity, time]` as JSON: unambiguous, and readable in a table.
fn key_text(key: &Key<'_>) -> String {
    let time = match &key.time {
        Time::Missing => Value::Null,
        Time::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => json!(*n as i64),
        Time::Number(n) => json!(n),
        Time::Text(t) => json!(t),
    };
    json!([key.series, key.entity, time]).to_string()
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// Sets (or, with `None`, removes) the value at a JSON pointer, making objects on the way.
fn set_pointer(doc: &mut Value, pointer: &str, value: Option<Value>) {
    let segments: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
    let Some((last, parents)) = segments.split_last() else {
        if let Some(v) = value {
            *doc = v;
        }
        return;
    };
    let mut at = doc;
    for segment in parents {
        if !at.is_object() {
            if value.is_none() {
                return; // nothing there to remove
            }
            *at = Value::Object(Map::new());
        }
        at = at.as_object_mut().expect("an object").entry(segment.clone()).or_insert(Value::Object(Map::new()));
    }
    if !at.is_object() {
        if value.is_none() {
            return;
        }
        *at = Value::Object(Map::new());
    }
    let object = at.as_object_mut().expect("an object");
    match value {
        Some(v) => {
            object.insert(last.clone(), v);
        }
        None => {
            object.remove(last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(config: Value, data: Value, metadata: Value) -> ChartVersion {
        ChartVersion { hash: String::new(), slug: "s".into(), config, data, metadata, ..Default::default() }
    }

    #[test]
    fn one_sided_changes_merge_and_two_sided_ones_are_chosen() {
        let b = version(
            json!({"title": "GDP", "type": "line", "yAxis": {"min": 0}, "tabs": ["chart"]}),
            json!({"rows": [{"entity": "France", "time": 2000, "value": 1}, {"entity": "Chad", "time": 2000, "value": 2}]}),
            json!({"unit": "%", "source": "WB"}),
        );
        // Staging: a new title, Chad revised, a new row; production: a new type, France revised,
        // the unit changed — and both changed the source, differently.
        let s = version(
            json!({"title": "GDP per capita", "type": "line", "yAxis": {"min": 0}, "tabs": ["chart"]}),
            json!({"rows": [
                {"entity": "France", "time": 2000, "value": 1},
                {"entity": "Chad", "time": "2000", "value": 3},
                {"entity": "Peru", "time": 2001, "value": 4}
            ]}),
            json!({"unit": "%", "source": "WB 2026"}),
        );
        let p = version(
            json!({"title": "GDP", "type": "bar", "yAxis": {"min": 0}, "tabs": ["chart", "map"]}),
            json!({"rows": [{"entity": "France", "time": 2000, "value": 5}, {"entity": "Chad", "time": 2000, "value": 2}]}),
            json!({"unit": "‰", "source": "World Bank"}),
        );
        let entries = plan(Some(&b), &s, &p);
        let summary: Vec<(&str, Option<MergeSide>)> = entries.iter().map(|e| (e.path.as_str(), e.from)).collect();
        assert_eq!(
            summary,
            [
                ("/config/tabs", Some(MergeSide::Production)),
                ("/config/title", Some(MergeSide::Staging)),
                ("/config/type", Some(MergeSide::Production)),
                (r#"/data/rows/[null,"Chad",2000]"#, Some(MergeSide::Staging)),
                (r#"/data/rows/[null,"France",2000]"#, Some(MergeSide::Production)),
                (r#"/data/rows/[null,"Peru",2001]"#, Some(MergeSide::Staging)),
                ("/metadata/source", None),
                ("/metadata/unit", Some(MergeSide::Production)),
            ]
        );
        assert!(entries.iter().filter(|e| e.conflicting).all(|e| e.path == "/metadata/source"));

        assert_eq!(merged(&s, &entries, &BTreeMap::new()), Err(ChoiceError::Missing(vec!["/metadata/source".into()])));
        let wrong = BTreeMap::from([("/config/title".to_string(), MergeSide::Production)]);
        assert!(matches!(merged(&s, &entries, &wrong), Err(ChoiceError::Missing(_))));
        let extra = BTreeMap::from([
            ("/metadata/source".to_string(), MergeSide::Staging),
            ("/config/title".to_string(), MergeSide::Production),
        ]);
        assert_eq!(merged(&s, &entries, &extra), Err(ChoiceError::Unknown(vec!["/config/title".into()])));

        let choose = BTreeMap::from([("/metadata/source".to_string(), MergeSide::Production)]);
        let (config, data, metadata) = merged(&s, &entries, &choose).unwrap();
        assert_eq!(
            config,
            json!({"title": "GDP per capita", "type": "bar", "yAxis": {"min": 0}, "tabs": ["chart", "map"]})
        );
        assert_eq!(metadata, json!({"unit": "‰", "source": "World Bank"}));
        let mut values: Vec<(String, Value)> = rows::rows_of(&data)
            .iter()
            .map(|r| (r["entity"].as_str().unwrap().to_string(), r["value"].clone()))
            .collect();
        values.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(values, [("Chad".into(), json!(3)), ("France".into(), json!(5)), ("Peru".into(), json!(4))]);
    }

    #[test]
    fn removals_and_nested_paths() {
        let b = version(json!({"a": {"b": 1, "c": 2}, "gone": true, "same": 0}), json!({"rows": []}), json!({}));
        let s = version(
            json!({"a": {"b": 1, "c": 2}, "gone": true, "new/key": 1, "same": 5}),
            json!({"rows": []}),
            json!({}),
        );
        let p = version(json!({"a": {"b": 9}, "same": 5}), json!({"rows": []}), json!({}));
        let entries = plan(Some(&b), &s, &p);
        assert!(entries.iter().all(|e| e.path != "/config/same"), "the same change on both sides is no entry");
        assert!(entries.iter().any(|e| e.path == "/config/new~1key"), "pointer segments are escaped");
        let (config, _, _) = merged(&s, &entries, &BTreeMap::new()).unwrap();
        assert_eq!(config, json!({"a": {"b": 9}, "new/key": 1, "same": 5}));
    }

    #[test]
    fn without_a_baseline_every_difference_is_a_choice() {
        let s = version(json!({"title": "A", "type": "line", "same": 1}), json!({"rows": []}), json!({"unit": "$"}));
        let p = version(json!({"title": "B", "same": 1}), json!({"rows": []}), json!({"unit": "%"}));
        let entries = plan(None, &s, &p);
        let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["/config/title", "/config/type", "/metadata/unit"]);
        assert!(entries.iter().all(|e| e.conflicting && e.from.is_none() && e.baseline.is_none()));
        let choose = BTreeMap::from([
            ("/config/title".to_string(), MergeSide::Production),
            ("/config/type".to_string(), MergeSide::Staging),
            ("/metadata/unit".to_string(), MergeSide::Production),
        ]);
        let (config, _, metadata) = merged(&s, &entries, &choose).unwrap();
        assert_eq!(config, json!({"title": "B", "type": "line", "same": 1}));
        assert_eq!(metadata, json!({"unit": "%"}));
    }
}
