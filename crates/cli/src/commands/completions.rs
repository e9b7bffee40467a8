//! `imgpull completions SHELL` and the hidden `imgpull manpage`: generated from the clap
//! definition, so they always match the binary.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::CliError;
use crate::ui::Ui;

/// Prints the completion script for `args.shell` on stdout.
pub fn run(args: &CompletionsArgs) {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "imgpull", &mut script);
    Ui::raw(&script);
}

/// Prints the man page (roff) on stdout.
pub fn manpage() -> Result<(), CliError> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .map_err(|source| CliError::Io {
            action: "render the man page to",
            path: "memory".into(),
            source,
        })?;
    Ui::raw(&page);
    Ok(())
}
