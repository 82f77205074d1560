//! A chart version's data rows as the layouts read them (DESIGN §3): the row's key, the fields a
//! chart shows, and its value as a number.
//!
//! The key comes from [`crate::rows::key_of`], the same function canonicalisation and the
//! server's data diff use, so a point highlighted as changed here is a row the data diff lists,
//! whatever way the export wrote its time (`2000`, `2000.0`, `"2000"`) or its missing series.

use serde_json::Value;

use crate::rows::{key_of, number, rows_of, Key};

/// One data row. The display fields are the key's, as text; `time` and `value` keep the JSON the
/// export wrote, for the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The row's identity: (`series`, `entity`, `time`).
    pub key: Key<'static>,
    pub series: Option<String>,
    pub entity: String,
    pub time: Value,
    pub value: Value,
    /// `value` as a finite number, if it is one (numeric strings count).
    pub num: Option<f64>,
}

/// The line a row is drawn on: (series, entity).
pub type LineKey = (Option<String>, String);

impl Row {
    pub fn line_key(&self) -> LineKey {
        (self.series.clone(), self.entity.clone())
    }
}

/// `data.rows` (or `data` itself when it is an array); anything that is not an object is skipped.
pub fn parse_rows(data: &Value) -> Vec<Row> {
    rows_of(data)
        .iter()
        .filter_map(|r| {
            let o = r.as_object()?;
            let key = key_of(r).into_owned();
            let value = o.get("value").cloned().unwrap_or(Value::Null);
            Some(Row {
                series: key.series.as_deref().map(str::to_owned),
                entity: key.entity.to_string(),
                time: o.get("time").cloned().unwrap_or(Value::Null),
                num: number(&value),
                value,
                key,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::Time;
    use serde_json::json;

    #[test]
    fn rows_carry_the_shared_key_and_their_display_fields() {
        let r = parse_rows(&json!({"rows": [
            {"entity": "France", "time": "2000", "value": " 1.5 ", "series": null},
            {"series": 3, "entity": null, "value": null},
            "not a row",
        ]}));
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].key, key_of(&json!({"entity": "France", "time": 2000})));
        assert_eq!((r[0].series.as_deref(), r[0].entity.as_str(), r[0].num), (None, "France", Some(1.5)));
        assert_eq!(r[0].time, json!("2000"));
        assert_eq!((r[1].series.as_deref(), r[1].entity.as_str(), r[1].num), (Some("3"), "", None));
        assert_eq!(r[1].key.time, Time::Missing);
    }
}
