//! Tests of the test harness itself: generated PKI, real registries with each auth scheme,
//! deterministic images, skopeo pushes and the validators.

use std::io::Read;

use imgpull_tests::HarnessError;
use imgpull_tests::image::{
    Content, Flavor, ImageSpec, IndexSpec, LayerSpec, OciLayout, media_type,
};
use imgpull_tests::proxy::TcpProxy;
use imgpull_tests::push::{PushOptions, push};
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::realm::{TokenConfig, User};
use imgpull_tests::require_e2e;
use imgpull_tests::tools::{self, DOCKER_REGISTRY, HTPASSWD, SKOPEO};
use imgpull_tests::validate::{self, Podman, sha256_digest};
use serde_json::Value;

fn gunzip_sha256(bytes: &[u8]) -> String {
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut inflated)
        .expect("layer is valid gzip");
    sha256_digest(&inflated)
}

fn is_unauthorized(error: &HarnessError) -> bool {
    let text = error.to_string().to_lowercase();
    text.contains("unauthorized")
        || text.contains("401")
        || text.contains("authentication required")
}

#[test]
fn generated_images_are_deterministic_and_consistent() {
    let spec = ImageSpec::new("app")
        .layer(LayerSpec::random(7, 300 << 10).files(3))
        .layers(2, 40 << 10, Content::Text);
    let mut first = OciLayout::temporary().expect("layout");
    let mut second = OciLayout::temporary().expect("layout");
    let a = first.add_image(&spec, "app").expect("image");
    let b = second.add_image(&spec, "app").expect("image");
    assert_eq!(a, b, "the same spec must give the same bytes");
    assert_eq!(a.layers.len(), 3);

    let config: Value = serde_json::from_slice(&a.config_json).expect("config JSON");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");
    let diff_ids: Vec<String> =
        serde_json::from_value(config["rootfs"]["diff_ids"].clone()).expect("diff_ids");
    assert_eq!(diff_ids, a.diff_ids());
    for layer in &a.layers {
        let blob = first.read_blob(&layer.blob.digest).expect("layer blob");
        assert_eq!(sha256_digest(&blob), layer.blob.digest);
        assert_eq!(blob.len() as u64, layer.blob.size);
        assert_eq!(gunzip_sha256(&blob), layer.diff_id);
    }
    // Random content does not compress; text does.
    assert!(a.layers[0].blob.size > 300 << 10);
    assert!(a.layers[1].blob.size < 20 << 10);

    let manifest: Value = serde_json::from_slice(&a.manifest_json).expect("manifest JSON");
    assert_eq!(manifest["mediaType"], media_type::OCI_MANIFEST);
    assert_eq!(manifest["config"]["digest"], a.config.digest.as_str());
    assert_eq!(sha256_digest(&a.manifest_json), a.manifest.digest);

    // A derived image shares the base's layers and differs in its config.
    let derived = first
        .add_image(
            &spec
                .clone()
                .named("derived")
                .layer(LayerSpec::text(99, 1000)),
            "derived",
        )
        .expect("derived image");
    assert_eq!(derived.layers[..3], a.layers[..]);
    assert_eq!(derived.layers.len(), 4);
    assert_ne!(derived.config.digest, a.config.digest);

    let index: Value = serde_json::from_slice(
        &std::fs::read(first.path().join("index.json")).expect("index.json"),
    )
    .expect("index JSON");
    let names: Vec<&str> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|entry| {
            entry["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .expect("ref name")
        })
        .collect();
    assert_eq!(names, ["app", "derived"]);

    require_e2e!(SKOPEO);
    let inspected =
        validate::inspect_oci(first.path(), "derived").expect("skopeo reads the layout");
    assert_eq!(inspected["Digest"], derived.manifest.digest.as_str());
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(4));
}

#[test]
fn multi_platform_index_has_platforms_and_attestations() {
    let mut layout = OciLayout::temporary().expect("layout");
    let index = layout
        .add_index(&IndexSpec::multi_platform("multi"), "multi")
        .expect("index");
    let parsed: Value = serde_json::from_slice(&index.index_json).expect("index JSON");
    assert_eq!(parsed["mediaType"], media_type::OCI_INDEX);
    let entries = parsed["manifests"].as_array().expect("manifests");
    assert_eq!(entries.len(), 6);
    let platforms: Vec<String> = entries
        .iter()
        .map(|entry| {
            let platform = &entry["platform"];
            let mut text = format!(
                "{}/{}",
                platform["os"].as_str().unwrap_or(""),
                platform["architecture"].as_str().unwrap_or("")
            );
            if let Some(variant) = platform["variant"].as_str() {
                text = format!("{text}/{variant}");
            }
            text
        })
        .collect();
    assert_eq!(
        platforms,
        [
            "linux/amd64",
            "linux/arm64/v8",
            "linux/arm/v7",
            "unknown/unknown",
            "unknown/unknown",
            "unknown/unknown"
        ]
    );
    for (attestation, image) in entries[3..].iter().zip(&index.images) {
        assert_eq!(
            attestation["annotations"]["vnd.docker.reference.type"],
            "attestation-manifest"
        );
        assert_eq!(
            attestation["annotations"]["vnd.docker.reference.digest"],
            image.manifest.digest.as_str()
        );
    }
    let arm = index.image("linux/arm/v7").expect("arm/v7 image");
    let config: Value = serde_json::from_slice(&arm.config_json).expect("config");
    assert_eq!(config["variant"], "v7");
    // The first layer is shared by all platforms, the second is not.
    assert_eq!(index.images[0].layers[0], index.images[2].layers[0]);
    assert_ne!(index.images[0].layers[1], index.images[2].layers[1]);
}

#[test]
fn missing_tools_are_reported_with_the_skip_switch() {
    assert!(!tools::tool_available("imgpull-no-such-tool"));
    assert!(tools::tool_available("sh"));
    let error = tools::require_tool("imgpull-no-such-tool").expect_err("not installed");
    let message = error.to_string();
    assert!(message.contains("imgpull-no-such-tool"), "{message}");
    assert!(message.contains(tools::SKIP_E2E_ENV), "{message}");
}

#[test]
fn tls_htpasswd_registry_accepts_a_push_and_checks_credentials() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO, HTPASSWD);
    let server = RegistryServer::start(RegistryConfig::tls().htpasswd("alice", "s3cret"))
        .expect("registry starts");
    assert!(server.url().starts_with("https://127.0.0.1:"));
    let mut layout = OciLayout::temporary().expect("layout");
    let image = layout
        .add_image(
            &ImageSpec::new("basic").layers(2, 64 << 10, Content::Random),
            "basic",
        )
        .expect("image");
    let pushed = push(
        &layout,
        "basic",
        &server,
        "team/basic:v1",
        &PushOptions::new(),
    )
    .expect("push with alice");
    assert_eq!(pushed, image.manifest.digest);

    let alice = User::new("alice", "s3cret");
    let inspected =
        validate::inspect_registry(&server, "team/basic:v1", Some(&alice)).expect("inspect");
    assert_eq!(inspected["Digest"], image.manifest.digest.as_str());
    let raw = validate::inspect_registry_raw(&server, "team/basic:v1", Some(&alice)).expect("raw");
    assert_eq!(raw, image.manifest_json);

    let wrong = User::new("alice", "wrong");
    let error = validate::inspect_registry(&server, "team/basic:v1", Some(&wrong))
        .expect_err("wrong password");
    assert!(is_unauthorized(&error), "{error}");
    let error = validate::inspect_registry(&server, "team/basic:v1", None).expect_err("anonymous");
    assert!(is_unauthorized(&error), "{error}");
    let error = push(
        &layout,
        "basic",
        &server,
        "team/other:v1",
        &PushOptions::new().anonymous(),
    )
    .expect_err("anonymous push");
    assert!(is_unauthorized(&error), "{error}");
}

#[test]
fn token_registry_serves_public_repositories_anonymously_and_private_ones_with_credentials() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(
        RegistryConfig::tls().token_auth(
            TokenConfig::new()
                .user("bob", "hunter2")
                .public_repository("public/app"),
        ),
    )
    .expect("registry starts");
    let realm = server.realm().expect("token auth runs a realm").url();
    assert!(
        realm.starts_with("https://127.0.0.1:"),
        "a TLS registry gets an HTTPS realm: {realm}"
    );
    let mut layout = OciLayout::temporary().expect("layout");
    let image = layout
        .add_image(&ImageSpec::new("tokened"), "tokened")
        .expect("image");
    for target in ["public/app:1", "private/app:1"] {
        let pushed =
            push(&layout, "tokened", &server, target, &PushOptions::new()).expect("push as bob");
        assert_eq!(pushed, image.manifest.digest);
    }
    let pushes = server.token_requests();
    assert!(
        pushes
            .iter()
            .all(|request| request.username.as_deref() == Some("bob") && request.status == 200)
    );
    assert!(pushes.iter().any(|request| {
        request
            .granted
            .iter()
            .any(|scope| scope.starts_with("repository:private/app:") && scope.contains("push"))
    }));
    server.clear_token_requests();

    let public = validate::inspect_registry(&server, "public/app:1", None)
        .expect("anonymous pull of public repo");
    assert_eq!(public["Digest"], image.manifest.digest.as_str());
    let anonymous = server.token_requests();
    assert!(!anonymous.is_empty());
    assert!(
        anonymous
            .iter()
            .all(|request| request.username.is_none() && !request.basic_auth)
    );
    assert!(
        anonymous
            .iter()
            .any(|request| request.granted == ["repository:public/app:pull"])
    );
    server.clear_token_requests();

    let error = validate::inspect_registry(&server, "private/app:1", None)
        .expect_err("private repo needs creds");
    assert!(is_unauthorized(&error), "{error}");
    assert!(
        server
            .token_requests()
            .iter()
            .all(|request| request.granted.is_empty())
    );

    let bob = User::new("bob", "hunter2");
    let private =
        validate::inspect_registry(&server, "private/app:1", Some(&bob)).expect("pull with creds");
    assert_eq!(private["Digest"], image.manifest.digest.as_str());
    server.clear_token_requests();

    let wrong = User::new("bob", "nope");
    let error = validate::inspect_registry(&server, "private/app:1", Some(&wrong))
        .expect_err("wrong password");
    assert!(is_unauthorized(&error), "{error}");
    let requests = server.token_requests();
    assert!(
        !requests.is_empty() && requests.iter().all(|request| request.status == 401),
        "{requests:?}"
    );
}

#[test]
fn plain_http_registry_round_trips_an_index_and_docker_images() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::plain_http()).expect("registry starts");
    assert!(server.url().starts_with("http://127.0.0.1:"));
    let mut layout = OciLayout::temporary().expect("layout");

    let index = layout
        .add_index(&IndexSpec::multi_platform("multi"), "multi")
        .expect("index");
    let pushed = push(
        &layout,
        "multi",
        &server,
        "multi/app:v1",
        &PushOptions::new().preserve_digests(),
    )
    .expect("push index");
    assert_eq!(pushed, index.index.digest);
    let raw = validate::inspect_registry_raw(&server, "multi/app:v1", None).expect("raw index");
    assert_eq!(
        raw, index.index_json,
        "the index must round-trip byte for byte"
    );
    let arm = index.image("linux/arm/v7").expect("arm/v7");
    let arm_raw = validate::inspect_registry_raw(
        &server,
        &format!("multi/app@{}", arm.manifest.digest),
        None,
    )
    .expect("arm/v7 manifest by digest");
    assert_eq!(arm_raw, arm.manifest_json);

    // A Docker schema2 image written directly with Docker media types.
    let docker = layout
        .add_image(
            &ImageSpec::new("docker")
                .flavor(Flavor::Docker)
                .layers(1, 10 << 10, Content::Text),
            "docker",
        )
        .expect("docker image");
    let pushed = push(
        &layout,
        "docker",
        &server,
        "docker/app:v1",
        &PushOptions::new().preserve_digests(),
    )
    .expect("push docker image");
    assert_eq!(pushed, docker.manifest.digest);
    let raw: Value = serde_json::from_slice(
        &validate::inspect_registry_raw(&server, "docker/app:v1", None).expect("raw"),
    )
    .expect("manifest JSON");
    assert_eq!(raw["mediaType"], media_type::DOCKER_MANIFEST);

    // A Docker manifest list of schema2 images, byte for byte.
    let list = layout
        .add_index(&IndexSpec::multi_platform("list").docker(), "list")
        .expect("manifest list");
    let pushed = push(
        &layout,
        "list",
        &server,
        "list/app:v1",
        &PushOptions::new().preserve_digests(),
    )
    .expect("push manifest list");
    assert_eq!(pushed, list.index.digest);
    let raw = validate::inspect_registry_raw(&server, "list/app:v1", None).expect("raw list");
    assert_eq!(raw, list.index_json);
    let parsed: Value = serde_json::from_slice(&raw).expect("list JSON");
    assert_eq!(parsed["mediaType"], media_type::DOCKER_MANIFEST_LIST);
    assert_eq!(parsed["manifests"].as_array().map(Vec::len), Some(3));

    // An OCI image converted to schema2 by skopeo keeps its blobs but not its manifest digest.
    let oci = layout
        .add_image(&ImageSpec::new("converted"), "converted")
        .expect("image");
    let pushed = push(
        &layout,
        "converted",
        &server,
        "converted/app:v1",
        &PushOptions::new().v2s2(),
    )
    .expect("push converted");
    assert_ne!(pushed, oci.manifest.digest);
    let raw_bytes = validate::inspect_registry_raw(&server, "converted/app:v1", None).expect("raw");
    assert_eq!(sha256_digest(&raw_bytes), pushed);
    let raw: Value = serde_json::from_slice(&raw_bytes).expect("manifest JSON");
    assert_eq!(raw["mediaType"], media_type::DOCKER_MANIFEST);
    assert_eq!(raw["config"]["digest"], oci.config.digest.as_str());
}

#[test]
fn validators_accept_a_docker_archive_written_by_skopeo() {
    require_e2e!(SKOPEO);
    let mut layout = OciLayout::temporary().expect("layout");
    let image = layout
        .add_image(
            &ImageSpec::new("archived").layers(2, 32 << 10, Content::Random),
            "archived",
        )
        .expect("image");
    let scratch = tempfile::tempdir().expect("scratch dir");
    let archive = scratch.path().join("out.tar");
    validate::skopeo_copy(
        &layout.transport_ref("archived"),
        &format!(
            "docker-archive:{}:example.test/archived:v1",
            archive.display()
        ),
    )
    .expect("skopeo writes a docker archive");

    let inspected = validate::inspect_docker_archive(&archive).expect("inspect archive");
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(2));
    let config = validate::docker_archive_config(&archive).expect("config");
    assert_eq!(
        config["rootfs"]["diff_ids"],
        serde_json::json!(image.diff_ids())
    );
    let copied = scratch.path().join("oci");
    validate::copy_docker_archive_to_oci(&archive, &copied).expect("re-digest into an OCI layout");
    let inspected = validate::inspect_oci(&copied, "x").expect("inspect copy");
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(2));

    let oci_archive = scratch.path().join("image.oci.tar");
    validate::skopeo_copy(
        &layout.transport_ref("archived"),
        &format!("oci-archive:{}", oci_archive.display()),
    )
    .expect("skopeo writes an OCI archive");
    let inspected = validate::inspect_oci_archive(&oci_archive).expect("inspect OCI archive");
    assert_eq!(inspected["Digest"], image.manifest.digest.as_str());

    let broken = scratch.path().join("broken.tar");
    std::fs::write(&broken, b"not a tar").expect("write");
    assert!(validate::inspect_docker_archive(&broken).is_err());

    match Podman::detect() {
        Ok(podman) => {
            let loaded = podman.load(&archive).expect("podman load");
            assert!(
                loaded
                    .iter()
                    .any(|name| name.contains("example.test/archived:v1")),
                "{loaded:?}"
            );
            let inspected = podman
                .image_inspect("example.test/archived:v1")
                .expect("podman inspect");
            assert_eq!(inspected["Id"], image.config.hex());
        }
        Err(reason) => tools::skipped(
            "imgpull-tests harness: podman load of a docker archive",
            &format!("podman cannot run here: {reason}"),
        ),
    }
}

#[test]
fn proxy_forwards_throttles_and_breaks_connections() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::plain_http()).expect("registry starts");
    let mut layout = OciLayout::temporary().expect("layout");
    let image = layout
        .add_image(&ImageSpec::new("proxied"), "proxied")
        .expect("image");
    push(
        &layout,
        "proxied",
        &server,
        "proxied/app:v1",
        &PushOptions::new(),
    )
    .expect("push");

    let proxy = TcpProxy::start(server.addr()).expect("proxy starts");
    let through_proxy = format!("docker://{}/proxied/app:v1", proxy.host());
    proxy.set_rate(Some(256 << 10));
    let inspected = validate::skopeo_inspect(&through_proxy, &["--tls-verify=false", "--no-creds"])
        .expect("inspect through the throttled proxy");
    assert_eq!(inspected["Digest"], image.manifest.digest.as_str());
    assert!(proxy.connections() >= 1);
    assert!(proxy.bytes_down() > 0);
    assert_eq!(proxy.cut_count(), 0);

    proxy.set_rate(None);
    proxy.cut_connections(usize::MAX, 0);
    let error = validate::skopeo_inspect(&through_proxy, &["--tls-verify=false", "--no-creds"])
        .expect_err("every connection is cut");
    assert!(matches!(error, HarnessError::Command { .. }), "{error}");
    assert!(proxy.cut_count() >= 1);
}
