//! `imgpull-registry` against the wiremock fake registry: the auth shapes of the big
//! registries, retries, resume, redirects, platform resolution, size and digest checks,
//! mirrors and tag pagination.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use imgpull_auth::{Credential, Keychain};
use imgpull_reference::{Descriptor, Digest, Platform, Reference, media_types};
use imgpull_registry::{
    Client, ClientBuilder, ErrorKind, Manifest, PlatformChoice, RegistryError, RetryPolicy,
};
use imgpull_tests::fake::{
    CutConnection, FakeAuth, FakeCdn, FakeRegistry, FakeTokenRealm, Fault, RealmConfig, TokenStore,
};
use wiremock::Request;

fn builder() -> ClientBuilder {
    ClientBuilder::new().retry_policy(RetryPolicy::fast())
}

fn client() -> Client {
    builder().build().unwrap()
}

fn client_with(registry: &str, credential: Credential) -> Client {
    builder()
        .keychain(Keychain::new().with_explicit(registry, credential))
        .build()
        .unwrap()
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 31 + usize::from(seed)) % 251).unwrap())
        .collect()
}

fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

async fn download_all(
    client: &Client,
    reference: &Reference,
    descriptor: &Descriptor,
    offset: u64,
) -> Result<Vec<u8>, RegistryError> {
    let mut received = Vec::new();
    client
        .download(reference, descriptor, offset, |chunk: &[u8]| {
            received.extend_from_slice(chunk);
            Ok::<(), std::io::Error>(())
        })
        .await?;
    Ok(received)
}

/// Awaits a request that must fail with an error of `kind` whose message contains each of
/// `fragments`; returns the error for further checks.
async fn expect_error<T: std::fmt::Debug>(
    request: impl Future<Output = Result<T, RegistryError>>,
    kind: ErrorKind,
    fragments: &[&str],
) -> RegistryError {
    let error = request.await.expect_err("the request should fail");
    assert_eq!(error.kind(), kind, "{error}");
    let message = error.to_string();
    for fragment in fragments {
        assert!(
            message.contains(fragment),
            "`{fragment}` is not in: {message}"
        );
    }
    error
}

/// Asserts how many requests to paths containing `path` `registry` received.
async fn assert_requests(registry: &FakeRegistry, path: &str, count: usize) {
    assert_eq!(
        registry.requests_to(path).await.len(),
        count,
        "requests to {path}"
    );
}

/// A registry serving a one-layer image as `r/app:t` whose first `times` manifest requests
/// meet `fault`.
async fn app_with_manifest_fault(fault: Fault, times: usize) -> FakeRegistry {
    let registry = FakeRegistry::start().await;
    registry.push_image("r/app", Some("t"), &amd64(), &[data(10, 17)]);
    registry.inject("/manifests/t", fault, times);
    registry
}

/// Fetches the manifest of `r/app:t` with a new client.
async fn app_manifest(registry: &FakeRegistry) -> Result<Manifest, RegistryError> {
    client().manifest(&registry.reference("r/app:t")).await
}

/// A registry holding one layer blob of `len` bytes (`data(len, seed)`), those bytes and the
/// blob's descriptor.
async fn registry_with_blob(len: usize, seed: u8) -> (FakeRegistry, Vec<u8>, Descriptor) {
    let registry = FakeRegistry::start().await;
    let bytes = data(len, seed);
    let descriptor = registry.push_blob(media_types::OCI_LAYER_TAR_GZIP, bytes.clone());
    (registry, bytes, descriptor)
}

/// Asserts that the blob was asked for twice: from its start, then resumed at `cut`.
async fn assert_resumed_at(registry: &FakeRegistry, descriptor: &Descriptor, cut: usize) {
    let requests = registry
        .requests_to(&format!("/blobs/{}", descriptor.digest))
        .await;
    assert_eq!(requests.len(), 2);
    assert_eq!(header(&requests[0], "range"), None);
    assert_eq!(
        header(&requests[1], "range"),
        Some(format!("bytes={cut}-").as_str())
    );
}

/// Pulls an image the way the cli does: resolve for linux/amd64, then every layer.
async fn pull(client: &Client, reference: &Reference) -> Result<Vec<Vec<u8>>, RegistryError> {
    let images = client
        .resolve(reference, &PlatformChoice::Exact(amd64()))
        .await?;
    let mut layers = Vec::new();
    for layer in &images[0].layers {
        layers.push(download_all(client, reference, layer, 0).await?);
    }
    Ok(layers)
}

/// Pulls `reference` as [`pull`] does and asserts that every layer arrived intact.
async fn assert_pulls(client: &Client, reference: &Reference, layers: &[Vec<u8>]) {
    let pulled = pull(client, reference).await.unwrap();
    assert_eq!(pulled, layers);
}

// ---------------------------------------------------------------------------------------
// Auth shapes of real registries
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn docker_hub_anonymous_pull_of_public_repository_uses_one_token() {
    let realm =
        FakeTokenRealm::start(RealmConfig::new("registry.docker.io").public("library/alpine"))
            .await;
    let registry = FakeRegistry::with_auth(realm.auth(false)).await;
    let layers = vec![data(1000, 1), data(2000, 2)];
    registry.push_image("library/alpine", Some("3.20"), &amd64(), &layers);
    let client = client();

    assert_pulls(&client, &registry.reference("library/alpine:3.20"), &layers).await;
    let token_requests = realm.requests().await;
    assert_eq!(token_requests.len(), 1, "one token for the whole pull");
    let query = token_requests[0].url.query().unwrap();
    assert!(query.contains("service=registry.docker.io"), "{query}");
    assert!(
        query.contains("scope=repository%3Alibrary%2Falpine%3Apull"),
        "{query}"
    );
    assert!(header(&token_requests[0], "authorization").is_none());
}

#[tokio::test]
async fn docker_hub_private_repository_without_credentials_is_auth_error_with_hint() {
    let realm = FakeTokenRealm::start(RealmConfig::new("registry.docker.io")).await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    registry.push_image("library/secret", Some("v1"), &amd64(), &[data(10, 1)]);

    let error = expect_error(
        client().manifest(&registry.reference("library/secret:v1")),
        ErrorKind::Auth,
        &["for library/secret", "may require --username"],
    )
    .await;

    assert_eq!(error.status(), Some(401));
    // The first token, then exactly one re-authentication: no retry storm.
    assert_requests(&registry, "/manifests/v1", 2).await;
    assert_eq!(realm.requests().await.len(), 2);
}

#[tokio::test]
async fn ghcr_bearer_with_scope_in_challenge_and_personal_access_token() {
    let realm =
        FakeTokenRealm::start(RealmConfig::new("ghcr.io").user("octocat", "ghp_token")).await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    let layers = vec![data(4096, 3)];
    registry.push_image("octocat/app", Some("main"), &amd64(), &layers);
    let client = client_with(&registry.host(), Credential::basic("octocat", "ghp_token"));

    assert_pulls(&client, &registry.reference("octocat/app:main"), &layers).await;
    let token_requests = realm.requests().await;
    assert_eq!(token_requests.len(), 1);
    assert!(
        header(&token_requests[0], "authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    // The registry itself only ever sees the bearer token.
    for request in registry.requests().await {
        if let Some(authorization) = header(&request, "authorization") {
            assert!(
                authorization.starts_with("Bearer fake-token-"),
                "{authorization}"
            );
        }
    }
}

#[tokio::test]
async fn quay_bearer_with_robot_credentials_sends_account() {
    let realm = FakeTokenRealm::start(RealmConfig::new("quay.io").user("org+robot", "R0B0T")).await;
    let registry = FakeRegistry::with_auth(realm.auth(false)).await;
    registry.push_image("org/app", Some("latest"), &amd64(), &[data(100, 4)]);
    let client = client_with(&registry.host(), Credential::basic("org+robot", "R0B0T"));

    pull(&client, &registry.reference("org/app")).await.unwrap();

    let token_requests = realm.requests().await;
    let query = token_requests[0].url.query().unwrap();
    assert!(query.contains("account=org%2Brobot"), "{query}");
}

#[tokio::test]
async fn harbor_robot_account_with_dollar_in_name() {
    let realm = FakeTokenRealm::start(
        RealmConfig::new("harbor-registry").user("robot$project+ci", "s3cret"),
    )
    .await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    let layers = vec![data(500, 5)];
    registry.push_image("project/app", Some("1.0"), &amd64(), &layers);
    let client = client_with(
        &registry.host(),
        Credential::basic("robot$project+ci", "s3cret"),
    );

    assert_pulls(&client, &registry.reference("project/app:1.0"), &layers).await;
}

/// A registry whose challenge names a plain-http token realm on another host must not get the
/// password sent there in cleartext: the client refuses before sending anything.
#[tokio::test]
async fn credentials_never_sent_to_a_plain_http_realm_on_another_host() {
    let registry = FakeRegistry::with_auth(FakeAuth::Bearer {
        realm: "http://auth.invalid/token".into(),
        service: "registry".into(),
        tokens: TokenStore::default(),
        scope_in_challenge: true,
    })
    .await;
    registry.push_image("team/app", Some("v1"), &amd64(), &[data(10, 1)]);
    let client = client_with(&registry.host(), Credential::basic("alice", "s3cret"));

    let error = expect_error(
        client.manifest(&registry.reference("team/app:v1")),
        ErrorKind::Auth,
        &[
            "refusing to send credentials in cleartext",
            "--insecure-registry auth.invalid",
        ],
    )
    .await;

    assert!(!error.to_string().contains("s3cret"), "{error}");
}

/// An ECR-shaped host name pinned to the fake (ECR detection goes by host name).
async fn ecr_registry() -> (FakeRegistry, String, Client) {
    let registry = FakeRegistry::with_auth(FakeAuth::Basic {
        username: "AWS".into(),
        password: "ecr-token".into(),
        realm: "https://123456789012.dkr.ecr.us-east-1.amazonaws.com/".into(),
    })
    .await;
    let port = registry.host().rsplit_once(':').unwrap().1.to_owned();
    let host = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com:{port}");
    let client = builder()
        .resolve(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .insecure_registry(host.clone())
        .keychain(Keychain::new().with_explicit(&host, Credential::basic("AWS", "ecr-token")))
        .build()
        .unwrap();
    (registry, host, client)
}

#[tokio::test]
async fn ecr_basic_auth() {
    let (registry, host, client) = ecr_registry().await;
    let layers = vec![data(300, 6)];
    registry.push_image("team/service", Some("prod"), &amd64(), &layers);
    let reference = Reference::parse(&format!("{host}/team/service:prod")).unwrap();

    assert_pulls(&client, &reference, &layers).await;
    let expected = format!("Basic {}", "QVdTOmVjci10b2tlbg=="); // base64("AWS:ecr-token")
    for request in registry.requests_to("/manifests/prod").await {
        assert_eq!(header(&request, "authorization"), Some(expected.as_str()));
    }
}

#[tokio::test]
async fn ecr_expired_token_403_reauthenticates_once() {
    let (registry, host, client) = ecr_registry().await;
    registry.push_image("team/service", Some("prod"), &amd64(), &[data(300, 7)]);
    let reference = Reference::parse(&format!("{host}/team/service:prod")).unwrap();

    // One expired answer: the credential is looked up again and the request resent once.
    registry.inject("/manifests/prod", Fault::ExpiredToken, 1);
    client.manifest(&reference).await.unwrap();
    assert_requests(&registry, "/manifests/prod", 2).await;

    // A credential that stays expired: exactly one re-authentication, then an auth error.
    registry.inject("/manifests/prod", Fault::ExpiredToken, usize::MAX);
    let error = expect_error(client.manifest(&reference), ErrorKind::Auth, &[]).await;
    assert_eq!(error.status(), Some(403));
    assert_requests(&registry, "/manifests/prod", 4).await;
}

#[tokio::test]
async fn acr_identity_token_uses_oauth2_refresh_grant() {
    let realm = FakeTokenRealm::start(
        RealmConfig::new("myreg.azurecr.io")
            .refresh_token("acr-refresh-token")
            .access_token_only(),
    )
    .await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    let layers = vec![data(800, 8)];
    registry.push_image("app", Some("v2"), &amd64(), &layers);
    let client = client_with(
        &registry.host(),
        Credential::IdentityToken("acr-refresh-token".into()),
    );

    assert_pulls(&client, &registry.reference("app:v2"), &layers).await;
    let token_requests = realm.requests().await;
    assert_eq!(token_requests.len(), 1);
    assert_eq!(token_requests[0].method.as_str(), "POST");
    let body = String::from_utf8(token_requests[0].body.clone()).unwrap();
    assert!(body.contains("grant_type=refresh_token"), "{body}");
    assert!(body.contains("refresh_token=acr-refresh-token"), "{body}");
}

#[tokio::test]
async fn oauth2_password_grant_when_realm_refuses_get() {
    let realm =
        FakeTokenRealm::start(RealmConfig::new("svc").user("alice", "pw").post_only()).await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    registry.push_image("alice/app", Some("x"), &amd64(), &[data(10, 9)]);
    let client = client_with(&registry.host(), Credential::basic("alice", "pw"));

    client
        .manifest(&registry.reference("alice/app:x"))
        .await
        .unwrap();

    let methods: Vec<String> = realm
        .requests()
        .await
        .iter()
        .map(|r| r.method.to_string())
        .collect();
    assert_eq!(methods, ["GET", "POST"]);
}

#[tokio::test]
async fn wrong_password_is_auth_error_without_retry_storm() {
    // Bearer: the realm refuses the credentials once; nothing is retried.
    let realm = FakeTokenRealm::start(RealmConfig::new("svc").user("alice", "right")).await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    registry.push_image("alice/app", Some("x"), &amd64(), &[data(10, 10)]);
    let client = client_with(&registry.host(), Credential::basic("alice", "wrong"));
    expect_error(
        client.manifest(&registry.reference("alice/app:x")),
        ErrorKind::Auth,
        &[],
    )
    .await;
    assert_eq!(realm.requests().await.len(), 1);
    assert_requests(&registry, "/manifests/x", 0).await;

    // Basic: the registry refuses the credentials once; they are not resent.
    let basic = FakeRegistry::with_auth(FakeAuth::Basic {
        username: "alice".into(),
        password: "right".into(),
        realm: "basic".into(),
    })
    .await;
    basic.push_image("alice/app", Some("x"), &amd64(), &[data(10, 10)]);
    let client = client_with(&basic.host(), Credential::basic("alice", "wrong"));
    expect_error(
        client.manifest(&basic.reference("alice/app:x")),
        ErrorKind::Auth,
        &["rejected the credentials"],
    )
    .await;
    assert_requests(&basic, "/manifests/x", 1).await;
}

#[tokio::test]
async fn bearer_token_revoked_mid_pull_is_renewed_once() {
    let realm = FakeTokenRealm::start(RealmConfig::new("svc").public("lib/app")).await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    let image = registry.push_image("lib/app", Some("1"), &amd64(), &[data(5000, 11)]);
    let client = client();
    let reference = registry.reference("lib/app:1");
    client.manifest(&reference).await.unwrap();

    realm.tokens().revoke_all(); // the token "expires" during the pull
    let layer = download_all(&client, &reference, &image.layers[0], 0)
        .await
        .unwrap();

    assert_eq!(layer, data(5000, 11));
    assert_eq!(realm.requests().await.len(), 2);
}

#[tokio::test]
async fn insufficient_scope_adds_the_scope_once_and_remembers_it() {
    let realm = FakeTokenRealm::start(RealmConfig::new("svc").user("u", "p")).await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    let layers = vec![data(100, 28), data(200, 29)];
    registry.push_image("app/child", Some("1"), &amd64(), &layers);
    registry.require_also("app/child", "app/base");
    let client = client_with(&registry.host(), Credential::basic("u", "p"));

    assert_pulls(&client, &registry.reference("app/child:1"), &layers).await;
    let scopes: Vec<Vec<String>> = realm
        .requests()
        .await
        .iter()
        .map(|r| {
            r.url
                .query_pairs()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.into_owned())
                .collect()
        })
        .collect();
    assert_eq!(
        scopes,
        [
            vec!["repository:app/child:pull".to_owned()],
            vec![
                "repository:app/base:pull".to_owned(),
                "repository:app/child:pull".to_owned()
            ],
        ],
        "one token, one refusal, one token with the added scope, reused for the whole pull"
    );
    assert_requests(&registry, "/manifests/1", 2).await;
}

#[tokio::test]
async fn check_credentials_accepts_right_and_refuses_wrong_or_missing_ones() {
    let realm = FakeTokenRealm::start(RealmConfig::new("svc").user("u", "right")).await;
    let bearer = FakeRegistry::with_auth(realm.auth(true)).await;
    let host = bearer.host();
    client_with(&host, Credential::basic("u", "right"))
        .check_credentials(&host)
        .await
        .unwrap();
    let wrong = client_with(&host, Credential::basic("u", "wrong"));
    expect_error(wrong.check_credentials(&host), ErrorKind::Auth, &[]).await;
    expect_error(client().check_credentials(&host), ErrorKind::Auth, &[]).await;
    // Token requests: the right password, the wrong one; none without credentials.
    assert_eq!(realm.requests().await.len(), 2);

    let basic = FakeRegistry::with_auth(FakeAuth::Basic {
        username: "u".into(),
        password: "right".into(),
        realm: "r".into(),
    })
    .await;
    let host = basic.host();
    client_with(&host, Credential::basic("u", "right"))
        .check_credentials(&host)
        .await
        .unwrap();
    let wrong = client_with(&host, Credential::basic("u", "wrong"));
    let error = expect_error(wrong.check_credentials(&host), ErrorKind::Auth, &[]).await;
    assert_eq!(error.status(), Some(401), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_downloads_share_one_ping_and_one_token() {
    let realm = FakeTokenRealm::start(RealmConfig::new("svc").public("lib/app")).await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    let layers: Vec<Vec<u8>> = (0..8)
        .map(|i| data(20_000 + i, u8::try_from(i).unwrap()))
        .collect();
    let image = registry.push_image("lib/app", Some("1"), &amd64(), &layers);
    let client = client();
    let reference = registry.reference("lib/app:1");

    let downloads = image.layers.iter().map(|layer| {
        let (client, reference) = (client.clone(), reference.clone());
        let layer = layer.clone();
        tokio::spawn(async move { download_all(&client, &reference, &layer, 0).await })
    });
    let mut pulled = Vec::new();
    for handle in downloads.collect::<Vec<_>>() {
        pulled.push(handle.await.unwrap().unwrap());
    }

    assert_eq!(pulled, layers);
    assert_eq!(registry.requests_to("/v2/").await.len(), 1, "one ping");
    assert_eq!(realm.requests().await.len(), 1, "one token");

    // The token expires: the downloads refused at the same time share one new token.
    realm.tokens().revoke_all();
    let downloads = image.layers.iter().map(|layer| {
        let (client, reference) = (client.clone(), reference.clone());
        let layer = layer.clone();
        tokio::spawn(async move { download_all(&client, &reference, &layer, 0).await })
    });
    for handle in downloads.collect::<Vec<_>>() {
        handle.await.unwrap().unwrap();
    }
    assert_eq!(realm.requests().await.len(), 2, "one replacement token");
}

#[tokio::test]
async fn redirect_to_cdn_drops_authorization() {
    let realm = FakeTokenRealm::start(RealmConfig::new("svc").user("u", "p")).await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    let cdn = FakeCdn::start().await;
    let bytes = data(10_000, 12);
    let image = registry.push_image("org/app", Some("1"), &amd64(), std::slice::from_ref(&bytes));
    let location = cdn.serve("layer", bytes.clone());
    registry.inject(
        &image.layers[0].digest.to_string(),
        Fault::RedirectTo(location),
        1,
    );
    let client = client_with(&registry.host(), Credential::basic("u", "p"));

    let layer = download_all(
        &client,
        &registry.reference("org/app:1"),
        &image.layers[0],
        0,
    )
    .await
    .unwrap();

    assert_eq!(layer, bytes);
    let blob_requests = registry
        .requests_to(&format!("/blobs/{}", image.layers[0].digest))
        .await;
    assert!(
        header(&blob_requests[0], "authorization")
            .unwrap()
            .starts_with("Bearer ")
    );
    let cdn_requests = cdn.requests().await;
    assert_eq!(cdn_requests.len(), 1);
    assert!(
        header(&cdn_requests[0], "authorization").is_none(),
        "the registry's token leaked to the CDN"
    );
}

// ---------------------------------------------------------------------------------------
// Retries and resume
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_status_400_to_599_is_retried_only_when_transient() {
    let (registry, _, descriptor) = registry_with_blob(10, 13).await;
    let client = builder()
        .retry_policy(RetryPolicy::fast().with_max_attempts(3))
        .build()
        .unwrap();
    let mut retried = Vec::new();
    for status in 400..=599_u16 {
        let repository = format!("status/s{status}");
        registry.inject(
            &format!("/{repository}/blobs/"),
            Fault::Status(status),
            usize::MAX,
        );
        let reference = registry.reference(&repository);
        let error = client.blob(&reference, &descriptor, 0).await.unwrap_err();
        assert_eq!(error.status(), Some(status), "{error}");
        let attempts = registry
            .requests_to(&format!("/{repository}/blobs/{}", descriptor.digest))
            .await
            .len();
        match attempts {
            1 => {}
            3 => retried.push(status),
            other => panic!("status {status}: {other} attempts"),
        }
    }
    assert_eq!(retried, [408, 429, 500, 502, 503, 504]);
}

#[tokio::test]
async fn cut_blob_download_resumes_with_range() {
    let (registry, bytes, descriptor) = registry_with_blob(1 << 20, 14).await;
    let cut = 300_000;
    registry.inject("/blobs/", Fault::Truncate(cut), 1);

    let received = download_all(&client(), &registry.reference("r/blob"), &descriptor, 0)
        .await
        .unwrap();

    assert_eq!(received, bytes);
    assert_resumed_at(&registry, &descriptor, cut).await;
}

#[tokio::test]
async fn connection_cut_mid_body_resumes_with_range() {
    let (registry, bytes, descriptor) = registry_with_blob(1 << 20, 27).await;
    let cut = 200_000;
    let cutter = CutConnection::start(bytes.clone(), cut).unwrap();
    registry.inject("/blobs/", Fault::RedirectTo(cutter.url().to_owned()), 1);

    let received = download_all(&client(), &registry.reference("r/blob"), &descriptor, 0)
        .await
        .unwrap();

    assert_eq!(received, bytes);
    assert_eq!(cutter.served(), 1);
    assert_resumed_at(&registry, &descriptor, cut).await;
}

#[tokio::test]
async fn download_from_an_offset_sends_range_and_checks_content_range() {
    let (registry, bytes, descriptor) = registry_with_blob(50_000, 15).await;
    let reference = registry.reference("r/blob");
    let client = client();

    let stream = client.blob(&reference, &descriptor, 1234).await.unwrap();
    assert_eq!(stream.start_offset(), 1234);
    drop(stream);
    let tail = download_all(&client, &reference, &descriptor, 1234)
        .await
        .unwrap();
    assert_eq!(tail, bytes[1234..]);
}

/// The `Range` headers of the requests for a blob, in order.
async fn blob_ranges(registry: &FakeRegistry, descriptor: &Descriptor) -> Vec<Option<String>> {
    registry
        .requests_to(&format!("/blobs/{}", descriptor.digest))
        .await
        .iter()
        .map(|request| header(request, "range").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn a_range_the_server_will_not_serve_is_read_again_from_byte_zero() {
    for fault in [Fault::WrongContentRange, Fault::RangeNotSatisfiable] {
        let (registry, bytes, descriptor) = registry_with_blob(50_000, 15).await;
        let reference = registry.reference("r/blob");
        let client = client();

        registry.inject("/blobs/", fault.clone(), 1);
        let stream = client.blob(&reference, &descriptor, 1234).await.unwrap();
        assert_eq!(
            stream.start_offset(),
            0,
            "{fault:?}: the blob is read again"
        );
        drop(stream);

        registry.inject("/blobs/", fault.clone(), 1);
        let tail = download_all(&client, &reference, &descriptor, 1234)
            .await
            .unwrap();
        assert_eq!(tail, bytes[1234..], "{fault:?}");
        let range = Some("bytes=1234-".to_owned());
        assert_eq!(
            blob_ranges(&registry, &descriptor).await,
            [range.clone(), None, range, None],
            "{fault:?}"
        );
    }
}

#[tokio::test]
async fn a_range_refused_even_from_byte_zero_is_final() {
    let (registry, _, descriptor) = registry_with_blob(50_000, 15).await;
    // A 416 to the ranged request, then a 206 for other bytes than the whole blob.
    registry.inject("/blobs/", Fault::RangeNotSatisfiable, 1);
    registry.inject("/blobs/", Fault::Status(416), usize::MAX);
    let error = expect_error(
        client().blob(&registry.reference("r/blob"), &descriptor, 1234),
        ErrorKind::Other,
        &["416"],
    )
    .await;
    assert_eq!(error.status(), Some(416));
    assert_eq!(
        blob_ranges(&registry, &descriptor).await,
        [Some("bytes=1234-".to_owned()), None]
    );
}

#[tokio::test]
async fn a_shorter_range_than_asked_for_is_kept_and_the_rest_asked_for_at_once() {
    const MIB: usize = 1 << 20;
    let (registry, bytes, descriptor) = registry_with_blob(3 * MIB, 16).await;
    let reference = registry.reference("r/blob");
    // No retries at all: a shorter range of at least 1 MiB is not a failure.
    let client = builder()
        .retry_policy(RetryPolicy::fast().with_max_attempts(1))
        .build()
        .unwrap();

    registry.inject("/blobs/", Fault::ShortRange(5000), 1);
    let stream = client.blob(&reference, &descriptor, 1000).await.unwrap();
    assert_eq!((stream.start_offset(), stream.end_offset()), (1000, 6000));
    drop(stream);

    registry.inject("/blobs/", Fault::ShortRange(MIB), 2);
    let tail = download_all(&client, &reference, &descriptor, 1000)
        .await
        .unwrap();
    assert_eq!(tail, bytes[1000..]);
    let ranges: Vec<Option<String>> = blob_ranges(&registry, &descriptor).await;
    assert_eq!(
        ranges[1..],
        [
            Some("bytes=1000-".to_owned()),
            Some(format!("bytes={}-", 1000 + MIB)),
            Some(format!("bytes={}-", 1000 + 2 * MIB))
        ]
    );
}

/// Review 3 finding 3: a server that answers every range with a few bytes costs an attempt
/// per answer, so the download ends after the policy's attempts with a clear error instead
/// of one request per byte.
#[tokio::test]
async fn tiny_ranges_cost_attempts_and_end_in_a_clear_error() {
    let (registry, bytes, descriptor) = registry_with_blob(100_000, 17).await;
    let reference = registry.reference("r/blob");
    let client = builder()
        .retry_policy(RetryPolicy::fast().with_max_attempts(4))
        .build()
        .unwrap();

    // Two short answers within the attempts: the download completes.
    registry.inject("/blobs/", Fault::ShortRange(5000), 2);
    let tail = download_all(&client, &reference, &descriptor, 1000)
        .await
        .unwrap();
    assert_eq!(tail, bytes[1000..]);
    assert_eq!(
        blob_ranges(&registry, &descriptor).await,
        [
            Some("bytes=1000-".to_owned()),
            Some("bytes=6000-".to_owned()),
            Some("bytes=11000-".to_owned())
        ]
    );

    // Every range answered with one byte: four requests, then the error.
    registry.inject("/blobs/", Fault::ShortRange(1), usize::MAX);
    let error = expect_error(
        download_all(&client, &reference, &descriptor, 1000),
        ErrorKind::Network,
        &[
            "gave up after 4 attempts",
            "ended after 1004 of 100000 bytes",
        ],
    )
    .await;
    assert!(matches!(error, RegistryError::GaveUp { .. }), "{error}");
    assert_eq!(
        blob_ranges(&registry, &descriptor).await[3..],
        [
            Some("bytes=1000-".to_owned()),
            Some("bytes=1001-".to_owned()),
            Some("bytes=1002-".to_owned()),
            Some("bytes=1003-".to_owned())
        ]
    );
}

/// Review 3 finding 9: the bytes a server sends again (it ignored or refused the range) are
/// skipped before the sink and counted by `BlobOrigins::discarded`.
#[tokio::test]
async fn bytes_received_again_after_a_refused_range_are_counted_as_discarded() {
    let (registry, bytes, descriptor) = registry_with_blob(40_000, 18).await;
    let reference = registry.reference("r/blob");
    let client = client();
    for (fault, discarded) in [
        (None, 0),
        (Some(Fault::IgnoreRange), 1000),
        (Some(Fault::RangeNotSatisfiable), 1000),
        (Some(Fault::WrongContentRange), 1000),
    ] {
        if let Some(fault) = fault.clone() {
            registry.inject("/blobs/", fault, 1);
        }
        let mut origins = client.blob_origins(&reference, &descriptor);
        let mut received = Vec::new();
        origins
            .download(1000, |chunk: &[u8]| {
                received.extend_from_slice(chunk);
                Ok::<(), std::io::Error>(())
            })
            .await
            .unwrap();
        assert_eq!(received, bytes[1000..], "{fault:?}");
        assert_eq!(origins.discarded(), discarded, "{fault:?}");
    }
}

#[tokio::test]
async fn range_ignored_restarts_from_zero_and_skips_received_bytes() {
    let (registry, bytes, descriptor) = registry_with_blob(40_000, 16).await;
    let reference = registry.reference("r/blob");
    let client = client();

    registry.inject("/blobs/", Fault::IgnoreRange, 1);
    let stream = client.blob(&reference, &descriptor, 1000).await.unwrap();
    assert_eq!(stream.start_offset(), 0, "a 200 answer starts at zero");
    drop(stream);

    registry.inject("/blobs/", Fault::IgnoreRange, 1);
    let tail = download_all(&client, &reference, &descriptor, 1000)
        .await
        .unwrap();
    assert_eq!(tail, bytes[1000..]);
}

#[tokio::test]
async fn retry_after_one_second_is_honoured() {
    let registry = app_with_manifest_fault(Fault::StatusRetryAfter(429, "1".into()), 1).await;

    let started = Instant::now();
    app_manifest(&registry).await.unwrap();

    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_requests(&registry, "/manifests/t", 2).await;
}

#[tokio::test]
async fn rate_limit_beyond_the_retry_budget_is_rate_limited_error() {
    let limited = Fault::StatusRetryAfter(429, "3600".into());
    let registry = app_with_manifest_fault(limited, usize::MAX).await;

    let manifest = app_manifest(&registry);
    expect_error(manifest, ErrorKind::RateLimited, &["429 Too Many Requests"]).await;
    assert_requests(&registry, "/manifests/t", 1).await;
}

#[tokio::test]
async fn transient_5xx_then_success() {
    let registry = FakeRegistry::start().await;
    let layers = vec![data(2000, 19)];
    registry.push_image("r/app", Some("t"), &amd64(), &layers);
    registry.inject("/manifests/", Fault::Status(503), 2);
    registry.inject("/blobs/", Fault::Status(502), 1);

    assert_pulls(&client(), &registry.reference("r/app:t"), &layers).await;
}

// ---------------------------------------------------------------------------------------
// Integrity
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn corrupted_blob_fails_digest_check() {
    let registry = FakeRegistry::start().await;
    let descriptor = registry.push_blob(media_types::OCI_IMAGE_CONFIG, data(100, 20));
    registry.inject("/blobs/", Fault::CorruptBytes, 1);

    let error = expect_error(
        client().blob_bytes(&registry.reference("r/app"), &descriptor, 1 << 20),
        ErrorKind::Integrity,
        &[],
    )
    .await;
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn wrong_docker_content_digest_is_rejected() {
    let registry = app_with_manifest_fault(Fault::WrongDigestHeader, 1).await;

    expect_error(app_manifest(&registry), ErrorKind::Integrity, &[]).await;
}

#[tokio::test]
async fn manifest_by_digest_must_hash_to_it() {
    let registry = FakeRegistry::start().await;
    let image = registry.push_image("r/app", None, &amd64(), &[data(10, 22)]);
    let reference = registry.reference(&format!("r/app@{}", image.descriptor.digest));
    let client = client();

    let manifest = client.manifest(&reference).await.unwrap();
    assert_eq!(manifest.digest, image.descriptor.digest);
    assert_eq!(manifest.bytes, image.manifest);

    registry.inject("/manifests/", Fault::CorruptBytes, 1);
    let error = expect_error(client.manifest(&reference), ErrorKind::Integrity, &[]).await;
    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn manifest_cut_mid_body_is_retried() {
    let registry = FakeRegistry::start().await;
    let image = registry.push_image("r/app", Some("t"), &amd64(), &[data(10, 23)]);
    let cutter = CutConnection::start(image.manifest.clone(), 20).unwrap();
    registry.inject(
        "/manifests/t",
        Fault::RedirectTo(cutter.url().to_owned()),
        1,
    );

    let manifest = client()
        .manifest(&registry.reference("r/app:t"))
        .await
        .unwrap();

    assert_eq!(manifest.bytes, image.manifest);
    assert_eq!(cutter.served(), 1);
    assert_requests(&registry, "/manifests/t", 2).await;
}

#[tokio::test]
async fn manifest_shorter_than_its_digest_is_integrity_error() {
    let registry = app_with_manifest_fault(Fault::Truncate(20), 1).await;

    expect_error(app_manifest(&registry), ErrorKind::Integrity, &[]).await;
}

#[tokio::test]
async fn schema1_manifest_is_refused_with_a_clear_error() {
    let registry = FakeRegistry::start().await;
    registry.push_manifest(
        "old/app",
        Some("v1"),
        media_types::DOCKER_MANIFEST_V1_SIGNED,
        br#"{"schemaVersion":1,"name":"old/app","tag":"v1","fsLayers":[],"history":[]}"#.to_vec(),
    );

    expect_error(
        client().manifest(&registry.reference("old/app:v1")),
        ErrorKind::Invalid,
        &["schema1 images are deprecated"],
    )
    .await;
}

#[tokio::test]
async fn manifest_larger_than_4_mib_is_refused() {
    let registry = FakeRegistry::start().await;
    let padding = "x".repeat(4 * 1024 * 1024);
    let huge = format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[],"annotations":{{"pad":"{padding}"}}}}"#,
        media_types::OCI_IMAGE_INDEX
    );
    registry.push_manifest(
        "big/app",
        Some("t"),
        media_types::OCI_IMAGE_INDEX,
        huge.into_bytes(),
    );

    let error = expect_error(
        client().manifest(&registry.reference("big/app:t")),
        ErrorKind::Invalid,
        &[],
    )
    .await;
    assert!(matches!(error, RegistryError::TooLarge { .. }), "{error}");
}

// ---------------------------------------------------------------------------------------
// Platform resolution
// ---------------------------------------------------------------------------------------

async fn multi_platform() -> (FakeRegistry, Vec<imgpull_tests::fake::FakeImage>) {
    let registry = FakeRegistry::start().await;
    let mut entries = Vec::new();
    let mut images = Vec::new();
    for (i, platform) in ["linux/amd64", "linux/arm/v7", "linux/arm64/v8"]
        .iter()
        .enumerate()
    {
        let platform = Platform::parse(platform).unwrap();
        let image = registry.push_image(
            "multi/app",
            None,
            &platform,
            &[data(100 + i, u8::try_from(i).unwrap())],
        );
        entries.push(image.descriptor.clone());
        entries.push(registry.push_attestation("multi/app", &image));
        images.push(image);
    }
    registry.push_index("multi/app", Some("1"), &entries);
    (registry, images)
}

#[tokio::test]
async fn index_with_attestations_resolves_arm_v7() {
    let (registry, images) = multi_platform().await;
    let reference = registry.reference("multi/app:1");
    let client = client();

    for requested in ["linux/arm/v7", "linux/arm", "linux/armhf"] {
        let resolved = client
            .resolve(
                &reference,
                &PlatformChoice::Exact(Platform::parse(requested).unwrap()),
            )
            .await
            .unwrap();
        assert_eq!(resolved.len(), 1);
        let image = &resolved[0];
        assert_eq!(
            image.manifest.digest, images[1].descriptor.digest,
            "{requested}"
        );
        assert_eq!(
            image.platform.as_ref().unwrap().variant.as_deref(),
            Some("v7")
        );
        assert_eq!(image.config_bytes, images[1].config_bytes);
        assert_eq!(image.layers, images[1].layers);
        assert!(image.index.as_ref().unwrap().is_index());
    }
}

#[tokio::test]
async fn all_platforms_skip_attestations() {
    let (registry, images) = multi_platform().await;

    let resolved = client()
        .resolve(&registry.reference("multi/app:1"), &PlatformChoice::All)
        .await
        .unwrap();

    let digests: Vec<&Digest> = resolved.iter().map(|i| &i.manifest.digest).collect();
    let expected: Vec<&Digest> = images.iter().map(|i| &i.descriptor.digest).collect();
    assert_eq!(digests, expected);
}

#[tokio::test]
async fn no_matching_platform_lists_available_platforms() {
    let (registry, _) = multi_platform().await;

    let s390x = PlatformChoice::Exact(Platform::parse("linux/s390x").unwrap());
    let error = expect_error(
        client().resolve(&registry.reference("multi/app:1"), &s390x),
        ErrorKind::NotFound,
        &["linux/amd64, linux/arm/v7, linux/arm64"],
    )
    .await;

    assert!(!error.to_string().contains("unknown"), "{error}");
}

#[tokio::test]
async fn single_manifest_for_another_platform_is_an_error() {
    let registry = FakeRegistry::start().await;
    registry.push_image(
        "one/app",
        Some("t"),
        &Platform::parse("linux/arm64").unwrap(),
        &[data(1, 1)],
    );
    let reference = registry.reference("one/app:t");
    let client = client();

    let error = expect_error(
        client.resolve(&reference, &PlatformChoice::Exact(amd64())),
        ErrorKind::NotFound,
        &[],
    )
    .await;
    assert!(
        matches!(error, RegistryError::PlatformMismatch { .. }),
        "{error}"
    );

    let resolved = client
        .resolve(
            &reference,
            &PlatformChoice::Exact(Platform::parse("linux/arm64/v8").unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(
        resolved[0].platform,
        Some(Platform::parse("linux/arm64").unwrap())
    );
}

/// Review finding 8: a single-manifest image is matched as an index entry would be: the
/// variant (with its defaults when the config has none) and a requested os.version count.
#[tokio::test]
async fn single_manifest_of_another_variant_or_os_version_is_refused() {
    let registry = FakeRegistry::start().await;
    let arm = |text: &str| Platform::parse(text).unwrap();
    registry.push_image("v7/app", Some("t"), &arm("linux/arm/v7"), &[data(1, 1)]);
    registry.push_image(
        "bare/app",
        Some("t"),
        &Platform::new("linux", "arm"),
        &[data(2, 2)],
    );
    let client = client();

    for (repository, requested, accepted) in [
        ("v7/app", "linux/arm/v6", false),
        ("v7/app", "linux/arm/v7", true),
        ("v7/app", "linux/arm", true),
        ("v7/app", "linux/arm/v8", true),
        ("bare/app", "linux/arm/v7", true),
        ("bare/app", "linux/arm/v6", false),
    ] {
        let choice = PlatformChoice::Exact(arm(requested));
        let outcome = client
            .resolve(&registry.reference(&format!("{repository}:t")), &choice)
            .await;
        match outcome {
            Ok(images) => assert!(accepted, "{repository} for {requested}: {images:?}"),
            Err(error) => {
                assert!(!accepted, "{repository} for {requested}: {error}");
                assert!(
                    matches!(error, RegistryError::PlatformMismatch { .. }),
                    "{error}"
                );
                assert_eq!(error.kind(), ErrorKind::NotFound);
                assert!(
                    error.to_string().contains("the image is for linux/arm"),
                    "{error}"
                );
            }
        }
    }

    // A Windows image whose config states its os.version.
    let config = registry.push_blob(
        media_types::OCI_IMAGE_CONFIG,
        br#"{"os":"windows","architecture":"amd64","os.version":"10.0.17763.1","rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec(),
    );
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_IMAGE_MANIFEST,
        "config": config,
        "layers": [],
    }))
    .unwrap();
    registry.push_manifest(
        "win/app",
        Some("t"),
        media_types::OCI_IMAGE_MANIFEST,
        manifest,
    );
    let reference = registry.reference("win/app:t");
    let mut requested = Platform::parse("windows/amd64").unwrap();
    requested.os_version = Some("10.0.20348.1".to_owned());
    let error = expect_error(
        client.resolve(&reference, &PlatformChoice::Exact(requested.clone())),
        ErrorKind::NotFound,
        &["10.0.17763.1"],
    )
    .await;
    assert!(
        matches!(error, RegistryError::PlatformMismatch { .. }),
        "{error}"
    );
    requested.os_version = Some("10.0.17763.1".to_owned());
    client
        .resolve(&reference, &PlatformChoice::Exact(requested))
        .await
        .unwrap();
    client
        .resolve(
            &reference,
            &PlatformChoice::Exact(Platform::parse("windows/amd64").unwrap()),
        )
        .await
        .unwrap();
}

/// Review finding 13: every platform means every image manifest of the index; a nested index
/// and an entry of an unknown media type are skipped, not errors.
#[tokio::test]
async fn all_platforms_skip_nested_indexes_and_unknown_entries() {
    let registry = FakeRegistry::start().await;
    let top = registry.push_image("mixed/app", None, &amd64(), &[data(10, 1)]);
    let inner = registry.push_image(
        "mixed/app",
        None,
        &Platform::parse("linux/arm64").unwrap(),
        &[data(11, 2)],
    );
    let mut nested =
        registry.push_index("mixed/app", None, std::slice::from_ref(&inner.descriptor));
    nested.platform = Some(Platform::parse("linux/arm64").unwrap());
    let thing = "application/vnd.example.thing.v1+json";
    let body = format!(r#"{{"mediaType":"{thing}"}}"#).into_bytes();
    let mut unknown = registry.push_manifest("mixed/app", None, thing, body.clone());
    unknown.platform = Some(Platform::parse("linux/riscv64").unwrap());
    registry.push_index(
        "mixed/app",
        Some("1"),
        &[top.descriptor.clone(), nested, unknown.clone()],
    );
    let reference = registry.reference("mixed/app:1");
    let client = client();

    let resolved = client
        .resolve(&reference, &PlatformChoice::All)
        .await
        .unwrap();

    let digests: Vec<&Digest> = resolved.iter().map(|i| &i.manifest.digest).collect();
    assert_eq!(digests, [&top.descriptor.digest]);
    // The unknown entry is fetched as it is when the whole index is copied.
    assert!(
        client
            .manifest(&reference.with_digest(unknown.digest.clone()))
            .await
            .is_err()
    );
    assert_eq!(
        client.index_entry(&reference, &unknown).await.unwrap(),
        body
    );
    let mut oversized = unknown.clone();
    oversized.size = 5 << 20;
    let error = client
        .index_entry(&reference, &oversized)
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::TooLarge { .. }), "{error}");
}

/// Review finding 7: the OCI spec makes `size` an int64; a manifest or index stating more is
/// refused when it is read, before any sum or offset is computed from it.
#[tokio::test]
async fn sizes_beyond_int64_are_refused_when_a_manifest_is_read() {
    let registry = FakeRegistry::start().await;
    let image = registry.push_image("huge/app", None, &amd64(), &[data(10, 1)]);
    let mut layer = image.layers[0].clone();
    layer.size = 1 << 63;
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_IMAGE_MANIFEST,
        "config": image.config,
        "layers": [layer],
    }))
    .unwrap();
    registry.push_manifest(
        "huge/app",
        Some("layer"),
        media_types::OCI_IMAGE_MANIFEST,
        manifest,
    );
    let mut entry = image.descriptor.clone();
    entry.size = u64::MAX;
    registry.push_index("huge/app", Some("index"), &[entry]);
    let client = client();

    for tag in ["layer", "index"] {
        expect_error(
            client.resolve(
                &registry.reference(&format!("huge/app:{tag}")),
                &PlatformChoice::Exact(amd64()),
            ),
            ErrorKind::Invalid,
            &["above the largest the OCI spec allows", "int64"],
        )
        .await;
    }
}

// ---------------------------------------------------------------------------------------
// Mirrors and tags (foreign layers and verification fallbacks: registry_fallback.rs)
// ---------------------------------------------------------------------------------------

fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

#[tokio::test]
async fn unreachable_registry_is_a_network_error_naming_the_cause() {
    let address = closed_port_url();
    let reference = Reference::parse(&format!(
        "{}/r/app:t",
        address.trim_start_matches("http://")
    ))
    .unwrap();

    let error = expect_error(client().manifest(&reference), ErrorKind::Network, &[]).await;

    assert!(
        error.to_string().to_lowercase().contains("refused"),
        "{error}"
    );
}

#[tokio::test]
async fn mirrors_fall_through_to_upstream() {
    let upstream = FakeRegistry::start().await;
    let layers = vec![data(700, 24)];
    upstream.push_image("lib/app", Some("1"), &amd64(), &layers);
    let empty_mirror = FakeRegistry::start().await;
    let client = builder()
        .mirror(upstream.host(), closed_port_url())
        .mirror(upstream.host(), empty_mirror.uri())
        .build()
        .unwrap();

    assert_pulls(&client, &upstream.reference("lib/app:1"), &layers).await;
    assert_requests(&empty_mirror, "/manifests/1", 1).await;
    assert_requests(&upstream, "/manifests/1", 1).await;
}

#[tokio::test]
async fn mirror_with_the_content_serves_it() {
    let upstream = FakeRegistry::start().await;
    let mirror = FakeRegistry::start().await;
    let layers = vec![data(700, 25)];
    mirror.push_image("lib/app", Some("1"), &amd64(), &layers);
    let client = builder()
        .mirror(upstream.host(), mirror.uri())
        .build()
        .unwrap();

    assert_pulls(&client, &upstream.reference("lib/app:1"), &layers).await;
    assert!(upstream.requests().await.is_empty());
}

#[tokio::test]
async fn tag_list_follows_link_pagination() {
    let registry = FakeRegistry::start().await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let tag = format!("v{i}");
        registry.push_manifest(
            "paged/app",
            Some(&tag),
            media_types::OCI_IMAGE_INDEX,
            format!("{{\"n\":{i}}}").into_bytes(),
        );
        expected.push(tag);
    }
    registry.set_tag_page_size(3);

    let tags = client()
        .tags(&registry.reference("paged/app"))
        .await
        .unwrap();

    assert_eq!(tags, expected);
    assert_requests(&registry, "/tags/list", 3).await;
}

#[tokio::test]
async fn unknown_manifest_is_not_found() {
    let registry = FakeRegistry::start().await;

    let error = expect_error(
        client().manifest(&registry.reference("nope/app:t")),
        ErrorKind::NotFound,
        &[],
    )
    .await;
    assert_eq!(error.registry_errors()[0].code, "MANIFEST_UNKNOWN");
}
