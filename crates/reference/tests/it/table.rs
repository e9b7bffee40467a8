//! The reference grammar table: valid and invalid inputs from the distribution reference grammar
//! tests and docker's normalisation behaviour.

use imgpull_reference::{Reference, ReferenceError};

const SHA256: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const SHA512: &str = concat!(
    "sha512:",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
);

/// Which error a rejected input must produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Empty,
    ImageId,
    Registry,
    Uppercase,
    Repository,
    TooLong,
    Tag,
    Digest,
}

fn kind(err: &ReferenceError) -> Kind {
    match err {
        ReferenceError::EmptyReference => Kind::Empty,
        ReferenceError::ImageId { .. } => Kind::ImageId,
        ReferenceError::InvalidRegistry { .. } => Kind::Registry,
        ReferenceError::UppercaseRepository { .. } => Kind::Uppercase,
        ReferenceError::InvalidRepository { .. } => Kind::Repository,
        ReferenceError::NameTooLong { .. } => Kind::TooLong,
        ReferenceError::InvalidTag { .. } => Kind::Tag,
        ReferenceError::InvalidReferenceDigest { .. } => Kind::Digest,
        other => panic!("unexpected error variant for a reference: {other:?}"),
    }
}

/// `{sha256}` and `{sha512}` in a table string stand for valid digests.
fn expand(s: &str) -> String {
    s.replace("{sha256}", SHA256).replace("{sha512}", SHA512)
}

/// (input, registry, repository, tag, digest)
type ValidCase = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
);

const VALID: &[ValidCase] = &[
    // Docker Hub normalisation.
    ("nginx", "docker.io", "library/nginx", None, None),
    (
        "nginx:1.25",
        "docker.io",
        "library/nginx",
        Some("1.25"),
        None,
    ),
    (
        "nginx:latest",
        "docker.io",
        "library/nginx",
        Some("latest"),
        None,
    ),
    ("library/nginx", "docker.io", "library/nginx", None, None),
    ("docker.io/nginx", "docker.io", "library/nginx", None, None),
    (
        "docker.io/library/nginx",
        "docker.io",
        "library/nginx",
        None,
        None,
    ),
    (
        "index.docker.io/nginx",
        "docker.io",
        "library/nginx",
        None,
        None,
    ),
    (
        "registry-1.docker.io/library/nginx:1",
        "docker.io",
        "library/nginx",
        Some("1"),
        None,
    ),
    (
        "registry-1.docker.io/alpine:3.20",
        "docker.io",
        "library/alpine",
        Some("3.20"),
        None,
    ),
    (
        "index.docker.io/docker/docker",
        "docker.io",
        "docker/docker",
        None,
        None,
    ),
    (
        "index.docker.io/library/debian",
        "docker.io",
        "library/debian",
        None,
        None,
    ),
    ("docker/docker", "docker.io", "docker/docker", None, None),
    ("library/debian", "docker.io", "library/debian", None, None),
    ("debian", "docker.io", "library/debian", None, None),
    (
        "docker.io/docker/docker",
        "docker.io",
        "docker/docker",
        None,
        None,
    ),
    (
        "library/foo/bar",
        "docker.io",
        "library/foo/bar",
        None,
        None,
    ),
    ("store/foo/bar", "docker.io", "store/foo/bar", None, None),
    ("other/library", "docker.io", "other/library", None, None),
    (
        "ubuntu-12.04-base",
        "docker.io",
        "library/ubuntu-12.04-base",
        None,
        None,
    ),
    ("a", "docker.io", "library/a", None, None),
    ("test_com", "docker.io", "library/test_com", None, None),
    (
        "test.com:tag",
        "docker.io",
        "library/test.com",
        Some("tag"),
        None,
    ),
    (
        "test.com:5000",
        "docker.io",
        "library/test.com",
        Some("5000"),
        None,
    ),
    (
        "foo_bar.com:8080",
        "docker.io",
        "library/foo_bar.com",
        Some("8080"),
        None,
    ),
    (
        "foo/foo_bar.com:8080",
        "docker.io",
        "foo/foo_bar.com",
        Some("8080"),
        None,
    ),
    (
        "192.168.0.1",
        "docker.io",
        "library/192.168.0.1",
        None,
        None,
    ),
    (
        "192.168.0.1:80",
        "docker.io",
        "library/192.168.0.1",
        Some("80"),
        None,
    ),
    ("localhost", "docker.io", "library/localhost", None, None),
    (
        "localhost:5000",
        "docker.io",
        "library/localhost",
        Some("5000"),
        None,
    ),
    (
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        "docker.io",
        "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
        None,
        None,
    ),
    (
        "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        "docker.io",
        "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        None,
        None,
    ),
    (
        "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
        "docker.io",
        "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9",
        None,
        None,
    ),
    // Path component separators.
    (
        "docker-rules/docker",
        "docker.io",
        "docker-rules/docker",
        None,
        None,
    ),
    (
        "docker---rules/docker",
        "docker.io",
        "docker---rules/docker",
        None,
        None,
    ),
    ("doc/docker", "docker.io", "doc/docker", None, None),
    ("d/docker", "docker.io", "d/docker", None, None),
    ("jess/t", "docker.io", "jess/t", None, None),
    (
        "dock__er/docker",
        "docker.io",
        "dock__er/docker",
        None,
        None,
    ),
    (
        "x/a.b_c__d-e---f/g",
        "docker.io",
        "x/a.b_c__d-e---f/g",
        None,
        None,
    ),
    // Registries: a first component with `.`, `:` or uppercase, or `localhost`.
    ("Docker/docker", "Docker", "docker", None, None),
    ("DOCKER/docker", "DOCKER", "docker", None, None),
    (
        "REGISTRY.EXAMPLE.COM/x",
        "REGISTRY.EXAMPLE.COM",
        "x",
        None,
        None,
    ),
    ("localhost/foo", "localhost", "foo", None, None),
    (
        "localhost:5000/foo/bar:1",
        "localhost:5000",
        "foo/bar",
        Some("1"),
        None,
    ),
    (
        "127.0.0.1:5000/docker/docker",
        "127.0.0.1:5000",
        "docker/docker",
        None,
        None,
    ),
    (
        "127.0.0.1:5000/library/debian",
        "127.0.0.1:5000",
        "library/debian",
        None,
        None,
    ),
    (
        "127.0.0.1:5000/debian",
        "127.0.0.1:5000",
        "debian",
        None,
        None,
    ),
    (
        "192.168.0.1:8/debian",
        "192.168.0.1:8",
        "debian",
        None,
        None,
    ),
    (
        "192.168.0.2:25000/debian",
        "192.168.0.2:25000",
        "debian",
        None,
        None,
    ),
    ("192.168.1.1/repo", "192.168.1.1", "repo", None, None),
    (
        "192.168.1.1:5000/repo:5050",
        "192.168.1.1:5000",
        "repo",
        Some("5050"),
        None,
    ),
    ("test.com/repo:tag", "test.com", "repo", Some("tag"), None),
    ("test:5000/repo", "test:5000", "repo", None, None),
    ("test:5000/repo:tag", "test:5000", "repo", Some("tag"), None),
    (
        "test:5000/repo@{sha256}",
        "test:5000",
        "repo",
        None,
        Some(SHA256),
    ),
    (
        "test:5000/repo:tag@{sha256}",
        "test:5000",
        "repo",
        Some("tag"),
        Some(SHA256),
    ),
    ("test-com:8080/foo", "test-com:8080", "foo", None, None),
    (
        "foo-bar.example.com:443/x",
        "foo-bar.example.com:443",
        "x",
        None,
        None,
    ),
    (
        "sub-dom1.foo.com/bar/baz/quux",
        "sub-dom1.foo.com",
        "bar/baz/quux",
        None,
        None,
    ),
    (
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com",
        "bar/baz/quux",
        Some("some-long-tag"),
        None,
    ),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io",
        "test.example.com/my-app",
        Some("test.example.com"),
        None,
    ),
    (
        "xn--n3h.com/myimage:xn--n3h.com",
        "xn--n3h.com",
        "myimage",
        Some("xn--n3h.com"),
        None,
    ),
    (
        "xn--n3h.com:18080/foo",
        "xn--n3h.com:18080",
        "foo",
        None,
        None,
    ),
    (
        "xn--7o8h.com/myimage:xn--7o8h.com@{sha512}",
        "xn--7o8h.com",
        "myimage",
        Some("xn--7o8h.com"),
        Some(SHA512),
    ),
    (
        "quay.io/podman/stable:v5",
        "quay.io",
        "podman/stable",
        Some("v5"),
        None,
    ),
    (
        "ghcr.io/owner/repo/sub/path:1.0.0-rc.1",
        "ghcr.io",
        "owner/repo/sub/path",
        Some("1.0.0-rc.1"),
        None,
    ),
    (
        "gcr.io/distroless/static-debian12:nonroot",
        "gcr.io",
        "distroless/static-debian12",
        Some("nonroot"),
        None,
    ),
    // IPv6 registries.
    (
        "[fc00::1]:5000/docker",
        "[fc00::1]:5000",
        "docker",
        None,
        None,
    ),
    (
        "[fc00::1]:5000/docker/docker",
        "[fc00::1]:5000",
        "docker/docker",
        None,
        None,
    ),
    (
        "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
        "[fc00:1:2:3:4:5:6:7]:5000",
        "library/debian",
        None,
        None,
    ),
    ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None),
    (
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        "[2001:db8:1:2:3:4:5:6]",
        "repo",
        Some("tag"),
        None,
    ),
    (
        "[2001:db8::1]:5000/repo:tag@{sha256}",
        "[2001:db8::1]:5000",
        "repo",
        Some("tag"),
        Some(SHA256),
    ),
    (
        "[2001:db8::]:5000/repo",
        "[2001:db8::]:5000",
        "repo",
        None,
        None,
    ),
    ("[::1]:5000/repo", "[::1]:5000", "repo", None, None),
    // Tags and digests, kept together.
    (
        "lowercase:Uppercase",
        "docker.io",
        "library/lowercase",
        Some("Uppercase"),
        None,
    ),
    (
        "nginx:_tag",
        "docker.io",
        "library/nginx",
        Some("_tag"),
        None,
    ),
    (
        "nginx:T.1_-",
        "docker.io",
        "library/nginx",
        Some("T.1_-"),
        None,
    ),
    (
        "busybox:latest@{sha256}",
        "docker.io",
        "library/busybox",
        Some("latest"),
        Some(SHA256),
    ),
    (
        "redis@{sha256}",
        "docker.io",
        "library/redis",
        None,
        Some(SHA256),
    ),
    (
        "nginx:1.25@{sha512}",
        "docker.io",
        "library/nginx",
        Some("1.25"),
        Some(SHA512),
    ),
    (
        "docker.io/dmcgowan/myapp@{sha256}",
        "docker.io",
        "dmcgowan/myapp",
        None,
        Some(SHA256),
    ),
];

/// (input, expected error kind)
const INVALID: &[(&str, Kind)] = &[
    ("", Kind::Empty),
    (
        "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        Kind::ImageId,
    ),
    (":justtag", Kind::Repository),
    ("@{sha256}", Kind::Repository),
    (
        "repo@sha256:ffffffffffffffffffffffffffffffffff",
        Kind::Digest,
    ),
    (
        "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        Kind::Digest,
    ),
    ("Uppercase:tag", Kind::Uppercase),
    ("NGINX", Kind::Uppercase),
    ("test:5000/Uppercase/lowercase:tag", Kind::Uppercase),
    ("docker/Docker", Kind::Uppercase),
    ("docker.io/docker/Docker", Kind::Uppercase),
    ("aa/asdf$$^/aa", Kind::Repository),
    ("https://github.com/docker/docker", Kind::Registry),
    ("-docker", Kind::Repository),
    ("-docker/docker", Kind::Repository),
    ("-docker.io/docker/docker", Kind::Registry),
    ("docker///docker", Kind::Repository),
    ("docker.io/docker///docker", Kind::Repository),
    ("docker-/docker", Kind::Repository),
    ("-docker-/docker", Kind::Repository),
    ("____/____", Kind::Repository),
    ("_docker/_docker", Kind::Repository),
    ("dock..er/docker", Kind::Registry),
    ("dock_.er/docker", Kind::Registry),
    ("dock-.er/docker", Kind::Registry),
    ("ng___inx", Kind::Repository),
    ("docker/dock..er", Kind::Repository),
    ("docker/dock_.er", Kind::Repository),
    ("docker/dock-.er", Kind::Repository),
    ("docker/", Kind::Repository),
    ("nginx/", Kind::Repository),
    ("/nginx", Kind::Repository),
    ("nginx foo", Kind::Repository),
    ("café", Kind::Repository),
    ("nginx:1.0:2", Kind::Repository),
    ("[fc00::1]", Kind::Tag),
    ("[fc00::1]:5000", Kind::Repository),
    ("[2001:db8::1]:tag", Kind::Repository),
    ("fc00::1:5000/debian", Kind::Registry),
    ("[fe80::1%eth0]:5000/debian", Kind::Registry),
    ("[fe80::1%@invalidzone]:5000/repo", Kind::Digest),
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", Kind::Registry),
    ("[::1/foo", Kind::Registry),
    ("[]:5000/foo", Kind::Registry),
    ("[::1]x/foo", Kind::Registry),
    ("localhost:/foo", Kind::Registry),
    ("localhost:abc/foo", Kind::Registry),
    ("exa_mple.com/foo", Kind::Registry),
    ("example.com./foo", Kind::Registry),
    ("example-.com/foo", Kind::Registry),
    (
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
        Kind::TooLong,
    ),
    ("nginx:Latest!", Kind::Tag),
    ("nginx:", Kind::Tag),
    ("nginx:-foo", Kind::Tag),
    ("nginx:.foo", Kind::Tag),
    ("nginx:a+b", Kind::Tag),
    ("nginx@", Kind::Digest),
    ("nginx@sha256", Kind::Digest),
    (
        "nginx@sha256:fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        Kind::Digest,
    ),
    (
        "nginx@sha256:FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        Kind::Digest,
    ),
    ("nginx@md5:d41d8cd98f00b204e9800998ecf8427e", Kind::Digest),
    (
        "nginx@sha512:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        Kind::Digest,
    ),
    (
        "nginx@SHA256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        Kind::Digest,
    ),
    ("nginx@{sha256}@{sha256}", Kind::Digest),
    ("nginx:1@", Kind::Digest),
];

#[test]
fn table_has_at_least_80_cases() {
    assert!(
        VALID.len() + INVALID.len() >= 80,
        "{} cases",
        VALID.len() + INVALID.len()
    );
}

#[test]
fn valid_references_parse_to_their_parts() {
    for &(input, registry, repository, tag, digest) in VALID {
        let input = expand(input);
        let r = Reference::parse(&input).unwrap_or_else(|e| panic!("`{input}`: {e}"));
        assert_eq!(r.registry(), registry, "registry of `{input}`");
        assert_eq!(r.repository(), repository, "repository of `{input}`");
        assert_eq!(r.tag(), tag, "tag of `{input}`");
        assert_eq!(
            r.digest().map(ToString::to_string).as_deref(),
            digest,
            "digest of `{input}`"
        );
        assert_eq!(
            r.name(),
            format!("{registry}/{repository}"),
            "name of `{input}`"
        );
    }
}

#[test]
fn valid_references_reparse_from_canonical_and_familiar_forms() {
    for &(input, ..) in VALID {
        let r = Reference::parse(&expand(input)).unwrap();
        let explicit = match r.tag_or_default() {
            Some(tag) => r.with_tag(tag).unwrap(),
            None => r.clone(),
        };
        assert_eq!(
            Reference::parse(&r.canonical()).unwrap(),
            explicit,
            "canonical of `{input}`"
        );
        assert_eq!(
            Reference::parse(&r.familiar()).unwrap(),
            explicit,
            "familiar of `{input}`"
        );
    }
}

#[test]
fn invalid_references_are_rejected_with_the_right_error() {
    for &(input, expected) in INVALID {
        let input = expand(input);
        match Reference::parse(&input) {
            Ok(r) => panic!("`{input}` parsed as {r:?}"),
            Err(e) => assert_eq!(kind(&e), expected, "`{input}`: {e}"),
        }
    }
}

#[test]
fn tag_length_limit_is_128() {
    let ok = format!("nginx:{}", "a".repeat(128));
    assert_eq!(
        Reference::parse(&ok).unwrap().tag().map(str::len),
        Some(128)
    );
    let too_long = format!("nginx:{}", "a".repeat(129));
    assert_eq!(kind(&Reference::parse(&too_long).unwrap_err()), Kind::Tag);
}

#[test]
fn name_length_limit_is_255_after_normalisation() {
    // example.com (11) + "/" + 243 = 255.
    let ok = format!("example.com/{}", "a".repeat(243));
    assert_eq!(Reference::parse(&ok).unwrap().name().len(), 255);
    let too_long = format!("example.com/{}", "a".repeat(244));
    assert_eq!(
        kind(&Reference::parse(&too_long).unwrap_err()),
        Kind::TooLong
    );
    // docker.io/library/ (18) counts: 237 characters typed are 255 normalised.
    let hub_ok = "a".repeat(237);
    assert_eq!(Reference::parse(&hub_ok).unwrap().name().len(), 255);
    let hub_too_long = "a".repeat(238);
    assert_eq!(
        kind(&Reference::parse(&hub_too_long).unwrap_err()),
        Kind::TooLong
    );
    // The distribution test: 128 components of `a/`, with a tag.
    let components = format!("{}a:tag", "a/".repeat(128));
    assert_eq!(
        kind(&Reference::parse(&components).unwrap_err()),
        Kind::TooLong
    );
}

/// (input, canonical, familiar, tag_or_default)
const FORMS: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "nginx",
        "docker.io/library/nginx:latest",
        "nginx:latest",
        Some("latest"),
    ),
    (
        "nginx:1.25",
        "docker.io/library/nginx:1.25",
        "nginx:1.25",
        Some("1.25"),
    ),
    (
        "docker.io/library/nginx@{sha256}",
        "docker.io/library/nginx@{sha256}",
        "nginx@{sha256}",
        None,
    ),
    (
        "nginx:1.25@{sha256}",
        "docker.io/library/nginx:1.25@{sha256}",
        "nginx:1.25@{sha256}",
        Some("1.25"),
    ),
    (
        "index.docker.io/fooo/bar",
        "docker.io/fooo/bar:latest",
        "fooo/bar:latest",
        Some("latest"),
    ),
    (
        "library/foo/bar",
        "docker.io/library/foo/bar:latest",
        "library/foo/bar:latest",
        Some("latest"),
    ),
    (
        "registry-1.docker.io/library/alpine:3.20",
        "docker.io/library/alpine:3.20",
        "alpine:3.20",
        Some("3.20"),
    ),
    (
        "localhost:5000/foo",
        "localhost:5000/foo:latest",
        "localhost:5000/foo:latest",
        Some("latest"),
    ),
    (
        "Foo/bar",
        "Foo/bar:latest",
        "Foo/bar:latest",
        Some("latest"),
    ),
    (
        "[::1]:5000/x:y",
        "[::1]:5000/x:y",
        "[::1]:5000/x:y",
        Some("y"),
    ),
    (
        "example.com:8000/private/moonbase",
        "example.com:8000/private/moonbase:latest",
        "example.com:8000/private/moonbase:latest",
        Some("latest"),
    ),
];

#[test]
fn canonical_familiar_and_default_tag() {
    for &(input, canonical, familiar, default_tag) in FORMS {
        let r = Reference::parse(&expand(input)).unwrap();
        assert_eq!(r.canonical(), expand(canonical), "canonical of `{input}`");
        assert_eq!(r.to_string(), expand(canonical), "Display of `{input}`");
        assert_eq!(r.familiar(), expand(familiar), "familiar of `{input}`");
        assert_eq!(
            r.tag_or_default(),
            default_tag,
            "tag_or_default of `{input}`"
        );
    }
}

#[test]
fn api_host_and_docker_hub() {
    let hub = Reference::parse("index.docker.io/library/nginx").unwrap();
    assert!(hub.is_docker_hub());
    assert_eq!(hub.api_host(), "registry-1.docker.io");
    let local = Reference::parse("localhost:5000/nginx").unwrap();
    assert!(!local.is_docker_hub());
    assert_eq!(local.api_host(), "localhost:5000");
}

#[test]
fn with_and_without_tag_and_digest() {
    let digest = imgpull_reference::Digest::parse(SHA256).unwrap();
    let base = Reference::parse("nginx").unwrap();

    let tagged = base.with_tag("1.25").unwrap();
    assert_eq!(tagged.canonical(), "docker.io/library/nginx:1.25");

    let pinned = tagged.with_digest(digest.clone());
    assert_eq!(pinned.tag(), Some("1.25"));
    assert_eq!(pinned.digest(), Some(&digest));
    assert_eq!(
        pinned.canonical(),
        format!("docker.io/library/nginx:1.25@{SHA256}")
    );

    let digest_only = pinned.without_tag();
    assert_eq!(
        digest_only.canonical(),
        format!("docker.io/library/nginx@{SHA256}")
    );
    assert_eq!(digest_only.with_tag("2").unwrap().tag(), Some("2"));
    assert_eq!(digest_only.with_tag("2").unwrap().digest(), Some(&digest));
    assert_eq!(pinned.without_digest(), tagged);

    assert_eq!(kind(&base.with_tag("-foo").unwrap_err()), Kind::Tag);
}

#[test]
fn equality_is_structural() {
    let implied = Reference::parse("nginx").unwrap();
    let explicit = Reference::parse("nginx:latest").unwrap();
    assert_ne!(implied, explicit);
    assert_eq!(implied.canonical(), explicit.canonical());
    assert_eq!(
        Reference::parse("index.docker.io/library/nginx:1").unwrap(),
        Reference::parse("nginx:1").unwrap()
    );
}

#[test]
fn reference_serde_is_the_canonical_string() {
    let r = Reference::parse(&format!("quay.io/a/b:c@{SHA256}")).unwrap();
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(json, format!("\"quay.io/a/b:c@{SHA256}\""));
    assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
    let err = serde_json::from_str::<Reference>("\"nginx:Latest!\"").unwrap_err();
    assert!(err.to_string().contains("invalid tag `Latest!`"), "{err}");
}
