//! Finding the credential for a registry: explicit, environment, docker config, containers
//! auth files.

mod authfile;
mod helper;
mod hosts;
mod login;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{AuthError, Credential};

use authfile::{AuthFile, FileKind};
use helper::Helper;
pub use login::{LoginStorage, remove_login, store_login};

/// The environment variable holding the username of the environment credential.
pub const USERNAME_ENV: &str = "IMGPULL_USERNAME";

/// The environment variable holding the password of the environment credential.
pub const PASSWORD_ENV: &str = "IMGPULL_PASSWORD";

/// The environment variable naming the one registry the environment credential belongs to
/// (see [`Keychain::with_environment_registry`]).
pub const REGISTRY_ENV: &str = "IMGPULL_REGISTRY";

/// Looks up an environment variable by name.
type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Where a credential was found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialSource {
    /// Given with [`Keychain::with_explicit`] (the command line).
    Explicit,
    /// `IMGPULL_USERNAME` and `IMGPULL_PASSWORD`.
    Environment,
    /// An `auths` entry of a docker config or containers auth file.
    AuthFile {
        /// The file.
        path: PathBuf,
    },
    /// A credential helper configured in a docker config or containers auth file.
    Helper {
        /// The helper name (the program is `docker-credential-<helper>`).
        helper: String,
        /// The file that configures it.
        path: PathBuf,
    },
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Explicit => f.write_str("the command line"),
            Self::Environment => write!(f, "{USERNAME_ENV} and {PASSWORD_ENV}"),
            Self::AuthFile { path } => write!(f, "{}", path.display()),
            Self::Helper { helper, path } => write!(
                f,
                "credential helper docker-credential-{helper} (configured in {})",
                path.display()
            ),
        }
    }
}

/// Resolves the [`Credential`] for a registry from, in order:
///
/// 1. explicit credentials ([`Keychain::with_explicit`], from `--username`/`--password-stdin`);
/// 2. the environment: `IMGPULL_USERNAME` and `IMGPULL_PASSWORD` (setting only one of them is
///    an error), for one registry only: the one `IMGPULL_REGISTRY` names, else the one given
///    to [`Keychain::with_environment_registry`], else none. Like explicit credentials, they
///    never go to another registry or to a mirror on another host;
/// 3. the docker config (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`): the
///    registry's `credHelpers` entry or else `credsStore`, run as
///    `docker-credential-<name> get`; then the `auths` entry (`auth`, `username`/`password`,
///    `identitytoken`, `registrytoken`);
/// 4. containers auth files (`$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
///    `~/.config/containers/auth.json`), read the same way, except that a key with a path but
///    no scheme (`quay.io/team`) is scoped to that namespace and ignored for a whole registry.
///
/// Keys match like docker's: with or without scheme and path, `host:port` exactly, and all
/// of `https://index.docker.io/v1/`, `index.docker.io`, `docker.io` and
/// `registry-1.docker.io` for Docker Hub. Files that do not exist are skipped; files that
/// cannot be read or parsed, and helpers that are missing or fail, are errors naming the
/// file or helper.
///
/// Every source is injectable: [`Keychain::new`] starts with none, and
/// [`Keychain::from_env`] derives them all from an environment lookup and a home directory.
#[derive(Clone, Default)]
pub struct Keychain {
    explicit: Vec<(String, Credential)>,
    env: Option<EnvLookup>,
    env_registry: Option<String>,
    docker_config: Option<PathBuf>,
    auth_files: Vec<PathBuf>,
    helper_search_path: Option<OsString>,
}

impl fmt::Debug for Keychain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keychain")
            .field("explicit", &self.explicit)
            .field("env", &self.env.is_some())
            .field("env_registry", &self.env_registry)
            .field("docker_config", &self.docker_config)
            .field("auth_files", &self.auth_files)
            .field("helper_search_path", &self.helper_search_path)
            .finish()
    }
}

impl Keychain {
    /// A keychain with no sources: every registry resolves to [`Credential::Anonymous`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A keychain with the standard sources of this process: its environment variables,
    /// its home directory and its `PATH`.
    pub fn from_environment() -> Self {
        let keychain = Self::from_env(|name| std::env::var(name).ok(), dirs::home_dir().as_deref());
        match std::env::var_os("PATH") {
            // `PATH` may not be Unicode; read it as an `OsString`.
            Some(path) => keychain.with_helper_search_path(path),
            None => keychain,
        }
    }

    /// A keychain whose sources all come from `env` and `home`: the `IMGPULL_*` variables,
    /// the docker config (`$DOCKER_CONFIG/config.json`, else `<home>/.docker/config.json`),
    /// the containers auth files (`$REGISTRY_AUTH_FILE`,
    /// `$XDG_RUNTIME_DIR/containers/auth.json`, `$XDG_CONFIG_HOME/containers/auth.json` or
    /// `<home>/.config/containers/auth.json`) and the helper search path (`$PATH`).
    pub fn from_env<F>(env: F, home: Option<&Path>) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        let var = |name: &str| {
            env(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        let docker_config = var("DOCKER_CONFIG")
            .or_else(|| home.map(|home| home.join(".docker")))
            .map(|dir| dir.join("config.json"));
        let mut auth_files = Vec::new();
        auth_files.extend(var("REGISTRY_AUTH_FILE"));
        auth_files
            .extend(var("XDG_RUNTIME_DIR").map(|dir| dir.join("containers").join("auth.json")));
        auth_files.extend(
            var("XDG_CONFIG_HOME")
                .or_else(|| home.map(|home| home.join(".config")))
                .map(|dir| dir.join("containers").join("auth.json")),
        );
        let helper_search_path = env("PATH").map(OsString::from);
        let mut keychain = Self {
            docker_config,
            auth_files,
            helper_search_path,
            ..Self::default()
        };
        keychain.env = Some(Arc::new(env));
        keychain
    }

    /// Adds an explicit credential for `registry` (any spelling docker accepts as a key);
    /// it wins over every other source. The first one added for a registry is used.
    #[must_use]
    pub fn with_explicit(mut self, registry: &str, credential: Credential) -> Self {
        self.explicit.push((hosts::normalize(registry), credential));
        self
    }

    /// Names the registry `IMGPULL_USERNAME`/`IMGPULL_PASSWORD` belong to when
    /// `IMGPULL_REGISTRY` does not (the command line's one registry); any spelling docker
    /// accepts as a key. Without either, the environment credential is used for no registry.
    #[must_use]
    pub fn with_environment_registry(mut self, registry: &str) -> Self {
        self.env_registry = Some(hosts::normalize(registry));
        self
    }

    /// Reads `IMGPULL_USERNAME`/`IMGPULL_PASSWORD`/`IMGPULL_REGISTRY` through `lookup` (tests
    /// pass a map instead of the process environment).
    #[must_use]
    pub fn with_env<F>(mut self, lookup: F) -> Self
    where
        F: Fn(&str) -> Option<String> + Send + Sync + 'static,
    {
        self.env = Some(Arc::new(lookup));
        self
    }

    /// Uses this docker `config.json` (it need not exist).
    #[must_use]
    pub fn with_docker_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.docker_config = Some(path.into());
        self
    }

    /// Appends a containers `auth.json` to the files read after the docker config.
    #[must_use]
    pub fn with_auth_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.auth_files.push(path.into());
        self
    }

    /// Looks for `docker-credential-<name>` programs in these directories (a `PATH`-style
    /// list) instead of this process's `PATH`.
    #[must_use]
    pub fn with_helper_search_path(mut self, path: impl Into<OsString>) -> Self {
        self.helper_search_path = Some(path.into());
        self
    }

    /// The docker config file this keychain reads (where `imgpull login` stores credentials).
    pub fn docker_config(&self) -> Option<&Path> {
        self.docker_config.as_deref()
    }

    /// The directories searched for credential helpers, when set.
    pub fn helper_search_path(&self) -> Option<&OsStr> {
        self.helper_search_path.as_deref()
    }

    /// The credential for `registry` (a host such as `ghcr.io`, `localhost:5000` or
    /// `docker.io`); [`Credential::Anonymous`] when no source has one.
    pub fn resolve(&self, registry: &str) -> Result<Credential, AuthError> {
        Ok(self
            .resolve_with_source(registry)?
            .map_or(Credential::Anonymous, |(credential, _)| credential))
    }

    /// The credential for `registry` and where it was found; `None` when no source has one.
    pub fn resolve_with_source(
        &self,
        registry: &str,
    ) -> Result<Option<(Credential, CredentialSource)>, AuthError> {
        let wanted = hosts::normalize(registry);
        if let Some((_, credential)) = self.explicit.iter().find(|(key, _)| *key == wanted) {
            return Ok(Some((credential.clone(), CredentialSource::Explicit)));
        }
        if let Some(credential) = self.environment_credential(&wanted)? {
            return Ok(Some((credential, CredentialSource::Environment)));
        }
        let files = self
            .docker_config
            .iter()
            .map(|path| (path, FileKind::DockerConfig))
            .chain(
                self.auth_files
                    .iter()
                    .map(|path| (path, FileKind::ContainersAuth)),
            );
        for (path, kind) in files {
            if let Some(found) = self.file_credential(path, kind, registry)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The environment credential, when it belongs to `registry` (normalised).
    fn environment_credential(&self, registry: &str) -> Result<Option<Credential>, AuthError> {
        let Some(env) = &self.env else {
            return Ok(None);
        };
        let var = |name| env(name).filter(|value: &String| !value.is_empty());
        match (var(USERNAME_ENV), var(PASSWORD_ENV)) {
            (Some(username), Some(password)) => {
                let owner = var(REGISTRY_ENV)
                    .map(|named| hosts::normalize(&named))
                    .or_else(|| self.env_registry.clone());
                Ok((owner.as_deref() == Some(registry))
                    .then(|| Credential::basic(username, password)))
            }
            (None, None) => Ok(None),
            (Some(_), None) => Err(AuthError::IncompleteEnvironment {
                present: USERNAME_ENV,
                missing: PASSWORD_ENV,
            }),
            (None, Some(_)) => Err(AuthError::IncompleteEnvironment {
                present: PASSWORD_ENV,
                missing: USERNAME_ENV,
            }),
        }
    }

    fn file_credential(
        &self,
        path: &Path,
        kind: FileKind,
        registry: &str,
    ) -> Result<Option<(Credential, CredentialSource)>, AuthError> {
        let Some(file) = AuthFile::load(path, kind)? else {
            return Ok(None);
        };
        if let Some(name) = file.helper_for(registry)? {
            let helper = Helper::find(&name, self.helper_search_path.as_deref(), path)?;
            if let Some(credential) = helper.get(&hosts::server_url(registry))? {
                let source = CredentialSource::Helper {
                    helper: name,
                    path: path.to_owned(),
                };
                return Ok(Some((credential, source)));
            }
        }
        Ok(file.credential_for(registry)?.map(|credential| {
            let source = CredentialSource::AuthFile {
                path: path.to_owned(),
            };
            (credential, source)
        }))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
