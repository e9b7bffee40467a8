//! The OCI image layout writers: a directory, and the same as a tar.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use imgpull_reference::Descriptor;
use tempfile::TempDir;

use crate::error::ArchiveError;
use crate::image::{ArchiveImage, CONTAINERD_IMAGE_NAME, OCI_REF_NAME, WrittenImage};
use crate::json::{IndexDoc, OCI_LAYOUT};
use crate::layout::{LayoutBuilder, Sink, Target};
use crate::output::{
    Durability, FileOutput, clear_destination, is_oci_layout, parent_dir, sync_dir,
};
use crate::sinks::DirSink;
use crate::source::BlobSource;
use crate::tar_out::TarWriter;

/// What the OCI writers share: the blobs and the `index.json` entries.
struct OciContent<S: Sink> {
    builder: LayoutBuilder<S>,
    index: Vec<Descriptor>,
}

impl<S: Sink> OciContent<S> {
    fn new(sink: S) -> Self {
        Self {
            builder: LayoutBuilder::new(sink),
            index: Vec::new(),
        }
    }

    fn add_image(
        &mut self,
        image: &ArchiveImage,
        source: &dyn BlobSource,
    ) -> Result<WrittenImage, ArchiveError> {
        let names = image.names()?;
        let written = match &image.index {
            None => {
                let mut written = self.builder.image(
                    &image.manifest,
                    &image.manifest_descriptor,
                    source,
                    Target::Oci,
                )?;
                written
                    .top
                    .platform
                    .clone_from(&image.manifest_descriptor.platform);
                written
            }
            Some(index) => {
                let (top, selected) =
                    self.builder
                        .index(index, &image.manifest_descriptor.digest, source)?;
                let mut written = selected.ok_or_else(|| {
                    ArchiveError::invalid(
                        format!("index {}", index.descriptor.digest),
                        format!(
                            "it does not list the image manifest {}",
                            image.manifest_descriptor.digest
                        ),
                    )
                })?;
                written.top = top;
                written
            }
        };
        let entry = Descriptor {
            annotations: std::collections::BTreeMap::new(),
            urls: Vec::new(),
            ..written.top.clone()
        };
        if names.is_empty() {
            self.index.push(entry.clone());
        }
        for name in names {
            let mut named = entry.clone();
            named
                .annotations
                .insert(CONTAINERD_IMAGE_NAME.to_owned(), name.canonical);
            named.annotations.insert(OCI_REF_NAME.to_owned(), name.tag);
            self.index.push(named);
        }
        Ok(written)
    }

    /// Writes `oci-layout` and `index.json`, last.
    fn finish(mut self) -> Result<S, ArchiveError> {
        self.builder.sink.put_file("oci-layout", OCI_LAYOUT)?;
        self.builder
            .sink
            .put_file("index.json", &IndexDoc::new(self.index).to_bytes()?)?;
        Ok(self.builder.sink)
    }
}

/// Writes an OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/…`) that
/// skopeo (`oci:DIR`), umoci and containerd read.
///
/// Blobs are hard-linked from the source where it keeps them as files on the same filesystem
/// ([`BlobSource::path`]), else copied and verified. A hard link shares the cached file: do not
/// modify blobs in the output in place. The layout is built in a temporary directory next to
/// the destination and renamed there by [`OciLayoutWriter::finish`]; dropped before, it is
/// removed, and an existing layout it was to replace ([`OciLayoutWriter::create_replacing`])
/// is left untouched. Layers are written as stored, zstd included; with [`ArchiveImage::index`], the whole
/// index is kept. Docker schema 2 manifests and manifest lists are converted to their OCI forms
/// (media types only, as `skopeo copy` does), since OCI tools skip Docker media types in an
/// `index.json`: their digests change ([`Note::ConvertedToOci`](crate::Note::ConvertedToOci)),
/// the configs and so the image IDs do not.
pub struct OciLayoutWriter {
    content: OciContent<DirSink>,
    temp: TempDir,
    /// The destination as given, returned by [`OciLayoutWriter::finish`].
    given: PathBuf,
    /// Where the layout is renamed to: `given`, or the directory it links to.
    dest: PathBuf,
    durability: Durability,
    /// Whether an existing OCI layout at `dest` is replaced by [`OciLayoutWriter::finish`].
    replace: bool,
}

impl fmt::Debug for OciLayoutWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciLayoutWriter")
            .field("dest", &self.dest)
            .field("temp", &self.temp.path())
            .field("replace", &self.replace)
            .field("entries", &self.content.index.len())
            .finish_non_exhaustive()
    }
}

impl OciLayoutWriter {
    /// Starts a layout to be renamed to `dest`, which must not exist or be an empty directory;
    /// its files are fsynced before they are renamed ([`Durability::Synced`]).
    ///
    /// A `dest` that is a symbolic link stands for the directory it links to: that directory
    /// is replaced (or created) and the link kept; a link to nothing is
    /// [`ArchiveError::OutputExists`].
    pub fn create(dest: impl AsRef<Path>) -> Result<Self, ArchiveError> {
        Self::create_with(dest, Durability::Synced)
    }

    /// Starts a layout to be renamed to `dest`, which must not exist or be an empty directory,
    /// its files and directory synced as `durability` says.
    pub fn create_with(
        dest: impl AsRef<Path>,
        durability: Durability,
    ) -> Result<Self, ArchiveError> {
        Self::start(dest.as_ref(), durability, false)
    }

    /// Like [`OciLayoutWriter::create_with`], but `dest` may also be an existing OCI image
    /// layout (a directory with an `oci-layout` file), which [`OciLayoutWriter::finish`]
    /// replaces once the new layout is complete: until then the old one is untouched, so an
    /// error, or the writer being dropped (Ctrl+C), leaves it as it was. Any other non-empty
    /// `dest` is still [`ArchiveError::OutputExists`].
    ///
    /// The replacement is two renames, not an atomic exchange: the old layout is renamed aside
    /// to a hidden `.imgpull-replaced-<name>-…` directory next to `dest`, then the new one
    /// is renamed to `dest`. A process killed (SIGKILL) or a machine losing power between the
    /// two leaves no layout at `dest` and the old one, whole, under that hidden name, which
    /// the next pull does not remove: rename it back, or delete it. Once the new layout is in
    /// place, failing to remove the old one (a read-only file, a busy mount) is not an error:
    /// it stays under its hidden name.
    pub fn create_replacing(
        dest: impl AsRef<Path>,
        durability: Durability,
    ) -> Result<Self, ArchiveError> {
        Self::start(dest.as_ref(), durability, true)
    }

    fn start(given: &Path, durability: Durability, replace: bool) -> Result<Self, ArchiveError> {
        let dest = link_target(given)?;
        let occupied =
            dest.exists() && fs::read_dir(&dest).map_or(true, |mut d| d.next().is_some());
        if occupied && !(replace && is_oci_layout(&dest)) {
            return Err(ArchiveError::OutputExists { path: dest });
        }
        let parent = parent_dir(&dest);
        let temp = tempfile::Builder::new()
            .prefix(".imgpull-layout-")
            .tempdir_in(&parent)
            .map_err(|e| {
                ArchiveError::file("cannot create a temporary directory in", &parent, e)
            })?;
        Ok(Self {
            content: OciContent::new(DirSink::new(temp.path().to_path_buf(), durability)),
            temp,
            given: given.to_path_buf(),
            dest,
            durability,
            replace,
        })
    }

    /// Writes the blobs of one image (those not written yet) and records its `index.json` entries.
    pub fn add_image(
        &mut self,
        image: &ArchiveImage,
        source: &dyn BlobSource,
    ) -> Result<WrittenImage, ArchiveError> {
        self.content.add_image(image, source)
    }

    /// Writes `oci-layout` and `index.json`, renames the layout to its destination and returns
    /// the destination as given.
    ///
    /// An existing layout there (see [`OciLayoutWriter::create_replacing`]) is first renamed
    /// aside, next to it, then the new layout is renamed in and the old one removed (left
    /// under its hidden name if it cannot be); should the new one fail to move in, the old one
    /// is renamed back.
    pub fn finish(self) -> Result<PathBuf, ArchiveError> {
        self.content.finish()?;
        let old = if self.replace && is_oci_layout(&self.dest) {
            Some(set_aside(&self.dest)?)
        } else {
            clear_destination(&self.dest)?;
            None
        };
        let temp = self.temp.keep();
        if let Err(e) = fs::rename(&temp, &self.dest) {
            // Best effort: the layout could not be moved into place, so it must not linger,
            // and the old one goes back where it was. Should that fail, the old layout stays under its hidden name rather than be lost.
            let _ = fs::remove_dir_all(&temp);
            if let Some(old) = old {
                let _ = fs::rename(old.keep(), &self.dest);
            }
            return Err(ArchiveError::file(
                "cannot rename the layout to",
                &self.dest,
                e,
            ));
        }
        if self.durability == Durability::Synced {
            sync_dir(&parent_dir(&self.dest))?;
        }
        if let Some(old) = old {
            // The new layout is in place and synced: the output is done. What cannot be removed
            // of the old one stays under its hidden name, as documented on `create_replacing`.
            let _ = old.close();
        }
        Ok(self.given)
    }
}

/// The directory a symbolic link `dest` points to (its canonical path), or `dest` itself when
/// it is not a link; a link to nothing is [`ArchiveError::OutputExists`].
fn link_target(dest: &Path) -> Result<PathBuf, ArchiveError> {
    let is_link = fs::symlink_metadata(dest).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(dest.to_path_buf());
    }
    fs::canonicalize(dest).map_err(|_| ArchiveError::OutputExists {
        path: dest.to_path_buf(),
    })
}

/// Renames the layout at `dest` to a new hidden name in the same directory
/// (`.imgpull-replaced-<name>-…`), returned as a [`TempDir`] so that it is removed when
/// dropped.
fn set_aside(dest: &Path) -> Result<TempDir, ArchiveError> {
    let parent = parent_dir(dest);
    let mut prefix = std::ffi::OsString::from(".imgpull-replaced-");
    if let Some(name) = dest.file_name() {
        prefix.push(name);
        prefix.push("-");
    }
    let aside = tempfile::Builder::new()
        .prefix(&prefix)
        .tempdir_in(&parent)
        .map_err(|e| ArchiveError::file("cannot create a temporary directory in", &parent, e))?;
    // Renaming a directory over an empty one replaces it (on Unix; elsewhere the empty
    // directory is removed first).
    if cfg!(not(unix)) {
        fs::remove_dir(aside.path())
            .map_err(|e| ArchiveError::file("cannot replace", aside.path(), e))?;
    }
    fs::rename(dest, aside.path())
        .map_err(|e| ArchiveError::file("cannot move aside the layout", dest, e))?;
    Ok(aside)
}

/// Writes an OCI image layout as a tar (`oci-archive:FILE`), deterministically: the blobs, then
/// `oci-layout` and `index.json`. The content is that of [`OciLayoutWriter`], Docker manifests
/// converted to OCI ones included.
pub struct OciArchiveWriter<W: Write> {
    content: OciContent<TarWriter<W>>,
}

impl<W: Write> fmt::Debug for OciArchiveWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OciArchiveWriter")
            .field("entries", &self.content.index.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write> OciArchiveWriter<W> {
    /// A writer into `out`, every byte through [`Write`].
    pub fn new(out: W) -> Self {
        Self {
            content: OciContent::new(TarWriter::new(out)),
        }
    }

    /// A writer into `out` that copies verified blobs into its file directly, inside the
    /// kernel (see [`FileOutput`]); the archive is byte for byte the one
    /// [`OciArchiveWriter::new`] writes.
    pub fn for_file(out: W) -> Self
    where
        W: FileOutput,
    {
        Self {
            content: OciContent::new(TarWriter::on_file(out)),
        }
    }

    /// Writes the blobs of one image (those not written yet) and records its `index.json` entries.
    pub fn add_image(
        &mut self,
        image: &ArchiveImage,
        source: &dyn BlobSource,
    ) -> Result<WrittenImage, ArchiveError> {
        self.content.add_image(image, source)
    }

    /// Writes `index.json`, ends the tar stream and returns the writer.
    pub fn finish(self) -> Result<W, ArchiveError> {
        self.content.finish()?.finish()
    }
}
