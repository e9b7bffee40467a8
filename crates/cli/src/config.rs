//! The config file (`$XDG_CONFIG_HOME/imgpull/config.toml` or `--config PATH`) and its merge with flags.
//!
//! ```toml
//! cache-dir = "/var/cache/imgpull"
//! platform = "linux/arm64"
//! max-concurrent-downloads = 4
//! insecure-registries = ["localhost:5000"]
//! ca-files = ["/etc/imgpull/corp-ca.pem"]
//! sync = true
//!
//! [mirrors]
//! "docker.io" = ["https://mirror.example.com"]
//! ```
//!
//! Scalars given as flags replace the file's values; list flags (`--insecure-registry`, `--ca-file`)
//! add to the file's lists; `--registry-mirror` for a registry replaces the file's mirrors for it.
//! Relative paths in the file are relative to the file's directory. An unknown key is an error
//! naming the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::RegistryArgs;
use crate::error::CliError;

/// Concurrent blob downloads when neither the flag nor the config file says otherwise.
pub const DEFAULT_CONCURRENCY: u16 = 3;

/// The contents of the config file; every key is optional.
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// Cache directory used when `--cache-dir` is absent.
    pub cache_dir: Option<PathBuf>,
    /// Platform used when `--platform` is absent, e.g. `linux/arm64`.
    pub platform: Option<String>,
    /// Concurrent downloads used when `--max-concurrent-downloads` is absent.
    pub max_concurrent_downloads: Option<u16>,
    /// Registries reached over plain HTTP or unverified TLS.
    #[serde(default)]
    pub insecure_registries: Vec<String>,
    /// Extra PEM files of trusted certificate authorities.
    #[serde(default)]
    pub ca_files: Vec<PathBuf>,
    /// Mirrors per registry host, tried in order before the registry itself.
    #[serde(default)]
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Fsync every output before renaming it into place, as `--sync` does.
    #[serde(default)]
    pub sync: bool,
}

impl ConfigFile {
    /// Loads `explicit` (which must exist), or the default file when present, or nothing.
    pub fn load(explicit: Option<&Path>) -> Result<Self, CliError> {
        match explicit {
            Some(path) => Self::read(path),
            None => match default_path() {
                Some(path) if path.is_file() => Self::read(&path),
                _ => Ok(Self::default()),
            },
        }
    }

    /// Reads and parses one config file, resolving relative paths against its directory.
    pub fn read(path: &Path) -> Result<Self, CliError> {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
            action: "read the config file",
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::parse(&text).map_err(|message| CliError::Config {
            path: path.to_path_buf(),
            message,
        })?;
        if let Some(base) = path.parent() {
            config.resolve_relative_paths(base);
        }
        Ok(config)
    }

    /// Parses config text; the error is a one-line message naming the offending key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: Self = toml::from_str(text).map_err(|error| one_line(error.message()))?;
        if config.max_concurrent_downloads == Some(0) {
            return Err("max-concurrent-downloads must be at least 1".to_owned());
        }
        Ok(config)
    }

    fn resolve_relative_paths(&mut self, base: &Path) {
        if let Some(dir) = self.cache_dir.as_mut().filter(|dir| dir.is_relative()) {
            *dir = base.join(&*dir);
        }
        for file in &mut self.ca_files {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
    }
}

fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `$XDG_CONFIG_HOME/imgpull/config.toml` (or the platform's equivalent).
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("imgpull").join("config.toml"))
}

/// The cache directory: the flag, else the config file, else the platform cache dir.
pub fn cache_dir(flag: Option<&Path>, config: &ConfigFile) -> Result<PathBuf, CliError> {
    flag.map(Path::to_path_buf)
        .or_else(|| config.cache_dir.clone())
        .or_else(|| dirs::cache_dir().map(|dir| dir.join("imgpull")))
        .ok_or_else(|| CliError::Usage("no cache directory: set --cache-dir or HOME".to_owned()))
}

/// The platform to pull: the flag, else the config file; `None` means the default (linux on
/// this machine's architecture).
pub fn platform(flag: Option<&str>, config: &ConfigFile) -> Option<String> {
    flag.map(str::to_owned).or_else(|| config.platform.clone())
}

/// The number of concurrent downloads: the flag, else the config file, else 3.
pub fn concurrency(flag: Option<u16>, config: &ConfigFile) -> u16 {
    flag.or(config.max_concurrent_downloads)
        .unwrap_or(DEFAULT_CONCURRENCY)
}

/// The registry connection settings after merging the config file with the flags.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// Mirrors per normalised registry host.
    pub mirrors: BTreeMap<String, Vec<String>>,
    /// Registries reached over plain HTTP or unverified TLS.
    pub insecure_registries: Vec<String>,
    /// Extra trusted CA bundles.
    pub ca_files: Vec<PathBuf>,
}

impl RegistrySettings {
    /// Merges `flags` over `config` (see the module documentation for the rules).
    pub fn merge(config: &ConfigFile, flags: &RegistryArgs) -> Result<Self, CliError> {
        let mut mirrors: BTreeMap<String, Vec<String>> = config
            .mirrors
            .iter()
            .map(|(registry, urls)| (normalize_registry(registry), urls.clone()))
            .collect();
        let mut from_flags: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for text in &flags.registry_mirrors {
            let (registry, url) = parse_mirror(text)?;
            from_flags.entry(registry).or_default().push(url);
        }
        mirrors.extend(from_flags);
        let mut insecure_registries = config.insecure_registries.clone();
        insecure_registries.extend(flags.insecure_registries.iter().cloned());
        insecure_registries.dedup();
        let mut ca_files = config.ca_files.clone();
        ca_files.extend(flags.ca_files.iter().cloned());
        Ok(Self {
            mirrors,
            insecure_registries,
            ca_files,
        })
    }
}

/// Parses a `--registry-mirror` value: `URL` (a Docker Hub mirror) or `REGISTRY=URL`.
pub fn parse_mirror(text: &str) -> Result<(String, String), CliError> {
    let (registry, url) = match text.split_once('=') {
        Some((registry, url)) if !registry.contains('/') => (normalize_registry(registry), url),
        _ => ("docker.io".to_owned(), text),
    };
    if registry.is_empty() || !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(CliError::Usage(format!(
            "--registry-mirror `{text}`: expected URL or REGISTRY=URL with an http:// or https:// URL"
        )));
    }
    Ok((registry, url.trim_end_matches('/').to_owned()))
}

/// Docker Hub has several host names; they all mean `docker.io`.
fn normalize_registry(host: &str) -> String {
    let host = host.trim().to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
cache-dir = "cache"
platform = "linux/arm64"
max-concurrent-downloads = 7
insecure-registries = ["localhost:5000"]
ca-files = ["/etc/ca.pem", "rel.pem"]
sync = true

[mirrors]
"docker.io" = ["https://mirror.example.com/"]
"ghcr.io" = ["https://ghcr-mirror.example.com"]
"#;

    #[test]
    fn parses_every_key() {
        let config = ConfigFile::parse(FULL).expect("valid config");
        assert_eq!(config.cache_dir, Some(PathBuf::from("cache")));
        assert_eq!(config.platform.as_deref(), Some("linux/arm64"));
        assert_eq!(config.max_concurrent_downloads, Some(7));
        assert_eq!(config.insecure_registries, ["localhost:5000"]);
        assert!(config.sync);
        assert_eq!(
            config.mirrors["ghcr.io"],
            ["https://ghcr-mirror.example.com"]
        );
    }

    #[test]
    fn empty_file_is_all_defaults() {
        assert_eq!(ConfigFile::parse("").expect("valid"), ConfigFile::default());
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let error =
            ConfigFile::parse("cache-dir = \"x\"\nmax-downloads = 3\n").expect_err("unknown key");
        assert!(error.contains("max-downloads"), "{error}");
        assert!(!error.contains('\n'));
    }

    #[test]
    fn wrong_type_and_zero_concurrency_are_errors() {
        assert!(ConfigFile::parse("max-concurrent-downloads = \"many\"").is_err());
        assert!(ConfigFile::parse("max-concurrent-downloads = 0").is_err());
        assert!(ConfigFile::parse("insecure-registries = \"one\"").is_err());
    }

    #[test]
    fn read_resolves_relative_paths_against_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, FULL).expect("write");
        let config = ConfigFile::read(&path).expect("valid");
        assert_eq!(config.cache_dir, Some(dir.path().join("cache")));
        assert_eq!(
            config.ca_files,
            [PathBuf::from("/etc/ca.pem"), dir.path().join("rel.pem")]
        );
    }

    #[test]
    fn explicit_missing_file_is_an_error_with_its_path() {
        let error =
            ConfigFile::load(Some(Path::new("/nonexistent/imgpull.toml"))).expect_err("missing");
        assert!(
            error.to_string().contains("/nonexistent/imgpull.toml"),
            "{error}"
        );
    }

    #[test]
    fn invalid_file_error_names_path_and_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "colour = true\n").expect("write");
        let error = ConfigFile::read(&path).expect_err("unknown key");
        let text = error.to_string();
        assert!(
            text.contains("colour") && text.contains("config.toml"),
            "{text}"
        );
        assert_eq!(error.kind(), crate::error::ErrorKind::Usage);
    }

    #[test]
    fn flags_override_scalars() {
        let config = ConfigFile::parse(FULL).expect("valid");
        assert_eq!(concurrency(Some(2), &config), 2);
        assert_eq!(concurrency(None, &config), 7);
        assert_eq!(
            concurrency(None, &ConfigFile::default()),
            DEFAULT_CONCURRENCY
        );
        assert_eq!(
            platform(Some("linux/amd64"), &config).as_deref(),
            Some("linux/amd64")
        );
        assert_eq!(platform(None, &config).as_deref(), Some("linux/arm64"));
        assert_eq!(platform(None, &ConfigFile::default()), None);
        assert_eq!(
            cache_dir(Some(Path::new("/flag")), &config).expect("dir"),
            PathBuf::from("/flag")
        );
        assert_eq!(
            cache_dir(None, &config).expect("dir"),
            PathBuf::from("cache")
        );
    }

    #[test]
    fn list_flags_extend_and_mirror_flags_replace_per_registry() {
        let config = ConfigFile::parse(FULL).expect("valid");
        let flags = RegistryArgs {
            registry_mirrors: vec!["https://flag-mirror.example".to_owned()],
            insecure_registries: vec!["127.0.0.1:5001".to_owned()],
            ca_files: vec![PathBuf::from("/flag.pem")],
            ..RegistryArgs::default()
        };
        let settings = RegistrySettings::merge(&config, &flags).expect("valid");
        assert_eq!(
            settings.mirrors["docker.io"],
            ["https://flag-mirror.example"]
        );
        assert_eq!(
            settings.mirrors["ghcr.io"],
            ["https://ghcr-mirror.example.com"]
        );
        assert_eq!(
            settings.insecure_registries,
            ["localhost:5000", "127.0.0.1:5001"]
        );
        assert_eq!(settings.ca_files.last(), Some(&PathBuf::from("/flag.pem")));
        assert_eq!(settings.ca_files.len(), 3);
    }

    #[test]
    fn mirror_values() {
        assert_eq!(
            parse_mirror("https://m.example/").expect("valid"),
            ("docker.io".to_owned(), "https://m.example".to_owned())
        );
        assert_eq!(
            parse_mirror("Quay.io=http://127.0.0.1:5000").expect("valid"),
            ("quay.io".to_owned(), "http://127.0.0.1:5000".to_owned())
        );
        assert_eq!(
            parse_mirror("index.docker.io=https://m").expect("valid").0,
            "docker.io"
        );
        assert_eq!(
            parse_mirror("https://m.example/?a=b").expect("valid").0,
            "docker.io"
        );
        assert!(parse_mirror("mirror.example").is_err());
        assert!(parse_mirror("=https://m").is_err());
    }
}
