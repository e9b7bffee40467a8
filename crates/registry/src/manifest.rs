//! Manifests: fetching with the right `Accept` list, size cap and digest checks, and
//! resolving an index to the images of the requested platforms.

use std::sync::Arc;

use imgpull_reference::{Descriptor, Digest, Platform, Reference, media_types};
use reqwest::Method;
use reqwest::header::{self, HeaderMap, HeaderValue};
use serde::Deserialize;

use crate::body::read_capped;
use crate::client::{Client, Ping, Request};
use crate::error::RegistryError;
use crate::retry::RetryPolicy;

/// The largest manifest or index accepted, as in containerd and go-containerregistry.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// The largest image config accepted by [`Client::resolve`].
pub const MAX_CONFIG_BYTES: u64 = 16 * 1024 * 1024;

/// A manifest or index exactly as the registry served it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Manifest {
    /// The bytes, unchanged (their digest is the image's identity).
    pub bytes: Vec<u8>,
    /// The digest of the bytes (verified).
    pub digest: Digest,
    /// The media type: one of the OCI or Docker schema 2 manifest or index types.
    pub media_type: String,
}

impl Manifest {
    /// Whether this is a multi-platform index (OCI index or Docker manifest list).
    pub fn is_index(&self) -> bool {
        media_types::is_index(&self.media_type)
    }

    /// A descriptor of this manifest (media type, digest, size).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            self.media_type.clone(),
            self.digest.clone(),
            self.bytes.len() as u64,
        )
    }
}

/// Which platforms of a multi-platform image to resolve.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PlatformChoice {
    /// Linux on the running machine's architecture ([`Platform::default_target`]), on every
    /// host, as docker pulls on macOS and Windows.
    #[default]
    Host,
    /// One given platform (`--platform linux/arm/v7`).
    Exact(Platform),
    /// Every image manifest of an index, in index order (attestations and `unknown/unknown`
    /// left out; nested indexes and entries of other media types are not images to pull,
    /// and are skipped).
    All,
}

/// One image, resolved down to its config and layers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolvedImage {
    /// The reference as requested (tag and digest kept as given).
    pub reference: Reference,
    /// The index the image was chosen from, when the reference named one.
    pub index: Option<Manifest>,
    /// The image manifest.
    pub manifest: Manifest,
    /// The image's platform: the index entry's, else the one its config states.
    pub platform: Option<Platform>,
    /// The config descriptor from the manifest.
    pub config: Descriptor,
    /// The config bytes (verified against the descriptor).
    pub config_bytes: Vec<u8>,
    /// The layer descriptors, in order from the base layer.
    pub layers: Vec<Descriptor>,
}

/// The fields of a manifest body that tell its kind.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<u64>,
    media_type: Option<String>,
    manifests: Option<serde::de::IgnoredAny>,
    config: Option<serde::de::IgnoredAny>,
}

/// An OCI index or Docker manifest list.
#[derive(Debug, Deserialize)]
struct IndexJson {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

/// An OCI image manifest or Docker schema 2 manifest.
#[derive(Debug, Deserialize)]
struct ImageManifestJson {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

/// The platform fields of an image config.
#[derive(Debug, Deserialize)]
struct ConfigPlatformJson {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    variant: Option<String>,
    #[serde(rename = "os.version")]
    os_version: Option<String>,
}

impl Client {
    /// Fetches the manifest or index a reference names: by digest when it has one (the
    /// body must hash to it), else by tag (`latest` when it has neither; the body must
    /// match `Docker-Content-Digest` when the registry sends it). Mirrors are tried first.
    pub async fn manifest(&self, reference: &Reference) -> Result<Manifest, RegistryError> {
        if let Some(digest) = reference.digest() {
            return self.manifest_by_digest(reference, digest).await;
        }
        let tag = reference
            .tag_or_default()
            .unwrap_or(imgpull_reference::DEFAULT_TAG);
        self.fetch_manifest(reference, tag, None).await
    }

    async fn manifest_by_digest(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<Manifest, RegistryError> {
        self.fetch_manifest(reference, &digest.to_string(), Some(digest))
            .await
    }

    async fn fetch_manifest(
        &self,
        reference: &Reference,
        target: &str,
        expected: Option<&Digest>,
    ) -> Result<Manifest, RegistryError> {
        let path = format!("/v2/{}/manifests/{target}", reference.repository());
        let accept = HeaderValue::from_static(ACCEPT_MANIFESTS);
        self.on_endpoints(reference, |ping, policy| {
            let (path, accept) = (&path, &accept);
            async move {
                let (content_type, header_digest, bytes, url) = self
                    .get_manifest_bytes(&ping, &policy, reference, path, accept)
                    .await?;
                check_manifest(
                    reference,
                    &url,
                    content_type.as_deref(),
                    header_digest.as_deref(),
                    expected,
                    bytes,
                )
            }
        })
        .await
    }

    /// Fetches the document an index lists as `entry`, whatever its media type (an artifact
    /// manifest, or a type this crate does not know, which [`Client::manifest`] refuses), by
    /// digest from the manifests endpoint, asking for that media type. Its size must be at
    /// most [`MAX_MANIFEST_BYTES`] and its bytes must hash to the digest. Mirrors are tried
    /// first. It is how a whole index is copied (`--all-platforms` to an OCI output).
    pub async fn index_entry(
        &self,
        reference: &Reference,
        entry: &Descriptor,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = format!("{}@{}", reference.without_digest(), entry.digest);
        if entry.size > MAX_MANIFEST_BYTES as u64 {
            return Err(RegistryError::TooLarge {
                url: what,
                limit: MAX_MANIFEST_BYTES as u64,
            });
        }
        let accept = HeaderValue::from_str(&entry.media_type).map_err(|_| {
            RegistryError::InvalidResponse {
                what: "index entry",
                url: what.clone(),
                reason: format!("media type {:?} cannot be asked for", entry.media_type),
            }
        })?;
        let path = format!("/v2/{}/manifests/{}", reference.repository(), entry.digest);
        self.on_endpoints(reference, |ping, policy| {
            let (path, accept) = (&path, &accept);
            async move {
                let (_, _, bytes, url) = self
                    .get_manifest_bytes(&ping, &policy, reference, path, accept)
                    .await?;
                let actual = Digest::compute(entry.digest.algorithm(), &bytes);
                if actual != entry.digest {
                    return Err(RegistryError::DigestMismatch {
                        url,
                        expected: entry.digest.clone(),
                        actual,
                    });
                }
                Ok(bytes)
            }
        })
        .await
    }

    async fn get_manifest_bytes(
        &self,
        ping: &Ping,
        policy: &RetryPolicy,
        reference: &Reference,
        path: &str,
        accept: &HeaderValue,
    ) -> Result<(Option<String>, Option<String>, Vec<u8>, String), RegistryError> {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, accept.clone());
        let request = Request {
            method: Method::GET,
            url: ping.url(path)?,
            headers,
            repository: Some(reference.repository()),
        };
        let request = &request;
        self.with_retries(policy, move || async move {
            let response = self.send_authenticated(ping, request).await?;
            let text = |name| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v: &HeaderValue| v.to_str().ok())
                    .map(str::to_owned)
            };
            let content_type = text(header::CONTENT_TYPE);
            let digest = text(header::HeaderName::from_static("docker-content-digest"));
            let url = crate::redact::redact_url(response.url());
            let bytes = read_capped(response, MAX_MANIFEST_BYTES).await?;
            Ok((content_type, digest, bytes, url))
        })
        .await
    }

    /// Runs `operation` against each endpoint of the reference's registry in turn: mirrors
    /// first, whose failures fall through, then the registry itself, whose error is final.
    /// `operation` gets the retry policy for the endpoint: one attempt for a mirror (as blobs
    /// from a mirror get), the client's policy for the registry.
    pub(crate) async fn on_endpoints<T, F, Fut>(
        &self,
        reference: &Reference,
        mut operation: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut(Arc<Ping>, RetryPolicy) -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let endpoints = self.endpoints(reference.registry(), reference.api_host());
        let mut last_error = None;
        for endpoint in endpoints {
            let policy = if endpoint.mirror {
                RetryPolicy::none()
            } else {
                self.inner.retry
            };
            let outcome = match self.ping(&endpoint).await {
                Ok(ping) => operation(ping, policy).await,
                Err(error) => Err(error),
            };
            match outcome {
                Ok(value) => return Ok(value),
                Err(error) if endpoint.mirror => {
                    tracing::debug!(mirror = %endpoint.host, %error, "mirror failed; trying the next endpoint");
                }
                Err(error) => {
                    last_error = Some(error);
                    break;
                }
            }
        }
        Err(last_error.unwrap_or_else(|| RegistryError::InvalidOption {
            option: reference.registry().to_owned(),
            reason: "no endpoint for this registry".to_owned(),
        }))
    }

    /// Resolves a reference to images: an index is narrowed to the chosen platforms
    /// (variants normalised, older compatible variants accepted when the exact one is
    /// missing, attestations skipped); a single image must be for the chosen platform.
    /// Each image's config is fetched and verified.
    ///
    /// [`PlatformChoice::Host`] and [`PlatformChoice::Exact`] give exactly one image;
    /// [`PlatformChoice::All`] gives one per platform, in index order.
    pub async fn resolve(
        &self,
        reference: &Reference,
        choice: &PlatformChoice,
    ) -> Result<Vec<ResolvedImage>, RegistryError> {
        let top = self.manifest(reference).await?;
        if !top.is_index() {
            let image = self.image(reference, None, top, None).await?;
            // The same test as for an index entry (variant defaults, older compatible
            // variants, os.version when asked for), as docker refuses such an image.
            if let (Some(requested), Some(found)) = (requested_platform(choice), &image.platform)
                && requested.preference(found).is_none()
            {
                return Err(RegistryError::PlatformMismatch {
                    reference: reference.to_string(),
                    requested: Box::new(requested),
                    found: Box::new(found.clone()),
                });
            }
            return Ok(vec![image]);
        }
        let index: IndexJson = parse_json(&top.bytes, "index", reference)?;
        check_sizes(reference, &top, &index.manifests)?;
        // Entries of other types (artifacts, unknown ones) are never an image to pull.
        let entries: Vec<&Descriptor> = index
            .manifests
            .iter()
            .filter(|entry| {
                !entry.is_attestation()
                    && (media_types::is_image_manifest(&entry.media_type)
                        || media_types::is_index(&entry.media_type))
            })
            .collect();
        let selected: Vec<&Descriptor> = match requested_platform(choice) {
            // Every image of this index; nested indexes are not walked (an OCI output keeps
            // them, with what they list, as they are).
            None => entries
                .iter()
                .copied()
                .filter(|entry| media_types::is_image_manifest(&entry.media_type))
                .collect(),
            Some(requested) => {
                let best = entries
                    .iter()
                    .filter_map(|entry| {
                        let platform = entry.platform.as_ref()?;
                        requested.preference(platform).map(|rank| (rank, *entry))
                    })
                    .min_by_key(|(rank, _)| *rank);
                match best {
                    Some((_, entry)) => vec![entry],
                    None => {
                        return Err(RegistryError::NoMatchingPlatform {
                            reference: reference.to_string(),
                            requested: Box::new(requested),
                            available: entries
                                .iter()
                                .filter_map(|entry| entry.platform.clone())
                                .collect(),
                        });
                    }
                }
            }
        };
        let mut images = Vec::with_capacity(selected.len());
        for entry in selected {
            let manifest = self.manifest_by_digest(reference, &entry.digest).await?;
            if manifest.is_index() {
                return Err(RegistryError::UnsupportedMediaType {
                    reference: reference.to_string(),
                    media_type: format!("{} nested in an index", manifest.media_type),
                });
            }
            images.push(
                self.image(
                    reference,
                    Some(top.clone()),
                    manifest,
                    entry.platform.clone(),
                )
                .await?,
            );
        }
        Ok(images)
    }

    async fn image(
        &self,
        reference: &Reference,
        index: Option<Manifest>,
        manifest: Manifest,
        platform: Option<Platform>,
    ) -> Result<ResolvedImage, RegistryError> {
        let parsed: ImageManifestJson = parse_json(&manifest.bytes, "manifest", reference)?;
        check_sizes(
            reference,
            &manifest,
            std::iter::once(&parsed.config).chain(&parsed.layers),
        )?;
        let config_bytes = self
            .blob_bytes(reference, &parsed.config, MAX_CONFIG_BYTES)
            .await?;
        let platform = if platform.is_some() {
            platform
        } else {
            let config: ConfigPlatformJson = parse_json(&config_bytes, "image config", reference)?;
            (!config.os.is_empty() || !config.architecture.is_empty()).then(|| {
                let mut platform = Platform::new(config.os, config.architecture);
                platform.variant = config.variant;
                platform.os_version = config.os_version;
                platform
            })
        };
        Ok(ResolvedImage {
            reference: reference.clone(),
            index,
            manifest,
            platform,
            config: parsed.config,
            config_bytes,
            layers: parsed.layers,
        })
    }
}

/// The `Accept` header of manifest requests: OCI index, Docker manifest list, OCI manifest,
/// Docker schema 2 (never schema 1).
const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// The largest size a descriptor may state: the OCI spec makes `size` an int64.
pub const MAX_DESCRIPTOR_SIZE: u64 = i64::MAX as u64;

/// Refuses a manifest or index that lists content larger than [`MAX_DESCRIPTOR_SIZE`], so
/// that no later sum or offset of sizes can overflow on its account.
fn check_sizes<'a>(
    reference: &Reference,
    document: &Manifest,
    descriptors: impl IntoIterator<Item = &'a Descriptor>,
) -> Result<(), RegistryError> {
    match descriptors
        .into_iter()
        .find(|descriptor| descriptor.size > MAX_DESCRIPTOR_SIZE)
    {
        Some(descriptor) => Err(RegistryError::InvalidResponse {
            what: if document.is_index() {
                "index"
            } else {
                "manifest"
            },
            url: format!("{}@{}", reference.without_digest(), document.digest),
            reason: format!(
                "{} has size {}, above the largest the OCI spec allows ({MAX_DESCRIPTOR_SIZE}, an int64)",
                descriptor.digest, descriptor.size
            ),
        }),
        None => Ok(()),
    }
}

fn requested_platform(choice: &PlatformChoice) -> Option<Platform> {
    match choice {
        PlatformChoice::Host => Some(Platform::default_target()),
        PlatformChoice::Exact(platform) => Some(platform.clone()),
        PlatformChoice::All => None,
    }
}

fn parse_json<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
    what: &'static str,
    reference: &Reference,
) -> Result<T, RegistryError> {
    serde_json::from_slice(bytes).map_err(|e| RegistryError::InvalidResponse {
        what,
        url: reference.to_string(),
        reason: e.to_string(),
    })
}

/// Checks a fetched manifest: kind (schema1 refused), digest against the one asked for
/// or the `Docker-Content-Digest` header, and returns it with its media type.
fn check_manifest(
    reference: &Reference,
    url: &str,
    content_type: Option<&str>,
    header_digest: Option<&str>,
    expected: Option<&Digest>,
    bytes: Vec<u8>,
) -> Result<Manifest, RegistryError> {
    let digest = match expected {
        Some(expected) => {
            let actual = Digest::compute(expected.algorithm(), &bytes);
            if &actual != expected {
                return Err(RegistryError::DigestMismatch {
                    url: url.to_owned(),
                    expected: expected.clone(),
                    actual,
                });
            }
            actual
        }
        None => match header_digest.map(Digest::parse) {
            Some(Ok(announced)) => {
                let actual = Digest::compute(announced.algorithm(), &bytes);
                if actual != announced {
                    return Err(RegistryError::DigestMismatch {
                        url: url.to_owned(),
                        expected: announced,
                        actual,
                    });
                }
                actual
            }
            Some(Err(error)) => {
                return Err(RegistryError::InvalidResponse {
                    what: "Docker-Content-Digest header",
                    url: url.to_owned(),
                    reason: error.to_string(),
                });
            }
            None => Digest::sha256(&bytes),
        },
    };
    let media_type = manifest_media_type(reference, url, content_type, &bytes)?;
    Ok(Manifest {
        bytes,
        digest,
        media_type,
    })
}

/// The media type of a manifest body: its `mediaType` field, else the `Content-Type`,
/// else inferred from its shape. Schema 1 and non-image types are errors.
fn manifest_media_type(
    reference: &Reference,
    url: &str,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<String, RegistryError> {
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| RegistryError::InvalidResponse {
            what: "manifest",
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    let schema1 = || RegistryError::Schema1 {
        reference: reference.to_string(),
    };
    if probe.schema_version == Some(1) || content_type.is_some_and(media_types::is_schema1) {
        return Err(schema1());
    }
    let from_header = content_type
        .map(media_types::essence)
        .filter(|t| media_types::is_index(t) || media_types::is_image_manifest(t));
    let media_type = probe
        .media_type
        .map(|t| media_types::essence(&t))
        .or(from_header)
        .or_else(|| {
            if probe.manifests.is_some() {
                Some(media_types::OCI_IMAGE_INDEX.to_owned())
            } else if probe.config.is_some() {
                Some(media_types::OCI_IMAGE_MANIFEST.to_owned())
            } else {
                None
            }
        })
        .ok_or_else(|| RegistryError::UnsupportedMediaType {
            reference: reference.to_string(),
            media_type: content_type.unwrap_or("none").to_owned(),
        })?;
    if media_types::is_schema1(&media_type) {
        return Err(schema1());
    }
    if !media_types::is_index(&media_type) && !media_types::is_image_manifest(&media_type) {
        return Err(RegistryError::UnsupportedMediaType {
            reference: reference.to_string(),
            media_type,
        });
    }
    // A body that is both an index and an image manifest could be read as either by
    // different tools (and so show them different images under one digest).
    let ambiguous = if media_types::is_index(&media_type) {
        probe.config.is_some()
    } else {
        probe.manifests.is_some()
    };
    if ambiguous {
        return Err(RegistryError::InvalidResponse {
            what: "manifest",
            url: url.to_owned(),
            reason: format!(
                "it says {media_type} but has both `manifests` and `config`, so it is ambiguous"
            ),
        });
    }
    Ok(media_type)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reference() -> Reference {
        Reference::parse("example.com/repo:tag").unwrap()
    }

    #[test]
    fn accept_header_lists_the_four_types() {
        for media_type in media_types::MANIFEST_ACCEPT {
            assert!(ACCEPT_MANIFESTS.contains(media_type), "{media_type}");
        }
        assert!(!ACCEPT_MANIFESTS.contains(media_types::DOCKER_MANIFEST_V1));
    }

    #[test]
    fn media_type_from_body_header_or_shape() {
        let r = reference();
        let oci = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{}}"#;
        assert_eq!(
            manifest_media_type(&r, "u", Some("application/json"), oci).unwrap(),
            media_types::OCI_IMAGE_MANIFEST
        );
        let bare_index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert_eq!(
            manifest_media_type(&r, "u", None, bare_index).unwrap(),
            media_types::OCI_IMAGE_INDEX
        );
        assert_eq!(
            manifest_media_type(
                &r,
                "u",
                Some("application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8"),
                bare_index
            )
            .unwrap(),
            media_types::DOCKER_MANIFEST_LIST
        );
    }

    #[test]
    fn schema1_and_unknown_types_are_refused() {
        let r = reference();
        let schema1 = br#"{"schemaVersion":1,"fsLayers":[]}"#;
        let error = manifest_media_type(&r, "u", None, schema1).unwrap_err();
        assert!(
            error.to_string().contains("schema1 images are deprecated"),
            "{error}"
        );
        let signed = br#"{"schemaVersion":2}"#;
        assert!(matches!(
            manifest_media_type(
                &r,
                "u",
                Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
                signed
            ),
            Err(RegistryError::Schema1 { .. })
        ));
        let artifact = br#"{"schemaVersion":2,"mediaType":"application/vnd.cncf.helm.chart"}"#;
        assert!(matches!(
            manifest_media_type(&r, "u", None, artifact),
            Err(RegistryError::UnsupportedMediaType { .. })
        ));
        assert!(matches!(
            manifest_media_type(&r, "u", None, b"not json"),
            Err(RegistryError::InvalidResponse { .. })
        ));
    }

    #[test]
    fn a_body_that_is_both_index_and_manifest_is_refused() {
        let r = reference();
        for media_type in [
            media_types::OCI_IMAGE_INDEX,
            media_types::OCI_IMAGE_MANIFEST,
        ] {
            let both = format!(
                r#"{{"schemaVersion":2,"mediaType":"{media_type}","manifests":[],"config":{{}}}}"#
            );
            let error = manifest_media_type(&r, "u", None, both.as_bytes()).unwrap_err();
            assert!(error.to_string().contains("ambiguous"), "{error}");
        }
        let null_config = br#"{"schemaVersion":2,"manifests":[],"config":null}"#;
        assert_eq!(
            manifest_media_type(&r, "u", None, null_config).unwrap(),
            media_types::OCI_IMAGE_INDEX
        );
    }

    #[test]
    fn digests_are_checked_against_request_and_header() {
        let r = reference();
        let body = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{}}"#.to_vec();
        let good = Digest::sha256(&body);
        let other = Digest::sha256(b"other");
        let ok = check_manifest(&r, "u", None, None, Some(&good), body.clone()).unwrap();
        assert_eq!(ok.digest, good);
        assert!(matches!(
            check_manifest(&r, "u", None, None, Some(&other), body.clone()),
            Err(RegistryError::DigestMismatch { .. })
        ));
        assert!(matches!(
            check_manifest(&r, "u", None, Some(&other.to_string()), None, body.clone()),
            Err(RegistryError::DigestMismatch { .. })
        ));
        let by_header =
            check_manifest(&r, "u", None, Some(&good.to_string()), None, body.clone()).unwrap();
        assert_eq!(by_header.digest, good);
        assert_eq!(
            check_manifest(&r, "u", None, None, None, body)
                .unwrap()
                .digest,
            good
        );
    }
}
