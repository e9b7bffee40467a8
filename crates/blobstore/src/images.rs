//! The cache's `index.json`: the images recorded, and the blobs they reference.
//!
//! Each recorded image is one manifest descriptor annotated with
//! `org.opencontainers.image.ref.name` (the tag, as the OCI image layout specification
//! suggests, so that `skopeo inspect oci:CACHE:TAG` works) and `io.containerd.image.name` (the
//! full canonical name, which identifies the entry). A tag names one image at a time: recording
//! `alpine:latest` after `nginx:latest` moves the `latest` ref name to alpine, while nginx's
//! entry stays (found by its full name).
//!
//! OCI tools look only for OCI media types in `index.json` (skopeo's `oci:` transport does
//! not find a Docker schema 2 manifest or manifest list there). So a Docker manifest is
//! recorded through an OCI copy of it: the same config and layer blobs, OCI media types
//! (as `skopeo copy` to an OCI layout writes it), stored next to the registry's original.
//! The entry names the original in [`SOURCE_DIGEST_ANNOTATION`], since its digest is the
//! image's identity in the registry, and keeps it referenced. A Docker manifest list
//! becomes an OCI index whose stored children are OCI copies too.

use std::collections::BTreeSet;

use imgpull_reference::{Descriptor, Digest, Reference, media_types};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{BlobstoreError, Result};
use crate::fsutil;
use crate::layout::Layout;
use crate::lock::FileLock;
use crate::store::Store;

/// The OCI annotation naming an image in a layout (a tag, here):
/// [`media_types::REF_NAME_ANNOTATION`].
pub const REF_NAME_ANNOTATION: &str = media_types::REF_NAME_ANNOTATION;
/// containerd's annotation with the full image name (`docker.io/library/nginx:latest`):
/// [`media_types::CONTAINERD_IMAGE_NAME_ANNOTATION`].
pub const IMAGE_NAME_ANNOTATION: &str = media_types::CONTAINERD_IMAGE_NAME_ANNOTATION;

/// The annotation of an `index.json` entry that records an OCI copy: the digest of the
/// manifest (or index) as the registry served it.
pub const SOURCE_DIGEST_ANNOTATION: &str = "io.imgpull.source.digest";

/// The annotation that goes with [`SOURCE_DIGEST_ANNOTATION`]: the original's media type.
pub const SOURCE_MEDIA_TYPE_ANNOTATION: &str = "io.imgpull.source.media-type";

/// Nested manifests deeper than this are not followed (real images nest at most two levels).
const MAX_DEPTH: usize = 8;

/// Stored manifests and indexes larger than this are not read when walking references (a
/// registry refuses manifests over 4 MiB); such a blob is a leaf, so that a descriptor that
/// calls a layer a manifest cannot make `list`, `prune` or `verify` read gigabytes into memory.
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// An image recorded in the cache's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ImageRecord {
    /// The full name (`io.containerd.image.name`), if the entry has one.
    pub name: Option<String>,
    /// The OCI ref name (`org.opencontainers.image.ref.name`), if the entry has one.
    pub ref_name: Option<String>,
    /// The manifest (or index) descriptor that `index.json` holds: what OCI tools read.
    pub manifest: Descriptor,
    /// The manifest as the registry served it, when `manifest` is an OCI copy of it (a
    /// Docker schema 2 manifest or manifest list); its digest is the image's identity in
    /// the registry.
    pub source: Option<Descriptor>,
}

impl ImageRecord {
    /// The manifest as the registry served it: [`ImageRecord::source`] when the entry is an
    /// OCI copy, else [`ImageRecord::manifest`].
    pub fn registry_manifest(&self) -> &Descriptor {
        self.source.as_ref().unwrap_or(&self.manifest)
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexJson {
    schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
    /// Fields this crate does not interpret (e.g. `annotations`), kept as they are.
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

impl Default for IndexJson {
    fn default() -> Self {
        Self {
            schema_version: 2,
            media_type: Some(media_types::OCI_IMAGE_INDEX.to_owned()),
            manifests: Vec::new(),
            other: serde_json::Map::new(),
        }
    }
}

impl Store {
    /// Records `reference` as an image of the cache, pointing at `manifest` (an image manifest
    /// or an index, already stored): the entry with the same full name is replaced, and the
    /// tag's ref name is taken from any other entry that had it.
    ///
    /// Record the manifest of the platform pulled (with its `platform` set) rather than the
    /// index it came from, unless every platform's manifest and blobs are stored: OCI tools
    /// resolve an index to their host's platform.
    ///
    /// A Docker schema 2 manifest or manifest list is recorded through an OCI copy, stored
    /// among the cache's blobs; the entry's [`ImageRecord::source`] is
    /// `manifest`.
    ///
    /// The manifest must be stored first ([`BlobstoreError::NotFound`] otherwise), so that
    /// `index.json` never points at a missing blob.
    pub fn record_image(&self, reference: &Reference, manifest: &Descriptor) -> Result<()> {
        if !self.contains(&manifest.digest) {
            return Err(BlobstoreError::NotFound {
                digest: manifest.digest.clone(),
            });
        }
        let name = reference.canonical();
        let tag = reference.tag_or_default().map(str::to_owned);
        let mut entry = self.oci_copy(manifest, 0)?;
        entry
            .annotations
            .insert(IMAGE_NAME_ANNOTATION.to_owned(), name.clone());
        entry.annotations.remove(REF_NAME_ANNOTATION);
        if let Some(tag) = &tag {
            entry
                .annotations
                .insert(REF_NAME_ANNOTATION.to_owned(), tag.clone());
        }
        update_index(self.layout(), |index| {
            // Replace the entry of this name, and an unnamed entry of this manifest.
            index
                .manifests
                .retain(|d| match d.annotations.get(IMAGE_NAME_ANNOTATION) {
                    Some(other) => *other != name,
                    None => d.digest != manifest.digest && d.digest != entry.digest,
                });
            if let Some(tag) = &tag {
                for other in &mut index.manifests {
                    if other.annotations.get(REF_NAME_ANNOTATION) == Some(tag) {
                        other.annotations.remove(REF_NAME_ANNOTATION);
                    }
                }
            }
            index.manifests.push(entry);
        })
    }

    /// Records `manifest` without a name (if no entry has it yet, nor records an OCI copy of
    /// it), so that its blobs count as referenced.
    pub(crate) fn record_unnamed_image(&self, manifest: &Descriptor) -> Result<()> {
        let digest = manifest.digest.to_string();
        update_index(self.layout(), |index| {
            let recorded = index.manifests.iter().any(|d| {
                d.digest == manifest.digest
                    || d.annotations.get(SOURCE_DIGEST_ANNOTATION) == Some(&digest)
            });
            if !recorded {
                let mut entry = manifest.clone();
                entry.annotations.remove(IMAGE_NAME_ANNOTATION);
                entry.annotations.remove(REF_NAME_ANNOTATION);
                index.manifests.push(entry);
            }
        })
    }

    /// The images recorded in `index.json`, in recording order.
    pub fn images(&self) -> Result<Vec<ImageRecord>> {
        Ok(read_index(self.layout())?
            .manifests
            .into_iter()
            .map(|manifest| ImageRecord {
                name: manifest.annotations.get(IMAGE_NAME_ANNOTATION).cloned(),
                ref_name: manifest.annotations.get(REF_NAME_ANNOTATION).cloned(),
                source: self.source_of(&manifest),
                manifest,
            })
            .collect())
    }

    /// The registry's original named by an entry's [`SOURCE_DIGEST_ANNOTATION`], if any.
    fn source_of(&self, entry: &Descriptor) -> Option<Descriptor> {
        let digest = Digest::parse(entry.annotations.get(SOURCE_DIGEST_ANNOTATION)?).ok()?;
        let media_type = entry
            .annotations
            .get(SOURCE_MEDIA_TYPE_ANNOTATION)
            .cloned()
            .unwrap_or_default();
        let size = self.size(&digest).unwrap_or(0);
        let mut source = Descriptor::new(media_type, digest, size);
        source.platform.clone_from(&entry.platform);
        Some(source)
    }

    /// The descriptor to record for `manifest` in `index.json`: `manifest` itself when it is
    /// an OCI one; else an OCI copy of it, stored, annotated with the original's digest and
    /// media type when `depth` is 0 (the entry itself, not a child of an index).
    fn oci_copy(&self, manifest: &Descriptor, depth: usize) -> Result<Descriptor> {
        let media_type = media_types::essence(&manifest.media_type);
        let is_list = media_type == media_types::DOCKER_MANIFEST_LIST;
        if (!is_list && media_type != media_types::DOCKER_MANIFEST_V2) || depth >= MAX_DEPTH {
            return Ok(manifest.clone());
        }
        let Some(original) = self.read_document(&manifest.digest)? else {
            return Ok(manifest.clone());
        };
        let json_error = |source| BlobstoreError::Json {
            path: self.path(&manifest.digest),
            source,
        };
        let mut document: Value = serde_json::from_slice(&original).map_err(json_error)?;
        let oci_type = if is_list {
            let children: Children =
                serde_json::from_value(document.clone()).map_err(json_error)?;
            let entries = document.get_mut("manifests").and_then(Value::as_array_mut);
            for (entry, child) in entries.into_iter().flatten().zip(&children.manifests) {
                if self.contains(&child.digest) {
                    let copy = self.oci_copy(child, depth + 1)?;
                    if let Some(entry) = entry.as_object_mut() {
                        entry.insert("mediaType".into(), copy.media_type.into());
                        entry.insert("digest".into(), copy.digest.to_string().into());
                        entry.insert("size".into(), copy.size.into());
                    }
                }
            }
            media_types::OCI_IMAGE_INDEX
        } else {
            if let Some(config) = document.get_mut("config") {
                set_media_type(config, media_types::OCI_IMAGE_CONFIG);
            }
            let layers = document.get_mut("layers").and_then(Value::as_array_mut);
            for layer in layers.into_iter().flatten() {
                let oci = layer
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .map(|t| media_types::oci_layer_equivalent(t).to_owned());
                if let Some(oci) = oci {
                    set_media_type(layer, &oci);
                }
            }
            media_types::OCI_IMAGE_MANIFEST
        };
        set_media_type(&mut document, oci_type);
        let bytes = serde_json::to_vec_pretty(&document).map_err(json_error)?;
        let digest = Digest::sha256(&bytes);
        self.put(&digest, &bytes)?;
        let mut copy = manifest.clone();
        oci_type.clone_into(&mut copy.media_type);
        copy.digest = digest;
        copy.size = bytes.len() as u64;
        if depth == 0 {
            copy.annotations.insert(
                SOURCE_DIGEST_ANNOTATION.to_owned(),
                manifest.digest.to_string(),
            );
            copy.annotations
                .insert(SOURCE_MEDIA_TYPE_ANNOTATION.to_owned(), media_type);
        }
        Ok(copy)
    }

    /// A stored manifest or index, read whole; `None` when it is larger than
    /// [`MAX_MANIFEST_BYTES`] (no registry serves such a manifest; it is left as it is).
    fn read_document(&self, digest: &Digest) -> Result<Option<Vec<u8>>> {
        if self.size(digest)? > MAX_MANIFEST_BYTES {
            return Ok(None);
        }
        let path = self.path(digest);
        std::fs::read(&path)
            .map(Some)
            .map_err(BlobstoreError::io("read", path))
    }

    /// Every stored blob that a recorded image references (manifests, nested manifests,
    /// configs and layers), and the referenced blobs that are missing.
    pub(crate) fn referenced_blobs(&self) -> Result<Walk> {
        let mut walk = Walk::default();
        for descriptor in read_index(self.layout())?.manifests {
            walk_entry(self, &descriptor, &mut walk)?;
        }
        Ok(walk)
    }

    /// Drops the `index.json` entries whose image is no longer complete in the store (its
    /// manifest, config or a layer is missing), so that the directory stays a valid layout.
    /// Returns the names (or digests) of the entries dropped.
    pub(crate) fn forget_incomplete_images(&self) -> Result<Vec<String>> {
        let mut dropped = Vec::new();
        let mut failure = None;
        update_index(self.layout(), |index| {
            index.manifests.retain(|d| {
                let mut walk = Walk::default();
                match walk_entry(self, d, &mut walk) {
                    Ok(()) if walk.missing.is_empty() => true,
                    Ok(()) => {
                        dropped.push(
                            d.annotations
                                .get(IMAGE_NAME_ANNOTATION)
                                .cloned()
                                .unwrap_or_else(|| d.digest.to_string()),
                        );
                        false
                    }
                    Err(e) => {
                        failure.get_or_insert(e);
                        true
                    }
                }
            });
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(dropped),
        }
    }

    /// Empties the list of images.
    pub(crate) fn clear_images(&self) -> Result<()> {
        update_index(self.layout(), |index| index.manifests.clear())
    }
}

/// The result of walking the images' references.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    /// Referenced blobs that are stored.
    pub(crate) present: BTreeSet<Digest>,
    /// Blobs an image needs that are not stored.
    pub(crate) missing: BTreeSet<Digest>,
}

/// The children of a manifest or index, whatever its flavour (OCI or Docker).
#[derive(Deserialize)]
struct Children {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// Adds an `index.json` entry and what it references to `walk`: its manifest, required, and
/// the registry's original of an OCI copy, kept when stored (not required: the copy is a
/// complete image without it).
fn walk_entry(store: &Store, entry: &Descriptor, walk: &mut Walk) -> Result<()> {
    walk_descriptor(store, entry, true, 0, walk)?;
    if let Some(source) = store.source_of(entry) {
        walk_descriptor(store, &source, false, 0, walk)?;
    }
    Ok(())
}

/// Adds `descriptor` and what it references to `walk`. Required blobs that are missing go to
/// `walk.missing`; the children of an index are optional (a cache holds the platforms pulled,
/// not all of them), and so are foreign layers (those with `urls`).
fn walk_descriptor(
    store: &Store,
    descriptor: &Descriptor,
    required: bool,
    depth: usize,
    walk: &mut Walk,
) -> Result<()> {
    let digest = &descriptor.digest;
    if !store.contains(digest) {
        if required {
            walk.missing.insert(digest.clone());
        }
        return Ok(());
    }
    if !walk.present.insert(digest.clone()) || depth >= MAX_DEPTH {
        return Ok(());
    }
    let is_index = media_types::is_index(&descriptor.media_type);
    if !is_index && !media_types::is_image_manifest(&descriptor.media_type) {
        return Ok(());
    }
    if store.size(digest)? > MAX_MANIFEST_BYTES {
        return Ok(());
    }
    let path = store.path(digest);
    let bytes = std::fs::read(&path).map_err(BlobstoreError::io("read", path.clone()))?;
    let children: Children =
        serde_json::from_slice(&bytes).map_err(|source| BlobstoreError::Json { path, source })?;
    if let Some(config) = &children.config {
        walk_descriptor(store, config, true, depth + 1, walk)?;
    }
    for layer in &children.layers {
        walk_descriptor(store, layer, layer.urls.is_empty(), depth + 1, walk)?;
    }
    for manifest in &children.manifests {
        walk_descriptor(store, manifest, false, depth + 1, walk)?;
    }
    Ok(())
}

/// Sets the `mediaType` of a JSON object (anything else is left alone).
fn set_media_type(object: &mut Value, media_type: &str) {
    if let Some(object) = object.as_object_mut() {
        object.insert("mediaType".to_owned(), media_type.into());
    }
}

/// Writes an empty `index.json` if there is none. The caller holds the index lock.
pub(crate) fn ensure_index(layout: &Layout) -> Result<()> {
    if layout.index_json().exists() {
        return Ok(());
    }
    write_index(layout, &IndexJson::default())
}

fn read_index(layout: &Layout) -> Result<IndexJson> {
    let path = layout.index_json();
    match fsutil::read_if_exists(&path)? {
        None => Ok(IndexJson::default()),
        Some(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| BlobstoreError::Json { path, source })
        }
    }
}

fn write_index(layout: &Layout, index: &IndexJson) -> Result<()> {
    let path = layout.index_json();
    let bytes = serde_json::to_vec_pretty(index).map_err(|source| BlobstoreError::Json {
        path: path.clone(),
        source,
    })?;
    fsutil::write_atomic(&path, &bytes, &layout.private())
}

fn update_index(layout: &Layout, change: impl FnOnce(&mut IndexJson)) -> Result<()> {
    let _lock = FileLock::acquire(&layout.index_lock())?;
    let mut index = read_index(layout)?;
    change(&mut index);
    write_index(layout, &index)
}
