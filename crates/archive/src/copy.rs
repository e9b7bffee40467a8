//! Byte plumbing shared by the writers and the reader: exact-size copies that hash as they go.

use std::fs::File;
use std::io::{self, Read, Write};

use imgpull_reference::{Algorithm, Digest, Hasher};

use crate::error::ArchiveError;

/// The copy buffer size: large enough for sequential disk and pipe throughput.
pub(crate) const BUFFER: usize = 256 * 1024;

/// Why an exact copy failed.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The reader failed.
    Read(io::Error),
    /// The writer failed.
    Write(io::Error),
    /// The reader ended after `actual` bytes, or had more than expected (`actual` = expected + 1).
    Size { actual: u64 },
}

impl CopyError {
    /// The crate error for a copy of blob `digest` of `expected` bytes into `what`; `read_error`
    /// builds the error for a failing reader.
    pub(crate) fn into_archive_error(
        self,
        digest: &Digest,
        expected: u64,
        what: &str,
        read_error: impl FnOnce(io::Error) -> ArchiveError,
    ) -> ArchiveError {
        match self {
            Self::Read(source) => read_error(source),
            Self::Write(source) => ArchiveError::write(what, source),
            Self::Size { actual } => ArchiveError::SizeMismatch {
                digest: digest.clone(),
                expected,
                actual,
            },
        }
    }
}

/// Copies exactly `size` bytes from `reader` to `writer`, feeding them to `hasher` when given; a
/// reader that ends early or has more bytes is an error (after at most `size` bytes were
/// written).
pub(crate) fn copy_exact(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    size: u64,
    mut hasher: Option<&mut Hasher>,
) -> Result<(), CopyError> {
    let mut buf = vec![0_u8; BUFFER];
    let mut copied = 0_u64;
    while copied < size {
        let want = usize::try_from(size - copied).map_or(buf.len(), |left| left.min(buf.len()));
        let n = match reader.read(&mut buf[..want]) {
            Ok(0) => return Err(CopyError::Size { actual: copied }),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        if let Some(hasher) = hasher.as_deref_mut() {
            hasher.update(&buf[..n]);
        }
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
        copied += n as u64;
    }
    expect_end(reader, size)
}

/// Checks that `reader`, after `size` bytes, has no more.
pub(crate) fn expect_end(reader: &mut dyn Read, size: u64) -> Result<(), CopyError> {
    let mut probe = [0_u8; 1];
    loop {
        match reader.read(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                return Err(CopyError::Size {
                    actual: size.saturating_add(1),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(CopyError::Read(e)),
        }
    }
}

/// Copies exactly `size` bytes of `source` (from its position) into `out` (at its position), file
/// to file: `copy_file_range` on Linux, which copies inside the kernel or shares the extents.
/// For blobs verified by their source, so not hashed; a source with fewer or more bytes is an
/// error.
pub(crate) fn copy_file_exact(
    source: &mut File,
    out: &mut File,
    size: u64,
) -> Result<(), CopyError> {
    // `io::copy` from a `Take<&mut File>` to a `&mut File` is specialised to `copy_file_range`
    // (and falls back to a buffered copy where the kernel cannot), but cannot say which side
    // failed; a failing read of a verified local file is rare enough to report as a write.
    let copied = io::copy(&mut Read::take(&mut *source, size), out).map_err(CopyError::Write)?;
    if copied < size {
        return Err(CopyError::Size { actual: copied });
    }
    expect_end(source, size)
}

/// Copies `reader` to its end into `writer`, feeding `hasher`; returns the number of bytes.
pub(crate) fn copy_hashed(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    hasher: &mut Hasher,
) -> Result<u64, CopyError> {
    let mut buf = vec![0_u8; BUFFER];
    let mut copied = 0_u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e)),
        };
        hasher.update(&buf[..n]);
        writer.write_all(&buf[..n]).map_err(CopyError::Write)?;
        copied += n as u64;
    }
}

/// Reads `reader` to its end, returning the number of bytes and their digest with `algorithm`
/// (that of the digest they are compared with).
pub(crate) fn hash_to_end(
    reader: &mut dyn Read,
    algorithm: Algorithm,
) -> io::Result<(u64, Digest)> {
    let mut hasher = algorithm.hasher();
    let size = io::copy(reader, &mut hasher)?;
    Ok((size, hasher.finish()))
}

/// A reader that hashes and counts what passes through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
    count: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R, algorithm: Algorithm) -> Self {
        Self {
            inner,
            hasher: algorithm.hasher(),
            count: 0,
        }
    }
}

impl<R> HashingReader<R> {
    /// The number of bytes read and their digest.
    pub(crate) fn finish(self) -> (u64, Digest) {
        (self.count, self.hasher.finish())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}

/// A reader that counts what passes through it (for bytes their source verified).
pub(crate) struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> CountingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, count: 0 }
    }

    /// The number of bytes read.
    pub(crate) fn count(&self) -> u64 {
        self.count
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads into `buf` until it is full or the reader ends; returns how many bytes were read.
pub(crate) fn read_full<R: Read + ?Sized>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
