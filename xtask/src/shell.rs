//! Running commands and locating the workspace.

use std::path::PathBuf;
use std::process::Command;

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or(manifest_dir.clone(), PathBuf::from)
}

/// The cargo that runs us, so that `cargo +toolchain xtask` keeps its toolchain.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root());
    command
}

/// Runs `command`, echoing it first, and fails with its exit status.
pub fn run(command: &mut Command) -> Result<(), String> {
    eprintln!("xtask: $ {}", describe(command));
    let status = command
        .status()
        .map_err(|error| format!("cannot start `{}`: {error}", describe(command)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(command)))
    }
}

/// The environment variables through which HTTP clients (reqwest, curl, Go) find a proxy.
const PROXY_VARIABLES: &[&str] = &[
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
];

/// Removes the proxy variables from `command`'s environment. Tests and benchmark runs talk only
/// to servers on 127.0.0.1 (and to made-up host names that must fail to resolve), so a proxy
/// that a CI machine sets for its package registries must not see that traffic; whatever they
/// need from crates.io is fetched before, with the proxy ([`fetch`]).
pub fn without_proxy(command: &mut Command) -> &mut Command {
    for name in PROXY_VARIABLES {
        command.env_remove(name);
    }
    command
}

/// Downloads every crate the workspace and the benchmark's oci-client peer need (`--locked`),
/// so that what follows can run without the network.
pub fn fetch() -> Result<(), String> {
    run(cargo().args(["fetch", "--locked"]))?;
    run(cargo().args([
        "fetch",
        "--locked",
        "--manifest-path",
        "xtask/oci-client-peer/Cargo.toml",
    ]))
}

/// Whether an executable named `name` is on `PATH`.
pub fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}
