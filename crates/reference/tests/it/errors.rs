//! Error messages name what is wrong and where.

use imgpull_reference::{Digest, Platform, Reference};

fn reference_error(input: &str) -> String {
    Reference::parse(input).unwrap_err().to_string()
}

#[test]
fn invalid_tag_message() {
    assert_eq!(
        reference_error("nginx:Latest!"),
        "invalid tag `Latest!` in `nginx:Latest!`: tags are [A-Za-z0-9_.-], at most 128 characters"
    );
}

#[test]
fn empty_reference_message() {
    assert_eq!(reference_error(""), "empty image reference");
}

#[test]
fn uppercase_repository_message() {
    assert_eq!(
        reference_error("docker.io/docker/Docker:1"),
        "invalid repository `docker/Docker` in `docker.io/docker/Docker:1`: repository names must be lowercase"
    );
}

#[test]
fn invalid_path_component_message() {
    assert_eq!(
        reference_error("docker/dock..er"),
        "invalid repository `docker/dock..er` in `docker/dock..er`: path components are [a-z0-9] separated by `.`, `_`, `__` or `-`, and start and end with [a-z0-9]"
    );
    assert_eq!(
        reference_error("docker///docker"),
        "invalid repository `docker///docker` in `docker///docker`: a path component is empty (`//` or a leading or trailing `/`)"
    );
}

#[test]
fn invalid_registry_messages() {
    assert_eq!(
        reference_error("localhost:x/app"),
        "invalid registry `localhost:x` in `localhost:x/app`: the port must be a decimal number"
    );
    assert_eq!(
        reference_error("[fe80::1%eth0]:5000/app"),
        "invalid registry `[fe80::1%eth0]:5000` in `[fe80::1%eth0]:5000/app`: an IPv6 address may contain only hex digits and `:`"
    );
}

#[test]
fn digest_messages_name_the_algorithm_and_lengths() {
    assert_eq!(
        reference_error("nginx@sha256:abc"),
        "invalid digest `sha256:abc` in `nginx@sha256:abc`: sha256 digests have 64 lowercase hex characters, found 3"
    );
    assert_eq!(
        reference_error("nginx@md5:d41d8cd98f00b204e9800998ecf8427e"),
        "invalid digest `md5:d41d8cd98f00b204e9800998ecf8427e` in `nginx@md5:d41d8cd98f00b204e9800998ecf8427e`: unsupported algorithm `md5` (supported: sha256, sha512)"
    );
    assert_eq!(
        Digest::parse("sha256:ABC").unwrap_err().to_string(),
        "invalid digest `sha256:ABC`: the hex part may contain only lowercase hex characters [0-9a-f]"
    );
    assert_eq!(
        Digest::parse("abc").unwrap_err().to_string(),
        "invalid digest `abc`: a digest is `algorithm:hex`, e.g. `sha256:` followed by 64 hex characters"
    );
}

#[test]
fn image_id_and_length_messages() {
    let id = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
    assert_eq!(
        reference_error(id),
        format!(
            "invalid reference `{id}`: a 64-character hexadecimal string is an image ID, not a repository name"
        )
    );
    let long = "a".repeat(238);
    assert_eq!(
        reference_error(&long),
        format!(
            "invalid reference `{long}`: the name `docker.io/library/{long}` has 256 characters, at most 255 are allowed"
        )
    );
}

#[test]
fn with_tag_names_the_tag() {
    let err = Reference::parse("nginx")
        .unwrap()
        .with_tag("a b")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tag `a b` in `docker.io/library/nginx:a b`: tags are [A-Za-z0-9_.-], at most 128 characters"
    );
}

#[test]
fn platform_messages() {
    assert_eq!(
        Platform::parse("linux/arm/v7/x").unwrap_err().to_string(),
        "invalid platform `linux/arm/v7/x`: a platform is `os/architecture`, `os/architecture/variant`, or a lone `os` or `architecture`"
    );
    assert_eq!(
        Platform::parse("plan10").unwrap_err().to_string(),
        "invalid platform `plan10`: a lone part must be a known operating system (`linux`, `windows`, …) or architecture (`amd64`, `arm64`, …); otherwise write `os/architecture`"
    );
    assert_eq!(
        Platform::parse("linux//v7").unwrap_err().to_string(),
        "invalid platform `linux//v7`: each part must be non-empty and contain only [A-Za-z0-9_.-]"
    );
}
