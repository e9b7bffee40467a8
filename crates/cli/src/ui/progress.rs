//! The progress display of a pull: bars on a terminal, lines in a log, nothing with `--quiet`.

use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Ui, short};

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The style of a blob download's bar, parsed once: every bar gets a copy (`set_style` takes
/// one by value).
fn blob_style() -> ProgressStyle {
    static STYLE: OnceLock<ProgressStyle> = OnceLock::new();
    STYLE
        .get_or_init(|| {
            style(
                "{prefix:>14} [{bar:30.cyan/blue}] {bytes}/{total_bytes} {percent:>3}% {binary_bytes_per_sec} ETA {eta}",
            )
        })
        .clone()
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
    /// A display drawn on stderr when it is a terminal and `--quiet` is off.
    pub(super) fn new(quiet: bool, terminal: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if quiet || !terminal {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr_with_hz(8)
        });
        let total = multi.add(ProgressBar::no_length());
        total.set_style(style(
            "{prefix:>14} [{wide_bar:.green/blue}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
        ));
        total.set_prefix("total");
        Self {
            multi,
            total,
            quiet,
            terminal,
        }
    }

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
        bar.set_style(blob_style());
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

    /// Prints a warning (shown even with `--quiet`) above the bars, which are hidden while it
    /// is printed so that it does not tear them.
    pub fn warning(&self, message: &str) {
        self.multi.suspend(|| Ui::warning(message));
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

    /// The bytes accounted for so far and the bytes expected (the total bar).
    #[cfg(test)]
    pub(crate) fn accounted(&self) -> (u64, Option<u64>) {
        (self.total.position(), self.total.length())
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

    /// Starts the download over at `already` bytes (the bytes of the previous source failed
    /// verification and were thrown away): the same bar goes back to `already`, its speed and
    /// ETA start afresh, and the total forgets the thrown-away bytes, so that it never passes
    /// what the pull has to account for.
    pub fn restart(&mut self, already: u64) {
        let counted = self.bar.position();
        if counted > already {
            self.owner.total.dec(counted - already);
        } else {
            self.owner.total.inc(already - counted);
        }
        self.bar.reset();
        self.bar.set_position(already);
        self.resumed = already;
    }

    /// Removes the bar and takes its bytes back from the total, for a blob that is accounted
    /// for otherwise (stored by another process meanwhile, shown as cached).
    pub fn withdraw(self) {
        self.owner.total.dec(self.bar.position());
        self.clear();
    }

    /// Turns the bar into a "downloaded" line (of the last attempt, after a restart).
    pub fn done(self) {
        let elapsed = self.bar.elapsed();
        let fetched = self.bar.position().saturating_sub(self.resumed);
        self.clear();
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

    /// Takes the bar off the display.
    fn clear(&self) {
        self.bar.finish_and_clear();
        self.owner.multi.remove(&self.bar);
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

#[cfg(test)]
mod tests {
    use super::PullProgress;
    use crate::ui::Ui;

    fn hidden() -> PullProgress {
        Ui {
            quiet: true,
            json: false,
            terminal: false,
        }
        .pull_progress()
    }

    #[test]
    fn hidden_progress_accounts_bytes() {
        let progress = hidden();
        progress.expect_bytes(300);
        progress.cached("sha256:aa", 100);
        let blob = progress.download("sha256:bb", 200, 50);
        blob.advance(100);
        assert_eq!(progress.accounted(), (250, Some(300)));
        blob.advance(50);
        blob.done();
        assert_eq!(progress.accounted(), (300, Some(300)));
    }

    /// Bytes thrown away after a failed verification leave the total: downloading the blob
    /// again never takes it past its length.
    #[test]
    fn a_restarted_download_goes_back_on_its_bar_and_in_the_total() {
        let progress = hidden();
        progress.expect_bytes(300);
        progress.cached("sha256:aa", 100);
        let mut blob = progress.download("sha256:bb", 200, 50);
        blob.advance(150);
        assert_eq!(progress.accounted(), (300, Some(300)));

        blob.restart(0);
        assert_eq!(blob.bar.position(), 0);
        assert!(!blob.bar.is_finished(), "the same bar goes on");
        assert_eq!(progress.accounted(), (100, Some(300)));
        blob.advance(120);
        // A restart at a resumed position counts that position once.
        blob.restart(30);
        assert_eq!((blob.bar.position(), blob.resumed), (30, 30));
        assert_eq!(progress.accounted(), (130, Some(300)));
        blob.advance(170);
        blob.done();
        assert_eq!(progress.accounted(), (300, Some(300)));
    }

    #[test]
    fn a_withdrawn_download_leaves_the_total_and_the_display() {
        let progress = hidden();
        progress.expect_bytes(200);
        let blob = progress.download("sha256:bb", 200, 20);
        blob.advance(80);
        blob.withdraw();
        assert_eq!(progress.accounted(), (0, Some(200)));
        progress.cached("sha256:bb", 200);
        assert_eq!(progress.accounted(), (200, Some(200)));
    }
}
