//! Independent validators: skopeo (always) and podman (where it can run).
//!
//! skopeo checks must never be skipped: every function here fails with
//! [`HarnessError::ToolMissing`] when skopeo is absent. podman is optional: call
//! [`Podman::detect`] and, on error, print the reason and skip only the podman part.
//!
//! ```no_run
//! use imgpull_tests::validate::{self, Podman};
//! # fn main() -> Result<(), imgpull_tests::HarnessError> {
//! # let out = std::path::Path::new("out.tar");
//! let inspected = validate::inspect_docker_archive(out)?;
//! println!("layers: {}", inspected["Layers"]);
//! let scratch = tempfile::tempdir().expect("temp dir");
//! validate::copy_docker_archive_to_oci(out, &scratch.path().join("oci"))?; // re-digests every blob
//! match Podman::detect() {
//!     Ok(podman) => println!("loaded {:?}", podman.load(out)?),
//!     Err(reason) => eprintln!("note: skipping podman load: {reason}"),
//! }
//! # Ok(()) }
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::error::{HarnessError, Result, io_context};
use crate::push::registry_tls_args;
use crate::real::RegistryServer;
use crate::realm::User;
use crate::tools::{self, PODMAN, SKOPEO, run_checked, stdout_json};

fn skopeo() -> Result<Command> {
    let mut command = Command::new(tools::require_tool(SKOPEO)?);
    command.arg("--insecure-policy");
    Ok(command)
}

/// `skopeo inspect EXTRA… REFERENCE`, parsed (e.g. `extra = ["--config"]`); `REFERENCE` is a
/// full transport reference such as `docker-archive:/tmp/out.tar`.
pub fn skopeo_inspect(reference: &str, extra: &[&str]) -> Result<Value> {
    let output = run_checked(skopeo()?.arg("inspect").args(extra).arg(reference))?;
    stdout_json(&output, &format!("skopeo inspect {reference}"))
}

/// `skopeo inspect --raw EXTRA… REFERENCE`: the manifest bytes exactly as stored.
pub fn skopeo_inspect_raw(reference: &str, extra: &[&str]) -> Result<Vec<u8>> {
    let output = run_checked(
        skopeo()?
            .args(["inspect", "--raw"])
            .args(extra)
            .arg(reference),
    )?;
    Ok(output.stdout)
}

/// `skopeo copy SOURCE DESTINATION` (both full transport references).
pub fn skopeo_copy(source: &str, destination: &str) -> Result<()> {
    run_checked(
        skopeo()?
            .args(["copy", "--quiet"])
            .arg(source)
            .arg(destination),
    )
    .map(drop)
}

/// `skopeo inspect docker-archive:PATH` (the archive's only image). For one image of a
/// multi-image archive, call [`skopeo_inspect`] with `docker-archive:PATH:NAME:TAG` or
/// `docker-archive:PATH:@INDEX`.
pub fn inspect_docker_archive(path: &Path) -> Result<Value> {
    skopeo_inspect(&format!("docker-archive:{}", path.display()), &[])
}

/// `skopeo inspect --config docker-archive:PATH`: the image config.
pub fn docker_archive_config(path: &Path) -> Result<Value> {
    skopeo_inspect(&format!("docker-archive:{}", path.display()), &["--config"])
}

/// `skopeo copy docker-archive:PATH oci:DEST_DIR:x`, which re-hashes every blob (and checks
/// every layer against its diff_id). `DEST_DIR` is created.
pub fn copy_docker_archive_to_oci(path: &Path, dest_dir: &Path) -> Result<()> {
    skopeo_copy(
        &format!("docker-archive:{}", path.display()),
        &format!("oci:{}:x", dest_dir.display()),
    )
}

/// `skopeo inspect oci:DIR:REF_NAME`.
pub fn inspect_oci(dir: &Path, ref_name: &str) -> Result<Value> {
    skopeo_inspect(&format!("oci:{}:{ref_name}", dir.display()), &[])
}

/// `skopeo inspect oci-archive:PATH`.
pub fn inspect_oci_archive(path: &Path) -> Result<Value> {
    skopeo_inspect(&format!("oci-archive:{}", path.display()), &[])
}

/// skopeo's options to read from `server` as `creds` (`None` = `--no-creds`).
fn registry_read_args(server: &RegistryServer, creds: Option<&User>) -> Vec<std::ffi::OsString> {
    let mut args = registry_tls_args(server, "--");
    match creds {
        Some(user) => {
            args.push("--creds".into());
            args.push(user.creds().into());
        }
        None => args.push("--no-creds".into()),
    }
    args
}

/// `skopeo inspect docker://HOST/TARGET` with the server's CA and `creds` (`None` =
/// anonymous). The result's `Digest` is the manifest (or, for an index, the platform
/// manifest skopeo picks) digest; use [`inspect_registry_raw`] for the exact stored bytes.
pub fn inspect_registry(
    server: &RegistryServer,
    target: &str,
    creds: Option<&User>,
) -> Result<Value> {
    let reference = format!("docker://{}", server.image_ref(target));
    let output = run_checked(
        skopeo()?
            .arg("inspect")
            .args(registry_read_args(server, creds))
            .arg(&reference),
    )?;
    stdout_json(&output, &format!("skopeo inspect {reference}"))
}

/// `skopeo inspect --raw docker://HOST/TARGET`: the manifest or index bytes the registry serves.
pub fn inspect_registry_raw(
    server: &RegistryServer,
    target: &str,
    creds: Option<&User>,
) -> Result<Vec<u8>> {
    let reference = format!("docker://{}", server.image_ref(target));
    let output = run_checked(
        skopeo()?
            .args(["inspect", "--raw"])
            .args(registry_read_args(server, creds))
            .arg(&reference),
    )?;
    Ok(output.stdout)
}

/// `sha256:<hex>` of some bytes (to compare a raw manifest with a digest).
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// podman with throw-away vfs storage in a scratch directory (deleted on drop), run as in
/// TESTING.md: `podman --storage-driver vfs --root D/root --runroot D/run --events-backend file
/// --cgroup-manager cgroupfs …` with `CONTAINERS_STORAGE_CONF` pointing at a vfs `storage.conf`.
#[derive(Debug)]
pub struct Podman {
    binary: PathBuf,
    dir: TempDir,
}

impl Podman {
    /// Checks that podman is installed and runs here (`podman images` succeeds); the error
    /// says why not, for the test to print before skipping its podman part.
    pub fn detect() -> Result<Self> {
        let binary = tools::require_tool(PODMAN)?;
        let dir = tempfile::Builder::new()
            .prefix("imgpull-podman-")
            .tempdir()
            .map_err(io_context("creating podman's scratch directory"))?;
        let root = dir.path();
        let storage_conf = format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = {}\ngraphroot = {}\n",
            serde_json::Value::from(root.join("run").to_string_lossy()),
            serde_json::Value::from(root.join("root").to_string_lossy()),
        );
        let conf_path = root.join("storage.conf");
        fs::write(&conf_path, storage_conf)
            .map_err(io_context(format!("writing {}", conf_path.display())))?;
        let podman = Self { binary, dir };
        run_checked(podman.command().args(["images", "--format", "json"]))?;
        Ok(podman)
    }

    fn command(&self) -> Command {
        let root = self.dir.path();
        let mut command = Command::new(&self.binary);
        command
            .env("CONTAINERS_STORAGE_CONF", root.join("storage.conf"))
            .args(["--storage-driver", "vfs", "--root"])
            .arg(root.join("root"))
            .arg("--runroot")
            .arg(root.join("run"))
            .args(["--events-backend", "file", "--cgroup-manager", "cgroupfs"]);
        command
    }

    /// `podman load -i ARCHIVE`; returns what podman reports as loaded (names, or
    /// `sha256:<image id>` for untagged images).
    pub fn load(&self, archive: &Path) -> Result<Vec<String>> {
        let output = run_checked(self.command().arg("load").arg("-i").arg(archive))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let loaded: Vec<String> = stdout
            .lines()
            .filter_map(|line| line.strip_prefix("Loaded image"))
            .filter_map(|rest| rest.split_once(':').map(|(_, names)| names))
            .flat_map(|names| names.split(',').map(|name| name.trim().to_owned()))
            .filter(|name| !name.is_empty())
            .collect();
        if loaded.is_empty() {
            return Err(HarnessError::Command {
                command: format!("podman load -i {}", archive.display()),
                status: "success without a \"Loaded image\" line".to_owned(),
                stderr: stdout.into_owned(),
            });
        }
        Ok(loaded)
    }

    /// `podman image inspect NAME` (the first, and only, element).
    pub fn image_inspect(&self, name: &str) -> Result<Value> {
        let output = run_checked(self.command().args(["image", "inspect", name]))?;
        let mut value = stdout_json(&output, &format!("podman image inspect {name}"))?;
        Ok(value
            .as_array_mut()
            .and_then(Vec::pop)
            .unwrap_or(Value::Null))
    }

    /// `podman images --format json`.
    pub fn images(&self) -> Result<Value> {
        let output = run_checked(self.command().args(["images", "--format", "json"]))?;
        stdout_json(&output, "podman images")
    }
}
