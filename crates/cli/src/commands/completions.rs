//! `imgpull completions SHELL`: a completion script generated from the clap definition.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::ui::Ui;

/// Prints the completion script for `args.shell` on stdout.
pub fn run(args: &CompletionsArgs) {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "imgpull", &mut script);
    Ui::raw(&script);
}
