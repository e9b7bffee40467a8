//! Everything imgpull prints goes through this module.
//!
//! - stdout carries data: tags, `inspect` output, `--json` documents, the output path with
//!   `--quiet`, or the archive itself with `-o -`.
//! - stderr carries people's text: progress, summaries, error lines and `-v` logs.
//!
//! Progress on a terminal is one bar per layer being downloaded (bytes, percentage, speed, ETA)
//! under a total line; a finished or cached layer becomes a line above the bars. Without a
//! terminal (CI logs) only those lines are printed. `--quiet` prints neither.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::error::CliError;
use crate::report::{ErrorReport, PullReport};

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

    /// Reports a failure: the line on stderr, and `{"error": …}` on stdout with `--json`.
    pub fn error(&self, error: &CliError) {
        eprintln!("error: {}", error.line());
        if self.json {
            self.json_document(&ErrorReport::from(error));
        }
    }

    /// A warning on stderr, shown even with `--quiet`.
    pub fn warning(&self, message: &str) {
        eprintln!("warning: {message}");
    }

    /// A note on stderr, hidden by `--quiet`.
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// Prints one JSON document on stdout.
    pub fn json_document<T: Serialize>(&self, document: &T) {
        let mut stdout = std::io::stdout().lock();
        // A closed stdout (e.g. `| head`) is not worth a second error.
        if serde_json::to_writer_pretty(&mut stdout, document).is_ok() {
            let _ = writeln!(stdout);
        }
    }

    /// Prints data lines on stdout (tags, listings).
    pub fn lines<I, S>(&self, lines: I)
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
    pub fn raw(&self, bytes: &[u8]) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(bytes).and_then(|()| stdout.flush());
    }

    /// The end of a pull: JSON document, the output path alone (`--quiet`), or a summary.
    pub fn pull_summary(&self, report: &PullReport, load_command: Option<&str>) {
        if self.json {
            self.json_document(report);
            return;
        }
        if self.quiet {
            if report.output != "-" {
                self.lines([&report.output]);
            }
            return;
        }
        let mut text = String::new();
        if report.output == "-" {
            text.push_str("Wrote the archive to stdout\n");
        } else {
            text.push_str(&format!("Wrote {}\n", report.output));
        }
        for image in &report.images {
            text.push_str(&format!(
                "  {}  {}\n    manifest {}\n    config   {}  ({} layers)\n",
                image.reference,
                image.platform.as_deref().unwrap_or("all platforms"),
                image.manifest_digest,
                image.config_digest,
                image.layers,
            ));
        }
        let cache = report.cache;
        let total = cache.hits + cache.misses;
        let percent = if total == 0 {
            100.0
        } else {
            cache.hits as f64 * 100.0 / total as f64
        };
        text.push_str(&format!(
            "Cache: {}/{} blobs reused ({percent:.1}%), {} downloaded, {} reused\n",
            cache.hits,
            total,
            HumanBytes(cache.bytes_downloaded),
            HumanBytes(cache.bytes_reused),
        ));
        if let Some(command) = load_command {
            text.push_str(&format!("Load it with: {command}\n"));
        }
        eprint!("{text}");
    }

    /// Starts the progress display of a pull.
    pub fn pull_progress(&self) -> PullProgress {
        let multi = MultiProgress::with_draw_target(if self.quiet || !self.terminal {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr_with_hz(8)
        });
        let total = multi.add(ProgressBar::new(0));
        total.set_style(style(
            "{prefix:>14} [{wide_bar:.green/blue}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        ));
        total.set_prefix("total");
        PullProgress {
            multi,
            total,
            quiet: self.quiet,
            terminal: self.terminal,
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The progress display of one pull; cheap to clone into download tasks.
#[derive(Debug, Clone)]
pub struct PullProgress {
    multi: MultiProgress,
    total: ProgressBar,
    quiet: bool,
    terminal: bool,
}

impl PullProgress {
    /// Adds `bytes` that this pull has to account for (downloaded or reused).
    pub fn expect_bytes(&self, bytes: u64) {
        self.total.inc_length(bytes);
    }

    /// Shows a blob found in the cache.
    pub fn cached(&self, digest: &str, size: u64) {
        self.total.inc(size);
        self.finished_line(&format!("{} cached ({})", short(digest), HumanBytes(size)));
    }

    /// Starts the bar of a blob download; `already` bytes come from a resumed partial.
    pub fn download(&self, digest: &str, size: u64, already: u64) -> BlobProgress {
        let bar = self
            .multi
            .insert_before(&self.total, ProgressBar::new(size));
        bar.set_style(style(
            "{prefix:>14} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {percent:>3}% {binary_bytes_per_sec} ETA {eta}",
        ));
        bar.set_prefix(short(digest).to_owned());
        bar.set_position(already);
        bar.reset_elapsed();
        self.total.inc(already);
        BlobProgress {
            bar,
            owner: self.clone(),
            digest: digest.to_owned(),
            resumed: already,
        }
    }

    /// Shows a message under the bars (e.g. "writing archive").
    pub fn phase(&self, message: &str) {
        self.total.set_message(message.to_owned());
    }

    /// Removes the bars.
    pub fn finish(&self) {
        self.total.finish_and_clear();
        let _ = self.multi.clear();
    }

    fn finished_line(&self, line: &str) {
        if self.quiet {
            return;
        }
        if self.terminal {
            let _ = self.multi.println(line);
        } else {
            eprintln!("{line}");
        }
    }
}

/// The bar of one blob download.
#[derive(Debug)]
pub struct BlobProgress {
    bar: ProgressBar,
    owner: PullProgress,
    digest: String,
    resumed: u64,
}

impl BlobProgress {
    /// Records `bytes` more received.
    pub fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
        self.owner.total.inc(bytes);
    }

    /// Records a restart from `offset` (a retry that could not resume where it was).
    pub fn restart_at(&self, offset: u64) {
        let lost = self.bar.position().saturating_sub(offset);
        self.bar.set_position(offset);
        self.owner
            .total
            .set_position(self.owner.total.position().saturating_sub(lost));
    }

    /// Turns the bar into a "downloaded" line.
    pub fn done(self) {
        let elapsed = self.bar.elapsed();
        let fetched = self.bar.position().saturating_sub(self.resumed);
        self.bar.finish_and_clear();
        self.owner.multi.remove(&self.bar);
        let resumed = if self.resumed > 0 {
            format!(", resumed at {}", HumanBytes(self.resumed))
        } else {
            String::new()
        };
        self.owner.finished_line(&format!(
            "{} downloaded {} in {}{resumed}",
            short(&self.digest),
            HumanBytes(fetched),
            seconds(elapsed),
        ));
    }
}

impl Drop for BlobProgress {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.abandon();
        }
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
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

    #[test]
    fn hidden_progress_accounts_bytes() {
        let ui = Ui {
            quiet: true,
            json: false,
            terminal: false,
        };
        let progress = ui.pull_progress();
        progress.expect_bytes(300);
        progress.cached("sha256:aa", 100);
        let blob = progress.download("sha256:bb", 200, 50);
        blob.advance(100);
        blob.restart_at(100);
        assert_eq!(progress.total.position(), 200);
        blob.advance(100);
        blob.done();
        assert_eq!(progress.total.position(), 300);
        assert_eq!(progress.total.length(), Some(300));
    }
}
