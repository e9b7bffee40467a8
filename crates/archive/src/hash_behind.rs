//! Copies that hash on a second thread: the copying thread reads (inflates) and writes while
//! another hashes what it already wrote, so that a layer's decompression and its diff_id's
//! SHA-256 run on two cores instead of one after the other.
//!
//! The bytes travel in a few recycled buffers: the copying thread fills one, writes it, and sends
//! it over a bounded channel to the hashing thread, which hashes it and sends it back. At most
//! [`CHUNKS`] buffers of [`CHUNK`] bytes exist per copy, whatever the size of the stream.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::thread;

use imgpull_reference::{Algorithm, Digest};

use crate::copy::{CopyError, copy_exact, copy_hashed, expect_end, read_full};

/// The size of each buffer handed to the hashing thread.
const CHUNK: usize = 256 * 1024;

/// How many buffers a copy uses at most: one being filled, the others queued or being hashed.
const CHUNKS: usize = 3;

/// A buffer and how many of its first bytes hold data.
type Chunk = (Vec<u8>, usize);

/// Copies `reader` to `writer` while a second thread hashes the bytes with `algorithm`: exactly
/// `size` bytes when given (a reader with fewer or more is [`CopyError::Size`], as for
/// [`copy_exact`]), else all of them to the reader's end. Returns the number of bytes and their
/// digest. On an error the hashing thread is stopped before this returns. Where no thread can be
/// started, the copy hashes on the calling thread.
pub(crate) fn copy_hashing_behind(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    size: Option<u64>,
    algorithm: Algorithm,
) -> Result<(u64, Digest), CopyError> {
    thread::scope(|scope| {
        let (full_tx, full_rx) = sync_channel::<Chunk>(CHUNKS);
        let (empty_tx, empty_rx) = sync_channel::<Vec<u8>>(CHUNKS);
        let spawned = thread::Builder::new()
            .name("imgpull-hash".to_owned())
            .spawn_scoped(scope, move || {
                let mut hasher = algorithm.hasher();
                for (buf, len) in full_rx {
                    hasher.update(&buf[..len]);
                    // Never blocks: the channel holds every buffer there is. It fails only once
                    // the copying side has returned, which no longer needs the buffer.
                    let _ = empty_tx.send(buf);
                }
                hasher.finish()
            });
        let Ok(hashing) = spawned else {
            return copy_hashing_here(reader, writer, size, algorithm);
        };
        let copied = feed(reader, writer, size, &full_tx, &empty_rx);
        // Closing the channel ends the hashing thread once it has hashed what was sent.
        drop(full_tx);
        let digest = hashing
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        copied.map(|n| (n, digest))
    })
}

/// [`copy_hashing_behind`] on the calling thread alone.
fn copy_hashing_here(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    size: Option<u64>,
    algorithm: Algorithm,
) -> Result<(u64, Digest), CopyError> {
    let mut hasher = algorithm.hasher();
    let copied = match size {
        Some(size) => copy_exact(reader, writer, size, Some(&mut hasher)).map(|()| size)?,
        None => copy_hashed(reader, writer, &mut hasher)?,
    };
    Ok((copied, hasher.finish()))
}

/// The copying side of [`copy_hashing_behind`]: fills a buffer from `reader`, writes it to
/// `writer`, and sends it on `full`; buffers come back on `empty`, and new ones are made until
/// there are [`CHUNKS`].
fn feed(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    size: Option<u64>,
    full: &SyncSender<Chunk>,
    empty: &Receiver<Vec<u8>>,
) -> Result<u64, CopyError> {
    let mut made = 0;
    let mut copied = 0_u64;
    loop {
        let want = match size {
            Some(size) if copied == size => {
                expect_end(reader, size)?;
                return Ok(copied);
            }
            Some(size) => usize::try_from(size - copied).map_or(CHUNK, |left| left.min(CHUNK)),
            None => CHUNK,
        };
        let mut buf = match empty.try_recv() {
            Ok(buf) => buf,
            Err(TryRecvError::Empty) if made < CHUNKS => {
                made += 1;
                vec![0_u8; CHUNK]
            }
            Err(_) => empty.recv().map_err(|_| hashing_stopped())?,
        };
        let len = read_full(reader, &mut buf[..want]).map_err(CopyError::Read)?;
        if len > 0 {
            writer.write_all(&buf[..len]).map_err(CopyError::Write)?;
            full.send((buf, len)).map_err(|_| hashing_stopped())?;
            copied += len as u64;
        }
        if len < want {
            return match size {
                Some(_) => Err(CopyError::Size { actual: copied }),
                None => Ok(copied),
            };
        }
    }
}

/// The error of a copy whose hashing thread is gone (it can only have panicked, which
/// [`copy_hashing_behind`] then resumes).
fn hashing_stopped() -> CopyError {
    CopyError::Write(io::Error::other("the hashing thread stopped"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::{self, Read, Write};

    use imgpull_reference::{Algorithm, Digest};

    use super::{CHUNK, copy_hashing_behind};
    use crate::copy::CopyError;

    /// Bytes that differ from chunk to chunk, so that a lost, repeated or reordered chunk
    /// changes the digest.
    fn data(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| u8::try_from((i * 7 + i / 4093) % 251).unwrap())
            .collect()
    }

    /// A reader that returns at most `step` bytes a call, then fails after `fail_after` bytes.
    struct Uneven<'a> {
        data: &'a [u8],
        step: usize,
        fail_after: Option<usize>,
        read: usize,
    }

    impl Read for Uneven<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.fail_after.is_some_and(|at| self.read >= at) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt"));
            }
            let n = buf.len().min(self.step).min(self.data.len() - self.read);
            buf[..n].copy_from_slice(&self.data[self.read..self.read + n]);
            self.read += n;
            Ok(n)
        }
    }

    fn uneven(data: &[u8], step: usize) -> Uneven<'_> {
        Uneven {
            data,
            step,
            fail_after: None,
            read: 0,
        }
    }

    #[test]
    fn many_chunks_are_written_and_hashed_in_order() {
        // Several times the buffers in flight, not a multiple of a chunk, read unevenly.
        let bytes = data(CHUNK * 9 + 12_345);
        let expected = Digest::compute(Algorithm::Sha256, &bytes);
        for step in [bytes.len(), CHUNK, 70_001, 4096] {
            for size in [None, Some(bytes.len() as u64)] {
                let mut out = Vec::new();
                let (n, digest) = copy_hashing_behind(
                    &mut uneven(&bytes, step),
                    &mut out,
                    size,
                    Algorithm::Sha256,
                )
                .unwrap();
                assert_eq!(n, bytes.len() as u64);
                assert_eq!(digest, expected, "step {step}, size {size:?}");
                assert!(out == bytes, "step {step}, size {size:?}");
            }
        }
        let sha512 = copy_hashing_behind(&mut &bytes[..], &mut io::sink(), None, Algorithm::Sha512)
            .unwrap()
            .1;
        assert_eq!(sha512, Digest::compute(Algorithm::Sha512, &bytes));
    }

    #[test]
    fn empty_and_exact_chunk_streams() {
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
            let bytes = data(len);
            let mut out = Vec::new();
            let (n, digest) = copy_hashing_behind(
                &mut &bytes[..],
                &mut out,
                Some(len as u64),
                Algorithm::Sha256,
            )
            .unwrap();
            assert_eq!(n, len as u64);
            assert_eq!(digest, Digest::compute(Algorithm::Sha256, &bytes));
            assert_eq!(out.len(), len);
        }
    }

    #[test]
    fn a_stream_of_another_size_is_refused() {
        let bytes = data(CHUNK * 2 + 10);
        let len = bytes.len() as u64;
        let short = copy_hashing_behind(
            &mut &bytes[..],
            &mut io::sink(),
            Some(len + 1),
            Algorithm::Sha256,
        );
        assert!(matches!(short, Err(CopyError::Size { actual }) if actual == len));
        let long = copy_hashing_behind(
            &mut &bytes[..],
            &mut io::sink(),
            Some(len - 1),
            Algorithm::Sha256,
        );
        assert!(matches!(long, Err(CopyError::Size { actual }) if actual == len));
    }

    #[test]
    fn a_read_error_mid_stream_ends_the_copy_and_its_thread() {
        let bytes = data(CHUNK * 8);
        for size in [None, Some(bytes.len() as u64)] {
            let mut reader = Uneven {
                fail_after: Some(CHUNK * 5 + 3),
                ..uneven(&bytes, 50_000)
            };
            let mut out = Vec::new();
            let err =
                copy_hashing_behind(&mut reader, &mut out, size, Algorithm::Sha256).unwrap_err();
            assert!(
                matches!(&err, CopyError::Read(e) if e.kind() == io::ErrorKind::InvalidData),
                "{err:?}"
            );
            assert!(out.len() <= CHUNK * 5 && bytes.starts_with(&out));
        }
    }

    /// A writer that fails once it has taken `limit` bytes.
    struct Full {
        taken: usize,
        limit: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.taken >= self.limit {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            let n = buf.len().min(self.limit - self.taken);
            self.taken += n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_ends_the_copy_and_its_thread() {
        let bytes = data(CHUNK * 6);
        let mut out = Full {
            taken: 0,
            limit: CHUNK * 2 + 1,
        };
        let err =
            copy_hashing_behind(&mut &bytes[..], &mut out, None, Algorithm::Sha256).unwrap_err();
        assert!(
            matches!(&err, CopyError::Write(e) if e.kind() == io::ErrorKind::StorageFull),
            "{err:?}"
        );
    }
}
