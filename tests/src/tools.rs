//! External tools: finding them, running them, and the `IMGPULL_SKIP_E2E` switch.
//!
//! The end-to-end tests need `docker-registry` (Debian package `docker-registry`) and `skopeo`
//! (Debian package `skopeo`); CI installs both. A missing tool makes the tests **fail** with a
//! message naming the package, unless the environment variable [`SKIP_E2E_ENV`]
//! (`IMGPULL_SKIP_E2E`) is set to `1`, in which case tests that begin with
//! [`require_e2e!`](crate::require_e2e) return early after printing a note. `podman` is optional:
//! see [`crate::validate::Podman::detect`].

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::{HarnessError, Result};

/// The environment variable that, when set to `1`, lets end-to-end tests skip themselves.
pub const SKIP_E2E_ENV: &str = "IMGPULL_SKIP_E2E";

/// The registry binary: CNCF distribution 2.8 from the Debian package `docker-registry`.
pub const DOCKER_REGISTRY: &str = "docker-registry";

/// The image copying and inspection tool from the Debian package `skopeo`.
pub const SKOPEO: &str = "skopeo";

/// `htpasswd` from the Debian package `apache2-utils`, used to write bcrypt password files.
pub const HTPASSWD: &str = "htpasswd";

/// The daemonless container engine from the Debian package `podman` (optional validator).
pub const PODMAN: &str = "podman";

/// The system-call tracer from the Debian package `strace`, which shows what a run fsyncs.
pub const STRACE: &str = "strace";

/// Whether the user asked to skip end-to-end tests (`IMGPULL_SKIP_E2E=1`).
pub fn skip_e2e() -> bool {
    std::env::var_os(SKIP_E2E_ENV).is_some_and(|value| value == "1")
}

/// The full path of an executable found on `PATH` (or `name` itself when it contains a `/`).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let path = PathBuf::from(name);
        return is_executable(&path).then_some(path);
    }
    let path_var = std::env::var_os("PATH")?;
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// Whether an executable called `name` is on `PATH`.
pub fn tool_available(name: &str) -> bool {
    find_tool(name).is_some()
}

/// The path of a tool the end-to-end tests cannot run without, or an error naming its package.
pub fn require_tool(name: &str) -> Result<PathBuf> {
    find_tool(name).ok_or_else(|| HarnessError::ToolMissing {
        tool: name.to_owned(),
        hint: install_hint(name),
    })
}

fn install_hint(name: &str) -> &'static str {
    match name {
        DOCKER_REGISTRY => "apt-get install docker-registry",
        SKOPEO => "apt-get install skopeo",
        HTPASSWD => "apt-get install apache2-utils",
        PODMAN => "apt-get install podman",
        _ => "install it with the system package manager",
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// Starts an end-to-end test: returns from the calling test (after printing a note) when
/// `IMGPULL_SKIP_E2E=1`, and panics with an installation hint when one of the named tools is
/// missing.
///
/// ```no_run
/// use imgpull_tests::{require_e2e, tools};
///
/// #[test]
/// fn pulls_from_a_real_registry() {
///     require_e2e!(tools::DOCKER_REGISTRY, tools::SKOPEO);
///     // … start a RegistryServer, push, pull, validate …
/// }
/// ```
#[macro_export]
macro_rules! require_e2e {
    ($($tool:expr),+ $(,)?) => {
        if $crate::tools::skip_e2e() {
            eprintln!(
                "note: {}=1, skipping end-to-end test {}",
                $crate::tools::SKIP_E2E_ENV,
                module_path!()
            );
            return;
        }
        $(
            if let Err(error) = $crate::tools::require_tool($tool) {
                panic!("{error}");
            }
        )+
    };
}

/// Runs a command to completion and returns its output, or an error carrying its stderr when it
/// cannot be started or exits unsuccessfully.
pub(crate) fn run_checked(command: &mut Command) -> Result<Output> {
    let line = command_line(command);
    let program = command.get_program().to_string_lossy().into_owned();
    let output = command.output().map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            HarnessError::ToolMissing {
                hint: install_hint(&program),
                tool: program.clone(),
            }
        } else {
            HarnessError::Io {
                context: format!("starting `{line}`"),
                source,
            }
        }
    })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(HarnessError::Command {
            command: line,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

/// Parses a command's standard output as JSON.
pub(crate) fn stdout_json(output: &Output, what: &str) -> Result<serde_json::Value> {
    serde_json::from_slice(&output.stdout).map_err(|source| HarnessError::Json {
        what: what.to_owned(),
        source,
    })
}

/// The command as it would be typed in a shell (arguments space-separated, unquoted), with the
/// password of every `--*creds USER:PASSWORD` argument replaced by `***`.
pub(crate) fn command_line(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    let mut previous_was_creds = false;
    for arg in command.get_args().map(OsStr::to_string_lossy) {
        if previous_was_creds {
            let user = arg.split_once(':').map_or(arg.as_ref(), |(user, _)| user);
            words.push(format!("{user}:***"));
        } else {
            words.push(arg.clone().into_owned());
        }
        previous_was_creds = matches!(arg.as_ref(), "--creds" | "--src-creds" | "--dest-creds");
    }
    words.join(" ")
}
