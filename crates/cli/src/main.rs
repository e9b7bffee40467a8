//! `imgpull`: pull container images from any Docker or OCI registry without a Docker daemon.
//!
//! This binary composes the library crates: it parses the command line and the config file,
//! runs one command on a tokio runtime, turns Ctrl+C into a prompt, clean stop, and maps every
//! failure to one documented exit code (see [`error::ErrorKind`]).

mod cli;
mod commands;
mod config;
mod error;
mod naming;
mod report;
mod signal;
mod ui;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::cli::Cli;
use crate::error::CliError;
use crate::signal::Cancel;
use crate::ui::Ui;

/// How long blocking work gets after Ctrl+C before the process exits: the archive writer notices
/// the cancellation at its next write and removes its temporary file within milliseconds; only a
/// write blocked on a full pipe (`-o -`) or a wait for another process's blob lock takes longer.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    init_logging(cli.verbose);
    let ui = commands::ui_for(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(source) => {
            let error = CliError::Runtime(source);
            ui.error(&error);
            return ExitCode::from(error.kind().exit_code());
        }
    };
    let cancel = Cancel::default();
    let result = runtime.block_on(async {
        tokio::select! {
            biased;
            () = signal::interrupted() => {
                cancel.cancel();
                Err(CliError::Interrupted)
            }
            result = commands::run(cli.command, ui, cancel.clone()) => result,
        }
    });
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            ui.error(&error);
            ExitCode::from(error.kind().exit_code())
        }
    }
}

/// Prints clap's message (help and version go to stdout with exit 0) and, with `--json`, the
/// usage error as a JSON document.
fn usage_error(error: &clap::Error) -> ExitCode {
    let _ = error.print();
    if !error.use_stderr() {
        return ExitCode::SUCCESS;
    }
    if std::env::args().any(|arg| arg == "--json") {
        let first_line = error
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_owned();
        Ui::json_document(&report::ErrorReport::from(&CliError::Usage(first_line)));
    }
    ExitCode::from(error::ErrorKind::Usage.exit_code())
}

/// `-v` logs imgpull's requests at debug level, `-vv` at trace level with reqwest's own logs.
fn init_logging(verbosity: u8) {
    use tracing::Level;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let (ours, theirs) = match verbosity {
        0 => return,
        1 => (Level::DEBUG, LevelFilter::OFF),
        _ => (Level::TRACE, LevelFilter::DEBUG),
    };
    let targets = Targets::new()
        .with_target("imgpull", ours)
        .with_target("imgpull_registry", ours)
        .with_target("imgpull_auth", ours)
        .with_target("imgpull_blobstore", ours)
        .with_target("imgpull_archive", ours)
        .with_target("reqwest", theirs);
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(Level::TRACE)
        .finish()
        .with(targets)
        .try_init();
}
