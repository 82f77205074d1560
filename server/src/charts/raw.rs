//! A chart exactly as a store holds it: one row of the `charts` table (design §3).

/// One row of `charts`, exactly as stored.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct RawChart {
    pub id: String,
    pub slug: String,
    pub config: String,
    pub data: String,
    pub metadata: String,
    pub updated_at: String,
}

/// Marks the config of a chart whose stored form could not be read at all (a file store's file
/// that is not text, or that failed to read): no stored JSON starts with a NUL.
const UNREADABLE: &str = "\u{0}unreadable: ";

impl RawChart {
    /// A chart a store holds but could not read; `why` says what failed. Its config carries the
    /// reason, so the scan's error item names it (see [`RawChart::unreadable_because`]) instead
    /// of a JSON parse error of the reason.
    pub fn unreadable(id: &str, why: impl std::fmt::Display, updated_at: String) -> RawChart {
        RawChart {
            id: id.to_string(),
            slug: id.to_string(),
            config: format!("{UNREADABLE}{why}"),
            data: String::new(),
            metadata: String::new(),
            updated_at,
        }
    }

    /// Why the store could not read this chart, for one made by [`RawChart::unreadable`].
    pub fn unreadable_because(&self) -> Option<&str> {
        self.config.strip_prefix(UNREADABLE)
    }
}

/// What an incremental scan reads of every row: enough to tell whether it moved.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Stamp {
    pub id: String,
    pub updated_at: String,
}
