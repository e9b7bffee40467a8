//! Output files that appear complete or not at all, and gzip compression of a whole archive.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use tempfile::NamedTempFile;

use crate::error::ArchiveError;

/// A file written under a temporary name in its destination's directory and renamed to the
/// destination by [`AtomicFile::commit`] after an fsync. Dropped without a commit (on an error,
/// or when Ctrl+C unwinds), it is deleted: nothing is ever left under the final name.
///
/// ```
/// use imgpull_archive::AtomicFile;
/// use std::io::Write;
///
/// let dir = tempfile::tempdir()?;
/// let dest = dir.path().join("out.tar");
/// let mut file = AtomicFile::create(&dest)?;
/// file.write_all(b"content")?;
/// assert!(!dest.exists());
/// file.commit()?;
/// assert_eq!(std::fs::read(&dest)?, b"content");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    out: BufWriter<NamedTempFile>,
    dest: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file next to `dest`.
    pub fn create(dest: impl AsRef<Path>) -> Result<Self, ArchiveError> {
        let dest = dest.as_ref().to_path_buf();
        let dir = parent_dir(&dest);
        let name = dest
            .file_name()
            .map(|n| format!(".{}.", n.to_string_lossy()))
            .unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&name)
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| ArchiveError::file("cannot create a temporary file in", &dir, e))?;
        Ok(Self {
            out: BufWriter::with_capacity(crate::copy::BUFFER, temp),
            dest,
        })
    }

    /// The final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Flushes, fsyncs and renames the file to its destination (replacing any file there), then
    /// fsyncs the directory.
    pub fn commit(self) -> Result<PathBuf, ArchiveError> {
        let dest = self.dest;
        let temp = self
            .out
            .into_inner()
            .map_err(|e| ArchiveError::file("cannot write", &dest, e.into_error()))?;
        temp.as_file()
            .sync_all()
            .map_err(|e| ArchiveError::file("cannot write", &dest, e))?;
        temp.persist(&dest).map_err(|e| {
            ArchiveError::file("cannot rename the temporary file to", &dest, e.error)
        })?;
        sync_dir(&parent_dir(&dest))?;
        Ok(dest)
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes a rename in `dir` durable (a no-op where directories cannot be opened, as on Windows).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), ArchiveError> {
    if cfg!(unix) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| ArchiveError::file("cannot sync directory", dir, e))?;
    }
    Ok(())
}

/// A writer that gzip-compresses everything written to it (`--gzip`, `.tar.gz` outputs).
///
/// The gzip header carries no file name and a zero modification time, so the output is as
/// deterministic as its input.
#[derive(Debug)]
pub struct GzipWriter<W: Write> {
    encoder: GzEncoder<W>,
}

impl<W: Write> GzipWriter<W> {
    /// Compresses into `out` at the default level (6).
    pub fn new(out: W) -> Self {
        Self {
            encoder: GzEncoder::new(out, flate2::Compression::default()),
        }
    }

    /// Writes the gzip trailer and returns the inner writer.
    pub fn finish(self) -> Result<W, ArchiveError> {
        self.encoder
            .finish()
            .map_err(|e| ArchiveError::write("the gzip trailer", e))
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.encoder.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.encoder.flush()
    }
}

/// Removes an empty directory at `path` so that a directory can be renamed there; any other
/// existing entry is an error.
pub(crate) fn clear_destination(path: &Path) -> Result<(), ArchiveError> {
    match fs::read_dir(path) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(ArchiveError::OutputExists {
                    path: path.to_path_buf(),
                });
            }
            fs::remove_dir(path).map_err(|e| ArchiveError::file("cannot replace", path, e))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(_) => Err(ArchiveError::OutputExists {
            path: path.to_path_buf(),
        }),
    }
}
