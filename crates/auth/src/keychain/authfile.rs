//! Reading docker `config.json` and containers `auth.json` files.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Map, Value};

use super::hosts;
use crate::{AuthError, Credential, Secret};

/// Base64 as docker writes it, accepting a missing padding.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Which convention an auth file's keys follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// docker's `config.json`: a key's path is ignored (`https://index.docker.io/v1/`).
    DockerConfig,
    /// containers' `auth.json`: a key without a scheme but with a path
    /// (`quay.io/team`) is scoped to that namespace and does not apply to the whole registry.
    ContainersAuth,
}

/// Reads a JSON object file; `None` when the file does not exist. An empty file is an empty
/// object, as docker treats it.
pub(crate) fn read_object(path: &Path) -> Result<Option<Map<String, Value>>, AuthError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuthError::ReadFile {
                path: path.to_owned(),
                source,
            });
        }
    };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Map::new()));
    }
    // Parse into a `Value`: its errors give a line and column, never a quoted field value.
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(Some(map)),
        Ok(_) => Err(AuthError::InvalidAuthFile {
            path: path.to_owned(),
            reason: "the top level is not a JSON object".to_owned(),
            source: None,
        }),
        Err(source) => Err(AuthError::InvalidAuthFile {
            path: path.to_owned(),
            reason: "not valid JSON".to_owned(),
            source: Some(source),
        }),
    }
}

/// The JSON object under `name` (e.g. `auths`), or an error naming the file.
pub(crate) fn object_field<'a>(
    root: &'a Map<String, Value>,
    name: &str,
    path: &Path,
) -> Result<Option<&'a Map<String, Value>>, AuthError> {
    match root.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(_) => Err(AuthError::InvalidAuthFile {
            path: path.to_owned(),
            reason: format!("{name} is not a JSON object"),
            source: None,
        }),
    }
}

/// Whether an `auths` or `credHelpers` key applies to a whole registry (normalised name).
pub(crate) fn key_matches(key: &str, registry: &str, kind: FileKind) -> bool {
    let scoped_to_namespace = kind == FileKind::ContainersAuth
        && hosts::strip_scheme(key).is_none()
        && key.trim_end_matches('/').contains('/');
    !scoped_to_namespace && hosts::normalize(key) == registry
}

/// The keys of `map` that apply to `registry`, best first: the registry exactly as given,
/// then docker's server URL for it, then the other matching keys in file order.
pub(crate) fn matching_keys<'a>(
    map: &'a Map<String, Value>,
    registry: &str,
    kind: FileKind,
) -> Vec<&'a str> {
    let normalized = hosts::normalize(registry);
    let server = hosts::server_url(registry);
    let mut keys: Vec<&str> = map
        .keys()
        .map(String::as_str)
        .filter(|key| key_matches(key, &normalized, kind))
        .collect();
    let rank = |key: &str| {
        if key == registry {
            0
        } else if key == server {
            1
        } else {
            2
        }
    };
    keys.sort_by_key(|key| rank(key));
    keys
}

/// A parsed auth file, ready for lookups.
#[derive(Debug)]
pub(crate) struct AuthFile {
    pub(crate) path: PathBuf,
    kind: FileKind,
    root: Map<String, Value>,
}

impl AuthFile {
    /// Loads `path`; `None` when it does not exist.
    pub(crate) fn load(path: &Path, kind: FileKind) -> Result<Option<Self>, AuthError> {
        Ok(read_object(path)?.map(|root| Self {
            path: path.to_owned(),
            kind,
            root,
        }))
    }

    /// The credential helper for `registry`: its `credHelpers` entry, else `credsStore`.
    pub(crate) fn helper_for(&self, registry: &str) -> Result<Option<String>, AuthError> {
        helper_for(&self.root, registry, self.kind, &self.path)
    }

    /// The credential stored in the `auths` entry for `registry`, if any.
    pub(crate) fn credential_for(&self, registry: &str) -> Result<Option<Credential>, AuthError> {
        let Some(auths) = object_field(&self.root, "auths", &self.path)? else {
            return Ok(None);
        };
        for key in matching_keys(auths, registry, self.kind) {
            if let Some(credential) = entry_credential(&self.path, key, &auths[key])? {
                return Ok(Some(credential));
            }
        }
        Ok(None)
    }
}

/// The helper configured for `registry` in a parsed config: `credHelpers`, else `credsStore`.
pub(crate) fn helper_for(
    root: &Map<String, Value>,
    registry: &str,
    kind: FileKind,
    path: &Path,
) -> Result<Option<String>, AuthError> {
    let invalid = |what: &str| AuthError::InvalidAuthFile {
        path: path.to_owned(),
        reason: format!("{what} is not a string"),
        source: None,
    };
    if let Some(helpers) = object_field(root, "credHelpers", path)?
        && let Some(key) = matching_keys(helpers, registry, kind).first()
    {
        let name = helpers[*key]
            .as_str()
            .ok_or_else(|| invalid(&format!("credHelpers entry {key:?}")))?;
        if !name.is_empty() {
            return Ok(Some(name.to_owned()));
        }
    }
    match root.get("credsStore") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(name)) if name.is_empty() => Ok(None),
        Some(Value::String(name)) => Ok(Some(name.clone())),
        Some(_) => Err(invalid("credsStore")),
    }
}

/// The credential of one `auths` entry: `registrytoken`, else `identitytoken`, else `auth`
/// (base64 `user:password`), else `username` and `password`. `None` for an entry without
/// credentials (such as the `{}` docker writes when a helper holds them).
fn entry_credential(
    path: &Path,
    key: &str,
    entry: &Value,
) -> Result<Option<Credential>, AuthError> {
    let invalid = |reason| AuthError::InvalidAuthEntry {
        path: path.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let Value::Object(fields) = entry else {
        return Err(invalid("the entry is not a JSON object"));
    };
    let field = |name: &str| match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) => Err(invalid("a credential field is not a string")),
    };
    if let Some(token) = field("registrytoken")? {
        return Ok(Some(Credential::RegistryToken(Secret::new(token))));
    }
    if let Some(token) = field("identitytoken")? {
        return Ok(Some(Credential::IdentityToken(Secret::new(token))));
    }
    if let Some(auth) = field("auth")? {
        let decoded = BASE64
            .decode(auth.trim())
            .map_err(|_| invalid("the auth field is not base64"))?;
        let decoded =
            String::from_utf8(decoded).map_err(|_| invalid("the auth field is not UTF-8"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| invalid("the auth field is not username:password"))?;
        if username.is_empty() && password.is_empty() {
            return Ok(None);
        }
        return Ok(Some(Credential::basic(username, password)));
    }
    match (field("username")?, field("password")?) {
        (Some(username), Some(password)) => Ok(Some(Credential::basic(username, password))),
        _ => Ok(None),
    }
}
