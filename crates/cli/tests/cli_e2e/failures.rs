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

    // 2 also: a directory where a file is expected; 1: a missing directory. Both before any
    // download.
    fs::create_dir_all(sandbox.out().join("a-dir")).expect("dir");
    let layer_in_cache = sandbox
        .cache()
        .join("blobs/sha256")
        .join(image.layers[0].blob.hex());
    assert_exit(
        &sandbox.run(&[
            "pull",
            "-o",
            "a-dir",
            "--ca-file",
            &ca,
            &server.image_ref("team/codes:1"),
        ]),
        2,
    );
    let stderr = assert_exit(
        &sandbox.run(&[
            "pull",
            "-o",
            "missing/x.tar",
            "--ca-file",
            &ca,
            &server.image_ref("team/codes:1"),
        ]),
        1,
    );
    assert!(stderr.contains("missing"), "{stderr}");
    assert!(!layer_in_cache.exists(), "nothing was downloaded");
    // An OCI layout over a directory that holds something else: the writer refuses at once.
    let occupied = sandbox.out().join("occupied");
    fs::create_dir_all(&occupied).expect("dir");
    fs::write(occupied.join("keep.txt"), b"mine").expect("file");
    let stderr = assert_exit(
        &sandbox.run(&[
            "pull",
            "--format",
            "oci",
            "-o",
            "occupied",
            "--ca-file",
            &ca,
            &server.image_ref("team/codes:1"),
        ]),
        1,
    );
    assert!(stderr.contains("occupied"), "{stderr}");
    assert_eq!(fs::read(occupied.join("keep.txt")).expect("kept"), b"mine");

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
    let stderr = assert_exit(&limited, 5);
    assert!(
        stderr.contains("429") && stderr.contains("rate limiting"),
        "{stderr}"
    );
    let (kind, message) = json_error(&limited);
    assert_eq!(kind, "network");
    assert!(message.contains("429"), "{message}");
}
