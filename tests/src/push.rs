//! Pushing generated images to a [`RegistryServer`] with skopeo, independently of imgpull's
//! own registry client.
//!
//! ```no_run
//! use imgpull_tests::image::{ImageSpec, OciLayout};
//! use imgpull_tests::push::{PushOptions, push};
//! use imgpull_tests::real::{RegistryConfig, RegistryServer};
//!
//! # fn main() -> Result<(), imgpull_tests::HarnessError> {
//! let server = RegistryServer::start(RegistryConfig::tls().htpasswd("alice", "secret"))?;
//! let mut layout = OciLayout::temporary()?;
//! let image = layout.add_image(&ImageSpec::new("app"), "app")?;
//! // Uses alice's credentials (the server's first user) and the server's CA.
//! let digest = push(&layout, "app", &server, "team/app:v1", &PushOptions::new())?;
//! assert_eq!(digest, image.manifest.digest);
//! # Ok(()) }
//! ```

use std::ffi::OsString;
use std::fs;
use std::process::Command;

use serde_json::Value;
use tempfile::TempDir;

use crate::error::{HarnessError, Result, io_context};
use crate::image::{Blob, OciLayout, media_type};
use crate::real::RegistryServer;
use crate::realm::User;
use crate::tools::{self, SKOPEO, run_checked};

/// The manifest format skopeo writes at the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushFormat {
    /// `--format oci`.
    Oci,
    /// `--format v2s2`: Docker schema2 media types (skopeo converts the manifest; blobs keep
    /// their digests, the manifest digest changes).
    V2s2,
}

/// How to push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Credentials for `--dest-creds`; `None` means the server's first user, or anonymous when
    /// the server has no users.
    pub creds: Option<User>,
    /// Push anonymously (`--dest-no-creds`) even when the server has users.
    pub anonymous: bool,
    /// `--preserve-digests`: push the manifests byte for byte (needed for indexes with
    /// attestations and to keep an index digest).
    pub preserve_digests: bool,
    /// `--format`; `None` keeps the source's format.
    pub format: Option<PushFormat>,
}

impl PushOptions {
    /// The defaults: server's first user, no format conversion, digests not forced.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pushes with these credentials.
    #[must_use]
    pub fn creds(mut self, username: &str, password: &str) -> Self {
        self.creds = Some(User::new(username, password));
        self
    }

    /// Pushes without credentials.
    #[must_use]
    pub fn anonymous(mut self) -> Self {
        self.anonymous = true;
        self
    }

    /// Adds `--preserve-digests`.
    #[must_use]
    pub fn preserve_digests(mut self) -> Self {
        self.preserve_digests = true;
        self
    }

    /// Adds `--format v2s2` (Docker schema2).
    #[must_use]
    pub fn v2s2(mut self) -> Self {
        self.format = Some(PushFormat::V2s2);
        self
    }
}

/// Pushes `oci:LAYOUT:REF_NAME` (an image or an index; `--all` copies every platform) to
/// `docker://HOST/TARGET` (Docker-flavored entries through skopeo's `dir:` transport) and returns the digest of the pushed manifest or index
/// (`sha256:…`, from skopeo's `--digestfile`).
pub fn push(
    layout: &OciLayout,
    ref_name: &str,
    server: &RegistryServer,
    target: &str,
    options: &PushOptions,
) -> Result<String> {
    let skopeo = tools::require_tool(SKOPEO)?;
    let digest_dir = tempfile::Builder::new()
        .prefix("imgpull-push-")
        .tempdir()
        .map_err(io_context(
            "creating a temporary directory for skopeo's digest file",
        ))?;
    let digest_file = digest_dir.path().join("digest");
    let mut command = Command::new(skopeo);
    command
        .args([
            "--insecure-policy",
            "copy",
            "--all",
            "--quiet",
            "--digestfile",
        ])
        .arg(&digest_file);
    if options.preserve_digests {
        command.arg("--preserve-digests");
    }
    match options.format {
        Some(PushFormat::Oci) => command.args(["--format", "oci"]),
        Some(PushFormat::V2s2) => command.args(["--format", "v2s2"]),
        None => &mut command,
    };
    command.args(registry_tls_args(server, "--dest-"));
    let user = options.creds.as_ref().or_else(|| server.users().first());
    match user {
        Some(user) if !options.anonymous => command.arg("--dest-creds").arg(user.creds()),
        _ => command.arg("--dest-no-creds"),
    };
    // skopeo's `oci:` transport only finds OCI media types in `index.json`; Docker-flavored
    // entries go through its `dir:` transport, which keeps any manifest byte for byte.
    let dir_copy = match layout.entry(ref_name) {
        Some(blob) if is_docker_manifest(&blob.media_type) => {
            Some(dir_transport_copy(layout, blob)?)
        }
        _ => None,
    };
    let source = dir_copy.as_ref().map_or_else(
        || layout.transport_ref(ref_name),
        |dir| format!("dir:{}", dir.path().display()),
    );
    command
        .arg(source)
        .arg(format!("docker://{}", server.image_ref(target)));
    run_checked(&mut command)?;
    let digest = fs::read_to_string(&digest_file).map_err(io_context(format!(
        "reading skopeo's digest file {}",
        digest_file.display()
    )))?;
    Ok(digest.trim().to_owned())
}

fn is_docker_manifest(media_type: &str) -> bool {
    media_type == media_type::DOCKER_MANIFEST || media_type == media_type::DOCKER_MANIFEST_LIST
}

/// Lays out an entry for skopeo's `dir:` transport: a `version` file, every blob under its hex
/// name (hard-linked from the layout where possible), the top manifest as `manifest.json` and,
/// for a manifest list, each instance as `<hex>.manifest.json`.
fn dir_transport_copy(layout: &OciLayout, top: &Blob) -> Result<TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("imgpull-dir-")
        .tempdir()
        .map_err(io_context(
            "creating a directory for skopeo's dir: transport",
        ))?;
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        fs::write(&path, bytes).map_err(io_context(format!("writing {}", path.display())))
    };
    write("version", b"Directory Transport Version: 1.1\n")?;
    let blobs = layout.path().join("blobs").join("sha256");
    let entries =
        fs::read_dir(&blobs).map_err(io_context(format!("listing {}", blobs.display())))?;
    for entry in entries {
        let entry = entry.map_err(io_context(format!("listing {}", blobs.display())))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let target = dir.path().join(&name);
        if fs::hard_link(entry.path(), &target).is_err() {
            fs::copy(entry.path(), &target).map_err(io_context(format!(
                "copying a blob to {}",
                target.display()
            )))?;
        }
    }
    let top_bytes = layout.read_blob(&top.digest)?;
    write("manifest.json", &top_bytes)?;
    if top.media_type == media_type::DOCKER_MANIFEST_LIST {
        let list: Value =
            serde_json::from_slice(&top_bytes).map_err(|source| HarnessError::Json {
                what: format!("manifest list {}", top.digest),
                source,
            })?;
        let instances = list["manifests"].as_array().map_or(&[][..], Vec::as_slice);
        for instance in instances {
            let Some(digest) = instance["digest"].as_str() else {
                continue;
            };
            let bytes = layout.read_blob(digest)?;
            write(
                &format!("{}.manifest.json", digest.trim_start_matches("sha256:")),
                &bytes,
            )?;
        }
    }
    Ok(dir)
}

/// skopeo's TLS options for a server: `PREFIXcert-dir DIR` for HTTPS (trusting the server's
/// CA), `PREFIXtls-verify=false` for plain HTTP (which makes skopeo fall back to `http://`).
/// `prefix` is `--dest-`, `--src-` or `--`.
pub fn registry_tls_args(server: &RegistryServer, prefix: &str) -> Vec<OsString> {
    if server.is_tls() {
        vec![
            OsString::from(format!("{prefix}cert-dir")),
            server.cert_dir().into_os_string(),
        ]
    } else {
        vec![OsString::from(format!("{prefix}tls-verify=false"))]
    }
}
