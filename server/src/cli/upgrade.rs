//! `chartgate upgrade BRANCH --from D --to D [--dry-run] [--yes]` and
//! `chartgate upgrade undo BRANCH ID` (design §9).
//!
//! Prints the proposed mapping as a table, asks before applying unless `--yes` (a dry run never
//! asks), and shows progress on a terminal while the charts are written.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};

use app::upgrades::{ChartOutcome, Preview, PreviewRequest, UpgradeRequest};

use crate::access::Actor;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::upgrades::{self, apply};

fn percent(x: Option<f64>) -> String {
    x.map(|r| format!("{:.1}%", r * 100.0)).unwrap_or_else(|| "-".into())
}

/// The mapping as a table: ids and figures on one line, the names under them.
pub fn mapping_table(p: &Preview) -> String {
    let old_w = p.pairs.iter().map(|x| x.old.len()).max().unwrap_or(3).max(3);
    let new_w = p.pairs.iter().filter_map(|x| x.new.as_ref().map(String::len)).max().unwrap_or(3).max(14);
    let mut out = format!(
        "{:<old_w$}  {:<new_w$}  {:>5}  {:>11}  {:>7}  {:>8}\n",
        "OLD", "NEW", "SCORE", "ROWS COMMON", "CHANGED", "MAX CHG"
    );
    for pair in &p.pairs {
        out.push_str(&format!(
            "{:<old_w$}  {:<new_w$}  {:>5}  {:>11}  {:>7}  {:>8}\n",
            pair.old,
            pair.new.as_deref().unwrap_or("- (left alone)"),
            if pair.new.is_some() { format!("{:.2}", pair.score) } else { "-".into() },
            format!("{}/{}", pair.rows_in_common, pair.old_rows),
            pair.values_changed,
            percent(pair.max_relative_change),
        ));
        let new_name = pair.new_name.as_deref().map(|n| format!(" -> {n:?}")).unwrap_or_default();
        out.push_str(&format!("    {:?}{new_name}\n", pair.old_name));
    }
    for id in &p.unmatched_new {
        out.push_str(&format!("new indicator nothing maps to: {id}\n"));
    }
    out
}

fn print_outcomes(charts: &[ChartOutcome], done: &str) {
    let n = |o: &str| charts.iter().filter(|c| c.outcome == o).count();
    println!("{} {done}, {} unchanged, {} skipped", n(apply::UPDATED), n(apply::UNCHANGED), n(apply::SKIPPED));
    for c in charts.iter().filter(|c| c.outcome == apply::SKIPPED) {
        println!("  skipped {:<24} {}", c.chart_id, c.reason.as_deref().unwrap_or(""));
    }
}

fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::BadRequest("not a terminal: pass --yes to apply without asking".into()));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush().map_err(Error::internal)?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(Error::internal)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub async fn run(
    state: &AppState,
    actor: &Actor,
    branch: &str,
    from: &str,
    to: &str,
    dry_run: bool,
    yes: bool,
) -> Result<()> {
    let preview = upgrades::preview(state, actor, branch, &PreviewRequest { from: from.into(), to: to.into() }).await?;
    print!("{}", mapping_table(&preview));
    println!("{} charts draw an indicator of {}", preview.charts.len(), preview.from);
    let mapping: BTreeMap<String, Option<String>> =
        preview.pairs.iter().filter(|p| p.new.is_some()).map(|p| (p.old.clone(), p.new.clone())).collect();
    if mapping.is_empty() {
        return Err(Error::Unprocessable(format!("no indicator of {from} matches one of {to}: nothing to apply")));
    }
    if !dry_run && !yes && !confirm(&format!("apply these {} matches to branch {}?", mapping.len(), branch))? {
        println!("nothing applied");
        return Ok(());
    }
    let req = UpgradeRequest { from: from.into(), to: to.into(), mapping, dry_run };
    let plan = apply::plan(state, actor, branch, &req).await?;
    let bar = crate::progress::bar(plan.charts.len() as u64, "upgrading");
    let result = apply::execute(state, actor, plan, dry_run, &bar).await?;
    bar.finish_and_clear();
    match result.id {
        Some(id) => println!("upgrade {id} applied to branch {}", state.env_name(branch)),
        None => println!("dry run: nothing written"),
    }
    print_outcomes(&result.charts, "updated");
    if let Some(id) = result.id {
        println!("review it: /branches/{}?upgrade={id}", state.env_name(branch));
    }
    Ok(())
}

pub async fn undo(state: &AppState, actor: &Actor, branch: &str, id: i64) -> Result<()> {
    let result = upgrades::undo(state, actor, branch, id).await?;
    println!("upgrade {id} undone");
    print_outcomes(&result.charts, "restored");
    Ok(())
}
