//! `chartgate`: parse the command line, set up logging, run. Everything else is library code.

use clap::Parser;

/// Scans parse and rebuild hundreds of megabytes of JSON as many small allocations; mimalloc
/// serves those markedly faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = chartgate::cli::Cli::parse();
    // The log format comes from the configuration; a configuration that does not load is reported
    // by `run` below, in the default format.
    let json = chartgate::config::Config::load(cli.config.as_deref()).is_ok_and(|c| c.log_format == "json");
    chartgate::telemetry::logs::init(json);
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
