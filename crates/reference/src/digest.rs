//! Content digests (`sha256:…`, `sha512:…`), validated on construction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

use crate::error::{DigestFault, ReferenceError};

/// A digest algorithm registered by the OCI image specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-256, the algorithm every registry supports.
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in digest strings (`sha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    /// The number of hex characters of a digest of this algorithm (64 for SHA-256).
    pub fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }

    /// A new incremental hasher for this algorithm.
    pub fn hasher(self) -> Hasher {
        match self {
            Self::Sha256 => Hasher(HasherState::Sha256(sha2::Sha256::new())),
            Self::Sha512 => Hasher(HasherState::Sha512(sha2::Sha512::new())),
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A validated content digest: an [`Algorithm`] and its lowercase hex encoding.
///
/// Because the hex part is checked to be exactly [`Algorithm::hex_len`] characters of `[0-9a-f]`,
/// [`Digest::hex`] is always safe to use as a file name.
///
/// ```
/// use imgpull_reference::{Algorithm, Digest};
///
/// let d = Digest::sha256(b"hello");
/// assert_eq!(d.algorithm(), Algorithm::Sha256);
/// assert_eq!(
///     d.to_string(),
///     "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
/// );
/// assert_eq!(d, d.to_string().parse::<Digest>()?);
/// assert!("sha256:ABC".parse::<Digest>().is_err());
/// # Ok::<(), imgpull_reference::ReferenceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Parses and validates `algorithm:hex`.
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        Self::parse_fault(s).map_err(|fault| ReferenceError::InvalidDigest {
            digest: s.to_owned(),
            fault,
        })
    }

    /// Parses a digest, reporting only what is wrong (the caller adds the context).
    pub(crate) fn parse_fault(s: &str) -> Result<Self, DigestFault> {
        let (name, hex) = s.split_once(':').ok_or(DigestFault::MissingAlgorithm)?;
        if !is_algorithm_grammar(name) {
            return Err(DigestFault::MalformedAlgorithm);
        }
        let algorithm =
            Algorithm::from_name(name).ok_or_else(|| DigestFault::UnknownAlgorithm(name.into()))?;
        if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestFault::NotLowercaseHex);
        }
        if hex.len() != algorithm.hex_len() {
            return Err(DigestFault::WrongLength {
                algorithm: algorithm.as_str(),
                expected: algorithm.hex_len(),
                found: hex.len(),
            });
        }
        Ok(Self {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    /// The SHA-256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self::from_sha256_bytes(sha2::Sha256::digest(bytes).into())
    }

    /// The SHA-512 digest of `bytes`.
    pub fn sha512(bytes: &[u8]) -> Self {
        let mut hasher = Algorithm::Sha512.hasher();
        hasher.update(bytes);
        hasher.finish()
    }

    /// The digest of `bytes` with `algorithm`.
    pub fn compute(algorithm: Algorithm, bytes: &[u8]) -> Self {
        let mut hasher = algorithm.hasher();
        hasher.update(bytes);
        hasher.finish()
    }

    /// A SHA-256 digest from its 32 raw bytes.
    pub fn from_sha256_bytes(bytes: [u8; 32]) -> Self {
        Self {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(bytes),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoding; safe as a file name.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Whether `bytes` hash to this digest.
    pub fn verify(&self, bytes: &[u8]) -> bool {
        Self::compute(self.algorithm, bytes) == *self
    }
}

/// `[a-z0-9]+([+._-][a-z0-9]+)*` from the OCI digest grammar.
fn is_algorithm_grammar(name: &str) -> bool {
    !name.is_empty()
        && name.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An incremental hasher that produces a [`Digest`]; feed it with [`Hasher::update`] or
/// through its [`std::io::Write`] implementation.
///
/// ```
/// use imgpull_reference::{Algorithm, Digest};
///
/// let mut hasher = Algorithm::Sha256.hasher();
/// hasher.update(b"hel");
/// hasher.update(b"lo");
/// assert_eq!(hasher.finish(), Digest::sha256(b"hello"));
/// ```
#[derive(Clone)]
pub struct Hasher(HasherState);

#[derive(Clone)]
enum HasherState {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// Adds `bytes` to the hashed data.
    pub fn update(&mut self, bytes: &[u8]) {
        match &mut self.0 {
            HasherState::Sha256(h) => h.update(bytes),
            HasherState::Sha512(h) => h.update(bytes),
        }
    }

    /// The algorithm of this hasher.
    pub fn algorithm(&self) -> Algorithm {
        match self.0 {
            HasherState::Sha256(_) => Algorithm::Sha256,
            HasherState::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self.0 {
            HasherState::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            HasherState::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
