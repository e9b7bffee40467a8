//! The crate's error type.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in `imgpull-auth`.
///
/// Messages name the cause and where it happened (which header, file, or credential helper).
/// They never contain a password, token or `auth` field: only usernames, registry names,
/// paths and helper names, which are not secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A `WWW-Authenticate` header value does not follow RFC 7235.
    #[error("invalid WWW-Authenticate header {header:?} at byte {position}: {reason}")]
    InvalidChallenge {
        /// The header value as received.
        header: String,
        /// Byte offset in `header` where parsing failed.
        position: usize,
        /// What was expected there.
        reason: &'static str,
    },

    /// A challenge given to [`crate::BearerChallenge::from_challenge`] is not a `Bearer` one.
    #[error("expected a Bearer challenge, got scheme {scheme}")]
    NotBearer {
        /// The scheme of the challenge.
        scheme: String,
    },

    /// A `Bearer` challenge has no `realm` parameter.
    #[error("Bearer challenge has no realm parameter")]
    MissingRealm,

    /// The `realm` of a `Bearer` challenge is not a URL.
    #[error("Bearer challenge realm {realm:?} is not a valid URL: {source}")]
    InvalidRealm {
        /// The realm as received.
        realm: String,
        /// Why the URL parser rejected it.
        source: url::ParseError,
    },

    /// The `realm` of a `Bearer` challenge is a URL whose scheme is neither `http` nor `https`.
    #[error(
        "Bearer challenge realm {realm} uses scheme {scheme:?}; only http and https are allowed"
    )]
    UnsupportedRealmScheme {
        /// The realm as received.
        realm: String,
        /// Its scheme.
        scheme: String,
    },

    /// A scope string is not `type:name:actions`.
    #[error("invalid scope {scope:?}: {reason}")]
    InvalidScope {
        /// The scope as given.
        scope: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A token response body is larger than [`crate::MAX_TOKEN_RESPONSE_BYTES`].
    #[error("token response of {size} bytes exceeds the limit of {limit} bytes")]
    TokenResponseTooLarge {
        /// Size of the body received.
        size: usize,
        /// The limit.
        limit: usize,
    },

    /// A token response body is not the JSON the Docker token spec describes.
    #[error("invalid token response: {reason}")]
    InvalidTokenResponse {
        /// What is wrong (never quotes the body).
        reason: String,
        /// The JSON syntax error, if that was the cause.
        #[source]
        source: Option<serde_json::Error>,
    },

    /// Only one of `IMGPULL_USERNAME` and `IMGPULL_PASSWORD` is set.
    #[error("environment variable {present} is set but {missing} is not; set both or neither")]
    IncompleteEnvironment {
        /// The variable that is set.
        present: &'static str,
        /// The variable that is missing.
        missing: &'static str,
    },

    /// A docker config or containers auth file could not be read.
    #[error("cannot read auth file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },

    /// A docker config or containers auth file is not the expected JSON.
    #[error("auth file {path} is invalid: {reason}")]
    InvalidAuthFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
        /// The JSON syntax error, if that was the cause.
        #[source]
        source: Option<serde_json::Error>,
    },

    /// An entry of an auth file holds credentials that cannot be decoded.
    #[error("auth file {path}: entry {key:?} is invalid: {reason}")]
    InvalidAuthEntry {
        /// The file.
        path: PathBuf,
        /// The key of the entry under `auths`.
        key: String,
        /// What is wrong (never the value).
        reason: &'static str,
    },

    /// A credential helper name from a config file would not name a program in a search path.
    #[error(
        "invalid credential helper name {helper:?} in {path}: it must not contain path separators"
    )]
    InvalidHelperName {
        /// The name as configured.
        helper: String,
        /// The file that configures it.
        path: PathBuf,
    },

    /// The program `docker-credential-<helper>` is not in the search path.
    #[error(
        "credential helper docker-credential-{helper} (configured in {path}) was not found in PATH"
    )]
    HelperNotFound {
        /// The helper name (without the `docker-credential-` prefix).
        helper: String,
        /// The file that configures it.
        path: PathBuf,
    },

    /// A credential helper could not be started or talked to.
    #[error("cannot run credential helper {program} {action}: {source}")]
    HelperIo {
        /// The helper program.
        program: PathBuf,
        /// `get`, `store` or `erase`.
        action: &'static str,
        /// The I/O error.
        source: io::Error,
    },

    /// A credential helper exited with a failure other than "credentials not found".
    #[error("credential helper {program} {action} for {server} failed ({status}): {message}")]
    HelperFailed {
        /// The helper program.
        program: PathBuf,
        /// `get`, `store` or `erase`.
        action: &'static str,
        /// The server URL given to the helper.
        server: String,
        /// The exit status.
        status: std::process::ExitStatus,
        /// The helper's own error message (its output, trimmed and shortened).
        message: String,
    },

    /// A credential helper's `get` output is not `{"ServerURL","Username","Secret"}` JSON.
    #[error("credential helper {program} returned invalid output for {server}: {reason}")]
    HelperOutput {
        /// The helper program.
        program: PathBuf,
        /// The server URL given to the helper.
        server: String,
        /// What is wrong (never the output itself).
        reason: &'static str,
    },

    /// A username given to [`crate::store_login`] cannot be stored for basic authentication.
    #[error("invalid username {username:?}: {reason}")]
    InvalidUsername {
        /// The username.
        username: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A docker config file could not be written.
    #[error("cannot write auth file {path}: {source}")]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}
