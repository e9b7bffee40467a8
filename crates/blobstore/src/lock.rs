//! Advisory file locks shared by processes (std `File::lock`), with lock files that may be
//! removed by their holder.
//!
//! On Unix a holder unlinks its lock file while it holds the lock (so that lock files do not
//! pile up). A process that was waiting on the old file then holds a lock on an unlinked inode,
//! so after every acquisition the path is checked to still name the locked file (same device
//! and inode); if not, the acquisition is retried on the new file.
//!
//! Elsewhere (Windows) that check is not available, so lock files are never removed: a waiter
//! that locked a file whose name had meanwhile been unlinked and reused would otherwise hold
//! the lock at the same time as the process that created the new file.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{BlobstoreError, Result};

/// An exclusive lock held on a lock file until dropped.
#[derive(Debug)]
pub(crate) struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Takes the lock, waiting for any other holder to release it.
    pub(crate) fn acquire(path: &Path) -> Result<Self> {
        loop {
            let file = open(path)?;
            file.lock().map_err(BlobstoreError::io("lock", path))?;
            if still_current(&file, path)? {
                return Ok(Self {
                    file,
                    path: path.to_path_buf(),
                });
            }
        }
    }

    /// Takes the lock if nobody holds it; `None` if another holder does.
    pub(crate) fn try_acquire(path: &Path) -> Result<Option<Self>> {
        loop {
            let file = open(path)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => return Ok(None),
                Err(TryLockError::Error(e)) => return Err(BlobstoreError::io("lock", path)(e)),
            }
            if still_current(&file, path)? {
                return Ok(Some(Self {
                    file,
                    path: path.to_path_buf(),
                }));
            }
        }
    }

    /// Unlinks the lock file (on Unix, see the module docs), then releases the lock. Waiters
    /// notice and retry on a new file.
    pub(crate) fn release_and_remove(self) {
        // A lock file left behind is harmless (it is reused by the next holder), so a failure
        // to unlink it is not worth reporting.
        #[cfg(unix)]
        let _ = fs::remove_file(&self.path);
        drop(self.file);
    }
}

/// A lock on the whole cache (`.imgpull/cache.lock`), shared by the processes that use its
/// blobs ([`Store::lease`](crate::Store::lease)) and exclusive for `prune`, `clear` and
/// `verify`. Its file is never removed, so no inode check is needed. Released when dropped.
#[derive(Debug)]
pub(crate) struct CacheLock {
    _file: File,
}

impl CacheLock {
    /// Takes the lock shared, waiting while an exclusive holder has it.
    pub(crate) fn shared(path: &Path) -> Result<Self> {
        let file = open(path)?;
        file.lock_shared()
            .map_err(BlobstoreError::io("lock", path))?;
        Ok(Self { _file: file })
    }

    /// Takes the lock exclusive if nobody holds it; `None` if anyone does.
    pub(crate) fn try_exclusive(path: &Path) -> Result<Option<Self>> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(BlobstoreError::io("lock", path)(e)),
        }
    }
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(BlobstoreError::io("open lock file", path))
}

/// Whether `path` still names the file that was locked.
fn still_current(file: &File, path: &Path) -> Result<bool> {
    let on_disk = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(BlobstoreError::io("inspect lock file", path)(e)),
    };
    let held = file
        .metadata()
        .map_err(BlobstoreError::io("inspect lock file", path))?;
    Ok(same_file(&held, &on_disk))
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Lock files are never removed where this cannot be checked, so the path always names the
/// locked file.
#[cfg(not(unix))]
fn same_file(_: &fs::Metadata, _: &fs::Metadata) -> bool {
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn try_acquire_reports_a_held_lock_and_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = FileLock::acquire(&path).unwrap();
        assert!(FileLock::try_acquire(&path).unwrap().is_none());
        drop(held);
        assert!(FileLock::try_acquire(&path).unwrap().is_some());
    }

    #[test]
    fn the_cache_lock_is_shared_by_users_and_exclusive_for_one_manager() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.lock");
        let first = CacheLock::shared(&path).unwrap();
        let second = CacheLock::shared(&path).unwrap();
        assert!(CacheLock::try_exclusive(&path).unwrap().is_none());
        drop(first);
        assert!(CacheLock::try_exclusive(&path).unwrap().is_none());
        drop(second);
        let manager = CacheLock::try_exclusive(&path).unwrap();
        assert!(manager.is_some());
        assert!(CacheLock::try_exclusive(&path).unwrap().is_none());
    }

    #[test]
    fn a_removed_lock_file_is_recreated_by_the_next_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        FileLock::acquire(&path).unwrap().release_and_remove();
        assert_eq!(path.exists(), cfg!(not(unix)));
        let again = FileLock::try_acquire(&path).unwrap();
        assert!(again.is_some());
        assert!(path.exists());
    }
}
