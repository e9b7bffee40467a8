//! `--all-platforms` keeps a whole index in an OCI output, whatever it lists: attestations,
//! nested indexes (and the images below them) and entries of media types imgpull does not
//! know (review finding 13), with the blobs they refer to (review 3, finding 6).

use std::fs;

use imgpull_reference::{Digest, Platform, media_types};
use imgpull_tests::fake::FakeRegistry;
use imgpull_tests::tools;

use crate::support::*;

#[test]
fn all_platforms_keeps_nested_indexes_and_unknown_entries() {
    // A wiremock registry; it needs no external tool.
    if tools::skip_e2e() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = runtime.block_on(FakeRegistry::start());
    let platform = |text: &str| Platform::parse(text).expect("platform");
    let amd64 = registry.push_image(
        "team/mixed",
        None,
        &platform("linux/amd64"),
        &[b"a".to_vec()],
    );
    let attestation = registry.push_attestation("team/mixed", &amd64);
    let arm64 = registry.push_image(
        "team/mixed",
        None,
        &platform("linux/arm64"),
        &[b"b".to_vec()],
    );
    let mut nested =
        registry.push_index("team/mixed", None, std::slice::from_ref(&arm64.descriptor));
    nested.platform = Some(platform("linux/arm64"));
    let thing = "application/vnd.example.thing.v1+json";
    let thing_config = registry.push_blob("application/vnd.oci.empty.v1+json", b"{}".to_vec());
    let thing_blob = registry.push_blob("text/plain", b"what the thing carries".to_vec());
    let mut unknown = registry.push_manifest(
        "team/mixed",
        None,
        thing,
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": thing,
            "config": thing_config,
            "blobs": [thing_blob],
        }))
        .expect("artifact manifest"),
    );
    unknown.platform = Some(platform("linux/riscv64"));
    let index = registry.push_index(
        "team/mixed",
        Some("1"),
        &[
            amd64.descriptor.clone(),
            attestation.clone(),
            nested.clone(),
            unknown.clone(),
        ],
    );
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/mixed:1", registry.host());

    let report = sandbox.json(&[
        "pull",
        "--json",
        "--all-platforms",
        "--format",
        "oci",
        "-o",
        "layout",
        &reference,
    ]);

    assert_eq!(
        str_at(&report, "/images/0/manifest_digest"),
        index.digest.to_string()
    );
    let blobs = sandbox.out().join("layout/blobs/sha256");
    let expected: Vec<&Digest> = [&index, &attestation, &nested, &unknown]
        .into_iter()
        .map(|descriptor| &descriptor.digest)
        .chain([&amd64.descriptor.digest, &arm64.descriptor.digest])
        .chain([&amd64.config.digest, &arm64.config.digest])
        .chain(amd64.layers.iter().chain(&arm64.layers).map(|l| &l.digest))
        .chain([&thing_config.digest, &thing_blob.digest])
        .collect();
    for digest in expected {
        let bytes = fs::read(blobs.join(digest.hex())).unwrap_or_else(|error| {
            panic!("{digest} is in the layout: {error}");
        });
        assert_eq!(&Digest::sha256(&bytes), digest);
    }
    let top: serde_json::Value = serde_json::from_slice(
        &fs::read(sandbox.out().join("layout/index.json")).expect("index.json"),
    )
    .expect("index.json is JSON");
    assert_eq!(
        top.pointer("/manifests/0/mediaType")
            .and_then(|v| v.as_str()),
        Some(media_types::OCI_IMAGE_INDEX)
    );
}
