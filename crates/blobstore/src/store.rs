//! The cache directory: opening it, beginning writes, reading blobs.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use imgpull_reference::{Algorithm, Digest};

use crate::buffers::BufferPool;
use crate::error::{BlobstoreError, Result};
use crate::layout::Layout;
use crate::lock::{CacheLock, FileLock};
use crate::writer::{Begin, BlobWriter};
use crate::{fsutil, images, manage};

/// The content of the `oci-layout` file.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// A blob cache in one directory, which is also a valid OCI image layout.
///
/// All methods take `&self`; a `Store` can be shared between threads (for example in an
/// `Arc`), and several processes can use the same directory at once: writes of one blob are
/// serialised by a per-blob file lock, and `index.json` and the diff_id index are updated under
/// their own locks with atomic replacement.
///
/// The methods block on file I/O (and [`Store::begin`] on another writer's lock); async callers
/// run them on a blocking thread or use [`Store::try_begin`].
#[derive(Debug)]
pub struct Store {
    layout: Layout,
    /// The write buffers of its writers, reused from blob to blob.
    buffers: Arc<BufferPool>,
    /// Keeps the directory of [`Store::temporary`] alive; it is removed on drop.
    _temporary: Option<tempfile::TempDir>,
}

impl Store {
    /// Opens the cache in `dir`, creating it as an OCI image layout (`oci-layout`,
    /// `index.json`, `blobs/sha256/`) if missing, with imgpull's private state in `.imgpull/`.
    /// Partial downloads untouched for a day are collected.
    ///
    /// A directory that exists, is not empty and has no `oci-layout` file is refused
    /// ([`BlobstoreError::NotAStore`]), so that a mistyped path never gets pruned or cleared.
    /// An OCI layout that imgpull did not make (no `.imgpull/` directory, e.g. one written by
    /// `skopeo copy … oci:DIR`) is refused too ([`BlobstoreError::ForeignLayout`]): the store
    /// serves its blobs as verified, and that layout's were never checked. Import it instead
    /// ([`Store::import`]).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let layout = Layout::new(dir.into());
        init(&layout)?;
        manage::collect_stale_partials(&layout, manage::STALE_PARTIAL_AGE)?;
        Ok(Self {
            layout,
            buffers: Arc::default(),
            _temporary: None,
        })
    }

    /// A cache in a new temporary directory, removed when the store is dropped (for
    /// `--no-cache`).
    pub fn temporary() -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("imgpull-cache-")
            .tempdir()
            .map_err(BlobstoreError::io(
                "create a temporary directory in",
                std::env::temp_dir(),
            ))?;
        let layout = Layout::new(temp.path().to_path_buf());
        init(&layout)?;
        Ok(Self {
            layout,
            buffers: Arc::default(),
            _temporary: Some(temp),
        })
    }

    /// The platform's cache directory for imgpull: `$XDG_CACHE_HOME/imgpull` or
    /// `~/.cache/imgpull` on Linux, `~/Library/Caches/imgpull` on macOS,
    /// `%LOCALAPPDATA%\imgpull` on Windows.
    pub fn default_dir() -> Result<PathBuf> {
        dirs::cache_dir()
            .map(|dir| dir.join("imgpull"))
            .ok_or(BlobstoreError::NoCacheDir)
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        self.layout.root()
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Declares a use of the cache's blobs that must not be pulled from under it: while the
    /// returned [`Lease`] lives, [`Store::prune`], [`Store::clear`] and [`Store::verify`] of
    /// this cache, in any process, refuse with [`BlobstoreError::InUse`]. A pull takes one before it looks for the
    /// blobs it needs and keeps it until its output is written, so that a blob it found
    /// present is still there when it reads it. Any number of leases can be held at once;
    /// taking one waits while a prune, clear or verify runs.
    pub fn lease(&self) -> Result<Lease> {
        Ok(Lease {
            _lock: CacheLock::shared(&self.layout.cache_lock())?,
        })
    }

    /// Runs `f` (a prune, clear or verify) unless a [`Lease`] is held on the cache, in any process;
    /// leases asked for meanwhile wait until it has finished.
    pub(crate) fn exclusively<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let Some(_lock) = CacheLock::try_exclusive(&self.layout.cache_lock())? else {
            return Err(BlobstoreError::InUse {
                path: self.layout.root().to_path_buf(),
            });
        };
        f()
    }

    /// Starts storing the blob `digest` of `expected_size` bytes, waiting while another writer
    /// (in any process) holds it.
    ///
    /// Returns [`Begin::Present`] when the blob is already stored (its last use is updated), or
    /// [`Begin::Write`] with a writer that resumes any partial file left by an earlier attempt
    /// ([`BlobWriter::offset`]). A stored blob whose size differs from `expected_size` is
    /// [`BlobstoreError::SizeMismatch`].
    pub fn begin(&self, digest: &Digest, expected_size: u64) -> Result<Begin> {
        if self.check_present(digest, expected_size)? {
            return Ok(Begin::Present);
        }
        let lock = FileLock::acquire(&self.layout.blob_lock(digest))?;
        self.begin_locked(digest, expected_size, lock)
    }

    /// Like [`Store::begin`], but returns [`Begin::Busy`] instead of waiting when another
    /// writer holds the blob, so that async callers can poll without blocking a thread.
    pub fn try_begin(&self, digest: &Digest, expected_size: u64) -> Result<Begin> {
        if self.check_present(digest, expected_size)? {
            return Ok(Begin::Present);
        }
        match FileLock::try_acquire(&self.layout.blob_lock(digest))? {
            Some(lock) => self.begin_locked(digest, expected_size, lock),
            None => Ok(Begin::Busy),
        }
    }

    fn begin_locked(&self, digest: &Digest, expected_size: u64, lock: FileLock) -> Result<Begin> {
        // Another writer may have committed the blob while this one waited for the lock.
        if self.check_present(digest, expected_size)? {
            lock.release_and_remove();
            return Ok(Begin::Present);
        }
        fsutil::create_dir_all(&self.layout.blob_dir(digest.algorithm()))?;
        BlobWriter::resume(&self.layout, digest, expected_size, lock, &self.buffers)
    }

    /// How many write buffers (1 MiB each) this store's writers have allocated. A writer of a
    /// blob larger than 64 KiB takes one and returns it when it is committed, discarded or
    /// dropped, for the next writer to reuse; so this is the most such writers that were open
    /// at once (for a pull: its number of concurrent downloads), never the number of blobs
    /// written.
    pub fn write_buffers_allocated(&self) -> usize {
        self.buffers.allocated()
    }

    /// Whether the blob is stored, checking its size and updating its last use if so.
    fn check_present(&self, digest: &Digest, expected_size: u64) -> Result<bool> {
        let path = self.layout.blob(digest);
        match fs::metadata(&path) {
            Ok(m) if m.len() == expected_size => {
                touch(&path);
                Ok(true)
            }
            Ok(m) => Err(BlobstoreError::SizeMismatch {
                digest: digest.clone(),
                expected: expected_size,
                actual: m.len(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(BlobstoreError::io("inspect", path)(e)),
        }
    }

    /// Stores a blob held in memory (a manifest or a config), verifying it like any other;
    /// waits while another writer holds it. Returns whether it was added (`false`: it was
    /// already stored).
    pub fn put(&self, digest: &Digest, bytes: &[u8]) -> Result<bool> {
        let Some(mut writer) = self.begin_from_start(digest, bytes.len() as u64)? else {
            return Ok(false);
        };
        writer.write(bytes)?;
        writer.commit()?;
        Ok(true)
    }

    /// Like [`Store::begin`] for a source that is read from its start: a partial file left by
    /// an earlier download is discarded. `None` when the blob is present.
    pub(crate) fn begin_from_start(
        &self,
        digest: &Digest,
        expected_size: u64,
    ) -> Result<Option<BlobWriter>> {
        loop {
            match self.begin(digest, expected_size)? {
                Begin::Present => return Ok(None),
                Begin::Write(writer) if writer.offset() > 0 => writer.discard()?,
                Begin::Write(writer) => return Ok(Some(writer)),
                // Only `try_begin` reports busy; asking again is what waiting means.
                Begin::Busy => {}
            }
        }
    }

    /// Whether the blob is stored (and therefore verified).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.layout.blob(digest).is_file()
    }

    /// Where the blob is (or would be) stored: `DIR/blobs/<alg>/<hex>`. The file, when it
    /// exists, is verified and read-only; never write to it.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.layout.blob(digest)
    }

    /// Opens a stored blob for reading and records the use. Missing is
    /// [`BlobstoreError::NotFound`].
    pub fn open_blob(&self, digest: &Digest) -> Result<File> {
        let path = self.layout.blob(digest);
        match File::open(&path) {
            Ok(file) => {
                touch(&path);
                Ok(file)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlobstoreError::NotFound {
                digest: digest.clone(),
            }),
            Err(e) => Err(BlobstoreError::io("open", path)(e)),
        }
    }

    /// The size of a stored blob. Missing is [`BlobstoreError::NotFound`].
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let path = self.layout.blob(digest);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlobstoreError::NotFound {
                digest: digest.clone(),
            }),
            Err(e) => Err(BlobstoreError::io("inspect", path)(e)),
        }
    }

    /// Records a use of the blob now (its file's modification time is the last use, which
    /// `prune` and `list` read). Best effort: a blob that is missing or not ours to touch is
    /// ignored.
    pub fn touch(&self, digest: &Digest) {
        touch(&self.layout.blob(digest));
    }
}

/// A use of a cache's blobs, from [`Store::lease`]: `prune`, `clear` and `verify` refuse to
/// run while it lives. Released when dropped.
#[derive(Debug)]
#[must_use = "the lease protects the cache only while it is held"]
pub struct Lease {
    _lock: CacheLock,
}

/// Sets the modification time of `path` to now, ignoring failures (see [`Store::touch`]): a
/// read-only shared cache must stay usable.
///
/// Windows sets times only through a handle opened with the right to write attributes, which
/// an append-only handle has (nothing is ever written through it); on Unix blobs are read-only
/// (so that handle cannot be had), but their owner may set times through any handle.
pub(crate) fn touch(path: &Path) {
    let file = OpenOptions::new()
        .append(true)
        .open(path)
        .or_else(|_| File::open(path));
    if let Ok(file) = file {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// Creates or checks the layout. Everything is done under the index lock, and `oci-layout`
/// is written first, so that a concurrent opener never sees a half-made directory as foreign.
fn init(layout: &Layout) -> Result<()> {
    let root = layout.root();
    fsutil::create_dir_all(root)?;
    let foreign = fsutil::list_dir(root)?
        .iter()
        .any(|(name, _)| name != ".imgpull");
    if foreign && !layout.oci_layout().exists() {
        return Err(BlobstoreError::NotAStore {
            path: root.to_path_buf(),
        });
    }
    // A cache's `.imgpull/` is created before its `oci-layout` (below), so a layout without it
    // was made by another tool.
    if layout.oci_layout().exists() && !layout.private().is_dir() {
        return Err(BlobstoreError::ForeignLayout {
            path: root.to_path_buf(),
        });
    }
    fsutil::create_dir_all(&layout.private())?;
    let _lock = FileLock::acquire(&layout.index_lock())?;
    match fsutil::read_if_exists(&layout.oci_layout())? {
        Some(bytes) => check_layout_version(&layout.oci_layout(), &bytes)?,
        None => fsutil::write_atomic(&layout.oci_layout(), OCI_LAYOUT, &layout.private())?,
    }
    for dir in [
        layout.blob_dir(Algorithm::Sha256),
        layout.partial_dir(),
        layout.lock_dir(),
    ] {
        fsutil::create_dir_all(&dir)?;
    }
    images::ensure_index(layout)
}

fn check_layout_version(path: &Path, bytes: &[u8]) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct OciLayout {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    let layout: OciLayout =
        serde_json::from_slice(bytes).map_err(|source| BlobstoreError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    if layout.version == "1.0.0" {
        Ok(())
    } else {
        Err(BlobstoreError::UnsupportedLayout {
            path: path.to_path_buf(),
            version: layout.version,
        })
    }
}
