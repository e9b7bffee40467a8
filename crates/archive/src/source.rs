//! Where the writers read blobs from: the [`BlobSource`] trait and an in-memory implementation.

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use imgpull_reference::Digest;

/// A readable blob and the size its source announces for it.
///
/// The writers never trust the announced size blindly: a blob that yields another number of
/// bytes is an error (and never a corrupt archive entry). Its bytes are hashed and checked
/// against its digest too, unless its source declared them verified ([`Blob::verified_file`]).
pub struct Blob<'a> {
    body: Body<'a>,
    size: u64,
}

enum Body<'a> {
    /// Bytes the writers hash and check.
    Unverified(Box<dyn Read + Send + 'a>),
    /// A file whose content its source verified when it stored it.
    Verified(File),
}

impl<'a> Blob<'a> {
    /// A blob of `size` bytes read from `reader`; the writers check its digest as they copy it.
    pub fn new(reader: impl Read + Send + 'a, size: u64) -> Self {
        Self {
            body: Body::Unverified(Box::new(reader)),
            size,
        }
    }

    /// A blob of `size` bytes held in `file` (read from its current position), whose content the
    /// source itself checked against the digest it is opened by. The writers then only check
    /// its size, and copy it file to file inside the kernel where the output is a file (see
    /// [`FileOutput`](crate::FileOutput)).
    ///
    /// Only a source that verified the bytes and keeps the file from changing may say so: the
    /// blob cache, which hashes every blob before making it visible and stores it read-only.
    /// A file that merely claims to be the blob (an archive being read, a directory of
    /// unchecked files) must be opened with [`Blob::new`].
    pub fn verified_file(file: File, size: u64) -> Blob<'static> {
        Blob {
            body: Body::Verified(file),
            size,
        }
    }

    /// The size announced by the source.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the source declared the content verified ([`Blob::verified_file`]).
    pub fn is_verified(&self) -> bool {
        matches!(self.body, Body::Verified(_))
    }

    /// The verified file, for a copy inside the kernel.
    pub(crate) fn verified(&mut self) -> Option<&mut File> {
        match &mut self.body {
            Body::Verified(file) => Some(file),
            Body::Unverified(_) => None,
        }
    }
}

impl Read for Blob<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.body {
            Body::Unverified(reader) => reader.read(buf),
            Body::Verified(file) => file.read(buf),
        }
    }
}

impl fmt::Debug for Blob<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blob")
            .field("size", &self.size)
            .field("verified", &self.is_verified())
            .finish_non_exhaustive()
    }
}

/// A content-addressed store of blobs that the writers read from.
///
/// The blob cache implements it (serving [`Blob::verified_file`]s); [`MemorySource`] holds blobs
/// in memory, and [`ArchiveReader`](crate::ArchiveReader) serves the blobs of an archive (whose
/// digests the writers check).
pub trait BlobSource {
    /// Opens the blob with this digest, or `Ok(None)` when the source does not have it.
    fn open(&self, digest: &Digest) -> io::Result<Option<Blob<'_>>>;

    /// The path of a file holding exactly this blob, when the source keeps blobs as files, so
    /// that a directory output can hard-link it instead of copying. The default has none.
    ///
    /// A linked file is not read, so only its size is checked: return a path only for a blob
    /// already verified against its digest (as the blob cache's are), never for a file that
    /// merely claims to be the blob.
    fn path(&self, digest: &Digest) -> Option<PathBuf> {
        let _ = digest;
        None
    }

    /// Whether [`BlobSource::open`] would return at once. A source whose blobs are still
    /// arriving (a pull that writes its archive while it downloads) says `false` for those, and
    /// a tar writer into a [`FileOutput`](crate::FileOutput) then writes the entries after such a
    /// layer first, leaving its place to be filled when it is there (the archive's bytes are
    /// the same). The default: always ready.
    fn is_ready(&self, digest: &Digest) -> bool {
        let _ = digest;
        true
    }
}

impl<S: BlobSource + ?Sized> BlobSource for &S {
    fn open(&self, digest: &Digest) -> io::Result<Option<Blob<'_>>> {
        (**self).open(digest)
    }

    fn path(&self, digest: &Digest) -> Option<PathBuf> {
        (**self).path(digest)
    }

    fn is_ready(&self, digest: &Digest) -> bool {
        (**self).is_ready(digest)
    }
}

/// Blobs held in memory, keyed by the SHA-256 digest of their content.
///
/// ```
/// use imgpull_archive::{BlobSource, MemorySource};
/// use std::io::Read;
///
/// let mut source = MemorySource::new();
/// let digest = source.insert(b"hello".to_vec());
/// let mut blob = source.open(&digest)?.expect("inserted");
/// let mut content = String::new();
/// blob.read_to_string(&mut content)?;
/// assert_eq!((content.as_str(), blob.size()), ("hello", 5));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    blobs: HashMap<Digest, Vec<u8>>,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a blob under the SHA-256 digest of its content and returns that digest.
    pub fn insert(&mut self, content: Vec<u8>) -> Digest {
        let digest = Digest::sha256(&content);
        self.blobs.insert(digest.clone(), content);
        digest
    }

    /// Adds a blob under a digest of the caller's choice, which need not match the content
    /// (to model a corrupt store in tests).
    pub fn insert_as(&mut self, digest: Digest, content: Vec<u8>) {
        self.blobs.insert(digest, content);
    }

    /// Removes a blob, returning its content.
    pub fn remove(&mut self, digest: &Digest) -> Option<Vec<u8>> {
        self.blobs.remove(digest)
    }

    /// Whether the source holds this digest.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.blobs.contains_key(digest)
    }

    /// The number of blobs held.
    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    /// Whether the source is empty.
    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }
}

impl BlobSource for MemorySource {
    fn open(&self, digest: &Digest) -> io::Result<Option<Blob<'_>>> {
        Ok(self
            .blobs
            .get(digest)
            .map(|content| Blob::new(content.as_slice(), content.len() as u64)))
    }
}
