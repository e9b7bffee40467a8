//! Where a blob comes from when a source fails: a mirror or a foreign layer URL whose bytes
//! fail verification is passed over for the next source (the registry last), whose own
//! failure is final; and which foreign layer URLs may be fetched at all.

#![allow(clippy::unwrap_used)]

use imgpull_auth::{Credential, Keychain};
use imgpull_blobstore::{Begin, BlobWriter, BlobstoreError, Store};
use imgpull_reference::{Descriptor, Digest, Platform, Reference, media_types};
use imgpull_registry::{
    BlobOrigin, Client, ClientBuilder, ErrorKind, OriginKind, PlatformChoice, RegistryError,
    RetryPolicy,
};
use imgpull_tests::fake::{FakeAuth, FakeCdn, FakeRegistry, Fault};

fn builder() -> ClientBuilder {
    ClientBuilder::new().retry_policy(RetryPolicy::fast())
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from((i * 17 + usize::from(seed)) % 253).unwrap())
        .collect()
}

fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

fn writer(store: &Store, descriptor: &Descriptor) -> BlobWriter {
    match store.begin(&descriptor.digest, descriptor.size).unwrap() {
        Begin::Write(writer) => writer,
        other => panic!("expected a writer, got {other:?}"),
    }
}

/// Downloads a blob into the store the way the cli does: the store verifies on commit, and
/// bytes that fail send the download to the next origin. Returns the store's verdict.
async fn fetch_into_store(
    client: &Client,
    store: &Store,
    reference: &Reference,
    descriptor: &Descriptor,
) -> Result<(), BlobstoreError> {
    let mut origins = client.blob_origins(reference, descriptor);
    let mut writer = writer(store, descriptor);
    loop {
        origins
            .download(writer.offset(), |chunk: &[u8]| writer.write(chunk))
            .await
            .expect("some origin serves the blob");
        match writer.commit() {
            Ok(()) => return Ok(()),
            Err(error) if error.is_integrity() && origins.reject() => {
                writer = self::writer(store, descriptor);
            }
            Err(error) => return Err(error),
        }
    }
}

/// Fetches a blob into `store` the way the cli does, and checks that the store holds it.
async fn assert_fetched(
    client: &Client,
    store: &Store,
    reference: &Reference,
    descriptor: &Descriptor,
) {
    fetch_into_store(client, store, reference, descriptor)
        .await
        .unwrap();
    let stored = std::fs::read(store.path(&descriptor.digest)).unwrap();
    assert_eq!(Digest::sha256(&stored), descriptor.digest);
}

async fn blob_requests(registry: &FakeRegistry, descriptor: &Descriptor) -> usize {
    registry
        .requests_to(&format!("/blobs/{}", descriptor.digest))
        .await
        .len()
}

/// An upstream registry and a mirror that both hold one image; the client knows the mirror.
async fn mirrored() -> (FakeRegistry, FakeRegistry, Client, Reference, Descriptor) {
    let upstream = FakeRegistry::start().await;
    let mirror = FakeRegistry::start().await;
    let layers = vec![data(5000, 1)];
    let image = upstream.push_image("lib/app", Some("1"), &amd64(), &layers);
    mirror.push_image("lib/app", Some("1"), &amd64(), &layers);
    let client = builder()
        .mirror(upstream.host(), mirror.uri())
        .build()
        .unwrap();
    let reference = upstream.reference("lib/app:1");
    (upstream, mirror, client, reference, image.layers[0].clone())
}

// ---------------------------------------------------------------------------------------
// Mirrors
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn corrupt_blob_from_a_mirror_is_fetched_again_from_the_registry() {
    let (upstream, mirror, client, reference, layer) = mirrored().await;
    mirror.inject(&layer.digest.to_string(), Fault::CorruptBytes, usize::MAX);
    let store = Store::temporary().unwrap();

    assert_fetched(&client, &store, &reference, &layer).await;

    assert_eq!(blob_requests(&mirror, &layer).await, 1);
    assert_eq!(blob_requests(&upstream, &layer).await, 1);
}

#[tokio::test]
async fn corrupt_blob_from_the_mirror_and_the_registry_is_an_integrity_error() {
    let (upstream, mirror, client, reference, layer) = mirrored().await;
    mirror.inject(&layer.digest.to_string(), Fault::CorruptBytes, usize::MAX);
    upstream.inject(&layer.digest.to_string(), Fault::CorruptBytes, usize::MAX);
    let store = Store::temporary().unwrap();

    let error = fetch_into_store(&client, &store, &reference, &layer)
        .await
        .unwrap_err();

    assert!(error.is_integrity(), "{error}");
    assert!(!store.contains(&layer.digest));
    assert_eq!(blob_requests(&mirror, &layer).await, 1);
    assert_eq!(blob_requests(&upstream, &layer).await, 1);
}

#[tokio::test]
async fn small_blobs_from_a_corrupt_mirror_come_from_the_registry() {
    let (upstream, mirror, client, reference, _) = mirrored().await;
    // The config travels through `blob_bytes` while resolving.
    mirror.inject("/blobs/", Fault::CorruptBytes, usize::MAX);

    let images = client
        .resolve(&reference, &PlatformChoice::Exact(amd64()))
        .await
        .unwrap();

    let config = &images[0].config;
    assert_eq!(blob_requests(&mirror, config).await, 1);
    assert_eq!(blob_requests(&upstream, config).await, 1);
}

/// A mirror answering 503 to manifest requests gets one attempt, as for blobs: the client's
/// retry policy (with its backoff) is the registry's alone.
#[tokio::test]
async fn a_mirror_answering_503_to_manifests_gets_one_attempt_before_the_registry() {
    let (upstream, mirror, client, reference, _) = mirrored().await;
    mirror.inject("/manifests/", Fault::Status(503), usize::MAX);

    let images = client
        .resolve(&reference, &PlatformChoice::Exact(amd64()))
        .await
        .unwrap();

    assert_eq!(images.len(), 1);
    assert_eq!(mirror.requests_to("/manifests/1").await.len(), 1);
    assert_eq!(upstream.requests_to("/manifests/1").await.len(), 1);
}

#[tokio::test]
async fn a_corrupt_registry_blob_behind_no_mirror_is_a_digest_mismatch() {
    let registry = FakeRegistry::start().await;
    let descriptor = registry.push_blob(media_types::OCI_IMAGE_CONFIG, data(300, 2));
    registry.inject("/blobs/", Fault::CorruptBytes, usize::MAX);

    let error = builder()
        .build()
        .unwrap()
        .blob_bytes(&registry.reference("r/app"), &descriptor, 1 << 20)
        .await
        .unwrap_err();

    assert!(
        matches!(error, RegistryError::DigestMismatch { .. }),
        "{error}"
    );
    assert_eq!(error.kind(), ErrorKind::Integrity);
    assert_eq!(blob_requests(&registry, &descriptor).await, 1);
}

#[tokio::test]
async fn a_resumed_partial_that_fails_is_fetched_again_from_byte_zero_once() {
    let registry = FakeRegistry::start().await;
    let descriptor = registry.push_blob(media_types::OCI_LAYER_TAR_GZIP, data(4000, 3));
    let store = Store::temporary().unwrap();
    {
        // A partial file left by an earlier run, from some source that served other bytes.
        let mut partial = writer(&store, &descriptor);
        partial.write(&vec![0_u8; 1000]).unwrap();
    }
    let client = builder().build().unwrap();
    let reference = registry.reference("r/app");

    assert_fetched(&client, &store, &reference, &descriptor).await;

    assert_eq!(
        blob_ranges(&registry, &descriptor).await,
        [Some("bytes=1000-".to_owned()), None]
    );
}

/// The `Range` headers of the requests for a blob, in order.
async fn blob_ranges(registry: &FakeRegistry, descriptor: &Descriptor) -> Vec<Option<String>> {
    registry
        .requests_to(&format!("/blobs/{}", descriptor.digest))
        .await
        .iter()
        .map(|r| {
            r.headers
                .get("range")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .collect()
}

/// Review finding 4: a partial whose resume the registry will not serve (a `206` for other
/// bytes, a `416`) is neither an integrity error nor final: the blob is read again from byte
/// 0 (the partial kept when it verifies, fetched again from byte 0 once when it does not).
#[tokio::test]
async fn a_partial_whose_range_is_refused_is_fetched_from_byte_zero() {
    for (fault, partial_is_good) in [
        (Fault::WrongContentRange, true),
        (Fault::RangeNotSatisfiable, true),
        (Fault::WrongContentRange, false),
        (Fault::RangeNotSatisfiable, false),
    ] {
        let registry = FakeRegistry::start().await;
        let bytes = data(4000, 5);
        let descriptor = registry.push_blob(media_types::OCI_LAYER_TAR_GZIP, bytes.clone());
        let store = Store::temporary().unwrap();
        {
            let mut partial = writer(&store, &descriptor);
            let head = if partial_is_good {
                bytes[..1000].to_vec()
            } else {
                vec![0_u8; 1000]
            };
            partial.write(&head).unwrap();
        }
        registry.inject("/blobs/", fault.clone(), usize::MAX);
        let client = builder().build().unwrap();

        assert_fetched(&client, &store, &registry.reference("r/app"), &descriptor).await;

        let ranges = blob_ranges(&registry, &descriptor).await;
        let mut expected = vec![Some("bytes=1000-".to_owned()), None];
        if !partial_is_good {
            expected.push(None);
        }
        assert_eq!(
            ranges, expected,
            "{fault:?}, good partial: {partial_is_good}"
        );
    }
}

#[tokio::test]
async fn a_mirror_that_breaks_for_good_hands_over_at_the_same_position() {
    let (upstream, mirror, client, reference, layer) = mirrored().await;
    // The mirror's answer stops after 1000 bytes, and it has lost the blob when the
    // download resumes: the registry continues from there.
    mirror.inject(&layer.digest.to_string(), Fault::Truncate(1000), 1);
    mirror.inject(&layer.digest.to_string(), Fault::Status(404), usize::MAX);
    let store = Store::temporary().unwrap();

    assert_fetched(&client, &store, &reference, &layer).await;

    let upstream_requests = upstream
        .requests_to(&format!("/blobs/{}", layer.digest))
        .await;
    assert_eq!(upstream_requests.len(), 1);
    assert_eq!(
        upstream_requests[0]
            .headers
            .get("range")
            .and_then(|v| v.to_str().ok()),
        Some("bytes=1000-")
    );
}

/// Review 3 finding 1: a mirror that fails gets one attempt per blob (not the whole retry
/// policy); the registry serves the blob at once.
#[tokio::test]
async fn a_mirror_answering_503_gets_one_attempt_before_the_registry() {
    let (upstream, mirror, client, reference, layer) = mirrored().await;
    mirror.inject("/blobs/", Fault::Status(503), usize::MAX);
    let store = Store::temporary().unwrap();

    assert_fetched(&client, &store, &reference, &layer).await;

    assert_eq!(blob_requests(&mirror, &layer).await, 1);
    assert_eq!(blob_requests(&upstream, &layer).await, 1);
}

/// `http://127.0.0.1:PORT` where nothing listens: connections are refused.
fn refusing_base() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// Review 3 finding 1: a mirror that refuses connections is passed over, and later blobs of
/// the same client do not try it again.
#[tokio::test]
async fn a_mirror_that_refuses_connections_is_skipped_from_then_on() {
    let upstream = FakeRegistry::start().await;
    let first = upstream.push_blob(media_types::OCI_LAYER_TAR_GZIP, data(2000, 9));
    let second = upstream.push_blob(media_types::OCI_LAYER_TAR_GZIP, data(2500, 10));
    let client = builder()
        .mirror(upstream.host(), refusing_base())
        .build()
        .unwrap();
    let reference = upstream.reference("lib/app");
    let kinds = |descriptor: &Descriptor| -> Vec<OriginKind> {
        let origins = client.blob_origins(&reference, descriptor);
        origins.origins().iter().map(BlobOrigin::kind).collect()
    };
    assert_eq!(kinds(&first), [OriginKind::Mirror, OriginKind::Registry]);
    let store = Store::temporary().unwrap();

    assert_fetched(&client, &store, &reference, &first).await;

    assert_eq!(kinds(&second), [OriginKind::Registry]);
    assert_fetched(&client, &store, &reference, &second).await;
    assert_eq!(blob_requests(&upstream, &first).await, 1);
    assert_eq!(blob_requests(&upstream, &second).await, 1);
}

// ---------------------------------------------------------------------------------------
// Foreign layers
// ---------------------------------------------------------------------------------------

/// Review 3 finding 1: a foreign URL whose host refuses connections is tried once; the
/// registry serves the layer, and later layers skip that host (other hosts stay in use).
#[tokio::test]
async fn a_foreign_host_that_refuses_connections_is_tried_once_per_client() {
    let first = data(2000, 11);
    let (registry, client, reference, mut one) = foreign_layer(&first).await;
    let second = data(2500, 12);
    let mut two = registry.push_blob(media_types::DOCKER_FOREIGN_LAYER_TAR_GZIP, second.clone());
    let dead = refusing_base();
    let cdn = FakeCdn::start().await;
    one.urls = vec![format!("{dead}/one")];
    two.urls = vec![format!("{dead}/two"), cdn.serve("two", second.clone())];
    let store = Store::temporary().unwrap();

    assert_fetched(&client, &store, &reference, &one).await;
    assert!(blob_requests(&registry, &one).await > 0);

    let origins = client.blob_origins(&reference, &two);
    let listed: Vec<OriginKind> = origins.origins().iter().map(BlobOrigin::kind).collect();
    assert_eq!(listed, [OriginKind::Foreign, OriginKind::Registry]);
    assert!(!origins.origins()[0].url().starts_with(&dead));
    assert_fetched(&client, &store, &reference, &two).await;
    assert_eq!(cdn.requests().await.len(), 1);
    assert_eq!(blob_requests(&registry, &two).await, 0);
}

/// A registry that wants Basic credentials, and a foreign layer whose bytes it also holds.
async fn foreign_layer(bytes: &[u8]) -> (FakeRegistry, Client, Reference, Descriptor) {
    let registry = FakeRegistry::with_auth(FakeAuth::Basic {
        username: "u".into(),
        password: "p".into(),
        realm: "r".into(),
    })
    .await;
    let descriptor = registry.push_blob(media_types::DOCKER_FOREIGN_LAYER_TAR_GZIP, bytes.to_vec());
    let client = builder()
        .keychain(Keychain::new().with_explicit(&registry.host(), Credential::basic("u", "p")))
        .build()
        .unwrap();
    let reference = registry.reference("win/app");
    (registry, client, reference, descriptor)
}

#[tokio::test]
async fn foreign_urls_come_first_and_never_get_the_registry_credentials() {
    let bytes = data(3000, 4);
    let (registry, client, reference, mut descriptor) = foreign_layer(&bytes).await;
    let cdn = FakeCdn::start().await;
    descriptor.urls = vec![cdn.serve("layer", bytes.clone())];

    let received = client
        .blob_bytes(&reference, &descriptor, 1 << 20)
        .await
        .unwrap();

    assert_eq!(received, bytes);
    let cdn_requests = cdn.requests().await;
    assert_eq!(cdn_requests.len(), 1);
    assert!(cdn_requests[0].headers.get("authorization").is_none());
    assert_eq!(blob_requests(&registry, &descriptor).await, 0);
}

#[tokio::test]
async fn corrupt_foreign_bytes_fall_back_to_the_registry_blob_endpoint() {
    let bytes = data(3000, 5);
    let (registry, client, reference, mut descriptor) = foreign_layer(&bytes).await;
    let cdn = FakeCdn::start().await;
    descriptor.urls = vec![cdn.serve("layer", data(3000, 6))];
    let store = Store::temporary().unwrap();

    assert_fetched(&client, &store, &reference, &descriptor).await;

    assert_eq!(cdn.requests().await.len(), 1);
    let registry_requests = registry
        .requests_to(&format!("/blobs/{}", descriptor.digest))
        .await;
    assert!(!registry_requests.is_empty());
    assert!(
        registry_requests
            .iter()
            .any(|r| r.headers.get("authorization").is_some()),
        "the registry's own endpoint gets its credentials"
    );
}

#[tokio::test]
async fn a_missing_foreign_blob_falls_back_to_the_registry_blob_endpoint() {
    let bytes = data(2000, 7);
    let (_registry, client, reference, mut descriptor) = foreign_layer(&bytes).await;
    let cdn = FakeCdn::start().await;
    descriptor.urls = vec![
        cdn.serve("present", Vec::new())
            .replace("/cdn/present", "/cdn/missing"),
    ];

    let received = client
        .blob_bytes(&reference, &descriptor, 1 << 20)
        .await
        .unwrap();

    assert_eq!(received, bytes);
    assert_eq!(cdn.requests().await.len(), 1, "the 404 is not retried");
}

/// The origins a client lists for a descriptor of `media_type` with `urls`, as kinds and URLs.
fn listed_origins(
    client: &Client,
    reference: &Reference,
    media_type: &str,
    urls: &[&str],
) -> Vec<(OriginKind, String)> {
    let mut descriptor = Descriptor::new(media_type, Digest::sha256(b"layer"), 5);
    descriptor.urls = urls.iter().map(|url| (*url).to_owned()).collect();
    client
        .blob_origins(reference, &descriptor)
        .origins()
        .iter()
        .map(|origin| (origin.kind(), origin.url()))
        .collect()
}

const URLS: [&str; 7] = [
    "https://go.microsoft.com/fwlink/layer",
    "http://cdn.example/layer",
    "http://insecure.example:8080/layer",
    "http://127.0.0.1:9/layer",
    "ftp://cdn.example/layer",
    "file:///etc/passwd",
    "not a url",
];

/// Review 3 finding 2: plain http only when the registry itself may be spoken to over it
/// (this machine, or named insecure), never because the URL's host is this machine or named
/// insecure.
#[test]
fn foreign_urls_use_plain_http_only_when_the_registry_itself_does() {
    let foreign = |url: &str| (OriginKind::Foreign, url.to_owned());
    let client = builder()
        .insecure_registry("insecure.example:8080")
        .insecure_registry("lan.example:5000")
        .build()
        .unwrap();
    for layer in [
        media_types::DOCKER_FOREIGN_LAYER_TAR_GZIP,
        media_types::OCI_LAYER_NONDISTRIBUTABLE_TAR,
        media_types::OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP,
        media_types::OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD,
    ] {
        let remote = Reference::parse("registry.example/win/app").unwrap();
        assert_eq!(
            listed_origins(&client, &remote, layer, &URLS),
            [
                foreign(URLS[0]),
                (OriginKind::Registry, "https://registry.example/".to_owned()),
            ],
            "{layer}"
        );
        for registry in ["127.0.0.1:5000", "lan.example:5000"] {
            let reference = Reference::parse(&format!("{registry}/win/app")).unwrap();
            assert_eq!(
                listed_origins(&client, &reference, layer, &URLS),
                [
                    foreign(URLS[0]),
                    foreign(URLS[1]),
                    foreign(URLS[2]),
                    foreign(URLS[3]),
                    (OriginKind::Registry, format!("https://{registry}/")),
                ],
                "{layer} on {registry}"
            );
        }
    }
}

/// Review 3 finding 2: the `urls` of a layer that registries must serve are never used.
#[test]
fn urls_of_a_normal_layer_are_ignored() {
    let client = builder().build().unwrap();
    let remote = Reference::parse("registry.example/lib/app").unwrap();
    for media_type in [
        media_types::OCI_LAYER_TAR_GZIP,
        media_types::DOCKER_LAYER_TAR_GZIP,
        media_types::OCI_IMAGE_CONFIG,
    ] {
        assert_eq!(
            listed_origins(&client, &remote, media_type, &URLS),
            [(OriginKind::Registry, "https://registry.example/".to_owned())],
            "{media_type}"
        );
    }
}

/// Review 3 finding 2: a normal layer whose descriptor names a server on this machine is
/// fetched from the registry; that server is never asked.
#[tokio::test]
async fn a_normal_layer_with_urls_to_this_machine_never_requests_them() {
    let registry = FakeRegistry::start().await;
    let bytes = data(3000, 8);
    let mut descriptor = registry.push_blob(media_types::OCI_LAYER_TAR_GZIP, bytes.clone());
    let local = FakeCdn::start().await;
    descriptor.urls = vec![local.serve("admin", bytes.clone())];
    let client = builder().build().unwrap();
    let store = Store::temporary().unwrap();

    assert_fetched(&client, &store, &registry.reference("lib/app"), &descriptor).await;

    assert!(local.requests().await.is_empty());
    assert_eq!(blob_requests(&registry, &descriptor).await, 1);
}

#[tokio::test]
async fn mirrors_come_after_foreign_urls_and_before_the_registry() {
    let registry = FakeRegistry::start().await;
    let mut descriptor = Descriptor::new(
        media_types::DOCKER_FOREIGN_LAYER_TAR_GZIP,
        Digest::sha256(b"layer"),
        5,
    );
    descriptor.urls = vec!["https://cdn.example/layer".to_owned()];
    let client = builder()
        .mirror(registry.host(), "https://mirror.example")
        .build()
        .unwrap();

    let origins = client.blob_origins(&registry.reference("win/app"), &descriptor);

    let kinds: Vec<OriginKind> = origins.origins().iter().map(BlobOrigin::kind).collect();
    assert_eq!(
        kinds,
        [
            OriginKind::Foreign,
            OriginKind::Mirror,
            OriginKind::Registry
        ]
    );
    assert_eq!(
        origins.origins()[1].to_string(),
        "mirror https://mirror.example/"
    );
}
