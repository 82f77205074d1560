//! `chartgate`: parse the command line, set up logging, run. Everything else is library code.

use clap::Parser;

/// Scans parse and rebuild hundreds of megabytes of JSON as many small allocations; mimalloc
/// serves those markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "chartgate=info,tower_http=warn,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = chartgate::cli::Cli::parse();
    match chartgate::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.public_message());
            if e.status().is_server_error() {
                eprintln!("  cause: {e}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}
