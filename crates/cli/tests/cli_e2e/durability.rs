//! `--no-sync`: the output is renamed into place without an fsync, and is the same archive.
//!
//! What is synced is observed with `strace -f -y` (Debian package `strace`), which names the file
//! behind every descriptor an `fsync`/`fdatasync` is called on.

use std::fs;
use std::path::Path;
use std::process::Command;

use imgpull_tests::image::{Content, ImageSpec};
use imgpull_tests::push::PushOptions;
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::require_e2e;
use imgpull_tests::tools::{DOCKER_REGISTRY, SKOPEO, STRACE};

use crate::support::*;

/// The `fsync`/`fdatasync` calls of `strace -y` output whose descriptor names a path that
/// contains `fragment`.
fn syncs_of(log: &str, fragment: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("fsync(") || line.contains("fdatasync("))
        .filter(|line| {
            line.split_once('<')
                .and_then(|(_, rest)| rest.split_once('>'))
                .is_some_and(|(path, _)| path.contains(fragment))
        })
        .count()
}

/// Whether strace may trace a child here (a sandbox can forbid ptrace even to root).
fn strace_works() -> bool {
    Command::new(STRACE)
        .args(["-f", "-qq", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `imgpull ARGS` under strace and returns its trace of fsync and fdatasync calls.
fn traced_pull(sandbox: &crate::support::Sandbox, log: &Path, args: &[&str]) -> String {
    let imgpull = sandbox.command(args);
    let mut command = Command::new(STRACE);
    command
        .args(["-f", "-qq", "-y", "-e", "trace=fsync,fdatasync", "-o"])
        .arg(log)
        .arg(imgpull.get_program())
        .args(imgpull.get_args())
        .current_dir(sandbox.out())
        .envs(
            imgpull
                .get_envs()
                .filter_map(|(key, value)| value.map(|value| (key, value))),
        );
    for (key, value) in imgpull.get_envs() {
        if value.is_none() {
            command.env_remove(key);
        }
    }
    let output = command.output().expect("strace runs");
    assert_success(&output, args);
    fs::read_to_string(log).expect("strace log")
}

#[test]
fn no_sync_renames_the_same_archive_into_place_without_fsyncing_it() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO, STRACE);
    if !strace_works() {
        eprintln!("note: strace cannot trace a child process here; skipping");
        return;
    }
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(
        &server,
        &ImageSpec::new("durable").layers(2, 256 << 10, Content::Random),
        &["team/durable:1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let ca = ca(&server);
    let reference = server.image_ref("team/durable:1");
    let pull = |output: &str, extra: &[&'static str]| {
        let mut args = vec!["pull", "--quiet", "--ca-file", &ca, "-o", output];
        args.extend_from_slice(extra);
        args.push(&reference);
        traced_pull(
            &sandbox,
            &sandbox.path(&format!("{output}.strace")),
            &args.iter().map(|a| &**a).collect::<Vec<_>>(),
        )
    };

    // The default: the output's data is synced (on its temporary name) before the rename.
    let synced = pull("synced.tar", &[]);
    assert!(
        syncs_of(&synced, ".synced.tar.") >= 1,
        "the default pull fsyncs its output:\n{synced}"
    );
    let out_dir = sandbox.out();
    let out_dir = out_dir.to_str().expect("utf-8 path");
    assert!(
        syncs_of(&synced, out_dir) > syncs_of(&synced, ".synced.tar."),
        "and the directory after the rename:\n{synced}"
    );

    // --no-sync (warm cache): not one fsync of the output or its directory.
    let unsynced = pull("unsynced.tar", &["--no-sync"]);
    assert_eq!(
        syncs_of(&unsynced, out_dir),
        0,
        "--no-sync fsyncs nothing in the output directory:\n{unsynced}"
    );

    let path = sandbox.out().join("unsynced.tar");
    assert_eq!(
        fs::read(&path).expect("unsynced archive"),
        fs::read(sandbox.out().join("synced.tar")).expect("synced archive"),
        "the same bytes either way"
    );
    assert_docker_archive(&path, &image);
}
