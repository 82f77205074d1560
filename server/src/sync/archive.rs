//! Archiving merged branches once `archive_after` has passed since their merge. Their reviews and
//! audit trail stay.

use std::time::Duration;

use crate::access::Actor;
use crate::branches;
use crate::db;
use crate::error::{Error, Result};
use crate::repo::branches as rows;
use crate::state::AppState;

/// Archives merged branches whose `merged_at` is `archive_after` or more before `now`; returns
/// their names.
pub async fn archive_merged(state: &AppState, now: time::OffsetDateTime) -> Result<Vec<String>> {
    let keep = state.config.archive_after();
    let mut archived = Vec::new();
    for merged in rows::merged(&state.db).await? {
        let Some(at) = db::parse_time(&merged.merged_at) else { continue };
        if now - at < keep {
            continue;
        }
        match branches::archive(state, &Actor::system(), &merged.name).await {
            Ok(_) => archived.push(merged.name),
            Err(Error::Conflict(_)) => {} // archived meanwhile
            Err(e) => return Err(e),
        }
    }
    Ok(archived)
}

/// Checks every minute (or more often when `archive_after` is shorter).
pub(super) async fn sweep(state: AppState) {
    let every = state.config.archive_after().clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match archive_merged(&state, time::OffsetDateTime::now_utc()).await {
            Ok(names) if !names.is_empty() => tracing::info!(?names, "archived merged branches"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "archive sweep failed"),
        }
    }
}
