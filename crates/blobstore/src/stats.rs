//! Cache statistics of a pull, and a byte-size display.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// What the cache did for one pull: layers found (hits) and fetched (misses), and the bytes
/// each side accounts for.
///
/// ```
/// use imgpull_blobstore::Stats;
///
/// let stats = Stats { hits: 6, misses: 0, bytes_downloaded: 0, bytes_reused: 131_000_000 };
/// assert_eq!(
///     stats.to_string(),
///     "cache: 6/6 layers hit (100.0%), 131.0 MB reused, 0 B downloaded"
/// );
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Blobs found in the cache.
    pub hits: u64,
    /// Blobs that had to be downloaded (fully or from a resumed partial).
    pub misses: u64,
    /// Bytes received from the network.
    pub bytes_downloaded: u64,
    /// Bytes served from the cache instead of the network (including the resumed part of
    /// partial files).
    pub bytes_reused: u64,
}

impl Stats {
    /// Hits and misses together.
    pub fn total(&self) -> u64 {
        self.hits + self.misses
    }

    /// The share of hits in percent, `None` when nothing was looked up.
    pub fn hit_rate(&self) -> Option<f64> {
        let total = self.total();
        (total > 0).then(|| self.hits as f64 * 100.0 / total as f64)
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.hit_rate() {
            None => f.write_str("cache: no layers")?,
            Some(rate) => write!(
                f,
                "cache: {}/{} layers hit ({rate:.1}%)",
                self.hits,
                self.total()
            )?,
        }
        write!(
            f,
            ", {} reused, {} downloaded",
            ByteSize(self.bytes_reused),
            ByteSize(self.bytes_downloaded)
        )
    }
}

/// A thread-safe accumulator of [`Stats`], shared by concurrent downloads.
///
/// ```
/// use imgpull_blobstore::StatsRecorder;
///
/// let recorder = StatsRecorder::default();
/// std::thread::scope(|s| {
///     s.spawn(|| recorder.hit(100));
///     s.spawn(|| {
///         recorder.miss();
///         recorder.downloaded(40);
///     });
/// });
/// let stats = recorder.snapshot();
/// assert_eq!((stats.hits, stats.misses, stats.bytes_reused, stats.bytes_downloaded), (1, 1, 100, 40));
/// ```
#[derive(Debug, Default)]
pub struct StatsRecorder {
    hits: AtomicU64,
    misses: AtomicU64,
    bytes_downloaded: AtomicU64,
    bytes_reused: AtomicU64,
}

impl StatsRecorder {
    /// Records a blob found in the cache, of `bytes` bytes.
    pub fn hit(&self, bytes: u64) {
        self.hits.fetch_add(1, Ordering::Relaxed);
        self.bytes_reused.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records a blob that must be downloaded.
    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Records `bytes` received from the network (call it per chunk or once per blob).
    pub fn downloaded(&self, bytes: u64) {
        self.bytes_downloaded.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Records `bytes` reused without a hit, such as the resumed prefix of a partial file.
    pub fn reused(&self, bytes: u64) {
        self.bytes_reused.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The totals so far.
    pub fn snapshot(&self) -> Stats {
        Stats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bytes_downloaded: self.bytes_downloaded.load(Ordering::Relaxed),
            bytes_reused: self.bytes_reused.load(Ordering::Relaxed),
        }
    }
}

/// A number of bytes shown with decimal (SI) units and one decimal, as docker prints sizes:
/// `0 B`, `999 B`, `1.5 kB`, `131.0 MB`, `2.1 GB`.
///
/// ```
/// use imgpull_blobstore::ByteSize;
///
/// assert_eq!(ByteSize(999).to_string(), "999 B");
/// assert_eq!(ByteSize(1_500).to_string(), "1.5 kB");
/// assert_eq!(ByteSize(131_000_000).to_string(), "131.0 MB");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
pub struct ByteSize(pub u64);

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 6] = ["kB", "MB", "GB", "TB", "PB", "EB"];
        if self.0 < 1000 {
            return write!(f, "{} B", self.0);
        }
        let mut value = self.0 as f64 / 1000.0;
        let mut unit = 0;
        // Move up while the value would print as 1000.0 or more.
        while value >= 999.95 && unit + 1 < UNITS.len() {
            value /= 1000.0;
            unit += 1;
        }
        write!(f, "{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes_never_print_a_thousand_of_a_unit() {
        assert_eq!(ByteSize(0).to_string(), "0 B");
        assert_eq!(ByteSize(999_960).to_string(), "1.0 MB");
        assert_eq!(ByteSize(999_940).to_string(), "999.9 kB");
        assert_eq!(ByteSize(u64::MAX).to_string(), "18.4 EB");
    }

    #[test]
    fn stats_display_partial_hits_and_empty_pulls() {
        let stats = Stats {
            hits: 1,
            misses: 2,
            bytes_downloaded: 2_500_000,
            bytes_reused: 1_000,
        };
        assert_eq!(
            stats.to_string(),
            "cache: 1/3 layers hit (33.3%), 1.0 kB reused, 2.5 MB downloaded"
        );
        assert_eq!(
            Stats::default().to_string(),
            "cache: no layers, 0 B reused, 0 B downloaded"
        );
    }
}
