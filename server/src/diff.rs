//! The diff engine: which charts a branch changed (three-way classification) and what exactly
//! changed in each (config, data and metadata diffs).

pub mod classify;
pub mod detail;
pub mod merge;

pub use classify::{classify, classify_without_base, Classification, Side};
