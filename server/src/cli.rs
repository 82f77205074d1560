//! The `chartgate` command line (design §5). Every subcommand reads the configuration of §7;
//! errors go to stderr with a non-zero exit; long work shows progress on a terminal.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use app::types::Role;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::branches::{self, NewBranch};
use crate::config::Config;
use crate::demo::{self, DemoOptions};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::{auth, web};

#[derive(Parser, Debug)]
#[command(name = "chartgate", version, about = "Review chart changes between staging and production")]
pub struct Cli {
    /// Configuration file (default: chartgate.toml in the working directory).
    #[arg(long, global = true, env = "CHARTGATE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Migrate, then serve the web UI and the API.
    Serve,
    /// Apply Chartgate's own migrations.
    Migrate,
    /// Create demo production and staging stores and register their branches.
    Demo {
        #[arg(long, default_value_t = 300)]
        charts: usize,
        /// Data rows per chart (default: varied, about 60 to 180).
        #[arg(long)]
        rows: Option<usize>,
        #[arg(long, default_value_t = 7)]
        seed: u64,
    },
    /// Staging environments.
    Branch {
        #[command(subcommand)]
        command: BranchCommand,
    },
    /// Users.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// API tokens.
    Tokens {
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Enqueue a sync of a branch's approved charts to production (and wait for it, with progress).
    Sync {
        branch: String,
        /// Compute every outcome; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run the job here (beside any server) and wait until it ends.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum BranchCommand {
    /// Register a staging environment and take its baseline.
    Add {
        branch: String,
        /// URL of the branch's staging store.
        #[arg(long, conflicts_with = "fork", required_unless_present = "fork")]
        store: Option<String>,
        /// Create the store from `staging_url_template` as a copy of production first.
        #[arg(long)]
        fork: bool,
        #[arg(long)]
        preview_url: Option<String>,
    },
    /// List staging environments with their counts.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Archive a branch (its reviews and audit stay).
    Archive { branch: String },
    /// Rescan a branch's stores now.
    Rescan {
        branch: String,
        /// Re-read every chart, not only those whose `updated_at` moved.
        #[arg(long)]
        full: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Create a user.
    Add {
        email: String,
        #[arg(long, value_parser = ["viewer", "reviewer", "lead"])]
        role: String,
        /// Read the password from standard input (for signing in to the web UI).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Create an API token; printed as the last line of stdout.
    Create { email: String },
}

/// A progress bar on a terminal; hidden otherwise (logs and pipes stay clean).
pub fn progress(len: u64, message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(message);
    if let Ok(style) = ProgressStyle::with_template("{msg:>20} [{bar:40}] {pos}/{len} ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

const CLI_ACTOR: &str = "cli";

pub async fn run(cli: Cli) -> Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve => web::serve(AppState::new(config).await?).await,
        Command::Migrate => {
            AppState::new(config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Demo { charts, rows, seed } => {
            let state = AppState::new(config).await?;
            let report = demo::run(&state, &DemoOptions { charts, rows, seed }).await?;
            if report.already_present {
                println!("demo data already present ({} charts); nothing to do", report.charts);
            } else {
                println!("demo: {} production charts, branches {}", report.charts, report.branches.join(", "));
            }
            Ok(())
        }
        Command::Branch { command } => branch(AppState::new(config).await?, command).await,
        Command::Users { command: UsersCommand::Add { email, role, password_stdin } } => {
            let state = AppState::new(config).await?;
            let role = Role::parse(&role).ok_or_else(|| Error::BadRequest(format!("unknown role {role}")))?;
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin().read_to_string(&mut s).map_err(Error::internal)?;
                Some(s.trim_end_matches(['\n', '\r']).to_string())
            } else {
                None
            };
            let user = auth::add_user(&state.db, &email, role, password.as_deref()).await?;
            println!("user {} ({})", user.email, user.role.as_str());
            Ok(())
        }
        Command::Tokens { command: TokensCommand::Create { email } } => {
            let state = AppState::new(config).await?;
            let token = auth::create_token(&state.db, &email).await?;
            println!("{token}");
            Ok(())
        }
        Command::Sync { branch, dry_run, wait } => {
            crate::sync::command::run(AppState::new(config).await?, &branch, dry_run, wait).await
        }
    }
}

async fn branch(state: AppState, command: BranchCommand) -> Result<()> {
    match command {
        BranchCommand::Add { branch, store, fork, preview_url } => {
            let summary = branches::register(
                &state,
                NewBranch {
                    branch: &branch,
                    store_url: store.as_deref(),
                    fork,
                    preview_url: preview_url.as_deref(),
                    actor: CLI_ACTOR,
                },
            )
            .await?;
            println!(
                "registered {} ({} items: {} new, {} modified, {} deleted, {} conflicts)",
                summary.name,
                summary.counts.total,
                summary.counts.new,
                summary.counts.modified,
                summary.counts.deleted,
                summary.counts.conflicts
            );
            Ok(())
        }
        BranchCommand::List { json } => {
            let list = branches::list(&state).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list).map_err(Error::internal)?);
                return Ok(());
            }
            println!(
                "{:<32} {:<9} {:>6} {:>8} {:>8} {:>9} {:>8}  last scan",
                "BRANCH", "STATE", "ITEMS", "PENDING", "APPROVED", "CONFLICTS", "ERRORS"
            );
            for b in list {
                let c = &b.counts;
                println!(
                    "{:<32} {:<9} {:>6} {:>8} {:>8} {:>9} {:>8}  {}",
                    b.name,
                    b.state,
                    c.total,
                    c.pending,
                    c.approved,
                    c.conflicts,
                    c.errors,
                    b.last_scan_at.unwrap_or_else(|| "never".into())
                );
            }
            Ok(())
        }
        BranchCommand::Archive { branch } => {
            let b = branches::archive(&state, &branch, CLI_ACTOR).await?;
            println!("archived {}", b.name);
            Ok(())
        }
        BranchCommand::Rescan { branch, full } => {
            let name = branches::resolve(&state, &branch);
            let report = branches::rescan(&state, &name, full).await?;
            println!("{}", serde_json::to_string(&report).map_err(Error::internal)?);
            Ok(())
        }
    }
}
