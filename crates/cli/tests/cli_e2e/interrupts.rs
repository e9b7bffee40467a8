//! Signals, cut connections and concurrent processes: what is left behind and how a pull resumes.

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use imgpull_tests::image::{Content, ImageSpec, LayerSpec};
use imgpull_tests::proxy::TcpProxy;
use imgpull_tests::push::PushOptions;
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::require_e2e;
use imgpull_tests::tools::{DOCKER_REGISTRY, SKOPEO};
use serde_json::Value;

use crate::support::*;

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
    // 1 MiB/s: the 16 MiB layer takes 16 s. The partial left short of the layer's size shows
    // that the download was abandoned, not finished; the process allows itself 3 s for cleanup,
    // and 30 s after the signal is the bound for "promptly" on a loaded machine.
    proxy.set_rate(Some(1 << 20));
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
        while fs::metadata(&partial).map_or(0, |meta| meta.len()) < before + (1 << 20) {
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
        let output = output_within(
            child,
            Duration::from_secs(60),
            &format!("the pull after {signal}"),
        );
        assert_exit(&output, 130);
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{signal} stops promptly, not after {:?}",
            started.elapsed()
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
    // Each of the next two connections that carry data dies after 1 MiB: whichever
    // connections the pull opens (a small one for the manifest, one for the layer, or a single
    // one), the 4 MiB layer is cut at least once.
    proxy.cut_connections(2, 1 << 20);

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
    let status = wait_within(&mut child, Duration::from_secs(60), "the pull after SIGINT");
    assert_eq!(status.code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stopped after {:?}",
        started.elapsed()
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
    // Until the second process waits for the first, each connection carries 64 KiB/s: a
    // 1 MiB layer takes 16 s, so the first is still downloading whenever the second gets there.
    let proxy = TcpProxy::start(server.addr()).expect("proxy");
    proxy.set_rate(Some(64 << 10));
    let sandbox = Sandbox::new();
    let ca = ca(&server);
    let reference = format!("{}/team/shared:1", proxy.host());
    let pull = |output: &str| {
        sandbox
            .command(&["pull", "--json", "-o", output, "--ca-file", &ca, &reference])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("imgpull starts")
    };

    // The second starts once the first is downloading a layer (not just storing the config).
    let mut first = pull("a.tar");
    let partials: Vec<_> = image
        .layers
        .iter()
        .map(|layer| {
            sandbox
                .cache()
                .join(".imgpull/partial")
                .join(format!("sha256-{}", layer.blob.hex()))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !partials.iter().any(|partial| partial.exists()) {
        if first.try_wait().expect("wait").is_some() {
            let output = output_within(first, Duration::from_secs(10), "the first pull");
            panic!("the first pull ended before downloading a layer: {output:?}");
        }
        if Instant::now() >= deadline {
            kill_and_reap(&mut first);
            panic!("the first pull started no layer download within 60 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut second = pull("b.tar");
    let lines = StderrLines::take(&mut second);
    let mut logs = String::new();
    // The second process must wait for a layer the first is downloading, and say so.
    let waiting = "is being downloaded by another imgpull; waiting for it";
    while !logs.contains(waiting) {
        let line = lines.next_within(&mut second, Duration::from_secs(60), "the second pull");
        let Some(line) = line else {
            panic!("the second pull ended without waiting for the first: {logs}");
        };
        logs.push_str(&line);
    }
    proxy.set_rate(None);

    let mut downloaded = 0;
    for (child, what) in [(first, "the first pull"), (second, "the second pull")] {
        let output = output_within(child, RUN_LIMIT, what);
        assert_success(&output, &["pull", what]);
        let report: Value = serde_json::from_slice(&output.stdout).expect("json");
        downloaded += u64_at(&report, "/cache/bytes_downloaded");
        logs.push_str(&String::from_utf8_lossy(&output.stderr));
    }
    logs.push_str(&lines.rest());
    assert_eq!(
        downloaded,
        image.layers_size(),
        "each blob was downloaded by one process only: {logs}"
    );
    for output in ["a.tar", "b.tar"] {
        assert_docker_archive(&sandbox.out().join(output), &image);
    }
    assert_success(&sandbox.run(&["cache", "verify"]), &["cache", "verify"]);
}
