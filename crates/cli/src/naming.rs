//! Default output names: `docker.io_library_nginx_1.25_linux_arm64.tar`.
//!
//! A name is built from the registry, the repository, the tag and/or a short digest, and the
//! platform when it was chosen from a multi-platform index. It never contains `:` or `/`, so it is
//! valid on every file system. The same reference always gives the same name; before a pull
//! replaces an existing file of that name, the pipeline checks that the file holds the same
//! reference (see `pull`), so a different image is never overwritten silently.

use crate::cli::Format;

/// Hex digits of a digest kept in a name (as `docker images` shows IDs).
const SHORT_DIGEST: usize = 12;
/// Longest default name; longer names (many images) need `-o`.
const MAX_NAME: usize = 200;

/// The parts of one image that its default output name is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameParts<'a> {
    /// Normalised registry host, e.g. `docker.io` or `localhost:5000`.
    pub registry: &'a str,
    /// Repository path, e.g. `library/nginx`.
    pub repository: &'a str,
    /// Tag, when the reference has one.
    pub tag: Option<&'a str>,
    /// Hex of the manifest digest, when the reference pins one.
    pub digest_hex: Option<&'a str>,
    /// The platform chosen from an index (e.g. `linux/arm/v7`), `None` for a single-platform image.
    pub platform: Option<&'a str>,
}

impl NameParts<'_> {
    /// `docker.io_library_nginx_1.25_linux_arm64`, without extension.
    pub fn stem(&self) -> String {
        let mut parts = vec![
            self.registry.replace(':', "-"),
            self.repository.replace('/', "_"),
        ];
        if let Some(tag) = self.tag {
            parts.push(tag.to_owned());
        }
        if let Some(hex) = self.digest_hex {
            parts.push(format!("sha256-{}", hex.get(..SHORT_DIGEST).unwrap_or(hex)));
        }
        if self.tag.is_none() && self.digest_hex.is_none() {
            parts.push("latest".to_owned());
        }
        if let Some(platform) = self.platform {
            parts.push(platform.replace('/', "_"));
        }
        sanitize(&parts.join("_"))
    }
}

/// Replaces anything but ASCII letters, digits, `.`, `_`, `-` and `+` with `-`.
fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The default output name for `images` written in `format`; `None` when it would be too long.
///
/// Several images are joined with `+`. The extension says what the file is: `.tar` for a docker
/// archive, `.oci.tar` for an OCI archive, `.oci` for an OCI layout directory, plus `.gz` when
/// the archive is compressed.
pub fn default_output_name(images: &[NameParts<'_>], format: Format, gzip: bool) -> Option<String> {
    if images.is_empty() {
        return None;
    }
    let stem = images
        .iter()
        .map(NameParts::stem)
        .collect::<Vec<_>>()
        .join("+");
    let extension = match (format, gzip) {
        (Format::Docker, false) => ".tar",
        (Format::Docker, true) => ".tar.gz",
        (Format::OciArchive, false) => ".oci.tar",
        (Format::OciArchive, true) => ".oci.tar.gz",
        (Format::Oci, _) => ".oci",
    };
    let name = stem + extension;
    (name.len() <= MAX_NAME).then_some(name)
}

/// Whether an output path asks for a gzip-compressed archive by its name (in any case).
#[allow(clippy::case_sensitive_file_extension_comparisons)] // the name is lowercased first
pub fn wants_gzip(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or_default();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parts<'a>(registry: &'a str, repository: &'a str) -> NameParts<'a> {
        NameParts {
            registry,
            repository,
            tag: None,
            digest_hex: None,
            platform: None,
        }
    }

    #[test]
    fn the_documented_example() {
        let image = NameParts {
            tag: Some("1.25"),
            platform: Some("linux/arm64"),
            ..parts("docker.io", "library/nginx")
        };
        assert_eq!(
            default_output_name(&[image], Format::Docker, false).as_deref(),
            Some("docker.io_library_nginx_1.25_linux_arm64.tar")
        );
    }

    #[test]
    fn ports_digests_and_variants() {
        let image = NameParts {
            digest_hex: Some(HEX),
            platform: Some("linux/arm/v7"),
            ..parts("localhost:5000", "team/app")
        };
        assert_eq!(
            image.stem(),
            "localhost-5000_team_app_sha256-0123456789ab_linux_arm_v7"
        );
        let both = NameParts {
            tag: Some("v1"),
            digest_hex: Some(HEX),
            ..parts("ghcr.io", "o/a")
        };
        assert_eq!(both.stem(), "ghcr.io_o_a_v1_sha256-0123456789ab");
        assert_eq!(
            parts("docker.io", "library/alpine").stem(),
            "docker.io_library_alpine_latest"
        );
    }

    #[test]
    fn names_never_contain_colons_or_slashes() {
        let image = NameParts {
            tag: Some("a:b/c\\d"),
            digest_hex: Some(HEX),
            platform: Some("windows/amd64"),
            ..parts("[::1]:5000", "a/b/c")
        };
        for format in [Format::Docker, Format::Oci, Format::OciArchive] {
            let name = default_output_name(&[image], format, true).expect("short enough");
            assert!(!name.contains([':', '/', '\\', '[', ']']), "{name}");
        }
    }

    #[test]
    fn same_reference_same_name_and_different_references_differ() {
        let a = NameParts {
            tag: Some("1.25"),
            ..parts("docker.io", "library/nginx")
        };
        let b = NameParts {
            tag: Some("1.25"),
            ..parts("docker.io", "library/nginx")
        };
        assert_eq!(a.stem(), b.stem());
        let others = [
            NameParts {
                tag: Some("1.26"),
                ..a
            },
            NameParts {
                platform: Some("linux/amd64"),
                ..a
            },
            NameParts {
                registry: "ghcr.io",
                ..a
            },
            NameParts {
                repository: "library/nginx-unprivileged",
                ..a
            },
        ];
        for other in others {
            assert_ne!(a.stem(), other.stem(), "{other:?}");
        }
    }

    #[test]
    fn extensions_follow_format_and_compression() {
        let image = [parts("docker.io", "library/alpine")];
        let name = |format, gzip| default_output_name(&image, format, gzip).expect("name");
        assert!(name(Format::Docker, false).ends_with("_latest.tar"));
        assert!(name(Format::Docker, true).ends_with("_latest.tar.gz"));
        assert!(name(Format::OciArchive, false).ends_with("_latest.oci.tar"));
        assert!(name(Format::Oci, false).ends_with("_latest.oci"));
    }

    #[test]
    fn several_images_are_joined_and_overlong_names_refused() {
        let a = NameParts {
            tag: Some("1"),
            ..parts("docker.io", "library/a")
        };
        let b = NameParts {
            tag: Some("2"),
            ..parts("docker.io", "library/b")
        };
        assert_eq!(
            default_output_name(&[a, b], Format::Docker, false).as_deref(),
            Some("docker.io_library_a_1+docker.io_library_b_2.tar")
        );
        assert_eq!(default_output_name(&[a; 20], Format::Docker, false), None);
        assert_eq!(default_output_name(&[], Format::Docker, false), None);
    }

    #[test]
    fn gzip_by_name() {
        assert!(wants_gzip(std::path::Path::new("out/x.tar.gz")));
        assert!(wants_gzip(std::path::Path::new("x.tgz")));
        assert!(!wants_gzip(std::path::Path::new("x.tar")));
        assert!(!wants_gzip(std::path::Path::new("-")));
    }
}
