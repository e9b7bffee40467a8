//! list, du, prune, verify, clear, and the images recorded in index.json.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::time::Duration;

use common::{TestImage, age, put};
use imgpull_blobstore::{BlobstoreError, ErrorKind, PruneOptions, PruneReason, Store};
use imgpull_reference::{Descriptor, Digest, Reference};

const DAY: u64 = 24 * 60 * 60;

fn make_writable(path: &std::path::Path) {
    let mut permissions = fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    fs::set_permissions(path, permissions).unwrap();
}

#[test]
fn verify_moves_a_blob_corrupted_on_disk_out_of_blobs() {
    let store = Store::temporary().unwrap();
    let good = put(&store, b"good blob");
    let bad = put(&store, b"blob to corrupt");
    let path = store.path(&bad);
    make_writable(&path);
    fs::write(&path, b"blob to corrupT").unwrap();

    let report = store.verify().unwrap();
    assert_eq!(report.checked, 2);
    assert_eq!(report.corrupt.len(), 1);
    let corrupt = &report.corrupt[0];
    assert_eq!(corrupt.digest, bad);
    assert_eq!(corrupt.actual, Digest::sha256(b"blob to corrupT"));
    assert!(corrupt.quarantined.is_file());
    assert!(!corrupt.quarantined.starts_with(store.dir().join("blobs")));
    assert!(!store.contains(&bad));
    assert!(store.contains(&good));
    assert!(!report.is_clean());

    let again = store.verify().unwrap();
    assert!(again.is_clean(), "{again:?}");
    assert_eq!(again.checked, 1);
}

#[test]
fn verify_reports_stray_files_and_blobs_missing_from_recorded_images() {
    let store = Store::temporary().unwrap();
    let image = TestImage::new(&[("a", b"a")]);
    image.record_in(&store, "example.com/app:1");
    fs::remove_file(store.path(&image.layers[0].descriptor.digest)).unwrap();
    fs::write(store.dir().join("blobs/sha256/not-a-digest"), b"x").unwrap();
    let report = store.verify().unwrap();
    assert_eq!(report.missing, [image.layers[0].descriptor.digest.clone()]);
    assert_eq!(
        report.unexpected,
        [store.dir().join("blobs/sha256/not-a-digest")]
    );
}

#[test]
fn prune_by_age_removes_blobs_unused_for_longer() {
    let store = Store::temporary().unwrap();
    let old = put(&store, b"old");
    let recent = put(&store, b"recent");
    age(&store.path(&old), 10 * DAY);
    age(&store.path(&recent), DAY);
    let report = store
        .prune(&PruneOptions {
            older_than: Some(Duration::from_secs(7 * DAY)),
            ..PruneOptions::default()
        })
        .unwrap();
    assert_eq!(report.removed.len(), 1);
    assert_eq!(
        (&report.removed[0].digest, report.removed[0].reason),
        (&old, PruneReason::Age)
    );
    assert_eq!(report.bytes_freed, 3);
    assert!(!store.contains(&old));
    assert!(store.contains(&recent));
}

#[test]
fn using_a_blob_protects_it_from_age_pruning() {
    use imgpull_archive::BlobSource;
    use imgpull_blobstore::Begin;

    let store = Store::temporary().unwrap();
    let blob = put(&store, b"reused");
    let uses: [(&str, &dyn Fn()); 5] = [
        ("open_blob", &|| drop(store.open_blob(&blob).unwrap())),
        ("begin", &|| {
            assert!(matches!(store.begin(&blob, 6).unwrap(), Begin::Present));
        }),
        ("touch", &|| store.touch(&blob)),
        ("BlobSource::open", &|| {
            drop(BlobSource::open(&store, &blob).unwrap().unwrap());
        }),
        ("BlobSource::path", &|| {
            assert!(BlobSource::path(&store, &blob).is_some());
        }),
    ];
    for (name, use_blob) in uses {
        age(&store.path(&blob), 10 * DAY);
        use_blob();
        let report = store
            .prune(&PruneOptions {
                older_than: Some(Duration::from_secs(7 * DAY)),
                ..PruneOptions::default()
            })
            .unwrap();
        assert!(report.removed.is_empty(), "{name}");
        assert!(store.contains(&blob), "{name}");
    }
}

#[test]
fn prune_by_size_keeps_the_most_recently_used() {
    let store = Store::temporary().unwrap();
    let blobs: Vec<Digest> = (0..5_u8).map(|i| put(&store, &[i; 100])).collect();
    for (i, digest) in blobs.iter().enumerate() {
        // blobs[0] is the most recently used.
        age(&store.path(digest), 100 * (i as u64 + 1));
    }
    let report = store
        .prune(&PruneOptions {
            max_size: Some(250),
            ..PruneOptions::default()
        })
        .unwrap();
    let mut removed: Vec<_> = report.removed.iter().map(|b| b.digest.clone()).collect();
    removed.sort();
    let mut expected = blobs[2..].to_vec();
    expected.sort();
    assert_eq!(removed, expected);
    assert!(report.removed.iter().all(|b| b.reason == PruneReason::Size));
    assert!(store.contains(&blobs[0]) && store.contains(&blobs[1]));
    assert_eq!(store.du().unwrap().blob_bytes, 200);
}

#[test]
fn prune_unreferenced_keeps_what_recorded_images_need() {
    let store = Store::temporary().unwrap();
    let image = TestImage::new(&[("a", b"aaa"), ("b", b"bbb")]);
    image.record_in(&store, "example.com/app:1");
    let orphan = put(&store, b"orphan");
    let fresh_orphan = put(&store, b"orphan being pulled right now");
    for blob in image.blobs() {
        age(&store.path(&blob.descriptor.digest), 30 * DAY);
    }
    age(&store.path(&orphan), 30 * DAY);

    let report = store
        .prune(&PruneOptions {
            unreferenced: true,
            ..PruneOptions::default()
        })
        .unwrap();
    assert_eq!(report.removed.len(), 1);
    assert_eq!(report.removed[0].digest, orphan);
    assert_eq!(report.removed[0].reason, PruneReason::Unreferenced);
    assert!(report.images_removed.is_empty());
    assert!(image.blobs().all(|b| store.contains(&b.descriptor.digest)));
    assert!(
        store.contains(&fresh_orphan),
        "blobs used within the grace period stay"
    );
}

#[test]
fn pruning_a_layer_drops_the_incomplete_image_and_its_diff_ids() {
    let store = Store::temporary().unwrap();
    let image = TestImage::new(&[("a", b"aaa")]);
    image.store_into(&store);
    let layer = &image.layers[0].descriptor;
    store
        .record_diff_id(&image.diff_ids[0], &layer.digest, &layer.media_type)
        .unwrap();
    store
        .record_image(
            &Reference::parse("example.com/app:1").unwrap(),
            &image.manifest.descriptor,
        )
        .unwrap();
    age(&store.path(&layer.digest), 30 * DAY);
    let report = store
        .prune(&PruneOptions {
            older_than: Some(Duration::from_secs(DAY)),
            ..PruneOptions::default()
        })
        .unwrap();
    assert_eq!(report.removed.len(), 1);
    assert_eq!(report.images_removed, ["example.com/app:1"]);
    assert!(store.images().unwrap().is_empty());
    assert!(store.find_by_diff_id(&image.diff_ids[0]).unwrap().is_none());
}

#[test]
fn prune_collects_stale_partials_but_not_fresh_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let stale = Digest::sha256(b"stale");
    let fresh = Digest::sha256(b"fresh");
    for digest in [&stale, &fresh] {
        let imgpull_blobstore::Begin::Write(mut w) = store.begin(digest, 100).unwrap() else {
            panic!("new blob");
        };
        w.write(b"partial").unwrap();
    }
    let partial = |d: &Digest| {
        dir.path()
            .join(".imgpull/partial")
            .join(format!("sha256-{}", d.hex()))
    };
    age(&partial(&stale), 2 * DAY);
    let report = store.prune(&PruneOptions::default()).unwrap();
    assert_eq!(report.partials_removed, 1);
    assert!(!partial(&stale).exists());
    assert!(partial(&fresh).exists());
}

#[test]
fn list_and_du_describe_images_and_blobs() {
    let store = Store::temporary().unwrap();
    let image = TestImage::new(&[("a", b"aaa")]);
    image.store_into(&store);
    let orphan = put(&store, b"orphan");
    store
        .record_image(
            &Reference::parse("nginx:1.25").unwrap(),
            &image.manifest.descriptor,
        )
        .unwrap();
    let listing = store.list().unwrap();
    assert_eq!(listing.images.len(), 1);
    assert_eq!(
        listing.images[0].name.as_deref(),
        Some("docker.io/library/nginx:1.25")
    );
    assert_eq!(listing.images[0].ref_name.as_deref(), Some("1.25"));
    assert_eq!(listing.blobs.len(), 4);
    for blob in &listing.blobs {
        assert_eq!(blob.referenced, blob.digest != orphan, "{blob:?}");
        assert_eq!(blob.size, store.size(&blob.digest).unwrap());
    }
    let usage = store.du().unwrap();
    assert_eq!(usage.blobs, 4);
    assert_eq!(
        usage.blob_bytes,
        listing.blobs.iter().map(|b| b.size).sum::<u64>()
    );
    assert_eq!(usage.total_bytes(), usage.blob_bytes);
}

#[test]
fn a_tag_names_one_image_and_a_full_name_one_entry() {
    let store = Store::temporary().unwrap();
    let one = TestImage::new(&[("1", b"1")]);
    let two = TestImage::new(&[("2", b"2")]);
    one.store_into(&store);
    two.store_into(&store);
    let nginx = Reference::parse("nginx").unwrap();
    let alpine = Reference::parse("alpine").unwrap();
    store
        .record_image(&nginx, &one.manifest.descriptor)
        .unwrap();
    store
        .record_image(&alpine, &one.manifest.descriptor)
        .unwrap();
    store
        .record_image(&nginx, &two.manifest.descriptor)
        .unwrap();
    let images = store.images().unwrap();
    assert_eq!(images.len(), 2);
    let by_name = |n: &str| {
        images
            .iter()
            .find(|i| i.name.as_deref() == Some(n))
            .unwrap()
    };
    let nginx_entry = by_name("docker.io/library/nginx:latest");
    assert_eq!(nginx_entry.manifest.digest, two.manifest.descriptor.digest);
    assert_eq!(nginx_entry.ref_name.as_deref(), Some("latest"));
    assert_eq!(by_name("docker.io/library/alpine:latest").ref_name, None);
}

#[test]
fn recording_an_image_whose_manifest_is_not_stored_is_refused() {
    let store = Store::temporary().unwrap();
    let image = TestImage::new(&[("a", b"a")]);
    let err = store
        .record_image(
            &Reference::parse("app").unwrap(),
            &image.manifest.descriptor,
        )
        .unwrap_err();
    assert_eq!(err.kind(), imgpull_blobstore::ErrorKind::NotFound);
}

#[test]
fn clear_empties_the_cache_and_keeps_a_valid_layout() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = TestImage::new(&[("a", b"aaa")]);
    image.record_in(&store, "app");
    let report = store.clear().unwrap();
    assert_eq!(report.blobs, 3);
    assert!(store.images().unwrap().is_empty());
    assert_eq!(store.du().unwrap().total_bytes(), 0);
    assert!(dir.path().join("oci-layout").is_file());
    Store::open(dir.path()).unwrap();
}

#[test]
fn prune_and_clear_wait_for_no_pull_to_hold_a_lease() {
    let dir = tempfile::tempdir().unwrap();
    let pulling = Store::open(dir.path()).unwrap();
    let managing = Store::open(dir.path()).unwrap();
    let image = TestImage::new(&[("a", b"aaaa")]);
    image.store_into(&pulling);
    let blob = &image.layers[0].descriptor.digest;
    age(&managing.path(blob), 2 * DAY);

    let lease = pulling.lease().unwrap();
    // A second pull shares the cache.
    let other = managing.lease().unwrap();
    drop(other);
    let older = PruneOptions {
        older_than: Some(Duration::from_secs(DAY)),
        ..PruneOptions::default()
    };
    let busy = managing.prune(&older).unwrap_err();
    assert!(
        matches!(&busy, BlobstoreError::InUse { path } if path == dir.path()),
        "{busy}"
    );
    assert_eq!(busy.kind(), ErrorKind::Busy);
    assert!(matches!(
        managing.clear().unwrap_err(),
        BlobstoreError::InUse { .. }
    ));
    assert!(pulling.contains(blob), "nothing was removed under the pull");

    drop(lease);
    let report = managing.prune(&older).unwrap();
    assert_eq!(report.removed.len(), 1);
    assert!(!pulling.contains(blob));
    managing.clear().unwrap();
}

#[test]
fn verify_waits_for_no_pull_to_hold_a_lease_before_it_moves_a_corrupt_blob() {
    let dir = tempfile::tempdir().unwrap();
    let pulling = Store::open(dir.path()).unwrap();
    let managing = Store::open(dir.path()).unwrap();
    let bad = put(&pulling, b"blob to corrupt");
    let path = pulling.path(&bad);
    make_writable(&path);
    fs::write(&path, b"blob to corrupT").unwrap();

    let lease = pulling.lease().unwrap();
    let busy = managing.verify().unwrap_err();
    assert!(
        matches!(&busy, BlobstoreError::InUse { path } if path == dir.path()),
        "{busy}"
    );
    assert!(pulling.contains(&bad), "nothing was moved under the pull");

    drop(lease);
    let report = managing.verify().unwrap();
    assert_eq!(report.corrupt.len(), 1);
    assert_eq!(report.corrupt[0].digest, bad);
    assert!(!pulling.contains(&bad));
}

#[test]
fn a_huge_blob_recorded_as_an_index_is_not_read_into_memory() {
    let store = Store::temporary().unwrap();
    // Not JSON: reading it as an index would fail `list`, after reading all of it.
    let huge = vec![0xA5_u8; 17 * 1024 * 1024];
    let digest = put(&store, &huge);
    let descriptor = Descriptor::new(
        imgpull_reference::media_types::OCI_IMAGE_INDEX,
        digest.clone(),
        huge.len() as u64,
    );
    store
        .record_image(
            &Reference::parse("example.com/huge:1").unwrap(),
            &descriptor,
        )
        .unwrap();
    let listing = store.list().unwrap();
    let blob = listing.blobs.iter().find(|b| b.digest == digest).unwrap();
    assert!(blob.referenced);
    assert!(store.verify().unwrap().is_clean());
}
