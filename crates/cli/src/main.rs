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

/// How long blocking work gets after Ctrl+C before the process exits: the archive writer notices
/// the cancellation at its next write and removes its temporary file within milliseconds; only a
/// write blocked on a full pipe (`-o -`) or a wait for another process's blob lock takes longer.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return ExitCode::from(ui::command_line_error(&error)),
    };
    ui::init_request_log(cli.verbose);
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
