//! Fixtures for the chart tests: rows and versions from JSON literals, written once for every
//! module's tests.

use serde_json::{json, Value};

use super::rows::{parse_rows, Row};
use crate::types::ChartVersion;

/// The rows of a `data.rows` array.
pub fn rows(v: Value) -> Vec<Row> {
    parse_rows(&json!({ "rows": v }))
}

pub fn version(config: Value, data: Value) -> ChartVersion {
    ChartVersion { hash: "h".into(), slug: "s".into(), config, data, metadata: json!({}), ..Default::default() }
}
