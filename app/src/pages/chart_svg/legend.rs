//! Colours, series labels and the legend.
//!
//! Both sides of a comparison are drawn separately, yet an entity must have the same colour on
//! each: [`Colors`] hands out palette slots by sorted key over the rows of both sides. The line,
//! bar and scatter layouts label and colour their marks through here, so they agree too.

use std::collections::{BTreeMap, BTreeSet};

use super::rows::Row;

/// Fill / stroke colours, and the darker variant used for emphasised (changed) marks.
pub const PALETTE: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
pub const PALETTE_DARK: [&str; 10] =
    ["#2c4a6e", "#a85a0c", "#9c2224", "#3f7c77", "#33692b", "#9a7e0f", "#74466a", "#c2404f", "#5e4536", "#6f6561"];
pub const MAX_LEGEND: usize = 8;

/// Palette slots by sorted key over both sides, so an entity has the same colour on each side.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Colors(BTreeMap<String, usize>);

impl Colors {
    pub fn new(keys: impl IntoIterator<Item = String>) -> Colors {
        let set: BTreeSet<String> = keys.into_iter().collect();
        Colors(set.into_iter().enumerate().map(|(i, k)| (k, i)).collect())
    }

    pub fn index(&self, key: &str) -> usize {
        self.0.get(key).copied().unwrap_or(0) % PALETTE.len()
    }
}

/// The colour key of a (series, entity) line.
pub fn line_color_key(series: &Option<String>, entity: &str) -> String {
    format!("{}\u{1f}{entity}", series.as_deref().unwrap_or(""))
}

/// The label of a (series, entity) line: the entity, with the series when the chart has several.
pub fn line_label(series: &Option<String>, entity: &str, multi_series: bool) -> String {
    let entity = if entity.is_empty() { "(no entity)" } else { entity };
    match series {
        Some(s) if multi_series => format!("{entity} · {s}"),
        _ => entity.to_owned(),
    }
}

/// The rows name more than one series (a missing series counts as one).
pub fn multi_series(rows: &[Row]) -> bool {
    let mut first: Option<&Option<String>> = None;
    rows.iter().any(|r| match first {
        None => {
            first = Some(&r.series);
            false
        }
        Some(f) => *f != r.series,
    })
}

#[derive(Clone, Debug, PartialEq)]
pub struct LegendEntry {
    pub label: String,
    pub color: usize,
    pub changed: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Legend {
    pub entries: Vec<LegendEntry>,
    /// Entries left out ("+N more").
    pub more: usize,
}

/// The first [`MAX_LEGEND`] entries; the rest and `hidden` (marks not drawn at all) are counted.
pub fn legend(mut entries: Vec<LegendEntry>, hidden: usize) -> Legend {
    let more = entries.len().saturating_sub(MAX_LEGEND) + hidden;
    entries.truncate(MAX_LEGEND);
    Legend { entries, more }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_palette_slots_by_sorted_key() {
        let colors = Colors::new(["b".to_owned(), "a".to_owned(), "b".to_owned()]);
        assert_eq!((colors.index("a"), colors.index("b"), colors.index("unknown")), (0, 1, 0));
    }

    #[test]
    fn legend_counts_what_it_leaves_out() {
        let entries = (0..10).map(|i| LegendEntry { label: i.to_string(), color: 0, changed: false }).collect();
        let l = legend(entries, 3);
        assert_eq!((l.entries.len(), l.more), (MAX_LEGEND, 5));
        assert_eq!(line_label(&Some("gdp".into()), "", true), "(no entity) · gdp");
    }
}
