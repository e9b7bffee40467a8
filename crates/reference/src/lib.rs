//! Image references, digests, platforms and descriptors: the vocabulary every imgpull crate
//! speaks, parsed and normalised as docker and containerd do it.
//!
//! This crate has no I/O and no async code; every other imgpull crate names images, digests and
//! platforms with its types, never with plain strings.
//!
//! - [`Reference`]: `[registry[:port]/]path[:tag][@digest]` with Docker Hub normalisation, a
//!   canonical form ([`Reference::canonical`], also its `Display`) and the familiar form docker
//!   prints ([`Reference::familiar`]).
//! - [`Digest`]: an [`Algorithm`] and validated lowercase hex, safe as a file name.
//! - [`Platform`]: `os/architecture[/variant]` (or a lone OS or architecture), containerd
//!   normalisation and matching; [`Platform::default_target`], linux on this machine's
//!   architecture on every host, is what is pulled when no platform is named.
//! - [`Descriptor`] and [`media_types`]: the OCI descriptor JSON shape and the media types of
//!   OCI and Docker manifests, indexes, configs and layers.
//! - [`ReferenceError`]: one error type whose messages name the bad part and the whole input.
//!
//! # Examples
//!
//! ```
//! use imgpull_reference::{Digest, Reference};
//!
//! // Docker Hub names are normalised, `latest` is implied only without tag and digest.
//! let nginx = Reference::parse("nginx")?;
//! assert_eq!(nginx.to_string(), "docker.io/library/nginx:latest");
//! assert_eq!(nginx.familiar(), "nginx:latest");
//!
//! // Tag and digest are kept together.
//! let digest = Digest::sha256(b"manifest");
//! let pinned = Reference::parse("index.docker.io/library/nginx:1.25")?.with_digest(digest.clone());
//! assert_eq!(pinned.tag(), Some("1.25"));
//! assert_eq!(pinned.digest(), Some(&digest));
//! assert_eq!(pinned.familiar(), format!("nginx:1.25@{digest}"));
//! assert_eq!(Reference::parse(&pinned.to_string())?, pinned);
//!
//! // A digest-only reference has no implied tag.
//! let by_digest = Reference::parse(&format!("nginx@{digest}"))?;
//! assert_eq!(by_digest.canonical(), format!("docker.io/library/nginx@{digest}"));
//! assert_eq!(by_digest.tag_or_default(), None);
//!
//! // Other registries, ports and IPv6 hosts keep their name.
//! let local = Reference::parse("[::1]:5000/team/app:v2")?;
//! assert_eq!(local.registry(), "[::1]:5000");
//! assert_eq!(local.api_host(), "[::1]:5000");
//! assert_eq!(local.familiar(), "[::1]:5000/team/app:v2");
//! # Ok::<(), imgpull_reference::ReferenceError>(())
//! ```
//!
//! Errors say what is wrong and where:
//!
//! ```
//! use imgpull_reference::Reference;
//!
//! let err = Reference::parse("nginx:Latest!").unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid tag `Latest!` in `nginx:Latest!`: tags are [A-Za-z0-9_.-], at most 128 characters"
//! );
//! ```
//!
//! Choosing a manifest from an index by platform:
//!
//! ```
//! use imgpull_reference::Platform;
//!
//! let wanted = Platform::parse("linux/arm64")?;
//! let entries = ["linux/amd64", "linux/arm/v7", "linux/arm64/v8"];
//! let chosen = entries
//!     .iter()
//!     .map(|s| s.parse::<Platform>())
//!     .collect::<Result<Vec<_>, _>>()?
//!     .into_iter()
//!     .position(|p| wanted.matches(&p));
//! assert_eq!(chosen, Some(2));
//! # Ok::<(), imgpull_reference::ReferenceError>(())
//! ```

mod descriptor;
mod digest;
mod error;
mod platform;
mod reference;

pub use descriptor::{Descriptor, media_types};
pub use digest::{Algorithm, Digest, Hasher};
pub use error::{DigestFault, ReferenceError};
pub use platform::Platform;
pub use reference::{
    DEFAULT_TAG, DOCKER_HUB, DOCKER_HUB_API_HOST, NAME_MAX_LEN, Reference, TAG_MAX_LEN,
};
