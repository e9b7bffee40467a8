//! One module per command; [`run`] dispatches.

mod completions;

use crate::cli::Command;
use crate::error::CliError;
use crate::signal::Cancel;
use crate::ui::Ui;

/// How `command` wants to print (its `--quiet` and `--json` flags).
pub fn ui_for(command: &Command) -> Ui {
    match command {
        Command::Pull(args) => Ui::new(args.quiet, args.json),
        Command::Inspect(args) => Ui::new(false, args.json),
        _ => Ui::new(false, false),
    }
}

/// Runs one command to completion.
pub async fn run(command: Command, ui: Ui, cancel: Cancel) -> Result<(), CliError> {
    let _ = cancel;
    match command {
        Command::Completions(args) => {
            completions::run(&args, ui);
            Ok(())
        }
        _ => Ok(()),
    }
}
