//! The canonical text of `data` in its common shape, `{"rows": [{flat object}, …]}`, without a
//! `serde_json::Value` tree per row.
//!
//! A chart's data is most of its bytes, and most of a cold scan's time went into building a
//! `BTreeMap` for every row only to write it out again. Here a row is a short list of
//! `(key, scalar)` pairs: parsed in one pass, keys sorted in place, numbers normalised and
//! written by the very same `serde_json` code the general path uses, so the text is byte for byte
//! what [`super::canonicalize`]'s general path writes (the tests below hold the two side by
//! side). Anything else — another top-level key, a nested value, an escaped key, a repeated key —
//! answers `None`, and the general path takes the chart.

use std::fmt;

use app::rows::{key_from, Key};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::{normalise_numbers, row_order};

/// The canonical text of `data`, or `None` when it is not in the common shape (or not JSON).
pub fn canonical_data(text: &str) -> Option<String> {
    let FastData(mut rows) = serde_json::from_str(text).ok()?;
    for row in &mut rows {
        row.sort_unstable_by(|a, b| a.0.cmp(b.0));
        if row.windows(2).any(|w| w[0].0 == w[1].0) {
            return None; // a repeated key: the general path keeps the last, as serde_json does
        }
        for (_, v) in row.iter_mut() {
            normalise_numbers(v);
        }
    }
    let texts: Vec<String> = rows.iter().map(|r| row_text(r)).collect();
    let keys: Vec<Key<'_>> =
        rows.iter().map(|r| key_from(field(r, "series"), field(r, "entity"), field(r, "time"))).collect();
    let order = row_order(&keys, |i| &texts[i]).unwrap_or_else(|| (0..rows.len()).collect());
    let mut out = String::with_capacity(text.len());
    out.push_str("{\"rows\":[");
    for (n, i) in order.into_iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&texts[i]);
    }
    out.push_str("]}");
    Some(out)
}

type Row<'a> = Vec<(&'a str, Value)>;

fn field<'r>(row: &'r Row<'_>, name: &str) -> Option<&'r Value> {
    // A row has a handful of keys: a scan (lengths compared first) beats a binary search.
    row.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// A row as `serde_json` writes an object: keys in order, compact.
fn row_text(row: &Row<'_>) -> String {
    let mut buf = Vec::with_capacity(16 * row.len() + 2);
    buf.push(b'{');
    for (n, (k, v)) in row.iter().enumerate() {
        if n > 0 {
            buf.push(b',');
        }
        serde_json::to_writer(&mut buf, k).expect("a string always serialises");
        buf.push(b':');
        serde_json::to_writer(&mut buf, v).expect("a scalar always serialises");
    }
    buf.push(b'}');
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

struct FastData<'a>(Vec<Row<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for FastData<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Top;
        impl<'de> Visitor<'de> for Top {
            type Value = FastData<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with only \"rows\"")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut rows = None;
                while let Some(key) = map.next_key::<&'de str>()? {
                    if key != "rows" || rows.is_some() {
                        return Err(de::Error::custom("not the common shape"));
                    }
                    rows = Some(map.next_value::<Rows<'de>>()?.0);
                }
                rows.map(FastData).ok_or_else(|| de::Error::custom("no rows"))
            }
        }
        d.deserialize_map(Top)
    }
}

struct Rows<'a>(Vec<Row<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for Rows<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = Rows<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of flat objects")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(FlatRow(row)) = seq.next_element()? {
                    rows.push(row);
                }
                Ok(Rows(rows))
            }
        }
        d.deserialize_seq(List)
    }
}

struct FlatRow<'a>(Row<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for FlatRow<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = FlatRow<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of scalars")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut row = Vec::with_capacity(4);
                // `&str` borrows from the text: an escaped key cannot, and fails (general path).
                while let Some(key) = map.next_key::<&'de str>()? {
                    row.push((key, map.next_value::<Scalar>()?.0));
                }
                Ok(FlatRow(row))
            }
        }
        d.deserialize_map(Object)
    }
}

/// A JSON scalar, made exactly as `serde_json::Value`'s own visitor makes it.
struct Scalar(Value);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct One;
        impl<'de> Visitor<'de> for One {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Value::String(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(Value::String(v)))
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar(Value::Null))
            }
        }
        d.deserialize_any(One)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The general path's text for the same data.
    fn general(text: &str) -> String {
        let mut v: Value = serde_json::from_str(text).unwrap();
        super::super::canonical_data(&mut v);
        serde_json::to_string(&v).unwrap()
    }

    #[test]
    fn the_common_shape_is_written_exactly_as_the_general_path_writes_it() {
        for text in [
            r#"{"rows":[]}"#,
            r#"{"rows":[{"entity":"France","time":2000,"value":1.5},{"entity":"Chad","time":2001,"value":2}]}"#,
            r#"{"rows":[{"value":2e3,"time":"2000","entity":"France"},{"time":1999.0,"entity":"France","value":-0.0}]}"#,
            r#"{"rows":[{"series":"b","entity":"A","time":1},{"entity":"Z","time":10},{"series":null,"entity":"Z","time":9}]}"#,
            r#"{"rows":[{"entity":"Côte d'Ivoire \"CI\"","time":2000,"value":1e-7,"ok":true,"note":null}]}"#,
            r#"{"rows":[{"entity":"A","time":1,"value":1},{"entity":"A","time":1,"value":0}]}"#,
            r#"{"rows":[{"entity":"A","time":1,"value":18446744073709551615},{"entity":"B","time":-5,"value":-9007199254740993}]}"#,
            r#"{"rows":[{"entity":"A"},{},{"time":3}]}"#,
            r#" { "rows" : [ { "entity" : "A" , "time" : 1 } ] } "#,
        ] {
            assert_eq!(canonical_data(text).as_deref(), Some(general(text).as_str()), "{text}");
        }
    }

    #[test]
    fn other_shapes_are_left_to_the_general_path() {
        for text in [
            r#"{"rows":[],"meta":1}"#,
            r#"{"rows":[{"entity":"A","value":[1,2]}]}"#,
            r#"{"rows":[{"entity":"A","tags":{"a":1}}]}"#,
            r#"{"rows":[{"ent\u0069ty":"A"}]}"#,
            r#"{"rows":[{"entity":"A","entity":"B"}]}"#,
            r#"{"rows":[1,2]}"#,
            r#"[{"entity":"A"}]"#,
            r#"{"rows":[{"entity":"A"}]"#,
            r#"{"rows":[{"entity":"A"}]} x"#,
            r#"{}"#,
        ] {
            assert_eq!(canonical_data(text), None, "{text}");
        }
    }
}
