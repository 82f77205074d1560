//! The table layout, for `type: table` and for every chart type Chartgate cannot draw: the first
//! [`MAX_TABLE_ROWS`] rows as the export wrote them, changed rows marked.

use super::compare::Status;
use super::format::display;
use super::rows::Row;

pub const MAX_TABLE_ROWS: usize = 50;

#[derive(Clone, Debug, PartialEq)]
pub struct TableRow {
    pub entity: String,
    pub time: String,
    pub value: String,
    pub series: String,
    pub status: Status,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TableModel {
    pub rows: Vec<TableRow>,
    /// Rows not shown (over [`MAX_TABLE_ROWS`]).
    pub more: usize,
}

pub fn table(rows: &[Row], statuses: &[Status]) -> TableModel {
    let shown = rows
        .iter()
        .zip(statuses)
        .take(MAX_TABLE_ROWS)
        .map(|(r, &status)| TableRow {
            entity: r.entity.clone(),
            time: display(&r.time),
            value: display(&r.value),
            series: r.series.clone().unwrap_or_default(),
            status,
        })
        .collect();
    TableModel { rows: shown, more: rows.len().saturating_sub(MAX_TABLE_ROWS) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::chart_svg::testing::rows;
    use serde_json::{json, Value};

    #[test]
    fn table_is_capped_with_a_count_of_the_rest() {
        let r: Vec<Row> = rows(Value::Array((0..120).map(|i| json!({"entity": "A", "time": i, "value": i})).collect()));
        let t = table(&r, &vec![Status::Same; r.len()]);
        assert_eq!((t.rows.len(), t.more), (MAX_TABLE_ROWS, 70));
    }
}
