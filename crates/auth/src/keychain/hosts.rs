//! Matching registry hosts against the keys of auth files, as docker does.

/// The canonical name of Docker Hub.
pub(crate) const DOCKER_HUB: &str = "docker.io";

/// The server URL docker uses for Docker Hub in `auths` keys and with credential helpers.
pub(crate) const DOCKER_HUB_SERVER: &str = "https://index.docker.io/v1/";

/// Every host name that means Docker Hub.
const DOCKER_HUB_ALIASES: [&str; 4] = [
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

/// Strips an `http://` or `https://` prefix (any case); `None` when there is none.
pub(crate) fn strip_scheme(key: &str) -> Option<&str> {
    ["https://", "http://"].into_iter().find_map(|scheme| {
        key.get(..scheme.len())
            .filter(|prefix| prefix.eq_ignore_ascii_case(scheme))
            .map(|_| &key[scheme.len()..])
    })
}

/// The registry a host or auth-file key names: the scheme and any path (`/v1/`) removed,
/// lower case, `host:port` kept, and every Docker Hub alias turned into `docker.io`.
pub(crate) fn normalize(key: &str) -> String {
    let key = key.trim();
    let without_scheme = strip_scheme(key).unwrap_or(key);
    let host = without_scheme
        .split('/')
        .next()
        .unwrap_or(without_scheme)
        .to_ascii_lowercase();
    if DOCKER_HUB_ALIASES.contains(&host.as_str()) {
        DOCKER_HUB.to_owned()
    } else {
        host
    }
}

/// The server URL docker gives credential helpers and uses as the `auths` key when it logs
/// in: `https://index.docker.io/v1/` for Docker Hub, the host (with port) otherwise.
pub(crate) fn server_url(registry: &str) -> String {
    let registry = normalize(registry);
    if registry == DOCKER_HUB {
        DOCKER_HUB_SERVER.to_owned()
    } else {
        registry
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_keys_all_normalise_to_docker_io() {
        for key in [
            "https://index.docker.io/v1/",
            "http://index.docker.io/v1/",
            "HTTPS://Index.Docker.IO/v1/",
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
            "https://registry-1.docker.io",
            "registry.hub.docker.com",
        ] {
            assert_eq!(normalize(key), "docker.io", "{key}");
        }
    }

    #[test]
    fn other_keys_keep_host_and_port() {
        assert_eq!(normalize("https://ghcr.io"), "ghcr.io");
        assert_eq!(normalize("Quay.io/v1/"), "quay.io");
        assert_eq!(normalize("localhost:5000"), "localhost:5000");
        assert_eq!(normalize("http://localhost:5000/v2/"), "localhost:5000");
        assert_ne!(normalize("localhost:5001"), normalize("localhost:5000"));
        assert_ne!(normalize("docker.io.evil.example"), "docker.io");
    }

    #[test]
    fn server_urls() {
        assert_eq!(server_url("registry-1.docker.io"), DOCKER_HUB_SERVER);
        assert_eq!(server_url("ghcr.io"), "ghcr.io");
        assert_eq!(server_url("https://localhost:5000/"), "localhost:5000");
    }
}
