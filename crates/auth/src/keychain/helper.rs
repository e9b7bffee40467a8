//! Running docker credential helpers (`docker-credential-<name> get|store|erase`).

use std::env;
use std::ffi::{OsStr, OsString};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::{AuthError, Credential, Secret};

/// What every docker credential helper prints when it has nothing for a server.
const NOT_FOUND_MESSAGE: &str = "credentials not found in native keychain";

/// The username a helper returns when the secret is an identity token.
const IDENTITY_TOKEN_USERNAME: &str = "<token>";

/// The longest helper error message kept in an error.
const MAX_MESSAGE_CHARS: usize = 200;

/// A credential helper program, found in a search path.
#[derive(Debug, Clone)]
pub(crate) struct Helper {
    program: PathBuf,
}

impl Helper {
    /// Finds `docker-credential-<name>` (`.exe` on Windows) in `search_path`, or in `PATH`
    /// when `search_path` is `None`. `config` names the file that asked for the helper.
    pub(crate) fn find(
        name: &str,
        search_path: Option<&OsStr>,
        config: &Path,
    ) -> Result<Self, AuthError> {
        if name.contains(['/', '\\']) || name == ".." {
            return Err(AuthError::InvalidHelperName {
                helper: name.to_owned(),
                path: config.to_owned(),
            });
        }
        let file_name = format!("docker-credential-{name}{}", env::consts::EXE_SUFFIX);
        let search_path: Option<OsString> = match search_path {
            Some(path) => Some(path.to_owned()),
            None => env::var_os("PATH"),
        };
        search_path
            .iter()
            .flat_map(env::split_paths)
            .map(|dir| dir.join(&file_name))
            .find(|candidate| is_executable(candidate))
            .map(|program| Self { program })
            .ok_or_else(|| AuthError::HelperNotFound {
                helper: name.to_owned(),
                path: config.to_owned(),
            })
    }

    /// Asks the helper for the credential of `server`; `None` when it has none.
    pub(crate) fn get(&self, server: &str) -> Result<Option<Credential>, AuthError> {
        let output = self.run("get", server.as_bytes())?;
        if !output.status.success() {
            return self
                .not_found_or_failure("get", server, &output)
                .map(|()| None);
        }
        let invalid = |reason| AuthError::HelperOutput {
            program: self.program.clone(),
            server: server.to_owned(),
            reason,
        };
        let json: Value =
            serde_json::from_slice(&output.stdout).map_err(|_| invalid("not JSON"))?;
        let field = |name| match json.get(name) {
            None | Some(Value::Null) => Ok(""),
            Some(Value::String(text)) => Ok(text.as_str()),
            Some(_) => Err(invalid("Username or Secret is not a string")),
        };
        let (username, secret) = (field("Username")?, field("Secret")?);
        Ok(match (username, secret) {
            (_, "") => None,
            (IDENTITY_TOKEN_USERNAME, token) => Some(Credential::IdentityToken(Secret::new(token))),
            (username, password) => Some(Credential::basic(username, password)),
        })
    }

    /// Stores a username and secret for `server` in the helper.
    pub(crate) fn store(
        &self,
        server: &str,
        username: &str,
        secret: &Secret,
    ) -> Result<(), AuthError> {
        let input = serde_json::json!({
            "ServerURL": server,
            "Username": username,
            "Secret": secret.expose(),
        });
        let output = self.run("store", input.to_string().as_bytes())?;
        if output.status.success() {
            Ok(())
        } else {
            Err(self.failure("store", server, &output, Some(secret)))
        }
    }

    /// Erases the credential of `server` from the helper; `false` when it had none.
    pub(crate) fn erase(&self, server: &str) -> Result<bool, AuthError> {
        let output = self.run("erase", server.as_bytes())?;
        if output.status.success() {
            return Ok(true);
        }
        self.not_found_or_failure("erase", server, &output)
            .map(|()| false)
    }

    fn run(&self, action: &'static str, input: &[u8]) -> Result<Output, AuthError> {
        let io_error = |source| AuthError::HelperIo {
            program: self.program.clone(),
            action,
            source,
        };
        let mut child = Command::new(&self.program)
            .arg(action)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io_error)?;
        if let Some(mut stdin) = child.stdin.take() {
            // A helper that exits without reading its input closes the pipe; its exit status
            // and output then say what happened. The input is far below a pipe's capacity,
            // so this write cannot block on a helper that is busy writing its output.
            match stdin.write_all(input) {
                Err(error) if error.kind() != ErrorKind::BrokenPipe => {
                    drop(stdin);
                    // Reap the child; the write error is the one worth reporting.
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(io_error(error));
                }
                _ => {}
            }
        }
        child.wait_with_output().map_err(io_error)
    }

    /// `Ok` when the helper said "credentials not found", else the failure.
    fn not_found_or_failure(
        &self,
        action: &'static str,
        server: &str,
        output: &Output,
    ) -> Result<(), AuthError> {
        if message(output) == NOT_FOUND_MESSAGE {
            Ok(())
        } else {
            Err(self.failure(action, server, output, None))
        }
    }

    /// The error for a failed helper run. A helper may echo its input in its message, so
    /// `secret` (the one it was given) is removed from it, as given and JSON-escaped, before
    /// the message is shortened.
    fn failure(
        &self,
        action: &'static str,
        server: &str,
        output: &Output,
        secret: Option<&Secret>,
    ) -> AuthError {
        let mut text = message(output);
        if let Some(secret) = secret.filter(|secret| !secret.is_empty()) {
            let quoted = serde_json::to_string(secret.expose()).unwrap_or_default();
            let escaped = quoted
                .strip_prefix('"')
                .and_then(|inner| inner.strip_suffix('"'))
                .unwrap_or_default();
            for form in [escaped, secret.expose()] {
                if !form.is_empty() {
                    text = text.replace(form, "<redacted>");
                }
            }
        }
        AuthError::HelperFailed {
            program: self.program.clone(),
            action,
            server: server.to_owned(),
            status: output.status,
            message: text.chars().take(MAX_MESSAGE_CHARS).collect(),
        }
    }
}

/// A helper's error message: docker's helpers print it on stdout, others on stderr.
fn message(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let text = if stdout.trim().is_empty() {
        String::from_utf8_lossy(&output.stderr)
    } else {
        stdout
    };
    text.trim().to_owned()
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}
