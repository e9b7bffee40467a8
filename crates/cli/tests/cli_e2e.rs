//! End to end: the built `imgpull` binary against real CNCF distribution registries on
//! 127.0.0.1 (TLS anonymous, htpasswd, token auth, plain HTTP) with generated images, each
//! output checked by skopeo (and `podman load` where it runs).
//!
//! Every test runs the binary in a sandbox: its own HOME, config, cache and docker config
//! directories, so nothing of the developer's machine is read or written.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use imgpull_tests::image::{
    Content, Flavor, GeneratedImage, ImageSpec, IndexSpec, LayerSpec, OciLayout,
};
use imgpull_tests::proxy::TcpProxy;
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
fn push_image(
    server: &RegistryServer,
    spec: &ImageSpec,
    targets: &[&str],
    options: &PushOptions,
) -> GeneratedImage {
    let mut layout = OciLayout::temporary().expect("layout");
    let image = layout.add_image(spec, "image").expect("image generated");
    for target in targets {
        push(&layout, "image", server, target, options).expect("push");
    }
    image
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
    validate::copy_docker_archive_to_oci(path, copy.path())
        .expect("skopeo copy re-hashes every blob");
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
    assert_eq!(
        str_at(&report, "/images/0/manifest_digest"),
        image.manifest.digest
    );
    assert_eq!(
        str_at(&report, "/images/0/config_digest"),
        image.config.digest
    );
    assert_eq!(str_at(&report, "/images/0/platform"), "linux/amd64");
    assert_eq!(u64_at(&report, "/images/0/layers"), 1);
    assert_eq!(u64_at(&report, "/cache/hits"), 0);
    assert_eq!(u64_at(&report, "/cache/misses"), 1);
    assert_eq!(
        u64_at(&report, "/cache/bytes_downloaded"),
        image.layers_size()
    );
    let output = sandbox.out().join(&expected_name);
    assert_docker_archive(&output, &image);
    let leftovers: Vec<_> = fs::read_dir(sandbox.out())
        .expect("out dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(
        leftovers,
        [std::ffi::OsString::from(&expected_name)],
        "no temporary files remain"
    );
    // The cache is an OCI layout naming the image.
    let cached = validate::inspect_oci(&sandbox.cache(), "1.0").expect("skopeo reads the cache");
    assert_eq!(
        cached["Digest"].as_str(),
        Some(image.manifest.digest.as_str())
    );
}

#[test]
fn second_pull_is_all_cache_hits_and_a_similar_image_downloads_only_its_new_layers() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let base = [
        LayerSpec::text(10, 200 << 10),
        LayerSpec::random(11, 150 << 10),
        LayerSpec::text(12, 50 << 10),
    ];
    let first_spec = ImageSpec::new("first")
        .layer(base[0])
        .layer(base[1])
        .layer(base[2]);
    let second_spec = ImageSpec::new("second")
        .layer(base[0])
        .layer(base[1])
        .layer(LayerSpec::random(13, 120 << 10));
    let first = push_image(&server, &first_spec, &["app/first:v1"], &PushOptions::new());
    let second = push_image(
        &server,
        &second_spec,
        &["app/second:v1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let ca = ca(&server);
    let first_ref = server.image_ref("app/first:v1");

    let cold = sandbox.json(&[
        "pull",
        "--json",
        "-o",
        "first.tar",
        "--ca-file",
        &ca,
        &first_ref,
    ]);
    assert_eq!(u64_at(&cold, "/cache/misses"), 3);
    assert_eq!(
        u64_at(&cold, "/cache/bytes_downloaded"),
        first.layers_size()
    );

    let warm = sandbox.json(&[
        "pull",
        "--json",
        "-o",
        "first-again.tar",
        "--ca-file",
        &ca,
        &first_ref,
    ]);
    assert_eq!(u64_at(&warm, "/cache/hits"), 3);
    assert_eq!(u64_at(&warm, "/cache/misses"), 0);
    assert_eq!(u64_at(&warm, "/cache/bytes_downloaded"), 0);
    assert_eq!(u64_at(&warm, "/cache/bytes_reused"), first.layers_size());
    assert_eq!(
        fs::read(sandbox.out().join("first.tar")).expect("first"),
        fs::read(sandbox.out().join("first-again.tar")).expect("second"),
        "the same pull gives the same bytes"
    );

    let similar = sandbox.json(&[
        "pull",
        "--json",
        "-o",
        "second.tar",
        "--ca-file",
        &ca,
        &server.image_ref("app/second:v1"),
    ]);
    assert_eq!(u64_at(&similar, "/cache/hits"), 2);
    assert_eq!(u64_at(&similar, "/cache/misses"), 1);
    assert_eq!(
        u64_at(&similar, "/cache/bytes_downloaded"),
        second.layers[2].blob.size
    );
    assert_docker_archive(&sandbox.out().join("second.tar"), &second);
}

#[test]
fn htpasswd_docker_schema2_many_layers_with_password_stdin() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO, HTPASSWD);
    let server =
        RegistryServer::start(RegistryConfig::tls().htpasswd("alice", "s3cret")).expect("registry");
    let spec = ImageSpec::new("many")
        .flavor(Flavor::Docker)
        .layers(12, 20 << 10, Content::Text);
    let image = push_image(&server, &spec, &["team/many:2"], &PushOptions::new().v2s2());
    let sandbox = Sandbox::new();
    let reference = server.image_ref("team/many:2");

    let anonymous = sandbox.run(&["pull", "--ca-file", &ca(&server), &reference]);
    let stderr = assert_exit(&anonymous, 3);
    assert!(stderr.contains("401"), "{stderr}");

    let args = [
        "pull",
        "--json",
        "-o",
        "many.tar",
        "--max-concurrent-downloads",
        "4",
        "--ca-file",
        &ca(&server),
        "--username",
        "alice",
        "--password-stdin",
        &reference,
    ];
    let output = sandbox.run_with_stdin(&args, "s3cret\n");
    assert_success(&output, &args);
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(u64_at(&report, "/images/0/layers"), 12);
    assert_eq!(
        str_at(&report, "/images/0/manifest_digest"),
        image.manifest.digest
    );
    let path = sandbox.out().join("many.tar");
    assert_docker_archive(&path, &image);
    podman_load(&path, &image, &reference);
}

/// Loads the archive with podman where it runs, and checks the image ID and name.
fn podman_load(path: &Path, image: &GeneratedImage, name: &str) {
    let podman = match validate::Podman::detect() {
        Ok(podman) => podman,
        Err(error) => {
            eprintln!("note: podman does not run here ({error}); skipping podman load");
            return;
        }
    };
    let loaded = podman.load(path).expect("podman load");
    assert!(
        loaded.iter().any(|loaded| loaded == name),
        "{loaded:?} lacks {name}"
    );
    let inspected = podman.image_inspect(name).expect("podman image inspect");
    let id = inspected["Id"].as_str().expect("Id");
    assert_eq!(format!("sha256:{id}"), image.config.digest);
}

#[test]
fn token_auth_private_repository_needs_the_right_credentials() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(
        RegistryConfig::tls().token_auth(
            TokenConfig::new()
                .user("bob", "hunter2")
                .public_repository("public/app"),
        ),
    )
    .expect("registry");
    let spec = ImageSpec::new("tokened").layers(2, 64 << 10, Content::Random);
    let image = push_image(
        &server,
        &spec,
        &["private/app:v1", "public/app:v1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let ca = ca(&server);

    // Anonymous pull of the public repository works with a token.
    let public = sandbox.json(&[
        "pull",
        "--json",
        "-q",
        "--ca-file",
        &ca,
        &server.image_ref("public/app:v1"),
    ]);
    assert_eq!(
        str_at(&public, "/images/0/config_digest"),
        image.config.digest
    );

    // The private one refuses anonymous users and a wrong password, with exit 3.
    let private = server.image_ref("private/app:v1");
    assert_exit(&sandbox.run(&["pull", "--ca-file", &ca, &private]), 3);
    let wrong = sandbox.run_with_stdin(
        &[
            "pull",
            "--ca-file",
            &ca,
            "--username",
            "bob",
            "--password-stdin",
            &private,
        ],
        "wrong",
    );
    assert_exit(&wrong, 3);

    // With the right credentials (from the environment) it works; `-v` logs the requests
    // and the token request, never the password or a token.
    let output = sandbox
        .command(&[
            "pull",
            "-v",
            "--json",
            "-o",
            "private.tar",
            "--ca-file",
            &ca,
            &private,
        ])
        .env("IMGPULL_USERNAME", "bob")
        .env("IMGPULL_PASSWORD", "hunter2")
        .output()
        .expect("imgpull runs");
    assert_success(&output, &["pull", &private]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("registry request") && log.contains("token request"),
        "{log}"
    );
    assert!(log.contains("/v2/private/app/manifests/v1"), "{log}");
    assert!(
        !log.contains("hunter2") && !log.contains("Ym9iOmh1bnRlcjI"),
        "secrets in the log: {log}"
    );
    assert!(!log.contains("eyJ"), "a JWT in the log: {log}");
    assert_docker_archive(&sandbox.out().join("private.tar"), &image);
}

#[test]
fn login_stores_credentials_that_pull_reads_back_and_logout_removes_them() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO, HTPASSWD);
    let server =
        RegistryServer::start(RegistryConfig::tls().htpasswd("carol", "pa55")).expect("registry");
    let spec = ImageSpec::new("login-test");
    push_image(&server, &spec, &["team/login:1"], &PushOptions::new());
    let sandbox = Sandbox::new();
    let ca = ca(&server);
    let host = server.host();
    let reference = server.image_ref("team/login:1");

    let login_args = [
        "login",
        &host,
        "--ca-file",
        &ca,
        "--username",
        "carol",
        "--password-stdin",
    ];
    // A wrong password is refused by the registry and nothing is stored.
    let refused = sandbox.run_with_stdin(&login_args, "wrong\n");
    assert_exit(&refused, 3);
    assert!(!sandbox.path("docker").join("config.json").exists());

    let login = sandbox.run_with_stdin(&login_args, "pa55\n");
    assert_success(&login, &login_args);
    let config: Value = serde_json::from_slice(
        &fs::read(sandbox.path("docker").join("config.json")).expect("docker config"),
    )
    .expect("json");
    assert!(config["auths"][&host]["auth"].is_string(), "{config}");

    assert_success(
        &sandbox.run(&["pull", "-q", "--ca-file", &ca, &reference]),
        &["pull"],
    );

    assert_success(&sandbox.run(&["logout", &host]), &["logout"]);
    assert_exit(
        &sandbox.run(&[
            "pull",
            "-q",
            "--ca-file",
            &ca,
            "-o",
            "again.tar",
            &reference,
        ]),
        3,
    );
}

#[test]
fn multi_platform_index_pulls_arm_v7_and_keeps_every_platform_in_oci_outputs() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let mut layout = OciLayout::temporary().expect("layout");
    let index = layout
        .add_index(&IndexSpec::multi_platform("multi"), "multi")
        .expect("index generated");
    let pushed = push(
        &layout,
        "multi",
        &server,
        "lib/multi:1",
        &PushOptions::new().preserve_digests(),
    )
    .expect("push");
    assert_eq!(pushed, index.index.digest);
    let arm = index.image("linux/arm/v7").expect("arm/v7 image");
    let sandbox = Sandbox::new();
    let ca = ca(&server);
    let reference = server.image_ref("lib/multi:1");

    let report = sandbox.json(&[
        "pull",
        "--json",
        "--platform",
        "linux/arm/v7",
        "--ca-file",
        &ca,
        &reference,
    ]);
    let name = format!(
        "127.0.0.1-{}_lib_multi_1_linux_arm_v7.tar",
        server.addr().port()
    );
    assert_eq!(str_at(&report, "/output"), name);
    assert_eq!(str_at(&report, "/images/0/platform"), "linux/arm/v7");
    assert_eq!(
        str_at(&report, "/images/0/manifest_digest"),
        arm.manifest.digest
    );
    assert_eq!(
        str_at(&report, "/images/0/config_digest"),
        arm.config.digest
    );
    assert_docker_archive(&sandbox.out().join(&name), arm);

    // No such platform: exit 4, and the message lists what there is.
    let missing = sandbox.run(&[
        "pull",
        "--platform",
        "linux/s390x",
        "--ca-file",
        &ca,
        &reference,
    ]);
    let stderr = assert_exit(&missing, 4);
    assert!(
        stderr.contains("linux/arm64") && stderr.contains("linux/arm/v7"),
        "{stderr}"
    );

    // Every platform, with the attestations, in an OCI layout and an OCI archive.
    for (format, output) in [("oci", "multi-layout"), ("oci-archive", "multi.oci.tar")] {
        let report = sandbox.json(&[
            "pull",
            "--json",
            "--all-platforms",
            "--format",
            format,
            "-o",
            output,
            "--ca-file",
            &ca,
            &reference,
        ]);
        assert_eq!(
            str_at(&report, "/images/0/manifest_digest"),
            index.index.digest,
            "{format}"
        );
        assert!(
            report
                .pointer("/images/0/platform")
                .is_some_and(Value::is_null)
        );
        let path = sandbox.out().join(output);
        let raw = if format == "oci" {
            validate::skopeo_inspect_raw(&format!("oci:{}:1", path.display()), &[])
        } else {
            validate::skopeo_inspect_raw(&format!("oci-archive:{}", path.display()), &[])
        }
        .expect("skopeo reads the OCI output");
        assert_eq!(
            raw, index.index_json,
            "{format}: the index is kept byte for byte"
        );
        let copy = tempfile::tempdir().expect("tempdir");
        let transport = if format == "oci" {
            "oci"
        } else {
            "oci-archive"
        };
        validate::skopeo_copy(
            &format!("{transport}:{}", path.display()),
            &format!("oci:{}:copy", copy.path().display()),
        )
        .expect("skopeo copies (and re-hashes) the OCI output");
    }
}

#[test]
fn plain_http_registry_with_insecure_registry_and_stdout_output() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::plain_http()).expect("registry");
    let spec = ImageSpec::new("plain").layers(2, 32 << 10, Content::Text);
    let image = push_image(&server, &spec, &["plain/app:latest"], &PushOptions::new());
    let sandbox = Sandbox::new();
    let host = server.host();

    let output = sandbox.run(&[
        "pull",
        "-q",
        "--insecure-registry",
        &host,
        "-o",
        "-",
        &server.image_ref("plain/app"),
    ]);
    assert_success(&output, &["pull", "-o", "-"]);
    let path = sandbox.path("from-stdout.tar");
    fs::write(&path, &output.stdout).expect("archive saved");
    assert_docker_archive(&path, &image);
    let entries: Vec<_> = fs::read_dir(sandbox.out()).expect("out").collect();
    assert!(entries.is_empty(), "-o - writes no file");
}

/// A free loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The JSON error document of a failed `--json` run.
fn json_error(output: &Output) -> (String, String) {
    let value: Value =
        serde_json::from_slice(&output.stdout).expect("stdout is a JSON error document");
    (
        str_at(&value, "/error/kind").to_owned(),
        str_at(&value, "/error/message").to_owned(),
    )
}

#[test]
fn each_exit_code_comes_from_a_real_failure() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(
        &server,
        &ImageSpec::new("codes").layer(LayerSpec::random(7, 100 << 10)),
        &["team/codes:1", "team/other:1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let ca = ca(&server);

    // 2: an invalid reference, and an unknown config key (named in the message).
    let invalid = sandbox.run(&["pull", "--json", "Team/Codes:1"]);
    assert_exit(&invalid, 2);
    assert_eq!(json_error(&invalid).0, "usage");
    let config = sandbox.path("bad.toml");
    fs::write(&config, "max-downloads = 3\n").expect("config");
    let stderr = assert_exit(
        &sandbox.run(&[
            "pull",
            "--config",
            config.to_str().expect("utf-8"),
            &server.image_ref("team/codes:1"),
        ]),
        2,
    );
    assert!(stderr.contains("max-downloads"), "{stderr}");
    assert_exit(&sandbox.run(&["pull", "--format", "zip", "x"]), 2);

    // 3: covered with real registries by the htpasswd, token and login tests.

    // 4: a tag the registry does not know.
    let unknown = sandbox.run(&[
        "pull",
        "--json",
        "--ca-file",
        &ca,
        &server.image_ref("team/codes:nope"),
    ]);
    assert_exit(&unknown, 4);
    assert_eq!(json_error(&unknown).0, "not_found");

    // 5: nothing listens (after retries).
    let refused = sandbox.run(&[
        "pull",
        "--json",
        &format!("127.0.0.1:{}/team/codes:1", closed_port()),
    ]);
    assert_exit(&refused, 5);
    assert_eq!(json_error(&refused).0, "network");

    // 1: the default output name holds another image.
    let default_name = format!("127.0.0.1-{}_team_codes_1.tar", server.addr().port());
    assert_success(
        &sandbox.run(&[
            "pull",
            "-q",
            "--ca-file",
            &ca,
            "-o",
            &default_name,
            &server.image_ref("team/other:1"),
        ]),
        &["pull", "other"],
    );
    let before = fs::read(sandbox.out().join(&default_name)).expect("other archive");
    let clash = sandbox.run(&[
        "pull",
        "--json",
        "--ca-file",
        &ca,
        &server.image_ref("team/codes:1"),
    ]);
    let stderr = assert_exit(&clash, 1);
    assert!(
        stderr.contains("--force") && stderr.contains("team/other:1"),
        "{stderr}"
    );
    assert_eq!(json_error(&clash).0, "other");
    assert_eq!(
        fs::read(sandbox.out().join(&default_name)).expect("kept"),
        before,
        "never overwritten silently"
    );
    // --force replaces it; pulling the same reference again replaces it without --force.
    assert_success(
        &sandbox.run(&[
            "pull",
            "-q",
            "--force",
            "--ca-file",
            &ca,
            &server.image_ref("team/codes:1"),
        ]),
        &["pull", "--force"],
    );
    assert_success(
        &sandbox.run(&[
            "pull",
            "-q",
            "--ca-file",
            &ca,
            &server.image_ref("team/codes:1"),
        ]),
        &["pull", "same reference"],
    );
    assert_docker_archive(&sandbox.out().join(&default_name), &image);

    // 6: the registry serves bytes that do not match the layer's digest.
    let layer = &image.layers[0].blob;
    let data = server
        .storage_dir()
        .join("docker/registry/v2/blobs/sha256")
        .join(&layer.hex()[..2])
        .join(layer.hex())
        .join("data");
    let mut bytes = fs::read(&data).expect("stored layer");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&data, &bytes).expect("corrupted");
    let fresh = Sandbox::new();
    let corrupt = fresh.run(&[
        "pull",
        "--json",
        "-o",
        "corrupt.tar",
        "--ca-file",
        &ca,
        &server.image_ref("team/codes:1"),
    ]);
    let stderr = assert_exit(&corrupt, 6);
    assert!(stderr.contains(&layer.digest), "{stderr}");
    assert_eq!(json_error(&corrupt).0, "integrity");
    assert!(!fresh.out().join("corrupt.tar").exists());
    assert!(
        !fresh
            .cache()
            .join("blobs/sha256")
            .join(layer.hex())
            .exists(),
        "nothing unverified is kept"
    );
}

#[test]
fn sigint_mid_download_leaves_no_output_and_a_resumable_cache() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(
        &server,
        &ImageSpec::new("big").layer(LayerSpec::random(99, 16 << 20)),
        &["team/big:1"],
        &PushOptions::new(),
    );
    let layer = &image.layers[0].blob;
    // A throttled path to the registry makes "mid-download" last long enough to hit.
    let proxy = TcpProxy::start(server.addr()).expect("proxy");
    proxy.set_rate(Some(4 << 20));
    let sandbox = Sandbox::new();
    let ca = ca(&server);
    let reference = format!("{}/team/big:1", proxy.host());
    let partial = sandbox
        .cache()
        .join(".imgpull/partial")
        .join(format!("sha256-{}", layer.hex()));

    for signal in ["-INT", "-TERM"] {
        let mut child = sandbox
            .command(&["pull", "-q", "-o", "big.tar", "--ca-file", &ca, &reference])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("imgpull starts");
        let before = fs::metadata(&partial).map_or(0, |meta| meta.len());
        let deadline = Instant::now() + Duration::from_secs(60);
        while fs::metadata(&partial).map_or(0, |meta| meta.len()) < before + (2 << 20) {
            assert!(
                child.try_wait().expect("wait").is_none(),
                "imgpull ended before the signal"
            );
            assert!(Instant::now() < deadline, "the download never progressed");
            std::thread::sleep(Duration::from_millis(10));
        }
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let started = Instant::now();
        let output = child.wait_with_output().expect("imgpull ends");
        assert_exit(&output, 130);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{signal} stops promptly"
        );

        let leftovers: Vec<_> = fs::read_dir(sandbox.out()).expect("out").collect();
        assert!(
            leftovers.is_empty(),
            "no output and no temporary file after {signal}: {leftovers:?}"
        );
        let kept = fs::metadata(&partial)
            .expect("the partial download is kept")
            .len();
        assert!(
            kept > before && kept < layer.size,
            "{signal}: partial of {kept} bytes"
        );
        assert!(
            !sandbox
                .cache()
                .join("blobs/sha256")
                .join(layer.hex())
                .exists()
        );
    }

    let kept = fs::metadata(&partial).expect("partial").len();
    proxy.set_rate(None);
    let resumed = sandbox.json(&[
        "pull",
        "--json",
        "-o",
        "big.tar",
        "--ca-file",
        &ca,
        &reference,
    ]);
    let downloaded = u64_at(&resumed, "/cache/bytes_downloaded");
    let reused = u64_at(&resumed, "/cache/bytes_reused");
    assert_eq!(reused, kept, "resumed from the partial");
    assert_eq!(downloaded + reused, layer.size, "every byte fetched once");
    assert!(!partial.exists(), "the partial became the blob");
    assert_docker_archive(&sandbox.out().join("big.tar"), &image);
}

#[test]
fn a_connection_cut_mid_layer_is_resumed_within_the_same_pull() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(
        &server,
        &ImageSpec::new("cut").layer(LayerSpec::random(98, 4 << 20)),
        &["team/cut:1"],
        &PushOptions::new(),
    );
    let proxy = TcpProxy::start(server.addr()).expect("proxy");
    let sandbox = Sandbox::new();
    let ca = ca(&server);
    let reference = format!("{}/team/cut:1", proxy.host());
    // Resolve first (manifest and config), then cut the blob's connection halfway.
    assert_success(
        &sandbox.run(&["inspect", "--ca-file", &ca, &reference]),
        &["inspect"],
    );
    proxy.cut_connections(1, 2 << 20);

    let report = sandbox.json(&[
        "pull",
        "--json",
        "-o",
        "cut.tar",
        "--ca-file",
        &ca,
        &reference,
    ]);
    assert!(proxy.cut_count() >= 1, "the connection was cut");
    assert_eq!(
        u64_at(&report, "/cache/bytes_downloaded"),
        image.layers_size()
    );
    assert_docker_archive(&sandbox.out().join("cut.tar"), &image);
}

/// `skopeo copy docker://… docker-archive:PATH` from a TLS registry.
fn skopeo_docker_archive(server: &RegistryServer, repository_and_tag: &str, path: &Path) {
    let skopeo = imgpull_tests::tools::require_tool(SKOPEO).expect("skopeo");
    let output = Command::new(skopeo)
        .args(["--insecure-policy", "copy", "--quiet", "--src-cert-dir"])
        .arg(server.cert_dir())
        .arg(format!("docker://{}", server.image_ref(repository_and_tag)))
        .arg(format!(
            "docker-archive:{}:{}",
            path.display(),
            server.image_ref(repository_and_tag)
        ))
        .output()
        .expect("skopeo runs");
    assert!(
        output.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn cache_import_of_a_skopeo_docker_archive_makes_the_pull_download_nothing() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(
        &server,
        &ImageSpec::new("imported").layers(3, 80 << 10, Content::Random),
        &["team/imported:1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let archive = sandbox.path("saved.tar");
    skopeo_docker_archive(&server, "team/imported:1", &archive);

    let import = sandbox.run(&["cache", "import", archive.to_str().expect("utf-8")]);
    assert_success(&import, &["cache", "import"]);

    let report = sandbox.json(&[
        "pull",
        "--json",
        "-o",
        "after-import.tar",
        "--ca-file",
        &ca(&server),
        &server.image_ref("team/imported:1"),
    ]);
    assert_eq!(u64_at(&report, "/cache/bytes_downloaded"), 0, "{report}");
    assert_eq!(u64_at(&report, "/cache/hits"), 3);
    assert_eq!(
        str_at(&report, "/images/0/config_digest"),
        image.config.digest
    );
    let path = sandbox.out().join("after-import.tar");
    let config = validate::docker_archive_config(&path).expect("skopeo reads it");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(image.diff_ids())
    );
    let copy = tempfile::tempdir().expect("tempdir");
    validate::copy_docker_archive_to_oci(&path, copy.path()).expect("every blob re-hashes");
}

#[test]
fn config_file_supplies_ca_platform_and_cache_dir() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let mut layout = OciLayout::temporary().expect("layout");
    let index = layout
        .add_index(&IndexSpec::multi_platform("configured"), "multi")
        .expect("index");
    push(
        &layout,
        "multi",
        &server,
        "lib/configured:1",
        &PushOptions::new().preserve_digests(),
    )
    .expect("push");
    let sandbox = Sandbox::new();
    let cache = sandbox.path("custom-cache");
    let config_dir = sandbox.path("config").join("imgpull");
    fs::create_dir_all(&config_dir).expect("config dir");
    fs::write(
        config_dir.join("config.toml"),
        format!(
            "ca-files = [{:?}]\nplatform = \"linux/arm64\"\ncache-dir = {:?}\nmax-concurrent-downloads = 2\n",
            server.ca_pem_path().display().to_string(),
            cache.display().to_string()
        ),
    )
    .expect("config written");
    let reference = server.image_ref("lib/configured:1");

    let report = sandbox.json(&["pull", "--json", "-o", "a.tar", &reference]);
    let arm64 = index
        .image("linux/arm64/v8")
        .or_else(|| index.image("linux/arm64"))
        .expect("arm64 image");
    assert_eq!(
        str_at(&report, "/images/0/config_digest"),
        arm64.config.digest
    );
    assert!(
        cache
            .join("blobs/sha256")
            .join(arm64.config.hex())
            .is_file(),
        "the configured cache is used"
    );

    // A flag wins over the file.
    let flagged = sandbox.json(&[
        "pull",
        "--json",
        "-o",
        "b.tar",
        "--platform",
        "linux/amd64",
        &reference,
    ]);
    let amd64 = index.image("linux/amd64").expect("amd64");
    assert_eq!(
        str_at(&flagged, "/images/0/config_digest"),
        amd64.config.digest
    );
}

#[test]
fn no_cache_gzip_and_several_images_in_one_archive() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let shared = LayerSpec::text(21, 64 << 10);
    let one = push_image(
        &server,
        &ImageSpec::new("one")
            .layer(shared)
            .layer(LayerSpec::random(22, 10 << 10)),
        &["team/one:1"],
        &PushOptions::new(),
    );
    let two = push_image(
        &server,
        &ImageSpec::new("two")
            .layer(shared)
            .layer(LayerSpec::random(23, 10 << 10)),
        &["team/two:1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let ca = ca(&server);

    let report = sandbox.json(&[
        "pull",
        "--json",
        "--no-cache",
        "-o",
        "both.tar.gz",
        "--ca-file",
        &ca,
        &server.image_ref("team/one:1"),
        &server.image_ref("team/two:1"),
    ]);
    assert_eq!(report["images"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        u64_at(&report, "/cache/misses"),
        3,
        "the shared layer is fetched once"
    );
    assert!(
        !sandbox.cache().exists(),
        "--no-cache leaves the cache alone"
    );
    let bytes = fs::read(sandbox.out().join("both.tar.gz")).expect("archive");
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip by name");
    // skopeo reads plain docker archives only (docker and podman load gzip ones too).
    let inflated = Command::new("gzip")
        .args(["-dc"])
        .arg(sandbox.out().join("both.tar.gz"))
        .output()
        .expect("gzip runs");
    assert!(inflated.status.success(), "the gzip stream is complete");
    let path = sandbox.path("both.tar");
    fs::write(&path, &inflated.stdout).expect("inflated archive");
    for (name, image) in [("team/one:1", &one), ("team/two:1", &two)] {
        let reference = format!(
            "docker-archive:{}:{}",
            path.display(),
            server.image_ref(name)
        );
        let inspected = validate::skopeo_inspect(&reference, &[]).expect("skopeo reads each image");
        assert_eq!(
            inspected["Layers"].as_array().map(Vec::len),
            Some(image.layers.len())
        );
    }
}

#[test]
fn tags_inspect_and_completions() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let mut layout = OciLayout::temporary().expect("layout");
    let index = layout
        .add_index(&IndexSpec::multi_platform("shown"), "multi")
        .expect("index");
    for tag in ["1", "1.1", "latest"] {
        push(
            &layout,
            "multi",
            &server,
            &format!("lib/shown:{tag}"),
            &PushOptions::new().preserve_digests(),
        )
        .expect("push");
    }
    let sandbox = Sandbox::new();
    let ca = ca(&server);

    let tags = sandbox.run(&["tags", "--ca-file", &ca, &server.image_ref("lib/shown")]);
    assert_success(&tags, &["tags"]);
    let mut listed: Vec<String> = String::from_utf8_lossy(&tags.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    listed.sort();
    assert_eq!(listed, ["1", "1.1", "latest"]);

    let inspected = sandbox.json(&[
        "inspect",
        "--json",
        "--platform",
        "linux/arm/v7",
        "--ca-file",
        &ca,
        &server.image_ref("lib/shown:1"),
    ]);
    assert_eq!(str_at(&inspected, "/digest"), index.index.digest);
    assert_eq!(
        inspected["platforms"].as_array().map(Vec::len),
        Some(3),
        "{inspected}"
    );
    let arm = index.image("linux/arm/v7").expect("arm");
    assert_eq!(
        str_at(&inspected, "/image/config_digest"),
        arm.config.digest
    );
    assert_eq!(
        inspected["image"]["layers"].as_array().map(Vec::len),
        Some(arm.layers.len())
    );

    let raw = sandbox.run(&[
        "inspect",
        "--raw",
        "--ca-file",
        &ca,
        &server.image_ref("lib/shown:1"),
    ]);
    assert_success(&raw, &["inspect", "--raw"]);
    assert_eq!(raw.stdout, index.index_json);

    let completions = sandbox.run(&["completions", "bash"]);
    assert_success(&completions, &["completions"]);
    assert!(String::from_utf8_lossy(&completions.stdout).contains("imgpull"));
}

#[test]
fn cache_verify_prune_and_clear() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(
        &server,
        &ImageSpec::new("kept").layers(2, 40 << 10, Content::Random),
        &["team/kept:1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let cache = sandbox.path("explicit-cache");
    let cache_dir = cache.to_str().expect("utf-8");
    let reference = server.image_ref("team/kept:1");
    assert_success(
        &sandbox.run(&[
            "pull",
            "-q",
            "--cache-dir",
            cache_dir,
            "--ca-file",
            &ca(&server),
            &reference,
        ]),
        &["pull"],
    );

    let listing = sandbox.run(&["cache", "ls", "--cache-dir", cache_dir]);
    assert_success(&listing, &["cache", "ls"]);
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(
        text.contains(&reference) && text.contains(&image.layers[0].blob.digest),
        "{text}"
    );

    assert_success(
        &sandbox.run(&["cache", "verify", "--cache-dir", cache_dir]),
        &["cache", "verify"],
    );
    let blob = cache.join("blobs/sha256").join(image.layers[1].blob.hex());
    let mut bytes = fs::read(&blob).expect("cached layer");
    bytes[0] ^= 1;
    fs::write(&blob, bytes).expect("corrupted on disk");
    let verify = sandbox.run(&["cache", "verify", "--cache-dir", cache_dir]);
    let _ = assert_exit(&verify, 6);
    assert!(String::from_utf8_lossy(&verify.stdout).contains(&image.layers[1].blob.digest));
    assert!(!blob.exists(), "the corrupt blob is moved out");

    let prune = sandbox.run(&[
        "cache",
        "prune",
        "--max-size",
        "0",
        "--cache-dir",
        cache_dir,
    ]);
    assert_success(&prune, &["cache", "prune"]);
    assert!(
        !cache
            .join("blobs/sha256")
            .join(image.layers[0].blob.hex())
            .exists()
    );

    assert_success(
        &sandbox.run(&["cache", "clear", "--cache-dir", cache_dir]),
        &["cache", "clear"],
    );
    let du = sandbox.run(&["cache", "du", "--cache-dir", cache_dir]);
    assert_success(&du, &["cache", "du"]);
    assert!(String::from_utf8_lossy(&du.stdout).contains("(0 files)"));
}

#[test]
fn an_unknown_certificate_is_refused_with_a_hint_and_accepted_when_insecure() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(
        &server,
        &ImageSpec::new("tls"),
        &["team/tls:1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let reference = server.image_ref("team/tls:1");

    let refused = sandbox.run(&["pull", &reference]);
    let stderr = assert_exit(&refused, 5);
    assert!(
        stderr.contains("--ca-file"),
        "the hint names the way out: {stderr}"
    );

    let report = sandbox.json(&[
        "pull",
        "--json",
        "--insecure-registry",
        &server.host(),
        &reference,
    ]);
    assert_eq!(
        str_at(&report, "/images/0/manifest_digest"),
        image.manifest.digest
    );
}

#[test]
fn a_mirror_serves_the_image_when_the_registry_is_down() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let mirror = RegistryServer::start(RegistryConfig::tls()).expect("mirror");
    let image = push_image(
        &mirror,
        &ImageSpec::new("mirrored"),
        &["team/mirrored:1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let down = format!("127.0.0.1:{}", closed_port());
    let reference = format!("{down}/team/mirrored:1");
    let mirror_flag = format!("{down}={}", mirror.url());

    let report = sandbox.json(&[
        "pull",
        "--json",
        "--registry-mirror",
        &mirror_flag,
        "--ca-file",
        &ca(&mirror),
        &reference,
    ]);
    assert_eq!(str_at(&report, "/images/0/reference"), reference);
    assert_eq!(
        str_at(&report, "/images/0/config_digest"),
        image.config.digest
    );

    // The same from the config file.
    let config = sandbox.path("mirrors.toml");
    fs::write(
        &config,
        format!(
            "ca-files = [{:?}]\n[mirrors]\n{down:?} = [{:?}]\n",
            mirror.ca_pem_path().display().to_string(),
            mirror.url()
        ),
    )
    .expect("config");
    let report = sandbox.json(&[
        "pull",
        "--json",
        "-o",
        "from-config.tar",
        "--config",
        config.to_str().expect("utf-8"),
        &reference,
    ]);
    assert_eq!(
        str_at(&report, "/images/0/config_digest"),
        image.config.digest
    );
}

#[test]
fn two_processes_sharing_a_cache_download_each_blob_once() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(
        &server,
        &ImageSpec::new("shared").layers(4, 1 << 20, Content::Random),
        &["team/shared:1"],
        &PushOptions::new(),
    );
    // Slow enough that both processes are downloading at the same time.
    let proxy = TcpProxy::start(server.addr()).expect("proxy");
    proxy.set_rate(Some(2 << 20));
    let sandbox = Sandbox::new();
    let ca = ca(&server);
    let reference = format!("{}/team/shared:1", proxy.host());

    let children: Vec<_> = ["a.tar", "b.tar"]
        .iter()
        .map(|output| {
            sandbox
                .command(&["pull", "--json", "-o", output, "--ca-file", &ca, &reference])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("imgpull starts")
        })
        .collect();
    let mut downloaded = 0;
    for child in children {
        let output = child.wait_with_output().expect("imgpull ends");
        assert_success(&output, &["pull", "concurrently"]);
        let report: Value = serde_json::from_slice(&output.stdout).expect("json");
        downloaded += u64_at(&report, "/cache/bytes_downloaded");
    }
    assert_eq!(
        downloaded,
        image.layers_size(),
        "each blob was downloaded by one process only"
    );
    for output in ["a.tar", "b.tar"] {
        assert_docker_archive(&sandbox.out().join(output), &image);
    }
    assert_success(&sandbox.run(&["cache", "verify"]), &["cache", "verify"]);
}

#[test]
fn sigint_while_the_archive_waits_on_a_full_pipe_still_exits_promptly() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(
        &server,
        &ImageSpec::new("piped").layer(LayerSpec::random(5, 2 << 20)),
        &["team/piped:1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let blob = sandbox
        .cache()
        .join("blobs/sha256")
        .join(image.layers[0].blob.hex());
    // stdout is a pipe nobody reads: the archive writer blocks once it is full.
    let mut child = sandbox
        .command(&[
            "pull",
            "-q",
            "-o",
            "-",
            "--ca-file",
            &ca(&server),
            &server.image_ref("team/piped:1"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("imgpull starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !blob.exists() {
        assert!(
            child.try_wait().expect("wait").is_none(),
            "imgpull ended early"
        );
        assert!(Instant::now() < deadline, "the layer never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let started = Instant::now();
    let status = child.wait().expect("imgpull ends");
    assert_eq!(status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "stopped after {:?}",
        started.elapsed()
    );
}

#[test]
fn docker_manifest_list_by_digest_with_and_without_a_tag() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let mut layout = OciLayout::temporary().expect("layout");
    let list = layout
        .add_index(&IndexSpec::multi_platform("listed").docker(), "list")
        .expect("manifest list");
    push(
        &layout,
        "list",
        &server,
        "lib/listed:1",
        &PushOptions::new().preserve_digests(),
    )
    .expect("push");
    let arm = list.image("linux/arm/v7").expect("arm/v7");
    let sandbox = Sandbox::new();
    let ca = ca(&server);
    let by_digest = server.image_ref(&format!("lib/listed@{}", list.index.digest));

    // By digest, untagged: the default name carries the short digest, RepoTags stay empty.
    let report = sandbox.json(&[
        "pull",
        "--json",
        "--platform",
        "linux/arm/v7",
        "--ca-file",
        &ca,
        &by_digest,
    ]);
    let hex = list.index.digest.trim_start_matches("sha256:");
    let short = &hex[..12];
    let name = str_at(&report, "/output").to_owned();
    assert!(
        name.contains(&format!("sha256-{short}")) && name.ends_with("_linux_arm_v7.tar"),
        "{name}"
    );
    assert_eq!(
        str_at(&report, "/images/0/config_digest"),
        arm.config.digest
    );
    let path = sandbox.out().join(&name);
    assert_docker_archive(&path, arm);
    let inspected = validate::inspect_docker_archive(&path).expect("inspect");
    assert!(
        inspected["RepoTags"].as_array().is_none_or(Vec::is_empty),
        "{inspected}"
    );

    // With --tag, the image loads under that name.
    sandbox.json(&[
        "pull",
        "--json",
        "-o",
        "tagged.tar",
        "--tag",
        "myapp:1.0",
        "--platform",
        "linux/arm/v7",
        "--ca-file",
        &ca,
        &by_digest,
    ]);
    let tagged = sandbox.out().join("tagged.tar");
    let inspected = validate::skopeo_inspect(
        &format!("docker-archive:{}:myapp:1.0", tagged.display()),
        &[],
    )
    .expect("the tag is in the archive");
    assert_eq!(inspected["Digest"].as_str().map(str::len), Some(71));
    assert_docker_archive(&tagged, arm);
}

#[test]
fn uncompressed_layers_are_written_as_their_diff_ids() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(
        &server,
        &ImageSpec::new("inflated").layers(2, 64 << 10, Content::Text),
        &["team/inflated:1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    sandbox.json(&[
        "pull",
        "--json",
        "--uncompressed-layers",
        "-o",
        "plain.tar",
        "--ca-file",
        &ca(&server),
        &server.image_ref("team/inflated:1"),
    ]);
    let path = sandbox.out().join("plain.tar");
    let inspected = validate::inspect_docker_archive(&path).expect("inspect");
    assert_eq!(
        inspected["Layers"],
        serde_json::json!(image.diff_ids()),
        "layers named by their diff_ids"
    );
    assert_docker_archive(&path, &image);
}
