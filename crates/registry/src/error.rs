//! The crate's error type, its classification for exit codes, and the registry's own
//! error body (`{"errors": [{"code", "message", "detail"}]}`).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use imgpull_reference::{Digest, Platform};
use serde::Deserialize;

/// What kind of failure an error is; the cli maps each kind to an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Credentials missing, rejected or insufficient (401, 403, token failures).
    Auth,
    /// The repository, tag, digest or platform does not exist (404, no platform match).
    NotFound,
    /// The registry asked the client to slow down (429).
    RateLimited,
    /// The network or the server failed: connection errors, timeouts, resets, 5xx, a
    /// ranged answer for other bytes than asked for.
    Network,
    /// Bytes did not match their digest or size.
    Integrity,
    /// Something is malformed, unsupported or refused by policy: a manifest, a URL, an
    /// option, schema1, a redirect from https to plain http on another machine.
    Invalid,
    /// Anything else (other 4xx statuses, TLS set-up, a failing sink).
    Other,
}

/// One entry of a registry's error body, as the distribution spec defines it. Every field
/// is made printable (control characters escaped) and shortened, as it ends up on a
/// terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorDetail {
    /// The registry's error code, e.g. `MANIFEST_UNKNOWN` or `DENIED`.
    pub code: String,
    /// The human-readable message.
    pub message: String,
    /// The entry's extra structured detail as compact JSON text, when it has one (not
    /// `null`).
    pub detail: Option<String>,
}

/// One entry of the error body as it is parsed.
#[derive(Debug, Deserialize)]
struct RawErrorDetail {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    detail: Option<serde_json::Value>,
}

/// The error body of the distribution spec.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<RawErrorDetail>,
}

/// The most error entries kept from one body.
const MAX_ERROR_ENTRIES: usize = 8;

/// The most characters kept of an entry's code or message.
const MAX_ERROR_TEXT: usize = 512;

/// Parses a registry error body; anything that is not the spec's shape gives no entries.
/// The entries end up on a terminal, so codes, messages and details are made printable
/// (control characters, such as the escape sequences of a hostile server, become `\u{..}`)
/// and shortened, and at most a few entries are kept.
pub(crate) fn parse_error_body(body: &[u8]) -> Vec<ErrorDetail> {
    serde_json::from_slice::<ErrorBody>(body)
        .map(|body| body.errors)
        .unwrap_or_default()
        .into_iter()
        .take(MAX_ERROR_ENTRIES)
        .map(|entry| ErrorDetail {
            code: printable(&entry.code),
            message: printable(&entry.message),
            detail: entry
                .detail
                .filter(|detail| !detail.is_null())
                .map(|detail| printable(&detail.to_string())),
        })
        .collect()
}

/// `text` with control characters escaped, cut to [`MAX_ERROR_TEXT`] characters.
fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_ERROR_TEXT));
    for (count, c) in text.chars().enumerate() {
        if count == MAX_ERROR_TEXT {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// An HTTP status that ended a request, with everything needed to explain it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StatusError {
    /// The HTTP status code.
    pub status: u16,
    /// The request method.
    pub method: String,
    /// The request URL with credentials and tokens redacted.
    pub url: String,
    /// The host (and port) that answered.
    pub host: String,
    /// The repository the request was about, if any.
    pub repository: Option<String>,
    /// The registry's error entries from the body.
    pub errors: Vec<ErrorDetail>,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
    /// Whether the request carried credentials (a token or basic auth).
    pub authenticated: bool,
}

impl StatusError {
    /// A status answered by `host` to `method url` (already redacted), with no repository,
    /// error entries, `Retry-After` or credentials; the public fields say more.
    pub fn new(
        status: u16,
        method: impl Into<String>,
        url: impl Into<String>,
        host: impl Into<String>,
    ) -> Self {
        Self {
            status,
            method: method.into(),
            url: url.into(),
            host: host.into(),
            repository: None,
            errors: Vec::new(),
            retry_after: None,
            authenticated: false,
        }
    }

    /// A hint that tells the user what to do about this status.
    fn hint(&self) -> Option<&'static str> {
        let docker_hub = self.host.ends_with("docker.io");
        match self.status {
            401 if self.authenticated => Some("the registry rejected the credentials"),
            401 => Some("repository does not exist or may require --username"),
            403 => Some("access denied; check that the credentials may pull this repository"),
            404 => Some("not found in the registry"),
            429 if docker_hub => {
                Some("Docker Hub's anonymous pull limit; log in or use --registry-mirror")
            }
            429 => Some("the registry is rate limiting; retry later"),
            500..=599 => Some("the registry is failing; retry later"),
            _ => None,
        }
    }
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if let Some(reason) = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
        {
            write!(f, " {reason}")?;
        }
        write!(f, " from {}", self.host)?;
        if let Some(repository) = &self.repository {
            write!(f, " for {repository}")?;
        }
        write!(f, " ({} {})", self.method, self.url)?;
        let mut separator = ": ";
        for entry in &self.errors {
            f.write_str(separator)?;
            separator = "; ";
            match (entry.code.is_empty(), entry.message.is_empty()) {
                (false, false) => write!(f, "{}: {}", entry.code, entry.message)?,
                (false, true) => f.write_str(&entry.code)?,
                (true, _) => f.write_str(&entry.message)?,
            }
            if let Some(detail) = &entry.detail {
                write!(f, " ({detail})")?;
            }
        }
        if let Some(hint) = self.hint() {
            write!(f, "{separator}{hint}")?;
        }
        Ok(())
    }
}

/// Every way a registry operation can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The server answered with an error status.
    #[error("{0}")]
    Status(Box<StatusError>),

    /// The request could not be sent or its body could not be read.
    #[error("{method} {url} failed while {during}: {cause}")]
    Network {
        /// The request method.
        method: String,
        /// The redacted URL.
        url: String,
        /// What was happening: "sending the request" or "reading the body".
        during: &'static str,
        /// The innermost cause, for the message.
        cause: String,
        /// The HTTP client's error (its URL removed).
        #[source]
        source: HttpError,
    },

    /// A body ended before its announced or expected length.
    #[error("the body of {url} ended after {received} of {expected} bytes")]
    Truncated {
        /// The redacted URL.
        url: String,
        /// Bytes received.
        received: u64,
        /// Bytes expected.
        expected: u64,
    },

    /// The client gave up retrying a transient failure.
    #[error("gave up after {attempts} attempts in {:.1}s: {source}", elapsed.as_secs_f64())]
    GaveUp {
        /// How many attempts were made.
        attempts: u32,
        /// The time spent.
        elapsed: Duration,
        /// The last failure.
        #[source]
        source: Box<RegistryError>,
    },

    /// A request (with its retries) took longer than the retry policy's total time, e.g. a
    /// server that sends a small body a byte at a time.
    #[error("no complete answer within {:.1}s (the retry policy's total time)", limit.as_secs_f64())]
    TimedOut {
        /// The retry policy's total time.
        limit: Duration,
    },

    /// Authentication could not be performed (token endpoint, challenge or credentials).
    #[error("authentication with {registry} failed: {reason}")]
    Auth {
        /// The registry host.
        registry: String,
        /// What went wrong.
        reason: String,
    },

    /// A challenge, token response or credential source could not be used.
    #[error("authentication with {registry} failed: {source}")]
    AuthProtocol {
        /// The registry (or token realm) host.
        registry: String,
        /// What the auth crate reported.
        #[source]
        source: imgpull_auth::AuthError,
    },

    /// A token request failed (its own retries already spent): final for the request that
    /// needed the token, so that retries do not multiply.
    #[error(transparent)]
    TokenRequest(Box<RegistryError>),

    /// A response body was larger than allowed.
    #[error("the body of {url} is larger than the {limit}-byte limit")]
    TooLarge {
        /// The redacted URL.
        url: String,
        /// The limit in bytes.
        limit: u64,
    },

    /// Content did not hash to the digest it was asked for or announced with.
    #[error("digest mismatch for {url}: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The redacted URL.
        url: String,
        /// The digest that was expected.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },

    /// Content did not have the size its descriptor states.
    #[error("size mismatch for {url}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The redacted URL.
        url: String,
        /// The descriptor's size.
        expected: u64,
        /// The number of bytes received.
        actual: u64,
    },

    /// A ranged request got a partial answer that does not match what was asked.
    #[error("bad Content-Range from {url} for a request from byte {offset}: {value}")]
    BadContentRange {
        /// The redacted URL.
        url: String,
        /// The offset that was requested.
        offset: u64,
        /// The header value received (or a note that it was missing).
        value: String,
    },

    /// The registry served a schema1 manifest.
    #[error(
        "{reference}: schema1 images are deprecated; the registry served a schema1 manifest, which imgpull does not support (re-push the image with a current client)"
    )]
    Schema1 {
        /// The image reference.
        reference: String,
    },

    /// The registry served a manifest of a type that is not an image manifest or index.
    #[error("{reference}: unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        /// The image reference.
        reference: String,
        /// The media type received.
        media_type: String,
    },

    /// A manifest, index, config or JSON answer could not be parsed.
    #[error("invalid {what} from {url}: {reason}")]
    InvalidResponse {
        /// What was being parsed ("manifest", "image config", "tag list", ...).
        what: &'static str,
        /// The redacted URL.
        url: String,
        /// The parser's message.
        reason: String,
    },

    /// No entry of an index matches the requested platform.
    #[error(
        "{reference}: no image for platform {requested}; available: {}",
        join_platforms(available)
    )]
    NoMatchingPlatform {
        /// The image reference.
        reference: String,
        /// The requested platform.
        requested: Box<Platform>,
        /// The platforms the index offers (attestations and `unknown/unknown` left out).
        available: Vec<Platform>,
    },

    /// A single-platform image is for another platform than the one requested.
    #[error(
        "{reference}: the image is for {}, not for the requested {}",
        platform_text(found),
        platform_text(requested)
    )]
    PlatformMismatch {
        /// The image reference.
        reference: String,
        /// The requested platform.
        requested: Box<Platform>,
        /// The platform the image's config states.
        found: Box<Platform>,
    },

    /// A redirect could not be followed: it was malformed, there were too many, or policy
    /// refused it (from https to plain http on another machine; the message names the
    /// `--insecure-registry` option that allows it). Never retried.
    #[error("bad redirect from {url}: {reason}")]
    Redirect {
        /// The redacted URL that redirected.
        url: String,
        /// Why it could not be followed.
        reason: String,
    },

    /// A redirect target on another origin (the CDN or object store a registry sends blobs
    /// from) answered 401 or 403: it refused its signed URL. The registry's credentials play
    /// no part there, so the request is sent to the registry again for a new URL.
    #[error(
        "{status} from {host}, where {registry} redirected {method} {url}: the redirect target \
         refused its signed URL (not a credentials problem; the registry's storage may be failing)"
    )]
    RedirectRefused {
        /// The status the redirect target answered (401 or 403).
        status: u16,
        /// The redirect target's host (and port).
        host: String,
        /// The registry or mirror host that redirected.
        registry: String,
        /// The request method.
        method: String,
        /// The redacted URL of the request to the registry.
        url: String,
    },

    /// A URL could not be built or parsed.
    #[error("invalid URL {url}: {reason}")]
    InvalidUrl {
        /// The redacted URL text.
        url: String,
        /// The parser's message.
        reason: String,
    },

    /// A client option is invalid (insecure registry, mirror).
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// The option and value.
        option: String,
        /// Why it is invalid.
        reason: String,
    },

    /// A `--ca-file` could not be read.
    #[error("cannot use CA file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },

    /// The TLS configuration could not be built.
    #[error("TLS set-up failed: {reason}")]
    Tls {
        /// The TLS library's message.
        reason: String,
    },

    /// The HTTP client could not be built.
    #[error("HTTP client set-up failed: {0}")]
    Client(#[source] HttpError),

    /// The caller's sink refused a chunk of a download.
    #[error("writing the download of {digest} failed: {source}")]
    Sink {
        /// The blob being downloaded.
        digest: Digest,
        /// The sink's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// `os/architecture[/variant]`, and the OS version when there is one.
fn platform_text(platform: &Platform) -> String {
    match &platform.os_version {
        Some(version) => format!("{platform} (os.version {version})"),
        None => platform.to_string(),
    }
}

fn join_platforms(platforms: &[Platform]) -> String {
    if platforms.is_empty() {
        return "none".to_owned();
    }
    platforms
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl RegistryError {
    /// Classifies the error for exit codes and for the user.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Status(status) => match status.status {
                401 | 403 => ErrorKind::Auth,
                404 => ErrorKind::NotFound,
                429 => ErrorKind::RateLimited,
                408 | 500..=599 => ErrorKind::Network,
                _ => ErrorKind::Other,
            },
            Self::Network { .. }
            | Self::Truncated { .. }
            | Self::RedirectRefused { .. }
            | Self::TimedOut { .. }
            // A range the server would not serve is its failure, not the bytes': a download
            // reads the blob from byte 0 instead (see `open_at`).
            | Self::BadContentRange { .. } => ErrorKind::Network,
            Self::GaveUp { source, .. } | Self::TokenRequest(source) => source.kind(),
            Self::Auth { .. } | Self::AuthProtocol { .. } => ErrorKind::Auth,
            Self::DigestMismatch { .. } | Self::SizeMismatch { .. } => ErrorKind::Integrity,
            Self::NoMatchingPlatform { .. } | Self::PlatformMismatch { .. } => ErrorKind::NotFound,
            Self::TooLarge { .. }
            | Self::Schema1 { .. }
            | Self::UnsupportedMediaType { .. }
            | Self::InvalidResponse { .. }
            | Self::InvalidUrl { .. }
            | Self::InvalidOption { .. }
            // A redirect refused by policy (https to plain http on another machine, which
            // `--insecure-registry` allows) or malformed: trying again changes nothing.
            | Self::Redirect { .. }
            | Self::CaFile { .. } => ErrorKind::Invalid,
            Self::Tls { .. } | Self::Client(_) | Self::Sink { .. } => ErrorKind::Other,
        }
    }

    /// The HTTP status behind this error, if a server answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status(status) => Some(status.status),
            Self::GaveUp { source, .. } | Self::TokenRequest(source) => source.status(),
            _ => None,
        }
    }

    /// The registry's error entries (`errors[]` of the body), if any.
    pub fn registry_errors(&self) -> &[ErrorDetail] {
        match self {
            Self::Status(status) => &status.errors,
            Self::GaveUp { source, .. } | Self::TokenRequest(source) => source.registry_errors(),
            _ => &[],
        }
    }

    /// The (redacted) URL no connection could be made to (refused, timed out, unreachable),
    /// when that is why the request failed: its host is not there, as opposed to a host that
    /// answered badly.
    pub(crate) fn connect_failure_url(&self) -> Option<&str> {
        match self {
            Self::Network { source, url, .. } if is_connect_failure(&source.0) => Some(url),
            Self::GaveUp { source, .. } => source.connect_failure_url(),
            _ => None,
        }
    }

    /// Whether retrying the same request may succeed, and the server's requested wait.
    pub(crate) fn retry_decision(&self) -> Retry {
        self.retry_decision_for(true)
    }

    /// [`Self::retry_decision`] for a request that is `idempotent` or not. A request that is
    /// not (a token `POST`, which may rotate a refresh token) is sent again only when the
    /// server surely did not act on it: the connection was never made, or it answered 408,
    /// 429 or 503.
    pub(crate) fn retry_decision_for(&self, idempotent: bool) -> Retry {
        if !idempotent {
            return match self {
                Self::Status(status) if matches!(status.status, 408 | 429 | 503) => {
                    Retry::After(status.retry_after)
                }
                Self::Network { source, .. } if is_connect_failure(&source.0) => Retry::After(None),
                _ => Retry::No,
            };
        }
        match self {
            Self::Status(status) if crate::retry::is_retryable_status(status.status) => {
                Retry::After(status.retry_after)
            }
            Self::Network { source, .. } if is_transient(&source.0) => Retry::After(None),
            Self::Truncated { .. } | Self::RedirectRefused { .. } => Retry::After(None),
            _ => Retry::No,
        }
    }

    /// Builds a network error from a reqwest error, keeping the URL out of the cause.
    pub(crate) fn network(
        method: &reqwest::Method,
        url: &url::Url,
        during: &'static str,
        source: reqwest::Error,
    ) -> Self {
        let source = source.without_url();
        Self::Network {
            method: method.to_string(),
            url: crate::redact::redact_url(url),
            during,
            cause: innermost_cause(&source),
            source: HttpError::new(source),
        }
    }
}

/// An error of the HTTP client, kept opaque so that the client library is not part of this
/// crate's API. Its message is the client's; [`std::error::Error::source`] gives the causes
/// below it. Whether it is transient is decided inside the crate
/// ([`RegistryError::kind`] and the retries).
#[derive(Debug)]
pub struct HttpError(reqwest::Error);

impl HttpError {
    pub(crate) fn new(error: reqwest::Error) -> Self {
        Self(error)
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0)
    }
}

/// Whether a request may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Final; do not retry.
    No,
    /// Transient; retry, after at least the given wait when the server asked for one.
    After(Option<Duration>),
}

/// The message of the deepest error in a chain, which names the real cause
/// ("connection refused", "invalid peer certificate: UnknownIssuer").
fn innermost_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Whether a transport error happened before any connection was made (so nothing of the
/// request reached the server). TLS failures are not counted: they do not go away.
fn is_connect_failure(error: &reqwest::Error) -> bool {
    error.is_connect() && is_transient(error)
}

/// Whether a transport error is transient: connection failures, timeouts, resets and
/// bodies that break off are; TLS errors (a bad certificate stays bad) and requests that
/// cannot be built are not. The whole `source()` chain is examined, because the HTTP
/// client wraps a broken body in other error kinds.
fn is_transient(error: &reqwest::Error) -> bool {
    if error.is_builder() || error.is_redirect() {
        return false;
    }
    let mut transient = false;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return false;
        }
        if let Some(reqwest_error) = err.downcast_ref::<reqwest::Error>() {
            transient |= reqwest_error.is_connect()
                || reqwest_error.is_timeout()
                || reqwest_error.is_request()
                || reqwest_error.is_body();
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return false;
            }
            transient |= matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::Interrupted
            );
        }
        current = err.source();
    }
    transient
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn status(code: u16, host: &str, authenticated: bool) -> RegistryError {
        RegistryError::Status(Box::new(StatusError {
            status: code,
            method: "GET".into(),
            url: format!("https://{host}/v2/library/foo/manifests/latest"),
            host: host.into(),
            repository: Some("library/foo".into()),
            errors: parse_error_body(
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository"}]}]}"#,
            ),
            retry_after: None,
            authenticated,
        }))
    }

    #[test]
    fn status_messages_name_host_repository_body_and_hint() {
        let msg = status(401, "registry-1.docker.io", false).to_string();
        assert!(
            msg.starts_with("401 Unauthorized from registry-1.docker.io for library/foo"),
            "{msg}"
        );
        assert!(
            msg.contains("UNAUTHORIZED: authentication required"),
            "{msg}"
        );
        assert!(
            msg.ends_with("repository does not exist or may require --username"),
            "{msg}"
        );
        let msg = status(401, "ghcr.io", true).to_string();
        assert!(
            msg.ends_with("the registry rejected the credentials"),
            "{msg}"
        );
        let msg = status(429, "registry-1.docker.io", false).to_string();
        assert!(msg.contains("Docker Hub's anonymous pull limit"), "{msg}");
    }

    #[test]
    fn kinds_follow_statuses() {
        assert_eq!(status(401, "h", false).kind(), ErrorKind::Auth);
        assert_eq!(status(403, "h", true).kind(), ErrorKind::Auth);
        assert_eq!(status(404, "h", false).kind(), ErrorKind::NotFound);
        assert_eq!(status(429, "h", false).kind(), ErrorKind::RateLimited);
        assert_eq!(status(503, "h", false).kind(), ErrorKind::Network);
        assert_eq!(status(418, "h", false).kind(), ErrorKind::Other);
        let gave_up = RegistryError::GaveUp {
            attempts: 5,
            elapsed: Duration::from_secs(3),
            source: Box::new(status(429, "h", false)),
        };
        assert_eq!(gave_up.kind(), ErrorKind::RateLimited);
        assert_eq!(gave_up.status(), Some(429));
        assert_eq!(gave_up.registry_errors().len(), 1);
    }

    #[test]
    fn error_details_are_printable_and_short_in_the_message() {
        let body = format!(
            r#"{{"errors":[{{"code":"DENIED","message":"no","detail":{{"why":"\u001b[2J{}"}}}},{{"code":"NULL","detail":null}}]}}"#,
            "d".repeat(70_000)
        );
        let entries = parse_error_body(body.as_bytes());
        let detail = entries[0].detail.as_deref().unwrap();
        assert!(detail.starts_with(r#"{"why":"\u001b[2Jddd"#), "{detail}");
        assert!(!detail.contains('\u{1b}'), "{detail}");
        assert_eq!(detail.chars().count(), MAX_ERROR_TEXT + 1);
        assert_eq!(entries[1].detail, None);
        let mut error = StatusError::new(403, "GET", "https://h/v2/", "h");
        error.errors = entries;
        let message = RegistryError::Status(Box::new(error)).to_string();
        assert!(!message.contains('\u{1b}'), "{message}");
        assert!(message.len() < 2 * MAX_ERROR_TEXT + 200, "{message}");
        assert!(message.contains("DENIED: no ({\"why\""), "{message}");
    }

    #[test]
    fn error_bodies_parse_leniently() {
        assert!(parse_error_body(b"<html>").is_empty());
        assert!(parse_error_body(b"{}").is_empty());
        let entries = parse_error_body(br#"{"errors":[{"code":"DENIED"}]}"#);
        assert_eq!(entries[0].code, "DENIED");
        assert_eq!(entries[0].message, "");
    }

    #[test]
    fn error_entries_are_printable_short_and_few() {
        let body = format!(
            r#"{{"errors":[{{"code":"X\u001b[2J","message":"{}"}}{}]}}"#,
            "m".repeat(10_000),
            r#",{"code":"MORE"}"#.repeat(20)
        );
        let entries = parse_error_body(body.as_bytes());
        assert_eq!(entries.len(), MAX_ERROR_ENTRIES);
        assert_eq!(entries[0].code, "X\\u{1b}[2J");
        assert!(!entries[0].code.contains('\u{1b}'));
        assert_eq!(entries[0].message.chars().count(), MAX_ERROR_TEXT + 1);
        assert!(entries[0].message.ends_with('…'));
    }

    #[test]
    fn a_range_the_server_would_not_serve_is_a_network_failure() {
        let error = RegistryError::BadContentRange {
            url: "u".into(),
            offset: 1,
            value: "bytes 0-1/2".into(),
        };
        assert_eq!(error.kind(), ErrorKind::Network);
        assert_eq!(error.retry_decision(), Retry::No, "read from 0 instead");
    }

    #[test]
    fn a_redirect_refused_by_policy_is_invalid_and_not_retried() {
        let error = RegistryError::Redirect {
            url: "https://registry.example/v2/".into(),
            reason: "a request started on https was sent to plain http on another machine".into(),
        };
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert_eq!(error.retry_decision(), Retry::No);
    }

    #[test]
    fn retry_decisions() {
        assert_eq!(status(404, "h", false).retry_decision(), Retry::No);
        assert_eq!(status(503, "h", false).retry_decision(), Retry::After(None));
        let truncated = RegistryError::Truncated {
            url: "u".into(),
            received: 1,
            expected: 2,
        };
        assert_eq!(truncated.retry_decision(), Retry::After(None));
    }

    #[test]
    fn a_refused_redirect_is_a_retried_network_error_naming_both_hosts() {
        let refused = RegistryError::RedirectRefused {
            status: 403,
            host: "cdn.example".into(),
            registry: "registry.example".into(),
            method: "GET".into(),
            url: "https://registry.example/v2/a/blobs/sha256:00".into(),
        };
        assert_eq!(refused.kind(), ErrorKind::Network);
        assert_eq!(refused.retry_decision(), Retry::After(None));
        assert_eq!(refused.retry_decision_for(false), Retry::No);
        let message = refused.to_string();
        assert!(
            message.starts_with("403 from cdn.example, where registry.example redirected GET"),
            "{message}"
        );
        assert!(!message.contains("--username"), "{message}");
    }

    #[test]
    fn requests_that_are_not_idempotent_are_retried_only_when_surely_not_acted_on() {
        for code in [408, 429, 503] {
            assert_eq!(
                status(code, "h", false).retry_decision_for(false),
                Retry::After(None),
                "{code}"
            );
        }
        for code in [500, 502, 504, 400, 401] {
            assert_eq!(
                status(code, "h", false).retry_decision_for(false),
                Retry::No,
                "{code}"
            );
        }
        let truncated = RegistryError::Truncated {
            url: "u".into(),
            received: 1,
            expected: 2,
        };
        assert_eq!(truncated.retry_decision_for(false), Retry::No);
        assert_eq!(
            status(500, "h", false).retry_decision_for(true),
            Retry::After(None)
        );
    }
}
