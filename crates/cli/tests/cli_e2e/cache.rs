//! The cache commands: import, ls, verify, prune, clear; and tags, inspect and completions.

use std::fs;

use imgpull_tests::image::{Content, ImageSpec, IndexSpec};
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::require_e2e;
use imgpull_tests::tools::{DOCKER_REGISTRY, SKOPEO};
use imgpull_tests::validate;

use crate::support::*;

#[test]
fn cache_import_of_a_skopeo_docker_archive_makes_the_pull_download_nothing() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let spec = ImageSpec::new("imported").layers(3, 80 << 10, Content::Random);
    let (server, image, sandbox) = tls_registry_serving(&spec, "team/imported:1");
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
    assert_pulled(&report, &image);
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
fn cache_verify_prune_and_clear() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let spec = ImageSpec::new("kept").layers(2, 40 << 10, Content::Random);
    let (server, image, sandbox) = tls_registry_serving(&spec, "team/kept:1");
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
fn tags_inspect_and_completions() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let index = push_index(
        &server,
        &IndexSpec::multi_platform("shown"),
        &["lib/shown:1", "lib/shown:1.1", "lib/shown:latest"],
    );
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

    // An index without this host's platform: inspect still shows it, with no image.
    let mut foreign = IndexSpec::multi_platform("foreign");
    let host = imgpull_reference::Platform::host();
    foreign
        .images
        .retain(|image| image.platform.architecture != host.architecture);
    let foreign_index = push_index(&server, &foreign, &["lib/foreign:1"]);
    let shown = sandbox.json(&[
        "inspect",
        "--json",
        "--ca-file",
        &ca,
        &server.image_ref("lib/foreign:1"),
    ]);
    assert_eq!(str_at(&shown, "/digest"), foreign_index.index.digest);
    assert_eq!(
        shown["platforms"].as_array().map(Vec::len),
        Some(2),
        "{shown}"
    );
    assert!(shown["image"].is_null(), "{shown}");
    let missing = sandbox.run(&["pull", "--ca-file", &ca, &server.image_ref("lib/foreign:1")]);
    expect_error(
        &missing,
        4,
        None,
        &[&foreign.images[0].platform.to_string()],
    );

    let completions = sandbox.run(&["completions", "bash"]);
    assert_success(&completions, &["completions"]);
    assert!(String::from_utf8_lossy(&completions.stdout).contains("imgpull"));
}
