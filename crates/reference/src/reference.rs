//! Image references: `[registry[:port]/]path[:tag][@digest]`, normalised as docker does it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::digest::Digest;
use crate::error::ReferenceError;

/// The registry that names without a registry part refer to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that serves the registry API for [`DOCKER_HUB`].
pub const DOCKER_HUB_API_HOST: &str = "registry-1.docker.io";
/// The tag implied when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// The longest allowed normalised name (`registry/repository`), in bytes.
pub const NAME_MAX_LEN: usize = 255;
/// The longest allowed tag, in bytes.
pub const TAG_MAX_LEN: usize = 128;

/// Registry host names that all mean Docker Hub.
const DOCKER_HUB_ALIASES: [&str; 3] = [DOCKER_HUB, "index.docker.io", DOCKER_HUB_API_HOST];
/// The namespace docker adds to single-component Docker Hub names.
const OFFICIAL_NAMESPACE: &str = "library/";

/// A parsed, normalised image reference.
///
/// The registry is normalised (`index.docker.io` and `registry-1.docker.io` become `docker.io`,
/// and a missing registry means `docker.io`), single-component Docker Hub names get the
/// `library/` namespace, and the tag and digest are kept exactly as given, both when both are
/// present. `latest` is never stored: it is implied by [`Reference::canonical`] and
/// [`Reference::tag_or_default`] when there is neither tag nor digest.
///
/// Two references are equal when their registry, repository, tag and digest are equal, so
/// `nginx` and `nginx:latest` are different values with the same canonical form.
///
/// ```
/// use imgpull_reference::Reference;
///
/// let r = Reference::parse("nginx")?;
/// assert_eq!(r.registry(), "docker.io");
/// assert_eq!(r.api_host(), "registry-1.docker.io");
/// assert_eq!(r.repository(), "library/nginx");
/// assert_eq!(r.tag(), None);
/// assert_eq!(r.canonical(), "docker.io/library/nginx:latest");
/// assert_eq!(r.familiar(), "nginx:latest");
///
/// let r: Reference = "localhost:5000/team/app:1.0".parse()?;
/// assert_eq!(r.registry(), "localhost:5000");
/// assert_eq!(r.repository(), "team/app");
/// assert_eq!(r.tag(), Some("1.0"));
/// assert_eq!(r.to_string(), "localhost:5000/team/app:1.0");
/// # Ok::<(), imgpull_reference::ReferenceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference as `docker pull` does, with the normalisation described on [`Reference`].
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::EmptyReference);
        }
        if input.len() == 64
            && input
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(ReferenceError::ImageId {
                input: input.to_owned(),
            });
        }

        let (name_and_tag, digest) = match input.split_once('@') {
            Some((name_and_tag, digest)) => {
                let parsed = Digest::parse_fault(digest).map_err(|fault| {
                    ReferenceError::InvalidReferenceDigest {
                        digest: digest.to_owned(),
                        input: input.to_owned(),
                        fault,
                    }
                })?;
                (name_and_tag, Some(parsed))
            }
            None => (input, None),
        };

        // A tag is whatever follows the last `:` after the last `/`.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(i) => {
                let colon = last_slash + i;
                let tag = &name_and_tag[colon + 1..];
                if !is_valid_tag(tag) {
                    return Err(ReferenceError::InvalidTag {
                        tag: tag.to_owned(),
                        input: input.to_owned(),
                    });
                }
                (&name_and_tag[..colon], Some(tag.to_owned()))
            }
            None => (name_and_tag, None),
        };

        let (registry, path) = split_registry(name);
        let registry = match registry {
            Some(registry) => {
                check_registry(registry).map_err(|reason| ReferenceError::InvalidRegistry {
                    registry: registry.to_owned(),
                    input: input.to_owned(),
                    reason,
                })?;
                registry
            }
            None => DOCKER_HUB,
        };
        check_repository(path).map_err(|fault| match fault {
            PathFault::Uppercase => ReferenceError::UppercaseRepository {
                repository: path.to_owned(),
                input: input.to_owned(),
            },
            PathFault::Invalid(reason) => ReferenceError::InvalidRepository {
                repository: path.to_owned(),
                input: input.to_owned(),
                reason,
            },
        })?;

        let registry = if DOCKER_HUB_ALIASES.contains(&registry) {
            DOCKER_HUB
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("{OFFICIAL_NAMESPACE}{path}")
        } else {
            path.to_owned()
        };

        let length = registry.len() + 1 + repository.len();
        if length > NAME_MAX_LEN {
            return Err(ReferenceError::NameTooLong {
                name: format!("{registry}/{repository}"),
                length,
                input: input.to_owned(),
            });
        }

        Ok(Self {
            registry: registry.to_owned(),
            repository,
            tag,
            digest,
        })
    }

    /// The normalised registry host, with its port if any (`docker.io` for Docker Hub,
    /// `localhost:5000`, `[::1]:5000`).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host that serves the registry API: `registry-1.docker.io` for Docker Hub, otherwise
    /// [`Reference::registry`].
    pub fn api_host(&self) -> &str {
        if self.is_docker_hub() {
            DOCKER_HUB_API_HOST
        } else {
            &self.registry
        }
    }

    /// The repository path inside the registry (`library/nginx`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The tag as given, if any (never an implied `latest`).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The tag, or `latest` when the reference has neither tag nor digest; `None` for a
    /// digest-only reference. This is the tag an image pulled by this reference is known by.
    pub fn tag_or_default(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(tag), _) => Some(tag),
            (None, None) => Some(DEFAULT_TAG),
            (None, Some(_)) => None,
        }
    }

    /// The digest as given, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// Whether the registry is Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// The full name without tag or digest (`docker.io/library/nginx`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The name as docker prints it: without `docker.io/`, and without `library/` for official
    /// images (`nginx`, `bitnami/redis`, `quay.io/podman/stable`).
    ///
    /// Unlike docker, `docker.io/` is kept when dropping it would change the meaning: a Docker
    /// Hub repository whose first component looks like a registry (`docker.io/foo.bar/baz`)
    /// stays as it is, so the familiar form always parses back to the same reference.
    pub fn familiar_name(&self) -> String {
        if !self.is_docker_hub() {
            return self.name();
        }
        match self.repository.strip_prefix(OFFICIAL_NAMESPACE) {
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ if split_registry(&self.repository).0.is_some() => self.name(),
            _ => self.repository.clone(),
        }
    }

    /// The canonical form: [`Reference::name`], then `:tag` and `@digest` as present; `:latest`
    /// is added only when there is neither tag nor digest.
    ///
    /// `nginx` → `docker.io/library/nginx:latest`, `nginx@sha256:…` →
    /// `docker.io/library/nginx@sha256:…`, `nginx:1.25@sha256:…` →
    /// `docker.io/library/nginx:1.25@sha256:…`.
    pub fn canonical(&self) -> String {
        self.with_suffix(self.name())
    }

    /// The familiar form docker prints: [`Reference::familiar_name`] with the same tag and digest
    /// rules as [`Reference::canonical`] (`nginx:latest`, `bitnami/redis:7@sha256:…`).
    pub fn familiar(&self) -> String {
        self.with_suffix(self.familiar_name())
    }

    fn with_suffix(&self, mut out: String) -> String {
        if let Some(tag) = self.tag_or_default() {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(&digest.to_string());
        }
        out
    }

    /// The same reference with `tag` as its tag; the digest, if any, is kept.
    ///
    /// The error names the tag and the name it was meant for (`docker.io/library/nginx:a b`).
    pub fn with_tag(&self, tag: &str) -> Result<Self, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::InvalidTag {
                tag: tag.to_owned(),
                input: format!("{}:{tag}", self.name()),
            });
        }
        Ok(Self {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// The same reference pinned to `digest`; the tag, if any, is kept.
    #[must_use]
    pub fn with_digest(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same reference without its tag.
    #[must_use]
    pub fn without_tag(&self) -> Self {
        Self {
            tag: None,
            ..self.clone()
        }
    }

    /// The same reference without its digest.
    #[must_use]
    pub fn without_digest(&self) -> Self {
        Self {
            digest: None,
            ..self.clone()
        }
    }
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match tag.as_bytes() {
        [] => false,
        [first, rest @ ..] => {
            tag.len() <= TAG_MAX_LEN
                && word(*first)
                && rest.iter().all(|&b| word(b) || b == b'.' || b == b'-')
        }
    }
}

/// Splits off the registry as docker does: the first component is a registry when there is a
/// `/` after it and it contains `.` or `:`, is `localhost`, or has an uppercase letter (which a
/// repository cannot have).
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// `host[:port]` where host is a domain name (`[A-Za-z0-9]` components with inner `-`, joined by
/// `.`) or a bracketed IPv6 address.
fn check_registry(registry: &str) -> Result<(), &'static str> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (address, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs a closing `]`")?;
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Err("an IPv6 address may contain only hex digits and `:`");
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or("only `:port` may follow an IPv6 address")?,
            ),
        };
        (None, port)
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(registry), None),
        }
    };
    if let Some(host) = host {
        let valid_label = |label: &str| {
            let bytes = label.as_bytes();
            !bytes.is_empty()
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
                && bytes.first() != Some(&b'-')
                && bytes.last() != Some(&b'-')
        };
        if !host.split('.').all(valid_label) {
            return Err(
                "host names are dot-separated labels of [A-Za-z0-9-] that neither start nor end with `-`",
            );
        }
    }
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err("the port must be a decimal number");
    }
    Ok(())
}

enum PathFault {
    Uppercase,
    Invalid(&'static str),
}

/// Path components are `[a-z0-9]+` joined by one `.`, one `_`, two `_` or any number of `-`,
/// separated by `/`.
fn check_repository(path: &str) -> Result<(), PathFault> {
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(PathFault::Uppercase);
    }
    if path.is_empty() {
        return Err(PathFault::Invalid("the repository name is empty"));
    }
    for component in path.split('/') {
        check_component(component).map_err(PathFault::Invalid)?;
    }
    Ok(())
}

fn check_component(component: &str) -> Result<(), &'static str> {
    const GRAMMAR: &str = "path components are [a-z0-9] separated by `.`, `_`, `__` or `-`, and start and end with [a-z0-9]";
    if component.is_empty() {
        return Err("a path component is empty (`//` or a leading or trailing `/`)");
    }
    let bytes = component.as_bytes();
    let mut i = 0;
    loop {
        // An alphanumeric run.
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_lowercase() || bytes[i].is_ascii_digit()) {
            i += 1;
        }
        if i == start {
            return Err(GRAMMAR);
        }
        if i == bytes.len() {
            return Ok(());
        }
        // A separator.
        let sep_start = i;
        while i < bytes.len() && matches!(bytes[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let separator = &component[sep_start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if i == sep_start || !valid {
            return Err(GRAMMAR);
        }
    }
}

impl fmt::Display for Reference {
    /// Writes [`Reference::canonical`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Reference {
    /// Serialises as the canonical string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}
