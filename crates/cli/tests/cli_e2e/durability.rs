//! `--sync`: the output is fsynced before it is renamed into place only when asked (flag or config
//! file); the cache always is; the archive is the same either way.
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
use imgpull_tests::tools::{self, DOCKER_REGISTRY, SKOPEO, STRACE};

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
    let output = output_of(&mut command, &format!("strace imgpull {args:?}"));
    assert_success(&output, args);
    fs::read_to_string(log).expect("strace log")
}

#[test]
fn outputs_are_fsynced_only_with_sync_and_are_the_same_archive_either_way() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO, STRACE);
    if !strace_works() {
        tools::skipped(
            "cli_e2e: durability (what --sync fsyncs, seen with strace)",
            "strace cannot trace a child process here",
        );
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
    let config = sandbox.path("sync.toml");
    fs::write(&config, "sync = true\n").expect("config file");
    let config = config.to_str().expect("utf-8 path").to_owned();
    let pull = |output: &str, extra: &[&str]| {
        let mut args = vec!["pull", "--quiet", "--ca-file", &ca, "-o", output];
        args.extend_from_slice(extra);
        args.push(&reference);
        traced_pull(&sandbox, &sandbox.path(&format!("{output}.strace")), &args)
    };
    let out_dir = sandbox.out();
    let out_dir = out_dir.to_str().expect("utf-8 path");
    let cache_dir = sandbox.cache();
    let cache_dir = cache_dir.to_str().expect("utf-8 path");

    // The default (a cold pull): the cache is synced, the output and its directory are not.
    let default = pull("default.tar", &[]);
    assert!(
        syncs_of(&default, cache_dir) >= 1,
        "the cache is always synced (and strace sees it):\n{default}"
    );
    assert_eq!(
        syncs_of(&default, out_dir),
        0,
        "by default nothing in the output directory is fsynced:\n{default}"
    );

    // --sync, and `sync = true` in the config file: the output's data is synced (under its
    // temporary name) before the rename, and the directory after it.
    for (output, extra) in [
        ("synced.tar", vec!["--sync"]),
        ("configured.tar", vec!["--config", config.as_str()]),
    ] {
        let log = pull(output, &extra);
        let temporary = format!(".{output}.");
        assert!(
            syncs_of(&log, &temporary) >= 1,
            "{extra:?} fsyncs the output:\n{log}"
        );
        assert!(
            syncs_of(&log, out_dir) > syncs_of(&log, &temporary),
            "{extra:?} fsyncs the directory after the rename:\n{log}"
        );
    }

    let path = sandbox.out().join("default.tar");
    for other in ["synced.tar", "configured.tar"] {
        assert_eq!(
            fs::read(&path).expect("default archive"),
            fs::read(sandbox.out().join(other)).expect("synced archive"),
            "the same bytes either way ({other})"
        );
    }
    assert_docker_archive(&path, &image);
}
