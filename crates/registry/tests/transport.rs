//! Transport decisions checked against wiremock servers on loopback: what is retried, what
//! is sent where, and what is read.

#![allow(clippy::unwrap_used)]

use imgpull_auth::{Credential, Keychain};
use imgpull_reference::Reference;
use imgpull_registry::{Client, ClientBuilder, RetryPolicy};
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

fn client_with_password(registry: &MockServer) -> Client {
    ClientBuilder::new()
        .retry_policy(RetryPolicy::fast())
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
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"access_token":"t"}"#))
        .mount(&realm)
        .await;
    let registry = bearer_registry(&realm).await;
    Mock::given(method("GET"))
        .and(path("/v2/alice/app/manifests/1"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&registry)
        .await;

    let error = client_with_password(&registry)
        .manifest(&reference(&registry))
        .await
        .unwrap_err();

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
        Some("Bearer t")
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
