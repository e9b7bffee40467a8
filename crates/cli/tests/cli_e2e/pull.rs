//! Pulling into every output format: anonymous TLS, plain HTTP, multi-platform indexes, digests, mirrors, config files, cache reuse.

use std::fs;
use std::process::Command;

use imgpull_tests::image::{Content, ImageSpec, IndexSpec, LayerSpec};
use imgpull_tests::push::PushOptions;
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::require_e2e;
use imgpull_tests::tools::{DOCKER_REGISTRY, SKOPEO};
use imgpull_tests::validate;
use serde_json::Value;

use crate::support::*;

#[test]
fn tls_anonymous_pull_writes_a_docker_archive_that_skopeo_reads() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let spec = ImageSpec::new("single").layer(LayerSpec::random(1, 300 << 10));
    let (server, image, sandbox) = tls_registry_serving(&spec, "team/single:1.0");
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
    assert_pulled(&report, &image);
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
fn multi_platform_index_pulls_arm_v7_and_keeps_every_platform_in_oci_outputs() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let index = push_index(
        &server,
        &IndexSpec::multi_platform("multi"),
        &["lib/multi:1"],
    );
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
    assert_pulled(&report, arm);
    assert_docker_archive(&sandbox.out().join(&name), arm);

    // A lone architecture takes this host's OS, as containerd does: `armhf` is linux/arm/v7.
    let lone = sandbox.json(&[
        "pull",
        "--json",
        "--platform",
        "armhf",
        "-o",
        "armhf.tar",
        "--ca-file",
        &ca,
        &reference,
    ]);
    assert_eq!(str_at(&lone, "/images/0/platform"), "linux/arm/v7");
    assert_pulled(&lone, arm);

    // No such platform: exit 4, and the message lists what there is.
    let missing = sandbox.run(&[
        "pull",
        "--platform",
        "linux/s390x",
        "--ca-file",
        &ca,
        &reference,
    ]);
    expect_error(&missing, 4, None, &["linux/arm64", "linux/arm/v7"]);

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
    let inflated = output_of(
        Command::new("gzip")
            .args(["-dc"])
            .arg(sandbox.out().join("both.tar.gz")),
        "gzip -dc both.tar.gz",
    );
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
fn docker_manifest_list_by_digest_with_and_without_a_tag() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let list = push_index(
        &server,
        &IndexSpec::multi_platform("listed").docker(),
        &["lib/listed:1"],
    );
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
    assert_pulled(&report, arm);
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

    // The default name (the digest's) holds the untagged image: adding a name needs --force,
    // then the same tagged pull replaces its own output.
    let tag_args = [
        "pull",
        "-q",
        "--tag",
        "myapp:1.0",
        "--platform",
        "linux/arm/v7",
        "--ca-file",
        &ca,
        &by_digest,
    ];
    assert_exit(&sandbox.run(&tag_args), 1);
    let mut forced = tag_args.to_vec();
    forced.push("--force");
    assert_success(&sandbox.run(&forced), &forced);
    assert_success(&sandbox.run(&tag_args), &tag_args);
}

#[test]
fn uncompressed_layers_are_written_as_their_diff_ids() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let spec = ImageSpec::new("inflated").layers(2, 64 << 10, Content::Text);
    let (server, image, sandbox) = tls_registry_serving(&spec, "team/inflated:1");
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

#[test]
fn config_file_supplies_ca_platform_and_cache_dir() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry");
    let index = push_index(
        &server,
        &IndexSpec::multi_platform("configured"),
        &["lib/configured:1"],
    );
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
    assert_pulled(&report, arm64);
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
    assert_pulled(&flagged, amd64);
}

#[test]
fn a_mirror_serves_the_image_when_the_registry_is_down() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let (mirror, image, sandbox) =
        tls_registry_serving(&ImageSpec::new("mirrored"), "team/mirrored:1");
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
    assert_pulled(&report, &image);

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
    assert_pulled(&report, &image);
}

#[test]
fn an_unknown_certificate_is_refused_with_a_hint_and_accepted_when_insecure() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let (server, image, sandbox) = tls_registry_serving(&ImageSpec::new("tls"), "team/tls:1");
    let reference = server.image_ref("team/tls:1");

    let refused = sandbox.run(&["pull", &reference]);
    // The hint names the way out.
    expect_error(&refused, 5, None, &["--ca-file"]);

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
