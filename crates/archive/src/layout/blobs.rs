//! Verified blob copies: each blob's size is checked while it is written, and its digest too
//! unless its source verified it; an inflated layer's diff_id is checked in every pass.

use std::io::{BufWriter, Read, Write};
use std::time::Duration;

use flate2::write::MultiGzDecoder;
use imgpull_reference::{Descriptor, Digest, Hasher};

use super::{Deferred, LayoutBuilder, Sink};
use crate::compression::Compression;
use crate::copy::{CopyError, CountingReader, HashingReader, copy_exact, copy_file_exact};
use crate::error::ArchiveError;
use crate::hash_behind::copy_hashing_behind;
use crate::json::{MAX_DOCUMENT, blob_path};
use crate::source::{Blob, BlobSource};

/// How often [`LayoutBuilder::fill_deferred`] looks whether a blob arrived.
const READY_POLL: Duration = Duration::from_millis(5);

/// How long [`LayoutBuilder::fill_deferred`] polls before it waits on one blob.
const READY_WAIT: Duration = Duration::from_secs(1);

impl<S: Sink> LayoutBuilder<S> {
    /// Writes `bytes` (already verified) as the blob `digest`, unless written before.
    pub(crate) fn bytes_blob(&mut self, digest: &Digest, bytes: &[u8]) -> Result<(), ArchiveError> {
        if self.written.contains_key(digest) {
            return Ok(());
        }
        let name = blob_path(digest);
        self.sink.put_blob(&name, bytes.len() as u64, &mut |out| {
            out.write_all(bytes)
                .map_err(|e| ArchiveError::write(&name, e))
        })?;
        self.written.insert(digest.clone(), bytes.len() as u64);
        Ok(())
    }

    /// Copies the blob `descriptor` from the source (hard-linking where the sink can), unless
    /// written before; `Ok(false)` when the source does not have it.
    pub(super) fn source_blob(
        &mut self,
        source: &dyn BlobSource,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<bool, ArchiveError> {
        if self.written.contains_key(&descriptor.digest) {
            return Ok(true);
        }
        if let Some(path) = source.path(&descriptor.digest) {
            let len = std::fs::metadata(&path).map(|m| m.len()).ok();
            if len == Some(descriptor.size)
                && self.sink.link_blob(&blob_path(&descriptor.digest), &path)?
            {
                self.written
                    .insert(descriptor.digest.clone(), descriptor.size);
                return Ok(true);
            }
        }
        let Some(blob) = source
            .open(&descriptor.digest)
            .map_err(|e| read_error(&descriptor.digest, e))?
        else {
            return Ok(false);
        };
        self.copy_blob(blob, descriptor, what)?;
        Ok(true)
    }

    /// Copies the blob `descriptor` as [`LayoutBuilder::source_blob`] does, unless the source
    /// says it is still arriving and the sink can reserve its entry: the entry is then written
    /// with its content left for [`LayoutBuilder::fill_deferred`], and the next entries go on.
    pub(super) fn arriving_blob(
        &mut self,
        source: &dyn BlobSource,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<bool, ArchiveError> {
        let digest = &descriptor.digest;
        if !self.written.contains_key(digest) && !source.is_ready(digest) {
            let name = blob_path(digest);
            if let Some(slot) = self.sink.reserve_blob(&name, descriptor.size)? {
                self.written.insert(digest.clone(), descriptor.size);
                self.deferred.push(Deferred {
                    slot,
                    descriptor: descriptor.clone(),
                    what: what.to_owned(),
                });
                return Ok(true);
            }
        }
        self.source_blob(source, descriptor, what)
    }

    /// Copies the content of every reserved entry, each as soon as its blob is there: whichever
    /// the source says is ready, looking again every [`READY_POLL`]; after [`READY_WAIT`] with
    /// none ready, it opens the first (which waits, or fails, as the source decides), so that
    /// a source that never says ready still ends. A blob the source then lacks is an error.
    pub(super) fn fill_deferred(&mut self, source: &dyn BlobSource) -> Result<(), ArchiveError> {
        let mut waited = Duration::ZERO;
        while !self.deferred.is_empty() {
            let ready = self
                .deferred
                .iter()
                .position(|d| source.is_ready(&d.descriptor.digest));
            let next = match ready {
                Some(next) => next,
                None if waited < READY_WAIT => {
                    std::thread::sleep(READY_POLL);
                    waited += READY_POLL;
                    continue;
                }
                None => 0,
            };
            waited = Duration::ZERO;
            let deferred = self.deferred.swap_remove(next);
            let descriptor = &deferred.descriptor;
            let mut blob =
                open_sized(source, descriptor)?.ok_or_else(|| ArchiveError::MissingBlob {
                    digest: descriptor.digest.clone(),
                })?;
            let (digest, size) = (&descriptor.digest, descriptor.size);
            let name = blob_path(digest);
            let copy_error =
                |e: CopyError| e.into_archive_error(digest, size, &name, |e| read_error(digest, e));
            if let Some(file) = blob.verified() {
                self.sink.fill_slot(&deferred.slot, &mut |out| {
                    copy_file_exact(file, out, size).map_err(copy_error)
                })?;
            } else {
                self.sink.fill_slot(&deferred.slot, &mut |out| {
                    let mut hasher = digest.algorithm().hasher();
                    let mut out = BufWriter::with_capacity(crate::copy::BUFFER, out);
                    copy_exact(&mut blob, &mut out, size, Some(&mut hasher)).map_err(copy_error)?;
                    out.flush().map_err(|e| ArchiveError::write(&name, e))?;
                    check_digest(digest, hasher.finish(), &deferred.what)
                })?;
            }
        }
        Ok(())
    }

    /// Copies a gzip layer as stored, decompressing a copy of its bytes on the way to check that
    /// they hash to `diff_id` (one pass; the output is abandoned on a mismatch). A blob already
    /// written is checked against the diff_id it was found to have. `Ok(false)` when the source
    /// lacks the layer.
    pub(super) fn checked_gzip_blob(
        &mut self,
        source: &dyn BlobSource,
        layer: &Descriptor,
        diff_id: &Digest,
    ) -> Result<bool, ArchiveError> {
        let digest = &layer.digest;
        let mismatch = |actual: &Digest| ArchiveError::DiffIdMismatch {
            layer: digest.clone(),
            expected: diff_id.clone(),
            actual: actual.clone(),
        };
        if let Some(known) = self.checked.get(digest) {
            return if known == diff_id {
                Ok(true)
            } else {
                Err(mismatch(known))
            };
        }
        let Some(mut blob) = open_sized(source, layer)? else {
            return Ok(false);
        };
        if self.written.contains_key(digest) {
            // Written before without the check: check it now without writing it again.
            inflate_pass(&mut blob, layer, Compression::Gzip, diff_id, Pass::Measure)?;
        } else {
            let name = blob_path(digest);
            let verified = blob.is_verified();
            self.sink.put_blob(&name, layer.size, &mut |out| {
                let mut hasher = (!verified).then(|| digest.algorithm().hasher());
                let mut tee = GzipTee::new(out, diff_id.algorithm().hasher());
                copy_exact(&mut blob, &mut tee, layer.size, hasher.as_mut()).map_err(|e| {
                    e.into_archive_error(digest, layer.size, &name, |e| read_error(digest, e))
                })?;
                if let Some(hasher) = hasher {
                    check_digest(digest, hasher.finish(), "layer")?;
                }
                let actual = tee.finish().map_err(|source| ArchiveError::Decompress {
                    layer: digest.clone(),
                    compression: Compression::Gzip.name(),
                    source,
                })?;
                if actual == *diff_id {
                    Ok(())
                } else {
                    Err(mismatch(&actual))
                }
            })?;
            self.written.insert(digest.clone(), layer.size);
        }
        self.checked.insert(digest.clone(), diff_id.clone());
        Ok(true)
    }

    /// Copies `blob`, checking its size against `descriptor`, and its digest unless its source
    /// verified it; a verified blob is copied file to file where the sink writes into a file.
    pub(super) fn copy_blob(
        &mut self,
        mut blob: Blob<'_>,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<(), ArchiveError> {
        let digest = &descriptor.digest;
        let size = descriptor.size;
        if blob.size() != size {
            return Err(ArchiveError::SizeMismatch {
                digest: digest.clone(),
                expected: size,
                actual: blob.size(),
            });
        }
        let name = blob_path(digest);
        let copy_error =
            |e: CopyError| e.into_archive_error(digest, size, &name, |e| read_error(digest, e));
        if let Some(file) = blob.verified() {
            let in_file = self.sink.put_blob_in_file(&name, size, &mut |out| {
                copy_file_exact(file, out, size).map_err(copy_error)
            })?;
            if !in_file {
                self.sink.put_blob(&name, size, &mut |out| {
                    copy_exact(file, out, size, None).map_err(copy_error)
                })?;
            }
        } else {
            self.sink.put_blob(&name, size, &mut |out| {
                let mut hasher = digest.algorithm().hasher();
                copy_exact(&mut blob, out, size, Some(&mut hasher)).map_err(copy_error)?;
                check_digest(digest, hasher.finish(), what)
            })?;
        }
        self.written.insert(digest.clone(), size);
        Ok(())
    }

    /// Writes the decompressed content of `layer` as the blob `diff_id`. Where the sink can
    /// write a blob's size after its content, in one pass, checking the diff_id (a bad layer
    /// then fails the sink, which refuses to go on). Otherwise in two: the first measures the
    /// size the tar header needs and checks the diff_id before anything is written; the second
    /// writes, checking again. `Ok(None)` when the source lacks the layer.
    pub(super) fn inflated_blob(
        &mut self,
        source: &dyn BlobSource,
        layer: &Descriptor,
        compression: Compression,
        diff_id: &Digest,
    ) -> Result<Option<u64>, ArchiveError> {
        let Some(mut blob) = open_sized(source, layer)? else {
            return Ok(None);
        };
        let name = blob_path(diff_id);
        let measured = self.sink.put_measured_blob(&name, &mut |out| {
            let pass = Pass::Unsized { out, name: &name };
            inflate_pass(&mut blob, layer, compression, diff_id, pass).map(drop)
        })?;
        let size = if let Some(size) = measured {
            size
        } else {
            let size = inflate_pass(&mut blob, layer, compression, diff_id, Pass::Measure)?;
            self.sink.put_blob(&name, size, &mut |out| {
                let mut blob =
                    open_sized(source, layer)?.ok_or_else(|| ArchiveError::MissingBlob {
                        digest: layer.digest.clone(),
                    })?;
                let pass = Pass::Sized {
                    out,
                    size,
                    name: &name,
                };
                inflate_pass(&mut blob, layer, compression, diff_id, pass).map(drop)
            })?;
            size
        };
        self.written.insert(diff_id.clone(), size);
        Ok(Some(size))
    }
}

/// What a pass over a compressed layer does with the uncompressed bytes.
enum Pass<'o> {
    /// Only hashes them.
    Measure,
    /// Writes them to `out`, where exactly `size` are expected (as entry `name`).
    Sized {
        out: &'o mut dyn Write,
        size: u64,
        name: &'o str,
    },
    /// Writes them to `out`, however many there are (as entry `name`).
    Unsized {
        out: &'o mut dyn Write,
        name: &'o str,
    },
}

/// One pass over a compressed layer: decompresses it, checks the compressed blob's size (and its
/// digest, unless its source verified it) and the diff_id, and does what `pass` says with the
/// uncompressed bytes. Returns the uncompressed size.
fn inflate_pass(
    blob: &mut Blob<'_>,
    layer: &Descriptor,
    compression: Compression,
    diff_id: &Digest,
    pass: Pass<'_>,
) -> Result<u64, ArchiveError> {
    let digest = &layer.digest;
    let verified = blob.is_verified();
    let compressed = Read::take(blob, layer.size.saturating_add(1));
    let decompress_error = |source| ArchiveError::Decompress {
        layer: digest.clone(),
        compression: compression.name(),
        source,
    };
    // The diff_id is hashed on a second thread while this one inflates and writes.
    let inflate = |compressed: &mut dyn Read| -> Result<(u64, Digest), ArchiveError> {
        let mut decoder = compression.decoder(compressed);
        let mut sink = std::io::sink();
        let measure_name;
        let (out, size, name): (&mut dyn Write, _, &str) = match pass {
            Pass::Measure => {
                measure_name = blob_path(diff_id);
                (&mut sink, None, &measure_name)
            }
            Pass::Sized { out, size, name } => (out, Some(size), name),
            Pass::Unsized { out, name } => (out, None, name),
        };
        copy_hashing_behind(&mut decoder, out, size, diff_id.algorithm())
            .map_err(|e| e.into_archive_error(diff_id, size.unwrap_or(0), name, decompress_error))
    };
    let (compressed_size, compressed_digest, (size, actual)) = if verified {
        let mut counting = CountingReader::new(compressed);
        let inflated = inflate(&mut counting)?;
        (counting.count(), None, inflated)
    } else {
        let mut hashing = HashingReader::new(compressed, digest.algorithm());
        let inflated = inflate(&mut hashing)?;
        let (count, digest) = hashing.finish();
        (count, Some(digest), inflated)
    };
    if compressed_size != layer.size {
        return Err(ArchiveError::SizeMismatch {
            digest: digest.clone(),
            expected: layer.size,
            actual: compressed_size,
        });
    }
    if let Some(compressed_digest) = compressed_digest {
        check_digest(digest, compressed_digest, "layer")?;
    }
    if actual != *diff_id {
        return Err(ArchiveError::DiffIdMismatch {
            layer: digest.clone(),
            expected: diff_id.clone(),
            actual,
        });
    }
    Ok(size)
}

/// Opens a blob, checking the size the source announces.
fn open_sized<'s>(
    source: &'s dyn BlobSource,
    descriptor: &Descriptor,
) -> Result<Option<Blob<'s>>, ArchiveError> {
    let Some(blob) = source
        .open(&descriptor.digest)
        .map_err(|e| read_error(&descriptor.digest, e))?
    else {
        return Ok(None);
    };
    if blob.size() != descriptor.size {
        return Err(ArchiveError::SizeMismatch {
            digest: descriptor.digest.clone(),
            expected: descriptor.size,
            actual: blob.size(),
        });
    }
    Ok(Some(blob))
}

/// Reads a small JSON blob (config, manifest) fully, verifying its size and digest.
pub(crate) fn read_document(
    source: &dyn BlobSource,
    descriptor: &Descriptor,
    what: &str,
) -> Result<Vec<u8>, ArchiveError> {
    if descriptor.size > MAX_DOCUMENT {
        return Err(ArchiveError::invalid(
            what,
            format!(
                "{} bytes is more than the {MAX_DOCUMENT} bytes allowed",
                descriptor.size
            ),
        ));
    }
    let blob = open_sized(source, descriptor)?.ok_or_else(|| ArchiveError::MissingBlob {
        digest: descriptor.digest.clone(),
    })?;
    let mut bytes = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
    blob.take(descriptor.size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(&descriptor.digest, e))?;
    check_bytes(&bytes, descriptor, what)?;
    Ok(bytes)
}

/// Checks that `bytes` have the size and digest of `descriptor`.
pub(crate) fn check_bytes(
    bytes: &[u8],
    descriptor: &Descriptor,
    what: &str,
) -> Result<(), ArchiveError> {
    if bytes.len() as u64 != descriptor.size {
        return Err(ArchiveError::SizeMismatch {
            digest: descriptor.digest.clone(),
            expected: descriptor.size,
            actual: bytes.len() as u64,
        });
    }
    check_digest(
        &descriptor.digest,
        imgpull_reference::Digest::compute(descriptor.digest.algorithm(), bytes),
        what,
    )
}

fn check_digest(expected: &Digest, actual: Digest, what: &str) -> Result<(), ArchiveError> {
    if actual == *expected {
        Ok(())
    } else {
        Err(ArchiveError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.clone(),
            actual,
        })
    }
}

pub(super) fn read_error(digest: &Digest, source: std::io::Error) -> ArchiveError {
    ArchiveError::SourceRead {
        digest: digest.clone(),
        source,
    }
}

/// A writer that passes bytes on to the output and decompresses a copy of them into a hasher.
/// A decompression error does not fail the output's writes; [`GzipTee::finish`] reports it.
struct GzipTee<'a> {
    out: &'a mut dyn Write,
    decoder: MultiGzDecoder<Hasher>,
    error: Option<std::io::Error>,
}

impl<'a> GzipTee<'a> {
    fn new(out: &'a mut dyn Write, hasher: Hasher) -> Self {
        Self {
            out,
            decoder: MultiGzDecoder::new(hasher),
            error: None,
        }
    }

    /// The digest of the decompressed bytes, or why they could not be decompressed.
    fn finish(self) -> std::io::Result<Digest> {
        if let Some(error) = self.error {
            return Err(error);
        }
        Ok(self.decoder.finish()?.finish())
    }
}

impl Write for GzipTee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if self.error.is_none()
            && let Err(error) = self.decoder.write_all(&buf[..n])
        {
            self.error = Some(error);
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
