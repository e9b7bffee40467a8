//! A verified, resumable, content-addressed blob cache, shared safely by concurrent processes.
//!
//! The cache directory is itself an [OCI image layout]: `oci-layout`, `index.json` (the images
//! recorded, annotated so that `skopeo inspect oci:CACHE:TAG` works) and `blobs/sha256/<hex>`,
//! each blob stored exactly as the registry served it. imgpull's own state (partial downloads,
//! lock files, the diff_id index, quarantined blobs) lives in `.imgpull/`, which OCI tools
//! ignore. That directory also marks the layout as a cache: an OCI layout without it (written
//! by another tool, its blobs never verified) is not opened as one
//! ([`BlobstoreError::ForeignLayout`]); [`Store::import`] takes its images in, verified.
//!
//! **Nothing unverified is ever visible under `blobs/`.** A [`BlobWriter`] hashes and counts
//! every byte as it arrives, refuses bytes past the expected size, and only on
//! [`BlobWriter::commit`] — after checking size and digest and syncing the file — renames the
//! partial file into place. An interrupted download leaves its partial file behind; the next
//! [`Store::begin`], in this process or a later one, rebuilds the hash state from it and
//! resumes at [`BlobWriter::offset`].
//!
//! Several processes may share one cache: a per-blob lock (std's `File::lock`) makes one of
//! them write a blob while the others wait ([`Store::begin`]) or are told it is busy
//! ([`Store::try_begin`]), then find it [`Begin::Present`]. A process that relies on blobs it
//! found present (a pull, until its output is written) holds a [`Lease`] ([`Store::lease`]),
//! during which [`Store::prune`], [`Store::clear`] and [`Store::verify`] (which moves corrupt
//! blobs away), in any process, refuse to run ([`BlobstoreError::InUse`]); [`Store::import`]
//! holds one too. (The locks are `flock`-style
//! advisory locks. Network file systems that emulate them with POSIX record locks exclude
//! processes from each other, but not two threads of one process.)
//!
//! The crate is synchronous and does no network I/O.
//!
//! # Examples
//!
//! ```
//! use imgpull_blobstore::{Begin, Store};
//! use imgpull_reference::Digest;
//!
//! let store = Store::temporary()?;
//! let content = b"layer bytes";
//! let digest = Digest::sha256(content);
//!
//! match store.begin(&digest, content.len() as u64)? {
//!     Begin::Present | Begin::Busy => unreachable!("the store is new"),
//!     Begin::Write(mut writer) => {
//!         assert_eq!(writer.offset(), 0);
//!         writer.write(content)?;
//!         writer.commit()?;
//!     }
//! }
//! assert!(store.contains(&digest));
//! assert!(matches!(store.begin(&digest, content.len() as u64)?, Begin::Present));
//!
//! // A corrupt stream never becomes a blob.
//! let wrong = Digest::sha256(b"something else");
//! let Begin::Write(mut writer) = store.begin(&wrong, 3)? else { unreachable!() };
//! writer.write(b"abc")?;
//! assert!(writer.commit().unwrap_err().is_integrity());
//! assert!(!store.contains(&wrong));
//! # Ok::<(), imgpull_blobstore::BlobstoreError>(())
//! ```
//!
//! [OCI image layout]: https://github.com/opencontainers/image-spec/blob/main/image-layout.md

mod buffers;
mod diff_ids;
mod error;
mod fsutil;
mod images;
mod import;
mod layout;
mod lock;
mod manage;
mod source;
mod stats;
mod store;
mod writer;

pub use diff_ids::DiffIdEntry;
pub use error::{BlobstoreError, ErrorKind, Result};
pub use images::{IMAGE_NAME_ANNOTATION, ImageRecord, REF_NAME_ANNOTATION};
pub use import::{ImportReport, ImportedImage};
pub use manage::{
    BlobInfo, ClearReport, CorruptBlob, DiskUsage, Listing, PruneOptions, PruneReason, PruneReport,
    PrunedBlob, UNREFERENCED_GRACE, VerifyReport,
};
pub use stats::{ByteSize, Stats, StatsRecorder};
pub use store::{Lease, Store};
pub use writer::{Begin, BlobWriter};
