//! Everything imgpull prints goes through this module.
//!
//! - stdout carries data: tags, `inspect` output, `--json` documents, the output path with
//!   `--quiet`, or the archive itself with `-o -`.
//! - stderr carries people's text: progress, summaries, error lines and `-v` logs.
//!
//! Progress on a terminal is one bar per layer being downloaded (bytes, percentage, speed, ETA)
//! under a total line; a finished or cached layer becomes a line above the bars. Without a
//! terminal (CI logs) only those lines are printed. `--quiet` prints neither.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use imgpull_blobstore::{ClearReport, DiskUsage, ImportReport, Listing, PruneReport, VerifyReport};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::error::CliError;
use crate::report::{ErrorReport, InspectReport, PullReport};

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

    /// Prints an `inspect` description on stdout.
    pub fn inspect(report: &InspectReport) {
        let mut lines = vec![
            format!("Reference:   {}", report.reference),
            format!("Digest:      {}", report.digest),
            format!("Media type:  {}", report.media_type),
        ];
        if !report.platforms.is_empty() {
            lines.push(format!("Platforms:   {}", report.platforms.join(", ")));
        }
        let Some(image) = &report.image else {
            lines.push(
                "Image:       none for this host's platform; choose one with --platform".to_owned(),
            );
            Self::lines(lines);
            return;
        };
        if !report.platforms.is_empty() {
            lines.push(format!(
                "Manifest:    {} ({})",
                image.manifest_digest, image.media_type
            ));
        }
        lines.push(format!(
            "Platform:    {}",
            image.platform.as_deref().unwrap_or("unknown")
        ));
        lines.push(format!("Config:      {}", image.config_digest));
        lines.push(format!(
            "Created:     {}",
            image.created.as_deref().unwrap_or("unknown")
        ));
        lines.push(format!("Entrypoint:  {}", json_list(&image.entrypoint)));
        lines.push(format!("Cmd:         {}", json_list(&image.cmd)));
        lines.push(format!(
            "Env:         {} variable{}",
            image.env_count,
            if image.env_count == 1 { "" } else { "s" }
        ));
        if image.labels.is_empty() {
            lines.push("Labels:      none".to_owned());
        } else {
            lines.push("Labels:".to_owned());
            lines.extend(
                image
                    .labels
                    .iter()
                    .map(|(key, value)| format!("  {key}={value}")),
            );
        }
        lines.push(format!(
            "Layers:      {} ({})",
            image.layers.len(),
            HumanBytes(image.total_size)
        ));
        lines.extend(image.layers.iter().map(|layer| {
            format!(
                "  {}  {:>11}  {}",
                layer.digest,
                bytes(layer.size),
                layer.media_type
            )
        }));
        Self::lines(lines);
    }

    /// Prints `cache ls`: images, then blobs most recently used first.
    pub fn cache_listing(listing: &Listing) {
        let mut lines = vec![format!("Images ({}):", listing.images.len())];
        for image in &listing.images {
            lines.push(format!(
                "  {}  {}",
                image
                    .name
                    .as_deref()
                    .or(image.ref_name.as_deref())
                    .unwrap_or("(untagged)"),
                image.manifest.digest
            ));
        }
        let total: u64 = listing.blobs.iter().map(|blob| blob.size).sum();
        lines.push(format!(
            "Blobs ({}, {}):",
            listing.blobs.len(),
            HumanBytes(total)
        ));
        let now = SystemTime::now();
        for blob in &listing.blobs {
            lines.push(format!(
                "  {}  {:>11}  used {}{}",
                blob.digest,
                bytes(blob.size),
                ago(now, blob.last_used),
                if blob.referenced {
                    ""
                } else {
                    "  (unreferenced)"
                }
            ));
        }
        Self::lines(lines);
    }

    /// Prints `cache du`.
    pub fn disk_usage(dir: &Path, usage: &DiskUsage) {
        Self::lines([
            format!("{}", dir.display()),
            format!(
                "  blobs:       {:>11}  ({} files)",
                bytes(usage.blob_bytes),
                usage.blobs
            ),
            format!(
                "  partials:    {:>11}  ({} files)",
                bytes(usage.partial_bytes),
                usage.partials
            ),
            format!("  quarantine:  {:>11}", bytes(usage.quarantine_bytes)),
            format!("  total:       {:>11}", bytes(usage.total_bytes())),
        ]);
    }

    /// Prints `cache prune`.
    pub fn prune_report(report: &PruneReport) {
        let mut lines: Vec<String> = report
            .removed
            .iter()
            .map(|blob| {
                format!(
                    "removed {}  {:>11}  ({:?})",
                    blob.digest,
                    bytes(blob.size),
                    blob.reason
                )
            })
            .collect();
        lines.extend(
            report
                .images_removed
                .iter()
                .map(|image| format!("forgot image {image}")),
        );
        lines.push(format!(
            "Pruned {} blobs and {} partial downloads, freed {}",
            report.removed.len(),
            report.partials_removed,
            HumanBytes(report.bytes_freed)
        ));
        Self::lines(lines);
    }

    /// Prints `cache verify`.
    pub fn verify_report(report: &VerifyReport) {
        let mut lines = vec![format!(
            "Checked {} blobs ({})",
            report.checked,
            HumanBytes(report.bytes)
        )];
        lines.extend(report.corrupt.iter().map(|blob| {
            format!(
                "corrupt {} (content hashes to {}), moved to {}",
                blob.digest,
                blob.actual,
                blob.quarantined.display()
            )
        }));
        lines.extend(
            report
                .unexpected
                .iter()
                .map(|path| format!("unexpected file {}", path.display())),
        );
        lines.extend(
            report
                .missing
                .iter()
                .map(|digest| format!("missing {digest} (pull its image again)")),
        );
        if report.is_clean() {
            lines.push("All blobs are intact".to_owned());
        }
        Self::lines(lines);
    }

    /// Prints `cache clear`.
    pub fn clear_report(report: &ClearReport) {
        Self::lines([format!(
            "Removed {} blobs, freed {}",
            report.blobs,
            HumanBytes(report.bytes_freed)
        )]);
    }

    /// Prints `cache import`.
    pub fn import_report(archive: &Path, report: &ImportReport) {
        let mut lines = vec![format!(
            "Imported {} ({:?})",
            archive.display(),
            report.format
        )];
        for image in &report.images {
            let name = if image.names.is_empty() {
                "(untagged)".to_owned()
            } else {
                image.names.join(", ")
            };
            lines.push(format!(
                "  {name}  config {}  {} layers",
                image.config.digest,
                image.layers.len()
            ));
        }
        lines.push(format!(
            "{} blobs added ({}), {} already cached, {} diff_ids recorded",
            report.blobs_added,
            HumanBytes(report.bytes_added),
            report.blobs_present,
            report.diff_ids_recorded
        ));
        Self::lines(lines);
    }

    /// Starts the progress display of a pull.
    pub fn pull_progress(self) -> PullProgress {
        let multi = MultiProgress::with_draw_target(if self.quiet || !self.terminal {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr_with_hz(8)
        });
        let total = multi.add(ProgressBar::no_length());
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
        // The total starts without a length, so that it shows no bar before the plan is known.
        if self.total.length().is_some() {
            self.total.inc_length(bytes);
        } else {
            self.total.set_length(bytes);
        }
    }

    /// Shows a blob found in the cache.
    pub fn cached(&self, digest: &str, size: u64) {
        self.total.inc(size);
        self.finished_line(&format!("{} cached ({})", short(digest), HumanBytes(size)));
    }

    /// Shows that another process is downloading a blob this pull needs.
    pub fn waiting(&self, digest: &str) {
        self.finished_line(&format!(
            "{} is being downloaded by another imgpull; waiting for it",
            short(digest)
        ));
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

/// A byte count as text, so that it can be padded.
fn bytes(count: u64) -> String {
    HumanBytes(count).to_string()
}

/// `["a", "b"]` as docker shows entrypoints, `none` when empty.
fn json_list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        serde_json::to_string(items).unwrap_or_default()
    }
}

/// `5 minutes ago`, `3 days ago`.
fn ago(now: SystemTime, then: SystemTime) -> String {
    let seconds = now.duration_since(then).unwrap_or_default().as_secs();
    let (value, unit) = match seconds {
        0..60 => return "just now".to_owned(),
        60..3600 => (seconds / 60, "minute"),
        3600..86_400 => (seconds / 3600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    format!("{value} {unit}{} ago", if value == 1 { "" } else { "s" })
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
    fn ages() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let before = |seconds| now - Duration::from_secs(seconds);
        assert_eq!(ago(now, before(5)), "just now");
        assert_eq!(ago(now, before(60)), "1 minute ago");
        assert_eq!(ago(now, before(7200)), "2 hours ago");
        assert_eq!(ago(now, before(3 * 86_400)), "3 days ago");
        assert_eq!(ago(now, now + Duration::from_secs(9)), "just now");
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
        assert_eq!(progress.total.position(), 250);
        blob.advance(50);
        blob.done();
        assert_eq!(progress.total.position(), 300);
        assert_eq!(progress.total.length(), Some(300));
    }
}
