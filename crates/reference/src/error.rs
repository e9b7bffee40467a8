//! The one error type of this crate.

use std::fmt;

/// Everything that can be wrong with a reference, a digest or a platform string.
///
/// Every message names the offending part and the whole input it came from, e.g.
/// ``invalid tag `Latest!` in `nginx:Latest!`: tags are [A-Za-z0-9_.-], at most 128 characters``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// The reference string was empty.
    #[error("empty image reference")]
    EmptyReference,

    /// The whole input is a 64-character hex string, which docker reserves for image IDs.
    #[error(
        "invalid reference `{input}`: a 64-character hexadecimal string is an image ID, not a repository name"
    )]
    ImageId {
        /// The input as given.
        input: String,
    },

    /// The registry host (the part before the first `/`) is malformed.
    #[error("invalid registry `{registry}` in `{input}`: {reason}")]
    InvalidRegistry {
        /// The registry part as given.
        registry: String,
        /// The whole reference as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The repository path contains uppercase letters.
    #[error("invalid repository `{repository}` in `{input}`: repository names must be lowercase")]
    UppercaseRepository {
        /// The repository path as given.
        repository: String,
        /// The whole reference as given.
        input: String,
    },

    /// A repository path component does not follow the distribution grammar.
    #[error("invalid repository `{repository}` in `{input}`: {reason}")]
    InvalidRepository {
        /// The repository path as given.
        repository: String,
        /// The whole reference as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The normalised name (`registry/repository`) is longer than 255 characters.
    #[error(
        "invalid reference `{input}`: the name `{name}` has {length} characters, at most 255 are allowed"
    )]
    NameTooLong {
        /// The normalised name.
        name: String,
        /// Its length in bytes.
        length: usize,
        /// The whole reference as given.
        input: String,
    },

    /// The tag does not follow the grammar `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    #[error("invalid tag `{tag}` in `{input}`: tags are [A-Za-z0-9_.-], at most 128 characters")]
    InvalidTag {
        /// The tag as given.
        tag: String,
        /// The whole reference as given (for [`Reference::with_tag`](crate::Reference::with_tag),
        /// the name followed by the rejected tag).
        input: String,
    },

    /// A digest string on its own is malformed.
    #[error("invalid digest `{digest}`: {fault}")]
    InvalidDigest {
        /// The digest as given.
        digest: String,
        /// What is wrong with it.
        fault: DigestFault,
    },

    /// The digest part of a reference is malformed.
    #[error("invalid digest `{digest}` in `{input}`: {fault}")]
    InvalidReferenceDigest {
        /// The digest part as given.
        digest: String,
        /// The whole reference as given.
        input: String,
        /// What is wrong with it.
        fault: DigestFault,
    },

    /// A platform string is malformed.
    #[error("invalid platform `{input}`: {reason}")]
    InvalidPlatform {
        /// The platform string as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// What exactly is wrong with a digest string.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DigestFault {
    /// There is no `algorithm:` prefix.
    MissingAlgorithm,
    /// The algorithm is well formed but not one this crate supports (`sha256`, `sha512`).
    UnknownAlgorithm(String),
    /// The algorithm part does not follow the digest grammar.
    MalformedAlgorithm,
    /// The hex part has the wrong length for its algorithm.
    WrongLength {
        /// The algorithm's name.
        algorithm: &'static str,
        /// The required number of hex characters.
        expected: usize,
        /// The number found.
        found: usize,
    },
    /// The hex part contains a character other than `0-9a-f`.
    NotLowercaseHex,
}

impl fmt::Display for DigestFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingAlgorithm => f.write_str(
                "a digest is `algorithm:hex`, e.g. `sha256:` followed by 64 hex characters",
            ),
            Self::UnknownAlgorithm(name) => {
                write!(
                    f,
                    "unsupported algorithm `{name}` (supported: sha256, sha512)"
                )
            }
            Self::MalformedAlgorithm => f.write_str("the algorithm name is malformed"),
            Self::WrongLength {
                algorithm,
                expected,
                found,
            } => write!(
                f,
                "{algorithm} digests have {expected} lowercase hex characters, found {found}"
            ),
            Self::NotLowercaseHex => {
                f.write_str("the hex part may contain only lowercase hex characters [0-9a-f]")
            }
        }
    }
}
