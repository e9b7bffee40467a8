//! What the writers write ([`ArchiveImage`]) and what they report back ([`WrittenImage`]).

use std::fmt;

use imgpull_reference::{Descriptor, Digest, Reference, media_types};

use crate::compression::Compression;
use crate::error::ArchiveError;

/// The annotation containerd and Docker 25+ put on `index.json` entries: the full image name
/// ([`media_types::CONTAINERD_IMAGE_NAME_ANNOTATION`]).
pub const CONTAINERD_IMAGE_NAME: &str = media_types::CONTAINERD_IMAGE_NAME_ANNOTATION;
/// The OCI annotation naming an `index.json` entry: the tag, as containerd and docker write it
/// ([`media_types::REF_NAME_ANNOTATION`]).
pub const OCI_REF_NAME: &str = media_types::REF_NAME_ANNOTATION;

/// One image to write: its names, its manifest, and optionally the index it came from.
///
/// The config and layers are found by parsing the manifest and read from a
/// [`BlobSource`](crate::BlobSource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveImage {
    /// The names the image is loaded under. Each must have a tag (`Reference::tag_or_default`);
    /// any digest in them is ignored, since docker's `RepoTags` never hold one. Empty: the
    /// image loads untagged.
    pub tags: Vec<Reference>,
    /// The image manifest (OCI or Docker schema 2), byte for byte as the registry served it.
    pub manifest: Vec<u8>,
    /// The manifest's descriptor: media type, digest and size (checked against
    /// [`ArchiveImage::manifest`]) and, for an image from an index, its platform.
    pub manifest_descriptor: Descriptor,
    /// The index (or Docker manifest list) the image was resolved from, for OCI outputs that keep
    /// every platform; every manifest it lists and their blobs must be in the source. The docker
    /// archive writer ignores it.
    pub index: Option<ImageIndex>,
}

/// A multi-platform index, byte for byte, and its descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageIndex {
    /// Media type, digest and size of `bytes`.
    pub descriptor: Descriptor,
    /// The index as the registry served it.
    pub bytes: Vec<u8>,
}

impl ArchiveImage {
    /// An untagged image from manifest bytes of the given media type (digest and size computed).
    pub fn new(manifest: Vec<u8>, media_type: &str) -> Self {
        let manifest_descriptor =
            Descriptor::new(media_type, Digest::sha256(&manifest), manifest.len() as u64);
        Self {
            tags: Vec::new(),
            manifest,
            manifest_descriptor,
            index: None,
        }
    }

    /// The same image, also known as `tag`.
    #[must_use]
    pub fn with_tag(mut self, tag: Reference) -> Self {
        self.tags.push(tag);
        self
    }

    /// The same image, with the index it came from (for OCI outputs of every platform).
    #[must_use]
    pub fn with_index(mut self, bytes: Vec<u8>, media_type: &str) -> Self {
        let descriptor = Descriptor::new(media_type, Digest::sha256(&bytes), bytes.len() as u64);
        self.index = Some(ImageIndex { descriptor, bytes });
        self
    }

    /// The names of [`ArchiveImage::tags`] in the forms archives use.
    pub(crate) fn names(&self) -> Result<Vec<ImageName>, ArchiveError> {
        self.tags.iter().map(ImageName::new).collect()
    }
}

/// One name of an image, in the three spellings archives need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageName {
    /// `nginx:latest`, `quay.io/x/y:1` (docker's `RepoTags`).
    pub(crate) repo_tag: String,
    /// `nginx`, `quay.io/x/y` (the `repositories` file's keys).
    pub(crate) familiar_name: String,
    /// `docker.io/library/nginx:latest` (`io.containerd.image.name`).
    pub(crate) canonical: String,
    /// `latest` (`org.opencontainers.image.ref.name`).
    pub(crate) tag: String,
}

impl ImageName {
    fn new(reference: &Reference) -> Result<Self, ArchiveError> {
        let tag = reference
            .tag_or_default()
            .ok_or_else(|| ArchiveError::InvalidTag {
                reference: reference.to_string(),
                reason: "a reference by digest alone has no tag; give the image a tag or leave it untagged",
            })?;
        let familiar_name = reference.familiar_name();
        Ok(Self {
            repo_tag: format!("{familiar_name}:{tag}"),
            canonical: format!("{}:{tag}", reference.name()),
            familiar_name,
            tag: tag.to_owned(),
        })
    }
}

/// What a writer wrote for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WrittenImage {
    /// What the output's `index.json` points to: the image manifest, or for an OCI output of
    /// every platform, the index.
    pub top: Descriptor,
    /// The image manifest as written: the registry's bytes, or a rewritten manifest when some
    /// layers were written in another form than the registry's.
    pub manifest: Descriptor,
    /// The config; its digest is the image ID.
    pub config: Descriptor,
    /// The layers, in order.
    pub layers: Vec<WrittenLayer>,
    /// What the caller should tell the user.
    pub notes: Vec<Note>,
}

impl WrittenImage {
    /// The image ID docker and podman show: the config digest.
    pub fn image_id(&self) -> &Digest {
        &self.config.digest
    }
}

/// One layer as written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WrittenLayer {
    /// The layer's descriptor in the registry's manifest.
    pub original: Descriptor,
    /// What was written: the same, or an uncompressed layer named by its diff_id.
    pub written: Descriptor,
    /// The digest of the uncompressed layer, from the config (when the config was read).
    pub diff_id: Option<Digest>,
    /// Whether the writer checked that the layer's uncompressed content hashes to `diff_id`:
    /// always for layers written decompressed or from an uncompressed copy, and for layers
    /// written as stored when [`DockerArchiveWriter::verify_diff_ids`](crate::DockerArchiveWriter::verify_diff_ids)
    /// is on. Only checked pairs should be recorded as facts (in a cache's diff_id index).
    pub diff_id_verified: bool,
    /// How it was written.
    pub form: LayerForm,
}

/// How a layer was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayerForm {
    /// As the registry served it.
    AsStored,
    /// Decompressed while writing, and checked against its diff_id.
    Inflated(Compression),
    /// From an uncompressed copy in the source, because the compressed blob is not there.
    UncompressedCopy,
}

/// Something the caller should tell the user about what was written.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Note {
    /// A zstd layer was written decompressed, since docker engines before 23.0 cannot load zstd.
    ZstdInflated {
        /// The zstd layer.
        layer: Digest,
        /// The digest of what was written.
        diff_id: Digest,
    },
    /// A layer was written from an uncompressed copy, and the manifest rewritten to describe it.
    UncompressedCopy {
        /// The layer the registry's manifest lists.
        layer: Digest,
        /// The digest of the uncompressed copy written instead.
        diff_id: Digest,
    },
    /// A Docker schema 2 manifest was converted to an OCI manifest for an OCI output (as
    /// `skopeo copy` does), so the manifest digest changed; the image ID did not.
    ConvertedToOci {
        /// The registry's manifest.
        manifest: Digest,
        /// The OCI manifest written.
        converted: Digest,
    },
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZstdInflated { layer, diff_id } => write!(
                f,
                "zstd layer {layer} written uncompressed as {diff_id}: docker engines before 23.0 cannot load zstd layers"
            ),
            Self::ConvertedToOci {
                manifest,
                converted,
            } => write!(
                f,
                "Docker manifest {manifest} written as the OCI manifest {converted}, which OCI tools require (the image ID is unchanged)"
            ),
            Self::UncompressedCopy { layer, diff_id } => write!(
                f,
                "layer {layer} is not in the cache; its uncompressed copy {diff_id} was written instead (the image ID is unchanged)"
            ),
        }
    }
}
