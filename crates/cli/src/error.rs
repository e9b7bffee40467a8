//! The cli's error type and the one place where every failure becomes an exit code.
//!
//! Each library crate describes failures in its own terms; [`CliError::kind`] sorts them into the
//! documented exit codes and [`CliError::hint`] adds what the user can do about it.

use std::path::PathBuf;

use imgpull_blobstore::ErrorKind as BlobstoreKind;
use imgpull_registry::{ErrorKind as RegistryKind, RegistryError};
use serde::Serialize;

/// The classes of failure, each with its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad command line, config file or image reference: exit 2.
    Usage,
    /// Authentication or authorization refused (401/403, wrong credentials, scope): exit 3.
    Auth,
    /// Manifest, tag, repository or platform not found: exit 4.
    NotFound,
    /// Network or registry failure that retries did not cure, including 429: exit 5.
    Network,
    /// A digest or size mismatch: exit 6.
    Integrity,
    /// Anything else (disk full, permissions, …): exit 1.
    Other,
    /// Interrupted by Ctrl+C or SIGTERM: exit 130.
    Interrupted,
}

impl ErrorKind {
    /// The process exit code for this kind of failure.
    pub const fn exit_code(self) -> u8 {
        match self {
            Self::Other => 1,
            Self::Usage => 2,
            Self::Auth => 3,
            Self::NotFound => 4,
            Self::Network => 5,
            Self::Integrity => 6,
            Self::Interrupted => 130,
        }
    }
}

/// Every way an imgpull command can fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A usage error found after argument parsing (conflicting options, bad values).
    #[error("{0}")]
    Usage(String),
    /// The config file could not be parsed.
    #[error("config file {}: {message}", path.display())]
    Config {
        /// The config file.
        path: PathBuf,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A file operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "read the config file".
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The default output file exists and holds a different image.
    #[error("{} already exists and holds {existing}, not {wanted}", path.display())]
    OutputExists {
        /// The output path.
        path: PathBuf,
        /// What the existing file holds.
        existing: String,
        /// What this pull would write.
        wanted: String,
    },
    /// An image reference, digest or platform is malformed.
    #[error(transparent)]
    Reference(#[from] imgpull_reference::ReferenceError),
    /// A registry request failed.
    #[error(transparent)]
    Registry(#[from] imgpull_registry::RegistryError),
    /// Credentials could not be found or stored.
    #[error(transparent)]
    Auth(#[from] imgpull_auth::AuthError),
    /// The blob cache failed.
    #[error(transparent)]
    Blobstore(#[from] imgpull_blobstore::BlobstoreError),
    /// Writing or reading an archive failed.
    #[error(transparent)]
    Archive(#[from] imgpull_archive::ArchiveError),
    /// A manifest or index the registry served cannot be read.
    #[error("{what} is not a valid document: {reason}")]
    InvalidDocument {
        /// Which document, e.g. "index sha256:… of registry/repo:tag".
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An index lists no image to pull.
    #[error("{0}: the index lists no image (only attestations or nothing)")]
    NoImage(String),
    /// `cache verify` found corrupt blobs (and moved them out).
    #[error("the cache held {0} corrupt blob(s); they were moved to the quarantine")]
    CorruptCache(usize),
    /// A background task died (a bug: it panicked).
    #[error("internal error: a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Ctrl+C or SIGTERM.
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    /// The class of this failure, which decides the exit code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Usage(_)
            | Self::Config { .. }
            | Self::Reference(_)
            | Self::Blobstore(
                imgpull_blobstore::BlobstoreError::NotAStore { .. }
                | imgpull_blobstore::BlobstoreError::ForeignLayout { .. }
                | imgpull_blobstore::BlobstoreError::NoCacheDir,
            ) => ErrorKind::Usage,
            Self::Registry(error) => registry_kind(error),
            Self::NoImage(_) => ErrorKind::NotFound,
            Self::CorruptCache(_) => ErrorKind::Integrity,
            Self::Auth(_) => ErrorKind::Auth,
            Self::Blobstore(error) => match error.kind() {
                BlobstoreKind::Integrity => ErrorKind::Integrity,
                _ => ErrorKind::Other,
            },
            Self::Archive(error) if error.is_integrity() => ErrorKind::Integrity,
            Self::Io { .. }
            | Self::OutputExists { .. }
            | Self::InvalidDocument { .. }
            | Self::Archive(_)
            | Self::Task(_)
            | Self::Runtime(_) => ErrorKind::Other,
            Self::Interrupted => ErrorKind::Interrupted,
        }
    }

    /// What the user can do about it, when there is something useful to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::OutputExists { .. } => {
                Some("choose another name with -o, or pass --force".to_owned())
            }
            Self::Interrupted => Some(
                "verified blobs and partial downloads are kept; run the same command to resume"
                    .to_owned(),
            ),
            Self::Registry(error) => registry_hint(error),
            Self::Auth(_) => Some(
                "check the credentials given with --username or stored by `imgpull login`"
                    .to_owned(),
            ),
            Self::Blobstore(imgpull_blobstore::BlobstoreError::NotAStore { .. }) => {
                Some("--cache-dir must be an imgpull cache or an empty or new directory".to_owned())
            }
            Self::Blobstore(imgpull_blobstore::BlobstoreError::ForeignLayout { path }) => {
                Some(format!(
                    "use a new or empty directory as --cache-dir, and add this layout's images to it with `imgpull cache import {}`, which verifies them",
                    path.display()
                ))
            }
            Self::Blobstore(error) if error.is_integrity() => {
                Some("the bytes were discarded; pull again, and report it if it repeats".to_owned())
            }
            _ => None,
        }
    }

    /// The one-line message shown to the user: the cause, then the hint.
    pub fn line(&self) -> String {
        let mut line = one_line(&self.to_string());
        if let Some(hint) = self.hint() {
            line.push_str(" (hint: ");
            line.push_str(&hint);
            line.push(')');
        }
        line
    }
}

/// The exit class of a registry failure.
fn registry_kind(error: &RegistryError) -> ErrorKind {
    match error {
        RegistryError::InvalidOption { .. } | RegistryError::CaFile { .. } => ErrorKind::Usage,
        _ => match error.kind() {
            RegistryKind::Auth => ErrorKind::Auth,
            RegistryKind::NotFound => ErrorKind::NotFound,
            RegistryKind::RateLimited | RegistryKind::Network => ErrorKind::Network,
            RegistryKind::Integrity => ErrorKind::Integrity,
            _ => ErrorKind::Other,
        },
    }
}

/// What to do about a registry failure, where the registry crate's message has no hint yet.
fn registry_hint(error: &RegistryError) -> Option<String> {
    let hint = match error {
        RegistryError::Tls { .. } => {
            "pass the registry's CA with --ca-file, or --insecure-registry HOST:PORT"
        }
        RegistryError::Network { cause, .. } if cause.contains("certificate") => {
            "pass the registry's CA with --ca-file, or --insecure-registry HOST:PORT"
        }
        RegistryError::Network { .. }
        | RegistryError::Truncated { .. }
        | RegistryError::TimedOut { .. } => {
            "check the registry address and the network; rerunning resumes the downloads"
        }
        RegistryError::GaveUp { source, .. } | RegistryError::TokenRequest(source) => {
            return registry_hint(source);
        }
        RegistryError::DigestMismatch { .. } | RegistryError::SizeMismatch { .. } => {
            "the registry or a proxy served wrong bytes; nothing was kept"
        }
        _ => return None,
    };
    Some(hint.to_owned())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_the_documented_ones() {
        let table = [
            (ErrorKind::Other, 1),
            (ErrorKind::Usage, 2),
            (ErrorKind::Auth, 3),
            (ErrorKind::NotFound, 4),
            (ErrorKind::Network, 5),
            (ErrorKind::Integrity, 6),
            (ErrorKind::Interrupted, 130),
        ];
        for (kind, code) in table {
            assert_eq!(kind.exit_code(), code, "{kind:?}");
        }
    }

    #[test]
    fn kinds_serialize_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&ErrorKind::NotFound).expect("json"),
            "\"not_found\""
        );
        assert_eq!(
            serde_json::to_string(&ErrorKind::Auth).expect("json"),
            "\"auth\""
        );
    }

    #[test]
    fn cli_errors_map_to_kinds() {
        let io = || std::io::Error::other("disk full");
        assert_eq!(CliError::Usage("x".into()).kind(), ErrorKind::Usage);
        assert_eq!(
            CliError::Config {
                path: "c".into(),
                message: "m".into()
            }
            .kind(),
            ErrorKind::Usage
        );
        assert_eq!(
            CliError::Io {
                action: "write",
                path: "p".into(),
                source: io()
            }
            .kind(),
            ErrorKind::Other
        );
        assert_eq!(CliError::Interrupted.kind(), ErrorKind::Interrupted);
        assert_eq!(
            CliError::OutputExists {
                path: "a.tar".into(),
                existing: "x".into(),
                wanted: "y".into()
            }
            .kind(),
            ErrorKind::Other
        );
    }

    fn status(code: u16, host: &str) -> RegistryError {
        let mut status = imgpull_registry::StatusError::new(
            code,
            "GET",
            format!("https://{host}/v2/library/foo/manifests/latest"),
            host,
        );
        status.repository = Some("library/foo".to_owned());
        RegistryError::Status(Box::new(status))
    }

    fn code(error: impl Into<CliError>) -> u8 {
        error.into().kind().exit_code()
    }

    #[test]
    fn registry_errors_map_to_exit_codes() {
        assert_eq!(code(status(401, "registry-1.docker.io")), 3);
        assert_eq!(code(status(403, "ghcr.io")), 3);
        assert_eq!(code(status(404, "ghcr.io")), 4);
        assert_eq!(code(status(429, "registry-1.docker.io")), 5);
        assert_eq!(code(status(503, "ghcr.io")), 5);
        assert_eq!(code(status(400, "ghcr.io")), 1);
        let gave_up = |source| RegistryError::GaveUp {
            attempts: 5,
            elapsed: std::time::Duration::from_secs(3),
            source: Box::new(source),
        };
        assert_eq!(code(gave_up(status(429, "registry-1.docker.io"))), 5);
        assert_eq!(code(gave_up(status(401, "ghcr.io"))), 3);
        let digest = |bytes: &[u8]| imgpull_reference::Digest::sha256(bytes);
        assert_eq!(
            code(RegistryError::DigestMismatch {
                url: "u".into(),
                expected: digest(b"a"),
                actual: digest(b"b")
            }),
            6
        );
        assert_eq!(
            code(RegistryError::Truncated {
                url: "u".into(),
                received: 1,
                expected: 2
            }),
            5
        );
        assert_eq!(
            code(RegistryError::NoMatchingPlatform {
                reference: "r".into(),
                requested: Box::new(
                    imgpull_reference::Platform::parse("linux/s390x").expect("platform")
                ),
                available: Vec::new(),
            }),
            4
        );
        assert_eq!(
            code(RegistryError::InvalidOption {
                option: "--x".into(),
                reason: "r".into()
            }),
            2
        );
        assert_eq!(
            code(RegistryError::CaFile {
                path: "ca.pem".into(),
                reason: "r".into()
            }),
            2
        );
        assert_eq!(
            code(RegistryError::Auth {
                registry: "r".into(),
                reason: "bad".into()
            }),
            3
        );
    }

    #[test]
    fn hints_look_through_token_requests_and_timeouts() {
        let cut = RegistryError::Truncated {
            url: "u".into(),
            received: 1,
            expected: 2,
        };
        let line = CliError::from(RegistryError::TokenRequest(Box::new(cut))).line();
        assert!(line.contains("check the registry address"), "{line}");
        let line = CliError::from(RegistryError::TimedOut {
            limit: std::time::Duration::from_secs(120),
        })
        .line();
        assert!(line.contains("check the registry address"), "{line}");
    }

    #[test]
    fn hub_rate_limit_line_names_the_cause_and_the_way_out() {
        let line = CliError::from(status(429, "registry-1.docker.io")).line();
        assert!(
            line.contains("429") && line.contains("--registry-mirror"),
            "{line}"
        );
        let line = CliError::from(status(401, "registry-1.docker.io")).line();
        assert!(
            line.contains("library/foo") && line.contains("--username"),
            "{line}"
        );
    }

    #[test]
    fn other_crates_errors_map_to_exit_codes() {
        let digest = |bytes: &[u8]| imgpull_reference::Digest::sha256(bytes);
        let corrupt = imgpull_blobstore::BlobstoreError::DigestMismatch {
            expected: digest(b"a"),
            actual: digest(b"b"),
            expected_size: 1,
            actual_size: 1,
        };
        assert_eq!(code(corrupt), 6);
        let not_a_cache = imgpull_blobstore::BlobstoreError::NotAStore {
            path: "/home".into(),
        };
        assert_eq!(code(not_a_cache), 2);
        let missing = imgpull_blobstore::BlobstoreError::NotFound {
            digest: digest(b"a"),
        };
        assert_eq!(code(missing), 1);
        let archive = imgpull_archive::ArchiveError::DigestMismatch {
            what: "layer".into(),
            expected: digest(b"a"),
            actual: digest(b"b"),
        };
        assert_eq!(code(archive), 6);
        let reference = imgpull_reference::Reference::parse("Nginx").expect_err("uppercase");
        assert_eq!(code(reference), 2);
        assert_eq!(code(imgpull_auth::AuthError::MissingRealm), 3);
        assert_eq!(code(CliError::CorruptCache(2)), 6);
        assert_eq!(code(CliError::NoImage("r".into())), 4);
    }

    #[test]
    fn lines_carry_cause_and_hint_on_one_line() {
        let error = CliError::OutputExists {
            path: "nginx.tar".into(),
            existing: "docker.io/library/redis:7".into(),
            wanted: "docker.io/library/nginx:1.25".into(),
        };
        let line = error.line();
        assert!(
            line.contains("nginx.tar") && line.contains("redis:7") && line.contains("--force"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}
