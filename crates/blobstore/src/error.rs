//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use imgpull_reference::Digest;

/// A shorthand for results whose error is [`BlobstoreError`].
pub type Result<T, E = BlobstoreError> = std::result::Result<T, E>;

/// What went wrong in the cache, in the cache's own terms.
///
/// Every message names the blob or the file concerned. [`BlobstoreError::kind`] groups the
/// variants so that callers can map them to exit codes without matching each one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobstoreError {
    /// A file system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. `create directory`.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The bytes received do not hash to the expected digest, or their count differs from the
    /// expected size. The partial file has been deleted.
    #[error(
        "integrity check failed for blob {expected}: expected {expected_size} bytes with digest \
         {expected}, received {actual_size} bytes with digest {actual}"
    )]
    DigestMismatch {
        /// The digest the blob was announced with.
        expected: Digest,
        /// The digest of the bytes actually received.
        actual: Digest,
        /// The size the blob was announced with.
        expected_size: u64,
        /// The number of bytes actually received.
        actual_size: u64,
    },

    /// A write would have taken the blob past its expected size; nothing of it was written.
    #[error(
        "integrity check failed for blob {digest}: the data exceeds the expected {expected_size} \
         bytes (at least {received} bytes were offered)"
    )]
    SizeExceeded {
        /// The blob being written.
        digest: Digest,
        /// The size the blob was announced with.
        expected_size: u64,
        /// The number of bytes offered so far, including the refused write.
        received: u64,
    },

    /// A blob already in the cache (or in an imported archive) has a size different from the
    /// one it was announced with.
    #[error(
        "integrity check failed for blob {digest}: it has {actual} bytes but {expected} were expected"
    )]
    SizeMismatch {
        /// The blob concerned.
        digest: Digest,
        /// The size it was announced with.
        expected: u64,
        /// Its real size.
        actual: u64,
    },

    /// [`BlobWriter::commit`](crate::BlobWriter::commit) was called before every byte was
    /// written. The partial file is kept, so the download can resume from `received`.
    #[error(
        "blob {digest} is incomplete: {received} of {expected_size} bytes received (the partial \
         file is kept for resuming)"
    )]
    Incomplete {
        /// The blob being written.
        digest: Digest,
        /// The size the blob was announced with.
        expected_size: u64,
        /// The bytes received so far.
        received: u64,
    },

    /// An earlier write of this [`BlobWriter`](crate::BlobWriter) failed, so its hash state no
    /// longer matches the partial file. Drop the writer and begin again to resume.
    #[error("an earlier write of blob {digest} failed; drop the writer and begin again to resume")]
    WriterFailed {
        /// The blob being written.
        digest: Digest,
    },

    /// The blob is not in the cache.
    #[error("blob {digest} is not in the cache")]
    NotFound {
        /// The blob asked for.
        digest: Digest,
    },

    /// The directory exists, is not empty and is not an OCI image layout: refusing to use it
    /// as a cache (and later to prune or clear files that are not ours).
    #[error(
        "{} is not an imgpull cache: it is not empty and has no `oci-layout` file",
        path.display()
    )]
    NotAStore {
        /// The directory given.
        path: PathBuf,
    },

    /// The directory is an OCI image layout that imgpull did not make (it has no `.imgpull/`
    /// directory): its blobs were never verified, so it is not trusted as a cache. Its images
    /// can be imported into a cache ([`Store::import`](crate::Store::import)), which verifies
    /// every blob.
    #[error(
        "{} is an OCI image layout that is not an imgpull cache (it has no `.imgpull` \
         directory): its blobs were never verified, so it is not used as a cache",
        path.display()
    )]
    ForeignLayout {
        /// The directory given.
        path: PathBuf,
    },

    /// `prune`, `clear` or `verify` was asked for while another process (or a [`Lease`](crate::Lease)
    /// of this one) is using the cache's blobs, e.g. a running pull. Nothing was removed.
    #[error("the cache {} is in use by a running pull; nothing was removed", path.display())]
    InUse {
        /// The cache directory.
        path: PathBuf,
    },

    /// The directory's `oci-layout` file names a layout version this crate does not write.
    #[error("{} declares image layout version `{version}`; only 1.0.0 is supported", path.display())]
    UnsupportedLayout {
        /// The `oci-layout` file.
        path: PathBuf,
        /// The version it declares.
        version: String,
    },

    /// A JSON file of the cache (or a manifest in it) cannot be read or written.
    #[error("invalid JSON in {}: {source}", path.display())]
    Json {
        /// The file concerned.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },

    /// A layer's uncompressed content does not hash to the diff_id its image config lists.
    #[error(
        "integrity check failed for layer {layer}: its uncompressed content hashes to {actual}, \
         but the image config's diff_id is {expected}"
    )]
    DiffIdMismatch {
        /// The layer blob.
        layer: Digest,
        /// The diff_id from the config.
        expected: Digest,
        /// The digest of the uncompressed content.
        actual: Digest,
    },

    /// A compressed layer cannot be decompressed: its data is corrupt.
    #[error("integrity check failed for layer {layer}: cannot decompress it: {source}")]
    CorruptLayer {
        /// The layer blob.
        layer: Digest,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },

    /// The platform has no cache directory (no home directory is known).
    #[error("no cache directory is known for this platform; pass a cache directory explicitly")]
    NoCacheDir,

    /// Reading an archive to import failed (malformed, unsafe member path, bad digest…).
    #[error("cannot import {}: {source}", path.display())]
    Import {
        /// The archive or layout being imported.
        path: PathBuf,
        /// What the archive reader found.
        #[source]
        source: imgpull_archive::ArchiveError,
    },
}

/// Coarse groups of [`BlobstoreError`]s, for mapping to exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Data does not match its digest or size: never retry from the same source blindly.
    Integrity,
    /// A download ended early; the partial file is kept and can be resumed.
    Incomplete,
    /// A blob that was asked for is not in the cache.
    NotFound,
    /// The cache directory or one of its files is not what it should be.
    Invalid,
    /// Another process is using the cache; try again when it has finished.
    Busy,
    /// The operating system refused an operation (permissions, disk full…).
    Io,
}

impl BlobstoreError {
    /// The group this error belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::DigestMismatch { .. }
            | Self::SizeExceeded { .. }
            | Self::SizeMismatch { .. }
            | Self::DiffIdMismatch { .. }
            | Self::CorruptLayer { .. } => ErrorKind::Integrity,
            Self::Import { source, .. } if source.is_integrity() => ErrorKind::Integrity,
            Self::Incomplete { .. } => ErrorKind::Incomplete,
            Self::NotFound { .. } => ErrorKind::NotFound,
            Self::NotAStore { .. }
            | Self::ForeignLayout { .. }
            | Self::UnsupportedLayout { .. }
            | Self::Json { .. }
            | Self::NoCacheDir
            | Self::Import { .. } => ErrorKind::Invalid,
            Self::InUse { .. } => ErrorKind::Busy,
            Self::Io { .. } | Self::WriterFailed { .. } => ErrorKind::Io,
        }
    }

    /// Whether this is an integrity failure (the cli maps it to exit code 6).
    pub fn is_integrity(&self) -> bool {
        self.kind() == ErrorKind::Integrity
    }

    /// A closure that wraps an [`io::Error`] with the action and path it concerns.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }
}
