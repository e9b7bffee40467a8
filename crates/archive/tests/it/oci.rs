//! The OCI layout and OCI archive writers, read back with the crate's reader.

use std::fs;
use std::path::Path;

use crate::common::{Layer, Stored, TestImage, dir_entries, index_of, member, write_oci_layout};
use imgpull_archive::{
    ArchiveError, ArchiveFormat, ArchiveReader, Blob, BlobSource, Compression, Durability,
    LayerForm, MemorySource, Note, OciArchiveWriter, OciLayoutWriter,
};
use imgpull_reference::{Digest, media_types};
use serde_json::Value;

fn check_images(reader: &ArchiveReader, expected: &[&TestImage]) {
    reader.verify().unwrap();
    assert_eq!(reader.images().len(), expected.len());
    for (image, test) in reader.images().iter().zip(expected) {
        assert_eq!(
            image.manifest.as_ref().unwrap().digest,
            test.manifest_digest()
        );
        assert_eq!(image.config.digest, test.config_digest());
        for (layer, t) in image.layers.iter().zip(&test.layers) {
            assert_eq!(layer.descriptor, t.descriptor);
            assert_eq!(layer.diff_id.as_ref(), Some(&t.diff_id()));
        }
    }
}

#[test]
fn an_oci_layout_round_trips() {
    let a = TestImage::simple("a", "linux/amd64", Stored::Gzip, false);
    let z = TestImage::new(
        "linux/amd64",
        vec![Layer::new(&[("z", b"zstd")], Stored::Zstd, false)],
        false,
    );
    let mut source = MemorySource::new();
    a.add_to(&mut source);
    z.add_to(&mut source);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layout");
    let mut writer = OciLayoutWriter::create(&dest).unwrap();
    assert!(!dest.exists(), "the layout appears only when finished");
    writer
        .add_image(&a.archive_image(&["example.com/a:1"]), &source)
        .unwrap();
    let written = writer.add_image(&z.archive_image(&[]), &source).unwrap();
    assert_eq!(
        written.layers[0].form,
        LayerForm::AsStored,
        "OCI outputs keep zstd"
    );
    assert_eq!(writer.finish().unwrap(), dest);

    let reader = ArchiveReader::open(&dest).unwrap();
    assert_eq!(reader.format(), ArchiveFormat::OciLayout);
    check_images(&reader, &[&a, &z]);
    assert_eq!(reader.images()[0].names, ["example.com/a:1"]);
    assert_eq!(reader.images()[1].layers[0].compression, Compression::Zstd);
    assert_eq!(
        fs::read(dest.join("oci-layout")).unwrap(),
        br#"{"imageLayoutVersion":"1.0.0"}"#
    );
    let index: Value = serde_json::from_slice(&fs::read(dest.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
        "1"
    );
    assert_eq!(index["manifests"][0]["platform"]["architecture"], "amd64");
    // No temporary directory is left beside the layout.
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["layout"]);
}

#[test]
fn an_oci_archive_round_trips_deterministically() {
    let a = TestImage::simple("a", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    a.add_to(&mut source);
    let write = || {
        let mut writer = OciArchiveWriter::new(Vec::new());
        writer
            .add_image(&a.archive_image(&["a:1"]), &source)
            .unwrap();
        writer.finish().unwrap()
    };
    let tar = write();
    assert_eq!(tar, write());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.tar");
    fs::write(&path, &tar).unwrap();
    let reader = ArchiveReader::open(&path).unwrap();
    assert_eq!(reader.format(), ArchiveFormat::OciArchive);
    check_images(&reader, &[&a]);
    assert_eq!(
        member(&tar, &format!("blobs/sha256/{}", a.manifest_digest().hex())),
        a.manifest
    );
}

#[test]
fn docker_manifests_are_converted_for_oci_outputs() {
    let docker = TestImage::simple("docker", "linux/amd64", Stored::Gzip, true);
    let mut source = MemorySource::new();
    docker.add_to(&mut source);
    let mut writer = OciArchiveWriter::new(Vec::new());
    let written = writer
        .add_image(&docker.archive_image(&["d:1"]), &source)
        .unwrap();
    let tar = writer.finish().unwrap();
    assert_eq!(written.manifest.media_type, media_types::OCI_IMAGE_MANIFEST);
    assert_eq!(written.config.media_type, media_types::OCI_IMAGE_CONFIG);
    assert_eq!(written.image_id(), &docker.config_digest());
    assert_eq!(
        written.notes,
        [Note::ConvertedToOci {
            manifest: docker.manifest_digest(),
            converted: written.manifest.digest.clone(),
        }]
    );
    let manifest: Value = serde_json::from_slice(&member(
        &tar,
        &format!("blobs/sha256/{}", written.manifest.digest.hex()),
    ))
    .unwrap();
    assert_eq!(manifest["mediaType"], media_types::OCI_IMAGE_MANIFEST);
    assert_eq!(
        manifest["config"]["mediaType"],
        media_types::OCI_IMAGE_CONFIG
    );
    assert_eq!(
        manifest["config"]["digest"],
        docker.config_digest().to_string()
    );
    for (entry, layer) in manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&docker.layers)
    {
        assert_eq!(entry["mediaType"], media_types::OCI_LAYER_TAR_GZIP);
        assert_eq!(entry["digest"], layer.descriptor.digest.to_string());
        assert_eq!(entry["size"], layer.descriptor.size);
    }
    let index: Value = serde_json::from_slice(&member(&tar, "index.json")).unwrap();
    assert_eq!(
        index["manifests"][0]["mediaType"],
        media_types::OCI_IMAGE_MANIFEST
    );
    assert_eq!(
        index["manifests"][0]["digest"],
        written.manifest.digest.to_string()
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.tar");
    fs::write(&path, &tar).unwrap();
    let reader = ArchiveReader::open(&path).unwrap();
    reader.verify().unwrap();
    let read = &reader.images()[0];
    assert_eq!(read.config.digest, docker.config_digest());
    assert_eq!(
        read.manifest.as_ref().unwrap().digest,
        written.manifest.digest
    );

    // A Docker manifest list becomes an OCI index of converted manifests.
    let arm = TestImage::simple("docker-arm", "linux/arm/v7", Stored::Gzip, true);
    arm.add_to(&mut source);
    let list = crate::common::list_of(&[&docker, &arm], media_types::DOCKER_MANIFEST_LIST);
    let image = arm
        .archive_image(&["d:2"])
        .with_index(list, media_types::DOCKER_MANIFEST_LIST);
    let mut writer = OciArchiveWriter::new(Vec::new());
    let written = writer.add_image(&image, &source).unwrap();
    let tar = writer.finish().unwrap();
    assert_eq!(written.top.media_type, media_types::OCI_IMAGE_INDEX);
    let top: Value = serde_json::from_slice(&member(
        &tar,
        &format!("blobs/sha256/{}", written.top.digest.hex()),
    ))
    .unwrap();
    assert_eq!(top["mediaType"], media_types::OCI_IMAGE_INDEX);
    let children = top["manifests"].as_array().unwrap();
    assert!(
        children
            .iter()
            .all(|c| c["mediaType"] == media_types::OCI_IMAGE_MANIFEST)
    );
    assert_eq!(children[1]["digest"], written.manifest.digest.to_string());
    assert_eq!(children[1]["platform"]["architecture"], "arm");
    fs::write(&path, &tar).unwrap();
    let reader = ArchiveReader::open(&path).unwrap();
    reader.verify().unwrap();
    assert_eq!(reader.images().len(), 2);
}

#[test]
fn every_platform_of_an_index_is_kept() {
    let amd = TestImage::simple("amd", "linux/amd64", Stored::Gzip, false);
    let arm = TestImage::simple("arm", "linux/arm/v7", Stored::Gzip, false);
    let index = index_of(&[&amd, &arm]);
    let mut source = MemorySource::new();
    amd.add_to(&mut source);
    arm.add_to(&mut source);
    let image = arm
        .archive_image(&["example.com/multi:2"])
        .with_index(index.clone(), media_types::OCI_IMAGE_INDEX);

    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("all");
    let mut writer = OciLayoutWriter::create(&dest).unwrap();
    let written = writer.add_image(&image, &source).unwrap();
    writer.finish().unwrap();
    assert_eq!(written.top.digest, Digest::sha256(&index));
    assert_eq!(written.top.media_type, media_types::OCI_IMAGE_INDEX);
    assert_eq!(written.manifest.digest, arm.manifest_digest());

    let reader = ArchiveReader::open(&dest).unwrap();
    check_images(&reader, &[&amd, &arm]);
    let platforms: Vec<String> = reader
        .images()
        .iter()
        .map(|i| i.platform.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm/v7"]);
    assert!(
        reader
            .images()
            .iter()
            .all(|i| i.names == ["example.com/multi:2"])
    );
    assert_eq!(
        fs::read(dest.join(format!("blobs/sha256/{}", Digest::sha256(&index).hex()))).unwrap(),
        index
    );

    // A manifest missing from the source fails the whole index.
    source.remove(&amd.manifest_digest());
    let mut writer = OciArchiveWriter::new(Vec::new());
    let err = writer.add_image(&image, &source).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::MissingBlob { digest } if *digest == amd.manifest_digest()),
        "{err}"
    );
}

#[test]
fn an_artifact_listed_in_an_index_is_kept_with_its_blobs() {
    let image = TestImage::simple("signed", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let (config, payload) = (b"{}".to_vec(), b"a signature".to_vec());
    let config_digest = source.insert(config.clone());
    let payload_digest = source.insert(payload.clone());
    let artifact = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.example.signature.v1+json",
        "config": { "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": config_digest.to_string(), "size": config.len() },
        "blobs": [{ "mediaType": "text/plain",
                    "digest": payload_digest.to_string(), "size": payload.len() }],
    }))
    .unwrap();
    let artifact_digest = source.insert(artifact.clone());
    let mut index: Value = serde_json::from_slice(&index_of(&[&image])).unwrap();
    index["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.example.signature.v1+json",
            "digest": artifact_digest.to_string(),
            "size": artifact.len(),
        }));
    let index = serde_json::to_vec(&index).unwrap();
    let archive_image = image
        .archive_image(&["example.com/signed:1"])
        .with_index(index, media_types::OCI_IMAGE_INDEX);

    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layout");
    let mut writer = OciLayoutWriter::create(&dest).unwrap();
    writer.add_image(&archive_image, &source).unwrap();
    writer.finish().unwrap();
    for (digest, bytes) in [
        (&artifact_digest, &artifact),
        (&config_digest, &config),
        (&payload_digest, &payload),
    ] {
        let path = dest.join(format!("blobs/sha256/{}", digest.hex()));
        assert_eq!(&fs::read(path).unwrap(), bytes, "{digest}");
    }

    // An artifact's blob missing from the source fails the index, as a manifest would.
    source.remove(&payload_digest);
    let mut writer = OciArchiveWriter::new(Vec::new());
    let err = writer.add_image(&archive_image, &source).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::MissingBlob { digest } if *digest == payload_digest),
        "{err}"
    );
}

#[test]
fn an_index_with_an_uncompressed_copy_is_rewritten() {
    let amd = TestImage::simple("amd", "linux/amd64", Stored::Gzip, false);
    let arm = TestImage::simple("arm", "linux/arm/v7", Stored::Gzip, false);
    let index = index_of(&[&amd, &arm]);
    let mut source = MemorySource::new();
    amd.add_to(&mut source);
    arm.add_to(&mut source);
    source.remove(&amd.layers[1].descriptor.digest);
    source.insert(amd.layers[1].tar.clone());
    let image = amd
        .archive_image(&["m:1"])
        .with_index(index.clone(), media_types::OCI_IMAGE_INDEX);
    let mut writer = OciArchiveWriter::new(Vec::new());
    let written = writer.add_image(&image, &source).unwrap();
    let tar = writer.finish().unwrap();
    assert_ne!(written.top.digest, Digest::sha256(&index));
    assert_ne!(written.manifest.digest, amd.manifest_digest());
    assert_eq!(written.layers[1].form, LayerForm::UncompressedCopy);
    let rewritten: Value = serde_json::from_slice(&member(
        &tar,
        &format!("blobs/sha256/{}", written.top.digest.hex()),
    ))
    .unwrap();
    assert_eq!(
        rewritten["manifests"][0]["digest"],
        written.manifest.digest.to_string()
    );
    assert_eq!(
        rewritten["manifests"][1]["digest"],
        arm.manifest_digest().to_string()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tar");
    fs::write(&path, &tar).unwrap();
    let reader = ArchiveReader::open(&path).unwrap();
    reader.verify().unwrap();
    assert_eq!(
        reader.images()[0].layers[1].descriptor.digest,
        amd.layers[1].diff_id()
    );
    assert_eq!(
        reader.images()[0].layers[1].descriptor.media_type,
        media_types::OCI_LAYER_TAR
    );
}

/// A source that keeps blobs as files, so that the layout writer can hard-link them.
struct DirSource(std::path::PathBuf);

impl BlobSource for DirSource {
    fn open(&self, digest: &Digest) -> std::io::Result<Option<Blob<'_>>> {
        let path = self.0.join(digest.hex());
        match fs::File::open(&path) {
            Ok(file) => {
                let size = file.metadata()?.len();
                Ok(Some(Blob::new(file, size)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn path(&self, digest: &Digest) -> Option<std::path::PathBuf> {
        let path = self.0.join(digest.hex());
        path.exists().then_some(path)
    }
}

#[cfg(unix)]
#[test]
fn layout_blobs_are_hard_linked_from_a_file_source() {
    use std::os::unix::fs::MetadataExt;

    let a = TestImage::simple("link", "linux/amd64", Stored::Gzip, false);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    fs::create_dir(&store).unwrap();
    let mut blobs = vec![a.config.clone(), a.manifest.clone()];
    blobs.extend(a.layers.iter().map(|l| l.stored.clone()));
    for blob in blobs {
        fs::write(store.join(Digest::sha256(&blob).hex()), blob).unwrap();
    }
    let dest = dir.path().join("out");
    let mut writer = OciLayoutWriter::create(&dest).unwrap();
    writer
        .add_image(&a.archive_image(&["l:1"]), &DirSource(store.clone()))
        .unwrap();
    writer.finish().unwrap();
    let layer = &a.layers[1].descriptor.digest;
    let linked = fs::metadata(dest.join(format!("blobs/sha256/{}", layer.hex()))).unwrap();
    let original = fs::metadata(store.join(layer.hex())).unwrap();
    assert_eq!(linked.ino(), original.ino());
    ArchiveReader::open(&dest).unwrap().verify().unwrap();
}

#[test]
fn a_layout_is_not_written_over_existing_content() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("file"), b"x").unwrap();
    assert!(matches!(
        OciLayoutWriter::create(dir.path()),
        Err(ArchiveError::OutputExists { .. })
    ));
    assert!(matches!(
        OciLayoutWriter::create(dir.path().join("file")),
        Err(ArchiveError::OutputExists { .. })
    ));
    // An empty directory is replaced.
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    OciLayoutWriter::create(&empty).unwrap().finish().unwrap();
    assert!(empty.join("index.json").is_file());
}

#[test]
fn a_replacing_writer_swaps_the_old_layout_for_the_new_only_when_finished() {
    let old = TestImage::simple("old", "linux/amd64", Stored::Gzip, false);
    let new = TestImage::simple("new", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    old.add_to(&mut source);
    new.add_to(&mut source);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layout");
    write_oci_layout(&old, "example.com/old:1", &dest);

    let mut writer = OciLayoutWriter::create_replacing(&dest, Durability::Synced).unwrap();
    writer
        .add_image(&new.archive_image(&["example.com/new:1"]), &source)
        .unwrap();
    check_images(&ArchiveReader::open(&dest).unwrap(), &[&old]);
    writer.finish().unwrap();

    check_images(&ArchiveReader::open(&dest).unwrap(), &[&new]);
    assert_eq!(
        dir_entries(dir.path()),
        ["layout"],
        "the old layout is removed"
    );
    // Without asking to replace, an existing layout is refused.
    assert!(matches!(
        OciLayoutWriter::create(&dest),
        Err(ArchiveError::OutputExists { .. })
    ));
}

#[test]
fn a_replacing_writer_dropped_or_failing_leaves_the_old_layout() {
    let old = TestImage::simple("kept", "linux/amd64", Stored::Gzip, false);
    let new = TestImage::simple("broken", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    old.add_to(&mut source);
    new.add_to(&mut source);
    source.insert_as(
        new.layers[1].descriptor.digest.clone(),
        b"not the layer".to_vec(),
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layout");
    write_oci_layout(&old, "example.com/old:1", &dest);
    let index = fs::read(dest.join("index.json")).unwrap();

    // Dropped before finishing (Ctrl+C, a download error).
    let writer = OciLayoutWriter::create_replacing(&dest, Durability::Synced).unwrap();
    drop(writer);
    // Failing on a corrupt blob.
    let mut writer = OciLayoutWriter::create_replacing(&dest, Durability::Unsynced).unwrap();
    let err = writer
        .add_image(&new.archive_image(&[]), &source)
        .unwrap_err();
    assert!(err.is_integrity(), "{err}");
    drop(writer);

    assert_eq!(dir_entries(dir.path()), ["layout"]);
    assert_eq!(fs::read(dest.join("index.json")).unwrap(), index);
    check_images(&ArchiveReader::open(&dest).unwrap(), &[&old]);
}

/// A writer replacing the layout at `dest` with one of `new`, its image added.
fn replacing(dest: &Path, new: &TestImage) -> OciLayoutWriter {
    let mut source = MemorySource::new();
    new.add_to(&mut source);
    let mut writer = OciLayoutWriter::create_replacing(dest, Durability::Unsynced).unwrap();
    writer
        .add_image(&new.archive_image(&["example.com/new:1"]), &source)
        .unwrap();
    writer
}

#[cfg(unix)]
#[test]
fn a_replaced_layout_that_cannot_be_removed_stays_hidden_and_the_output_succeeds() {
    use std::os::unix::fs::PermissionsExt as _;

    let old = TestImage::simple("stuck", "linux/amd64", Stored::Gzip, false);
    let new = TestImage::simple("fresh", "linux/amd64", Stored::Gzip, false);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layout");
    write_oci_layout(&old, "example.com/old:1", &dest);
    let writer = replacing(&dest, &new);
    // A directory of the old layout whose files cannot be unlinked (not for root, who may).
    let locked = dest.join("blobs/sha256");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
    let enforced = fs::write(locked.join("probe"), b"").is_err();

    assert_eq!(writer.finish().unwrap(), dest);

    check_images(&ArchiveReader::open(&dest).unwrap(), &[&new]);
    let entries = dir_entries(dir.path());
    if enforced {
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert!(
            entries[0].starts_with(".imgpull-replaced-layout-"),
            "{entries:?}"
        );
        let aside = dir.path().join(&entries[0]);
        fs::set_permissions(
            aside.join("blobs/sha256"),
            fs::Permissions::from_mode(0o755),
        )
        .unwrap();
    } else {
        assert_eq!(entries, ["layout"]);
    }
}

#[cfg(unix)]
#[test]
fn a_link_to_a_layout_has_the_layout_it_links_to_replaced_and_stays_a_link() {
    let old = TestImage::simple("linked", "linux/amd64", Stored::Gzip, false);
    let new = TestImage::simple("relinked", "linux/amd64", Stored::Gzip, false);
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    fs::create_dir(&store).unwrap();
    let target = store.join("layout");
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();

    write_oci_layout(&old, "example.com/old:1", &target);
    let writer = replacing(&link, &new);
    assert_eq!(writer.finish().unwrap(), link);

    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs::read_link(&link).unwrap(), target);
    check_images(&ArchiveReader::open(&target).unwrap(), &[&new]);
    assert_eq!(dir_entries(&store), ["layout"], "the old layout is removed");
    assert_eq!(dir_entries(dir.path()), ["link", "store"]);

    // A link to an empty directory is written through too; a link to nothing is refused.
    let empty = store.join("empty");
    fs::create_dir(&empty).unwrap();
    let to_empty = dir.path().join("to-empty");
    std::os::unix::fs::symlink(&empty, &to_empty).unwrap();
    OciLayoutWriter::create(&to_empty)
        .unwrap()
        .finish()
        .unwrap();
    assert!(empty.join("index.json").is_file());
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(store.join("missing"), &dangling).unwrap();
    assert!(matches!(
        OciLayoutWriter::create_replacing(&dangling, Durability::Unsynced),
        Err(ArchiveError::OutputExists { .. })
    ));
}

#[test]
fn a_replacing_writer_never_replaces_a_directory_that_is_not_a_layout() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("keep.txt"), b"mine").unwrap();
    assert!(matches!(
        OciLayoutWriter::create_replacing(dir.path(), Durability::Synced),
        Err(ArchiveError::OutputExists { .. })
    ));
    assert_eq!(fs::read(dir.path().join("keep.txt")).unwrap(), b"mine");
}

#[test]
fn an_abandoned_layout_leaves_nothing() {
    let a = TestImage::simple("gone", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    a.add_to(&mut source);
    source.insert_as(
        a.layers[1].descriptor.digest.clone(),
        b"not the layer".to_vec(),
    );
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("layout");
    let mut writer = OciLayoutWriter::create(&dest).unwrap();
    let err = writer
        .add_image(&a.archive_image(&[]), &source)
        .unwrap_err();
    assert!(err.is_integrity(), "{err}");
    drop(writer);
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        0,
        "{:?}",
        Path::new(&dest)
    );
}

#[test]
fn an_image_with_several_tags_is_one_image_with_several_names() {
    let a = TestImage::simple("tags", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    a.add_to(&mut source);
    let mut writer = OciArchiveWriter::new(Vec::new());
    writer
        .add_image(
            &a.archive_image(&["example.com/a:1", "example.com/a:latest"]),
            &source,
        )
        .unwrap();
    let tar = writer.finish().unwrap();
    let index: Value = serde_json::from_slice(&member(&tar, "index.json")).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tags.tar");
    fs::write(&path, &tar).unwrap();
    let reader = ArchiveReader::open(&path).unwrap();
    assert_eq!(reader.images().len(), 1);
    assert_eq!(
        reader.images()[0].names,
        ["example.com/a:1", "example.com/a:latest"]
    );
}

#[test]
fn a_corrupt_blob_of_a_layout_read_back_is_copied_and_refused_never_linked() {
    let a = TestImage::simple("relink", "linux/amd64", Stored::Gzip, false);
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    write_oci_layout(&a, "r:1", &first);
    // Same size, other bytes: opening does not read layers, so the reader serves it as is.
    let layer = &a.layers[1].descriptor.digest;
    let path = first.join(format!("blobs/sha256/{}", layer.hex()));
    let mut bytes = fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::remove_file(&path).unwrap();
    fs::write(&path, &bytes).unwrap();
    let reader = ArchiveReader::open(&first).unwrap();

    let second = dir.path().join("second");
    let mut writer = OciLayoutWriter::create(&second).unwrap();
    let err = writer
        .add_image(&a.archive_image(&["r:1"]), &reader)
        .unwrap_err();
    assert!(err.is_integrity(), "{err}");
    assert!(err.to_string().contains(&layer.to_string()), "{err}");
    drop(writer);
    assert!(!second.exists());
}

#[test]
fn an_index_listing_one_child_index_many_times_is_written_once() {
    let image = TestImage::simple("fan", "linux/amd64", Stored::Gzip, false);
    let other = TestImage::simple("other", "linux/arm64/v8", Stored::Gzip, false);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    other.add_to(&mut source);
    // Three levels of indexes, each listing its child 300 times: a walk that revisits indexes
    // writes the innermost one 27 million times.
    let mut child = index_of(&[&image, &other]);
    source.insert(child.clone());
    for _ in 0..2 {
        let entry = imgpull_reference::Descriptor::new(
            media_types::OCI_IMAGE_INDEX,
            Digest::sha256(&child),
            child.len() as u64,
        );
        child = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_IMAGE_INDEX,
            "manifests": vec![entry; 300],
        }))
        .unwrap();
        source.insert(child.clone());
    }
    let top = imgpull_reference::Descriptor::new(
        media_types::OCI_IMAGE_INDEX,
        Digest::sha256(&child),
        child.len() as u64,
    );
    let top = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_types::OCI_IMAGE_INDEX,
        "manifests": vec![top; 300],
    }))
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("fan");
    let mut writer = OciLayoutWriter::create(&dest).unwrap();
    // Two images of the same index: each walk finds its own manifest.
    for (test, tag) in [(&image, "fan:1"), (&other, "fan:2")] {
        let written = writer
            .add_image(
                &test
                    .archive_image(&[tag])
                    .with_index(top.clone(), media_types::OCI_IMAGE_INDEX),
                &source,
            )
            .unwrap();
        assert_eq!(written.top.digest, Digest::sha256(&top));
        assert_eq!(written.manifest.digest, test.manifest_digest());
    }
    writer.finish().unwrap();
    let reader = ArchiveReader::open(&dest).unwrap();
    check_images(&reader, &[&image, &other]);
    assert_eq!(
        reader.images()[0].names,
        ["docker.io/library/fan:1", "docker.io/library/fan:2"]
    );
}
