//! `cargo xtask demo`: imgpull end to end without network access.
//!
//! Starts a local registry (CNCF distribution, TLS with a freshly generated CA) holding a generated
//! multi-platform image, then inspects it, pulls it for linux/arm64 into `target/demo/`, pulls it
//! again to show the cache at work, and lets skopeo read the archive.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::{setup, shell};

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(arg) = args.first() {
        return Err(format!("`demo` takes no arguments, got `{arg}`"));
    }
    setup::ensure_tools()?;
    let root = shell::workspace_root();
    shell::run(shell::cargo().args(["build", "--quiet", "-p", "imgpull"]))?;
    shell::run(shell::cargo().args([
        "build",
        "--quiet",
        "-p",
        "imgpull-tests",
        "--example",
        "demo_registry",
    ]))?;
    let debug = root.join("target").join("debug");
    let imgpull = debug.join("imgpull");
    let demo_dir = root.join("target").join("demo");
    let _ = std::fs::remove_dir_all(&demo_dir);
    std::fs::create_dir_all(&demo_dir)
        .map_err(|e| format!("creating {}: {e}", demo_dir.display()))?;

    eprintln!("xtask: starting a local registry with a sample image …");
    let mut registry = Registry::start(&debug.join("examples").join("demo_registry"))?;
    let result = walkthrough(&imgpull, &registry, &demo_dir);
    registry.stop();
    result
}

fn walkthrough(imgpull: &Path, registry: &Registry, demo_dir: &Path) -> Result<(), String> {
    let cache = demo_dir.join("cache");
    let output = demo_dir.join("hello-arm64.tar");
    let image = registry.image.as_str();
    let ca = registry.ca_file.as_os_str();
    let cache_dir = cache.as_os_str();

    shell::run(
        Command::new(imgpull)
            .arg("inspect")
            .arg("--ca-file")
            .arg(ca)
            .arg(image),
    )?;
    for attempt in [
        "first pull: every layer downloaded",
        "second pull: every layer from the cache",
    ] {
        eprintln!("xtask: {attempt}");
        shell::run(
            Command::new(imgpull)
                .args(["pull", "--platform", "linux/arm64", "--force", "--ca-file"])
                .arg(ca)
                .arg("--cache-dir")
                .arg(cache_dir)
                .arg("-o")
                .arg(&output)
                .arg(image),
        )?;
    }
    shell::run(
        Command::new(imgpull)
            .args(["cache", "ls", "--cache-dir"])
            .arg(cache_dir),
    )?;
    if shell::on_path("skopeo") {
        eprintln!("xtask: an independent reader (skopeo) opens the archive:");
        let mut transport = std::ffi::OsString::from("docker-archive:");
        transport.push(&output);
        shell::run(Command::new("skopeo").arg("inspect").arg(transport))?;
    }
    eprintln!(
        "xtask: demo done: {} is ready for `docker load -i` or `podman load -i`",
        output.display()
    );
    Ok(())
}

/// The demo registry program, which serves until its standard input closes.
struct Registry {
    child: Child,
    image: String,
    ca_file: PathBuf,
}

impl Registry {
    fn start(program: &Path) -> Result<Self, String> {
        let mut child = Command::new(program)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", program.display()))?;
        let line = child
            .stdout
            .take()
            .and_then(|stdout| BufReader::new(stdout).lines().next())
            .and_then(Result::ok);
        let Some(line) = line else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(
                "the demo registry stopped before announcing itself (see its errors above)".into(),
            );
        };
        let announcement: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| format!("the demo registry announced {line:?}: {e}"))?;
        let field = |name: &str| {
            announcement[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("the demo registry's announcement lacks `{name}`: {line}"))
        };
        Ok(Self {
            image: field("image")?,
            ca_file: PathBuf::from(field("ca_file")?),
            child,
        })
    }

    /// Closes the program's standard input, so that it stops its registry and exits.
    fn stop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
