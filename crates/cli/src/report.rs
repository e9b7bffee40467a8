//! The `--json` documents: what a pull produced, or why it failed.
//!
//! These shapes are an interface that scripts parse; the tests pin them.

use serde::Serialize;

use crate::error::{CliError, ErrorKind};

/// The result of `imgpull pull --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullReport {
    /// Where the archive was written (`-` for stdout).
    pub output: String,
    /// One entry per image written.
    pub images: Vec<ImageReport>,
    /// What the cache saved.
    pub cache: CacheReport,
}

/// One image of a pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageReport {
    /// The reference as pulled, in canonical form.
    pub reference: String,
    /// Digest of the manifest written (the platform's manifest when chosen from an index).
    pub manifest_digest: String,
    /// Digest of the image configuration (the image ID).
    pub config_digest: String,
    /// The platform, e.g. `linux/arm/v7`; `null` when every platform was kept.
    pub platform: Option<String>,
    /// Number of layers.
    pub layers: usize,
}

/// Cache statistics of a pull.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CacheReport {
    /// Blobs already in the cache.
    pub hits: u64,
    /// Blobs downloaded.
    pub misses: u64,
    /// Bytes received from registries, mirrors and foreign layer URLs. Bytes thrown away
    /// because they failed verification (a mirror's bad copy, a bad resumed partial) count too,
    /// as they crossed the network, so this may exceed the size of what was pulled.
    pub bytes_downloaded: u64,
    /// Bytes served from the cache instead: blobs found there, and the resumed part of
    /// partial files that verified.
    pub bytes_reused: u64,
}

/// The result of `imgpull inspect` (printed as text, or as JSON with `--json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectReport {
    /// The reference, in canonical form.
    pub reference: String,
    /// Digest of what the reference names (the index, for a multi-platform image).
    pub digest: String,
    /// Media type of what the reference names.
    pub media_type: String,
    /// The platforms an index offers (empty for a single image).
    pub platforms: Vec<String>,
    /// The image described (the chosen platform's, for an index); `null` when an index has no
    /// image for the default platform (linux on this machine's architecture) and none was asked for.
    pub image: Option<InspectImage>,
}

/// The image part of an [`InspectReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectImage {
    /// Digest of the image manifest.
    pub manifest_digest: String,
    /// Media type of the image manifest.
    pub media_type: String,
    /// The image's platform.
    pub platform: Option<String>,
    /// Digest of the config (the image ID).
    pub config_digest: String,
    /// When the image was built, as its config says.
    pub created: Option<String>,
    /// The entrypoint.
    pub entrypoint: Vec<String>,
    /// The default command.
    pub cmd: Vec<String>,
    /// How many environment variables the config sets.
    pub env_count: usize,
    /// The labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// The layers, from the base.
    pub layers: Vec<InspectLayer>,
    /// Sum of the layer sizes (compressed, as downloaded).
    pub total_size: u64,
}

/// One layer in an [`InspectImage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectLayer {
    /// Digest of the layer blob.
    pub digest: String,
    /// Size of the layer blob.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
}

/// `{"error": {"kind", "message"}}`, printed on stdout when a `--json` command fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// The failure.
    pub error: ErrorBody,
}

/// The body of an [`ErrorReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorBody {
    /// The class of failure (`usage`, `auth`, `not_found`, `network`, `integrity`, `other`, `interrupted`).
    pub kind: ErrorKind,
    /// The one-line message, with its hint.
    pub message: String,
}

impl From<&CliError> for ErrorReport {
    fn from(error: &CliError) -> Self {
        Self {
            error: ErrorBody {
                kind: error.kind(),
                message: error.line(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pull_report_shape() {
        let report = PullReport {
            output: "docker.io_library_nginx_1.25_linux_arm64.tar".to_owned(),
            images: vec![ImageReport {
                reference: "docker.io/library/nginx:1.25".to_owned(),
                manifest_digest: "sha256:aa".to_owned(),
                config_digest: "sha256:bb".to_owned(),
                platform: Some("linux/arm64".to_owned()),
                layers: 7,
            }],
            cache: CacheReport {
                hits: 3,
                misses: 4,
                bytes_downloaded: 1000,
                bytes_reused: 500,
            },
        };
        assert_eq!(
            serde_json::to_value(&report).expect("json"),
            json!({
                "output": "docker.io_library_nginx_1.25_linux_arm64.tar",
                "images": [{
                    "reference": "docker.io/library/nginx:1.25",
                    "manifest_digest": "sha256:aa",
                    "config_digest": "sha256:bb",
                    "platform": "linux/arm64",
                    "layers": 7
                }],
                "cache": {"hits": 3, "misses": 4, "bytes_downloaded": 1000, "bytes_reused": 500}
            })
        );
    }

    #[test]
    fn inspect_report_shape() {
        let report = InspectReport {
            reference: "docker.io/library/nginx:1.25".to_owned(),
            digest: "sha256:index".to_owned(),
            media_type: "application/vnd.oci.image.index.v1+json".to_owned(),
            platforms: vec!["linux/amd64".to_owned(), "linux/arm64/v8".to_owned()],
            image: Some(InspectImage {
                manifest_digest: "sha256:m".to_owned(),
                media_type: "application/vnd.oci.image.manifest.v1+json".to_owned(),
                platform: Some("linux/arm64/v8".to_owned()),
                config_digest: "sha256:c".to_owned(),
                created: Some("2024-01-01T00:00:00Z".to_owned()),
                entrypoint: vec!["/docker-entrypoint.sh".to_owned()],
                cmd: vec!["nginx".to_owned()],
                env_count: 3,
                labels: [("maintainer".to_owned(), "x".to_owned())].into(),
                layers: vec![InspectLayer {
                    digest: "sha256:l".to_owned(),
                    size: 10,
                    media_type: "application/vnd.oci.image.layer.v1.tar+gzip".to_owned(),
                }],
                total_size: 10,
            }),
        };
        assert_eq!(
            serde_json::to_value(&report).expect("json"),
            json!({
                "reference": "docker.io/library/nginx:1.25",
                "digest": "sha256:index",
                "media_type": "application/vnd.oci.image.index.v1+json",
                "platforms": ["linux/amd64", "linux/arm64/v8"],
                "image": {
                    "manifest_digest": "sha256:m",
                    "media_type": "application/vnd.oci.image.manifest.v1+json",
                    "platform": "linux/arm64/v8",
                    "config_digest": "sha256:c",
                    "created": "2024-01-01T00:00:00Z",
                    "entrypoint": ["/docker-entrypoint.sh"],
                    "cmd": ["nginx"],
                    "env_count": 3,
                    "labels": {"maintainer": "x"},
                    "layers": [{
                        "digest": "sha256:l",
                        "size": 10,
                        "media_type": "application/vnd.oci.image.layer.v1.tar+gzip"
                    }],
                    "total_size": 10
                }
            })
        );
    }

    #[test]
    fn error_report_shape() {
        let report = ErrorReport::from(&CliError::Usage("bad reference `A:B`".to_owned()));
        assert_eq!(
            serde_json::to_value(&report).expect("json"),
            json!({"error": {"kind": "usage", "message": "bad reference `A:B`"}})
        );
    }
}
