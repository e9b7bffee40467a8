//! Content descriptors in the OCI JSON shape, and the media types imgpull knows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::platform::Platform;

/// Media type strings of OCI and Docker manifests, indexes, configs and layers.
pub mod media_types {
    /// An OCI image index (multi-platform).
    pub const OCI_IMAGE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// An OCI image manifest.
    pub const OCI_IMAGE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// An OCI image config.
    pub const OCI_IMAGE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// An uncompressed OCI layer.
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    /// A gzip-compressed OCI layer.
    pub const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// A zstd-compressed OCI layer.
    pub const OCI_LAYER_TAR_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    /// An uncompressed non-distributable OCI layer (deprecated by the spec, still found).
    pub const OCI_LAYER_NONDISTRIBUTABLE_TAR: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar";
    /// A gzip-compressed non-distributable OCI layer.
    pub const OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    /// A zstd-compressed non-distributable OCI layer.
    pub const OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD: &str =
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
    /// The OCI empty JSON object `{}`, used as the config of artifacts.
    pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

    /// A Docker manifest list (multi-platform).
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// A Docker image manifest, schema 2.
    pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// A Docker container image config.
    pub const DOCKER_CONTAINER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// An uncompressed Docker layer (what `docker save` archives hold, and what every
    /// docker-archive reader accepts).
    pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
    /// A gzip-compressed Docker layer.
    pub const DOCKER_LAYER_TAR_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// A Docker layer that registries do not serve (Windows base layers).
    pub const DOCKER_FOREIGN_LAYER_TAR_GZIP: &str =
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    /// A Docker schema 1 manifest, unsigned (obsolete; recognised to report it clearly).
    pub const DOCKER_MANIFEST_V1: &str = "application/vnd.docker.distribution.manifest.v1+json";
    /// A Docker schema 1 manifest, signed (obsolete; recognised to report it clearly).
    pub const DOCKER_MANIFEST_V1_SIGNED: &str =
        "application/vnd.docker.distribution.manifest.v1+prettyjws";

    /// An in-toto attestation statement (BuildKit provenance and SBOM layers).
    pub const IN_TOTO: &str = "application/vnd.in-toto+json";
    /// The annotation BuildKit sets on attestation manifests in an index.
    pub const DOCKER_REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";
    /// The value of [`DOCKER_REFERENCE_TYPE_ANNOTATION`] for attestation manifests.
    pub const DOCKER_ATTESTATION_MANIFEST: &str = "attestation-manifest";
    /// The annotation naming the image manifest an attestation manifest describes.
    pub const DOCKER_REFERENCE_DIGEST_ANNOTATION: &str = "vnd.docker.reference.digest";
    /// The OCI annotation naming an image in a layout's `index.json` (a tag such as `1.25`, or a
    /// full reference).
    pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
    /// containerd's annotation with an image's full name (`docker.io/library/nginx:latest`) in a
    /// layout's `index.json`.
    pub const CONTAINERD_IMAGE_NAME_ANNOTATION: &str = "io.containerd.image.name";

    /// The OCI layer media type equivalent to a Docker layer media type, as `skopeo copy` to
    /// an OCI layout maps them (same bytes, OCI name); any other media type is returned as is.
    ///
    /// ```
    /// use imgpull_reference::media_types;
    /// assert_eq!(
    ///     media_types::oci_layer_equivalent(media_types::DOCKER_LAYER_TAR_GZIP),
    ///     media_types::OCI_LAYER_TAR_GZIP
    /// );
    /// assert_eq!(media_types::oci_layer_equivalent("text/plain"), "text/plain");
    /// ```
    pub fn oci_layer_equivalent(media_type: &str) -> &str {
        match media_type {
            DOCKER_LAYER_TAR_GZIP => OCI_LAYER_TAR_GZIP,
            DOCKER_FOREIGN_LAYER_TAR_GZIP => OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP,
            DOCKER_LAYER_TAR => OCI_LAYER_TAR,
            other => other,
        }
    }

    /// The media type without parameters and surrounding spaces, lowercased
    /// (`application/JSON; charset=utf-8` → `application/json`).
    pub fn essence(media_type: &str) -> String {
        media_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    }

    /// Whether `media_type` is a multi-platform index (OCI index or Docker manifest list).
    pub fn is_index(media_type: &str) -> bool {
        matches!(
            essence(media_type).as_str(),
            OCI_IMAGE_INDEX | DOCKER_MANIFEST_LIST
        )
    }

    /// Whether `media_type` is a single-platform image manifest (OCI or Docker schema 2).
    pub fn is_image_manifest(media_type: &str) -> bool {
        matches!(
            essence(media_type).as_str(),
            OCI_IMAGE_MANIFEST | DOCKER_MANIFEST_V2
        )
    }

    /// Whether `media_type` is an obsolete Docker schema 1 manifest.
    pub fn is_schema1(media_type: &str) -> bool {
        matches!(
            essence(media_type).as_str(),
            DOCKER_MANIFEST_V1 | DOCKER_MANIFEST_V1_SIGNED
        )
    }

    /// Whether `media_type` is an image config (OCI or Docker).
    pub fn is_config(media_type: &str) -> bool {
        matches!(
            essence(media_type).as_str(),
            OCI_IMAGE_CONFIG | DOCKER_CONTAINER_CONFIG
        )
    }

    /// Whether `media_type` is a filesystem layer (OCI or Docker, any compression,
    /// distributable or not).
    pub fn is_layer(media_type: &str) -> bool {
        matches!(
            essence(media_type).as_str(),
            OCI_LAYER_TAR
                | OCI_LAYER_TAR_GZIP
                | OCI_LAYER_TAR_ZSTD
                | OCI_LAYER_NONDISTRIBUTABLE_TAR
                | OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP
                | OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD
                | DOCKER_LAYER_TAR
                | DOCKER_LAYER_TAR_GZIP
                | DOCKER_FOREIGN_LAYER_TAR_GZIP
        )
    }

    /// The media types a client pulling images should list in `Accept`, most preferred first.
    pub const MANIFEST_ACCEPT: [&str; 4] = [
        OCI_IMAGE_INDEX,
        DOCKER_MANIFEST_LIST,
        OCI_IMAGE_MANIFEST,
        DOCKER_MANIFEST_V2,
    ];
}

/// A reference to content: its media type, digest and size, as found in manifests and indexes.
///
/// Serialises in the OCI JSON shape (`mediaType`, `digest`, `size`, `urls`, `platform`,
/// `annotations`, `artifactType`); empty `urls`/`annotations` and absent options are omitted,
/// and unknown fields are ignored when reading.
///
/// ```
/// use imgpull_reference::{Descriptor, Digest, media_types};
///
/// let json = r#"{"mediaType":"application/vnd.oci.image.config.v1+json",
///   "digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}"#;
/// let d: Descriptor = serde_json::from_str(json)?;
/// assert_eq!(d.media_type, media_types::OCI_IMAGE_CONFIG);
/// assert_eq!(d.digest, Digest::sha256(b"{}"));
/// assert_eq!(
///     serde_json::to_string(&d)?,
///     json.replace(['\n', ' '], ""),
/// );
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// The media type of the referenced content.
    pub media_type: String,
    /// The digest of the referenced content.
    pub digest: Digest,
    /// The size of the referenced content in bytes.
    pub size: u64,
    /// Alternative download locations (foreign layers).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    /// The platform of the referenced manifest, in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Arbitrary metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The type of an artifact, when the descriptor points to an artifact manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// A descriptor with only a media type, a digest and a size.
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            urls: Vec::new(),
            platform: None,
            annotations: BTreeMap::new(),
            artifact_type: None,
        }
    }

    /// Whether this index entry is a BuildKit attestation manifest (annotated
    /// `vnd.docker.reference.type: attestation-manifest`, or with platform `unknown/unknown`),
    /// which platform resolution must skip.
    pub fn is_attestation(&self) -> bool {
        self.annotations
            .get(media_types::DOCKER_REFERENCE_TYPE_ANNOTATION)
            .is_some_and(|v| v == media_types::DOCKER_ATTESTATION_MANIFEST)
            || self
                .platform
                .as_ref()
                .is_some_and(|p| p.os == "unknown" && p.architecture == "unknown")
    }
}
