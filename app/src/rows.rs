//! The identity of a data row (design §3): rows are keyed by (`series`, `entity`, `time`).
//!
//! Three places need that key and must agree on it: canonicalisation orders rows by it (so a
//! reordered export is not a change), the data diff matches old and new rows by it, and the
//! chart highlights the points whose key is new or whose value moved. They all call [`key_of`].
//!
//! Equal keys are equal however the export wrote them: a time given as `2000`, `2000.0`, `2e3` or
//! `"2000"` is one year; a missing or `null` series is "no series". Keys borrow from the row, so
//! ordering millions of rows during a scan allocates nothing for string fields.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use serde_json::Value;

/// A row's time as a key. Numbers and numeric strings are [`Time::Number`] (one year, however
/// written); other text is compared as text; a missing or `null` time sorts first.
#[derive(Clone, Debug)]
pub enum Time<'a> {
    Missing,
    Number(f64),
    Text(Cow<'a, str>),
}

impl Time<'_> {
    fn rank(&self) -> u8 {
        match self {
            Time::Missing => 0,
            Time::Number(_) => 1,
            Time::Text(_) => 2,
        }
    }

    pub fn into_owned(self) -> Time<'static> {
        match self {
            Time::Missing => Time::Missing,
            Time::Number(n) => Time::Number(n),
            Time::Text(t) => Time::Text(Cow::Owned(t.into_owned())),
        }
    }

    /// The time as a number, if it is one (a year, usually).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Time::Number(n) => Some(*n),
            _ => None,
        }
    }
}

impl PartialEq for Time<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Time<'_> {}

impl PartialOrd for Time<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Time<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            // Keys never hold NaN (JSON has none, and parsing drops non-finite text), and -0 is
            // stored as 0, so the total order is the numeric one.
            (Time::Number(a), Time::Number(b)) => a.total_cmp(b),
            (Time::Text(a), Time::Text(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl Hash for Time<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.rank().hash(state);
        match self {
            Time::Missing => {}
            Time::Number(n) => n.to_bits().hash(state),
            Time::Text(t) => t.hash(state),
        }
    }
}

/// The key of one data row. Ordered by series (none first), entity, then time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key<'a> {
    pub series: Option<Cow<'a, str>>,
    pub entity: Cow<'a, str>,
    pub time: Time<'a>,
}

impl Key<'_> {
    pub fn into_owned(self) -> Key<'static> {
        Key {
            series: self.series.map(|s| Cow::Owned(s.into_owned())),
            entity: Cow::Owned(self.entity.into_owned()),
            time: self.time.into_owned(),
        }
    }
}

/// A field as key text: strings as they are, other values as their JSON text.
fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// A finite number from a JSON number or a numeric string (`" 2000 "` included); -0 becomes 0.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().and_then(finite),
        Value::String(s) => number_in_text(s),
        _ => None,
    }
}

/// [`number`] of text: a JSON number's own text, or a string's value.
pub fn number_in_text(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().and_then(finite)
}

/// `n` when finite, with -0 as 0 (keys compare by [`f64::total_cmp`]).
fn finite(n: f64) -> Option<f64> {
    n.is_finite().then_some(if n == 0.0 { 0.0 } else { n })
}

fn time(v: Option<&Value>) -> Time<'_> {
    match v {
        None | Some(Value::Null) => Time::Missing,
        Some(v) => match number(v) {
            Some(n) => Time::Number(n),
            None => Time::Text(text(v)),
        },
    }
}

/// The key of a data row. A row that is not an object has the empty key.
pub fn key_of(row: &Value) -> Key<'_> {
    let Value::Object(m) = row else {
        return Key { series: None, entity: Cow::Borrowed(""), time: Time::Missing };
    };
    key_from(m.get("series"), m.get("entity"), m.get("time"))
}

/// The key of a row from its three fields, however the row is held.
pub fn key_from<'a>(series: Option<&'a Value>, entity: Option<&'a Value>, time_field: Option<&'a Value>) -> Key<'a> {
    Key {
        series: series.filter(|s| !s.is_null()).map(text),
        entity: entity.filter(|e| !e.is_null()).map(text).unwrap_or(Cow::Borrowed("")),
        time: time(time_field),
    }
}

/// `data.rows` of a chart's data part (or the data itself when it is an array).
pub fn rows_of(data: &Value) -> &[Value] {
    match data {
        Value::Array(a) => a,
        _ => data.get("rows").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_year_is_one_year_however_written() {
        let keys: Vec<Key<'_>> = [
            json!({"entity": "France", "time": 2000}),
            json!({"entity": "France", "time": 2000.0}),
            json!({"entity": "France", "time": 2e3}),
            json!({"entity": "France", "time": "2000"}),
            json!({"entity": "France", "time": " 2000 "}),
        ]
        .iter()
        .map(|r| key_of(r).into_owned())
        .collect();
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
    }

    #[test]
    fn missing_and_null_series_are_no_series() {
        let a = json!({"entity": "Chad", "time": 1});
        let b = json!({"entity": "Chad", "time": 1, "series": null});
        assert_eq!(key_of(&a), key_of(&b));
        assert_ne!(key_of(&a), key_of(&json!({"entity": "Chad", "time": 1, "series": "gdp"})));
    }

    #[test]
    fn keys_order_by_series_entity_then_numeric_time() {
        let mut rows = [
            json!({"series": "b", "entity": "A", "time": 1}),
            json!({"entity": "Z", "time": 10}),
            json!({"series": "a", "entity": "B", "time": "9"}),
            json!({"series": "a", "entity": "B", "time": 10}),
            json!({"entity": "Z", "time": 9}),
            json!({"entity": "Z", "time": "mid-2000"}),
            json!({"entity": "Z"}),
        ];
        rows.sort_by(|x, y| key_of(x).cmp(&key_of(y)));
        let order: Vec<String> = rows
            .iter()
            .map(|r| {
                format!("{}/{}/{}", r.get("series").and_then(Value::as_str).unwrap_or("-"), r["entity"], r["time"])
            })
            .collect();
        assert_eq!(
            order,
            [
                "-/\"Z\"/null",
                "-/\"Z\"/9",
                "-/\"Z\"/10",
                "-/\"Z\"/\"mid-2000\"",
                "a/\"B\"/\"9\"",
                "a/\"B\"/10",
                "b/\"A\"/1"
            ]
        );
    }

    #[test]
    fn non_string_fields_are_their_json_text() {
        let row = json!({"series": 3, "entity": true, "time": [1]});
        let k = key_of(&row);
        assert_eq!(k.series.as_deref(), Some("3"));
        assert_eq!(k.entity, "true");
        assert_eq!(k.time, Time::Text("[1]".into()));
    }

    #[test]
    fn rows_come_from_data_rows_or_a_bare_array() {
        assert_eq!(rows_of(&json!({"rows": [1, 2]})).len(), 2);
        assert_eq!(rows_of(&json!([1])).len(), 1);
        assert!(rows_of(&json!({"values": []})).is_empty());
    }
}
