//! External tools: finding them, running them, and the `IMGPULL_SKIP_E2E` switch.
//!
//! The end-to-end tests need `docker-registry` (Debian package `docker-registry`) and `skopeo`
//! (Debian package `skopeo`); CI installs both. A missing tool makes the tests **fail** with a
//! message naming the package, unless the environment variable [`SKIP_E2E_ENV`]
//! (`IMGPULL_SKIP_E2E`) is set to `1`, in which case tests that begin with
//! [`require_e2e!`](crate::require_e2e) return early after printing a note. `podman` is optional:
//! see [`crate::validate::Podman::detect`].
//!
//! A check that cannot run in this environment (podman cannot start, strace cannot trace) passes
//! after calling [`skipped`], which records it in [`SKIPS_FILE`] so that `cargo xtask test` can
//! list it: libtest hides what a passing test prints.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::Write;
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

/// The file, in cargo's target directory, that lists the checks that did not run: one line
/// `check: reason` each. `cargo xtask test` removes it before `cargo test` and prints it after.
pub const SKIPS_FILE: &str = "e2e-skips.txt";

/// Records that `check` did not run here because of `reason`, and lets the calling test pass.
///
/// Prints a note (which libtest shows only for a failing test) and appends the line
/// `check: reason` (whitespace runs in `reason` become one space) to [`skips_file`], where
/// `cargo xtask test` finds it. `IMGPULL_SKIP_E2E=1` is the user's explicit choice and is not
/// recorded: [`require_e2e!`](crate::require_e2e) does not call this.
///
/// # Panics
///
/// When the skips file cannot be written.
pub fn skipped(check: &str, reason: &str) {
    let line = skip_line(check, reason);
    eprintln!("note: skipped {line}");
    match skips_file() {
        Some(file) => append_skip(&file, &line)
            .unwrap_or_else(|error| panic!("cannot record a skip in {}: {error}", file.display())),
        None => eprintln!("note: this test runs outside a cargo target directory; not recorded"),
    }
}

/// [`SKIPS_FILE`] in the cargo target directory that holds the running test executable
/// (`$CARGO_TARGET_DIR`, the `target-dir` of a cargo config, or `<workspace>/target`), or `None`
/// when the executable is not inside one.
pub fn skips_file() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    target_dir_of(&exe).map(|dir| dir.join(SKIPS_FILE))
}

/// The target directory above a cargo-built executable: the nearest ancestor that cargo marked
/// with `CACHEDIR.TAG`, or that ancestor's parent when it is marked too (cargo marks the target
/// directory and each `<triple>` directory in it).
fn target_dir_of(exe: &Path) -> Option<&Path> {
    let marked = |dir: &Path| dir.join("CACHEDIR.TAG").is_file();
    let nearest = exe.ancestors().skip(1).find(|dir| marked(dir))?;
    Some(
        nearest
            .parent()
            .filter(|parent| marked(parent))
            .unwrap_or(nearest),
    )
}

fn skip_line(check: &str, reason: &str) -> String {
    let reason: Vec<&str> = reason.split_whitespace().collect();
    format!("{check}: {}", reason.join(" "))
}

/// Appends `line` and a newline to `file` with one write, so that lines appended by tests running
/// at the same time do not interleave.
fn append_skip(file: &Path, line: &str) -> std::io::Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?
        .write_all(format!("{line}\n").as_bytes())
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

#[cfg(test)]
mod tests {
    use std::fs;

    use super::{SKIPS_FILE, append_skip, skip_line, skips_file, target_dir_of};

    #[test]
    fn skips_are_appended_one_line_each() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(SKIPS_FILE);
        append_skip(
            &file,
            &skip_line("podman load", "podman cannot run:\n  no\tuser namespace\n"),
        )
        .expect("first append creates the file");
        append_skip(&file, &skip_line("strace", "ptrace is denied")).expect("second append");
        assert_eq!(
            fs::read_to_string(&file).expect("read"),
            "podman load: podman cannot run: no user namespace\nstrace: ptrace is denied\n"
        );
    }

    #[test]
    fn the_target_directory_is_the_outermost_of_cargo_marks() {
        let root = tempfile::tempdir().expect("tempdir");
        let target = root.path().join("target");
        let exe = |parts: &[&str]| {
            parts
                .iter()
                .fold(target.clone(), |path, part| path.join(part))
        };
        let host = exe(&["debug", "deps", "cli_e2e-0123"]);
        let cross = exe(&["x86_64-pc-windows-gnu", "debug", "deps", "cli_e2e-0123"]);
        assert_eq!(target_dir_of(&host), None, "no mark, no target directory");
        fs::create_dir_all(cross.parent().expect("deps")).expect("mkdir");
        fs::create_dir_all(host.parent().expect("deps")).expect("mkdir");
        fs::write(target.join("CACHEDIR.TAG"), "").expect("mark");
        fs::write(exe(&["x86_64-pc-windows-gnu", "CACHEDIR.TAG"]), "").expect("mark");
        assert_eq!(target_dir_of(&host), Some(target.as_path()));
        assert_eq!(target_dir_of(&cross), Some(target.as_path()));
    }

    #[test]
    fn this_test_finds_its_target_directory() {
        let file = skips_file().expect("cargo marks the target directory with CACHEDIR.TAG");
        let target = file.parent().expect("parent");
        assert!(target.join("CACHEDIR.TAG").is_file());
        let exe = std::env::current_exe().expect("current_exe");
        assert!(
            exe.starts_with(target),
            "{} is not in {}",
            exe.display(),
            target.display()
        );
    }
}
