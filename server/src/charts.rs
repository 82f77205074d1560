//! Charts: the stores that hold them (design §3) and their canonical versions.

pub mod store;
pub mod version;

pub use store::{ChartStore, RawChart, Stamp, StorePools};
pub use version::{canonicalize, raw_fingerprint, CanonicalChart};
