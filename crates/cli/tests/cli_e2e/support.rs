//! Helpers shared by the end-to-end tests: the sandbox, running imgpull, pushing images and
//! checking outputs.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use imgpull_tests::image::{GeneratedImage, GeneratedIndex, ImageSpec, IndexSpec, OciLayout};
use imgpull_tests::push::{PushOptions, push};
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::tools::{self, SKOPEO};
use imgpull_tests::validate;
use serde_json::Value;
use tempfile::TempDir;

/// A private HOME for one test: config, cache, docker config and the working directory.
pub(crate) struct Sandbox {
    root: TempDir,
}

impl Sandbox {
    pub(crate) fn new() -> Self {
        let root = tempfile::Builder::new()
            .prefix("imgpull-e2e-")
            .tempdir()
            .expect("sandbox");
        for dir in ["home", "config", "cache", "out", "docker"] {
            fs::create_dir_all(root.path().join(dir)).expect("sandbox dir");
        }
        Self { root }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// The default cache (`$XDG_CACHE_HOME/imgpull`).
    pub(crate) fn cache(&self) -> PathBuf {
        self.path("cache").join("imgpull")
    }

    /// The working directory, where default output names land.
    pub(crate) fn out(&self) -> PathBuf {
        self.path("out")
    }

    pub(crate) fn command(&self, args: &[&str]) -> Command {
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
            .env_remove("IMGPULL_REGISTRY")
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null());
        command
    }

    /// Runs imgpull to its end, which must come within [`RUN_LIMIT`].
    pub(crate) fn run(&self, args: &[&str]) -> Output {
        output_of(&mut self.command(args), &format!("imgpull {args:?}"))
    }

    /// Runs with `input` on stdin (for `--password-stdin`).
    pub(crate) fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
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
        output_within(child, RUN_LIMIT, &format!("imgpull {args:?}"))
    }

    /// Runs a command that must succeed with `--json`, and returns the document.
    pub(crate) fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args);
        assert_success(&output, args);
        serde_json::from_slice(&output.stdout).expect("stdout is one JSON document")
    }
}

pub(crate) fn assert_success(output: &Output, args: &[&str]) {
    assert!(
        output.status.success(),
        "imgpull {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts the exit code, and returns stderr.
pub(crate) fn assert_exit(output: &Output, code: i32) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// Checks a run that must fail: its exit code, each of `fragments` in its stderr and, for a
/// `--json` run, the `kind` of its JSON error document. Returns stderr for further checks.
pub(crate) fn expect_error(
    output: &Output,
    code: i32,
    kind: Option<&str>,
    fragments: &[&str],
) -> String {
    let stderr = assert_exit(output, code);
    for fragment in fragments {
        assert!(
            stderr.contains(fragment),
            "`{fragment}` is not in stderr: {stderr}"
        );
    }
    if let Some(kind) = kind {
        assert_eq!(json_error(output).0, kind, "stderr: {stderr}");
    }
    stderr
}

/// Asserts that the first image of a `--json` pull report is `image` (its config digest is the
/// image ID).
pub(crate) fn assert_pulled(report: &Value, image: &GeneratedImage) {
    assert_eq!(
        str_at(report, "/images/0/config_digest"),
        image.config.digest,
        "{report}"
    );
}

/// Generates an image and pushes it to each target of `server`.
pub(crate) fn push_image(
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

/// A TLS registry serving the image `spec` as `target` (`team/app:1`), and a fresh sandbox.
pub(crate) fn tls_registry_serving(
    spec: &ImageSpec,
    target: &str,
) -> (RegistryServer, GeneratedImage, Sandbox) {
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let image = push_image(&server, spec, &[target], &PushOptions::new());
    (server, image, Sandbox::new())
}

/// Generates an index (or Docker manifest list) and pushes it byte for byte to each target of
/// `server`.
pub(crate) fn push_index(
    server: &RegistryServer,
    spec: &IndexSpec,
    targets: &[&str],
) -> GeneratedIndex {
    let mut layout = OciLayout::temporary().expect("layout");
    let index = layout.add_index(spec, "index").expect("index generated");
    for target in targets {
        let options = PushOptions::new().preserve_digests();
        let pushed = push(&layout, "index", server, target, &options).expect("push");
        assert_eq!(pushed, index.index.digest, "{target} pushed byte for byte");
    }
    index
}

/// `--ca-file` for a TLS server.
pub(crate) fn ca(server: &RegistryServer) -> String {
    server.ca_pem_path().display().to_string()
}

pub(crate) fn u64_at(value: &Value, pointer: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} missing in {value}"))
}

pub(crate) fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{pointer} missing in {value}"))
}

/// Checks a docker archive with skopeo: its config is the image's, and every blob re-hashes.
pub(crate) fn assert_docker_archive(path: &Path, image: &GeneratedImage) {
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

/// Loads the archive with podman where it runs, and checks the image ID and name.
pub(crate) fn podman_load(path: &Path, image: &GeneratedImage, name: &str) {
    let podman = match validate::Podman::detect() {
        Ok(podman) => podman,
        Err(error) => {
            let repository = name.split_once('/').map_or(name, |(_, path)| path);
            tools::skipped(
                &format!("cli_e2e: podman load of {repository}"),
                &format!("podman does not run here: {error}"),
            );
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

/// A loopback port nothing listens on, so that a connection to it is refused at once: port 1
/// (tcpmux), which no service here runs and which the OS never hands out for port 0 (it picks
/// from the ephemeral range), so a server started by a parallel test cannot take it either.
/// Freeing a just-bound port instead would race with those servers.
pub(crate) fn closed_port() -> u16 {
    const PORT: u16 = 1;
    let refused = std::net::TcpStream::connect(("127.0.0.1", PORT))
        .is_err_and(|error| error.kind() == std::io::ErrorKind::ConnectionRefused);
    assert!(refused, "something listens on 127.0.0.1:{PORT}");
    PORT
}

/// How long one imgpull run of these tests may take before it counts as hung. Generous: the
/// runs take seconds; the limit only turns a hang into a failure instead of a stuck CI job.
pub(crate) const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Waits for `child` until it ends or `deadline` passes (then `None`; the child runs on).
fn wait_until(child: &mut Child, deadline: Instant, what: &str) -> Option<ExitStatus> {
    loop {
        let status = child
            .try_wait()
            .unwrap_or_else(|error| panic!("waiting for {what}: {error}"));
        if status.is_some() || Instant::now() >= deadline {
            return status;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Kills `child` (one this test started, by its PID through `Child::kill`) and reaps it.
pub(crate) fn kill_and_reap(child: &mut Child) {
    let _killed = child.kill();
    let _reaped = child.wait();
}

/// Waits at most `limit` for `child` to end, and returns its status. At the deadline it kills
/// the child and fails naming `what`. It reads none of the child's pipes: a child blocked on
/// a full one is killed at the deadline like any other (see [`output_within`] to read them).
pub(crate) fn wait_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let Some(status) = wait_until(child, Instant::now() + limit, what) else {
        kill_and_reap(child);
        panic!("{what} did not end within {limit:?}; killed it");
    };
    status
}

/// Runs `command` to its end like [`Command::output`] (stdin empty, stdout and stderr piped),
/// and returns its output. The end must come within [`RUN_LIMIT`]; at the deadline it kills the
/// child and fails naming `what` (see [`output_within`]).
pub(crate) fn output_of(command: &mut Command, what: &str) -> Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{what} does not start: {error}"));
    output_within(child, RUN_LIMIT, what)
}

/// Like [`wait_within`], but reads the child's piped stdout and stderr meanwhile (on threads,
/// so that a full pipe cannot stall it) and returns them with the status. At the deadline the
/// failure shows what the child wrote to stderr.
pub(crate) fn output_within(mut child: Child, limit: Duration, what: &str) -> Output {
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_until(&mut child, Instant::now() + limit, what);
    if status.is_none() {
        kill_and_reap(&mut child);
    }
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let Some(status) = status else {
        panic!(
            "{what} did not end within {limit:?}; killed it\nstderr: {}",
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A child's stderr, read on a thread line by line as it is written (and to its end, so that
/// it never fills up).
pub(crate) struct StderrLines {
    lines: mpsc::Receiver<String>,
}

impl StderrLines {
    /// Takes over the piped stderr of `child`.
    pub(crate) fn take(child: &mut Child) -> Self {
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut line = Vec::new();
            while stderr
                .read_until(b'\n', &mut line)
                .is_ok_and(|read| read > 0)
            {
                // Once nobody listens, the rest is still read.
                let _unheard = sender.send(String::from_utf8_lossy(&line).into_owned());
                line.clear();
            }
        });
        Self { lines }
    }

    /// The next line (with its newline), waiting at most `limit`; `None` once stderr has
    /// ended. At the deadline it kills `child` and fails naming `what`.
    pub(crate) fn next_within(
        &self,
        child: &mut Child,
        limit: Duration,
        what: &str,
    ) -> Option<String> {
        match self.lines.recv_timeout(limit) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                kill_and_reap(child);
                panic!("{what}: no line within {limit:?}; killed it");
            }
        }
    }

    /// Every line not taken yet, once the child has closed its stderr (it has ended).
    pub(crate) fn rest(self) -> String {
        self.lines.iter().collect()
    }
}

/// Reads a child's pipe to its end on a thread (nothing when it is not piped).
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes)
                .expect("reading the child's output");
        }
        bytes
    })
}

/// The JSON error document of a failed `--json` run.
pub(crate) fn json_error(output: &Output) -> (String, String) {
    let value: Value =
        serde_json::from_slice(&output.stdout).expect("stdout is a JSON error document");
    (
        str_at(&value, "/error/kind").to_owned(),
        str_at(&value, "/error/message").to_owned(),
    )
}

/// `skopeo copy docker://… docker-archive:PATH` from a TLS registry.
pub(crate) fn skopeo_docker_archive(
    server: &RegistryServer,
    repository_and_tag: &str,
    path: &Path,
) {
    let skopeo = imgpull_tests::tools::require_tool(SKOPEO).expect("skopeo");
    let mut command = Command::new(skopeo);
    command
        .args(["--insecure-policy", "copy", "--quiet", "--src-cert-dir"])
        .arg(server.cert_dir())
        .arg(format!("docker://{}", server.image_ref(repository_and_tag)))
        .arg(format!(
            "docker-archive:{}:{}",
            path.display(),
            server.image_ref(repository_and_tag)
        ));
    let output = output_of(&mut command, "skopeo copy");
    assert!(
        output.status.success(),
        "skopeo copy: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
