//! `cargo xtask setup`: install the system tools the end-to-end tests need.

use std::process::Command;

use crate::shell;

/// Debian packages and the executable each one provides.
const PACKAGES: &[(&str, &str)] = &[
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("podman", "podman"),
    ("apache2-utils", "htpasswd"),
    ("openssl", "openssl"),
    ("curl", "curl"),
    ("time", "time"),
    ("man-db", "man"),
    ("strace", "strace"),
    ("procps", "kill"),
];

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("`setup` takes no arguments, got `{arg}`"));
    }
    ensure_tools()
}

/// Installs whatever is missing, with apt-get when we are root on a Debian-like system.
pub fn ensure_tools() -> Result<(), String> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, binary)| {
            !shell::on_path(binary) && !std::path::Path::new("/usr/bin").join(binary).exists()
        })
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        eprintln!("xtask: system tools present: {}", names());
        return Ok(());
    }
    let apt_command = format!("apt-get update && apt-get install -y {}", missing.join(" "));
    if !shell::on_path("apt-get") || !is_root() {
        return Err(format!(
            "missing system tools for the end-to-end tests: {}\nhint: install them, e.g. `sudo sh -c '{apt_command}'`",
            missing.join(", ")
        ));
    }
    shell::run(Command::new("apt-get").arg("update").arg("-qq"))?;
    shell::run(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

fn names() -> String {
    PACKAGES
        .iter()
        .map(|(_, binary)| *binary)
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
}
