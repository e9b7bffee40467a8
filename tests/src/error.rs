//! The harness's single error type.

use std::path::PathBuf;

/// Everything that can go wrong while preparing or running a test fixture.
///
/// Every message names the failing step and, where there is one, the file or command involved,
/// so that a failed end-to-end test explains itself in its panic message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// An external program the end-to-end tests need is not installed.
    #[error(
        "`{tool}` is not installed or not on PATH ({hint}); \
         set IMGPULL_SKIP_E2E=1 to skip the end-to-end tests instead"
    )]
    ToolMissing {
        /// The program name, e.g. `skopeo`.
        tool: String,
        /// How to install it.
        hint: &'static str,
    },

    /// A file-system or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What the harness was doing, naming the path or address.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// rcgen could not generate a key or certificate.
    #[error("generating the {what} failed: {source}")]
    Certificate {
        /// Which key or certificate.
        what: &'static str,
        /// The underlying error.
        #[source]
        source: rcgen::Error,
    },

    /// ring rejected the token-signing key or could not sign.
    #[error("token signing with ring failed while {0}")]
    Signing(&'static str),

    /// rustls could not be configured (the readiness probe's client or the realm's server).
    #[error("configuring rustls failed: {0}")]
    Tls(#[from] rustls::Error),

    /// An external command ran but did not succeed.
    #[error("`{command}` exited with {status}: {stderr}")]
    Command {
        /// The command line, for copying into a shell.
        command: String,
        /// The exit status as printed by the operating system.
        status: String,
        /// The command's standard error (trimmed).
        stderr: String,
    },

    /// A command or file produced JSON that could not be parsed.
    #[error("parsing JSON from {what} failed: {source}")]
    Json {
        /// Where the JSON came from.
        what: String,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },

    /// The registry process did not come up.
    #[error("docker-registry did not start: {reason} (its log is at {})", log.display())]
    RegistryStart {
        /// Why the harness gave up.
        reason: String,
        /// The registry's stderr log.
        log: PathBuf,
    },

    /// A test asked for something the harness cannot build.
    #[error("invalid fixture request: {0}")]
    InvalidSpec(String),
}

/// Shorthand for results in this crate.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Builds a closure that wraps an `io::Error` with a description of the step that failed.
pub(crate) fn io_context(
    context: impl Into<String>,
) -> impl FnOnce(std::io::Error) -> HarnessError {
    let context = context.into();
    move |source| HarnessError::Io { context, source }
}
