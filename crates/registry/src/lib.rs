//! A client for the OCI distribution API (Docker registry HTTP API v2).
//!
//! It owns every network decision: scheme, TLS, mirrors, retries, redirects and auth
//! headers, and resolves multi-platform indexes to the chosen platform's image (linux on this
//! machine's architecture unless told otherwise), or to every platform's. It knows nothing about
//! files: blobs come out as streams of bytes, or through [`Client::download`], which hands
//! chunks to a caller's sink and resumes a broken body with `Range`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), imgpull_registry::RegistryError> {
//! use imgpull_reference::Reference;
//! use imgpull_registry::{ClientBuilder, PlatformChoice};
//!
//! let client = ClientBuilder::new().build()?;
//! let reference = Reference::parse("alpine:3.20").expect("valid reference");
//! let images = client.resolve(&reference, &PlatformChoice::Host).await?;
//! for layer in &images[0].layers {
//!     let mut received = 0_u64;
//!     client
//!         .download(&reference, layer, 0, |chunk: &[u8]| {
//!             received += chunk.len() as u64;
//!             Ok::<(), std::io::Error>(())
//!         })
//!         .await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Design notes:
//! - One `reqwest` client (rustls with the `ring` provider, HTTP/1.1 by default) shared by
//!   all requests; a second one without certificate verification exists only when some
//!   registry is named insecure. The environment's proxy (`HTTPS_PROXY`, `NO_PROXY`, …) is
//!   used, except for this machine's hosts, which are always reached directly (as Go's
//!   `ProxyFromEnvironment` does).
//! - `/v2/` is pinged once per endpoint; the scheme and auth challenge it reveals are kept.
//! - Redirects are followed by hand, so the `Authorization` header only ever goes to the
//!   registry's own origin, never to a CDN or S3 bucket; a token realm's redirects keep its
//!   credentials to the realm's own origin in the same way. A request that started on https
//!   follows a redirect to plain http on another machine only if that host is named insecure
//!   (stricter for foreign layer URLs, see [`OriginKind::Foreign`]).
//! - Manifests are asked of the registry's mirrors first, one attempt each, then of the
//!   registry itself.
//! - A blob comes from its origins in order ([`Client::blob_origins`]): the foreign layer
//!   URLs of its descriptor (https only, or plain http to this machine or a host named
//!   insecure; only for foreign and non-distributable layers; never with the registry's
//!   credentials), the mirrors, then the registry. A mirror or foreign URL gets one attempt
//!   (a host that refused the connection is skipped from then on); an origin that fails, or
//!   whose bytes fail verification ([`BlobOrigins::reject`]), hands over to the next; the
//!   registry's own answer is final.
//! - Retries (408, 429, 500, 502, 503, 504, connection errors, timeouts, resets) use
//!   exponential backoff with jitter, honour `Retry-After`, and are bounded in attempts and
//!   time (a mirror or foreign URL gets one attempt); authentication is retried at most
//!   once.

mod authn;
mod blob;
mod body;
mod builder;
mod client;
mod error;
mod manifest;
mod origin;
mod range;
mod redact;
mod retry;
mod tags;
mod tls;

pub use blob::BlobStream;
pub use builder::{ClientBuilder, DEFAULT_USER_AGENT};
pub use client::Client;
pub use error::{ErrorDetail, ErrorKind, HttpError, RegistryError, StatusError};
pub use manifest::{
    MAX_CONFIG_BYTES, MAX_DESCRIPTOR_SIZE, MAX_MANIFEST_BYTES, Manifest, PlatformChoice,
    ResolvedImage,
};
pub use origin::{BlobOrigin, BlobOrigins, OriginKind};
pub use range::ContentRange;
pub use redact::{redact_url, redact_url_str};
pub use retry::{RetryPolicy, is_retryable_status, parse_retry_after};
