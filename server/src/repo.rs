//! Repositories: the SQL of Chartgate's own database, one module per table (or view), each
//! taking the database (or a transaction) — never the application state. Rows are read by
//! column name (`FromRow` structs); nothing here decides policy, except where SQL is the one
//! place a rule is defined (the `item_decisions` view, see [`items`]).
//!
//! Layer: below the features, above the leaves and the engine; repositories never call a feature.

pub mod audit;
pub mod branches;
pub mod comments;
pub mod items;
pub mod jobs;
pub mod pull_requests;
pub mod requests;
pub mod reviews;
pub mod states;
pub mod upgrades;
pub mod users;
pub mod versions;
