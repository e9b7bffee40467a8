//! Transport decisions checked against wiremock servers on loopback: what is retried, what
//! is sent where, and what is read.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::open_registry;
use imgpull_auth::{Credential, Keychain};
use imgpull_reference::{Descriptor, Digest, Reference, media_types};
use imgpull_registry::{Client, ClientBuilder, ErrorKind, RetryPolicy};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A registry whose `/v2/` asks for a bearer token from `realm` (plain http on loopback).
async fn bearer_registry(realm: &MockServer) -> MockServer {
    let registry = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "WWW-Authenticate",
            format!(r#"Bearer realm="{}/token",service="svc""#, realm.uri()).as_str(),
        ))
        .mount(&registry)
        .await;
    registry
}

fn host(server: &MockServer) -> String {
    server.address().to_string()
}

/// A builder with fast retries, for tests.
fn fast() -> ClientBuilder {
    ClientBuilder::new().retry_policy(RetryPolicy::fast())
}

/// `lib/app` followed by `suffix` (`:1`, `@sha256:…`) on `server`.
fn app(server: &MockServer, suffix: &str) -> Reference {
    Reference::parse(&format!("{}/lib/app{suffix}", host(server))).unwrap()
}

fn client_with_password(registry: &MockServer) -> Client {
    fast()
        .keychain(Keychain::new().with_explicit(&host(registry), Credential::basic("alice", "pw")))
        .build()
        .unwrap()
}

fn reference(registry: &MockServer) -> Reference {
    Reference::parse(&format!("{}/alice/app:1", host(registry))).unwrap()
}

async fn token_posts(realm: &MockServer) -> usize {
    realm
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .count()
}

/// The realm refuses the GET form, so the client falls back to the OAuth2 `POST`.
async fn realm_without_get() -> MockServer {
    let realm = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&realm)
        .await;
    realm
}

#[tokio::test]
async fn token_post_failing_with_500_is_not_sent_again() {
    let realm = realm_without_get().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&realm)
        .await;
    let registry = bearer_registry(&realm).await;

    let error = client_with_password(&registry)
        .manifest(&reference(&registry))
        .await
        .unwrap_err();

    assert_eq!(error.status(), Some(500), "{error}");
    assert_eq!(token_posts(&realm).await, 1);
}

#[tokio::test]
async fn token_post_refused_with_503_is_sent_again() {
    let realm = realm_without_get().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&realm)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"access_token":"tok-3f9a61"}"#),
        )
        .mount(&realm)
        .await;
    let registry = bearer_registry(&realm).await;
    Mock::given(method("GET"))
        .and(path("/v2/alice/app/manifests/1"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&registry)
        .await;

    let client = client_with_password(&registry);
    let error = client.manifest(&reference(&registry)).await.unwrap_err();

    // Neither the token nor the password shows in the client's or the error's output.
    for shown in [
        format!("{client:?}"),
        format!("{error:?}"),
        error.to_string(),
    ] {
        assert!(!shown.contains("tok-3f9a61"), "{shown}");
        assert!(!shown.contains("\"pw\""), "{shown}");
    }
    // The token was obtained on the second POST; the registry then answered the manifest.
    assert_eq!(error.status(), Some(404), "{error}");
    assert_eq!(token_posts(&realm).await, 2);
    let sent = registry.received_requests().await.unwrap();
    let manifest_request = sent
        .iter()
        .find(|r| r.url.path() == "/v2/alice/app/manifests/1")
        .unwrap();
    assert_eq!(
        manifest_request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer tok-3f9a61")
    );
}

#[tokio::test]
async fn failing_token_realm_is_retried_by_the_token_request_alone() {
    let realm = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&realm)
        .await;
    let registry = bearer_registry(&realm).await;
    let attempts = 3;
    let client = ClientBuilder::new()
        .retry_policy(RetryPolicy::fast().with_max_attempts(attempts))
        .build()
        .unwrap();

    let error = client.manifest(&reference(&registry)).await.unwrap_err();

    assert_eq!(error.status(), Some(503), "{error}");
    // Not attempts × attempts: the manifest request does not retry a failed token request.
    let token_requests = realm.received_requests().await.unwrap().len();
    assert_eq!(token_requests, attempts as usize);
}

/// A registry that answers `/v2/` and serves one blob, but cuts every blob body after
/// `per_connection` bytes (closing the connection). Returns its address and the count of
/// blob requests it received.
fn cutting_registry(
    blob: Vec<u8>,
    per_connection: usize,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let blob_requests = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&blob_requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (blob, counter) = (blob.clone(), Arc::clone(&counter));
            std::thread::spawn(move || serve_cutting(stream, &blob, per_connection, &counter));
        }
    });
    (address, blob_requests)
}

fn serve_cutting(stream: TcpStream, blob: &[u8], per_connection: usize, counter: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut start = 0;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                start = value.trim().trim_end_matches('-').parse().unwrap();
            }
        }
        if request_line.starts_with("GET /v2/ ") {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            continue;
        }
        counter.fetch_add(1, Ordering::SeqCst);
        let head = if start == 0 {
            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", blob.len())
        } else {
            format!(
                "HTTP/1.1 206 Partial Content\r\ncontent-range: bytes {start}-{}/{}\r\ncontent-length: {}\r\n\r\n",
                blob.len() - 1,
                blob.len(),
                blob.len() - start
            )
        };
        let end = blob.len().min(start + per_connection);
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&blob[start..end]);
        let _ = stream.flush();
        return;
    }
}

async fn download_from(
    address: std::net::SocketAddr,
    blob: &[u8],
    policy: RetryPolicy,
) -> Result<Vec<u8>, imgpull_registry::RegistryError> {
    let client = ClientBuilder::new().retry_policy(policy).build().unwrap();
    let reference = Reference::parse(&format!("{address}/r/blob:1")).unwrap();
    let descriptor = Descriptor::new(
        media_types::OCI_LAYER_TAR_GZIP,
        Digest::sha256(blob),
        blob.len() as u64,
    );
    let mut received = Vec::new();
    client
        .download(&reference, &descriptor, 0, |chunk: &[u8]| {
            received.extend_from_slice(chunk);
            Ok::<(), std::io::Error>(())
        })
        .await?;
    Ok(received)
}

#[tokio::test]
async fn a_body_cut_every_few_bytes_does_not_renew_the_retry_budget() {
    let blob: Vec<u8> = (0..100_u8).collect();
    let (address, blob_requests) = cutting_registry(blob.clone(), 10);

    let error = download_from(address, &blob, RetryPolicy::fast())
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
    assert_eq!(blob_requests.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_body_cut_after_each_mebibyte_completes_on_a_small_budget() {
    let blob: Vec<u8> = (0..3 * 1024 * 1024_u32)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    let (address, blob_requests) = cutting_registry(blob.clone(), 1024 * 1024);

    let received = download_from(address, &blob, RetryPolicy::fast().with_max_attempts(2))
        .await
        .unwrap();

    assert!(received == blob);
    assert_eq!(blob_requests.load(Ordering::SeqCst), 3);
}

fn manifest_body(marker: &str) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","digest":"{}","size":2}},"layers":[],"annotations":{{"m":"{marker}"}}}}"#,
        media_types::OCI_IMAGE_MANIFEST,
        media_types::OCI_IMAGE_CONFIG,
        Digest::sha256(b"{}"),
    )
    .into_bytes()
}

async fn serve_manifest(server: &MockServer, at: &str, body: Vec<u8>, digest_header: Option<&str>) {
    let mut response = ResponseTemplate::new(200)
        .insert_header("content-type", media_types::OCI_IMAGE_MANIFEST)
        .set_body_bytes(body);
    if let Some(digest) = digest_header {
        response = response.insert_header("docker-content-digest", digest);
    }
    Mock::given(method("GET"))
        .and(path(format!("/v2/lib/app/manifests/{at}")))
        .respond_with(response)
        .mount(server)
        .await;
}

#[tokio::test]
async fn a_mirror_serving_other_bytes_for_a_digest_is_passed_over() {
    let upstream = open_registry().await;
    let mirror = open_registry().await;
    let genuine = manifest_body("genuine");
    let digest = Digest::sha256(&genuine);
    serve_manifest(&upstream, &digest.to_string(), genuine.clone(), None).await;
    // The mirror even claims the right digest in its header.
    let digest_text = digest.to_string();
    serve_manifest(
        &mirror,
        &digest_text,
        manifest_body("forged"),
        Some(&digest_text),
    )
    .await;
    let client = fast()
        .mirror(host(&upstream), mirror.uri())
        .build()
        .unwrap();
    let reference = app(&upstream, &format!("@{digest}"));

    let manifest = client.manifest(&reference).await.unwrap();

    assert!(manifest.bytes == genuine);
    assert_eq!(manifest.digest, digest);
    assert_eq!(
        mirror.received_requests().await.unwrap().len(),
        2,
        "ping and manifest"
    );
}

#[tokio::test]
async fn a_mirror_tag_whose_body_contradicts_its_digest_header_is_passed_over() {
    let upstream = open_registry().await;
    let mirror = open_registry().await;
    let genuine = manifest_body("genuine");
    let genuine_digest = Digest::sha256(&genuine).to_string();
    serve_manifest(&upstream, "1", genuine.clone(), Some(&genuine_digest)).await;
    serve_manifest(&mirror, "1", manifest_body("forged"), Some(&genuine_digest)).await;
    let client = fast()
        .mirror(host(&upstream), mirror.uri())
        .build()
        .unwrap();
    let reference = app(&upstream, ":1");

    let manifest = client.manifest(&reference).await.unwrap();

    assert!(manifest.bytes == genuine);
}

#[tokio::test]
async fn a_redirect_loop_ends_after_ten_redirects_without_retries() {
    let registry = open_registry().await;
    let digest = Digest::sha256(b"blob");
    let blob_path = format!("/v2/lib/app/blobs/{digest}");
    Mock::given(method("GET"))
        .and(path(blob_path.as_str()))
        .respond_with(ResponseTemplate::new(307).insert_header("location", blob_path.as_str()))
        .mount(&registry)
        .await;
    let client = fast().build().unwrap();
    let reference = app(&registry, ":1");
    let descriptor = Descriptor::new(media_types::OCI_LAYER_TAR_GZIP, digest, 4);

    let error = client.blob(&reference, &descriptor, 0).await.unwrap_err();

    assert!(
        error.to_string().contains("more than 10 redirects"),
        "{error}"
    );
    assert_eq!(common::requests_at(&registry, &blob_path).await.len(), 11);
}

#[tokio::test]
async fn an_answer_slower_than_the_total_time_ends_the_request() {
    let registry = open_registry().await;
    Mock::given(method("GET"))
        .and(path("/v2/lib/app/manifests/1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_bytes(manifest_body("slow"))
                .set_delay(std::time::Duration::from_secs(30)),
        )
        .mount(&registry)
        .await;
    let client = ClientBuilder::new()
        .retry_policy(RetryPolicy::fast().with_max_elapsed(std::time::Duration::from_millis(300)))
        .build()
        .unwrap();
    let reference = app(&registry, ":1");

    let error = client.manifest(&reference).await.unwrap_err();

    assert!(
        matches!(error, imgpull_registry::RegistryError::TimedOut { .. }),
        "{error}"
    );
    assert_eq!(error.kind(), ErrorKind::Network);
}

#[tokio::test]
async fn tag_pages_linking_in_a_circle_are_each_read_once() {
    let registry = open_registry().await;
    for (page, next) in [("a", "b"), ("b", "a")] {
        Mock::given(method("GET"))
            .and(path(format!("/v2/lib/app/tags/list{page}")))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header(
                        "link",
                        format!(r#"</v2/lib/app/tags/list{next}>; rel="next""#).as_str(),
                    )
                    .set_body_string(format!(r#"{{"name":"lib/app","tags":["{page}"]}}"#)),
            )
            .mount(&registry)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/v2/lib/app/tags/list"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("link", r#"</v2/lib/app/tags/lista>; rel="next""#)
                .set_body_string(r#"{"name":"lib/app","tags":["first"]}"#),
        )
        .mount(&registry)
        .await;

    let tags = fast()
        .build()
        .unwrap()
        .tags(&app(&registry, ":1"))
        .await
        .unwrap();

    assert_eq!(tags, ["first", "a", "b"]);
    assert_eq!(
        registry.received_requests().await.unwrap().len(),
        4,
        "ping and three pages"
    );
}

/// The `authorization` header of the requests `server` received at `at`.
async fn authorizations_at(server: &MockServer, at: &str) -> Vec<Option<String>> {
    common::requests_at(server, at)
        .await
        .iter()
        .map(|r| {
            r.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .collect()
}

/// Mounts a token endpoint at `at` that issues `token` to anyone.
async fn issue_token(server: &MockServer, at: &str, token: &str) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(format!(r#"{{"token":"{token}"}}"#)),
        )
        .mount(server)
        .await;
}

/// Mounts a redirect from the realm's `/token` to `location`.
async fn redirect_token(realm: &MockServer, http_method: &str, status: u16, location: &str) {
    Mock::given(method(http_method))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(status).insert_header("location", location))
        .mount(realm)
        .await;
}

/// Asks the registry for a manifest with a password, through a realm whose `/token`
/// redirects to `/issue` on `issuer` (the realm itself or another server), which issues
/// `token`. Returns the `authorization` headers received by the realm's `/token`, the
/// issuer's `/issue` and the registry's manifest URL.
async fn token_through_redirect(
    realm: &MockServer,
    issuer: &MockServer,
    token: &str,
) -> [Vec<Option<String>>; 3] {
    let location = if issuer.uri() == realm.uri() {
        "/issue".to_owned()
    } else {
        format!("{}/issue", issuer.uri())
    };
    redirect_token(realm, "GET", 307, &location).await;
    issue_token(issuer, "/issue", token).await;
    let registry = bearer_registry(realm).await;

    let error = client_with_password(&registry)
        .manifest(&reference(&registry))
        .await
        .unwrap_err();

    // The registry has no such manifest; what matters is how it was asked.
    assert_eq!(error.status(), Some(404), "{error}");
    [
        authorizations_at(realm, "/token").await,
        authorizations_at(issuer, "/issue").await,
        authorizations_at(&registry, "/v2/alice/app/manifests/1").await,
    ]
}

/// `alice:pw` as a Basic `Authorization` header.
const ALICE_BASIC: &str = "Basic YWxpY2U6cHc=";

#[tokio::test]
async fn a_token_realm_redirect_on_its_own_origin_keeps_the_credentials() {
    let realm = MockServer::start().await;

    let [to_realm, to_issuer, to_registry] =
        token_through_redirect(&realm, &realm, "tok-same").await;

    assert_eq!(to_realm, [Some(ALICE_BASIC.to_owned())]);
    assert_eq!(to_issuer, [Some(ALICE_BASIC.to_owned())]);
    assert_eq!(to_registry, [Some("Bearer tok-same".to_owned())]);
}

#[tokio::test]
async fn a_token_realm_redirect_to_another_host_gets_no_credentials() {
    let realm = MockServer::start().await;
    let elsewhere = MockServer::start().await;

    let [to_realm, to_issuer, to_registry] =
        token_through_redirect(&realm, &elsewhere, "tok-elsewhere").await;

    assert_eq!(to_realm, [Some(ALICE_BASIC.to_owned())]);
    assert_eq!(to_issuer, [None]);
    assert_eq!(to_registry, [Some("Bearer tok-elsewhere".to_owned())]);
}

#[tokio::test]
async fn a_token_form_is_never_sent_on_to_another_origin() {
    let realm = realm_without_get().await;
    let elsewhere = MockServer::start().await;
    redirect_token(&realm, "POST", 307, &format!("{}/issue", elsewhere.uri())).await;
    let registry = bearer_registry(&realm).await;

    let error = client_with_password(&registry)
        .manifest(&reference(&registry))
        .await
        .unwrap_err();

    assert!(error.to_string().contains("another origin"), "{error}");
    assert_eq!(token_posts(&realm).await, 1);
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn token_realm_redirects_are_bounded() {
    let realm = MockServer::start().await;
    redirect_token(&realm, "GET", 302, "/token").await;
    let registry = bearer_registry(&realm).await;

    let error = fast()
        .build()
        .unwrap()
        .manifest(&reference(&registry))
        .await
        .unwrap_err();

    assert!(
        error.to_string().contains("more than 10 redirects"),
        "{error}"
    );
    assert_eq!(realm.received_requests().await.unwrap().len(), 11);
}
