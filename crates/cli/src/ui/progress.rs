//! The progress display of a pull: bars on a terminal, lines in a log, nothing with `--quiet`.

use std::time::Duration;

use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::short;

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

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use crate::ui::Ui;

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
