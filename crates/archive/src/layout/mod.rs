//! Writing the blobs of images into a layout (a tar stream or a directory): the part the docker
//! archive, OCI archive and OCI layout writers share.
//!
//! [`LayoutBuilder`] walks manifests and indexes and decides how each layer is written
//! (`blobs` does the verified copying and inflating, `rewrite` the manifests and indexes that
//! describe layers written in another form than the registry's).

mod blobs;
mod rewrite;

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;

use imgpull_reference::{Descriptor, Digest, media_types};

use crate::compression::{Compression, DOCKER_LAYER_TAR};
use crate::error::ArchiveError;
use crate::image::{ImageIndex, LayerForm, Note, WrittenImage, WrittenLayer};
use crate::json::{ConfigDoc, IndexDoc, ManifestDoc};
use crate::source::BlobSource;
use crate::tar_out::Slot;

use blobs::read_error;
pub(crate) use blobs::{check_bytes, read_document};
use rewrite::{rewrite_index, rewrite_manifest};

/// How deep indexes may nest inside indexes.
const MAX_INDEX_DEPTH: usize = 4;

/// Where the blobs and files of a layout go.
pub(crate) trait Sink {
    /// Writes a small file at `name` (relative to the layout's root).
    fn put_file(&mut self, name: &str, data: &[u8]) -> Result<(), ArchiveError>;

    /// Writes the blob at `name`, of `size` bytes, whose content `fill` writes.
    fn put_blob(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError>;

    /// Writes the blob at `name`, of `size` bytes, whose content `fill` writes straight into
    /// the output file (from its position, leaving it at the blob's end), so that a verified
    /// blob can be copied file to file in the kernel; `Ok(false)`, with nothing written, when
    /// this sink does not write into a file.
    fn put_blob_in_file(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut File) -> Result<(), ArchiveError>,
    ) -> Result<bool, ArchiveError>;

    /// Writes the blob at `name` whose content `fill` writes and whose size is known only
    /// afterwards (a layer being decompressed); returns that size, or `Ok(None)`, with
    /// nothing written, when this sink needs sizes in advance.
    fn put_measured_blob(
        &mut self,
        name: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), ArchiveError>,
    ) -> Result<Option<u64>, ArchiveError>;

    /// Writes the entry of the blob at `name`, of `size` bytes, leaving its content to be
    /// written later by [`Sink::fill_slot`], so that a blob still arriving does not hold up
    /// the entries after it; `Ok(None)`, with nothing written, when this sink writes in order.
    fn reserve_blob(&mut self, name: &str, size: u64) -> Result<Option<Slot>, ArchiveError> {
        let _ = (name, size);
        Ok(None)
    }

    /// Writes the content of a slot that [`Sink::reserve_blob`] returned: `fill` writes exactly
    /// its size into the output file.
    fn fill_slot(
        &mut self,
        slot: &Slot,
        fill: &mut dyn FnMut(&mut File) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        let _ = fill;
        Err(ArchiveError::write(
            format!("{slot:?}"),
            std::io::Error::other("this output reserves no entries"),
        ))
    }

    /// Puts the file at `path`, which holds exactly the blob, at `name` without copying (a hard
    /// link); `Ok(false)` when this sink cannot.
    fn link_blob(&mut self, name: &str, path: &Path) -> Result<bool, ArchiveError> {
        let _ = (name, path);
        Ok(false)
    }
}

/// What kind of output the blobs are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// A docker archive: configs must list diff_ids; zstd layers (or, with `inflate_all`, every
    /// compressed layer) are written decompressed.
    Docker { inflate_all: bool },
    /// An OCI layout: layers as stored; Docker schema 2 manifests and manifest lists converted
    /// to their OCI forms, which OCI tools require (the config, so the image ID, is unchanged).
    Oci,
}

impl Target {
    fn policy(self) -> LayerPolicy {
        match self {
            Self::Docker { inflate_all: false } => LayerPolicy::InflateZstd,
            Self::Docker { inflate_all: true } => LayerPolicy::InflateAll,
            Self::Oci => LayerPolicy::AsStored,
        }
    }
}

/// Which layers are written decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LayerPolicy {
    /// Every layer as stored (OCI outputs).
    AsStored,
    /// zstd layers decompressed, the others as stored (docker archive).
    InflateZstd,
    /// Every compressed layer decompressed (docker archive with uncompressed layers).
    InflateAll,
}

impl LayerPolicy {
    fn inflates(self, compression: Compression) -> bool {
        match self {
            Self::AsStored => false,
            Self::InflateZstd => compression == Compression::Zstd,
            Self::InflateAll => compression != Compression::None,
        }
    }
}

/// Writes blobs into a [`Sink`], each once.
pub(crate) struct LayoutBuilder<S: Sink> {
    pub(crate) sink: S,
    /// Blobs written so far, with their sizes.
    written: HashMap<Digest, u64>,
    /// Whether gzip layers written as stored are decompressed on the way to check their diff_ids.
    check_diff_ids: bool,
    /// Layer blobs whose decompressed content was checked, with the diff_id it hashes to.
    checked: HashMap<Digest, Digest>,
    /// Blobs whose entries were reserved while they were still arriving, to fill at the end of
    /// the image.
    deferred: Vec<Deferred>,
}

/// A blob whose tar entry is written and whose content is still to be copied.
struct Deferred {
    slot: Slot,
    descriptor: Descriptor,
    what: String,
}

impl<S: Sink> LayoutBuilder<S> {
    pub(crate) fn new(sink: S) -> Self {
        Self {
            sink,
            written: HashMap::new(),
            check_diff_ids: false,
            checked: HashMap::new(),
            deferred: Vec::new(),
        }
    }

    /// Checks the diff_ids of the gzip layers written as stored, from now on.
    pub(crate) fn check_diff_ids(&mut self, check: bool) {
        self.check_diff_ids = check;
    }

    /// Writes an image manifest, its config and its layers. `manifest` must hash to
    /// `descriptor`. The manifest is rewritten when a layer is written in another form, or when
    /// a Docker manifest is converted for an OCI output.
    pub(crate) fn image(
        &mut self,
        manifest: &[u8],
        descriptor: &Descriptor,
        source: &dyn BlobSource,
        target: Target,
    ) -> Result<WrittenImage, ArchiveError> {
        let policy = target.policy();
        let what = format!("manifest {}", descriptor.digest);
        check_bytes(manifest, descriptor, &what)?;
        let doc = ManifestDoc::parse(manifest, &descriptor.media_type, &what)?;
        let config_what = format!("config {}", doc.config.digest);
        let config = read_document(source, &doc.config, &config_what)?;
        let diff_ids = match target {
            Target::Docker { .. } => ConfigDoc::diff_ids(&config, doc.layers.len(), &config_what)?
                .into_iter()
                .map(Some)
                .collect(),
            Target::Oci => {
                match ConfigDoc::optional_diff_ids(&config, doc.layers.len(), &config_what)? {
                    Some(ids) => ids.into_iter().map(Some).collect(),
                    None => vec![None; doc.layers.len()],
                }
            }
        };
        self.bytes_blob(&doc.config.digest, &config)?;

        let docker =
            media_types::essence(&descriptor.media_type) == media_types::DOCKER_MANIFEST_V2;
        let convert = docker && target == Target::Oci;
        let mut layers = Vec::with_capacity(doc.layers.len());
        let mut notes = Vec::new();
        for (layer, diff_id) in doc.layers.iter().zip(diff_ids) {
            let mut written =
                self.layer(layer, diff_id.as_ref(), source, policy, docker && !convert)?;
            if convert {
                written.written.media_type = oci_layer_type(&written.written.media_type);
            }
            match (written.form, &diff_id) {
                (LayerForm::Inflated(Compression::Zstd), Some(id))
                    if policy == LayerPolicy::InflateZstd =>
                {
                    notes.push(Note::ZstdInflated {
                        layer: layer.digest.clone(),
                        diff_id: id.clone(),
                    });
                }
                (LayerForm::UncompressedCopy, Some(id)) => notes.push(Note::UncompressedCopy {
                    layer: layer.digest.clone(),
                    diff_id: id.clone(),
                }),
                _ => {}
            }
            layers.push(written);
        }

        self.fill_deferred(source)?;
        let mut config = doc.config;
        let written_manifest = if !convert && layers.iter().all(|l| l.written == l.original) {
            self.bytes_blob(&descriptor.digest, manifest)?;
            descriptor.clone()
        } else {
            let bytes = rewrite_manifest(manifest, &layers, convert, &what)?;
            let mut rewritten = descriptor.clone();
            rewritten.digest = Digest::sha256(&bytes);
            rewritten.size = bytes.len() as u64;
            if convert {
                media_types::OCI_IMAGE_MANIFEST.clone_into(&mut rewritten.media_type);
                media_types::OCI_IMAGE_CONFIG.clone_into(&mut config.media_type);
                notes.push(Note::ConvertedToOci {
                    manifest: descriptor.digest.clone(),
                    converted: rewritten.digest.clone(),
                });
            }
            self.bytes_blob(&rewritten.digest, &bytes)?;
            rewritten
        };
        Ok(WrittenImage {
            top: written_manifest.clone(),
            manifest: written_manifest,
            config,
            layers,
            notes,
        })
    }

    /// Writes an index, every manifest it lists (recursively) and their blobs, and returns the
    /// written index's descriptor and the written form of the image manifest `selected`.
    pub(crate) fn index(
        &mut self,
        index: &ImageIndex,
        selected: &Digest,
        source: &dyn BlobSource,
    ) -> Result<(Descriptor, Option<WrittenImage>), ArchiveError> {
        let mut walk = IndexWalk {
            selected,
            source,
            done: HashMap::new(),
        };
        self.index_at(&index.bytes, &index.descriptor, &mut walk, 0)
    }

    /// Writes one index of the walk, once: an index listed again (under several parents) is
    /// not walked again, which would make the work exponential in the nesting depth; the
    /// selected manifest, if it is below it, was found on the first visit.
    fn index_at(
        &mut self,
        bytes: &[u8],
        descriptor: &Descriptor,
        walk: &mut IndexWalk<'_>,
        depth: usize,
    ) -> Result<(Descriptor, Option<WrittenImage>), ArchiveError> {
        if let Some(written) = walk.done.get(&descriptor.digest) {
            return Ok((written.clone(), None));
        }
        let (written, found) = self.write_index(bytes, descriptor, walk, depth)?;
        walk.done.insert(descriptor.digest.clone(), written.clone());
        Ok((written, found))
    }

    /// Writes an index entry that is neither an image manifest nor an index (an artifact, or a
    /// type this crate does not know) as it is, with the blobs it refers to
    /// ([`artifact_blobs`](crate::artifact_blobs)), so that the layout has no dangling
    /// descriptor.
    fn artifact(
        &mut self,
        source: &dyn BlobSource,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<(), ArchiveError> {
        let missing = |descriptor: &Descriptor| ArchiveError::MissingBlob {
            digest: descriptor.digest.clone(),
        };
        if !self.source_blob(source, descriptor, what)? {
            return Err(missing(descriptor));
        }
        if descriptor.size > crate::json::MAX_DOCUMENT {
            return Ok(());
        }
        let bytes = read_document(source, descriptor, what)?;
        for blob in crate::json::artifact_blobs(&bytes) {
            let blob_what = format!("blob {} of {what}", blob.digest);
            if !self.source_blob(source, &blob, &blob_what)? {
                return Err(missing(&blob));
            }
        }
        Ok(())
    }

    fn write_index(
        &mut self,
        bytes: &[u8],
        descriptor: &Descriptor,
        walk: &mut IndexWalk<'_>,
        depth: usize,
    ) -> Result<(Descriptor, Option<WrittenImage>), ArchiveError> {
        let (selected, source) = (walk.selected, walk.source);
        let what = format!("index {}", descriptor.digest);
        check_bytes(bytes, descriptor, &what)?;
        if !media_types::is_index(&descriptor.media_type) {
            return Err(ArchiveError::UnsupportedMediaType {
                what,
                media_type: descriptor.media_type.clone(),
            });
        }
        if depth >= MAX_INDEX_DEPTH {
            return Err(ArchiveError::invalid(what, "indexes nested too deeply"));
        }
        let doc: IndexDoc = crate::json::parse(bytes, &what)?;
        let mut replaced = Vec::new();
        let mut found = None;
        for (i, child) in doc.manifests.iter().enumerate() {
            let child_what = format!("manifest {} listed in {what}", child.digest);
            let written = if media_types::is_index(&child.media_type) {
                let child_bytes = read_document(source, child, &child_what)?;
                let (written, image) = self.index_at(&child_bytes, child, walk, depth + 1)?;
                found = found.or(image);
                written
            } else if media_types::is_image_manifest(&child.media_type) {
                let child_bytes = read_document(source, child, &child_what)?;
                let image = self.image(&child_bytes, child, source, Target::Oci)?;
                let written = image.manifest.clone();
                if child.digest == *selected {
                    found = Some(image);
                }
                written
            } else {
                self.artifact(source, child, &child_what)?;
                child.clone()
            };
            if written.digest != child.digest {
                replaced.push((i, written));
            }
        }
        let convert =
            media_types::essence(&descriptor.media_type) == media_types::DOCKER_MANIFEST_LIST;
        if replaced.is_empty() && !convert {
            self.bytes_blob(&descriptor.digest, bytes)?;
            return Ok((descriptor.clone(), found));
        }
        let rewritten = rewrite_index(bytes, &replaced, convert, &what)?;
        let mut written = descriptor.clone();
        if convert {
            media_types::OCI_IMAGE_INDEX.clone_into(&mut written.media_type);
        }
        written.digest = Digest::sha256(&rewritten);
        written.size = rewritten.len() as u64;
        self.bytes_blob(&written.digest, &rewritten)?;
        Ok((written, found))
    }

    fn layer(
        &mut self,
        layer: &Descriptor,
        diff_id: Option<&Digest>,
        source: &dyn BlobSource,
        policy: LayerPolicy,
        docker: bool,
    ) -> Result<WrittenLayer, ArchiveError> {
        let what = format!("layer {}", layer.digest);
        let compression = Compression::from_media_type(&layer.media_type);
        let uncompressed_type = if docker {
            DOCKER_LAYER_TAR
        } else {
            media_types::OCI_LAYER_TAR
        };
        let inflate = compression.is_some_and(|c| policy.inflates(c));
        if policy != LayerPolicy::AsStored && compression.is_none() {
            return Err(ArchiveError::UnsupportedMediaType {
                what,
                media_type: layer.media_type.clone(),
            });
        }
        // Written blobs named by diff_id were hashed on the way, so their diff_id is checked.
        let written_as = |digest: &Digest, size: u64, form: LayerForm| WrittenLayer {
            original: layer.clone(),
            written: Descriptor::new(uncompressed_type, digest.clone(), size),
            diff_id: diff_id.cloned(),
            diff_id_verified: true,
            form,
        };

        // The layer as stored, unless it must be inflated; inflated layers are named by diff_id.
        if !inflate {
            let (present, verified) = match (self.check_diff_ids, diff_id, compression) {
                (true, Some(id), Some(Compression::Gzip)) => {
                    let present = self.checked_gzip_blob(source, layer, id)?;
                    (present, present)
                }
                (true, Some(id), Some(Compression::None)) => {
                    if layer.digest != *id {
                        return Err(ArchiveError::DiffIdMismatch {
                            layer: layer.digest.clone(),
                            expected: id.clone(),
                            actual: layer.digest.clone(),
                        });
                    }
                    (self.source_blob(source, layer, &what)?, true)
                }
                _ => (self.arriving_blob(source, layer, &what)?, false),
            };
            if present {
                return Ok(WrittenLayer {
                    original: layer.clone(),
                    written: layer.clone(),
                    diff_id: diff_id.cloned(),
                    diff_id_verified: verified,
                    form: LayerForm::AsStored,
                });
            }
        } else if let (Some(id), Some(compression)) = (diff_id, compression) {
            if let Some(&size) = self.written.get(id) {
                return Ok(written_as(id, size, LayerForm::Inflated(compression)));
            }
            if let Some(size) = self.inflated_blob(source, layer, compression, id)? {
                return Ok(written_as(id, size, LayerForm::Inflated(compression)));
            }
        }
        // The compressed blob is not in the source: an uncompressed copy named by diff_id will do.
        let missing = || ArchiveError::MissingBlob {
            digest: layer.digest.clone(),
        };
        let id = diff_id.ok_or_else(missing)?;
        if let Some(&size) = self.written.get(id) {
            return Ok(written_as(id, size, LayerForm::UncompressedCopy));
        }
        let blob = source
            .open(id)
            .map_err(|e| read_error(id, e))?
            .ok_or_else(missing)?;
        let size = blob.size();
        let copy = Descriptor::new(uncompressed_type, id.clone(), size);
        self.copy_blob(blob, &copy, &format!("uncompressed copy of {what}"))?;
        Ok(written_as(id, size, LayerForm::UncompressedCopy))
    }
}

/// One walk of an index tree by [`LayoutBuilder::index`].
struct IndexWalk<'a> {
    /// The image manifest whose written form is wanted.
    selected: &'a Digest,
    source: &'a dyn BlobSource,
    /// The indexes written in this walk, with the descriptors of their written forms.
    done: HashMap<Digest, Descriptor>,
}

/// The OCI media type of a Docker layer media type (others are kept).
fn oci_layer_type(media_type: &str) -> String {
    let essence = media_types::essence(media_type);
    match media_types::oci_layer_equivalent(&essence) {
        equivalent if equivalent != essence => equivalent.to_owned(),
        _ => media_type.to_owned(),
    }
}
