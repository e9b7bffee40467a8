//! The JSON documents of image layouts: manifests, indexes, configs, docker's `manifest.json`.

use serde::{Deserialize, Serialize};

use imgpull_reference::{Descriptor, Digest, media_types};

use crate::error::ArchiveError;

/// The content of the `oci-layout` file.
pub(crate) const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The largest manifest, index or config this crate parses (they are small JSON documents; a
/// larger one is a sign of a wrong file and is refused before it is read into memory).
pub(crate) const MAX_DOCUMENT: u64 = 16 * 1024 * 1024;

/// The descriptors an artifact manifest (any index entry that is neither an image manifest
/// nor an index) refers to.
#[derive(Debug, Default, Deserialize)]
struct ArtifactDoc {
    #[serde(default)]
    config: Option<Descriptor>,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    blobs: Vec<Descriptor>,
}

/// The blobs an artifact manifest refers to, which an OCI layout keeping it must hold: its
/// `config`, `layers` and `blobs` (the artifact manifest's list) descriptors; none when the
/// document is not a JSON object of that shape. A `subject` is a manifest, not a blob, and is
/// not listed.
///
/// ```
/// let manifest = br#"{"mediaType":"application/vnd.oci.artifact.manifest.v1+json","blobs":[
///   {"mediaType":"text/plain","digest":"sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824","size":5}]}"#;
/// let blobs = imgpull_archive::artifact_blobs(manifest);
/// assert_eq!(blobs.len(), 1);
/// assert_eq!(blobs[0].size, 5);
/// assert!(imgpull_archive::artifact_blobs(b"not json").is_empty());
/// ```
pub fn artifact_blobs(manifest: &[u8]) -> Vec<Descriptor> {
    let doc: ArtifactDoc = serde_json::from_slice(manifest).unwrap_or_default();
    doc.config
        .into_iter()
        .chain(doc.layers)
        .chain(doc.blobs)
        .collect()
}

/// The parts of an image manifest the writers and the reader need.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ManifestDoc {
    pub(crate) schema_version: u32,
    #[serde(default)]
    pub(crate) media_type: Option<String>,
    pub(crate) config: Descriptor,
    #[serde(default)]
    pub(crate) layers: Vec<Descriptor>,
}

impl ManifestDoc {
    /// Parses an image manifest whose descriptor says `media_type`.
    pub(crate) fn parse(bytes: &[u8], media_type: &str, what: &str) -> Result<Self, ArchiveError> {
        if !media_types::is_image_manifest(media_type) {
            return Err(ArchiveError::UnsupportedMediaType {
                what: what.to_owned(),
                media_type: media_type.to_owned(),
            });
        }
        let doc: Self = parse(bytes, what)?;
        if doc.schema_version != 2 {
            return Err(ArchiveError::invalid(
                what,
                format!("schemaVersion is {}, not 2", doc.schema_version),
            ));
        }
        if let Some(own) = &doc.media_type
            && media_types::essence(own) != media_types::essence(media_type)
        {
            return Err(ArchiveError::invalid(
                what,
                format!("its mediaType `{own}` contradicts its descriptor's `{media_type}`"),
            ));
        }
        Ok(doc)
    }
}

/// The parts of an image index the writers and the reader need.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IndexDoc {
    pub(crate) schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) media_type: Option<String>,
    pub(crate) manifests: Vec<Descriptor>,
}

impl IndexDoc {
    /// A new OCI index of `manifests` (an `index.json`).
    pub(crate) fn new(manifests: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(media_types::OCI_IMAGE_INDEX.to_owned()),
            manifests,
        }
    }

    /// Serialises with two-space indentation and a final newline.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, ArchiveError> {
        to_bytes(self, "index.json")
    }
}

/// The parts of an image config the writers and the reader need.
#[derive(Debug, Deserialize)]
pub(crate) struct ConfigDoc {
    pub(crate) rootfs: RootFs,
}

/// `rootfs` of an image config.
#[derive(Debug, Deserialize)]
pub(crate) struct RootFs {
    #[serde(default)]
    pub(crate) diff_ids: Vec<Digest>,
}

impl ConfigDoc {
    /// The diff_ids of a config listing one per layer of its manifest.
    pub(crate) fn diff_ids(
        bytes: &[u8],
        layers: usize,
        what: &str,
    ) -> Result<Vec<Digest>, ArchiveError> {
        let doc: Self = parse(bytes, what)?;
        if doc.rootfs.diff_ids.len() != layers {
            return Err(ArchiveError::invalid(
                what,
                format!(
                    "rootfs.diff_ids lists {} layers, the manifest {layers}",
                    doc.rootfs.diff_ids.len()
                ),
            ));
        }
        Ok(doc.rootfs.diff_ids)
    }

    /// The diff_ids of an image config, checked as [`ConfigDoc::diff_ids`] does; `None` for the
    /// config of an artifact (not JSON, or without `rootfs`), whose layers have none.
    pub(crate) fn optional_diff_ids(
        bytes: &[u8],
        layers: usize,
        what: &str,
    ) -> Result<Option<Vec<Digest>>, ArchiveError> {
        #[derive(Deserialize)]
        struct Probe {
            #[serde(default)]
            rootfs: Option<serde::de::IgnoredAny>,
        }
        match serde_json::from_slice::<Probe>(bytes) {
            Ok(Probe { rootfs: Some(_) }) => Self::diff_ids(bytes, layers, what).map(Some),
            _ => Ok(None),
        }
    }
}

/// One entry of docker's `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct DockerManifestEntry {
    #[serde(rename = "Config")]
    pub(crate) config: String,
    #[serde(rename = "RepoTags", default)]
    pub(crate) repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    pub(crate) layers: Vec<String>,
}

/// Parses JSON, naming `what` in the error.
pub(crate) fn parse<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    what: &str,
) -> Result<T, ArchiveError> {
    serde_json::from_slice(bytes).map_err(|source| ArchiveError::Json {
        what: what.to_owned(),
        source,
    })
}

/// Serialises with two-space indentation and a final newline.
pub(crate) fn to_bytes<T: Serialize + ?Sized>(
    value: &T,
    what: &str,
) -> Result<Vec<u8>, ArchiveError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| ArchiveError::Json {
        what: what.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// The path of a blob inside a layout (`blobs/sha256/<hex>`).
pub(crate) fn blob_path(digest: &Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}
