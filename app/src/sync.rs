//! Wire types of sync jobs (filled in by the sync work).
