//! The docker-save archive writer (the Docker 25+ dual layout).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

use imgpull_reference::Descriptor;

use crate::error::ArchiveError;
use crate::image::{ArchiveImage, CONTAINERD_IMAGE_NAME, OCI_REF_NAME, WrittenImage};
use crate::json::{DockerManifestEntry, IndexDoc, OCI_LAYOUT, blob_path, to_bytes};
use crate::layout::{LayoutBuilder, Target};
use crate::output::FileOutput;
use crate::source::BlobSource;
use crate::tar_out::TarWriter;

/// Options of the docker archive writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DockerArchiveOptions {
    /// Write every layer decompressed (and checked against its diff_id while writing) instead
    /// of as the registry served it. zstd layers are always decompressed.
    pub uncompressed_layers: bool,
}

/// Writes a `docker save` archive that `docker load` (old engines and Docker 25+ with the
/// containerd store), `podman load` and skopeo's `docker-archive:` read.
///
/// The tar holds, in this order: `blobs/sha256/<hex>` for each config, layer and manifest
/// (each written once, however many images share it), then `oci-layout`, `repositories`,
/// `index.json` and `manifest.json`. Entries are deterministic (mtime 0, uid/gid 0, mode
/// 0644, no user names), so the same images give the same bytes; no entry name contains `:`.
///
/// Layers are written as stored (gzip, as `docker load` accepts) unless
/// [`DockerArchiveOptions::uncompressed_layers`] is set; zstd layers are always decompressed, since
/// engines before 23.0 cannot load them. A decompressed layer needs its size in its tar header
/// before its data. Writing into a file ([`DockerArchiveWriter::for_file`]), the writer
/// decompresses each layer once, checking its diff_id, and writes its header afterwards in its
/// place. Into a pipe or a compressor ([`DockerArchiveWriter::new`]), it decompresses it twice,
/// once to measure it and check its diff_id (so a bad layer fails before anything of it is
/// written), and once to write it (checking it again). (Inflating into a temporary file and
/// copying that was measured on a 256 MiB layer (45 MiB gzip): one inflate-and-hash pass took
/// 0.66–0.82 s, and the temporary file's write and read-back added 0.12–0.74 s — no faster than
/// two passes, and it needs a second copy of each layer on disk.)
///
/// ```
/// use imgpull_archive::{DockerArchiveOptions, DockerArchiveWriter};
///
/// let writer = DockerArchiveWriter::new(Vec::new(), DockerArchiveOptions::default());
/// let tar = writer.finish()?; // an archive of no image
/// assert_eq!(&tar[..5], b"oci-l");
/// # Ok::<(), imgpull_archive::ArchiveError>(())
/// ```
pub struct DockerArchiveWriter<W: Write> {
    builder: LayoutBuilder<TarWriter<W>>,
    options: DockerArchiveOptions,
    manifest: Vec<DockerManifestEntry>,
    index: Vec<Descriptor>,
    repositories: BTreeMap<String, BTreeMap<String, String>>,
}

impl<W: Write> fmt::Debug for DockerArchiveWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerArchiveWriter")
            .field("options", &self.options)
            .field("images", &self.manifest.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write> DockerArchiveWriter<W> {
    /// A writer into `out` (a file, a pipe, a [`GzipWriter`](crate::GzipWriter)…), every byte
    /// through [`Write`].
    pub fn new(out: W, options: DockerArchiveOptions) -> Self {
        Self::with_tar(TarWriter::new(out), options)
    }

    /// A writer into `out` that also writes into its file directly (see [`FileOutput`]):
    /// verified blobs are copied file to file in the kernel, and a decompressed layer is
    /// written in one pass instead of two, its tar header written after it. The archive is
    /// byte for byte the one [`DockerArchiveWriter::new`] writes. A layer found bad in that
    /// one pass has been partly written when the error is returned: the writer then refuses
    /// to go on, and the output is to be discarded (as an uncommitted
    /// [`AtomicFile`](crate::AtomicFile) is).
    pub fn for_file(out: W, options: DockerArchiveOptions) -> Self
    where
        W: FileOutput,
    {
        Self::with_tar(TarWriter::on_file(out), options)
    }

    fn with_tar(tar: TarWriter<W>, options: DockerArchiveOptions) -> Self {
        Self {
            builder: LayoutBuilder::new(tar),
            options,
            manifest: Vec::new(),
            index: Vec::new(),
            repositories: BTreeMap::new(),
        }
    }

    /// Also checks, while writing a gzip layer as stored, that its decompressed content hashes
    /// to the config's diff_id, as `docker load` will (so that the load cannot fail on it, and
    /// [`WrittenLayer::diff_id_verified`](crate::WrittenLayer::diff_id_verified) can be trusted).
    /// It costs a decompression of each such layer in the same pass (about 0.7 s of CPU per
    /// 256 MiB uncompressed); layers written decompressed are always checked. Off by default.
    #[must_use]
    pub fn verify_diff_ids(mut self, verify: bool) -> Self {
        self.builder.check_diff_ids(verify);
        self
    }

    /// Writes the blobs of one image (those not written yet) and records its entries.
    pub fn add_image(
        &mut self,
        image: &ArchiveImage,
        source: &dyn BlobSource,
    ) -> Result<WrittenImage, ArchiveError> {
        let names = image.names()?;
        let target = Target::Docker {
            inflate_all: self.options.uncompressed_layers,
        };
        let written =
            self.builder
                .image(&image.manifest, &image.manifest_descriptor, source, target)?;

        self.manifest.push(DockerManifestEntry {
            config: blob_path(&written.config.digest),
            repo_tags: Some(names.iter().map(|n| n.repo_tag.clone()).collect()),
            layers: written
                .layers
                .iter()
                .map(|l| blob_path(&l.written.digest))
                .collect(),
        });
        let entry = Descriptor::new(
            written.manifest.media_type.clone(),
            written.manifest.digest.clone(),
            written.manifest.size,
        );
        if names.is_empty() {
            self.index.push(entry.clone());
        }
        for name in &names {
            let mut named = entry.clone();
            named
                .annotations
                .insert(CONTAINERD_IMAGE_NAME.to_owned(), name.canonical.clone());
            named
                .annotations
                .insert(OCI_REF_NAME.to_owned(), name.tag.clone());
            self.index.push(named);
            if let Some(top) = written.layers.last() {
                self.repositories
                    .entry(name.familiar_name.clone())
                    .or_default()
                    .insert(name.tag.clone(), top.written.digest.hex().to_owned());
            }
        }
        Ok(written)
    }

    /// Writes `oci-layout`, `repositories`, `index.json` and `manifest.json`, ends the tar
    /// stream and returns the writer (to [`AtomicFile::commit`](crate::AtomicFile::commit) or
    /// [`GzipWriter::finish`](crate::GzipWriter::finish) it).
    pub fn finish(self) -> Result<W, ArchiveError> {
        let mut tar = self.builder.sink;
        tar.file("oci-layout", OCI_LAYOUT)?;
        if !self.repositories.is_empty() {
            tar.file(
                "repositories",
                &to_bytes(&self.repositories, "repositories")?,
            )?;
        }
        tar.file("index.json", &IndexDoc::new(self.index).to_bytes()?)?;
        tar.file("manifest.json", &to_bytes(&self.manifest, "manifest.json")?)?;
        tar.finish()
    }
}
