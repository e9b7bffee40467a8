//! End to end: the built `imgpull` binary against real CNCF distribution registries on
//! 127.0.0.1 (TLS anonymous, htpasswd, token auth, plain HTTP) with generated images, each
//! output checked by skopeo (and `podman load` where it runs).
//!
//! Every test runs the binary in a sandbox: its own HOME, config, cache and docker config
//! directories, so nothing of the developer's machine is read or written.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use imgpull_tests::image::{
    Content, Flavor, GeneratedImage, ImageSpec, IndexSpec, LayerSpec, OciLayout,
};
use imgpull_tests::push::{PushOptions, push};
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::realm::TokenConfig;
use imgpull_tests::require_e2e;
use imgpull_tests::tools::{DOCKER_REGISTRY, HTPASSWD, SKOPEO};
use imgpull_tests::validate;
use serde_json::Value;
use tempfile::TempDir;

/// A private HOME for one test: config, cache, docker config and the working directory.
struct Sandbox {
    root: TempDir,
}

impl Sandbox {
    fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("imgpull-e2e-")
            .tempdir()
            .expect("sandbox");
        for dir in ["home", "config", "cache", "out", "docker"] {
            fs::create_dir_all(root.path().join(dir)).expect("sandbox dir");
        }
        Self { root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// The default cache (`$XDG_CACHE_HOME/imgpull`).
    fn cache(&self) -> PathBuf {
        self.path("cache").join("imgpull")
    }

    /// The working directory, where default output names land.
    fn out(&self) -> PathBuf {
        self.path("out")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_imgpull"));
        command
            .args(args)
            .current_dir(self.out())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("DOCKER_CONFIG", self.path("docker"))
            .env_remove("IMGPULL_USERNAME")
            .env_remove("IMGPULL_PASSWORD")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("imgpull runs")
    }

    /// Runs with `input` on stdin (for `--password-stdin`).
    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("imgpull starts");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("password written");
        child.wait_with_output().expect("imgpull runs")
    }

    /// Runs a command that must succeed with `--json`, and returns the document.
    fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert_success(&output, args);
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
    }
}

fn assert_success(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "imgpull {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts the exit code, and returns stderr.
fn assert_exit(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// Generates an image and pushes it to each target of `server`.
fn push_image(server: &RegistryServer, spec: &ImageSpec, targets: &[&str], options: &PushOptions) -> GeneratedImage {
    let mut layout = OciLayout::temporary().expect("layout");
    let image = layout.add_image(spec, "image").expect("image generated");
    for target in targets {
        push(&layout, "image", server, target, options).expect("push");
    }
    image
}

fn digests(image: &GeneratedImage) -> Vec<String> {
    image.layers.iter().map(|layer| layer.blob.digest.clone()).collect()
}

/// `--ca-file` for a TLS server.
fn ca(server: &RegistryServer) -> String {
    server.ca_pem_path().display().to_string()
}

fn u64_at(value: &Value, pointer: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} missing in {value}"))
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} missing in {value}"))
}

/// Checks a docker archive with skopeo: its config is the image's, and every blob re-hashes.
fn assert_docker_archive(path: &Path, image: &GeneratedImage) {
    let inspected = validate::inspect_docker_archive(path).expect("skopeo inspect docker-archive");
    assert_eq!(
        inspected["Layers"].as_array().map(Vec::len),
        Some(image.layers.len()),
        "{inspected}"
    );
    let config = validate::docker_archive_config(path).expect("skopeo config");
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .expect("diff_ids")
        .iter()
        .map(|id| id.as_str().expect("string").to_owned())
        .collect();
    assert_eq!(diff_ids, image.diff_ids());
    let copy = tempfile::tempdir().expect("tempdir");
    validate::copy_docker_archive_to_oci(path, copy.path()).expect("skopeo copy re-hashes every blob");
}

#[test]
fn tls_anonymous_pull_writes_a_docker_archive_that_skopeo_reads() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let spec = ImageSpec::new("single").layer(LayerSpec::random(1, 300 << 10));
    let image = push_image(&server, &spec, &["team/single:1.0"], &PushOptions::new());
    let sandbox = Sandbox::new();
    let reference = server.image_ref("team/single:1.0");

    let report = sandbox.json(&["pull", "--json", "--ca-file", &ca(&server), &reference]);

    let port = server.addr().port();
    let expected_name = format!("127.0.0.1-{port}_team_single_1.0.tar");
    assert_eq!(str_at(&report, "/output"), expected_name);
    assert_eq!(str_at(&report, "/images/0/reference"), reference);
    assert_eq!(str_at(&report, "/images/0/manifest_digest"), image.manifest.digest);
    assert_eq!(str_at(&report, "/images/0/config_digest"), image.config.digest);
    assert_eq!(str_at(&report, "/images/0/platform"), "linux/amd64");
    assert_eq!(u64_at(&report, "/images/0/layers"), 1);
    assert_eq!(u64_at(&report, "/cache/hits"), 0);
    assert_eq!(u64_at(&report, "/cache/misses"), 1);
    assert_eq!(u64_at(&report, "/cache/bytes_downloaded"), image.layers_size());
    let output = sandbox.out().join(&expected_name);
    assert_docker_archive(&output, &image);
    let leftovers: Vec<_> = fs::read_dir(sandbox.out())
        .expect("out dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers, [std::ffi::OsString::from(&expected_name)], "no temporary files remain");
    // The cache is an OCI layout naming the image.
    let cached = validate::inspect_oci(&sandbox.cache(), "1.0").expect("skopeo reads the cache");
    assert_eq!(cached["Digest"].as_str(), Some(image.manifest.digest.as_str()));
}
