//! Blobs: a streaming body that starts at an offset, small verified blobs, and a
//! resumable download that reconnects with `Range` when a body breaks (the walk over a
//! blob's origins is in `origin`).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use imgpull_reference::{Descriptor, Digest, Reference};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use url::Url;

use crate::client::Client;
use crate::error::RegistryError;
use crate::range::ContentRange;
use crate::redact::redact_url;

/// The body of a blob, as a stream of chunks exactly as the HTTP client delivers them.
///
/// It starts at [`BlobStream::start_offset`]: the offset asked for when the server
/// honoured the range (a strict `206` whose `Content-Range` starts there and ends at the
/// blob's last byte), or 0 when it answered `200` with the whole blob. It yields an error
/// when the body breaks, ends short of the descriptor's size, or runs past it. It does not
/// hash: the consumer (the blob store) verifies the digest while writing.
pub struct BlobStream {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    url: Url,
    start_offset: u64,
    position: u64,
    size: u64,
    finished: bool,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStream")
            .field("url", &redact_url(&self.url))
            .field("start_offset", &self.start_offset)
            .field("position", &self.position)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl BlobStream {
    fn new(response: Response, start_offset: u64, size: u64) -> Self {
        Self {
            url: response.url().clone(),
            body: Box::pin(response.bytes_stream()),
            start_offset,
            position: start_offset,
            size,
            finished: false,
        }
    }

    pub(crate) fn empty(url: Url, size: u64) -> Self {
        Self {
            body: Box::pin(futures_util::stream::empty()),
            url,
            start_offset: size,
            position: size,
            size,
            finished: false,
        }
    }

    /// Where in the blob the stream's first byte is: the requested offset, or 0 when the
    /// server ignored the range (the caller then starts over).
    pub fn start_offset(&self) -> u64 {
        self.start_offset
    }

    /// The blob's total size (from its descriptor).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The URL that served the body, redacted.
    pub fn url(&self) -> String {
        redact_url(&self.url)
    }
}

impl Stream for BlobStream {
    type Item = Result<Bytes, RegistryError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        match self.body.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                self.position += chunk.len() as u64;
                if self.position > self.size {
                    self.finished = true;
                    return Poll::Ready(Some(Err(RegistryError::SizeMismatch {
                        url: redact_url(&self.url),
                        expected: self.size,
                        actual: self.position,
                    })));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(error))) => {
                self.finished = true;
                Poll::Ready(Some(Err(RegistryError::network(
                    &Method::GET,
                    &self.url,
                    "reading the body",
                    error,
                ))))
            }
            Poll::Ready(None) => {
                self.finished = true;
                if self.position < self.size {
                    return Poll::Ready(Some(Err(RegistryError::Truncated {
                        url: redact_url(&self.url),
                        received: self.position,
                        expected: self.size,
                    })));
                }
                Poll::Ready(None)
            }
        }
    }
}

impl Client {
    /// Opens a blob's body from `offset` (`Range: bytes=offset-` when it is not 0).
    ///
    /// The origins of [`Client::blob_origins`] are tried in order (allowed foreign layer
    /// URLs, fetched without credentials; mirrors; the registry itself, whose failure is
    /// returned). Redirects to a CDN are followed without the registry's `Authorization`
    /// header. Opening is retried per the retry policy; a body that breaks later is the
    /// caller's to resume (see [`Client::download`]).
    ///
    /// An `offset` equal to the size gives an empty stream; one beyond it starts over at 0.
    pub async fn blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let offset = if offset > descriptor.size { 0 } else { offset };
        let (fallible, registry) = self.origin_list(reference, descriptor);
        for origin in &fallible {
            match self.open_at(origin, reference, descriptor, offset).await {
                Ok(stream) => return Ok(stream),
                Err(error) => {
                    tracing::debug!(%origin, %error, "blob origin failed; trying the next one");
                }
            }
        }
        self.open_at(&registry, reference, descriptor, offset).await
    }

    /// Downloads a blob from `offset` to its end, handing every chunk to `sink` in order,
    /// from the first of its origins that serves it ([`crate::BlobOrigins::download`], which says
    /// how a broken body resumes). The digest is not checked here: the sink's owner does
    /// it, and can use [`Client::blob_origins`] to pass over an origin whose bytes fail.
    pub async fn download<F, E>(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        offset: u64,
        sink: F,
    ) -> Result<(), RegistryError>
    where
        F: FnMut(&[u8]) -> Result<(), E>,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.blob_origins(reference, descriptor)
            .download(offset, sink)
            .await
            .map(|_| ())
    }

    /// Fetches a small blob whole (a config, an attestation) and verifies its size and
    /// digest; blobs larger than `max` bytes are refused before any request. Bytes that
    /// fail verification from a mirror or foreign URL make the next origin serve the blob;
    /// from the registry itself they are [`RegistryError::DigestMismatch`].
    pub async fn blob_bytes(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        max: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        if descriptor.size > max {
            return Err(RegistryError::TooLarge {
                url: format!("{reference}@{}", descriptor.digest),
                limit: max,
            });
        }
        let mut origins = self.blob_origins(reference, descriptor);
        loop {
            let mut bytes = Vec::with_capacity(usize::try_from(descriptor.size).unwrap_or(0));
            let served = origins
                .download(0, |chunk: &[u8]| {
                    bytes.extend_from_slice(chunk);
                    Ok::<(), std::convert::Infallible>(())
                })
                .await?
                .url();
            let actual = Digest::compute(descriptor.digest.algorithm(), &bytes);
            if actual == descriptor.digest {
                return Ok(bytes);
            }
            if !origins.reject() {
                return Err(RegistryError::DigestMismatch {
                    url: served,
                    expected: descriptor.digest.clone(),
                    actual,
                });
            }
        }
    }
}

/// Feeds a stream to the sink from `position` on, skipping what the sink already has when
/// the stream starts earlier (a server that ignored the range).
pub(crate) async fn pump<F, E>(
    mut stream: BlobStream,
    position: &mut u64,
    descriptor: &Descriptor,
    sink: &mut F,
) -> Result<(), RegistryError>
where
    F: FnMut(&[u8]) -> Result<(), E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut skip = position.saturating_sub(stream.start_offset());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        let mut data: &[u8] = &chunk;
        if skip > 0 {
            let n = usize::try_from(skip).unwrap_or(usize::MAX).min(data.len());
            data = &data[n..];
            skip -= n as u64;
        }
        if data.is_empty() {
            continue;
        }
        sink(data).map_err(|e| RegistryError::Sink {
            digest: descriptor.digest.clone(),
            source: e.into(),
        })?;
        *position += data.len() as u64;
    }
    Ok(())
}

/// `Range: bytes=offset-` when `offset` is not 0.
pub(crate) fn range_headers(offset: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if offset > 0
        && let Ok(value) = HeaderValue::from_str(&format!("bytes={offset}-"))
    {
        headers.insert(header::RANGE, value);
    }
    headers
}

/// Checks how the server answered a (possibly ranged) blob request and wraps the body.
pub(crate) fn open_stream(
    response: Response,
    offset: u64,
    size: u64,
) -> Result<BlobStream, RegistryError> {
    match response.status() {
        StatusCode::PARTIAL_CONTENT => {
            let value = response
                .headers()
                .get(header::CONTENT_RANGE)
                .and_then(|v| v.to_str().ok());
            let honoured = value
                .and_then(ContentRange::parse)
                .is_some_and(|range| range.answers(offset, size));
            if !honoured {
                return Err(RegistryError::BadContentRange {
                    url: redact_url(response.url()),
                    offset,
                    value: value.unwrap_or("(missing)").to_owned(),
                });
            }
            Ok(BlobStream::new(response, offset, size))
        }
        StatusCode::OK => Ok(BlobStream::new(response, 0, size)),
        status => Err(RegistryError::InvalidResponse {
            what: "blob response",
            url: redact_url(response.url()),
            reason: format!("unexpected status {status}"),
        }),
    }
}
