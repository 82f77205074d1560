//! The audit trail: append-only. This module only ever inserts; the schema refuses updates and
//! deletes (a trigger on both SQLite and PostgreSQL).

use serde_json::Value;

use crate::db;
use crate::error::Result;

#[derive(Clone, Debug, Default)]
pub struct Event<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub branch: Option<&'a str>,
    pub chart_id: Option<&'a str>,
    pub staging_hash: Option<&'a str>,
    pub production_hash: Option<&'a str>,
    pub detail: Option<Value>,
}

pub async fn append<'c, E>(executor: E, event: Event<'_>) -> Result<()>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "insert into audit_events (at, actor, action, branch, chart_id, staging_hash, production_hash, detail)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(db::now())
    .bind(event.actor)
    .bind(event.action)
    .bind(event.branch)
    .bind(event.chart_id)
    .bind(event.staging_hash)
    .bind(event.production_hash)
    .bind(event.detail.map(|d| d.to_string()))
    .execute(executor)
    .await?;
    Ok(())
}
