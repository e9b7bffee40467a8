//! `imgpull_registry::Client` against real CNCF distribution registries (issue 3, "Must show"):
//! token auth (anonymous pull of a public repository, credentialed pull of a private one, a
//! wrong password, a token expiring during a long download), htpasswd over TLS, plain HTTP on
//! loopback, and platform resolution of a pushed multi-platform index.

use std::time::{Duration, Instant};

use imgpull_auth::{Credential, Keychain};
use imgpull_reference::{Platform, Reference};
use imgpull_registry::{
    Client, ClientBuilder, ErrorKind, PlatformChoice, ResolvedImage, RetryPolicy,
};
use imgpull_tests::image::{Content, GeneratedImage, ImageSpec, IndexSpec, LayerSpec, OciLayout};
use imgpull_tests::proxy::TcpProxy;
use imgpull_tests::push::{PushOptions, push};
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::realm::TokenConfig;
use imgpull_tests::require_e2e;
use imgpull_tests::tools::{DOCKER_REGISTRY, HTPASSWD, SKOPEO};
use sha2::{Digest as _, Sha256};

const PUBLIC: &str = "public/app";
const PRIVATE: &str = "private/app";

fn amd64() -> PlatformChoice {
    PlatformChoice::Exact(Platform::parse("linux/amd64").expect("platform"))
}

/// A client trusting the server's CA, with `creds` (or anonymous) for its host.
fn client(server: &RegistryServer, creds: Option<(&str, &str)>) -> Client {
    let mut keychain = Keychain::new();
    if let Some((username, password)) = creds {
        keychain = keychain.with_explicit(&server.host(), Credential::basic(username, password));
    }
    ClientBuilder::new()
        .ca_file(server.ca_pem_path())
        .keychain(keychain)
        .retry_policy(RetryPolicy::fast())
        .build()
        .expect("client builds")
}

fn reference(server: &RegistryServer, repository_and_tag: &str) -> Reference {
    Reference::parse(&server.image_ref(repository_and_tag)).expect("valid reference")
}

/// Pushes one generated image to each target and returns it.
fn push_image(
    server: &RegistryServer,
    spec: &ImageSpec,
    targets: &[&str],
) -> (OciLayout, GeneratedImage) {
    let mut layout = OciLayout::temporary().expect("layout");
    let image = layout.add_image(spec, "image").expect("image");
    for target in targets {
        let pushed = push(&layout, "image", server, target, &PushOptions::new()).expect("push");
        assert_eq!(pushed, image.manifest.digest);
    }
    server.clear_token_requests();
    (layout, image)
}

/// Asserts that a resolved image is exactly the generated one.
fn assert_resolved(resolved: &ResolvedImage, image: &GeneratedImage) {
    assert_eq!(resolved.manifest.digest.to_string(), image.manifest.digest);
    assert_eq!(resolved.manifest.bytes, image.manifest_json);
    assert_eq!(resolved.config.digest.to_string(), image.config.digest);
    assert_eq!(resolved.config_bytes, image.config_json);
    let layers: Vec<String> = resolved
        .layers
        .iter()
        .map(|layer| layer.digest.to_string())
        .collect();
    let expected: Vec<String> = image
        .layers
        .iter()
        .map(|layer| layer.blob.digest.clone())
        .collect();
    assert_eq!(layers, expected);
}

/// Resolves `reference` for linux/amd64 and downloads every layer, checking each digest.
async fn pull(client: &Client, reference: &Reference, image: &GeneratedImage) {
    let resolved = client.resolve(reference, &amd64()).await.expect("resolve");
    assert_eq!(resolved.len(), 1);
    assert_resolved(&resolved[0], image);
    for layer in &resolved[0].layers {
        let mut hasher = Sha256::new();
        let mut received = 0_u64;
        client
            .download(reference, layer, 0, |chunk: &[u8]| {
                hasher.update(chunk);
                received += chunk.len() as u64;
                Ok::<(), std::io::Error>(())
            })
            .await
            .expect("download");
        assert_eq!(received, layer.size);
        assert_eq!(
            format!("sha256:{}", hex::encode(hasher.finalize())),
            layer.digest.to_string()
        );
    }
}

fn token_registry(config: TokenConfig) -> RegistryServer {
    RegistryServer::start(RegistryConfig::tls().token_auth(config)).expect("registry starts")
}

fn small_image(name: &str) -> ImageSpec {
    ImageSpec::new(name).layers(2, 48 << 10, Content::Random)
}

#[tokio::test]
async fn token_auth_anonymous_pull_of_a_public_repository() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = token_registry(
        TokenConfig::new()
            .user("bob", "hunter2")
            .public_repository(PUBLIC),
    );
    let (_layout, image) = push_image(&server, &small_image("public"), &[&format!("{PUBLIC}:v1")]);

    pull(
        &client(&server, None),
        &reference(&server, &format!("{PUBLIC}:v1")),
        &image,
    )
    .await;

    let requests = server.token_requests();
    assert!(
        !requests.is_empty(),
        "an anonymous pull still needs a token"
    );
    for request in &requests {
        assert!(
            request.username.is_none() && !request.basic_auth,
            "{request:?}"
        );
        assert_eq!(request.status, 200);
        assert_eq!(
            request.granted,
            [format!("repository:{PUBLIC}:pull")],
            "{request:?}"
        );
    }
}

#[tokio::test]
async fn token_auth_credentialed_pull_of_a_private_repository() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = token_registry(
        TokenConfig::new()
            .user("bob", "hunter2")
            .public_repository(PUBLIC),
    );
    let (_layout, image) = push_image(
        &server,
        &small_image("private"),
        &[&format!("{PRIVATE}:v1")],
    );
    let private = reference(&server, &format!("{PRIVATE}:v1"));

    pull(&client(&server, Some(("bob", "hunter2"))), &private, &image).await;
    let requests = server.token_requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.username.as_deref(), Some("bob"), "{request:?}");
        assert!(
            request.basic_auth,
            "credentials go to the realm as Basic auth"
        );
        assert!(
            request
                .granted
                .iter()
                .any(|scope| scope.starts_with(&format!("repository:{PRIVATE}:")))
        );
    }

    // Without credentials the realm grants nothing and the registry refuses.
    let error = client(&server, None)
        .resolve(&private, &amd64())
        .await
        .expect_err("a private repository needs credentials");
    assert_eq!(error.kind(), ErrorKind::Auth, "{error}");
}

#[tokio::test]
async fn token_auth_wrong_password_is_an_auth_error_without_a_retry_storm() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = token_registry(TokenConfig::new().user("bob", "hunter2"));
    let (_layout, _image) = push_image(
        &server,
        &small_image("guarded"),
        &[&format!("{PRIVATE}:v1")],
    );

    let error = client(&server, Some(("bob", "wrong")))
        .resolve(&reference(&server, &format!("{PRIVATE}:v1")), &amd64())
        .await
        .expect_err("wrong password");
    assert_eq!(error.kind(), ErrorKind::Auth, "{error}");
    let requests = server.token_requests();
    assert!(!requests.is_empty(), "the realm was asked");
    assert!(
        requests.len() <= 2,
        "a rejected password must not be retried in a loop: {requests:?}"
    );
    assert!(requests.iter().all(|request| request.status == 401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiring_during_a_long_blob_download_still_completes() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let lifetime = Duration::from_secs(2);
    let server = token_registry(TokenConfig::new().user("bob", "hunter2").lifetime(lifetime));
    let spec = ImageSpec::new("slow")
        .layer(LayerSpec::random(11, 24 << 20))
        .layer(LayerSpec::text(12, 64 << 10));
    let (_layout, image) = push_image(&server, &spec, &[&format!("{PRIVATE}:v1")]);
    let client = client(&server, Some(("bob", "hunter2")));
    let private = reference(&server, &format!("{PRIVATE}:v1"));

    let resolved = client.resolve(&private, &amd64()).await.expect("resolve");
    assert_resolved(&resolved[0], &image);
    let big = &resolved[0].layers[0];
    // A slow consumer (about 6 MiB/s): the 24 MiB body outlives the 2 s token.
    let started = Instant::now();
    let mut hasher = Sha256::new();
    let mut received = 0_u64;
    client
        .download(&private, big, 0, |chunk: &[u8]| {
            hasher.update(chunk);
            received += chunk.len() as u64;
            let due = Duration::from_secs_f64(received as f64 / f64::from(6 << 20));
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
            Ok::<(), std::io::Error>(())
        })
        .await
        .expect("the download started with a valid token completes");
    assert!(
        started.elapsed() > lifetime,
        "the consumer was not slow enough to test expiry"
    );
    assert_eq!(received, big.size);
    assert_eq!(
        format!("sha256:{}", hex::encode(hasher.finalize())),
        image.layers[0].blob.digest
    );

    // The token has expired by now: the next requests need (and get) a fresh one.
    let before = server.token_requests().len();
    pull(&client, &private, &image).await;
    let after = server.token_requests();
    assert!(
        after.len() > before,
        "an expired token must be refreshed: {after:?}"
    );
    assert!(after.iter().all(|request| request.status == 200));
}

#[tokio::test]
async fn htpasswd_basic_auth_over_tls() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO, HTPASSWD);
    let server = RegistryServer::start(RegistryConfig::tls().htpasswd("alice", "s3cret"))
        .expect("registry starts");
    let (_layout, image) = push_image(&server, &small_image("basic"), &["team/app:v1"]);
    let target = reference(&server, "team/app:v1");

    pull(&client(&server, Some(("alice", "s3cret"))), &target, &image).await;

    for creds in [Some(("alice", "wrong")), None] {
        let error = client(&server, creds)
            .resolve(&target, &amd64())
            .await
            .expect_err("rejected credentials");
        assert_eq!(error.kind(), ErrorKind::Auth, "{error}");
        assert_eq!(error.status(), Some(401), "{error}");
    }
}

#[tokio::test]
async fn plain_http_on_loopback() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::plain_http()).expect("registry starts");
    let (_layout, image) = push_image(&server, &small_image("plain"), &["plain/app:v1"]);
    // No CA and no insecure-registry option: loopback may use plain HTTP.
    let client = ClientBuilder::new()
        .retry_policy(RetryPolicy::fast())
        .build()
        .expect("client");
    pull(&client, &reference(&server, "plain/app:v1"), &image).await;
}

#[tokio::test]
async fn platforms_resolve_from_a_pushed_index_with_attestations() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::plain_http()).expect("registry starts");
    let mut layout = OciLayout::temporary().expect("layout");
    let index = layout
        .add_index(&IndexSpec::multi_platform("multi"), "multi")
        .expect("index");
    push(
        &layout,
        "multi",
        &server,
        "multi/app:v1",
        &PushOptions::new().preserve_digests(),
    )
    .expect("push");
    let client = client(&server, None);
    let target = reference(&server, "multi/app:v1");

    let arm = client
        .resolve(
            &target,
            &PlatformChoice::Exact(Platform::parse("linux/arm/v7").expect("platform")),
        )
        .await
        .expect("resolve arm/v7");
    assert_eq!(arm.len(), 1);
    assert_resolved(&arm[0], index.image("linux/arm/v7").expect("arm/v7 image"));
    let from_index = arm[0].index.as_ref().expect("chosen from an index");
    assert_eq!(from_index.digest.to_string(), index.index.digest);
    assert_eq!(from_index.bytes, index.index_json);

    let all = client
        .resolve(&target, &PlatformChoice::All)
        .await
        .expect("resolve all");
    let mut digests: Vec<String> = all
        .iter()
        .map(|image| image.manifest.digest.to_string())
        .collect();
    let mut expected: Vec<String> = index
        .images
        .iter()
        .map(|image| image.manifest.digest.clone())
        .collect();
    digests.sort();
    expected.sort();
    assert_eq!(digests, expected, "attestation manifests are not images");

    let error = client
        .resolve(
            &target,
            &PlatformChoice::Exact(Platform::parse("linux/s390x").expect("platform")),
        )
        .await
        .expect_err("no such platform");
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_blob_download_resumes_from_a_real_registry() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::tls()).expect("registry starts");
    let spec = ImageSpec::new("resumed").layer(LayerSpec::random(21, 4 << 20));
    let (_layout, image) = push_image(&server, &spec, &["resumed/app:v1"]);
    let proxy = TcpProxy::start(server.addr()).expect("proxy starts");
    let target = Reference::parse(&format!("{}/resumed/app:v1", proxy.host())).expect("reference");
    let client = client(&server, None);

    let resolved = client
        .resolve(&target, &amd64())
        .await
        .expect("resolve through the proxy");
    assert_resolved(&resolved[0], &image);
    let layer = &resolved[0].layers[0];
    // Whatever connection carries the blob is cut after 1 MiB; distribution honours `Range`.
    proxy.cut_connections(1, 1 << 20);
    let mut hasher = Sha256::new();
    let mut received = 0_u64;
    client
        .download(&target, layer, 0, |chunk: &[u8]| {
            hasher.update(chunk);
            received += chunk.len() as u64;
            Ok::<(), std::io::Error>(())
        })
        .await
        .expect("the download resumes after the cut");
    assert_eq!(proxy.cut_count(), 1, "the connection was cut");
    assert!(proxy.connections() >= 2, "the client reconnected");
    assert_eq!(received, layer.size, "each byte reaches the sink once");
    assert_eq!(
        format!("sha256:{}", hex::encode(hasher.finalize())),
        image.layers[0].blob.digest
    );
}

#[tokio::test]
async fn corrupted_blobs_are_integrity_errors() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(RegistryConfig::plain_http()).expect("registry starts");
    let (_layout, image) = push_image(&server, &small_image("corrupt"), &["corrupt/app:v1"]);
    let client = client(&server, None);
    let target = reference(&server, "corrupt/app:v1");
    let resolved = client.resolve(&target, &amd64()).await.expect("resolve");

    server
        .corrupt_blob(&image.layers[0].blob.digest)
        .expect("corrupt a layer");
    let error = client
        .blob_bytes(&target, &resolved[0].layers[0], 1 << 20)
        .await
        .expect_err("the layer no longer matches its digest");
    assert_eq!(error.kind(), ErrorKind::Integrity, "{error}");

    server
        .corrupt_blob(&image.config.digest)
        .expect("corrupt the config");
    let error = client
        .resolve(&target, &amd64())
        .await
        .expect_err("the config no longer matches its digest");
    assert_eq!(error.kind(), ErrorKind::Integrity, "{error}");
}
