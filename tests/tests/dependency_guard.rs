//! The dependency guard: the crates that must stay free of networking and async code never
//! depend on an async runtime or an HTTP stack, directly or through another crate.
//!
//! It runs `cargo tree` (the `cargo` that runs the tests, from the `CARGO` environment variable)
//! on the normal dependencies of each guarded crate, with all features, for every target
//! platform, and fails naming the banned crate and the path that pulls it in.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Crates that must have no network and no async code (docs/ARCHITECTURE.md).
const GUARDED: [&str; 3] = ["imgpull-reference", "imgpull-archive", "imgpull-blobstore"];

/// Async runtimes, their event loops and the HTTP stacks built on them.
const BANNED: [&str; 14] = [
    "tokio",
    "reqwest",
    "hyper",
    "hyper-util",
    "mio",
    "async-std",
    "smol",
    "async-executor",
    "async-global-executor",
    "async-io",
    "futures-executor",
    "glommio",
    "monoio",
    "actix-rt",
];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests package lives inside the workspace")
        .to_path_buf()
}

fn cargo_tree(args: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").expect("CARGO is set when cargo runs the tests");
    let manifest = workspace_root().join("Cargo.toml");
    let output = Command::new(&cargo)
        .arg("tree")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--edges", "normal", "--all-features", "--target", "all"])
        .args(args)
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("cargo tree prints UTF-8")
}

/// The names of every crate in the normal dependency tree of `package`, itself included.
fn dependency_names(package: &str) -> Vec<String> {
    cargo_tree(&["--package", package, "--prefix", "none", "--format", "{p}"])
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn network_free_crates_do_not_depend_on_async_runtimes_or_http() {
    let mut violations = Vec::new();
    for package in GUARDED {
        let names = dependency_names(package);
        // The tree is read correctly: it starts at the package itself.
        assert_eq!(
            names.first().map(String::as_str),
            Some(package),
            "unexpected cargo tree output for {package}: {names:?}"
        );
        for banned in BANNED {
            if names.iter().any(|name| name == banned) {
                let path = cargo_tree(&["--package", package, "--invert", banned]);
                violations.push(format!("{package} depends on {banned}:\n{path}"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "crates that must stay free of network and async code pull in banned dependencies \
         (see docs/ARCHITECTURE.md):\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_guard_sees_transitive_dependencies() {
    // imgpull-reference uses sha2, which uses digest: a transitive crate must be listed,
    // or the guard above could never see a runtime pulled in indirectly.
    let names = dependency_names("imgpull-reference");
    assert!(names.iter().any(|name| name == "sha2"), "{names:?}");
    assert!(names.iter().any(|name| name == "digest"), "{names:?}");
}
