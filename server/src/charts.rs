//! Charts: the stores that hold them (design §3), rows as stored, and their canonical versions.
//! Part of the engine: no knowledge of Chartgate's own database, branches or reviews.

pub mod canonical;
pub mod indicators;
pub mod raw;
pub mod store;

pub use canonical::{canonicalize, raw_fingerprint, CanonicalChart};
pub use raw::{RawChart, Stamp};
pub use store::{ChartStore, StorePools};
