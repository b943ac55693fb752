//! `cargo xtask demo [OPTIONS]`: runs the ingest service and prints its summary.

use std::process::ExitCode;

use std::io::IsTerminal;
use taskweave_demo::{Command, ProgressMode, USAGE, run};

use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let config = match Command::parse(std::env::args().skip(1)) {
        Ok(Command::Run(config)) => config,
        Ok(Command::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };

    let mut config = config;
    config.progress = config.progress.resolve();
    // With a progress bar, the bar shows the breaker's transitions; log lines would tear it.
    let default_filter = match config.progress {
        ProgressMode::Bar => "error",
        // The demo announces breaker transitions itself; the breaker's own warnings would
        // repeat them.
        _ => "warn,taskweave_breaker=error,taskweave_demo=info",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: CI logs and redirected output stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the Tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "taskweave demo: {} events, fail rate {:.0}%, outage {:?} mid-run; Ctrl-C stops it gracefully",
        config.events,
        config.fail_rate * 100.0,
        config.outage
    );
    match runtime.block_on(run(config)) {
        Ok(summary) => {
            println!();
            print!("{summary}");
            println!("  {}", summary.report);
            if summary.is_consistent() {
                summary.report.exit_code()
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
