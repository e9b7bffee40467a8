//! Verified, resumable writes of one blob.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use imgpull_reference::{Digest, Hasher};

use crate::buffers::{BufferPool, WriteBuffer};
use crate::error::{BlobstoreError, Result};
use crate::fsutil;
use crate::layout::Layout;
use crate::lock::FileLock;

/// The size of the write buffer, and of the read buffer used to rebuild the hash of a partial.
/// Network chunks are typically 8–64 KiB; gathering them saves most write system calls.
pub(crate) const BUFFER_SIZE: usize = 1 << 20;

/// The largest blob written without a buffer (straight to its partial file, chunk by chunk):
/// manifests, configs, tiny layers.
const UNBUFFERED: u64 = 64 << 10;

/// The outcome of [`Store::begin`](crate::Store::begin) and
/// [`Store::try_begin`](crate::Store::try_begin).
#[derive(Debug)]
// Returned once per blob and matched at once: moving a few hundred bytes is cheaper than a box.
#[allow(clippy::large_enum_variant)]
pub enum Begin {
    /// The blob is in the store, verified when it was written; nothing to download. Its last
    /// use has been updated. Callers count this as a cache hit.
    Present,
    /// The blob is missing: write it through this writer, which holds the blob's lock until it
    /// is committed, discarded or dropped.
    Write(BlobWriter),
    /// Another writer, in this process or another one, holds the blob's lock. Only
    /// [`Store::try_begin`](crate::Store::try_begin) returns this; try again later (the blob
    /// will then most likely be [`Begin::Present`]).
    Busy,
}

/// Writes one blob: hashes and counts every byte, appends it to a partial file under the
/// cache's private directory, and on [`commit`](Self::commit) verifies size and digest before
/// renaming the file into `blobs/`.
///
/// Holds the blob's inter-process lock for its whole life. Dropping the writer keeps the
/// partial file (buffered bytes are flushed), so a later [`Store::begin`](crate::Store::begin)
/// resumes from [`offset`](Self::offset); [`discard`](Self::discard) deletes it instead.
#[derive(Debug)]
pub struct BlobWriter {
    digest: Digest,
    expected_size: u64,
    offset: u64,
    written: u64,
    hasher: Hasher,
    out: Output,
    partial: PathBuf,
    target: PathBuf,
    lock: FileLock,
    failed: bool,
    /// Flushes the partial file to disk while it grows (large blobs only).
    write_behind: Option<WriteBehind>,
}

impl BlobWriter {
    /// Opens (or creates) the partial file of `digest` while holding its `lock`, and rebuilds
    /// the hash of what it already holds. A partial longer than `expected_size`, or complete
    /// but wrong, is emptied; a complete and correct one is committed at once
    /// ([`Begin::Present`]).
    pub(crate) fn resume(
        layout: &Layout,
        digest: &Digest,
        expected_size: u64,
        lock: FileLock,
        buffers: &Arc<BufferPool>,
    ) -> Result<Begin> {
        let partial = layout.partial(digest);
        let io_err = |action| BlobstoreError::io(action, partial.clone());
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial)
            .map_err(io_err("open partial file"))?;
        let mut len = file
            .metadata()
            .map_err(io_err("inspect partial file"))?
            .len();
        if len > expected_size {
            file.set_len(0).map_err(io_err("truncate partial file"))?;
            len = 0;
        }
        let mut hasher = digest.algorithm().hasher();
        if len > 0 {
            let read =
                hash_prefix(&mut file, len, &mut hasher).map_err(io_err("read partial file"))?;
            if read < len {
                file.set_len(read)
                    .map_err(io_err("truncate partial file"))?;
                len = read;
            }
        }
        if len == expected_size {
            let actual = hasher.clone().finish();
            if actual == *digest {
                publish(&file, &partial, &layout.blob(digest), lock)?;
                return Ok(Begin::Present);
            }
            file.set_len(0).map_err(io_err("truncate partial file"))?;
            hasher = digest.algorithm().hasher();
            len = 0;
        }
        file.seek(SeekFrom::Start(len))
            .map_err(io_err("seek in partial file"))?;
        let remaining = expected_size - len;
        let write_behind = if remaining >= WRITE_BEHIND_STEP {
            WriteBehind::start(&file)
        } else {
            None
        };
        let buffer = (remaining > UNBUFFERED).then(|| buffers.take());
        Ok(Begin::Write(Self {
            digest: digest.clone(),
            expected_size,
            offset: len,
            written: len,
            hasher,
            out: Output { file, buffer },
            partial,
            target: layout.blob(digest),
            lock,
            failed: false,
            write_behind,
        }))
    }

    /// The number of bytes already in the partial file when this writer was created: the
    /// offset to resume the download from (an HTTP `Range: bytes=OFFSET-`). Zero for a fresh
    /// download.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The number of bytes of the blob held so far (the offset plus what was written since).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The digest of the blob being written.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The size the blob must have.
    pub fn expected_size(&self) -> u64 {
        self.expected_size
    }

    /// Hashes and appends `data`. Refuses data that would take the blob past its expected size
    /// ([`BlobstoreError::SizeExceeded`], nothing of `data` is written). After an I/O error the
    /// writer refuses further writes ([`BlobstoreError::WriterFailed`]); drop it and begin
    /// again to resume from what reached the disk.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if self.failed {
            return Err(BlobstoreError::WriterFailed {
                digest: self.digest.clone(),
            });
        }
        let received = self.written.saturating_add(data.len() as u64);
        if received > self.expected_size {
            return Err(BlobstoreError::SizeExceeded {
                digest: self.digest.clone(),
                expected_size: self.expected_size,
                received,
            });
        }
        self.hasher.update(data);
        if let Err(e) = self.out.write(data) {
            self.failed = true;
            return Err(BlobstoreError::io(
                "write partial file",
                self.partial.clone(),
            )(e));
        }
        self.written = received;
        Ok(())
    }

    /// Verifies and publishes the blob: checks that every expected byte was written and that
    /// they hash to the digest, syncs the file, and renames it into `blobs/<alg>/<hex>` (then
    /// syncs that directory).
    ///
    /// Fewer bytes than expected is [`BlobstoreError::Incomplete`] and keeps the partial for
    /// resuming. A digest mismatch deletes the partial and is
    /// [`BlobstoreError::DigestMismatch`], naming expected and actual digest and size.
    pub fn commit(mut self) -> Result<()> {
        // Its flushes are done before the final one; an error of theirs shows again there.
        drop(self.write_behind.take());
        if self.failed {
            return Err(BlobstoreError::WriterFailed {
                digest: self.digest,
            });
        }
        self.out.finish().map_err(BlobstoreError::io(
            "write partial file",
            self.partial.clone(),
        ))?;
        if self.written < self.expected_size {
            return Err(BlobstoreError::Incomplete {
                digest: self.digest,
                expected_size: self.expected_size,
                received: self.written,
            });
        }
        let actual = self.hasher.finish();
        if actual != self.digest {
            drop(self.out);
            fsutil::remove_file_if_exists(&self.partial)?;
            self.lock.release_and_remove();
            return Err(BlobstoreError::DigestMismatch {
                expected: self.digest,
                actual,
                expected_size: self.expected_size,
                actual_size: self.written,
            });
        }
        publish(&self.out.file, &self.partial, &self.target, self.lock)
    }

    /// Deletes the partial file and releases the blob's lock.
    pub fn discard(mut self) -> Result<()> {
        drop(self.write_behind.take());
        // The partial file goes: nothing buffered needs to reach it.
        self.out.buffer = None;
        drop(self.out);
        fsutil::remove_file_if_exists(&self.partial)?;
        self.lock.release_and_remove();
        Ok(())
    }
}

/// [`BlobWriter::write`] as [`io::Write`], so that `io::copy` can feed a writer; `flush` moves
/// buffered bytes to the partial file.
impl io::Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        BlobWriter::write(self, buf).map_err(io::Error::other)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// The partial file of a [`BlobWriter`], and the pooled buffer that gathers its writes (none
/// for small blobs).
///
/// The file and the buffer together always hold a prefix of the blob: a failed write empties
/// the buffer, so that what reached the file (a prefix, since writes are sequential) can be
/// resumed. Dropping it flushes the buffer (keeping the partial file complete for resuming) and
/// returns the buffer to its pool.
#[derive(Debug)]
struct Output {
    file: File,
    buffer: Option<WriteBuffer>,
}

impl Output {
    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let Some(buffer) = &mut self.buffer else {
            return self.file.write_all(data);
        };
        if !buffer.fits(data.len()) {
            self.flush()?;
        }
        match &mut self.buffer {
            Some(buffer) if !buffer.is_large(data.len()) => {
                buffer.push(data);
                Ok(())
            }
            _ => self.file.write_all(data),
        }
    }

    /// Writes the buffered bytes to the file; on failure they are dropped (see [`Output`]).
    fn flush(&mut self) -> io::Result<()> {
        let Some(buffer) = &mut self.buffer else {
            return Ok(());
        };
        let written = self.file.write_all(buffer.bytes());
        buffer.clear();
        written
    }

    /// Flushes the buffer and returns it to its pool; the file then holds every byte.
    fn finish(&mut self) -> io::Result<()> {
        let flushed = self.flush();
        self.buffer = None;
        flushed
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // Errors are ignored: a resumed download re-reads the partial file and rebuilds its hash
        // from what is there.
        let _ = self.flush();
    }
}

/// How many bytes of a blob being written may wait in the page cache before its helper thread
/// flushes them, and the least size of a blob that gets such a thread.
const WRITE_BEHIND_STEP: u64 = 32 << 20;

/// How often the helper thread looks at the partial file's length.
const WRITE_BEHIND_TICK: Duration = Duration::from_millis(20);

/// The helper thread of a large [`BlobWriter`]: every [`WRITE_BEHIND_TICK`], when the partial
/// file grew by [`WRITE_BEHIND_STEP`] since its last flush, it flushes the file's data to disk
/// (`fdatasync`, through a second handle), so that the sync before the blob is published waits
/// only for the last part instead of the whole blob (for a 150 MiB layer, 70–160 ms between
/// its last byte and its arrival in the cache). Stopped and joined when dropped; its errors are
/// ignored, since the final sync of [`BlobWriter::commit`] reports any that matter.
#[derive(Debug)]
struct WriteBehind {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl WriteBehind {
    fn start(file: &File) -> Option<Self> {
        let file = file.try_clone().ok()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("imgpull-blob-write-behind".to_owned())
            .spawn(move || {
                let mut flushed = 0_u64;
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(WRITE_BEHIND_TICK) {
                    let Ok(metadata) = file.metadata() else {
                        return;
                    };
                    if metadata.len() >= flushed.saturating_add(WRITE_BEHIND_STEP) {
                        if file.sync_data().is_err() {
                            return;
                        }
                        flushed = metadata.len();
                    }
                }
            })
            .ok()?;
        Some(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread and ends its loop.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Feeds the first `len` bytes of `file` to `hasher`; returns how many there were.
fn hash_prefix(file: &mut File, len: u64, hasher: &mut Hasher) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0_u8; BUFFER_SIZE];
    fsutil::feed(file.take(len), hasher, &mut buf)
}

/// Makes a verified partial durable and visible: sync, rename into place, make read-only,
/// sync the directory, then drop the blob's lock (and its lock file).
fn publish(file: &File, partial: &Path, target: &Path, lock: FileLock) -> Result<()> {
    file.sync_data()
        .map_err(BlobstoreError::io("sync partial file", partial))?;
    let dir = target.parent().unwrap_or(target);
    fsutil::create_dir_all(dir)?;
    fs::rename(partial, target).map_err(BlobstoreError::io("move verified blob into", target))?;
    make_read_only(file);
    fsutil::sync_dir(dir)?;
    lock.release_and_remove();
    Ok(())
}

/// Blobs are immutable: clear the write permission bits (on Unix), so that a hard link handed
/// out for zero-copy output is not modified by accident. Done after the rename, so that a
/// failed rename never leaves a partial its owner cannot resume; and best effort, because the
/// blob is already verified and published by then.
fn make_read_only(file: &File) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let _ = file.set_permissions(fs::Permissions::from_mode(0o444));
    }
    #[cfg(not(unix))]
    let _ = file;
}
