//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use imgpull_reference::Digest;

/// Everything that can go wrong while writing or reading an archive.
///
/// Every message names the blob (by digest), the archive member or the file concerned, and the
/// cause. [`ArchiveError::is_integrity`] tells the data that does not match its digest, size or
/// diff_id apart from every other failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// The blob source has no blob with this digest.
    #[error("blob {digest} is not in the blob source")]
    MissingBlob {
        /// The digest asked for.
        digest: Digest,
    },

    /// Reading a blob from the blob source failed.
    #[error("cannot read blob {digest} from the blob source: {source}")]
    SourceRead {
        /// The blob being read.
        digest: Digest,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// Writing the output failed.
    #[error("cannot write {what} to the output: {source}")]
    Write {
        /// What was being written (an archive member name or a file).
        what: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// A file or directory could not be opened, created, read or renamed.
    #[error("{action} `{path}`: {source}", path = path.display())]
    File {
        /// What was being done (`cannot open`, `cannot rename to`, …).
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The output path already exists and is not an empty directory.
    #[error("output `{}` already exists", path.display())]
    OutputExists {
        /// The output path.
        path: PathBuf,
    },

    /// A blob has another size than its descriptor says.
    #[error("blob {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: Digest,
        /// The size its descriptor or source announced.
        expected: u64,
        /// The number of bytes actually read (for a longer blob, at least this many).
        actual: u64,
    },

    /// A blob's content does not hash to its digest.
    #[error("blob {expected} ({what}) hashes to {actual}")]
    DigestMismatch {
        /// What the blob is (`config`, `layer`, `manifest`, a member name…).
        what: String,
        /// The digest it should have.
        expected: Digest,
        /// The digest of its content.
        actual: Digest,
    },

    /// A layer's uncompressed content does not hash to the diff_id the image config lists.
    #[error(
        "layer {layer}: uncompressed content hashes to {actual}, but the config's diff_id is {expected}"
    )]
    DiffIdMismatch {
        /// The layer blob (as stored).
        layer: Digest,
        /// The diff_id from the image config.
        expected: Digest,
        /// The digest of the uncompressed content.
        actual: Digest,
    },

    /// A compressed layer could not be decompressed.
    #[error("layer {layer}: cannot decompress {compression} data: {source}")]
    Decompress {
        /// The layer blob.
        layer: Digest,
        /// The compression (`gzip`, `zstd`).
        compression: &'static str,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },

    /// A manifest, index or config is not what it should be.
    #[error("invalid {what}: {reason}")]
    InvalidDocument {
        /// What was being read, naming the digest or member (`manifest sha256:…`).
        what: String,
        /// What is wrong.
        reason: String,
    },

    /// A JSON document could not be parsed.
    #[error("invalid JSON in {what}: {source}")]
    Json {
        /// What was being parsed, naming the digest or member.
        what: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },

    /// A media type this crate cannot write or read.
    #[error("{what} has unsupported media type `{media_type}`")]
    UnsupportedMediaType {
        /// What has it (`manifest sha256:…`, `layer sha256:…`).
        what: String,
        /// The media type.
        media_type: String,
    },

    /// A tag given for an image cannot be used as a docker `RepoTags` entry.
    #[error("cannot tag an image as `{reference}`: {reason}")]
    InvalidTag {
        /// The reference as given.
        reference: String,
        /// Why it cannot be used.
        reason: &'static str,
    },

    /// An archive member's path or link target is unsafe (absolute, `..`, escaping the root).
    #[error("unsafe archive member `{member}`: {reason}")]
    UnsafeMember {
        /// The member's name as stored in the archive.
        member: String,
        /// Why it is refused.
        reason: String,
    },

    /// The archive lacks a member that its manifest or index refers to.
    #[error("archive member `{member}` is missing (referenced by {referenced_by})")]
    MissingMember {
        /// The missing member's name.
        member: String,
        /// What refers to it.
        referenced_by: String,
    },

    /// The input is neither a docker-save archive nor an OCI layout or archive.
    #[error("`{}` is not an image archive: {reason}", path.display())]
    NotAnArchive {
        /// The input path.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },

    /// A gzip-compressed archive inflates to more than [`ArchiveReader`](crate::ArchiveReader)
    /// writes to its temporary copy: a gzip bomb, or an unusually compressible archive.
    #[error(
        "`{}` decompresses to more than {limit} bytes ({ratio} times the {compressed} \
         compressed bytes read so far, at least {floor}): refused as a possible gzip bomb; if \
         you trust it, decompress it yourself (`gunzip -k`) and give the plain tar, which is read in place",
        path.display()
    )]
    InflateLimit {
        /// The archive.
        path: PathBuf,
        /// The most bytes it could inflate to.
        limit: u64,
        /// How many times the compressed bytes read so far an archive may inflate to.
        ratio: u64,
        /// How many bytes any archive may inflate to, whatever its compressed size.
        floor: u64,
        /// The compressed bytes read when the limit was passed.
        compressed: u64,
    },

    /// A tar stream could not be read.
    #[error("cannot read the tar stream of `{}`: {source}", path.display())]
    Tar {
        /// The archive.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl ArchiveError {
    /// Whether the error means that some data does not match its digest, size or diff_id (or a
    /// compressed layer is corrupt). The cli maps these to its integrity exit code.
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            Self::SizeMismatch { .. }
                | Self::DigestMismatch { .. }
                | Self::DiffIdMismatch { .. }
                | Self::Decompress { .. }
        )
    }

    pub(crate) fn write(what: impl Into<String>, source: io::Error) -> Self {
        Self::Write {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn file(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::File {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn invalid(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::InvalidDocument {
            what: what.into(),
            reason: reason.into(),
        }
    }
}
