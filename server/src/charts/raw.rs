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

/// What an incremental scan reads of every row: enough to tell whether it moved.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct Stamp {
    pub id: String,
    pub updated_at: String,
}
