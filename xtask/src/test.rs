//! `cargo xtask test`: everything CI runs, in the order CI runs it.
//!
//! A test whose check cannot run in this environment (podman cannot start, strace cannot trace,
//! a benchmark tool is missing) passes, and records itself as a line of [`SKIPS_FILE`] in the
//! target directory (`imgpull_tests::tools::skipped`, or a local copy in crates that do not
//! depend on the harness, such as `skipped` here). libtest hides what passing tests print, so
//! `cargo xtask test` removes that file before `cargo test` and lists its lines after it.

use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{bench, dist, setup, shell};

/// The list of checks that did not run, one `check: reason` line each, in the target directory.
const SKIPS_FILE: &str = "e2e-skips.txt";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut do_setup = true;
    let mut quick = false;
    let mut unit = false;
    for arg in args {
        match arg.as_str() {
            "--no-setup" => do_setup = false,
            "--quick" => quick = true,
            "--unit" => unit = true,
            other => return Err(format!("unknown option `{other}` for `test`")),
        }
    }
    if unit {
        return unit_tests();
    }
    if do_setup {
        setup::ensure_tools()?;
    }
    shell::fetch()?;
    shell::run(shell::cargo().args(["fmt", "--all", "--check"]))?;
    if !quick {
        shell::run(shell::cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    cargo_test(shell::without_proxy(shell::cargo().args([
        "test",
        "--workspace",
        "--locked",
    ])))?;
    if !quick {
        shell::run(
            shell::cargo()
                .args(["doc", "--workspace", "--no-deps", "--locked"])
                .env("RUSTDOCFLAGS", "-D warnings"),
        )?;
        let built = dist::build(None)?;
        dist::check(&built)?;
        // The benchmark harness itself (a small image, one run): proves `cargo xtask bench`
        // works; the numbers of this run mean nothing and are not checked.
        bench::run(&["--quick".to_owned()])?;
    }
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// The unit tests only, for platforms without the end-to-end tools (macOS, Windows, musl builders):
/// every package but the workspace-level harness, with tests that need skopeo or a registry skipped.
fn unit_tests() -> Result<(), String> {
    cargo_test(
        shell::cargo()
            .args([
                "test",
                "--workspace",
                "--locked",
                "--exclude",
                "imgpull-tests",
            ])
            .env("IMGPULL_SKIP_E2E", "1"),
    )
}

/// Runs a `cargo test` command with an empty list of skipped checks, then prints that list
/// (whether the tests passed or not).
fn cargo_test(command: &mut Command) -> Result<(), String> {
    let skips = skips_file();
    match fs::remove_file(&skips) {
        Ok(()) => {}
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => return Err(format!("cannot remove {}: {error}", skips.display())),
    }
    let tested = shell::run(command);
    let listed = read_skips(&skips).map(|skipped| eprintln!("{}", skips_report(&skipped)));
    tested.and(listed)
}

/// [`SKIPS_FILE`] in the target directory that holds this executable, which `cargo xtask` (a
/// `cargo run`) built in the target directory its `cargo test` uses; `<workspace>/target` when
/// none is found.
fn skips_file() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| target_dir_of(&exe).map(Path::to_path_buf))
        .unwrap_or_else(|| shell::workspace_root().join("target"))
        .join(SKIPS_FILE)
}

/// The target directory above a cargo-built executable: the nearest ancestor that cargo marked
/// with `CACHEDIR.TAG`, or its parent when that is marked too (cargo marks the target directory
/// and each `<triple>` directory in it). The harness finds it the same way.
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

/// The distinct non-empty lines of the skips file, sorted; none when it does not exist.
fn read_skips(file: &Path) -> Result<BTreeSet<String>, String> {
    match fs::read_to_string(file) {
        Ok(text) => Ok(text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect()),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(BTreeSet::new()),
        Err(error) => Err(format!("cannot read {}: {error}", file.display())),
    }
}

fn skips_report(skips: &BTreeSet<String>) -> String {
    if skips.is_empty() {
        return "xtask: every end-to-end check ran".to_owned();
    }
    let mut report = "xtask: these checks did not run here:".to_owned();
    for skip in skips {
        report.push_str("\n  - ");
        report.push_str(skip);
    }
    report
}

/// Records that `check` did not run here (an xtask test that needs a missing tool), for
/// [`cargo_test`] to list: prints a note and appends `check: reason` to [`skips_file`].
/// `IMGPULL_SKIP_E2E=1` is an explicit choice and is not recorded.
#[cfg(test)]
pub(crate) fn skipped(check: &str, reason: &str) {
    use std::io::Write;

    let line = format!("{check}: {reason}\n");
    eprint!("note: skipped {line}");
    let file = skips_file();
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&file)
        .and_then(|mut skips| skips.write_all(line.as_bytes()))
        .unwrap_or_else(|error| panic!("cannot record a skip in {}: {error}", file.display()));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn skips_are_listed_once_each_and_absence_means_every_check_ran() {
        let dir = std::env::temp_dir().join(format!("xtask-skips-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join(SKIPS_FILE);
        assert!(read_skips(&file).unwrap().is_empty());
        assert_eq!(
            skips_report(&read_skips(&file).unwrap()),
            "xtask: every end-to-end check ran"
        );
        fs::write(
            &file,
            "strace: denied\npodman load: no userns\n\nstrace: denied\n",
        )
        .unwrap();
        let report = skips_report(&read_skips(&file).unwrap());
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            report,
            "xtask: these checks did not run here:\n  - podman load: no userns\n  - strace: denied"
        );
    }

    #[test]
    fn the_skips_file_is_in_the_target_directory_of_this_executable() {
        let file = skips_file();
        let target = file.parent().unwrap();
        assert!(
            target.join("CACHEDIR.TAG").is_file(),
            "{}",
            target.display()
        );
        assert!(std::env::current_exe().unwrap().starts_with(target));
    }
}
