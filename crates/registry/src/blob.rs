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
/// honoured the range (a `206` whose `Content-Range` starts there), or 0 when it answered
/// `200` with the whole blob, or when it could not serve the range (a `206` for other bytes,
/// a `416`): the blob is then read again from its first byte, and the caller skips or
/// discards what it has. It yields an error when the body breaks, ends short of the
/// descriptor's size, or runs past it; a server that answers the range with a shorter one
/// (RFC 9110 allows it) ends the stream there with [`RegistryError::Truncated`], which the
/// caller resumes like any broken body (see [`crate::BlobOrigins::download`]). It does not
/// hash: the consumer (the blob store) verifies the digest while writing.
pub struct BlobStream {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>,
    url: Url,
    start_offset: u64,
    position: u64,
    /// Where this response's bytes end (exclusive): the size, or the end of a shorter range.
    end: u64,
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
    fn new(response: Response, start_offset: u64, end: u64, size: u64) -> Self {
        Self {
            url: response.url().clone(),
            body: Box::pin(response.bytes_stream()),
            start_offset,
            position: start_offset,
            end,
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
            end: size,
            size,
            finished: false,
        }
    }

    /// Where in the blob the stream's first byte is: the requested offset, or 0 when the
    /// server ignored or could not serve the range (the caller then starts over).
    pub fn start_offset(&self) -> u64 {
        self.start_offset
    }

    /// Where the server's answer ends (exclusive): the blob's size, or less when it answered
    /// the range with a shorter one. The stream reports [`RegistryError::Truncated`] there,
    /// and the rest is asked for from this offset.
    pub fn end_offset(&self) -> u64 {
        self.end
    }

    /// Whether the stream stopped exactly at the end of a shorter range the server chose
    /// (not a broken body): the rest is to be asked for at once.
    fn ended_at_short_range(&self) -> bool {
        self.finished && self.end < self.size && self.position == self.end
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
                self.position = self.position.saturating_add(chunk.len() as u64);
                if self.position > self.size {
                    self.finished = true;
                    return Poll::Ready(Some(Err(RegistryError::SizeMismatch {
                        url: redact_url(&self.url),
                        expected: self.size,
                        actual: self.position,
                    })));
                }
                if self.position > self.end {
                    self.finished = true;
                    return Poll::Ready(Some(Err(RegistryError::InvalidResponse {
                        what: "blob response",
                        url: redact_url(&self.url),
                        reason: format!(
                            "the body runs past the end of its Content-Range (byte {})",
                            self.end - 1
                        ),
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
    /// header. Opening at the registry is retried per the retry policy, at a mirror or
    /// foreign URL tried once; a body that breaks later is the caller's to resume (see
    /// [`Client::download`]).
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

/// How a [`pump`] ended without error.
#[derive(Debug)]
pub(crate) enum Pumped {
    /// The blob's last byte reached the sink.
    Complete,
    /// The server answered with a shorter range, all of which reached the sink: the rest is
    /// to be asked for from the new position. The error says where the answer ended, for
    /// when the caller gives up on such answers.
    ShortRange(RegistryError),
}

/// Feeds a stream to the sink from `position` on, skipping what the sink already has when
/// the stream starts earlier (a server that ignored or could not serve the range); the
/// skipped bytes are added to `discarded`.
pub(crate) async fn pump<F, E>(
    mut stream: BlobStream,
    position: &mut u64,
    discarded: &mut u64,
    descriptor: &Descriptor,
    sink: &mut F,
) -> Result<Pumped, RegistryError>
where
    F: FnMut(&[u8]) -> Result<(), E>,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut skip = position.saturating_sub(stream.start_offset());
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) if stream.ended_at_short_range() && skip == 0 => {
                return Ok(Pumped::ShortRange(error));
            }
            Err(error) => return Err(error),
        };
        let mut data: &[u8] = &chunk;
        if skip > 0 {
            let n = usize::try_from(skip).unwrap_or(usize::MAX).min(data.len());
            data = &data[n..];
            skip -= n as u64;
            *discarded += n as u64;
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
    Ok(Pumped::Complete)
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
///
/// A `206` must start at `offset` and state the blob's size as total when it states one; it
/// may end before the blob's last byte. Anything else is [`RegistryError::BadContentRange`],
/// after which the caller reads the blob from byte 0 (see [`is_refused_range`]).
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
            let Some(end) = value
                .and_then(ContentRange::parse)
                .and_then(|range| range.usable_for(offset, size))
            else {
                return Err(RegistryError::BadContentRange {
                    url: redact_url(response.url()),
                    offset,
                    value: value.unwrap_or("(missing)").to_owned(),
                });
            };
            Ok(BlobStream::new(response, offset, end, size))
        }
        StatusCode::OK => Ok(BlobStream::new(response, 0, size, size)),
        status => Err(RegistryError::InvalidResponse {
            what: "blob response",
            url: redact_url(response.url()),
            reason: format!("unexpected status {status}"),
        }),
    }
}

/// Whether opening a blob from an offset above 0 failed only because the server would not
/// serve that range (a `206` for other bytes, or `416 Range Not Satisfiable`): reading it
/// from byte 0 is the way on, as for a server that ignores `Range`.
pub(crate) fn is_refused_range(error: &RegistryError) -> bool {
    match error {
        RegistryError::BadContentRange { .. } => true,
        RegistryError::Status(status) => status.status == 416,
        RegistryError::GaveUp { source, .. } => is_refused_range(source),
        _ => false,
    }
}
