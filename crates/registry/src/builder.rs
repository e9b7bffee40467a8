//! [`ClientBuilder`]: every option of the [`Client`], validated once in [`ClientBuilder::build`].

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use imgpull_auth::Keychain;
use url::Url;

use crate::client::{Client, HttpClients, Settings};
use crate::error::{HttpError, RegistryError};
use crate::retry::RetryPolicy;
use crate::tls;

/// The user agent sent unless [`ClientBuilder::user_agent`] sets another one.
pub const DEFAULT_USER_AGENT: &str = concat!("imgpull/", env!("CARGO_PKG_VERSION"));

/// Builds a [`Client`].
///
/// ```
/// use std::time::Duration;
/// use imgpull_registry::{ClientBuilder, RetryPolicy};
///
/// let client = ClientBuilder::new()
///     .mirror("docker.io", "https://mirror.gcr.io")
///     .insecure_registry("registry.internal:5000")
///     .connect_timeout(Duration::from_secs(10))
///     .retry_policy(RetryPolicy::default().with_max_attempts(3))
///     .build()?;
/// # Ok::<(), imgpull_registry::RegistryError>(())
/// ```
#[derive(Debug)]
#[must_use]
pub struct ClientBuilder {
    user_agent: String,
    ca_files: Vec<PathBuf>,
    insecure: Vec<String>,
    mirrors: Vec<(String, String)>,
    connect_timeout: Duration,
    read_timeout: Duration,
    retry: RetryPolicy,
    keychain: Option<Keychain>,
    http2: bool,
    resolve: Vec<(String, SocketAddr)>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientBuilder {
    /// A builder with the defaults: user agent `imgpull/<version>`, the platform's trust
    /// store, no insecure registries, no mirrors, a 30 s connect timeout, a 60 s timeout
    /// for each read, [`RetryPolicy::default`], an empty [`Keychain`] (anonymous) and
    /// HTTP/1.1 (see [`ClientBuilder::http2`]).
    pub fn new() -> Self {
        Self {
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            ca_files: Vec::new(),
            insecure: Vec::new(),
            mirrors: Vec::new(),
            connect_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            keychain: None,
            http2: false,
            resolve: Vec::new(),
        }
    }

    /// Sets the `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Trusts the certificates of a PEM file (`--ca-file`), in addition to the platform's.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_files.push(path.into());
        self
    }

    /// Names a registry (`HOST` or `HOST:PORT`) insecure: its TLS certificate is not
    /// verified, and plain HTTP is tried when HTTPS fails.
    pub fn insecure_registry(mut self, registry: impl Into<String>) -> Self {
        self.insecure.push(registry.into());
        self
    }

    /// Adds a mirror for a registry (`docker.io`, `ghcr.io`, ...): a base URL such as
    /// `https://mirror.gcr.io`. Mirrors are tried in the order they are added, then the
    /// registry itself; a mirror's failure or 404 falls through to the next after one attempt
    /// (for a manifest or a blob; a mirror that cannot be pinged or connected to is skipped by
    /// the client from then on). An `http://`
    /// mirror must be on this machine or named insecure ([`ClientBuilder::build`] fails
    /// otherwise). Content from a mirror is trusted as far as it can be proved: manifests
    /// asked for by digest and blobs are checked against their digests, and what fails the
    /// check is fetched from the next mirror or the registry (for blobs, see
    /// [`crate::BlobOrigins::reject`]); a manifest asked for by tag is accepted as the mirror
    /// serves it (as docker does), checked against its `Docker-Content-Digest` when sent.
    pub fn mirror(mut self, registry: impl Into<String>, base_url: impl Into<String>) -> Self {
        self.mirrors.push((registry.into(), base_url.into()));
        self
    }

    /// Sets the time allowed to establish a connection (TCP and TLS).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the time allowed for each read of a response; a stalled body fails after it
    /// (and a download resumes).
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Sets how transient failures are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Sets where credentials come from.
    pub fn keychain(mut self, keychain: Keychain) -> Self {
        self.keychain = Some(keychain);
        self
    }

    /// Offers HTTP/2 during TLS negotiation (off by default). HTTP/1.1 gives each
    /// concurrent download its own connection, which spreads TLS work over cores and is
    /// not limited by one connection's flow-control window: pulling two 150 MiB layers
    /// from distribution over TLS on loopback took 0.58–0.74 s with HTTP/1.1 and
    /// 0.76–0.81 s with HTTP/2 (with the large windows set here; 0.8–1.1 s with hyper's
    /// adaptive window). HTTP/2 multiplexes many small requests over one connection.
    pub fn http2(mut self, enabled: bool) -> Self {
        self.http2 = enabled;
        self
    }

    /// Sends requests for a host name to a fixed address instead of resolving it (like
    /// curl's `--resolve`); the port of each URL is kept. TLS still verifies the
    /// certificate for the host name, and a pin never makes plain HTTP acceptable: a
    /// non-loopback name pinned to `127.0.0.1` stays HTTPS-only, and `localhost` pinned to
    /// another machine loses its plain-HTTP allowance.
    pub fn resolve(mut self, host: impl Into<String>, address: SocketAddr) -> Self {
        self.resolve.push((host.into(), address));
        self
    }

    /// Validates the options, loads the CA files and builds the client.
    pub fn build(self) -> Result<Client, RegistryError> {
        let insecure = self
            .insecure
            .iter()
            .map(|entry| normalize_insecure(entry))
            .collect::<Result<HashSet<_>, _>>()?;
        let pinned: HashMap<String, IpAddr> = self
            .resolve
            .iter()
            .map(|(host, address)| (host.to_ascii_lowercase(), address.ip()))
            .collect();
        let mut mirrors: HashMap<String, Vec<Url>> = HashMap::new();
        for (registry, base) in &self.mirrors {
            let url = parse_mirror(registry, base)?;
            let host = crate::client::host_port(&url);
            if url.scheme() == "http"
                && !insecure.contains(&host)
                && !crate::client::is_local(&host, &pinned)
            {
                return Err(RegistryError::InvalidOption {
                    option: format!("--registry-mirror {registry}={base}"),
                    reason: format!(
                        "plain http is only used for this machine or a registry named insecure \
                         (add --insecure-registry {host})"
                    ),
                });
            }
            mirrors
                .entry(normalize_registry(registry))
                .or_default()
                .push(url);
        }
        let roots = tls::load_ca_files(&self.ca_files)?;
        let http = self.http_clients(&tls::verifying_config(roots, self.http2)?)?;
        let insecure_http = if insecure.is_empty() {
            None
        } else {
            Some(self.http_clients(&tls::insecure_config(self.http2)?)?)
        };
        Ok(Client::from_settings(Settings {
            http,
            insecure_http,
            insecure,
            mirrors,
            pinned,
            retry: self.retry,
            keychain: self.keychain.unwrap_or_default(),
        }))
    }

    /// The proxied and the direct client of one TLS configuration.
    fn http_clients(&self, tls: &rustls::ClientConfig) -> Result<HttpClients, RegistryError> {
        Ok(HttpClients {
            proxied: self.http_client(tls.clone(), true)?,
            direct: self.http_client(tls.clone(), false)?,
        })
    }

    /// An HTTP client; `proxied` lets it use the environment's proxy settings.
    fn http_client(
        &self,
        tls: rustls::ClientConfig,
        proxied: bool,
    ) -> Result<reqwest::Client, RegistryError> {
        let builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(self.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .tcp_nodelay(true);
        let builder = if proxied { builder } else { builder.no_proxy() };
        let builder = self
            .resolve
            .iter()
            .fold(builder, |builder, (host, address)| {
                builder.resolve(host, *address)
            });
        let builder = if self.http2 {
            builder
                .http2_initial_stream_window_size(8 << 20)
                .http2_initial_connection_window_size(32 << 20)
                .http2_max_frame_size(1 << 20)
        } else {
            builder.http1_only()
        };
        builder
            .build()
            .map_err(|error| RegistryError::Client(HttpError::new(error)))
    }
}

/// The registry names Docker Hub goes by, all normalised to `docker.io`.
pub(crate) fn normalize_registry(registry: &str) -> String {
    let registry = registry.trim().trim_end_matches('/').to_ascii_lowercase();
    let registry = registry
        .strip_prefix("https://")
        .or_else(|| registry.strip_prefix("http://"))
        .unwrap_or(&registry)
        .to_owned();
    match registry.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            imgpull_reference::DOCKER_HUB.to_owned()
        }
        _ => registry,
    }
}

/// Checks an insecure registry entry (`HOST` or `HOST:PORT`, a scheme is tolerated).
fn normalize_insecure(entry: &str) -> Result<String, RegistryError> {
    let normalized = normalize_registry(entry);
    let valid = Url::parse(&format!("http://{normalized}/"))
        .ok()
        .is_some_and(|url| url.host_str().is_some() && url.path() == "/");
    if normalized.is_empty() || !valid {
        return Err(RegistryError::InvalidOption {
            option: format!("--insecure-registry {entry}"),
            reason: "expected HOST or HOST:PORT".to_owned(),
        });
    }
    Ok(normalized)
}

/// Parses a mirror base URL; a bare host gets `https://`.
fn parse_mirror(registry: &str, base: &str) -> Result<Url, RegistryError> {
    let text = base.trim().trim_end_matches('/');
    let text = if text.contains("://") {
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    let invalid = |reason: String| RegistryError::InvalidOption {
        option: format!("--registry-mirror {registry}={base}"),
        reason,
    };
    let url = Url::parse(&text).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid("expected an http or https URL".to_owned()));
    }
    if url.query().is_some() || !url.username().is_empty() {
        return Err(invalid(
            "a mirror URL takes no query and no credentials".to_owned(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_aliases_normalise() {
        for alias in [
            "docker.io",
            "index.docker.io",
            "https://registry-1.docker.io/",
            "Registry.Hub.Docker.com",
        ] {
            assert_eq!(normalize_registry(alias), "docker.io", "{alias}");
        }
        assert_eq!(normalize_registry("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn insecure_entries_are_host_and_port() {
        assert_eq!(normalize_insecure("reg:5000").unwrap(), "reg:5000");
        assert_eq!(normalize_insecure("http://Reg:5000/").unwrap(), "reg:5000");
        assert!(normalize_insecure("").is_err());
        assert!(normalize_insecure("reg/path").is_err());
    }

    #[test]
    fn mirrors_get_https_and_reject_bad_urls() {
        assert_eq!(
            parse_mirror("docker.io", "mirror.gcr.io").unwrap().as_str(),
            "https://mirror.gcr.io/"
        );
        assert_eq!(
            parse_mirror("docker.io", "http://127.0.0.1:5000/prefix/")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/prefix"
        );
        assert!(parse_mirror("docker.io", "ftp://x").is_err());
        assert!(parse_mirror("docker.io", "https://u:p@x").is_err());
    }

    #[test]
    fn plain_http_mirrors_only_on_this_machine_or_named_insecure() {
        let error = ClientBuilder::new()
            .mirror("docker.io", "http://mirror.example:5000")
            .build()
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("--insecure-registry mirror.example:5000"),
            "{error}"
        );
        assert!(
            ClientBuilder::new()
                .mirror("docker.io", "http://mirror.example:5000")
                .insecure_registry("mirror.example:5000")
                .build()
                .is_ok()
        );
        assert!(
            ClientBuilder::new()
                .mirror("docker.io", "http://127.0.0.1:5000")
                .build()
                .is_ok()
        );
        assert!(
            ClientBuilder::new()
                .mirror("docker.io", "http://localhost:5000")
                .resolve("localhost", "192.0.2.1:5000".parse().unwrap())
                .build()
                .is_err()
        );
    }

    #[test]
    fn build_rejects_missing_ca_file() {
        let error = ClientBuilder::new()
            .ca_file("/nonexistent/ca.pem")
            .build()
            .unwrap_err();
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
    }
}
