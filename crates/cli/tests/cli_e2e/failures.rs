//! Every exit code, each caused by a real failure.

use std::fs;

use imgpull_tests::fake::{FakeRegistry, Fault};
use imgpull_tests::image::{ImageSpec, LayerSpec};
use imgpull_tests::push::PushOptions;
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::require_e2e;
use imgpull_tests::tools::{self, DOCKER_REGISTRY, SKOPEO};

use crate::support::*;

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

    let codes = server.image_ref("team/codes:1");
    // `imgpull pull EXTRA… --ca-file CA team/codes:1`.
    let pull_codes = |extra: &[&str]| {
        let mut args = vec!["pull"];
        args.extend_from_slice(extra);
        args.extend(["--ca-file", ca.as_str(), codes.as_str()]);
        sandbox.run(&args)
    };

    // 2: an invalid reference, and an unknown config key (named in the message).
    let invalid = sandbox.run(&["pull", "--json", "Team/Codes:1"]);
    expect_error(&invalid, 2, Some("usage"), &[]);
    let config = sandbox.path("bad.toml");
    fs::write(&config, "max-downloads = 3\n").expect("config");
    let with_config = ["--config", config.to_str().expect("utf-8")];
    expect_error(&pull_codes(&with_config), 2, None, &["max-downloads"]);
    assert_exit(&sandbox.run(&["pull", "--format", "zip", "x"]), 2);

    // 3: covered with real registries by the htpasswd, token and login tests.

    // 2 also: a directory where a file is expected; 1: a missing directory. Both before any
    // download.
    fs::create_dir_all(sandbox.out().join("a-dir")).expect("dir");
    let layer_in_cache = sandbox
        .cache()
        .join("blobs/sha256")
        .join(image.layers[0].blob.hex());
    assert_exit(&pull_codes(&["-o", "a-dir"]), 2);
    expect_error(&pull_codes(&["-o", "missing/x.tar"]), 1, None, &["missing"]);
    assert!(!layer_in_cache.exists(), "nothing was downloaded");
    // An OCI layout over a directory that holds something else: the writer refuses at once.
    let occupied = sandbox.out().join("occupied");
    fs::create_dir_all(&occupied).expect("dir");
    fs::write(occupied.join("keep.txt"), b"mine").expect("file");
    let oci_over_occupied = pull_codes(&["--format", "oci", "-o", "occupied"]);
    expect_error(&oci_over_occupied, 1, None, &["occupied"]);
    assert_eq!(fs::read(occupied.join("keep.txt")).expect("kept"), b"mine");

    // 4: a tag the registry does not know.
    let nope = server.image_ref("team/codes:nope");
    let unknown = sandbox.run(&["pull", "--json", "--ca-file", &ca, &nope]);
    expect_error(&unknown, 4, Some("not_found"), &[]);

    // 5: nothing listens (after retries).
    let nowhere = format!("127.0.0.1:{}/team/codes:1", closed_port());
    expect_error(
        &sandbox.run(&["pull", "--json", &nowhere]),
        5,
        Some("network"),
        &[],
    );

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
    let clash = pull_codes(&["--json"]);
    expect_error(&clash, 1, Some("other"), &["--force", "team/other:1"]);
    assert_eq!(
        fs::read(sandbox.out().join(&default_name)).expect("kept"),
        before,
        "never overwritten silently"
    );
    // --force replaces it; pulling the same reference again replaces it without --force.
    assert_success(&pull_codes(&["-q", "--force"]), &["pull", "--force"]);
    assert_success(&pull_codes(&["-q"]), &["pull", "same reference"]);
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
        &codes,
    ]);
    expect_error(&corrupt, 6, Some("integrity"), &[&layer.digest]);
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
fn rate_limiting_that_never_clears_is_exit_5_and_a_429_that_clears_is_retried() {
    // A wiremock registry (distribution never answers 429); it needs no external tool.
    if tools::skip_e2e() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = runtime.block_on(FakeRegistry::start());
    let platform = imgpull_reference::Platform::parse("linux/amd64").expect("platform");
    registry.push_image("team/limited", Some("1"), &platform, &[b"layer".to_vec()]);
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/limited:1", registry.host());

    // Two 429s, then the real answer: retried, and the pull succeeds.
    registry.inject("/manifests/", Fault::Status(429), 2);
    let report = sandbox.json(&["pull", "--json", "-o", "ok.tar", &reference]);
    assert_eq!(u64_at(&report, "/images/0/layers"), 1);

    // 429 on every attempt: exit 5 once the retries are spent, naming the status.
    registry.inject("/manifests/", Fault::Status(429), usize::MAX);
    let limited = sandbox.run(&["pull", "--json", "-o", "limited.tar", &reference]);
    expect_error(&limited, 5, Some("network"), &["429", "rate limiting"]);
    let message = json_error(&limited).1;
    assert!(message.contains("429"), "{message}");
}
