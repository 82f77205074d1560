//! The audit trail: append-only. This module only ever inserts and reads; the schema refuses
//! updates and deletes (a trigger on both SQLite and PostgreSQL).

use app::types::{AuditEvent, AuditPage, AuditQuery, DayCount};
use futures::Stream;
use serde_json::Value;

use crate::db::{self, Count, Db, Filter};
use crate::error::{Error, Result};

/// The columns every append writes, in the order both appends bind them.
const INSERT: &str =
    "insert into audit_events (at, actor, action, branch, chart_id, staging_hash, production_hash, detail)";

/// One event to append.
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
    sqlx::query(&format!("{INSERT} values ($1, $2, $3, $4, $5, $6, $7, $8)"))
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

/// Appends many events in multi-row statements (a sync plan's skipped items: thousands at once,
/// inside the transaction that holds SQLite's one writer).
pub async fn append_many(conn: &mut sqlx::AnyConnection, events: &[Event<'_>]) -> Result<()> {
    let at = db::now();
    let rows: Vec<(&Event<'_>, Option<String>)> =
        events.iter().map(|e| (e, e.detail.as_ref().map(Value::to_string))).collect();
    db::insert_rows(conn, &format!("{INSERT} values {{values}}"), 8, &rows, |row, (e, detail)| {
        row.push(at.as_str())
            .push(e.actor)
            .push(e.action)
            .push(e.branch)
            .push(e.chart_id)
            .push(e.staging_hash)
            .push(e.production_hash)
            .push(detail.as_deref());
    })
    .await?;
    Ok(())
}

const COLUMNS: &str = "id, at, actor, action, branch, chart_id, staging_hash, production_hash, detail";
pub const MAX_PER_PAGE: u32 = 1000;

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    at: String,
    actor: String,
    action: String,
    branch: Option<String>,
    chart_id: Option<String>,
    staging_hash: Option<String>,
    production_hash: Option<String>,
    detail: Option<String>,
}

impl From<EventRow> for AuditEvent {
    fn from(r: EventRow) -> Self {
        AuditEvent {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            branch: r.branch,
            chart_id: r.chart_id,
            staging_hash: r.staging_hash,
            production_hash: r.production_hash,
            detail: r.detail.and_then(|d| serde_json::from_str(&d).ok()),
        }
    }
}

/// At most this many entries in one `action` list.
pub const MAX_ACTIONS: usize = 32;

/// One entry of the `action` filter: an exact action name, or every action under a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionMatch {
    /// `review.dismiss`: that action only.
    Exact(String),
    /// `review.*` (or the bare `review`, its older spelling): every action that begins `review.`.
    Prefix(String),
}

/// A segment of an action name: a lower-case letter or digit, then letters, digits and `_`.
fn is_segment(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Parses the `action` filter: a comma-separated list of exact action names (`review.dismiss`)
/// and prefixes (`review.*`); a bare name without a dot (`review`) reads as `review.*`, as it
/// always has. Empty (or only spaces) is no filter. Anything else is a 400 that says what is
/// accepted.
pub fn parse_actions(text: &str) -> Result<Vec<ActionMatch>> {
    // Spaces only (not tabs or other white space): exactly what the OpenAPI pattern of `action`
    // says, so a request the document calls valid is never refused, nor the other way round.
    let text = text.trim_matches(' ');
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<&str> = text.split(',').map(|e| e.trim_matches(' ')).collect();
    if entries.len() > MAX_ACTIONS {
        return Err(Error::BadRequest(format!("action: at most {MAX_ACTIONS} actions, not {}", entries.len())));
    }
    let mut out = Vec::new();
    for entry in entries {
        let bad = || {
            Error::BadRequest(format!(
                "action: {entry:?} is neither an action name (review.dismiss) nor a prefix (review.*); \
                 give one or more, separated by commas, in lower case"
            ))
        };
        if entry.is_empty() {
            return Err(Error::BadRequest(
                "action: an empty entry in the list; separate action names (review.dismiss) or prefixes \
                 (review.*) by single commas"
                    .into(),
            ));
        }
        let (name, prefix) = match entry.strip_suffix(".*") {
            Some(p) => (p, true),
            None => (entry, !entry.contains('.')),
        };
        if !name.split('.').all(is_segment) {
            return Err(bad());
        }
        let m = if prefix { ActionMatch::Prefix(name.to_string()) } else { ActionMatch::Exact(name.to_string()) };
        if !out.contains(&m) {
            out.push(m);
        }
    }
    Ok(out)
}

/// The `where` clause of a query (after `where 1 = 1`). `branch` is the environment name the
/// caller resolved.
fn filter(q: &AuditQuery, branch: Option<String>) -> Result<Filter> {
    let given = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    // The actions first: one clause with a placeholder per entry, which `Filter::and` (one value
    // per clause) cannot number, so its binds start the filter.
    let actions = parse_actions(q.action.as_deref().unwrap_or(""))?;
    let mut binds = Vec::new();
    let mut alternatives = Vec::new();
    for m in &actions {
        binds.push(match m {
            // The prefix is a literal: `_` in it matches only itself.
            ActionMatch::Prefix(p) => format!("{}.%", db::like_pattern(p, false, false)),
            ActionMatch::Exact(a) => a.clone(),
        });
        let n = binds.len();
        alternatives.push(match m {
            ActionMatch::Prefix(_) => format!("action like ${n} escape '\\'"),
            ActionMatch::Exact(_) => format!("action = ${n}"),
        });
    }
    let mut f = Filter::after(binds);
    if !alternatives.is_empty() {
        f.and_raw(&format!("({})", alternatives.join(" or ")));
    }
    if let Some(b) = branch {
        f.and("branch = ?", b);
    }
    if let Some(a) = given(&q.actor) {
        f.and("actor = ?", a.to_lowercase());
    }
    if let Some(c) = given(&q.chart_id) {
        f.and("chart_id = ?", c);
    }
    for (value, clause, name) in [(given(&q.since), "at >= ?", "since"), (given(&q.until), "at <= ?", "until")] {
        if let Some(v) = value {
            let at = normalise_time(&v).ok_or_else(|| {
                Error::BadRequest(format!("{name} must be an RFC 3339 time or a date (YYYY-MM-DD), not {v:?}"))
            })?;
            f.and(clause, at);
        }
    }
    Ok(f)
}

/// Accepts RFC 3339 or a bare date; returns the RFC 3339 UTC text the table stores.
fn normalise_time(v: &str) -> Option<String> {
    if let Some(t) = db::parse_time(v) {
        return Some(db::format_time(t));
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(v, &format).ok()?;
    Some(db::format_time(date.midnight().assume_utc()))
}

#[derive(sqlx::FromRow)]
struct DayRow {
    day: String,
    actor: String,
    decisions: i64,
}

/// A page of matching events, newest first, with decisions per day and reviewer over all of them.
pub async fn list(db: &Db, q: &AuditQuery, branch: Option<String>) -> Result<AuditPage> {
    let f = filter(q, branch)?;
    let clause = f.sql();
    let per_page = q.per_page.unwrap_or(100);
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(Error::BadRequest(format!("per_page must be between 1 and {MAX_PER_PAGE}")));
    }
    let page = q.page.unwrap_or(1).max(1);
    let count_sql = format!("select count(*) as n from audit_events where 1 = 1{clause}");
    let total: Count = sqlx::query_as_with(&count_sql, f.arguments()).fetch_one(&db.pool).await?;
    let sql = format!(
        "select {COLUMNS} from audit_events where 1 = 1{clause} order by id desc limit {per_page} offset {}",
        (page as u64 - 1) * per_page as u64
    );
    let events: Vec<EventRow> = sqlx::query_as_with(&sql, f.arguments()).fetch_all(&db.pool).await?;
    let per_day_sql = format!(
        "select substr(at, 1, 10) as day, actor, count(*) as decisions from audit_events where 1 = 1{clause}
         and action in ('review.approve', 'review.reject', 'review.reset')
         group by substr(at, 1, 10), actor order by day, actor"
    );
    let per_day: Vec<DayRow> = sqlx::query_as_with(&per_day_sql, f.arguments()).fetch_all(&db.pool).await?;
    Ok(AuditPage {
        events: events.into_iter().map(AuditEvent::from).collect(),
        total: total.n,
        page,
        per_page,
        per_day: per_day.into_iter().map(|r| DayCount { day: r.day, actor: r.actor, decisions: r.decisions }).collect(),
    })
}

/// Every decision on one chart, and every merge into it, across branches, newest first.
pub async fn chart_history(db: &Db, chart_id: &str) -> Result<Vec<AuditEvent>> {
    let rows: Vec<EventRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from audit_events where chart_id = $1 and (action like 'review.%' or action = 'merge.apply') order by id desc limit 500"
    ))
    .bind(chart_id)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows.into_iter().map(AuditEvent::from).collect())
}

pub const CSV_HEADER: &str = "id,at,actor,action,branch,chart_id,staging_hash,production_hash,detail\n";

/// A cell a spreadsheet will read as text, never as a formula (OWASP, "CSV Injection"): a cell
/// that begins with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`. Chart ids,
/// slugs, branch names and comments are whatever their authors typed, and a lead opening the
/// export in a spreadsheet would otherwise run `=HYPERLINK(…)` or worse as a live formula.
fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// One event as a CSV record. Every cell is quoted (OWASP again): a spreadsheet set to split on
/// `;` or tabs cannot cut a cell open and find a formula inside it.
fn csv_line(e: &AuditEvent) -> String {
    let mut w =
        csv::WriterBuilder::new().has_headers(false).quote_style(csv::QuoteStyle::Always).from_writer(Vec::new());
    let detail = e.detail.as_ref().map(|d| d.to_string()).unwrap_or_default();
    let _ = w.write_record(
        [
            e.id.to_string().as_str(),
            &e.at,
            &e.actor,
            &e.action,
            e.branch.as_deref().unwrap_or(""),
            e.chart_id.as_deref().unwrap_or(""),
            e.staging_hash.as_deref().unwrap_or(""),
            e.production_hash.as_deref().unwrap_or(""),
            &detail,
        ]
        .map(inert)
        .iter()
        .map(|c| c.as_bytes()),
    );
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The matching events as CSV, oldest first, read 1,000 at a time (keyset on `id`) so an
/// export of any size streams in constant memory.
pub fn csv_stream(
    db: Db,
    q: AuditQuery,
    branch: Option<String>,
) -> Result<impl Stream<Item = Result<String, std::io::Error>>> {
    let f = filter(&q, branch)?;
    let sql = format!(
        "select {COLUMNS} from audit_events where 1 = 1{} and id > ${} order by id limit 1000",
        f.sql(),
        f.next_placeholder()
    );
    let binds = f.binds().to_vec();
    let start = futures::stream::once(async { Ok(CSV_HEADER.to_string()) });
    let pages = futures::stream::unfold(Some(0i64), move |after| {
        let (db, sql, binds) = (db.clone(), sql.clone(), binds.clone());
        async move {
            let after = after?;
            let mut arguments = db::arguments(&binds);
            if let Err(e) = sqlx::Arguments::add(&mut arguments, after) {
                return Some((Err(std::io::Error::other(e)), None));
            }
            let rows: Vec<EventRow> = match sqlx::query_as_with(&sql, arguments).fetch_all(&db.pool).await {
                Ok(rows) => rows,
                Err(e) => return Some((Err(std::io::Error::other(e)), None)),
            };
            let events: Vec<AuditEvent> = rows.into_iter().map(AuditEvent::from).collect();
            let last = events.last().map(|e| e.id)?;
            let chunk: String = events.iter().map(csv_line).collect();
            Some((Ok(chunk), Some(last)))
        }
    });
    Ok(futures::StreamExt::chain(start, pages))
}

#[cfg(test)]
mod tests {
    use super::{filter, inert, parse_actions, ActionMatch, AuditQuery, MAX_ACTIONS};
    use crate::error::Error;

    #[test]
    fn action_lists_parse_into_names_and_prefixes() {
        use ActionMatch::{Exact, Prefix};
        assert_eq!(parse_actions("").unwrap(), []);
        assert_eq!(parse_actions("  ").unwrap(), []);
        assert_eq!(parse_actions("review.dismiss").unwrap(), [Exact("review.dismiss".into())]);
        assert_eq!(parse_actions("review.*").unwrap(), [Prefix("review".into())]);
        // The older spelling of a family: a bare name.
        assert_eq!(parse_actions("branch").unwrap(), [Prefix("branch".into())]);
        assert_eq!(
            parse_actions(" review.dismiss, comment.add ,sync.*,review.dismiss").unwrap(),
            [Exact("review.dismiss".into()), Exact("comment.add".into()), Prefix("sync".into())]
        );
        assert_eq!(parse_actions("session.sign_in").unwrap(), [Exact("session.sign_in".into())]);
        assert_eq!(parse_actions("review.group.*").unwrap(), [Prefix("review.group".into())]);
    }

    #[test]
    fn action_lists_refuse_what_they_cannot_read() {
        for bad in [
            "review.",
            "review*",
            "*",
            ".*",
            "review.*.x",
            "review.%",
            "review_%",
            "Review.approve",
            "a..b",
            "review,,sync.*",
            "review,",
            ",review",
            "review approve",
            "review.appr*",
            "_review",
            "sync.-",
        ] {
            match parse_actions(bad) {
                Err(Error::BadRequest(m)) => assert!(m.starts_with("action: "), "{bad:?}: {m}"),
                other => panic!("{bad:?} must be a 400: {other:?}"),
            }
        }
        let many = vec!["review.approve"; MAX_ACTIONS + 1].join(",");
        assert!(matches!(parse_actions(&many), Err(Error::BadRequest(_))));
    }

    #[test]
    fn the_action_clause_numbers_its_placeholders_before_the_others() {
        let q = AuditQuery {
            action: Some("review.*,comment.add".into()),
            actor: Some("Lead@Example.org".into()),
            ..Default::default()
        };
        let f = filter(&q, Some("feature-x".into())).unwrap();
        assert_eq!(f.sql(), " and (action like $1 escape '\\' or action = $2) and branch = $3 and actor = $4");
        assert_eq!(f.binds(), ["review.%", "comment.add", "feature-x", "lead@example.org"]);
        assert_eq!(f.next_placeholder(), 5);
        let none = filter(&AuditQuery { action: Some(" ".into()), ..Default::default() }, None).unwrap();
        assert_eq!((none.sql(), none.binds().len()), ("", 0));
    }

    #[test]
    fn cells_that_would_start_a_formula_are_made_text() {
        for cell in ["=HYPERLINK(\"http://x\")", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(inert(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in ["chart-1", "a=b", "", "'quoted"] {
            assert_eq!(inert(cell), cell, "{cell:?}");
        }
    }
}
