//! Descriptor serde in the OCI JSON shape, and media type helpers.

use std::collections::BTreeMap;

use imgpull_reference::{Descriptor, Digest, Platform, media_types};

const LAYER_DIGEST: &str =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn minimal_descriptor_omits_empty_fields() {
    let d = Descriptor::new(
        media_types::OCI_LAYER_TAR_GZIP,
        Digest::parse(LAYER_DIGEST).unwrap(),
        1234,
    );
    let json = serde_json::to_string(&d).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{LAYER_DIGEST}","size":1234}}"#
        )
    );
    assert_eq!(serde_json::from_str::<Descriptor>(&json).unwrap(), d);
}

#[test]
fn full_index_entry_round_trips() {
    let json = format!(
        r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{LAYER_DIGEST}","size":7143,"urls":["https://example.com/l"],"platform":{{"architecture":"arm","os":"linux","variant":"v7"}},"annotations":{{"a":"1","b":"2"}},"artifactType":"application/vnd.example+json"}}"#
    );
    let d: Descriptor = serde_json::from_str(&json).unwrap();
    assert_eq!(d.media_type, media_types::OCI_IMAGE_MANIFEST);
    assert_eq!(d.size, 7143);
    assert_eq!(d.urls, ["https://example.com/l"]);
    assert_eq!(d.platform, Some(Platform::parse("linux/arm/v7").unwrap()));
    assert_eq!(
        d.annotations,
        BTreeMap::from([
            ("a".to_owned(), "1".to_owned()),
            ("b".to_owned(), "2".to_owned())
        ])
    );
    assert_eq!(
        d.artifact_type.as_deref(),
        Some("application/vnd.example+json")
    );
    assert_eq!(serde_json::to_string(&d).unwrap(), json);
}

#[test]
fn unknown_fields_are_ignored_and_bad_digests_rejected() {
    let with_extra =
        format!(r#"{{"mediaType":"x","digest":"{LAYER_DIGEST}","size":1,"data":"e30="}}"#);
    assert_eq!(
        serde_json::from_str::<Descriptor>(&with_extra)
            .unwrap()
            .size,
        1
    );
    let bad = r#"{"mediaType":"x","digest":"sha256:1234","size":1}"#;
    let err = serde_json::from_str::<Descriptor>(bad).unwrap_err();
    assert!(err.to_string().contains("found 4"), "{err}");
    let missing_size = format!(r#"{{"mediaType":"x","digest":"{LAYER_DIGEST}"}}"#);
    assert!(serde_json::from_str::<Descriptor>(&missing_size).is_err());
    let negative_size = format!(r#"{{"mediaType":"x","digest":"{LAYER_DIGEST}","size":-1}}"#);
    assert!(serde_json::from_str::<Descriptor>(&negative_size).is_err());
}

#[test]
fn attestation_entries_are_recognised() {
    let digest = Digest::parse(LAYER_DIGEST).unwrap();
    let mut image = Descriptor::new(media_types::OCI_IMAGE_MANIFEST, digest.clone(), 1);
    image.platform = Some(Platform::parse("linux/amd64").unwrap());
    assert!(!image.is_attestation());

    let mut annotated = Descriptor::new(media_types::OCI_IMAGE_MANIFEST, digest.clone(), 1);
    annotated.annotations.insert(
        media_types::DOCKER_REFERENCE_TYPE_ANNOTATION.into(),
        media_types::DOCKER_ATTESTATION_MANIFEST.into(),
    );
    assert!(annotated.is_attestation());

    let mut unknown = Descriptor::new(media_types::OCI_IMAGE_MANIFEST, digest, 1);
    unknown.platform = Some(Platform::new("unknown", "unknown"));
    assert!(unknown.is_attestation());
}

#[test]
fn media_type_classes() {
    use media_types::*;
    assert!(is_index(OCI_IMAGE_INDEX));
    assert!(is_index(DOCKER_MANIFEST_LIST));
    assert!(is_index(
        "application/vnd.oci.image.index.v1+json; charset=utf-8"
    ));
    assert!(!is_index(OCI_IMAGE_MANIFEST));
    assert!(is_image_manifest(OCI_IMAGE_MANIFEST));
    assert!(is_image_manifest(
        " Application/vnd.docker.distribution.manifest.v2+json "
    ));
    assert!(!is_image_manifest(DOCKER_MANIFEST_V1_SIGNED));
    assert!(is_schema1(DOCKER_MANIFEST_V1));
    assert!(is_schema1(DOCKER_MANIFEST_V1_SIGNED));
    assert!(is_config(OCI_IMAGE_CONFIG));
    assert!(is_config(DOCKER_CONTAINER_CONFIG));
    assert!(!is_config(OCI_EMPTY));
    for layer in [
        OCI_LAYER_TAR,
        OCI_LAYER_TAR_GZIP,
        OCI_LAYER_TAR_ZSTD,
        OCI_LAYER_NONDISTRIBUTABLE_TAR,
        OCI_LAYER_NONDISTRIBUTABLE_TAR_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_TAR_ZSTD,
        DOCKER_LAYER_TAR,
        DOCKER_LAYER_TAR_GZIP,
        DOCKER_FOREIGN_LAYER_TAR_GZIP,
    ] {
        assert!(is_layer(layer), "{layer}");
        assert!(!is_config(layer) && !is_index(layer) && !is_image_manifest(layer));
    }
    assert!(!is_layer(IN_TOTO));
    assert_eq!(
        essence("Application/JSON ; charset=utf-8"),
        "application/json"
    );
    assert!(
        MANIFEST_ACCEPT
            .iter()
            .all(|m| is_index(m) || is_image_manifest(m))
    );
}
