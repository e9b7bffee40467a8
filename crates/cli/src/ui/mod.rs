//! Everything imgpull prints goes through this module.
//!
//! - stdout carries data: tags, `inspect` output, `--json` documents, the output path with
//!   `--quiet`, or the archive itself with `-o -`.
//! - stderr carries people's text: progress, summaries, error lines, clap's messages and the
//!   `-v` request log ([`init_request_log`]).
//!
//! Progress on a terminal is one bar per layer being downloaded (bytes, percentage, speed, ETA)
//! under a total line; a finished or cached layer becomes a line above the bars. Without a
//! terminal (CI logs) only those lines are printed. `--quiet` prints neither.

mod progress;
mod reports;

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use indicatif::HumanBytes;
use serde::Serialize;

use crate::error::{CliError, ErrorKind};
use crate::report::{ErrorReport, PullReport};

pub use progress::PullProgress;

/// How much a command prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ui {
    /// Only errors and the output path.
    pub quiet: bool,
    /// A JSON document on stdout instead of the human summary.
    pub json: bool,
    /// Whether stderr is a terminal (bars) or a log (lines).
    pub terminal: bool,
}

impl Ui {
    /// A `Ui` for this process, detecting whether stderr is a terminal.
    pub fn new(quiet: bool, json: bool) -> Self {
        Self {
            quiet,
            json,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// A warning on stderr, shown even with `--quiet`.
    pub fn warning(message: &str) {
        eprintln!("warning: {message}");
    }

    /// Reports a failure: the line on stderr, and `{"error": …}` on stdout with `--json`.
    pub fn error(self, error: &CliError) {
        eprintln!("error: {}", error.line());
        if self.json {
            Self::json_document(&ErrorReport::from(error));
        }
    }

    /// A note on stderr, hidden by `--quiet`.
    pub fn note(self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// Prints one JSON document on stdout.
    pub fn json_document<T: Serialize>(document: &T) {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (e.g. `| head`) is not worth a second error.
        if serde_json::to_writer_pretty(&mut stdout, document).is_ok() {
            let _ = writeln!(stdout);
        }
    }

    /// Prints data lines on stdout (tags, listings).
    pub fn lines<I, S>(lines: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut stdout = std::io::stdout().lock();
        for line in lines {
            if writeln!(stdout, "{}", line.as_ref()).is_err() {
                return;
            }
        }
    }

    /// Prints raw bytes on stdout (`inspect --raw`, completion scripts).
    pub fn raw(bytes: &[u8]) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
    }

    /// The end of a pull: JSON document, the output path alone (`--quiet`), or a summary.
    pub fn pull_summary(self, report: &PullReport, load_command: Option<&str>) {
        if self.json {
            Self::json_document(report);
            return;
        }
        if self.quiet {
            if report.output != "-" {
                Self::lines([&report.output]);
            }
            return;
        }
        let mut text = String::new();
        if report.output == "-" {
            text.push_str("Wrote the archive to stdout\n");
        } else {
            let _ = writeln!(text, "Wrote {}", report.output);
        }
        for image in &report.images {
            let _ = writeln!(
                text,
                "  {}  {}\n    manifest {}\n    config   {}  ({} layers)",
                image.reference,
                image.platform.as_deref().unwrap_or("all platforms"),
                image.manifest_digest,
                image.config_digest,
                image.layers,
            );
        }
        let cache = report.cache;
        let total = cache.hits + cache.misses;
        let percent = if total == 0 {
            100.0
        } else {
            cache.hits as f64 * 100.0 / total as f64
        };
        let _ = writeln!(
            text,
            "Cache: {}/{} layers reused ({percent:.1}%), {} downloaded, {} reused",
            cache.hits,
            total,
            HumanBytes(cache.bytes_downloaded),
            HumanBytes(cache.bytes_reused),
        );
        if let Some(command) = load_command {
            let _ = writeln!(text, "Load it with: {command}");
        }
        eprint!("{text}");
    }

    /// Starts the progress display of a pull.
    pub fn pull_progress(self) -> PullProgress {
        PullProgress::new(self.quiet, self.terminal)
    }
}

/// Prints clap's message for a command line it refused (help and version go to stdout), and
/// with `--json` the usage error as a JSON document; returns the exit code (0 for help and
/// version).
pub fn command_line_error(error: &clap::Error) -> u8 {
    let _ = error.print();
    if !error.use_stderr() {
        return 0;
    }
    if std::env::args().any(|arg| arg == "--json") {
        let first_line = error
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("error: ")
            .to_owned();
        Ui::json_document(&ErrorReport::from(&CliError::Usage(first_line)));
    }
    ErrorKind::Usage.exit_code()
}

/// `-v` logs imgpull's requests on stderr at debug level, `-vv` at trace level with reqwest's
/// own logs. The registry crate never logs credentials or tokens.
pub fn init_request_log(verbosity: u8) {
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

/// A byte count as text, so that it can be padded.
fn bytes(count: u64) -> String {
    HumanBytes(count).to_string()
}

/// `sha256:0123456789ab` from a full digest.
fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_digests_keep_algorithm_and_twelve_hex_digits() {
        assert_eq!(short("sha256:0123456789abcdef0123"), "sha256:0123456789ab");
        assert_eq!(short("sha256:01"), "sha256:01");
    }
}
