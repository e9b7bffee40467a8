//! Writing the blobs of images into a layout (a tar stream or a directory): the part the docker
//! archive, OCI archive and OCI layout writers share.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use imgpull_reference::{Descriptor, Digest, media_types};

use crate::compression::{Compression, DOCKER_LAYER_TAR};
use crate::error::ArchiveError;
use crate::image::{ImageIndex, LayerForm, Note, WrittenImage, WrittenLayer};
use crate::io::{HashingReader, copy_exact, hash_to_end};
use crate::json::{ConfigDoc, IndexDoc, MAX_DOCUMENT, ManifestDoc, blob_path};
use crate::source::{Blob, BlobSource};

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

    /// Puts the file at `path`, which holds exactly the blob, at `name` without copying (a hard
    /// link); `Ok(false)` when this sink cannot.
    fn link_blob(&mut self, name: &str, path: &Path) -> Result<bool, ArchiveError> {
        let _ = (name, path);
        Ok(false)
    }
}

/// Which layers are written decompressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LayerPolicy {
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
}

impl<S: Sink> LayoutBuilder<S> {
    pub(crate) fn new(sink: S) -> Self {
        Self {
            sink,
            written: HashMap::new(),
        }
    }

    /// Writes an image manifest, its config and its layers. `manifest` must hash to
    /// `descriptor`. The manifest is rewritten when a layer is written in another form.
    pub(crate) fn image(
        &mut self,
        manifest: &[u8],
        descriptor: &Descriptor,
        source: &dyn BlobSource,
        policy: LayerPolicy,
        require_diff_ids: bool,
    ) -> Result<WrittenImage, ArchiveError> {
        let what = format!("manifest {}", descriptor.digest);
        check_bytes(manifest, descriptor, &what)?;
        let doc = ManifestDoc::parse(manifest, &descriptor.media_type, &what)?;
        let config_what = format!("config {}", doc.config.digest);
        let config = read_document(source, &doc.config, &config_what)?;
        let diff_ids = match ConfigDoc::diff_ids(&config, doc.layers.len(), &config_what) {
            Ok(ids) => ids.into_iter().map(Some).collect(),
            Err(e) if require_diff_ids => return Err(e),
            Err(_) => vec![None; doc.layers.len()],
        };
        self.bytes_blob(&doc.config.digest, &config)?;

        let docker =
            media_types::essence(&descriptor.media_type) == media_types::DOCKER_MANIFEST_V2;
        let mut layers = Vec::with_capacity(doc.layers.len());
        let mut notes = Vec::new();
        for (layer, diff_id) in doc.layers.iter().zip(diff_ids) {
            let written = self.layer(layer, diff_id.as_ref(), source, policy, docker)?;
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

        let written_manifest = if layers.iter().all(|l| l.form == LayerForm::AsStored) {
            self.bytes_blob(&descriptor.digest, manifest)?;
            descriptor.clone()
        } else {
            let bytes = rewrite_manifest(manifest, &layers, &what)?;
            let mut rewritten = descriptor.clone();
            rewritten.digest = Digest::sha256(&bytes);
            rewritten.size = bytes.len() as u64;
            self.bytes_blob(&rewritten.digest, &bytes)?;
            rewritten
        };
        Ok(WrittenImage {
            top: written_manifest.clone(),
            manifest: written_manifest,
            config: doc.config,
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
        self.index_at(&index.bytes, &index.descriptor, selected, source, 0)
    }

    fn index_at(
        &mut self,
        bytes: &[u8],
        descriptor: &Descriptor,
        selected: &Digest,
        source: &dyn BlobSource,
        depth: usize,
    ) -> Result<(Descriptor, Option<WrittenImage>), ArchiveError> {
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
                let (written, image) =
                    self.index_at(&child_bytes, child, selected, source, depth + 1)?;
                found = found.or(image);
                written
            } else if media_types::is_image_manifest(&child.media_type) {
                let child_bytes = read_document(source, child, &child_what)?;
                let image =
                    self.image(&child_bytes, child, source, LayerPolicy::AsStored, false)?;
                let written = image.manifest.clone();
                if child.digest == *selected {
                    found = Some(image);
                }
                written
            } else {
                self.source_blob(source, child, &child_what)?;
                child.clone()
            };
            if written.digest != child.digest {
                replaced.push((i, written));
            }
        }
        if replaced.is_empty() {
            self.bytes_blob(&descriptor.digest, bytes)?;
            return Ok((descriptor.clone(), found));
        }
        let mut value: serde_json::Value = crate::json::parse(bytes, &what)?;
        for (i, written) in replaced {
            let entry = value
                .get_mut("manifests")
                .and_then(|m| m.get_mut(i))
                .and_then(serde_json::Value::as_object_mut)
                .ok_or_else(|| ArchiveError::invalid(&what, "manifests entry is not an object"))?;
            entry.insert("digest".into(), written.digest.to_string().into());
            entry.insert("size".into(), written.size.into());
        }
        let rewritten = serde_json::to_vec_pretty(&value).map_err(|source| ArchiveError::Json {
            what: what.clone(),
            source,
        })?;
        let mut written = descriptor.clone();
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
        let written_as = |digest: &Digest, size: u64, form: LayerForm| WrittenLayer {
            original: layer.clone(),
            written: Descriptor::new(uncompressed_type, digest.clone(), size),
            diff_id: diff_id.cloned(),
            form,
        };

        // The layer as stored, unless it must be inflated; inflated layers are named by diff_id.
        if !inflate {
            if self.source_blob(source, layer, &what)? {
                return Ok(WrittenLayer {
                    original: layer.clone(),
                    written: layer.clone(),
                    diff_id: diff_id.cloned(),
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
    fn source_blob(
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

    /// Copies `blob`, checking its size and digest against `descriptor`.
    fn copy_blob(
        &mut self,
        mut blob: Blob<'_>,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<(), ArchiveError> {
        let digest = &descriptor.digest;
        if blob.size() != descriptor.size {
            return Err(ArchiveError::SizeMismatch {
                digest: digest.clone(),
                expected: descriptor.size,
                actual: blob.size(),
            });
        }
        let name = blob_path(digest);
        self.sink.put_blob(&name, descriptor.size, &mut |out| {
            let mut hasher = digest.algorithm().hasher();
            copy_exact(&mut blob, out, descriptor.size, &mut hasher).map_err(|e| {
                e.into_archive_error(digest, descriptor.size, &name, |e| read_error(digest, e))
            })?;
            check_digest(digest, hasher.finish(), what)
        })?;
        self.written.insert(digest.clone(), descriptor.size);
        Ok(())
    }

    /// Writes the decompressed content of `layer` as the blob `diff_id`, in two passes: the first
    /// measures the size the tar header needs and checks the diff_id before anything is
    /// written; the second writes, checking again. `Ok(None)` when the source lacks the layer.
    fn inflated_blob(
        &mut self,
        source: &dyn BlobSource,
        layer: &Descriptor,
        compression: Compression,
        diff_id: &Digest,
    ) -> Result<Option<u64>, ArchiveError> {
        let Some(blob) = open_sized(source, layer)? else {
            return Ok(None);
        };
        let size = inflate_pass(blob, layer, compression, diff_id, None)?;
        let name = blob_path(diff_id);
        self.sink.put_blob(&name, size, &mut |out| {
            let blob = open_sized(source, layer)?.ok_or_else(|| ArchiveError::MissingBlob {
                digest: layer.digest.clone(),
            })?;
            inflate_pass(blob, layer, compression, diff_id, Some((out, size, &name))).map(drop)
        })?;
        self.written.insert(diff_id.clone(), size);
        Ok(Some(size))
    }
}

/// One pass over a compressed layer: decompresses it, checks the compressed blob's size and
/// digest and the diff_id, and writes the uncompressed bytes to `out` (with its expected size and
/// name) when given. Returns the uncompressed size.
fn inflate_pass(
    blob: Blob<'_>,
    layer: &Descriptor,
    compression: Compression,
    diff_id: &Digest,
    out: Option<(&mut dyn Write, u64, &str)>,
) -> Result<u64, ArchiveError> {
    let digest = &layer.digest;
    let mut compressed = HashingReader::new(blob.take(layer.size + 1), digest.algorithm());
    let decompress_error = |source| ArchiveError::Decompress {
        layer: digest.clone(),
        compression: compression.name(),
        source,
    };
    let (size, actual) = {
        let mut decoder = compression.decoder(&mut compressed);
        match out {
            None => hash_to_end(&mut decoder).map_err(decompress_error)?,
            Some((out, size, name)) => {
                let mut hasher = diff_id.algorithm().hasher();
                copy_exact(&mut decoder, out, size, &mut hasher)
                    .map_err(|e| e.into_archive_error(diff_id, size, name, decompress_error))?;
                (size, hasher.finish())
            }
        }
    };
    let (compressed_size, compressed_digest) = compressed.finish();
    if compressed_size != layer.size {
        return Err(ArchiveError::SizeMismatch {
            digest: digest.clone(),
            expected: layer.size,
            actual: compressed_size,
        });
    }
    check_digest(digest, compressed_digest, "layer")?;
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
    blob.take(descriptor.size + 1)
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

fn read_error(digest: &Digest, source: std::io::Error) -> ArchiveError {
    ArchiveError::SourceRead {
        digest: digest.clone(),
        source,
    }
}

/// The manifest with the layers that were written in another form described as written.
fn rewrite_manifest(
    manifest: &[u8],
    layers: &[WrittenLayer],
    what: &str,
) -> Result<Vec<u8>, ArchiveError> {
    let mut value: serde_json::Value = crate::json::parse(manifest, what)?;
    let entries = value
        .get_mut("layers")
        .and_then(serde_json::Value::as_array_mut)
        .filter(|entries| entries.len() == layers.len())
        .ok_or_else(|| {
            ArchiveError::invalid(what, "layers is not an array of the parsed length")
        })?;
    for (entry, layer) in entries.iter_mut().zip(layers) {
        if layer.form == LayerForm::AsStored {
            continue;
        }
        let object = entry
            .as_object_mut()
            .ok_or_else(|| ArchiveError::invalid(what, "a layers entry is not an object"))?;
        object.insert("mediaType".into(), layer.written.media_type.clone().into());
        object.insert("digest".into(), layer.written.digest.to_string().into());
        object.insert("size".into(), layer.written.size.into());
        object.remove("urls");
    }
    serde_json::to_vec_pretty(&value).map_err(|source| ArchiveError::Json {
        what: what.to_owned(),
        source,
    })
}
