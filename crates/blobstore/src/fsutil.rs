//! Small file system helpers: atomic replacement, directory syncs, tolerant removal.

use std::fs::{self, File};
use std::io::{self, Read, Write as _};
use std::path::Path;

use imgpull_reference::Hasher;

use crate::error::{BlobstoreError, Result};

/// Replaces `path` with `bytes` atomically: a temporary file in `temp_dir` (which must be on the
/// same file system) is written, synced and renamed over `path`, then `path`'s directory is
/// synced. Readers see the old or the new content, never a mix.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], temp_dir: &Path) -> Result<()> {
    let dir = parent(path);
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(temp_dir)
        .map_err(BlobstoreError::io("create a temporary file in", temp_dir))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_data())
        .map_err(BlobstoreError::io("write", temp.path().to_path_buf()))?;
    temp.persist(path)
        .map_err(|e| BlobstoreError::io("replace", path)(e.error))?;
    sync_dir(dir)
}

/// Makes a rename or creation in `dir` durable (a no-op where directories cannot be opened).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(BlobstoreError::io("sync directory", dir))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Creates `dir` and its parents.
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(BlobstoreError::io("create directory", dir))
}

/// Removes a file; a file that is already gone is not an error.
pub(crate) fn remove_file_if_exists(path: &Path) -> Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(BlobstoreError::io("remove", path)(e)),
    }
}

/// Reads a file, `None` if it does not exist.
pub(crate) fn read_if_exists(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(BlobstoreError::io("read", path)(e)),
    }
}

/// The entries of `dir` as (file name, metadata) pairs, skipping entries that vanish while
/// being listed; a missing directory has no entries.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<(String, fs::Metadata)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(BlobstoreError::io("list directory", dir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(BlobstoreError::io("list directory", dir))?;
        let metadata = match entry.metadata() {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(BlobstoreError::io("inspect", entry.path())(e)),
        };
        if let Some(name) = entry.file_name().to_str() {
            out.push((name.to_owned(), metadata));
        }
    }
    Ok(out)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Feeds everything `reader` yields to `hasher` through `buf`; returns the number of bytes.
pub(crate) fn feed(mut reader: impl Read, hasher: &mut Hasher, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0;
    loop {
        match reader.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => {
                hasher.update(&buf[..n]);
                total += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
