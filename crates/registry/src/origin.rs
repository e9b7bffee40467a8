//! Where a blob's bytes come from, and the walk over those places.
//!
//! A blob is fetched from, in order: the URLs of its descriptor (foreign, non-distributable
//! layers) that the policy allows, the registry's mirrors, and the registry itself. Every
//! origin but the last is fallible: when it cannot serve the blob, or when what it served
//! fails verification ([`BlobOrigins::reject`]), the next one is tried. Only the registry's
//! own answer is final.

use std::fmt;
use std::time::Instant;

use imgpull_reference::{Descriptor, Reference, media_types};
use reqwest::Method;
use url::Url;

use crate::blob::{BlobStream, Pumped, is_refused_range, open_stream, pump, range_headers};
use crate::client::{Client, Endpoint, Request};
use crate::error::{RegistryError, Retry};
use crate::redact::redact_url;
use crate::retry::RetryPolicy;

/// How far a broken download must have moved on for its retry budget to start afresh.
const MIN_PROGRESS: u64 = 1024 * 1024;

/// What kind of place a [`BlobOrigin`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OriginKind {
    /// A URL of the descriptor's `urls`, used only for a layer that registries need not
    /// serve (a Docker foreign layer or an OCI non-distributable layer; the `urls` of any
    /// other descriptor are ignored). It is fetched only over `https`, and redirected only to
    /// `https` (plain `http` only when the registry itself is this machine or named
    /// insecure, whatever the URL's host), never with the registry's credentials, and its
    /// bytes are verified like any other.
    Foreign,
    /// A mirror of the registry ([`crate::ClientBuilder::mirror`]).
    Mirror,
    /// The registry itself: the last origin, whose failure is final.
    Registry,
}

/// One place a blob can be fetched from.
#[derive(Debug, Clone)]
pub struct BlobOrigin {
    target: Target,
}

#[derive(Debug, Clone)]
enum Target {
    Foreign(Url),
    Endpoint(Endpoint),
}

impl BlobOrigin {
    /// What kind of place this is.
    pub fn kind(&self) -> OriginKind {
        match &self.target {
            Target::Foreign(_) => OriginKind::Foreign,
            Target::Endpoint(endpoint) if endpoint.mirror => OriginKind::Mirror,
            Target::Endpoint(_) => OriginKind::Registry,
        }
    }

    /// Its URL, redacted: the foreign URL, or the base URL of the mirror or registry (the
    /// registry's first scheme candidate).
    pub fn url(&self) -> String {
        match &self.target {
            Target::Foreign(url) => redact_url(url),
            Target::Endpoint(endpoint) => endpoint
                .first_candidate()
                .map_or_else(|| endpoint.host.clone(), redact_url),
        }
    }
}

impl fmt::Display for BlobOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Foreign(url) => write!(f, "foreign URL {}", redact_url(url)),
            Target::Endpoint(endpoint) if endpoint.mirror => write!(f, "mirror {}", self.url()),
            Target::Endpoint(endpoint) => write!(f, "registry {}", endpoint.host),
        }
    }
}

/// Whether a descriptor's `urls` may be used: only for the layer media types registries need
/// not serve (Docker foreign layers, OCI non-distributable layers), as containerd does.
fn is_foreign_layer(media_type: &str) -> bool {
    matches!(
        media_types::essence(media_type).as_str(),
        media_types::DOCKER_FOREIGN_LAYER_TAR_GZIP
            | media_types::OCI_LAYER_NONDISTRIBUTABLE_TAR
            | media_types::OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP
            | media_types::OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD
    )
}

/// A foreign layer URL that may be fetched: `https`, or plain `http` when `plain_http` (the
/// registry itself is this machine or named insecure).
fn allowed_foreign_url(text: &str, plain_http: bool) -> Option<Url> {
    let url = Url::parse(text).ok()?;
    let allowed = url.host().is_some()
        && match url.scheme() {
            "https" => true,
            "http" => plain_http,
            _ => false,
        };
    if !allowed {
        tracing::debug!(url = %redact_url(&url), "foreign layer URL skipped: not https");
    }
    allowed.then_some(url)
}

/// Which origin served the first bytes of the last download, and where it started.
#[derive(Debug, Clone, Copy)]
struct Served {
    index: usize,
    offset: u64,
}

/// The origins of one blob in the order they are tried ([`Client::blob_origins`]), and
/// which of them are still to be tried.
///
/// [`BlobOrigins::download`] hands the blob to a sink, falling through to the next origin
/// when one cannot serve it. The digest is the caller's to verify (the blob store does it
/// when it commits); when the bytes fail, [`BlobOrigins::reject`] passes over the origin
/// that served them, and the caller downloads again from byte 0:
///
/// ```no_run
/// # async fn demo(client: imgpull_registry::Client, reference: imgpull_reference::Reference,
/// #     descriptor: imgpull_reference::Descriptor)
/// #     -> Result<Option<Vec<u8>>, imgpull_registry::RegistryError> {
/// let mut origins = client.blob_origins(&reference, &descriptor);
/// loop {
///     let mut bytes = Vec::new();
///     origins
///         .download(0, |chunk: &[u8]| {
///             bytes.extend_from_slice(chunk);
///             Ok::<(), std::io::Error>(())
///         })
///         .await?;
///     if imgpull_reference::Digest::sha256(&bytes) == descriptor.digest {
///         return Ok(Some(bytes));
///     }
///     if !origins.reject() {
///         return Ok(None); // the registry itself served other bytes
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BlobOrigins {
    client: Client,
    reference: Reference,
    descriptor: Descriptor,
    /// Never empty: the registry is always last.
    origins: Vec<BlobOrigin>,
    next: usize,
    served: Option<Served>,
    restarted: bool,
    discarded: u64,
}

impl BlobOrigins {
    /// Every origin, in the order they are tried; the registry is last.
    pub fn origins(&self) -> &[BlobOrigin] {
        &self.origins
    }

    /// How many bytes the last [`BlobOrigins::download`] received and threw away before the
    /// sink: the start of the blob again, from a server that ignored or could not serve the
    /// range asked for, up to where the sink already was. They crossed the network (count
    /// them as downloaded), but the sink never saw them.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }

    /// The origins not passed over yet.
    pub fn remaining(&self) -> &[BlobOrigin] {
        &self.origins[self.next.min(self.origins.len())..]
    }

    /// Downloads the blob from `offset` to its end, handing every chunk to `sink` in order,
    /// from the first origin not passed over that serves it; returns the origin that served
    /// the first bytes (the one to blame if they fail verification).
    ///
    /// Within one origin, a broken body resumes with `Range: bytes=<position>-` (a server
    /// that answers a range with the whole blob, or cannot serve it and is asked for the whole
    /// blob, has the bytes the sink already holds skipped, so the sink sees each byte once; a
    /// shorter range than asked for is taken and the rest asked for, at once when the
    /// download has moved on by at least 1 MiB since the budget was last counted afresh, as
    /// a retry otherwise); attempts and time are bounded by the retry policy, counted afresh
    /// once the download has moved on by at least 1 MiB. A mirror or foreign URL gets one
    /// attempt (as containerd tries each URL once), and one whose host could not be connected
    /// to is skipped by this client from then on. An origin that fails for good hands over to
    /// the next one at the same position. The registry's failure, and any failure of the sink,
    /// is returned.
    pub async fn download<F, E>(
        &mut self,
        offset: u64,
        mut sink: F,
    ) -> Result<&BlobOrigin, RegistryError>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let start = offset.min(self.descriptor.size);
        let mut position = start;
        self.served = None;
        self.discarded = 0;
        let last = self.origins.len().saturating_sub(1);
        let mut index = self.next.min(last);
        loop {
            if index < last && self.client.known_unreachable(&self.origins[index]) {
                tracing::debug!(origin = %self.origins[index], "skipped: no connection before");
                index += 1;
                continue;
            }
            let before = position;
            let outcome = self
                .client
                .download_at(
                    &self.origins[index],
                    &self.reference,
                    &self.descriptor,
                    &mut position,
                    &mut self.discarded,
                    &mut sink,
                )
                .await;
            if self.served.is_none() && (outcome.is_ok() || position > before) {
                self.served = Some(Served {
                    index,
                    offset: start,
                });
            }
            match outcome {
                Ok(()) => {
                    let first = self.served.map_or(index, |served| served.index);
                    return Ok(&self.origins[first]);
                }
                Err(error) if index < last && !matches!(error, RegistryError::Sink { .. }) => {
                    tracing::debug!(
                        origin = %self.origins[index],
                        digest = %self.descriptor.digest,
                        %error,
                        "blob origin failed; trying the next one"
                    );
                    index += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Reports that the bytes of the last [`BlobOrigins::download`] failed verification and
    /// were thrown away. Returns whether another download is worth it (from byte 0):
    ///
    /// - when that download resumed bytes of unknown origin (an offset above 0), the origin
    ///   that served it is tried once more from byte 0;
    /// - otherwise that origin is passed over, unless it is the registry itself: its bytes
    ///   are final, and `false` is returned (an integrity failure).
    pub fn reject(&mut self) -> bool {
        let Some(served) = self.served.take() else {
            return false;
        };
        if served.offset > 0 && !self.restarted {
            self.restarted = true;
            self.next = served.index;
            return true;
        }
        if served.index + 1 >= self.origins.len() {
            return false;
        }
        tracing::debug!(
            origin = %self.origins[served.index],
            digest = %self.descriptor.digest,
            "blob failed verification; trying the next origin"
        );
        self.next = served.index + 1;
        true
    }
}

impl Client {
    /// The origins of a blob, in the order they are tried: the descriptor's `urls` that the
    /// policy allows (only for foreign and non-distributable layers, see
    /// [`OriginKind::Foreign`]: `https`, or `http` when the registry itself is this machine
    /// or named insecure; others are skipped), the registry's mirrors, then the registry
    /// itself (its own blob endpoint is always the last resort).
    pub fn blob_origins(&self, reference: &Reference, descriptor: &Descriptor) -> BlobOrigins {
        let (mut origins, registry) = self.origin_list(reference, descriptor);
        origins.push(registry);
        BlobOrigins {
            client: self.clone(),
            reference: reference.clone(),
            descriptor: descriptor.clone(),
            origins,
            next: 0,
            served: None,
            restarted: false,
            discarded: 0,
        }
    }

    /// The fallible origins in order, and the registry.
    pub(crate) fn origin_list(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> (Vec<BlobOrigin>, BlobOrigin) {
        let mut endpoints = self.endpoints(reference.registry(), reference.api_host());
        let registry = endpoints
            .pop()
            .unwrap_or_else(|| self.registry_endpoint(reference.registry(), reference.api_host()));
        let urls: &[String] = if is_foreign_layer(&descriptor.media_type) {
            &descriptor.urls
        } else {
            if !descriptor.urls.is_empty() {
                tracing::debug!(
                    digest = %descriptor.digest,
                    media_type = %descriptor.media_type,
                    "descriptor urls ignored: not a foreign or non-distributable layer"
                );
            }
            &[]
        };
        let plain_http = self.foreign_plain_http(reference);
        let mut origins: Vec<BlobOrigin> = urls
            .iter()
            .filter_map(|url| allowed_foreign_url(url, plain_http))
            .filter(|url| !self.is_unreachable_origin(url))
            .map(|url| BlobOrigin {
                target: Target::Foreign(url),
            })
            .collect();
        origins.extend(endpoints.into_iter().map(|endpoint| BlobOrigin {
            target: Target::Endpoint(endpoint),
        }));
        let registry = BlobOrigin {
            target: Target::Endpoint(registry),
        };
        (origins, registry)
    }

    /// Opens a blob's body at one origin from `offset`. A server that will not serve that
    /// range (a `206` for other bytes, a `416`) is asked for the whole blob: the stream then
    /// starts at 0, as when a server ignores `Range`. A mirror or foreign URL whose host
    /// cannot be connected to is remembered, and skipped by later blobs.
    pub(crate) async fn open_at(
        &self,
        origin: &BlobOrigin,
        reference: &Reference,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let outcome = self.open_from(origin, reference, descriptor, offset).await;
        if let Err(error) = &outcome
            && origin.kind() != OriginKind::Registry
            && let Some(failed) = error.connect_failure_url().and_then(|u| Url::parse(u).ok())
        {
            tracing::debug!(%origin, %error, "no connection; skipped from now on");
            self.mark_unreachable(failed.origin().ascii_serialization());
        }
        outcome
    }

    /// [`Self::open_at`] without the bookkeeping of unreachable hosts.
    async fn open_from(
        &self,
        origin: &BlobOrigin,
        reference: &Reference,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        match self
            .open_range_at(origin, reference, descriptor, offset)
            .await
        {
            Err(error) if offset > 0 && is_refused_range(&error) => {
                tracing::debug!(
                    %origin,
                    digest = %descriptor.digest,
                    offset,
                    %error,
                    "the range was not served; reading the blob from byte 0"
                );
                self.open_range_at(origin, reference, descriptor, 0).await
            }
            outcome => outcome,
        }
    }

    async fn open_range_at(
        &self,
        origin: &BlobOrigin,
        reference: &Reference,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let headers = range_headers(offset);
        let policy = self.origin_policy(origin);
        match &origin.target {
            Target::Foreign(url) => {
                if offset == descriptor.size && offset > 0 {
                    return Ok(BlobStream::empty(url.clone(), descriptor.size));
                }
                let headers = &headers;
                let plain_http = self.foreign_plain_http(reference);
                self.with_retries(&policy, move || async move {
                    let response = self.send_foreign(url.clone(), plain_http, headers).await?;
                    if !response.status().is_success() {
                        return Err(self
                            .status_error(&Method::GET, url, None, response, false)
                            .await);
                    }
                    open_stream(response, offset, descriptor.size)
                })
                .await
            }
            Target::Endpoint(endpoint) => {
                let ping = self.ping(endpoint).await?;
                let path = format!("/v2/{}/blobs/{}", reference.repository(), descriptor.digest);
                let url = ping.url(&path)?;
                if offset == descriptor.size && offset > 0 {
                    return Ok(BlobStream::empty(url, descriptor.size));
                }
                let request = Request {
                    method: Method::GET,
                    url,
                    headers,
                    repository: Some(reference.repository()),
                };
                let (request, ping) = (&request, &ping);
                self.with_retries(&policy, move || async move {
                    let response = self.send_authenticated(ping, request).await?;
                    open_stream(response, offset, descriptor.size)
                })
                .await
            }
        }
    }

    /// Whether a mirror or foreign origin could not be connected to before (the registry
    /// itself is always tried).
    fn known_unreachable(&self, origin: &BlobOrigin) -> bool {
        match &origin.target {
            Target::Foreign(url) => self.is_unreachable_origin(url),
            Target::Endpoint(endpoint) if endpoint.mirror => endpoint
                .first_candidate()
                .is_some_and(|url| self.mirror_unreachable(url)),
            Target::Endpoint(_) => false,
        }
    }

    /// Whether the foreign layer URLs of `reference`'s blobs may use plain http: only when
    /// the registry itself may be spoken to over it (this machine, or named insecure), never
    /// because a URL names this machine: a manifest must not make imgpull call local services.
    fn foreign_plain_http(&self, reference: &Reference) -> bool {
        self.is_local(reference.api_host())
            || self.is_named_insecure(reference.registry())
            || self.is_named_insecure(reference.api_host())
    }

    /// The retry policy of requests to an origin: the client's for the registry itself; one
    /// attempt for a mirror or foreign URL (each bounded by the client's connect and read
    /// timeouts and the policy's total time), as containerd tries each URL once: the next
    /// origin is there to serve the blob.
    fn origin_policy(&self, origin: &BlobOrigin) -> RetryPolicy {
        match origin.kind() {
            OriginKind::Registry => self.inner.retry,
            OriginKind::Foreign | OriginKind::Mirror => self.inner.retry.with_max_attempts(1),
        }
    }

    /// Downloads a blob from one origin, from `position` to its end, resuming a broken body
    /// and a shorter range than asked for with `Range`; `position` follows the bytes the
    /// sink took, `discarded` counts the bytes received again and skipped. Each resume costs
    /// an attempt of the retry policy, except a shorter range that moved the download on by
    /// [`MIN_PROGRESS`]; the attempts and the time start afresh after each [`MIN_PROGRESS`]
    /// bytes.
    async fn download_at<F, E>(
        &self,
        origin: &BlobOrigin,
        reference: &Reference,
        descriptor: &Descriptor,
        position: &mut u64,
        discarded: &mut u64,
        sink: &mut F,
    ) -> Result<(), RegistryError>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let policy = self.origin_policy(origin);
        let mut start = Instant::now();
        let mut attempts = 0_u32;
        let mut progress_mark = *position;
        loop {
            attempts += 1;
            let stream = self
                .open_at(origin, reference, descriptor, *position)
                .await?;
            let (error, asked, short) =
                match pump(stream, position, discarded, descriptor, sink).await {
                    Ok(Pumped::Complete) => return Ok(()),
                    Ok(Pumped::ShortRange(error)) => (error, None, true),
                    Err(error) => match error.retry_decision() {
                        Retry::After(asked) => (error, asked, false),
                        Retry::No => return Err(error),
                    },
                };
            if position.saturating_sub(progress_mark) >= MIN_PROGRESS {
                progress_mark = *position;
                start = Instant::now();
                if short {
                    // The server chose to send less, but enough: the rest is asked for at
                    // once, with the budget afresh.
                    attempts = 0;
                    continue;
                }
                attempts = 1;
            }
            // A broken body, or a shorter range that moved the download on by less than
            // MIN_PROGRESS (a server answering every range with a byte), costs an attempt
            // and counts against the policy's total time.
            let Some(delay) = policy.next_delay(attempts, start.elapsed(), asked) else {
                return Err(RegistryError::GaveUp {
                    attempts,
                    elapsed: start.elapsed(),
                    source: Box::new(error),
                });
            };
            tracing::debug!(
                digest = %descriptor.digest,
                %origin,
                position = *position,
                %error,
                "blob body broke; resuming"
            );
            tokio::time::sleep(delay).await;
        }
    }
}
