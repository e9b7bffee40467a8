//! Docker schema 2 images in the cache: recorded through OCI copies that skopeo's `oci:`
//! transport finds, reads and re-hashes, while the registry's original stays referenced.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{Blob, TestImage, age, put, skopeo, skopeo_available};
use imgpull_blobstore::{PruneOptions, Store};
use imgpull_reference::{Descriptor, Digest, Platform, Reference, media_types};

const SOURCE_DIGEST: &str = "io.imgpull.source.digest";

/// The manifest's descriptor as the cli records it: with the platform pulled.
fn platform_descriptor(image: &TestImage) -> Descriptor {
    let config: serde_json::Value = serde_json::from_slice(&image.config.bytes).unwrap();
    let mut descriptor = image.manifest.descriptor.clone();
    descriptor.platform = Some(Platform::new(
        "linux",
        config["architecture"].as_str().unwrap(),
    ));
    descriptor
}

fn index_entries(dir: &Path) -> Vec<serde_json::Value> {
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"].as_array().unwrap().clone()
}

fn stored_json(store: &Store, digest: &str) -> serde_json::Value {
    let digest = Digest::parse(digest).unwrap();
    serde_json::from_slice(&fs::read(store.path(&digest)).unwrap()).unwrap()
}

/// `skopeo copy oci:DIR:REF dir:COPY` (which re-hashes every blob it reads) and the bytes
/// of the copied config and layers; `arch` picks a platform of an index.
fn skopeo_copy(dir: &Path, reference: &str, arch: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    skopeo(&[
        "--override-os",
        "linux",
        "--override-arch",
        arch,
        "copy",
        "--quiet",
        &format!("oci:{}:{reference}", dir.display()),
        &format!("dir:{}", copy.path().display()),
    ]);
    copy
}

fn assert_copied(copy: &Path, image: &TestImage) {
    for blob in image.layers.iter().chain([&image.config]) {
        let copied = fs::read(copy.join(blob.descriptor.digest.hex())).unwrap();
        assert!(copied == blob.bytes, "{} differs", blob.descriptor.digest);
    }
}

#[test]
fn a_docker_schema2_image_is_recorded_through_an_oci_copy_that_skopeo_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = TestImage::docker("amd64", &[("etc/a", b"alpha"), ("etc/b", b"beta")]);
    image.store_into(&store);
    let original = &image.manifest.descriptor.digest;

    store
        .record_image(
            &Reference::parse("example.com/team/app:v1").unwrap(),
            &platform_descriptor(&image),
        )
        .unwrap();

    // index.json points at an OCI copy with the same config and layers, naming the original.
    let entries = index_entries(dir.path());
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry["mediaType"], media_types::OCI_IMAGE_MANIFEST);
    assert_eq!(entry["platform"]["architecture"], "amd64");
    assert_eq!(entry["annotations"][SOURCE_DIGEST], original.to_string());
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        "v1"
    );
    let copy = stored_json(&store, entry["digest"].as_str().unwrap());
    assert_eq!(copy["mediaType"], media_types::OCI_IMAGE_MANIFEST);
    assert_eq!(copy["config"]["mediaType"], media_types::OCI_IMAGE_CONFIG);
    assert_eq!(
        copy["config"]["digest"],
        image.config.descriptor.digest.to_string()
    );
    for (layer, blob) in copy["layers"].as_array().unwrap().iter().zip(&image.layers) {
        assert_eq!(layer["mediaType"], media_types::OCI_LAYER_TAR_GZIP);
        assert_eq!(layer["digest"], blob.descriptor.digest.to_string());
        assert_eq!(layer["size"], blob.descriptor.size);
    }

    // The registry's original is kept and still the image's identity.
    assert!(store.contains(original));
    let records = store.images().unwrap();
    assert_eq!(records[0].registry_manifest(), &platform_descriptor(&image));
    assert_eq!(
        records[0].manifest.digest.to_string(),
        entry["digest"].as_str().unwrap()
    );

    if skopeo_available() {
        let json = skopeo(&["inspect", &format!("oci:{}:v1", dir.path().display())]);
        let inspected: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(inspected["Digest"], entry["digest"]);
        assert_eq!(inspected["Architecture"], "amd64");
        assert_copied(skopeo_copy(dir.path(), "v1", "amd64").path(), &image);
    }
}

#[test]
fn prune_keeps_the_original_and_the_copy_of_a_recorded_docker_image() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = TestImage::docker("amd64", &[("etc/a", b"alpha")]);
    image.store_into(&store);
    store
        .record_image(
            &Reference::parse("example.com/team/app:v1").unwrap(),
            &platform_descriptor(&image),
        )
        .unwrap();
    // Recording the same image again changes nothing.
    store
        .record_image(
            &Reference::parse("example.com/team/app:v1").unwrap(),
            &platform_descriptor(&image),
        )
        .unwrap();
    assert_eq!(index_entries(dir.path()).len(), 1);

    let listing = store.list().unwrap();
    assert_eq!(listing.blobs.len(), 4, "layer, config, original and copy");
    assert!(listing.blobs.iter().all(|blob| blob.referenced));
    for blob in &listing.blobs {
        age(&store.path(&blob.digest), 24 * 60 * 60);
    }
    let report = store
        .prune(&PruneOptions {
            unreferenced: true,
            ..PruneOptions::default()
        })
        .unwrap();
    assert!(report.removed.is_empty(), "{:?}", report.removed);
    assert!(report.images_removed.is_empty());
}

#[test]
fn a_docker_manifest_list_is_recorded_as_an_oci_index_of_oci_copies() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let amd64 = TestImage::docker("amd64", &[("etc/arch", b"amd64")]);
    let arm64 = TestImage::docker("arm64", &[("etc/arch", b"arm64")]);
    let list = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::DOCKER_MANIFEST_LIST,
        "manifests": [platform_descriptor(&amd64), platform_descriptor(&arm64)],
    });
    let list = Blob::new(
        media_types::DOCKER_MANIFEST_LIST,
        serde_json::to_vec(&list).unwrap(),
    );
    amd64.store_into(&store);
    arm64.store_into(&store);
    put(&store, &list.bytes);

    store
        .record_image(
            &Reference::parse("example.com/team/multi:v2").unwrap(),
            &list.descriptor,
        )
        .unwrap();

    let entries = index_entries(dir.path());
    let entry = &entries[0];
    assert_eq!(entry["mediaType"], media_types::OCI_IMAGE_INDEX);
    assert_eq!(
        entry["annotations"][SOURCE_DIGEST],
        list.descriptor.digest.to_string()
    );
    let index = stored_json(&store, entry["digest"].as_str().unwrap());
    assert_eq!(index["mediaType"], media_types::OCI_IMAGE_INDEX);
    for (child, image) in index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .zip([&amd64, &arm64])
    {
        assert_eq!(child["mediaType"], media_types::OCI_IMAGE_MANIFEST);
        assert_ne!(
            child["digest"],
            image.manifest.descriptor.digest.to_string()
        );
        let copy = stored_json(&store, child["digest"].as_str().unwrap());
        assert_eq!(
            copy["config"]["digest"],
            image.config.descriptor.digest.to_string()
        );
    }
    // Every blob, the originals included, is referenced.
    assert!(
        store
            .list()
            .unwrap()
            .blobs
            .iter()
            .all(|blob| blob.referenced)
    );

    if skopeo_available() {
        for (arch, image) in [("amd64", &amd64), ("arm64", &arm64)] {
            assert_copied(skopeo_copy(dir.path(), "v2", arch).path(), image);
        }
    }
}

#[test]
fn importing_a_pulled_docker_image_adds_no_second_entry() {
    let work = tempfile::tempdir().unwrap();
    let store = Store::open(work.path().join("cache")).unwrap();
    let image = TestImage::docker("amd64", &[("etc/a", b"alpha")]);
    image.store_into(&store);
    store
        .record_image(
            &Reference::parse("example.com/team/app:v1").unwrap(),
            &platform_descriptor(&image),
        )
        .unwrap();
    let layout = work.path().join("layout");
    image.write_oci_layout(&layout, "v1");

    store.import(&layout).unwrap();

    let records = store.images().unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        records[0].registry_manifest().digest,
        image.manifest.descriptor.digest
    );
}
