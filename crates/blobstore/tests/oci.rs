//! The cache as an OCI layout checked by skopeo, and importing archives.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use common::{TestImage, legacy_docker_tar, raw_tar, skopeo, skopeo_available};
use imgpull_blobstore::{BlobstoreError, ErrorKind, Store};
use imgpull_reference::{Digest, Reference};

/// `skopeo inspect oci:DIR:REF` succeeds and names `manifest`.
fn assert_skopeo_inspects(dir: &Path, reference: &str, manifest: &Digest) {
    let json = skopeo(&["inspect", &format!("oci:{}:{reference}", dir.display())]);
    let inspected: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(inspected["Digest"], manifest.to_string());
    // Copying re-reads and re-hashes every blob of the image.
    let copy = tempfile::tempdir().unwrap();
    skopeo(&[
        "copy",
        "--quiet",
        &format!("oci:{}:{reference}", dir.display()),
        &format!("dir:{}", copy.path().display()),
    ]);
}

#[test]
fn a_recorded_image_passes_skopeo_inspect() {
    if !skopeo_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let image = TestImage::new(&[("etc/a", b"alpha"), ("etc/b", b"beta")]);
    image.record_in(&store, "example.com/team/app:v1");
    assert_skopeo_inspects(dir.path(), "v1", &image.manifest.descriptor.digest);
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(annotations["org.opencontainers.image.ref.name"], "v1");
    assert_eq!(
        annotations["io.containerd.image.name"],
        "example.com/team/app:v1"
    );
}

#[test]
fn importing_a_skopeo_docker_archive_records_every_diff_id() {
    if !skopeo_available() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let image = TestImage::new(&[
        ("bin/one", &[1; 5000]),
        ("bin/two", &[2; 7000]),
        ("etc/three", b"3"),
    ]);
    let layout = work.path().join("layout");
    image.write_oci_layout(&layout, "v1");
    let archive = work.path().join("app.tar");
    skopeo(&[
        "copy",
        "--quiet",
        &format!("oci:{}:v1", layout.display()),
        &format!("docker-archive:{}:example.com/app:v1", archive.display()),
    ]);

    let cache = work.path().join("cache");
    let store = Store::open(&cache).unwrap();
    let report = store.import(&archive).unwrap();
    assert_eq!(report.images.len(), 1);
    assert_eq!(report.images[0].names, ["example.com/app:v1"]);
    assert_eq!(report.diff_ids_recorded, 3);
    assert_eq!(
        report.images[0].config.digest,
        image.config.descriptor.digest
    );

    // A later pull of the image resolves every layer from its diff_id.
    let reopened = Store::open(&cache).unwrap();
    for diff_id in &image.diff_ids {
        let found = reopened
            .find_by_diff_id(diff_id)
            .unwrap()
            .unwrap_or_else(|| panic!("diff_id {diff_id} not found after import"));
        assert!(reopened.contains(&found.blob));
    }
    assert!(reopened.contains(&image.config.descriptor.digest));
    assert_skopeo_inspects(&cache, "v1", &report.images[0].manifest.digest);

    // Importing again adds nothing.
    let again = reopened.import(&archive).unwrap();
    assert_eq!(again.blobs_added, 0);
    assert_eq!(again.bytes_added, 0);
}

#[test]
fn importing_an_oci_layout_keeps_compressed_layers_as_they_are() {
    let work = tempfile::tempdir().unwrap();
    let image = TestImage::new(&[("a", b"aaaa"), ("b", b"bbbb")]);
    let layout = work.path().join("layout");
    image.write_oci_layout(&layout, "v1");
    let store = Store::temporary().unwrap();
    let report = store.import(&layout).unwrap();
    assert_eq!(report.blobs_added, 4);
    assert!(image.blobs().all(|b| store.contains(&b.descriptor.digest)));
    for (diff_id, layer) in image.diff_ids.iter().zip(&image.layers) {
        let found = store.find_by_diff_id(diff_id).unwrap().unwrap();
        assert_eq!(found.blob, layer.descriptor.digest);
        assert_eq!(found.media_type, layer.descriptor.media_type);
    }
    // A bare ref name is not an image name: the image is kept, unnamed.
    assert_eq!(report.images[0].ignored_names, ["v1"]);
    let images = store.images().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].name, None);
    assert_eq!(images[0].manifest.digest, image.manifest.descriptor.digest);
    // Naming it later replaces the unnamed entry.
    store
        .record_image(
            &Reference::parse("example.com/app:v1").unwrap(),
            &image.manifest.descriptor,
        )
        .unwrap();
    let images = store.images().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].name.as_deref(), Some("example.com/app:v1"));
}

/// Whether a thread of this process waits for a lock on the file with inode `inode` (a `->`
/// line of `/proc/locks`: `N: -> FLOCK ADVISORY READ PID MAJOR:MINOR:INODE START END`).
#[cfg(target_os = "linux")]
fn waits_for_a_lock_on(inode: u64) -> bool {
    let pid = std::process::id().to_string();
    let inode = inode.to_string();
    fs::read_to_string("/proc/locks").is_ok_and(|locks| {
        locks.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&"->")
                && fields.get(5) == Some(&pid.as_str())
                && fields.get(6).and_then(|file| file.rsplit(':').next()) == Some(inode.as_str())
        })
    })
}

#[test]
#[cfg(target_os = "linux")]
fn an_import_leases_the_cache_so_it_waits_while_a_prune_runs() {
    use std::os::unix::fs::MetadataExt as _;
    use std::time::{Duration, Instant};

    let work = tempfile::tempdir().unwrap();
    let image = TestImage::new(&[("a", b"aaaa")]);
    let layout = work.path().join("layout");
    image.write_oci_layout(&layout, "v1");
    let store = Store::temporary().unwrap();
    // What a prune, clear or verify holds while it runs: the cache lock, exclusively.
    let lock = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(store.dir().join(".imgpull/cache.lock"))
        .unwrap();
    lock.lock().unwrap();
    let inode = lock.metadata().unwrap().ino();
    std::thread::scope(|scope| {
        let import = scope.spawn(|| store.import(&layout));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !waits_for_a_lock_on(inode) {
            assert!(!import.is_finished(), "the import ran without a lease");
            assert!(
                Instant::now() < deadline,
                "the import never asked for a lease"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            image.blobs().all(|b| !store.contains(&b.descriptor.digest)),
            "nothing is stored before the lease"
        );
        lock.unlock().unwrap();
        let report = import.join().unwrap().unwrap();
        assert_eq!(report.blobs_added, 3);
    });
    assert!(image.blobs().all(|b| store.contains(&b.descriptor.digest)));
}

#[test]
fn importing_a_legacy_docker_tar_with_gzip_layers_writes_a_manifest() {
    let work = tempfile::tempdir().unwrap();
    let image = TestImage::new(&[("a", b"aaaa"), ("b", b"bbbb")]);
    let archive = work.path().join("legacy.tar");
    fs::write(&archive, legacy_docker_tar(&image, "example.com/legacy:2")).unwrap();
    let dir = work.path().join("cache");
    let store = Store::open(&dir).unwrap();
    let report = store.import(&archive).unwrap();
    let imported = &report.images[0];
    assert!(imported.manifest_synthesized);
    assert_eq!(imported.names, ["example.com/legacy:2"]);
    assert!(
        image
            .layers
            .iter()
            .all(|l| store.contains(&l.descriptor.digest))
    );
    for (diff_id, layer) in image.diff_ids.iter().zip(&image.layers) {
        assert_eq!(
            store.find_by_diff_id(diff_id).unwrap().unwrap().blob,
            layer.descriptor.digest
        );
    }
    if skopeo_available() {
        assert_skopeo_inspects(&dir, "2", &imported.manifest.digest);
    }
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_refused_and_not_recorded() {
    let work = tempfile::tempdir().unwrap();
    let good = TestImage::new(&[("a", b"aaaa")]);
    let liar = TestImage::new(&[("a", b"different content")]);
    // The config claims good's diff_id for liar's layer.
    let mut bad = liar.clone();
    bad.config = good.config.clone();
    let archive = work.path().join("bad.tar");
    fs::write(&archive, legacy_docker_tar(&bad, "example.com/bad:1")).unwrap();
    let store = Store::temporary().unwrap();
    let err = store.import(&archive).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity, "{err}");
    assert!(
        matches!(err, BlobstoreError::DiffIdMismatch { .. }),
        "{err}"
    );
    assert!(store.find_by_diff_id(&good.diff_ids[0]).unwrap().is_none());
    assert!(!store.contains(&liar.layers[0].descriptor.digest));
    assert!(store.images().unwrap().is_empty());
}

/// Imports `tar` into a cache inside a fresh directory and checks that it fails and writes
/// nothing anywhere but the cache's own files.
fn assert_refused(members: &[(&str, &[u8])]) {
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("evil.tar");
    fs::write(&archive, raw_tar(members)).unwrap();
    let cache = work.path().join("nested/cache");
    let store = Store::open(&cache).unwrap();
    let err = store.import(&archive).unwrap_err();
    assert!(matches!(err, BlobstoreError::Import { .. }), "{err}");
    assert!(err.to_string().contains("evil"), "{err}");
    let mut names: Vec<_> = fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["evil.tar", "nested"]);
    assert_eq!(fs::read_dir(work.path().join("nested")).unwrap().count(), 1);
    assert_eq!(store.du().unwrap().blobs, 0);
    assert!(store.images().unwrap().is_empty());
}

#[test]
fn a_tar_with_parent_directory_members_is_refused() {
    let config = br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let manifest =
        br#"[{"Config":"../evil.json","RepoTags":["evil:1"],"Layers":["../evil/layer.tar"]}]"#;
    assert_refused(&[
        ("../evil.json", config),
        ("../evil/layer.tar", b"not a tar"),
        ("manifest.json", manifest),
    ]);
}

#[test]
fn a_tar_with_absolute_members_is_refused() {
    let target = tempfile::tempdir().unwrap();
    let absolute = target.path().join("evil.json");
    let absolute = absolute.to_str().unwrap();
    let manifest = format!(r#"[{{"Config":"{absolute}","RepoTags":["evil:1"],"Layers":[]}}]"#);
    assert_refused(&[
        (absolute, br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#),
        ("manifest.json", manifest.as_bytes()),
    ]);
    assert!(!Path::new(absolute).exists());
}

#[test]
fn a_docker_25_archive_written_from_the_store_imports_into_another_store() {
    use imgpull_archive::{ArchiveImage, DockerArchiveOptions, DockerArchiveWriter};
    let work = tempfile::tempdir().unwrap();
    let source = Store::temporary().unwrap();
    let image = TestImage::new(&[("x", b"xxxx"), ("y", b"yyyy")]);
    image.store_into(&source);
    let reference = Reference::parse("example.com/round/trip:3").unwrap();
    let archive_image = ArchiveImage::new(
        image.manifest.bytes.clone(),
        &image.manifest.descriptor.media_type,
    )
    .with_tag(reference.clone());
    let path = work.path().join("docker25.tar");
    let mut writer = DockerArchiveWriter::new(
        fs::File::create(&path).unwrap(),
        DockerArchiveOptions::default(),
    );
    // The store is the writer's blob source.
    writer.add_image(&archive_image, &source).unwrap();
    writer.finish().unwrap();

    let target = Store::temporary().unwrap();
    let report = target.import(&path).unwrap();
    assert_eq!(report.images.len(), 1);
    assert_eq!(report.images[0].names, [reference.canonical()]);
    assert!(target.contains(&image.config.descriptor.digest));
    for diff_id in &image.diff_ids {
        let found = target.find_by_diff_id(diff_id).unwrap().unwrap();
        assert!(target.contains(&found.blob));
    }
    let recorded = &target.images().unwrap()[0];
    assert!(target.contains(&recorded.manifest.digest));
}
