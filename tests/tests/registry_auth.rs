//! `imgpull-registry`'s handling of credentials against the wiremock fake registry: a
//! redirect target's 401 or 403 never steers them (review finding 1), and a credential
//! helper runs once per host however many requests need it (finding 11).

#![allow(clippy::unwrap_used)]

use imgpull_auth::{Credential, Keychain};
use imgpull_reference::{Descriptor, Platform, Reference};
use imgpull_registry::{Client, ClientBuilder, ErrorKind, RegistryError, RetryPolicy};
use imgpull_tests::fake::{FakeImage, FakeRegistry, FakeTokenRealm, Fault, RealmConfig};
use wiremock::matchers::{header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

async fn download(
    client: &Client,
    reference: &Reference,
    descriptor: &Descriptor,
) -> Result<Vec<u8>, RegistryError> {
    let mut received = Vec::new();
    client
        .download(reference, descriptor, 0, |chunk: &[u8]| {
            received.extend_from_slice(chunk);
            Ok::<(), std::io::Error>(())
        })
        .await?;
    Ok(received)
}

/// A registry behind a bearer realm that knows `u`/`p`, holding `org/app:1` with one layer,
/// and a client with those credentials.
async fn private_registry() -> (FakeTokenRealm, FakeRegistry, FakeImage, Vec<u8>, Client) {
    let realm = FakeTokenRealm::start(RealmConfig::new("svc").user("u", "p")).await;
    let registry = FakeRegistry::with_auth(realm.auth(true)).await;
    let layer = vec![3; 5_000];
    let image = registry.push_image("org/app", Some("1"), &amd64(), std::slice::from_ref(&layer));
    let client = ClientBuilder::new()
        .retry_policy(RetryPolicy::fast())
        .keychain(Keychain::new().with_explicit(&registry.host(), Credential::basic("u", "p")))
        .build()
        .unwrap();
    (realm, registry, image, layer, client)
}

/// A CDN whose `/cdn/layer` first answers `refusals` times with `status` and a bearer
/// challenge naming its own token endpoint (which would hand out a token to anyone), then
/// serves `bytes`.
async fn hostile_cdn(status: u16, refusals: u64, bytes: Vec<u8>) -> MockServer {
    let cdn = MockServer::start().await;
    let challenge = format!(r#"Bearer realm="{}/token",service="cdn""#, cdn.uri());
    Mock::given(method("GET"))
        .and(path("/cdn/layer"))
        .respond_with(ResponseTemplate::new(status).insert_header("www-authenticate", challenge))
        .up_to_n_times(refusals)
        .mount(&cdn)
        .await;
    Mock::given(method("GET"))
        .and(path("/cdn/layer"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes))
        .mount(&cdn)
        .await;
    Mock::given(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"token":"cdn-token"}"#))
        .mount(&cdn)
        .await;
    cdn
}

/// Asserts that nothing sent to the CDN carried a credential and that its token endpoint
/// was never asked.
async fn assert_cdn_got_no_credentials(cdn: &MockServer) {
    let requests = cdn.received_requests().await.unwrap();
    assert!(
        requests.iter().all(|r| r.url.path() != "/token"),
        "the registry's credentials were sent to the CDN's realm"
    );
    assert!(
        requests
            .iter()
            .all(|r| !r.headers.contains_key("authorization")),
        "an Authorization header reached the CDN"
    );
}

#[tokio::test]
async fn a_cdn_401_never_redrives_auth_and_a_fresh_request_gets_the_blob() {
    let (realm, registry, image, layer, client) = private_registry().await;
    let cdn = hostile_cdn(401, 1, layer.clone()).await;
    let digest = image.layers[0].digest.to_string();
    registry.inject(
        &digest,
        Fault::RedirectTo(format!("{}/cdn/layer?sig=1", cdn.uri())),
        2,
    );
    let reference = registry.reference("org/app:1");

    let received = download(&client, &reference, &image.layers[0])
        .await
        .unwrap();

    assert_eq!(received, layer);
    assert_cdn_got_no_credentials(&cdn).await;
    assert_eq!(registry.requests_to(&digest).await.len(), 2, "asked again");
    // The registry's challenge still stands: the next request uses the cached token.
    client.manifest(&reference).await.unwrap();
    assert_eq!(
        realm.requests().await.len(),
        1,
        "one token, from the registry's realm"
    );
}

#[tokio::test]
async fn a_cdn_that_keeps_refusing_is_a_network_error_naming_it_after_bounded_retries() {
    let (realm, registry, image, _, client) = private_registry().await;
    let cdn = hostile_cdn(403, u64::MAX, Vec::new()).await;
    let digest = image.layers[0].digest.to_string();
    registry.inject(
        &digest,
        Fault::RedirectTo(format!("{}/cdn/layer?sig=1", cdn.uri())),
        usize::MAX,
    );
    let reference = registry.reference("org/app:1");

    let error = download(&client, &reference, &image.layers[0])
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
    let message = error.to_string();
    let cdn_host = cdn.address().to_string();
    assert!(
        message.contains(&format!("403 from {cdn_host}, where {}", registry.host())),
        "{message}"
    );
    assert!(!message.contains("--username"), "{message}");
    let attempts = RetryPolicy::fast().max_attempts() as usize;
    assert_eq!(cdn.received_requests().await.unwrap().len(), attempts);
    assert_eq!(registry.requests_to(&digest).await.len(), attempts);
    assert_cdn_got_no_credentials(&cdn).await;
    assert_eq!(realm.requests().await.len(), 1, "no re-authentication");
}

#[tokio::test]
async fn a_login_check_refused_by_a_redirect_target_does_not_blame_the_credentials() {
    let cdn = hostile_cdn(401, u64::MAX, Vec::new()).await;
    // `/v2/` asks for credentials, and sends a request that carries them to the CDN.
    let registry = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .and(header_exists("authorization"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/cdn/layer?sig=1", cdn.uri())),
        )
        .mount(&registry)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(
            ResponseTemplate::new(401).insert_header("www-authenticate", r#"Basic realm="r""#),
        )
        .mount(&registry)
        .await;
    let host = registry.address().to_string();
    let client = ClientBuilder::new()
        .retry_policy(RetryPolicy::fast())
        .keychain(Keychain::new().with_explicit(&host, Credential::basic("u", "p")))
        .build()
        .unwrap();

    let error = client.check_credentials(&host).await.unwrap_err();

    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
    let message = error.to_string();
    let cdn_host = cdn.address().to_string();
    assert!(
        message.contains(&format!("401 from {cdn_host}, where {host}")),
        "{message}"
    );
    assert!(!message.contains("rejected the credentials"), "{message}");
    assert_cdn_got_no_credentials(&cdn).await;
}

#[cfg(unix)]
mod helper {
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    use imgpull_tests::fake::FakeAuth;

    use super::*;

    /// `docker-credential-counting`: appends a line to `calls` next to itself, takes a while
    /// (as a keychain prompt does), and returns `u`/`p` for any server.
    const COUNTING_HELPER: &str = r#"#!/bin/sh
echo "$1" >> "$(dirname "$0")/calls"
IFS= read -r server || true
sleep 0.3
printf '{"ServerURL":"%s","Username":"u","Secret":"p"}' "$server"
"#;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_run_the_credential_helper_once_per_host() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("docker-credential-counting");
        fs::write(&program, COUNTING_HELPER).unwrap();
        fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.path().join("config.json");
        fs::write(&config, r#"{"credsStore":"counting"}"#).unwrap();

        let registry = FakeRegistry::with_auth(FakeAuth::Basic {
            username: "u".into(),
            password: "p".into(),
            realm: "fake".into(),
        })
        .await;
        let layers: Vec<Vec<u8>> = (0..6_u8).map(|i| vec![i; 3_000]).collect();
        let image = registry.push_image("org/app", Some("1"), &amd64(), &layers);
        let keychain = Keychain::new()
            .with_docker_config(&config)
            .with_helper_search_path(dir.path());
        let client = ClientBuilder::new()
            .retry_policy(RetryPolicy::fast())
            .keychain(keychain)
            .build()
            .unwrap();
        let reference = registry.reference("org/app:1");

        let downloads = image.layers.iter().map(|layer| {
            let (client, reference, layer) = (client.clone(), reference.clone(), layer.clone());
            tokio::spawn(async move { download(&client, &reference, &layer).await })
        });
        let mut pulled = Vec::new();
        for handle in downloads.collect::<Vec<_>>() {
            pulled.push(handle.await.unwrap().unwrap());
        }

        assert_eq!(pulled, layers);
        let calls = fs::read_to_string(dir.path().join("calls")).unwrap();
        assert_eq!(
            calls,
            "get\n",
            "the helper ran {} times",
            calls.lines().count()
        );
    }
}

/// A registry that demands Basic `u`/`p`.
async fn basic_registry() -> FakeRegistry {
    FakeRegistry::with_auth(imgpull_tests::fake::FakeAuth::Basic {
        username: "u".into(),
        password: "p".into(),
        realm: "fake".into(),
    })
    .await
}

#[tokio::test]
async fn environment_credentials_go_to_their_registry_only_never_to_a_mirror_or_another() {
    let registry = basic_registry().await;
    let mirror = basic_registry().await;
    let other = basic_registry().await;
    let layer = vec![5; 2_000];
    for fake in [&registry, &mirror, &other] {
        fake.push_image("org/app", Some("1"), &amd64(), std::slice::from_ref(&layer));
    }
    let env = |name: &str| match name {
        imgpull_auth::USERNAME_ENV => Some("u".to_owned()),
        imgpull_auth::PASSWORD_ENV => Some("p".to_owned()),
        _ => None,
    };
    let keychain = Keychain::new()
        .with_env(env)
        .with_environment_registry(&registry.host());
    let client = ClientBuilder::new()
        .retry_policy(RetryPolicy::fast())
        .keychain(keychain)
        .mirror(registry.host(), mirror.uri())
        .build()
        .unwrap();

    // The mirror refuses the anonymous request; the registry gets the credential.
    client
        .manifest(&registry.reference("org/app:1"))
        .await
        .unwrap();
    // Another registry on the same command gets none either.
    let refused = client
        .manifest(&other.reference("org/app:1"))
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(401), "{refused}");

    let authorized = |requests: Vec<wiremock::Request>| {
        requests
            .iter()
            .filter(|r| r.headers.contains_key("authorization"))
            .count()
    };
    assert!(authorized(registry.requests().await) > 0);
    assert!(!mirror.requests().await.is_empty(), "the mirror was tried");
    assert_eq!(authorized(mirror.requests().await), 0, "the mirror got it");
    assert_eq!(
        authorized(other.requests().await),
        0,
        "another registry got it"
    );
}
