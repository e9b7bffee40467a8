//! Platforms (`os/architecture[/variant]`), normalised and matched as containerd does it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ReferenceError;

/// An image platform, in the shape of the OCI image index `platform` object.
///
/// ```
/// use imgpull_reference::Platform;
///
/// let requested = Platform::parse("linux/aarch64")?.normalized();
/// assert_eq!(requested.to_string(), "linux/arm64");
/// assert!(requested.matches(&Platform::parse("linux/arm64/v8")?));
/// assert!(requested.matches(&Platform::new("linux", "arm64")));
/// assert!(!requested.matches(&Platform::parse("linux/amd64")?));
/// assert_eq!(Platform::parse("linux/armhf")?.normalized().to_string(), "linux/arm/v7");
/// # Ok::<(), imgpull_reference::ReferenceError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    /// The CPU architecture (`amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, …).
    pub architecture: String,
    /// The operating system (`linux`, `windows`, …).
    pub os: String,
    /// The operating system version, used by Windows images (`10.0.17763.1879`).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// Required operating system features (`win32k`).
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// The CPU variant (`v7` for `arm`, `v8` for `arm64`, `v2`… for `amd64`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// A platform with only an operating system and an architecture.
    pub fn new(os: impl Into<String>, architecture: impl Into<String>) -> Self {
        Self {
            architecture: architecture.into(),
            os: os.into(),
            os_version: None,
            os_features: Vec::new(),
            variant: None,
        }
    }

    /// Parses a platform specifier as containerd's `platforms.Parse` does: `os/architecture`,
    /// `os/architecture/variant` (e.g. `linux/arm64/v8`), or a lone `os` or `architecture`.
    /// The parts given keep their spelling; use [`Platform::normalized`] before comparing.
    ///
    /// Each part is `[A-Za-z0-9_.-]+`. A lone part is read as follows, once normalised
    /// (lowercase, `macos` → `darwin`, `aarch64` → `arm64`, `armhf` → `arm/v7`, …):
    /// - a known operating system (`linux`, `windows`, `darwin`, `freebsd`, … as Go names them)
    ///   gives that OS with the architecture and variant of [`Platform::host`];
    /// - else a known architecture (`amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`,
    ///   `riscv64`, … as Go names them) gives that architecture on `linux`, the OS of
    ///   [`Platform::default_target`]. containerd takes the running program's OS here, which is
    ///   the same thing where containerd runs its containers; a puller on macOS or Windows
    ///   fetches images for Linux, as `docker pull --platform arm64` does there (its daemon
    ///   parses the platform in a Linux VM);
    /// - anything else is refused rather than guessed.
    ///
    /// ```
    /// use imgpull_reference::Platform;
    ///
    /// let host = Platform::host();
    /// let arm64 = Platform::parse("aarch64")?;
    /// assert_eq!((arm64.os.as_str(), arm64.architecture.as_str()), ("linux", "aarch64"));
    /// assert!(arm64.matches(&Platform::new("linux", "arm64")));
    /// assert_eq!(Platform::parse("windows")?.architecture, host.architecture);
    /// assert!(Platform::parse("plan10").is_err());
    /// # Ok::<(), imgpull_reference::ReferenceError>(())
    /// ```
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let invalid = |reason| ReferenceError::InvalidPlatform {
            input: input.to_owned(),
            reason,
        };
        let parts: Vec<&str> = input.split('/').collect();
        if parts.len() > 3 {
            return Err(invalid(
                "a platform is `os/architecture`, `os/architecture/variant`, or a lone `os` or `architecture`",
            ));
        }
        if parts.iter().any(|part| {
            part.is_empty()
                || !part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        }) {
            return Err(invalid(
                "each part must be non-empty and contain only [A-Za-z0-9_.-]",
            ));
        }
        if let [lone] = parts[..] {
            return Self::from_lone_part(lone).ok_or_else(|| {
                invalid(
                    "a lone part must be a known operating system (`linux`, `windows`, …) or \
                     architecture (`amd64`, `arm64`, …); otherwise write `os/architecture`",
                )
            });
        }
        let mut platform = Self::new(parts[0], parts[1]);
        platform.variant = parts.get(2).map(|v| (*v).to_owned());
        Ok(platform)
    }

    /// A lone OS or architecture completed from the host (see [`Platform::parse`]); `None` when
    /// it is neither a known OS nor a known architecture.
    fn from_lone_part(part: &str) -> Option<Self> {
        let host = Self::host();
        if KNOWN_OPERATING_SYSTEMS.contains(&normalize_os(part).as_str()) {
            return Some(Self {
                os: part.to_owned(),
                ..host
            });
        }
        let (architecture, _) = normalize_arch(&part.to_ascii_lowercase(), None);
        KNOWN_ARCHITECTURES
            .contains(&architecture.as_str())
            .then(|| Self::new(Self::default_target().os, part))
    }

    /// The platform to pull when none is given: `linux` with the running machine's architecture
    /// and variant, on every host. Container images are built for Linux, and docker on macOS and
    /// Windows pulls them as well, its daemon running in a Linux VM; a Windows container image
    /// is asked for by name (`windows/amd64`). [`Platform::host`] is the running program's own
    /// platform.
    ///
    /// ```
    /// use imgpull_reference::Platform;
    ///
    /// let target = Platform::default_target();
    /// assert_eq!(target.os, "linux");
    /// assert_eq!(target.architecture, Platform::host().architecture);
    /// ```
    pub fn default_target() -> Self {
        Self {
            os: "linux".to_owned(),
            ..Self::host()
        }
    }

    /// The platform of the running program, normalised.
    pub fn host() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86" => "386",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "mips64" if cfg!(target_endian = "little") => "mips64le",
            "loongarch64" => "loong64",
            other => other,
        };
        Self::new(std::env::consts::OS, architecture).normalized()
    }

    /// The containerd normal form: lowercase; `macos` → `darwin`; `x86_64`/`x86-64` → `amd64`
    /// (variant `v1` dropped, as it is the default); `aarch64` → `arm64` (variant `v8` dropped,
    /// `9` → `v9`); `armhf` → `arm/v7`; `armel` → `arm/v6`; `arm` without variant → `arm/v7`;
    /// bare numeric arm variants get a `v`; `i386`/`i686` → `386`.
    #[must_use]
    pub fn normalized(&self) -> Self {
        let os = normalize_os(&self.os);
        let variant = self.variant.as_deref().map(str::to_ascii_lowercase);
        let (architecture, variant) =
            normalize_arch(&self.architecture.to_ascii_lowercase(), variant);
        Self {
            architecture,
            os,
            os_version: self.os_version.clone(),
            os_features: self.os_features.clone(),
            variant,
        }
    }

    /// The variant, or the architecture's default one when none is given: `v8` for `arm64`,
    /// `v7` for `arm`, `v1` for `amd64`.
    pub fn effective_variant(&self) -> Option<&str> {
        match (self.variant.as_deref(), self.architecture.as_str()) {
            (Some(variant), _) => Some(variant),
            (None, "arm64") => Some("v8"),
            (None, "arm") => Some("v7"),
            (None, "amd64") => Some("v1"),
            (None, _) => None,
        }
    }

    /// Whether an index entry for `candidate` satisfies this requested platform exactly, after
    /// normalising both: same OS and architecture, same variant once defaults are applied (so
    /// `linux/arm64` matches `linux/arm64/v8` and `linux/arm64` without variant), the same OS
    /// version if one is requested, and every requested OS feature present.
    pub fn matches(&self, candidate: &Platform) -> bool {
        self.preference(candidate) == Some(0)
    }

    /// How well `candidate` serves this requested platform: `Some(0)` for an exact match (see
    /// [`Platform::matches`]), `Some(n)` for an older variant of the same architecture that the
    /// requested one can run (`linux/arm/v7` runs `v6` with rank 1 and `v5` with rank 2;
    /// `amd64/v3` runs `v2` and `v1`), `None` when it cannot run. Lower is better.
    pub fn preference(&self, candidate: &Platform) -> Option<u32> {
        let requested = self.normalized();
        let candidate = candidate.normalized();
        if requested.os != candidate.os || requested.architecture != candidate.architecture {
            return None;
        }
        if let Some(version) = &requested.os_version
            && candidate.os_version.as_ref() != Some(version)
        {
            return None;
        }
        if !requested
            .os_features
            .iter()
            .all(|feature| candidate.os_features.contains(feature))
        {
            return None;
        }
        let wanted = requested.effective_variant();
        let offered = candidate.effective_variant();
        if wanted == offered {
            return Some(0);
        }
        match (
            wanted.and_then(variant_level),
            offered.and_then(variant_level),
        ) {
            (Some(wanted), Some(offered)) if offered < wanted => Some(wanted - offered),
            _ => None,
        }
    }
}

/// The operating systems a lone platform part may name: Go's `GOOS` values, as containerd
/// lists them.
const KNOWN_OPERATING_SYSTEMS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "windows",
    "zos",
];

/// The architectures a lone platform part may name once normalised: Go's `GOARCH` values, as
/// containerd lists them.
const KNOWN_ARCHITECTURES: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// The containerd normal form of an OS: lowercase, `macos` → `darwin`.
fn normalize_os(os: &str) -> String {
    match os.to_ascii_lowercase().as_str() {
        "macos" => "darwin".to_owned(),
        other => other.to_owned(),
    }
}

/// The numeric level of a variant `vN` (`v7` → 7), used to rank older compatible variants.
fn variant_level(variant: &str) -> Option<u32> {
    variant.strip_prefix('v')?.parse().ok()
}

fn normalize_arch(architecture: &str, variant: Option<String>) -> (String, Option<String>) {
    match architecture {
        "i386" | "i686" | "386" => ("386".to_owned(), None),
        "x86_64" | "x86-64" | "amd64" => {
            let variant = variant.filter(|v| v != "v1");
            ("amd64".to_owned(), variant)
        }
        "aarch64" | "arm64" => {
            let variant = match variant.as_deref() {
                None | Some("8" | "v8" | "v8.0") => None,
                Some("9" | "9.0" | "v9.0") => Some("v9".to_owned()),
                Some(_) => variant,
            };
            ("arm64".to_owned(), variant)
        }
        "armhf" => ("arm".to_owned(), Some("v7".to_owned())),
        "armel" => ("arm".to_owned(), Some("v6".to_owned())),
        "arm" => {
            let variant = match variant.as_deref() {
                None | Some("7") => Some("v7".to_owned()),
                Some(level @ ("5" | "6" | "8")) => Some(format!("v{level}")),
                Some(_) => variant,
            };
            ("arm".to_owned(), variant)
        }
        other => (other.to_owned(), variant),
    }
}

impl fmt::Display for Platform {
    /// `os/architecture[/variant]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
