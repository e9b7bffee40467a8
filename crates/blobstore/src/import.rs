//! Importing `docker save` archives and OCI layouts into the cache.
//!
//! The archive is read by [`imgpull_archive::ArchiveReader`], which refuses unsafe member paths
//! (absolute, `..`, links escaping the archive) before anything is read. Every blob goes through
//! a [`BlobWriter`](crate::BlobWriter), so it is verified against its digest and size on the way
//! in; a compressed layer is also decompressed on the way (in the same pass) and its
//! uncompressed digest checked against the config's diff_id before the diff_id is recorded.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use imgpull_archive::{ArchiveFormat, ArchiveReader, ArchivedImage, ArchivedLayer};
use imgpull_reference::{Descriptor, Digest, Platform, Reference, media_types};
use serde::Serialize;

use crate::diff_ids::DiffIdEntry;
use crate::error::{BlobstoreError, Result};
use crate::fsutil;
use crate::store::Store;
use crate::writer::{BUFFER_SIZE, BlobWriter};

/// What [`Store::import`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ImportReport {
    /// The layout the archive was recognised as (`DockerArchive`, `OciArchive`, `OciLayout`).
    #[serde(serialize_with = "format_name")]
    pub format: ArchiveFormat,
    /// The images imported.
    pub images: Vec<ImportedImage>,
    /// Blobs written to the cache.
    pub blobs_added: u64,
    /// Bytes written to the cache.
    pub bytes_added: u64,
    /// Blobs the cache already had.
    pub blobs_present: u64,
    /// diff_ids recorded (one per layer).
    pub diff_ids_recorded: u64,
}

/// One image of an imported archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ImportedImage {
    /// The names it was recorded under in `index.json` (canonical form).
    pub names: Vec<String>,
    /// Names found in the archive that are not image references (e.g. a bare OCI ref name
    /// such as `v1`), so not recorded.
    pub ignored_names: Vec<String>,
    /// Its manifest in the cache.
    pub manifest: Descriptor,
    /// Whether that manifest was written by the import, because the archive (a legacy
    /// `docker save` tar) has none.
    pub manifest_synthesized: bool,
    /// Its config (the digest is the image ID).
    pub config: Descriptor,
    /// Its layers as stored, in order.
    pub layers: Vec<Descriptor>,
}

impl Store {
    /// Imports every image of a `docker save` archive (legacy or Docker 25+ layout, plain or
    /// gzip layers, the tar itself plain or gzip-compressed), an OCI archive, or an OCI layout
    /// directory: stores configs, manifests and layers as they are (each verified on the way
    /// in), records each layer's diff_id, and records the images in `index.json`.
    ///
    /// A legacy archive has no manifests; an OCI image manifest is written for each image so
    /// that it can be recorded. An image named by several platforms' manifests is recorded for
    /// the host's platform; the others are kept as unnamed entries (so `prune` keeps them).
    ///
    /// Unsafe member paths or any digest, size or diff_id mismatch fail the import
    /// ([`BlobstoreError::Import`] or an integrity error); blobs verified before the failure
    /// stay in the cache, nothing unverified is ever stored, and nothing is written outside it.
    ///
    /// It holds a [`Lease`](crate::Lease) on the cache throughout (taking it waits while a
    /// prune, clear or verify runs), so that a prune cannot remove a blob between its storing
    /// and the recording of its image.
    pub fn import(&self, path: impl AsRef<Path>) -> Result<ImportReport> {
        let _lease = self.lease()?;
        let path = path.as_ref();
        let reader = ArchiveReader::open(path).map_err(|source| BlobstoreError::Import {
            path: path.to_path_buf(),
            source,
        })?;
        let mut report = ImportReport {
            format: reader.format(),
            images: Vec::new(),
            blobs_added: 0,
            bytes_added: 0,
            blobs_present: 0,
            diff_ids_recorded: 0,
        };
        let mut importer = Importer {
            store: self,
            reader: &reader,
            path,
            report: &mut report,
            known: self.known_diff_ids()?,
            diff_ids: Vec::new(),
            buf: vec![0; BUFFER_SIZE],
        };
        let mut imported = Vec::new();
        for image in reader.images() {
            imported.push(importer.image(image)?);
        }
        let diff_ids = std::mem::take(&mut importer.diff_ids);
        report.diff_ids_recorded = diff_ids.len() as u64;
        self.record_diff_ids(diff_ids)?;
        report.images = self.record_imported(reader.format(), reader.images(), imported)?;
        Ok(report)
    }

    /// Records imported images in `index.json`, one named entry per name (preferring the
    /// host's platform when several manifests carry the same name) and unnamed entries for
    /// the rest.
    fn record_imported(
        &self,
        format: ArchiveFormat,
        archived: &[ArchivedImage],
        mut imported: Vec<ImportedImage>,
    ) -> Result<Vec<ImportedImage>> {
        let host = Platform::host();
        let prefers_host = |i: usize| {
            archived[i]
                .platform
                .as_ref()
                .is_some_and(|p| host.matches(p))
        };
        // Canonical name → (reference, index of the image that gets it).
        let mut owners: BTreeMap<String, (Reference, usize)> = BTreeMap::new();
        for (i, image) in archived.iter().enumerate() {
            for name in &image.names {
                match parse_name(format, name) {
                    Some(reference) => {
                        let owner = owners
                            .entry(reference.canonical())
                            .or_insert_with(|| (reference, i));
                        if !prefers_host(owner.1) && prefers_host(i) {
                            owner.1 = i;
                        }
                    }
                    None => imported[i].ignored_names.push(name.clone()),
                }
            }
        }
        let mut named = HashSet::new();
        for (name, (reference, i)) in owners {
            let mut manifest = imported[i].manifest.clone();
            manifest.platform.clone_from(&archived[i].platform);
            self.record_image(&reference, &manifest)?;
            imported[i].names.push(name);
            named.insert(i);
        }
        for (i, image) in imported.iter().enumerate() {
            if !named.contains(&i) {
                let mut manifest = image.manifest.clone();
                manifest.platform.clone_from(&archived[i].platform);
                self.record_unnamed_image(&manifest)?;
            }
        }
        Ok(imported)
    }
}

/// The state of one import.
struct Importer<'a> {
    store: &'a Store,
    reader: &'a ArchiveReader,
    path: &'a Path,
    report: &'a mut ImportReport,
    /// (diff_id, blob) pairs already verified (in the diff_id index, or earlier in this
    /// import), which need no re-check.
    known: HashSet<(Digest, Digest)>,
    /// Verified (diff_id, entry) pairs to record.
    diff_ids: Vec<(Digest, DiffIdEntry)>,
    buf: Vec<u8>,
}

impl Importer<'_> {
    fn image(&mut self, image: &ArchivedImage) -> Result<ImportedImage> {
        self.bytes(&image.config.digest, &image.config_bytes)?;
        let mut layers = Vec::with_capacity(image.layers.len());
        for layer in &image.layers {
            self.layer(layer)?;
            layers.push(layer.descriptor.clone());
        }
        let (manifest, manifest_synthesized) = match &image.manifest {
            Some(manifest) => {
                self.archive_blob(manifest)?;
                (manifest.clone(), false)
            }
            None => (self.synthesize_manifest(image)?, true),
        };
        Ok(ImportedImage {
            names: Vec::new(),
            ignored_names: Vec::new(),
            manifest,
            manifest_synthesized,
            config: image.config.clone(),
            layers,
        })
    }

    /// Stores a blob held in memory.
    fn bytes(&mut self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        if let Some(mut writer) = self.begin(digest, bytes.len() as u64)? {
            writer.write(bytes)?;
            writer.commit()?;
        }
        Ok(())
    }

    /// Copies a blob (a manifest) from the archive.
    fn archive_blob(&mut self, descriptor: &Descriptor) -> Result<()> {
        let Some(mut writer) = self.begin(&descriptor.digest, descriptor.size)? else {
            return Ok(());
        };
        let blob = self
            .reader
            .open_blob(&descriptor.digest)
            .map_err(|source| self.archive_error(source))?
            .ok_or_else(|| BlobstoreError::NotFound {
                digest: descriptor.digest.clone(),
            })?;
        let mut tee = Tee::new(blob, &mut writer);
        io::copy(&mut tee, &mut io::sink()).map_err(|e| tee.into_error(e, self.path))?;
        writer.commit()
    }

    /// Stores a layer and verifies its diff_id in the same pass, then queues the diff_id.
    fn layer(&mut self, layer: &ArchivedLayer) -> Result<()> {
        let digest = &layer.descriptor.digest;
        let uncompressed = match self.begin(digest, layer.descriptor.size)? {
            Some(mut writer) => {
                let blob = self
                    .reader
                    .open_layer(layer)
                    .map_err(|source| self.archive_error(source))?;
                let mut tee = Tee::new(blob, &mut writer);
                let uncompressed = self
                    .uncompressed_digest(&mut tee, layer)
                    .map_err(|e| tee.into_error(e, self.path))?;
                if layer.diff_id.as_ref().is_some_and(|d| *d != uncompressed) {
                    writer.discard()?;
                } else {
                    writer.commit()?;
                }
                uncompressed
            }
            None => match &layer.diff_id {
                Some(diff_id) if self.known.contains(&(diff_id.clone(), digest.clone())) => {
                    diff_id.clone()
                }
                _ => {
                    let file = self.store.open_blob(digest)?;
                    self.uncompressed_digest(file, layer)
                        .map_err(|source| BlobstoreError::Io {
                            action: "decompress",
                            path: self.store.path(digest),
                            source,
                        })?
                }
            },
        };
        let Some(diff_id) = &layer.diff_id else {
            return Ok(());
        };
        if *diff_id != uncompressed {
            return Err(BlobstoreError::DiffIdMismatch {
                layer: digest.clone(),
                expected: diff_id.clone(),
                actual: uncompressed,
            });
        }
        self.known.insert((diff_id.clone(), digest.clone()));
        self.diff_ids.push((
            diff_id.clone(),
            DiffIdEntry {
                blob: digest.clone(),
                media_type: layer.descriptor.media_type.clone(),
            },
        ));
        Ok(())
    }

    /// Writes an OCI image manifest for an image that has none.
    fn synthesize_manifest(&mut self, image: &ArchivedImage) -> Result<Descriptor> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Manifest<'a> {
            schema_version: u32,
            media_type: &'static str,
            config: Descriptor,
            layers: Vec<&'a Descriptor>,
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: media_types::OCI_IMAGE_MANIFEST,
            config: Descriptor::new(
                media_types::OCI_IMAGE_CONFIG,
                image.config.digest.clone(),
                image.config.size,
            ),
            layers: image.layers.iter().map(|l| &l.descriptor).collect(),
        };
        let bytes = serde_json::to_vec(&manifest).map_err(|source| BlobstoreError::Json {
            path: self.path.to_path_buf(),
            source,
        })?;
        let digest = Digest::sha256(&bytes);
        self.bytes(&digest, &bytes)?;
        Ok(Descriptor::new(
            media_types::OCI_IMAGE_MANIFEST,
            digest,
            bytes.len() as u64,
        ))
    }

    /// Begins a blob, counting it as present or added; `None` when present.
    fn begin(&mut self, digest: &Digest, size: u64) -> Result<Option<BlobWriter>> {
        let writer = self.store.begin_from_start(digest, size)?;
        if writer.is_some() {
            self.report.blobs_added += 1;
            self.report.bytes_added += size;
        } else {
            self.report.blobs_present += 1;
        }
        Ok(writer)
    }

    /// The digest of the uncompressed content of a layer read from `compressed`.
    fn uncompressed_digest(
        &mut self,
        compressed: impl Read,
        layer: &ArchivedLayer,
    ) -> io::Result<Digest> {
        let mut hasher = layer.descriptor.digest.algorithm().hasher();
        fsutil::feed(
            layer.compression.decoder(compressed),
            &mut hasher,
            &mut self.buf,
        )?;
        Ok(hasher.finish())
    }

    fn archive_error(&self, source: imgpull_archive::ArchiveError) -> BlobstoreError {
        BlobstoreError::Import {
            path: self.path.to_path_buf(),
            source,
        }
    }
}

/// Passes what it reads from an archive member to a [`BlobWriter`], and remembers which side
/// failed, so that a write error, a read error and corrupt compressed data are told apart.
struct Tee<'w, R> {
    inner: R,
    writer: &'w mut BlobWriter,
    write_error: Option<BlobstoreError>,
    read_failed: bool,
}

impl<'w, R: Read> Tee<'w, R> {
    fn new(inner: R, writer: &'w mut BlobWriter) -> Self {
        Self {
            inner,
            writer,
            write_error: None,
            read_failed: false,
        }
    }

    /// The error to report for `error`, returned while reading through this tee.
    fn into_error(self, error: io::Error, archive: &Path) -> BlobstoreError {
        if let Some(e) = self.write_error {
            e
        } else if self.read_failed {
            BlobstoreError::io("read", PathBuf::from(archive))(error)
        } else {
            BlobstoreError::CorruptLayer {
                layer: self.writer.digest().clone(),
                source: error,
            }
        }
    }
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self
            .inner
            .read(buf)
            .inspect_err(|_| self.read_failed = true)?;
        if let Err(e) = self.writer.write(&buf[..n]) {
            let message = e.to_string();
            self.write_error = Some(e);
            return Err(io::Error::other(message));
        }
        Ok(n)
    }
}

/// The reference an archive's image name stands for. Docker `RepoTags` are always references;
/// in OCI layouts a bare ref name (`v1`, `latest`) is a tag of nothing in particular and is not
/// taken for a repository.
fn parse_name(format: ArchiveFormat, name: &str) -> Option<Reference> {
    if format != ArchiveFormat::DockerArchive && !name.contains(['/', ':', '@']) {
        return None;
    }
    Reference::parse(name).ok()
}

// `serialize_with` hands over a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn format_name<S: serde::Serializer>(
    format: &ArchiveFormat,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(match format {
        ArchiveFormat::DockerArchive => "docker-archive",
        ArchiveFormat::OciArchive => "oci-archive",
        _ => "oci",
    })
}
