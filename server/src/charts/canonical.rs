//! Canonical versions of a chart.
//!
//! Two stores (or two moments of one store) hold "the same chart" when their canonical content is
//! equal: object keys sorted, equal JSON numbers written one way (`2e3`, `2000.0` and `2000` are
//! all `2000`), data rows ordered by their key ([`app::rows::key_of`], the same key the data diff
//! and the chart highlighting match rows by), and volatile fields
//! (`updated_at`, `version`) dropped. The SHA-256 of that content is the version's identity; every
//! approval, audit row and sync item points at it.
//!
//! Canonicalising means parsing every byte of a chart, which dominates a full scan; so callers
//! first take [`raw_fingerprint`], a fast non-cryptographic hash of the stored bytes, and skip
//! this work for rows byte-identical to one they already know.

use app::rows::{key_of, Key};
use serde_json::{Number, Value};
use sha2::{Digest, Sha256};

use super::raw::RawChart;

mod fast;

/// Top-level keys of `config` and `metadata` that change without the chart changing.
pub const VOLATILE_KEYS: [&str; 4] = ["updated_at", "updatedAt", "version", "last_edited_at"];

#[derive(Clone, Debug, PartialEq)]
pub struct CanonicalChart {
    pub hash: String,
    pub slug: String,
    pub title: String,
    pub config: String,
    pub data: String,
    pub metadata: String,
    pub config_fp: String,
    pub data_fp: String,
    pub metadata_fp: String,
}

/// Why a stored chart has no canonical form: a part that is not JSON, or (part `file`) a chart
/// the store could not read at all.
#[derive(Clone, Debug, PartialEq)]
pub struct CanonError {
    pub part: &'static str,
    pub message: String,
}

impl std::fmt::Display for CanonError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.part {
            "file" => write!(f, "its file cannot be read: {}", self.message),
            part => write!(f, "{part} is not valid JSON: {}", self.message),
        }
    }
}

impl std::error::Error for CanonError {}

/// A fingerprint of the stored bytes (not of the content): equal bytes, equal fingerprint.
pub fn raw_fingerprint(raw: &RawChart) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [&raw.slug, &raw.config, &raw.data, &raw.metadata] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("{:032x}", h.digest128())
}

fn fingerprint(parts: &[&str]) -> String {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    format!("{:016x}", h.digest())
}

pub fn canonicalize(raw: &RawChart) -> Result<CanonicalChart, CanonError> {
    if let Some(why) = raw.unreadable_because() {
        return Err(CanonError { part: "file", message: why.to_string() });
    }
    let parse = |part: &'static str, text: &str| {
        serde_json::from_str::<Value>(text).map_err(|e| CanonError { part, message: e.to_string() })
    };
    // `serde_json::to_string` writes bytes straight into a buffer; `Value::to_string` would go
    // through `fmt::Write`, which costs a tenth of a full scan.
    let compact = |v: &Value| serde_json::to_string(v).expect("a JSON value always serialises");
    let mut config = parse("config", &raw.config)?;
    // Data in its common shape skips the `Value` tree (most of a chart's bytes; see `fast`).
    let data = match fast::canonical_data(&raw.data) {
        Some(text) => text,
        None => {
            let mut data = parse("data", &raw.data)?;
            canonical_data(&mut data);
            compact(&data)
        }
    };
    let mut metadata = parse("metadata", &raw.metadata)?;
    canonical_document(&mut config);
    canonical_document(&mut metadata);
    let title = title_of(&config, &metadata).unwrap_or_else(|| raw.slug.clone());
    let (config, metadata) = (compact(&config), compact(&metadata));
    Ok(CanonicalChart {
        hash: content_hash(&raw.slug, &config, &data, &metadata),
        config_fp: fingerprint(&[&config]),
        data_fp: fingerprint(&[&data]),
        metadata_fp: fingerprint(&[&raw.slug, &metadata]),
        slug: raw.slug.clone(),
        title,
        config,
        data,
        metadata,
    })
}

/// The version hash of canonical content: SHA-256 over the slug and the three canonical parts,
/// each preceded by its length. Whoever holds the text can check a version against its hash.
pub fn content_hash(slug: &str, config: &str, data: &str, metadata: &str) -> String {
    let mut sha = Sha256::new();
    for part in [slug, config, data, metadata] {
        sha.update((part.len() as u64).to_le_bytes());
        sha.update(part.as_bytes());
    }
    hex::encode(sha.finalize())
}

/// The title a person knows the chart by: `config.title`, else `metadata.title`.
pub fn title_of(config: &Value, metadata: &Value) -> Option<String> {
    [config, metadata]
        .iter()
        .find_map(|v| v.get("title").and_then(Value::as_str).map(str::to_string))
        .filter(|t| !t.trim().is_empty())
}

/// `config` and `metadata`: volatile top-level keys dropped, numbers normalised. Keys come out
/// sorted because serde_json's map is a `BTreeMap` (the `preserve_order` feature stays off).
fn canonical_document(v: &mut Value) {
    if let Value::Object(map) = v {
        for k in VOLATILE_KEYS {
            map.remove(k);
        }
    }
    normalise_numbers(v);
}

fn canonical_data(v: &mut Value) {
    normalise_numbers(v);
    if let Some(Value::Array(rows)) = v.get_mut("rows") {
        let order = {
            let keys: Vec<Key<'_>> = rows.iter().map(key_of).collect();
            row_order(&keys, |i| rows[i].to_string())
        };
        if let Some(order) = order {
            let sorted: Vec<Value> = order.into_iter().map(|i| std::mem::take(&mut rows[i])).collect();
            *rows = sorted;
        }
    }
}

/// The order data rows take: by key, rows with equal keys (malformed data) by their canonical
/// text; `None` when they are in order already — most stores keep them so, and one pass says
/// it. Each key is built once by the caller (a comparison sort would build it ~2 log n times).
fn row_order<T: AsRef<str>>(keys: &[Key<'_>], text: impl Fn(usize) -> T) -> Option<Vec<usize>> {
    if keys.windows(2).all(|w| w[0] < w[1]) {
        return None;
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]).then_with(|| text(a).as_ref().cmp(text(b).as_ref())));
    Some(order)
}

/// Integral floats become integers, so `1e3`, `1000.0` and `1000` are written alike; `-0` is `0`.
fn normalise_numbers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
                    *n = Number::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise_numbers),
        Value::Object(map) => map.values_mut().for_each(normalise_numbers),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(config: &str, data: &str, metadata: &str) -> RawChart {
        RawChart {
            id: "c1".into(),
            slug: "gdp".into(),
            config: config.into(),
            data: data.into(),
            metadata: metadata.into(),
            updated_at: "2024-01-01T00:00:00Z".into(),
        }
    }

    fn hash(config: &str, data: &str, metadata: &str) -> String {
        canonicalize(&raw(config, data, metadata)).unwrap().hash
    }

    const DATA: &str =
        r#"{"rows":[{"entity":"France","time":2000,"value":1.5},{"entity":"Chad","time":2001,"value":2}]}"#;

    #[test]
    fn key_order_is_not_a_change() {
        assert_eq!(
            hash(r#"{"type":"line","title":"GDP"}"#, DATA, r#"{"unit":"$","source":"WB"}"#),
            hash(r#"{"title":"GDP","type":"line"}"#, DATA, r#"{"source":"WB","unit":"$"}"#),
        );
    }

    #[test]
    fn number_form_is_not_a_change() {
        let a = r#"{"rows":[{"entity":"France","time":2000,"value":1.5}]}"#;
        let b = r#"{"rows":[{"entity":"France","time":2e3,"value":1.50}]}"#;
        let c = r#"{"rows":[{"entity":"France","time":2000.0,"value":15e-1}]}"#;
        assert_eq!(hash("{}", a, "{}"), hash("{}", b, "{}"));
        assert_eq!(hash("{}", a, "{}"), hash("{}", c, "{}"));
        assert_ne!(hash("{}", a, "{}"), hash("{}", r#"{"rows":[{"entity":"France","time":2000,"value":1.51}]}"#, "{}"));
    }

    #[test]
    fn row_order_is_not_a_change() {
        let swapped =
            r#"{"rows":[{"entity":"Chad","time":2001,"value":2},{"entity":"France","time":2000,"value":1.5}]}"#;
        assert_eq!(hash("{}", DATA, "{}"), hash("{}", swapped, "{}"));
    }

    #[test]
    fn rows_sort_by_series_then_entity_then_numeric_time() {
        let data = r#"{"rows":[
            {"series":"b","entity":"A","time":1},
            {"entity":"Z","time":10},
            {"series":"a","entity":"B","time":9},
            {"series":"a","entity":"B","time":10},
            {"entity":"Z","time":9}]}"#;
        let c = canonicalize(&raw("{}", data, "{}")).unwrap();
        let v: Value = serde_json::from_str(&c.data).unwrap();
        let keys: Vec<String> = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{}/{}/{}",
                    r.get("series").and_then(Value::as_str).unwrap_or("-"),
                    r["entity"].as_str().unwrap(),
                    r["time"]
                )
            })
            .collect();
        assert_eq!(keys, ["-/Z/9", "-/Z/10", "a/B/9", "a/B/10", "b/A/1"]);
    }

    #[test]
    fn volatile_fields_are_not_a_change() {
        assert_eq!(
            hash(r#"{"title":"GDP","updated_at":"2020-01-01","version":3}"#, DATA, r#"{"updatedAt":"x"}"#),
            hash(r#"{"title":"GDP","updated_at":"2024-05-05","version":4}"#, DATA, r#"{}"#),
        );
    }

    #[test]
    fn every_part_and_the_slug_count() {
        let base = hash(r#"{"title":"GDP"}"#, DATA, "{}");
        assert_ne!(base, hash(r#"{"title":"GDP per capita"}"#, DATA, "{}"));
        assert_ne!(base, hash(r#"{"title":"GDP"}"#, r#"{"rows":[]}"#, "{}"));
        assert_ne!(base, hash(r#"{"title":"GDP"}"#, DATA, r#"{"unit":"$"}"#));
        let mut renamed = raw(r#"{"title":"GDP"}"#, DATA, "{}");
        renamed.slug = "gdp-2".into();
        assert_ne!(base, canonicalize(&renamed).unwrap().hash);
    }

    #[test]
    fn part_fingerprints_follow_their_part_only() {
        let a = canonicalize(&raw(r#"{"title":"A"}"#, DATA, "{}")).unwrap();
        let b = canonicalize(&raw(r#"{"title":"B"}"#, DATA, "{}")).unwrap();
        assert_ne!(a.config_fp, b.config_fp);
        assert_eq!(a.data_fp, b.data_fp);
        assert_eq!(a.metadata_fp, b.metadata_fp);
    }

    #[test]
    fn invalid_json_names_the_part() {
        let err = canonicalize(&raw("{}", "{\"rows\": [", "{}")).unwrap_err();
        assert_eq!(err.part, "data");
        assert!(err.to_string().starts_with("data is not valid JSON"), "{err}");
    }

    #[test]
    fn title_falls_back_to_metadata_then_slug() {
        assert_eq!(canonicalize(&raw(r#"{"title":"Cfg"}"#, DATA, r#"{"title":"Meta"}"#)).unwrap().title, "Cfg");
        assert_eq!(canonicalize(&raw("{}", DATA, r#"{"title":"Meta"}"#)).unwrap().title, "Meta");
        assert_eq!(canonicalize(&raw("{}", DATA, "{}")).unwrap().title, "gdp");
    }

    #[test]
    fn raw_fingerprint_sees_bytes_not_content() {
        let a = raw(r#"{"a":1,"b":2}"#, DATA, "{}");
        let b = raw(r#"{"b":2,"a":1}"#, DATA, "{}");
        assert_ne!(raw_fingerprint(&a), raw_fingerprint(&b));
        assert_eq!(raw_fingerprint(&a), raw_fingerprint(&a.clone()));
    }
}
