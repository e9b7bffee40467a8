//! Managing the cache: list, du, prune, verify, clear, and collection of stale partials.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use imgpull_reference::{Digest, Hasher};
use serde::{Serialize, Serializer};

use crate::error::{BlobstoreError, Result};
use crate::fsutil;
use crate::images::ImageRecord;
use crate::layout::{self, ALGORITHMS, Layout};
use crate::lock::FileLock;
use crate::store::Store;
use crate::writer::BUFFER_SIZE;

/// Partial downloads untouched for this long are deleted.
pub(crate) const STALE_PARTIAL_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Unreferenced blobs used more recently than this are kept by
/// [`PruneOptions::unreferenced`]: a pull running in another process stores its blobs before
/// it records its image, and must not lose them in between.
pub const UNREFERENCED_GRACE: Duration = Duration::from_secs(10 * 60);

/// A stored blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct BlobInfo {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last written or used (serialised as seconds since the Unix epoch).
    #[serde(serialize_with = "unix_seconds")]
    pub last_used: SystemTime,
    /// Whether a recorded image references it.
    pub referenced: bool,
}

/// What [`Store::list`] finds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Listing {
    /// The images recorded in `index.json`.
    pub images: Vec<ImageRecord>,
    /// Every stored blob, most recently used first.
    pub blobs: Vec<BlobInfo>,
}

/// Disk usage of the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DiskUsage {
    /// Number of stored blobs.
    pub blobs: u64,
    /// Bytes of stored blobs.
    pub blob_bytes: u64,
    /// Number of partial downloads.
    pub partials: u64,
    /// Bytes of partial downloads.
    pub partial_bytes: u64,
    /// Bytes of blobs moved aside by [`Store::verify`].
    pub quarantine_bytes: u64,
}

impl DiskUsage {
    /// Everything together.
    pub fn total_bytes(&self) -> u64 {
        self.blob_bytes + self.partial_bytes + self.quarantine_bytes
    }
}

/// What [`Store::prune`] removes. The default removes nothing but stale partials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneOptions {
    /// Remove blobs not used for this long.
    pub older_than: Option<Duration>,
    /// Remove the least recently used blobs until the blobs take at most this many bytes.
    pub max_size: Option<u64>,
    /// Remove blobs that no image in `index.json` references (except those used within
    /// [`UNREFERENCED_GRACE`]).
    pub unreferenced: bool,
}

/// Why a blob was pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PruneReason {
    /// Not used within [`PruneOptions::older_than`].
    Age,
    /// Among the least recently used beyond [`PruneOptions::max_size`].
    Size,
    /// No recorded image references it.
    Unreferenced,
}

/// A blob removed by [`Store::prune`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PrunedBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Why it was removed.
    pub reason: PruneReason,
}

/// What [`Store::prune`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PruneReport {
    /// The blobs removed.
    pub removed: Vec<PrunedBlob>,
    /// Bytes freed (blobs and partials).
    pub bytes_freed: u64,
    /// Images dropped from `index.json` because a blob they need was removed.
    pub images_removed: Vec<String>,
    /// Stale partial downloads removed.
    pub partials_removed: u64,
}

/// A blob whose content does not match its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CorruptBlob {
    /// The digest it is stored under.
    pub digest: Digest,
    /// The digest of its content.
    pub actual: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Where it was moved (under `.imgpull/quarantine/`).
    pub quarantined: PathBuf,
}

/// What [`Store::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Number of blobs re-hashed.
    pub checked: u64,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Blobs whose content did not match their digest, now moved out of `blobs/`.
    pub corrupt: Vec<CorruptBlob>,
    /// Files under `blobs/` whose name is not a digest (left in place).
    pub unexpected: Vec<PathBuf>,
    /// Blobs that recorded images need but the store lacks (pull the image again).
    pub missing: Vec<Digest>,
}

impl VerifyReport {
    /// Whether everything checked out.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.unexpected.is_empty() && self.missing.is_empty()
    }
}

/// What [`Store::clear`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ClearReport {
    /// Number of blobs removed.
    pub blobs: u64,
    /// Bytes freed (blobs, partials and quarantine).
    pub bytes_freed: u64,
}

impl Store {
    /// The recorded images and every stored blob with its size and last use.
    pub fn list(&self) -> Result<Listing> {
        let referenced = self.referenced_blobs()?.present;
        let mut blobs = scan_blobs(self.layout())?
            .into_iter()
            .map(|(digest, size, last_used)| BlobInfo {
                referenced: referenced.contains(&digest),
                digest,
                size,
                last_used,
            })
            .collect::<Vec<_>>();
        blobs.sort_by_key(|b| std::cmp::Reverse(b.last_used));
        Ok(Listing {
            images: self.images()?,
            blobs,
        })
    }

    /// The space the cache takes.
    pub fn du(&self) -> Result<DiskUsage> {
        let layout = self.layout();
        let mut usage = DiskUsage::default();
        for (_, size, _) in scan_blobs(layout)? {
            usage.blobs += 1;
            usage.blob_bytes += size;
        }
        for (_, metadata) in fsutil::list_dir(&layout.partial_dir())? {
            usage.partials += 1;
            usage.partial_bytes += metadata.len();
        }
        usage.quarantine_bytes = fsutil::list_dir(&layout.quarantine_dir())?
            .iter()
            .map(|(_, m)| m.len())
            .sum();
        Ok(usage)
    }

    /// Removes blobs by age, by total size (keeping the most recently used) and/or when no
    /// recorded image references them, and partial downloads untouched for a day. Images that
    /// lose a blob are dropped from `index.json`, and diff_id entries of removed blobs are
    /// forgotten, so the directory stays a valid, consistent layout.
    ///
    /// While a [`Lease`](crate::Lease) is held on the cache (a pull is running, in any
    /// process), nothing is removed: [`BlobstoreError::InUse`].
    pub fn prune(&self, options: &PruneOptions) -> Result<PruneReport> {
        self.exclusively(|| self.prune_now(options))
    }

    fn prune_now(&self, options: &PruneOptions) -> Result<PruneReport> {
        let layout = self.layout();
        let mut report = PruneReport::default();
        let (partials, partial_bytes) = collect_stale_partials(layout, STALE_PARTIAL_AGE)?;
        report.partials_removed = partials;
        report.bytes_freed += partial_bytes;

        let now = SystemTime::now();
        let referenced = if options.unreferenced {
            self.referenced_blobs()?.present
        } else {
            BTreeSet::new()
        };
        let mut blobs = scan_blobs(layout)?;
        // Most recently used first, so that the size limit keeps a prefix.
        blobs.sort_by_key(|b| std::cmp::Reverse(b.2));
        let mut kept_bytes = 0_u64;
        let mut failure = None;
        for (digest, size, last_used) in blobs {
            let idle = now.duration_since(last_used).unwrap_or_default();
            let reason = if options.unreferenced
                && !referenced.contains(&digest)
                && idle >= UNREFERENCED_GRACE
            {
                Some(PruneReason::Unreferenced)
            } else if options.older_than.is_some_and(|age| idle >= age) {
                Some(PruneReason::Age)
            } else if options.max_size.is_some_and(|max| kept_bytes + size > max) {
                Some(PruneReason::Size)
            } else {
                None
            };
            let path = layout.blob(&digest);
            let reason = match reason.map(|reason| (reason, last_use(&path))) {
                // Removed by someone else since the scan.
                Some((_, None)) => continue,
                // Used since the scan (another process found it present and is about to read
                // it): kept.
                Some((_, Some(current))) if current > last_used => None,
                other => other.map(|(reason, _)| reason),
            };
            match reason.map(|r| (r, fsutil::remove_file_if_exists(&path))) {
                Some((reason, Ok(true))) => {
                    report.bytes_freed += size;
                    report.removed.push(PrunedBlob {
                        digest,
                        size,
                        reason,
                    });
                }
                Some((_, Ok(false))) => {}
                Some((_, Err(e))) => {
                    failure = Some(e);
                    break;
                }
                None => kept_bytes += size,
            }
        }
        // Even after a failed removal, keep index.json and the diff_id index consistent with
        // what was removed.
        if !report.removed.is_empty() {
            report.images_removed = self.forget_incomplete_images()?;
            self.forget_missing_diff_ids()?;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Re-hashes every stored blob. Blobs that do not match their digest are moved to
    /// `.imgpull/quarantine/` (out of `blobs/`, so they are never served again); the report
    /// also lists stray files under `blobs/` and blobs that recorded images need but lack.
    ///
    /// While a [`Lease`](crate::Lease) is held on the cache (a pull is running, in any
    /// process), nothing is checked or moved: [`BlobstoreError::InUse`].
    pub fn verify(&self) -> Result<VerifyReport> {
        self.exclusively(|| self.verify_now())
    }

    fn verify_now(&self) -> Result<VerifyReport> {
        let layout = self.layout();
        let mut report = VerifyReport::default();
        let mut buf = vec![0_u8; BUFFER_SIZE];
        for algorithm in ALGORITHMS {
            let dir = layout.blob_dir(algorithm);
            for (name, metadata) in fsutil::list_dir(&dir)? {
                let path = dir.join(&name);
                let Some(digest) = layout::parse_blob_name(algorithm, &name) else {
                    report.unexpected.push(path);
                    continue;
                };
                let Some(actual) = hash_file(&path, algorithm.hasher(), &mut buf)? else {
                    // Removed (by a concurrent prune or clear) since the listing.
                    continue;
                };
                report.checked += 1;
                report.bytes += metadata.len();
                if actual != digest {
                    let quarantined = quarantine(layout, &path, &digest)?;
                    report.corrupt.push(CorruptBlob {
                        digest,
                        actual,
                        size: metadata.len(),
                        quarantined,
                    });
                }
            }
        }
        report.missing = self.referenced_blobs()?.missing.into_iter().collect();
        Ok(report)
    }

    /// Removes every blob, partial (except those being written right now), quarantined file,
    /// recorded image and diff_id entry. The directory stays a valid, empty layout.
    ///
    /// While a [`Lease`](crate::Lease) is held on the cache (a pull is running, in any
    /// process), nothing is removed: [`BlobstoreError::InUse`].
    pub fn clear(&self) -> Result<ClearReport> {
        self.exclusively(|| self.clear_now())
    }

    fn clear_now(&self) -> Result<ClearReport> {
        let layout = self.layout();
        let mut report = ClearReport::default();
        self.clear_images()?;
        self.clear_diff_ids()?;
        for (digest, size, _) in scan_blobs(layout)? {
            if fsutil::remove_file_if_exists(&layout.blob(&digest))? {
                report.blobs += 1;
                report.bytes_freed += size;
            }
        }
        let (_, partial_bytes) = collect_stale_partials(layout, Duration::ZERO)?;
        report.bytes_freed += partial_bytes;
        let quarantine = layout.quarantine_dir();
        for (name, metadata) in fsutil::list_dir(&quarantine)? {
            if fsutil::remove_file_if_exists(&quarantine.join(name))? {
                report.bytes_freed += metadata.len();
            }
        }
        Ok(report)
    }
}

/// When the file at `path` was last used (its modification time), `None` if it is gone.
fn last_use(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Every stored blob: digest, size, last use. Stray files are skipped.
fn scan_blobs(layout: &Layout) -> Result<Vec<(Digest, u64, SystemTime)>> {
    let mut blobs = Vec::new();
    for algorithm in ALGORITHMS {
        for (name, metadata) in fsutil::list_dir(&layout.blob_dir(algorithm))? {
            if let Some(digest) = layout::parse_blob_name(algorithm, &name) {
                let last_used = metadata.modified().unwrap_or(UNIX_EPOCH);
                blobs.push((digest, metadata.len(), last_used));
            }
        }
    }
    Ok(blobs)
}

/// Deletes partial files not modified for `max_age` and not being written (their lock is
/// free), with their lock files. Returns how many were removed and their bytes.
pub(crate) fn collect_stale_partials(layout: &Layout, max_age: Duration) -> Result<(u64, u64)> {
    let now = SystemTime::now();
    let (mut count, mut bytes) = (0, 0);
    let dir = layout.partial_dir();
    let idle = |metadata: &fs::Metadata| {
        metadata
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or_default()
    };
    for (name, metadata) in fsutil::list_dir(&dir)? {
        if idle(&metadata) < max_age {
            continue;
        }
        let Some(digest) = layout::parse_file_key(&name) else {
            // Not ours to judge; partial names are always digests.
            continue;
        };
        let Some(lock) = FileLock::try_acquire(&layout.blob_lock(&digest))? else {
            continue;
        };
        // Look again under the lock: a writer may have resumed it since the listing.
        let path = dir.join(&name);
        if let Ok(current) = fs::metadata(&path)
            && idle(&current) >= max_age
            && fsutil::remove_file_if_exists(&path)?
        {
            count += 1;
            bytes += current.len();
        }
        lock.release_and_remove();
    }
    Ok((count, bytes))
}

/// The digest of the file at `path`, `None` if it does not exist.
fn hash_file(path: &Path, mut hasher: Hasher, buf: &mut [u8]) -> Result<Option<Digest>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(BlobstoreError::io("open", path)(e)),
    };
    fsutil::feed(file, &mut hasher, buf).map_err(BlobstoreError::io("read", path))?;
    Ok(Some(hasher.finish()))
}

/// Moves a corrupt blob out of `blobs/` into the quarantine directory.
fn quarantine(layout: &Layout, path: &Path, digest: &Digest) -> Result<PathBuf> {
    let dir = layout.quarantine_dir();
    fsutil::create_dir_all(&dir)?;
    let target = dir.join(layout::file_key(digest));
    fs::rename(path, &target).map_err(BlobstoreError::io("move corrupt blob out of", path))?;
    Ok(target)
}

fn unix_seconds<S: Serializer>(time: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    serializer.serialize_u64(seconds)
}
