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

/// Reading the trail: filters, pages, CSV, and one chart's decisions across branches.
pub mod query {
    use app::types::{AuditEvent, AuditPage, AuditQuery, DayCount};
    use futures::Stream;
    use sqlx::Row;

    use crate::db::Db;
    use crate::error::{Error, Result};

    const COLUMNS: &str = "id, at, actor, action, branch, chart_id, staging_hash, production_hash, detail";
    pub const MAX_PER_PAGE: u32 = 1000;

    /// The `where` clause and its binds for a query (binds are `$1…$n`).
    fn filter(q: &AuditQuery) -> Result<(String, Vec<String>)> {
        let mut sql = String::from(" where 1 = 1");
        let mut binds = Vec::new();
        let mut add = |clause: &str, value: String| {
            binds.push(value);
            sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
        };
        let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        if let Some(b) = given(&q.branch) {
            add(" and branch = ?", crate::branches::env_name(&b, usize::MAX));
        }
        if let Some(a) = given(&q.actor) {
            add(" and actor = ?", a.to_lowercase());
        }
        if let Some(c) = given(&q.chart_id) {
            add(" and chart_id = ?", c);
        }
        if let Some(a) = given(&q.action) {
            // `review` matches every review.* action; a full name matches itself.
            if a.contains('.') {
                add(" and action = ?", a);
            } else {
                add(" and action like ?", format!("{a}.%"));
            }
        }
        for (value, clause, name) in
            [(given(&q.since), " and at >= ?", "since"), (given(&q.until), " and at <= ?", "until")]
        {
            if let Some(v) = value {
                add(
                    clause,
                    normalise_time(&v).ok_or_else(|| {
                        Error::BadRequest(format!("{name} must be an RFC 3339 time or a date (YYYY-MM-DD), not {v:?}"))
                    })?,
                );
            }
        }
        Ok((sql, binds))
    }

    /// Accepts RFC 3339 or a bare date; returns the RFC 3339 UTC text the table stores.
    fn normalise_time(v: &str) -> Option<String> {
        if let Some(t) = crate::db::parse_time(v) {
            return Some(crate::db::format_time(t));
        }
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(v, &format).ok()?;
        Some(crate::db::format_time(date.midnight().assume_utc()))
    }

    fn event_from_row(r: &sqlx::any::AnyRow) -> Result<AuditEvent> {
        let detail: Option<String> = r.try_get(8)?;
        Ok(AuditEvent {
            id: r.try_get(0)?,
            at: r.try_get(1)?,
            actor: r.try_get(2)?,
            action: r.try_get(3)?,
            branch: r.try_get(4)?,
            chart_id: r.try_get(5)?,
            staging_hash: r.try_get(6)?,
            production_hash: r.try_get(7)?,
            detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
        })
    }

    pub async fn list(db: &Db, q: &AuditQuery) -> Result<AuditPage> {
        let (clause, binds) = filter(q)?;
        let per_page = q.per_page.unwrap_or(100);
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(Error::BadRequest(format!("per_page must be between 1 and {MAX_PER_PAGE}")));
        }
        let page = q.page.unwrap_or(1).max(1);
        let count_sql = format!("select count(*) from audit_events{clause}");
        let count = crate::db::bind_all(sqlx::query(&count_sql), &binds);
        let total: i64 = count.fetch_one(&db.pool).await?.try_get(0)?;
        let sql = format!(
            "select {COLUMNS} from audit_events{clause} order by id desc limit {per_page} offset {}",
            (page as u64 - 1) * per_page as u64
        );
        let query = crate::db::bind_all(sqlx::query(&sql), &binds);
        let events = query.fetch_all(&db.pool).await?.iter().map(event_from_row).collect::<Result<_>>()?;
        let per_day_sql = format!(
            "select substr(at, 1, 10) as day, actor, count(*) from audit_events{clause}
             and action in ('review.approve', 'review.reject', 'review.reset')
             group by substr(at, 1, 10), actor order by day, actor"
        );
        let per_day = crate::db::bind_all(sqlx::query(&per_day_sql), &binds);
        let per_day = per_day
            .fetch_all(&db.pool)
            .await?
            .iter()
            .map(|r| Ok(DayCount { day: r.try_get(0)?, actor: r.try_get(1)?, decisions: r.try_get(2)? }))
            .collect::<Result<_>>()?;
        Ok(AuditPage { events, total, page, per_page, per_day })
    }

    /// Every decision on one chart, across branches, newest first.
    pub async fn chart_history(db: &Db, chart_id: &str) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query(&format!(
            "select {COLUMNS} from audit_events where chart_id = $1 and action like 'review.%' order by id desc limit 500"
        ))
        .bind(chart_id)
        .fetch_all(&db.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    pub const CSV_HEADER: &str = "id,at,actor,action,branch,chart_id,staging_hash,production_hash,detail\n";

    fn csv_line(e: &AuditEvent) -> String {
        let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
        let detail = e.detail.as_ref().map(|d| d.to_string()).unwrap_or_default();
        let _ = w.write_record([
            e.id.to_string().as_str(),
            &e.at,
            &e.actor,
            &e.action,
            e.branch.as_deref().unwrap_or(""),
            e.chart_id.as_deref().unwrap_or(""),
            e.staging_hash.as_deref().unwrap_or(""),
            e.production_hash.as_deref().unwrap_or(""),
            &detail,
        ]);
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }

    /// The matching events as CSV, oldest first, read 1,000 at a time (keyset on `id`) so an
    /// export of any size streams in constant memory.
    pub fn csv_stream(db: Db, q: AuditQuery) -> Result<impl Stream<Item = Result<String, std::io::Error>>> {
        let (clause, binds) = filter(&q)?;
        let sql =
            format!("select {COLUMNS} from audit_events{clause} and id > ${} order by id limit 1000", binds.len() + 1);
        let start = futures::stream::once(async { Ok(CSV_HEADER.to_string()) });
        let pages = futures::stream::unfold(Some(0i64), move |after| {
            let (db, sql, binds) = (db.clone(), sql.clone(), binds.clone());
            async move {
                let after = after?;
                let query = crate::db::bind_all(sqlx::query(&sql), &binds);
                let rows = match query.bind(after).fetch_all(&db.pool).await {
                    Ok(rows) => rows,
                    Err(e) => return Some((Err(std::io::Error::other(e)), None)),
                };
                let events: Vec<AuditEvent> = match rows.iter().map(event_from_row).collect::<Result<_>>() {
                    Ok(e) => e,
                    Err(e) => return Some((Err(std::io::Error::other(e.to_string())), None)),
                };
                let last = events.last().map(|e| e.id)?;
                let chunk: String = events.iter().map(csv_line).collect();
                Some((Ok(chunk), Some(last)))
            }
        });
        Ok(futures::StreamExt::chain(start, pages))
    }
}
