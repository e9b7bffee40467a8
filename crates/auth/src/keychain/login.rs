//! Storing and removing logins in a docker config file, as `docker login`/`logout` do.

use std::ffi::OsStr;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize as _;
use serde_json::{Map, Value};

use super::authfile::{self, FileKind};
use super::helper::Helper;
use super::hosts;
use crate::{AuthError, Secret};

/// Where [`store_login`] put the credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginStorage {
    /// Base64 in the config file's `auths` (not encrypted; docker warns about this too).
    ConfigFile {
        /// The config file.
        path: PathBuf,
    },
    /// In a credential helper (`credHelpers` entry or `credsStore`).
    Helper {
        /// The helper name (the program is `docker-credential-<helper>`).
        helper: String,
    },
}

/// Stores a login for `registry` in the docker config at `config_path`, as `docker login`
/// does.
///
/// When the config names a credential helper for the registry (`credHelpers`, else
/// `credsStore`), the credentials go to `docker-credential-<helper> store` and the `auths`
/// entry is left empty (`{}`); otherwise the entry is `{"auth": base64(username:password)}`.
/// The key is `https://index.docker.io/v1/` for Docker Hub and the host (with port)
/// otherwise; other keys for the same registry are removed so that they cannot shadow the
/// new login. Every other key of the file is kept. The file is replaced atomically (a
/// temporary file renamed over it), with mode 0600 on Unix; a symlinked config is written
/// through to its target. Helpers are looked up in `helper_search_path`, or `PATH` when it is
/// `None`. An empty username, or one containing `:` (which `user:password` cannot carry), is
/// refused before anything is written.
pub fn store_login(
    config_path: &Path,
    registry: &str,
    username: &str,
    password: &Secret,
    helper_search_path: Option<&OsStr>,
) -> Result<LoginStorage, AuthError> {
    let invalid_username = |reason| AuthError::InvalidUsername {
        username: username.to_owned(),
        reason,
    };
    if username.is_empty() {
        return Err(invalid_username("it is empty"));
    }
    if username.contains(':') {
        return Err(invalid_username(
            "it contains ':', which basic authentication cannot carry",
        ));
    }
    let mut root = authfile::read_object(config_path)?.unwrap_or_default();
    let server = hosts::server_url(registry);
    let helper = authfile::helper_for(&root, registry, FileKind::DockerConfig, config_path)?;
    let entry = if let Some(name) = &helper {
        Helper::find(name, helper_search_path, config_path)?.store(&server, username, password)?;
        Value::Object(Map::new())
    } else {
        let auth = STANDARD.encode(format!("{username}:{}", password.expose()));
        serde_json::json!({ "auth": auth })
    };
    let auths = auths_mut(&mut root, config_path)?;
    for key in owned_matching_keys(auths, registry) {
        auths.remove(&key);
    }
    auths.insert(server, entry);
    write_config(config_path, &root)?;
    Ok(match helper {
        Some(helper) => LoginStorage::Helper { helper },
        None => LoginStorage::ConfigFile {
            path: config_path.to_owned(),
        },
    })
}

/// Removes the login for `registry` from the docker config at `config_path` (every `auths`
/// key that matches it) and from its credential helper, as `docker logout` does. Returns
/// whether there was anything to remove. The file is rewritten as [`store_login`] writes it,
/// and only when it changed.
pub fn remove_login(
    config_path: &Path,
    registry: &str,
    helper_search_path: Option<&OsStr>,
) -> Result<bool, AuthError> {
    let Some(mut root) = authfile::read_object(config_path)? else {
        return Ok(false);
    };
    let mut removed = false;
    if let Some(name) = authfile::helper_for(&root, registry, FileKind::DockerConfig, config_path)?
    {
        let helper = Helper::find(&name, helper_search_path, config_path)?;
        removed |= helper.erase(&hosts::server_url(registry))?;
    }
    if authfile::object_field(&root, "auths", config_path)?.is_some() {
        let auths = auths_mut(&mut root, config_path)?;
        let keys = owned_matching_keys(auths, registry);
        if !keys.is_empty() {
            for key in keys {
                auths.remove(&key);
            }
            write_config(config_path, &root)?;
            removed = true;
        }
    }
    Ok(removed)
}

fn owned_matching_keys(auths: &Map<String, Value>, registry: &str) -> Vec<String> {
    authfile::matching_keys(auths, registry, FileKind::DockerConfig)
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// The `auths` object of a config, created when missing.
fn auths_mut<'a>(
    root: &'a mut Map<String, Value>,
    path: &Path,
) -> Result<&'a mut Map<String, Value>, AuthError> {
    let auths = root
        .entry("auths")
        .or_insert_with(|| Value::Object(Map::new()));
    if auths.is_null() {
        *auths = Value::Object(Map::new());
    }
    auths
        .as_object_mut()
        .ok_or_else(|| AuthError::InvalidAuthFile {
            path: path.to_owned(),
            reason: "auths is not a JSON object".to_owned(),
            source: None,
        })
}

/// Writes `root` to `path` atomically, tab-indented as docker writes it, mode 0600 on Unix.
fn write_config(path: &Path, root: &Map<String, Value>) -> Result<(), AuthError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| AuthError::WriteFile { path, source }
    };
    // Write through a symlink (a dotfiles manager may link the config) instead of replacing it.
    let target = match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            fs::canonicalize(path).map_err(write_error(path))?
        }
        _ => path.to_owned(),
    };
    let dir = match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir).map_err(write_error(&dir))?;

    let mut bytes = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, formatter);
    root.serialize(&mut serializer)
        .map_err(|error| write_error(&target)(error.into()))?;

    let mut builder = tempfile::Builder::new();
    builder.prefix(".imgpull-config").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(fs::Permissions::from_mode(0o600));
    }
    let mut file = builder.tempfile_in(&dir).map_err(write_error(&dir))?;
    file.write_all(&bytes).map_err(write_error(file.path()))?;
    file.as_file()
        .sync_all()
        .map_err(write_error(file.path()))?;
    file.persist(&target)
        .map_err(|error| write_error(&target)(error.error))?;
    Ok(())
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}
