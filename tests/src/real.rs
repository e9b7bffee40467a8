//! A real CNCF distribution 2.8 registry (`docker-registry serve CONFIG`) on `127.0.0.1`.
//!
//! ```no_run
//! use imgpull_tests::real::{RegistryConfig, RegistryServer};
//! use imgpull_tests::realm::TokenConfig;
//!
//! # fn main() -> Result<(), imgpull_tests::HarnessError> {
//! let plain = RegistryServer::start(RegistryConfig::plain_http())?;
//! let basic = RegistryServer::start(RegistryConfig::tls().htpasswd("alice", "secret"))?;
//! let token = RegistryServer::start(RegistryConfig::tls().token_auth(
//!     TokenConfig::new().user("bob", "hunter2").public_repository("public/app"),
//! ))?;
//! println!("{} {} {}", plain.host(), basic.url(), token.ca_pem_path().display());
//! # Ok(()) }
//! ```
//!
//! Each server has its own PKI (see [`TestPki`]), storage, config and log in a temporary
//! directory. The port is found by binding `127.0.0.1:0` and releasing it; a start that loses
//! the port to another process is retried on a new one. `start` returns once `GET /v2/` answers.
//! On drop the registry process (only the one this value started) is killed and reaped; when the
//! drop happens during a panic, the directory (minus storage) is kept and its path printed, so
//! that `registry.log` can be read after a failed test.

use std::fs::{self, File};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::error::{HarnessError, Result, io_context};
use crate::http::probe_status;
use crate::pki::TestPki;
use crate::realm::{TokenConfig, TokenRealm, TokenRequest, User};
use crate::tools::{self, DOCKER_REGISTRY, HTPASSWD, run_checked};

/// How many ports to try before giving up on start-up collisions.
const START_ATTEMPTS: usize = 5;

/// How long a registry may take to answer `GET /v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// How clients must authenticate to the registry.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthConfig {
    /// No authentication: anyone may pull and push.
    Anonymous,
    /// HTTP Basic against an htpasswd file (bcrypt entries) with these users.
    Htpasswd(Vec<User>),
    /// Docker token auth served by an in-process [`TokenRealm`].
    Token(TokenConfig),
}

/// What kind of registry to start.
#[derive(Debug, Clone)]
pub struct RegistryConfig {
    /// Serve HTTPS with a certificate from the server's [`TestPki`] (otherwise plain HTTP).
    pub tls: bool,
    /// The authentication scheme.
    pub auth: AuthConfig,
}

impl RegistryConfig {
    /// A plain-HTTP registry without authentication.
    pub fn plain_http() -> Self {
        Self {
            tls: false,
            auth: AuthConfig::Anonymous,
        }
    }

    /// An HTTPS registry without authentication.
    pub fn tls() -> Self {
        Self {
            tls: true,
            auth: AuthConfig::Anonymous,
        }
    }

    /// Requires Basic authentication and adds a user (call again to add more users).
    #[must_use]
    pub fn htpasswd(mut self, username: &str, password: &str) -> Self {
        let user = User::new(username, password);
        match &mut self.auth {
            AuthConfig::Htpasswd(users) => users.push(user),
            auth => *auth = AuthConfig::Htpasswd(vec![user]),
        }
        self
    }

    /// Requires token authentication from a realm with this configuration (served over HTTPS
    /// with the same CA when the registry uses TLS, else over HTTP).
    #[must_use]
    pub fn token_auth(mut self, config: TokenConfig) -> Self {
        self.auth = AuthConfig::Token(config);
        self
    }
}

/// A running `docker-registry` process and, for token auth, its realm.
#[derive(Debug)]
pub struct RegistryServer {
    child: Child,
    addr: SocketAddr,
    tls: bool,
    users: Vec<User>,
    realm: Option<TokenRealm>,
    pki: TestPki,
    dir: Option<TempDir>,
    dir_path: PathBuf,
}

impl RegistryServer {
    /// Starts a registry and waits until `GET /v2/` answers.
    ///
    /// Fails with [`HarnessError::ToolMissing`] when `docker-registry` (or, for htpasswd,
    /// `htpasswd`) is not installed.
    pub fn start(config: RegistryConfig) -> Result<Self> {
        let binary = tools::find_tool(DOCKER_REGISTRY)
            .or_else(|| tools::find_tool("/usr/bin/docker-registry"))
            .map_or_else(|| tools::require_tool(DOCKER_REGISTRY), Ok)?;
        let pki = TestPki::generate()?;
        let dir = tempfile::Builder::new()
            .prefix("imgpull-registry-")
            .tempdir()
            .map_err(io_context(
                "creating a temporary directory for the registry",
            ))?;
        let dir_path = dir.path().to_path_buf();
        let storage = dir_path.join("storage");
        fs::create_dir(&storage).map_err(io_context(format!(
            "creating the registry storage {}",
            storage.display()
        )))?;

        let (auth_yaml, users, realm) = match config.auth {
            AuthConfig::Anonymous => (String::new(), Vec::new(), None),
            AuthConfig::Htpasswd(users) => {
                let path = dir_path.join("htpasswd");
                write_htpasswd(&path, &users)?;
                let yaml = format!(
                    "auth:\n  htpasswd:\n    realm: imgpull-test\n    path: {}\n",
                    yaml_path(&path)
                );
                (yaml, users, None)
            }
            AuthConfig::Token(token_config) => {
                let users = token_config.users.clone();
                // A TLS registry gets an HTTPS realm under the same CA, as in production.
                let realm = if config.tls {
                    TokenRealm::start_https(token_config, &pki)?
                } else {
                    TokenRealm::start(token_config, &pki)?
                };
                let yaml = format!(
                    "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                    yaml_string(&realm.url()),
                    yaml_string(&realm.config().service),
                    yaml_string(&realm.config().issuer),
                    yaml_path(&pki.ca_pem_path()),
                );
                (yaml, users, Some(realm))
            }
        };
        let tls_yaml = if config.tls {
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                yaml_path(&pki.server_cert_path()),
                yaml_path(&pki.server_key_path())
            )
        } else {
            String::new()
        };

        let log_path = dir_path.join("registry.log");
        let config_path = dir_path.join("config.yml");
        let probe_ca = config.tls.then(|| pki.ca_der().to_vec());
        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            let addr = free_port()?;
            let yaml = format!(
                "version: 0.1\n\
                 log:\n  level: info\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n  \
                 maintenance:\n    uploadpurging:\n      enabled: false\n\
                 health:\n  storagedriver:\n    enabled: false\n\
                 http:\n  addr: {addr}\n  secret: imgpull-test-secret\n{tls_yaml}\
                 {auth_yaml}",
                storage = yaml_path(&storage),
            );
            fs::write(&config_path, yaml)
                .map_err(io_context(format!("writing {}", config_path.display())))?;
            let mut child = spawn_registry(&binary, &config_path, &log_path)?;
            match wait_ready(&mut child, addr, probe_ca.as_deref(), &log_path) {
                Ok(()) => {
                    return Ok(Self {
                        child,
                        addr,
                        tls: config.tls,
                        users,
                        realm,
                        pki,
                        dir: Some(dir),
                        dir_path,
                    });
                }
                Err(reason) => {
                    reap(&mut child);
                    let retry = reason.contains("address already in use");
                    failures.push(format!("attempt {attempt} on {addr}: {reason}"));
                    if !retry {
                        break;
                    }
                }
            }
        }
        let kept = dir.keep();
        Err(HarnessError::RegistryStart {
            reason: failures.join("; "),
            log: kept.join("registry.log"),
        })
    }

    /// The socket address the registry listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, the registry part of image references.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `https://127.0.0.1:PORT` or `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.addr
        )
    }

    /// `HOST/REPOSITORY_AND_TAG`, e.g. `image_ref("private/app:v1")` → `127.0.0.1:PORT/private/app:v1`.
    pub fn image_ref(&self, repository_and_tag: &str) -> String {
        format!("{}/{repository_and_tag}", self.addr)
    }

    /// Whether the registry serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The CA certificate (PEM) that signed the server certificate (and the token signer).
    pub fn ca_pem_path(&self) -> PathBuf {
        self.pki.ca_pem_path()
    }

    /// A directory holding `ca.crt`, for skopeo's `--*cert-dir` options.
    pub fn cert_dir(&self) -> PathBuf {
        self.pki.cert_dir()
    }

    /// The server's keys and certificates.
    pub fn pki(&self) -> &TestPki {
        &self.pki
    }

    /// The users configured for htpasswd or token auth (empty for an anonymous registry).
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// The token realm, when the registry uses token auth.
    pub fn realm(&self) -> Option<&TokenRealm> {
        self.realm.as_ref()
    }

    /// The requests the token realm has received (empty without token auth).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.realm
            .as_ref()
            .map(TokenRealm::requests)
            .unwrap_or_default()
    }

    /// Forgets the token realm's recorded requests (e.g. after pushing test images).
    pub fn clear_token_requests(&self) {
        if let Some(realm) = &self.realm {
            realm.clear_requests();
        }
    }

    /// The registry's storage root (the filesystem driver's `rootdirectory`).
    pub fn storage_dir(&self) -> PathBuf {
        self.dir_path.join("storage")
    }

    /// Where the filesystem driver keeps a blob's bytes
    /// (`storage/docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data`), whether or not it exists.
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        let prefix = hex.get(..2).unwrap_or(hex);
        self.storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(prefix)
            .join(hex)
            .join("data")
    }

    /// Flips one byte in the middle of a stored blob, keeping its size: the registry then
    /// serves bytes that do not match their digest (a real integrity failure).
    pub fn corrupt_blob(&self, digest: &str) -> Result<()> {
        let path = self.blob_data_path(digest);
        let mut bytes =
            fs::read(&path).map_err(io_context(format!("reading the blob {}", path.display())))?;
        let middle = bytes.len() / 2;
        let Some(byte) = bytes.get_mut(middle) else {
            return Err(HarnessError::InvalidSpec(format!(
                "the blob {digest} is empty and cannot be corrupted"
            )));
        };
        *byte ^= 0xFF;
        fs::write(&path, bytes).map_err(io_context(format!("rewriting {}", path.display())))
    }

    /// The file receiving the registry's stdout and stderr.
    pub fn log_path(&self) -> PathBuf {
        self.dir_path.join("registry.log")
    }

    /// The registry's log so far (empty if it cannot be read), for assertion messages.
    pub fn log_contents(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        reap(&mut self.child);
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            let _storage_removed = fs::remove_dir_all(dir.path().join("storage"));
            let kept = dir.keep();
            eprintln!(
                "note: kept the registry directory {} for debugging (see registry.log)",
                kept.display()
            );
        }
    }
}

/// Kills a child this harness started (by its PID, via `Child::kill`) and reaps it.
fn reap(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _killed = child.kill();
    }
    let _status = child.wait();
}

fn spawn_registry(binary: &Path, config_path: &Path, log_path: &Path) -> Result<Child> {
    let log = File::options()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(io_context(format!("opening {}", log_path.display())))?;
    let log_err = log
        .try_clone()
        .map_err(io_context(format!("duplicating {}", log_path.display())))?;
    let mut command = Command::new(binary);
    command
        .arg("serve")
        .arg(config_path)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // distribution reads REGISTRY_* variables as configuration overrides (REGISTRY_AUTH_FILE,
    // meant for containers tools, would become `auth.file`): start from a clean slate.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("REGISTRY_") {
            command.env_remove(name);
        }
    }
    command.spawn().map_err(io_context(format!(
        "starting {} serve {}",
        binary.display(),
        config_path.display()
    )))
}

/// Polls `GET /v2/` until it answers, the process exits, or the timeout passes.
fn wait_ready(
    child: &mut Child,
    addr: SocketAddr,
    ca_der: Option<&[u8]>,
    log_path: &Path,
) -> std::result::Result<(), String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = fs::read_to_string(log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            return Err(format!(
                "exited with {status}; last log lines: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ));
        }
        // Another process that won the port race could answer the probe too: only a log
        // line saying that *this* registry listens on the address makes it ours.
        if probe_status(addr, ca_der, "/v2/", None).is_ok()
            && fs::read_to_string(log_path)
                .is_ok_and(|log| log.contains(&format!("listening on {addr}")))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no answer to GET /v2/ within {} s",
                READY_TIMEOUT.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port that was free a moment ago (bound to `:0`, then released).
fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(io_context("binding 127.0.0.1:0 to find a free port"))?;
    listener
        .local_addr()
        .map_err(io_context("reading the address of a bound listener"))
}

/// Writes an htpasswd file with bcrypt entries (cost 4, the minimum, to keep tests fast).
fn write_htpasswd(path: &Path, users: &[User]) -> Result<()> {
    let binary = tools::require_tool(HTPASSWD)?;
    let mut contents = String::new();
    for user in users {
        let output = run_checked(
            Command::new(&binary)
                .args(["-n", "-b", "-B", "-C", "4"])
                .arg(&user.username)
                .arg(&user.password),
        )?;
        contents.push_str(String::from_utf8_lossy(&output.stdout).trim());
        contents.push('\n');
    }
    fs::write(path, contents).map_err(io_context(format!("writing {}", path.display())))
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn yaml_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

fn yaml_path(path: &Path) -> String {
    yaml_string(&path.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{RegistryConfig, RegistryServer};
    use crate::http::probe_status;
    use crate::realm::TokenConfig;
    use crate::tools::DOCKER_REGISTRY;

    /// The realm sets `exp` 60 s early, so distribution's leeway ends exactly at the lifetime.
    /// 5 s leaves room for a stalled first probe on a loaded machine: that probe needs the
    /// token still valid.
    #[test]
    fn a_token_stops_working_when_its_lifetime_ends() {
        crate::require_e2e!(DOCKER_REGISTRY);
        let server = RegistryServer::start(
            RegistryConfig::tls().token_auth(
                TokenConfig::new()
                    .user("carol", "pw")
                    .lifetime(Duration::from_secs(5)),
            ),
        )
        .expect("registry starts");
        let realm = server.realm().expect("token auth has a realm");
        let bearer = format!("Bearer {}", realm.sign_token("carol", &[]).expect("token"));
        let ca = Some(server.pki().ca_der());
        let status = |auth: Option<&str>| {
            probe_status(server.addr(), ca, "/v2/", auth).expect("registry answers")
        };
        assert_eq!(status(None), 401);
        assert_eq!(status(Some(&bearer)), 200, "{}", server.log_contents());
        std::thread::sleep(Duration::from_secs(6));
        assert_eq!(
            status(Some(&bearer)),
            401,
            "the token outlived its lifetime"
        );
    }
}
