//! The `chartgate` command line (design §5). Every subcommand reads the configuration of §7;
//! errors go to stderr with a non-zero exit; long work shows progress on a terminal.
//!
//! Layer: the top of the server beside the HTTP edge. The operator at the command line holds
//! Chartgate's database and configuration, so commands act as [`Actor::operator`] (a lead,
//! recorded as `cli` in the audit trail); the feature functions check that role like any other.

mod doctor;
mod sync;
pub mod upgrade;

use std::io::Read;
use std::path::PathBuf;

use app::types::Role;
use clap::{Parser, Subcommand};

use crate::access::Actor;
use crate::branches::{self, NewBranch};
use crate::config::Config;
use crate::demo::{self, DemoOptions};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::{accounts, http, scans};

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
    /// Check the set-up (configuration, databases, stores, hook secret, browser bundle) and say
    /// what to fix; exits non-zero when something is wrong.
    Doctor,
    /// Create demo production and staging stores and register their branches.
    Demo {
        #[arg(long, default_value_t = 300)]
        charts: usize,
        /// Data rows per chart (default: varied, about 60 to 180).
        #[arg(long)]
        rows: Option<usize>,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// `files`: production and the branches as directories of chart files (charts as code,
        /// under data/files/) instead of the configured SQL stores.
        #[arg(long, value_parser = ["sql", "files"], default_value = "sql")]
        store: String,
    },
    /// Staging environments.
    Branch {
        #[command(subcommand)]
        command: BranchCommand,
    },
    /// Chart stores.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
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
    /// Point a branch's charts at a new dataset version (`upgrade undo BRANCH ID` undoes one).
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Upgrade {
        #[command(subcommand)]
        command: Option<UpgradeCommand>,
        #[command(flatten)]
        args: UpgradeArgs,
    },
}

#[derive(clap::Args, Debug)]
pub struct UpgradeArgs {
    #[arg(required = true)]
    branch: Option<String>,
    /// The dataset version the charts use now.
    #[arg(long, required = true)]
    from: Option<String>,
    /// The new dataset version.
    #[arg(long, required = true)]
    to: Option<String>,
    /// Say what would change; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply without asking.
    #[arg(long)]
    yes: bool,
}

#[derive(Subcommand, Debug)]
pub enum UpgradeCommand {
    /// Put back what an upgrade replaced (charts edited since are skipped).
    Undo { branch: String, id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum BranchCommand {
    /// Register a staging environment and take its baseline.
    Add {
        branch: String,
        /// URL of the branch's staging store.
        #[arg(long, conflicts_with = "fork", required_unless_present = "fork")]
        store: Option<String>,
        /// Create the store from `staging_url_template` as a copy of the target's store first.
        #[arg(long)]
        fork: bool,
        #[arg(long)]
        preview_url: Option<String>,
        /// The target to check the branch against and sync it to (default: `default_target`).
        #[arg(long)]
        target: Option<String>,
        /// The GitHub repository (`owner/name`) whose pull requests may act on the branch
        /// (default: bound by the first signed hook event for the branch's exact name).
        #[arg(long)]
        repository: Option<String>,
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
pub enum StoreCommand {
    /// Add the optional index of design §3 (`charts (id, updated_at)`) to a store, so a rescan
    /// after a write lists the store from the index instead of reading every chart. Safe to
    /// repeat; changes no row. Needs write access to the store.
    Prepare {
        /// The store's URL (`sqlite://PATH` or `postgres://…`).
        url: String,
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
    /// Set a user's password, read from standard input; ends every session of the user.
    SetPassword { email: String },
    /// Disable a user: they cannot sign in, and their sessions and API tokens are refused from
    /// the next request on.
    Disable { email: String },
    /// Enable a disabled user again (their API tokens work again; they sign in anew).
    Enable { email: String },
}

/// A password from standard input, without its line ending.
fn password_from_stdin() -> Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).map_err(Error::internal)?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

#[derive(Subcommand, Debug)]
pub enum TokensCommand {
    /// Create an API token; printed as the last line of stdout.
    Create { email: String },
    /// List API tokens (their ids, owners and roles; never the secrets).
    List {
        /// Only this user's tokens.
        #[arg(long)]
        email: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke an API token by its id (as `tokens list` shows it); the next request with it is refused.
    Revoke { id: String },
}

async fn prepare_store(url: &str, config: &Config) -> Result<()> {
    let store = crate::charts::ChartStore::open_with(url, false, &config.store_settings()).await?;
    let added = store.prepare().await?;
    let name = store.name();
    if added {
        println!("{name}: added index {} on charts (id, updated_at)", crate::charts::store::STAMPS_INDEX_NAME);
    } else {
        println!("{name}: already prepared (index {} present)", crate::charts::store::STAMPS_INDEX_NAME);
    }
    Ok(())
}

/// The name the audit trail records for the command line.
const CLI_ACTOR: &str = "cli";

fn operator() -> Actor {
    Actor::operator(CLI_ACTOR)
}

pub async fn run(cli: Cli) -> Result<()> {
    if let Command::Doctor = &cli.command {
        return doctor::run(cli.config.as_deref()).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    if let Command::Store { command: StoreCommand::Prepare { url } } = &cli.command {
        // A store's own schema: Chartgate's database is not involved (the configuration only
        // names the mappings a URL may use).
        return prepare_store(url, &config).await;
    }
    match cli.command {
        Command::Serve => http::serve(AppState::new(config).await?).await,
        Command::Doctor | Command::Store { .. } => unreachable!("handled before the configuration is loaded"),
        Command::Migrate => {
            AppState::new(config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Demo { charts, rows, seed, store } => {
            let config = if store == "files" {
                Config {
                    production_url: "file://data/files/production".into(),
                    staging_url_template: "file://data/files/staging/{branch}".into(),
                    targets: Default::default(),
                    ..config
                }
            } else {
                config
            };
            // On PostgreSQL the demo creates every database it needs, Chartgate's own included.
            demo::ensure_database(&config.database_url).await?;
            let state = AppState::new(config).await?;
            let report = demo::run(&state, &operator(), &DemoOptions { charts, rows, seed }).await?;
            if report.already_present {
                println!("demo data already present ({} charts); nothing to do", report.charts);
            } else {
                println!("demo: {} production charts, branches {}", report.charts, report.branches.join(", "));
                if store == "files" {
                    println!(
                        "serve it with CHARTGATE_PRODUCTION_URL=file://data/files/production \\\n  \
                         CHARTGATE_STAGING_URL_TEMPLATE='file://data/files/staging/{{branch}}' chartgate serve"
                    );
                }
            }
            let accounts = demo::accounts(&state, &operator()).await?;
            println!("demo accounts (sign in at /login; a new run of `chartgate demo` gives new passwords):");
            for a in accounts {
                println!("  {:<9} {:<34} password: {}", a.role.as_str(), a.email, a.password);
            }
            Ok(())
        }
        Command::Branch { command } => {
            let state = AppState::new(config).await?;
            branches::ensure_environments(&state).await?;
            branch(state, command).await
        }
        Command::Users { command: UsersCommand::Add { email, role, password_stdin } } => {
            let state = AppState::new(config).await?;
            let role: Role = role.parse().map_err(|_| Error::BadRequest(format!("unknown role {role}")))?;
            let password = if password_stdin { Some(password_from_stdin()?) } else { None };
            let user = accounts::add_user(&state.db, &operator(), &email, role, password.as_deref()).await?;
            println!("user {} ({})", user.email, user.role.as_str());
            Ok(())
        }
        Command::Users { command: UsersCommand::SetPassword { email } } => {
            let state = AppState::new(config).await?;
            let password = password_from_stdin()?;
            accounts::set_password(&state.db, &operator(), &email, &password, None).await?;
            println!("password of {email} set; their sessions ended");
            Ok(())
        }
        Command::Users { command: UsersCommand::Disable { email } } => {
            let state = AppState::new(config).await?;
            let user = accounts::set_disabled(&state.db, &operator(), &email, true).await?;
            println!("disabled {}: sessions ended, API tokens refused", user.email);
            Ok(())
        }
        Command::Users { command: UsersCommand::Enable { email } } => {
            let state = AppState::new(config).await?;
            let user = accounts::set_disabled(&state.db, &operator(), &email, false).await?;
            println!("enabled {}", user.email);
            Ok(())
        }
        Command::Tokens { command } => {
            let state = AppState::new(config).await?;
            match command {
                TokensCommand::Create { email } => {
                    let token = accounts::create_token(&state.db, &operator(), &email).await?;
                    println!("{token}");
                }
                TokensCommand::List { email, json } => {
                    let tokens = accounts::list_tokens(&state.db, &operator(), email.as_deref()).await?;
                    if json {
                        println!("{}", serde_json::to_string_pretty(&tokens).map_err(Error::internal)?);
                    } else {
                        println!("{:<14} {:<32} {:<9} CREATED", "ID", "USER", "ROLE");
                        for t in tokens {
                            println!("{:<14} {:<32} {:<9} {}", t.id, t.email, t.role.as_str(), t.created_at);
                        }
                    }
                }
                TokensCommand::Revoke { id } => {
                    accounts::revoke_token(&state.db, &operator(), &id).await?;
                    println!("revoked token {id}");
                }
            }
            Ok(())
        }
        Command::Sync { branch, dry_run, wait } => {
            let state = AppState::new(config).await?;
            branches::ensure_environments(&state).await?;
            sync::run(state, &operator(), &branch, dry_run, wait).await
        }
        Command::Upgrade { command, args } => {
            let state = AppState::new(config).await?;
            match command {
                Some(UpgradeCommand::Undo { branch, id }) => upgrade::undo(&state, &operator(), &branch, id).await,
                None => {
                    let (branch, from, to) =
                        (args.branch.unwrap_or_default(), args.from.unwrap_or_default(), args.to.unwrap_or_default());
                    upgrade::run(&state, &operator(), &branch, &from, &to, args.dry_run, args.yes).await
                }
            }
        }
    }
}

async fn branch(state: AppState, command: BranchCommand) -> Result<()> {
    match command {
        BranchCommand::Add { branch, store, fork, preview_url, target, repository } => {
            let new = NewBranch {
                branch: &branch,
                store_url: store.as_deref(),
                fork,
                preview_url: preview_url.as_deref(),
                target: target.as_deref(),
                repository: repository.as_deref(),
            };
            let summary = branches::register(&state, &operator(), new).await?;
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
            let list = branches::list(&state, Role::Lead).await?;
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
            let b = branches::archive(&state, &operator(), &branch).await?;
            println!("archived {}", b.name);
            Ok(())
        }
        BranchCommand::Rescan { branch, full } => {
            let report = scans::rescan(&state, &operator(), &branch, full).await?;
            println!("{}", serde_json::to_string(&report).map_err(Error::internal)?);
            Ok(())
        }
    }
}
