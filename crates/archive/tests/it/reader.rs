//! The reader: legacy docker-save tars, compressed archives, and malicious tars refused.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::common::{Layer, Stored, TestImage, gzip, tar_of, write_oci_layout};
use imgpull_archive::{
    ArchiveError, ArchiveReader, BlobSource, Compression, DockerArchiveOptions,
    DockerArchiveWriter, GzipWriter, MemorySource,
};
use imgpull_reference::{Digest, media_types};
use serde_json::json;
use tar::EntryType;

/// One raw tar member: a name written byte for byte (no checks), a type, a link target, data.
struct Raw<'a> {
    name: &'a str,
    kind: EntryType,
    link: &'a str,
    data: &'a [u8],
}

fn file<'a>(name: &'a str, data: &'a [u8]) -> Raw<'a> {
    Raw {
        name,
        kind: EntryType::Regular,
        link: "",
        data,
    }
}

fn symlink<'a>(name: &'a str, link: &'a str) -> Raw<'a> {
    Raw {
        name,
        kind: EntryType::Symlink,
        link,
        data: b"",
    }
}

/// A tar with names written verbatim, as a malicious producer would.
fn raw_tar(members: &[Raw<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in members {
        let mut header = tar::Header::new_old();
        let old = header.as_old_mut();
        old.name[..m.name.len()].copy_from_slice(m.name.as_bytes());
        old.linkname[..m.link.len()].copy_from_slice(m.link.as_bytes());
        header.set_entry_type(m.kind);
        header.set_size(m.data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(m.data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn unsafe_member_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "parent",
            vec![file("manifest.json", b"[]"), file("../evil", b"x")],
            "../evil",
        ),
        (
            "nested-parent",
            vec![file("blobs/../../evil", b"x")],
            "blobs/../../evil",
        ),
        (
            "absolute",
            vec![file("/etc/passwd", b"x"), file("manifest.json", b"[]")],
            "/etc/passwd",
        ),
        (
            "symlink-escape",
            vec![symlink("blobs/sha256/x", "../../../etc/passwd")],
            "blobs/sha256/x",
        ),
        (
            "symlink-absolute",
            vec![symlink("layer.tar", "/etc/shadow")],
            "layer.tar",
        ),
        (
            "hardlink-escape",
            vec![Raw {
                name: "a",
                kind: EntryType::Link,
                link: "../b",
                data: b"",
            }],
            "a",
        ),
        (
            "device",
            vec![Raw {
                name: "dev",
                kind: EntryType::Char,
                link: "",
                data: b"",
            }],
            "dev",
        ),
        (
            "duplicate",
            vec![file("manifest.json", b"[]"), file("./manifest.json", b"[]")],
            "./manifest.json",
        ),
    ];
    for (case, members, bad) in cases {
        let path = save(dir.path(), &format!("{case}.tar"), &raw_tar(&members));
        match ArchiveReader::open(&path) {
            Err(ArchiveError::UnsafeMember { member, .. }) => assert_eq!(member, bad, "{case}"),
            other => panic!("{case}: expected an unsafe member error, got {other:?}"),
        }
    }
    // Only the test's own files are in the directory: nothing was extracted anywhere.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 8);
}

#[test]
fn a_manifest_pointing_outside_the_archive_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = br#"[{"Config":"../config.json","RepoTags":[],"Layers":[]}]"#;
    let path = save(
        dir.path(),
        "m.tar",
        &raw_tar(&[file("manifest.json", manifest)]),
    );
    let err = ArchiveReader::open(&path).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::UnsafeMember { member, .. } if member == "../config.json"),
        "{err}"
    );
}

#[test]
fn a_legacy_docker_save_tar_is_read_and_verified() {
    let plain = Layer::new(&[("etc/os-release", b"ID=legacy\n")], Stored::Plain, true);
    let compressed = Layer::new(&[("app/bin", &[1; 2000])], Stored::Gzip, true);
    let image = TestImage::new(
        "linux/amd64",
        vec![plain.clone(), compressed.clone(), plain.clone()],
        true,
    );
    let config_name = format!("{}.json", image.config_digest().hex());
    let (id1, id2, id3) = ("1".repeat(64), "2".repeat(64), "3".repeat(64));
    let manifest = serde_json::to_vec(&json!([{
        "Config": config_name,
        "RepoTags": ["legacy:1"],
        "Layers": [format!("{id1}/layer.tar"), format!("{id2}/layer.tar"), format!("./{id3}/layer.tar")],
    }]))
    .unwrap();
    let repositories = format!(r#"{{"legacy":{{"1":"{id3}"}}}}"#);
    let (l1, l2, l3) = (
        format!("{id1}/layer.tar"),
        format!("{id2}/layer.tar"),
        format!("{id3}/layer.tar"),
    );
    let link = format!("../{id1}/layer.tar");
    let tar = raw_tar(&[
        file(&l1, &plain.stored),
        file(&l2, &compressed.stored),
        symlink(&l3, &link),
        file(&config_name, &image.config),
        file("repositories", repositories.as_bytes()),
        file("manifest.json", &manifest),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = save(dir.path(), "legacy.tar", &tar);
    let reader = ArchiveReader::open(&path).unwrap();
    let report = reader.verify().unwrap();
    assert_eq!(
        report.layers, 2,
        "the symlinked duplicate is the same member as the first layer"
    );
    let read = &reader.images()[0];
    assert_eq!(read.names, ["legacy:1"]);
    assert_eq!(read.config.digest, image.config_digest());
    assert!(read.manifest.is_none());
    let layers = &read.layers;
    assert_eq!(layers[0].descriptor.digest, plain.diff_id());
    assert_eq!(layers[1].descriptor.digest, compressed.descriptor.digest);
    assert_eq!(layers[1].compression, Compression::Gzip);
    assert_eq!(layers[2].member, l3);
    // Every blob can be streamed by digest, as the cache import does.
    for digest in [
        plain.diff_id(),
        compressed.descriptor.digest.clone(),
        image.config_digest(),
    ] {
        let mut blob = reader.open(&digest).unwrap().expect("blob present");
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut blob, &mut content).unwrap();
        assert_eq!(Digest::sha256(&content), digest);
    }
}

#[test]
fn a_corrupt_layer_fails_verification() {
    let layer = Layer::new(&[("f", b"content")], Stored::Plain, true);
    let image = TestImage::new("linux/amd64", vec![layer.clone()], true);
    let config_name = format!("{}.json", image.config_digest().hex());
    let manifest = serde_json::to_vec(
        &json!([{"Config": config_name, "RepoTags": null, "Layers": ["l/layer.tar"]}]),
    )
    .unwrap();
    let other = tar_of(&[("f", b"CONTENT")]);
    let tar = raw_tar(&[
        file("l/layer.tar", &other),
        file(&config_name, &image.config),
        file("manifest.json", &manifest),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let reader = ArchiveReader::open(save(dir.path(), "bad.tar", &tar)).unwrap();
    assert!(reader.images()[0].names.is_empty());
    let err = reader.verify().unwrap_err();
    assert!(err.is_integrity(), "{err}");

    // A gzip layer truncated in the middle is a decompression error.
    let gz = Layer::new(&[("f", &[9; 5000])], Stored::Gzip, true);
    let image = TestImage::new("linux/amd64", vec![gz.clone()], true);
    let config_name = format!("{}.json", image.config_digest().hex());
    let manifest =
        serde_json::to_vec(&json!([{"Config": config_name, "Layers": ["l/layer.tar"]}])).unwrap();
    let truncated = &gz.stored[..gz.stored.len() / 2];
    let tar = raw_tar(&[
        file("l/layer.tar", truncated),
        file(&config_name, &image.config),
        file("manifest.json", &manifest),
    ]);
    let reader = ArchiveReader::open(save(dir.path(), "truncated.tar", &tar)).unwrap();
    let err = reader.verify().unwrap_err();
    assert!(matches!(err, ArchiveError::Decompress { .. }), "{err}");
    assert!(err.is_integrity());
}

#[test]
fn a_config_named_by_another_digest_is_refused() {
    let image = TestImage::simple("c", "linux/amd64", Stored::Gzip, true);
    let wrong = Digest::sha256(b"other");
    let name = format!("blobs/sha256/{}", wrong.hex());
    let manifest =
        serde_json::to_vec(&json!([{"Config": name, "RepoTags": [], "Layers": []}])).unwrap();
    let tar = raw_tar(&[file(&name, &image.config), file("manifest.json", &manifest)]);
    let dir = tempfile::tempdir().unwrap();
    let err = ArchiveReader::open(save(dir.path(), "c.tar", &tar)).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::DigestMismatch { expected, .. } if *expected == wrong),
        "{err}"
    );
}

#[test]
fn a_gzip_compressed_archive_is_read() {
    let image = TestImage::simple("gz", "linux/amd64", Stored::Gzip, true);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let mut writer =
        DockerArchiveWriter::new(GzipWriter::new(Vec::new()), DockerArchiveOptions::default());
    writer
        .add_image(&image.archive_image(&["gz:1"]), &source)
        .unwrap();
    let compressed = writer.finish().unwrap().finish().unwrap();
    assert_eq!(&compressed[..2], [0x1f, 0x8b]);
    let dir = tempfile::tempdir().unwrap();
    let reader = ArchiveReader::open(save(dir.path(), "a.tar.gz", &compressed)).unwrap();
    reader.verify().unwrap();
    assert_eq!(reader.images()[0].names, ["gz:1"]);
}

#[test]
fn something_else_is_not_an_archive() {
    let dir = tempfile::tempdir().unwrap();
    let path = save(
        dir.path(),
        "empty.tar",
        &raw_tar(&[file("hello.txt", b"hi")]),
    );
    assert!(matches!(
        ArchiveReader::open(&path),
        Err(ArchiveError::NotAnArchive { .. })
    ));
    let path = save(
        dir.path(),
        "gz.tar",
        &gzip(b"not a tar at all, just text that is long enough"),
    );
    let err = ArchiveReader::open(&path).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Tar { path: p, .. } if *p == path),
        "{err}"
    );
    let junk = dir.path().join("junk");
    let mut f = fs::File::create(&junk).unwrap();
    f.write_all(&[0xAB; 700]).unwrap();
    let err = ArchiveReader::open(&junk).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Tar { path: p, .. } if *p == junk),
        "{err}"
    );
}

#[test]
fn a_truncated_archive_is_an_error_never_a_panic() {
    let image = TestImage::simple("cut", "linux/amd64", Stored::Gzip, true);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let mut writer = DockerArchiveWriter::new(Vec::new(), DockerArchiveOptions::default());
    writer
        .add_image(&image.archive_image(&["cut:1"]), &source)
        .unwrap();
    let tar = writer.finish().unwrap();
    // The archive is complete with at least one of its two final zero blocks: cut at a member
    // boundary before that (where what remains is a valid OCI layout), it is truncated.
    let complete = tar.len() - 512;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.tar");
    let mut cuts: Vec<usize> = (0..tar.len()).step_by(512).collect();
    cuts.extend((0..tar.len()).step_by(997));
    for cut in cuts {
        fs::write(&path, &tar[..cut]).unwrap();
        let verified = ArchiveReader::open(&path).and_then(|reader| {
            reader.verify()?;
            Ok(reader.images().to_vec())
        });
        if let Ok(images) = verified {
            assert!(
                cut >= complete,
                "an archive cut at {cut} of {} was accepted",
                tar.len()
            );
            assert_eq!(images[0].config.digest, image.config_digest());
        }
    }
}

/// Writes `blob` into the layout at `root` and returns its descriptor.
fn layout_blob(root: &Path, media_type: &str, blob: &[u8]) -> imgpull_reference::Descriptor {
    let digest = Digest::sha256(blob);
    fs::write(root.join("blobs/sha256").join(digest.hex()), blob).unwrap();
    imgpull_reference::Descriptor::new(media_type, digest, blob.len() as u64)
}

#[test]
fn an_index_listing_one_child_index_many_times_is_walked_once() {
    use imgpull_reference::media_types::OCI_IMAGE_INDEX;

    let image = TestImage::simple("fan", "linux/amd64", Stored::Gzip, false);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("blobs/sha256")).unwrap();
    fs::write(
        root.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    layout_blob(root, "application/octet-stream", &image.config);
    for layer in &image.layers {
        layout_blob(root, "application/octet-stream", &layer.stored);
    }
    let manifest = layout_blob(root, image.manifest_type, &image.manifest);
    // Three levels of indexes, each listing its child 300 times: a walk that revisits indexes
    // reads the innermost one 27 million times.
    let mut child = manifest;
    for _ in 0..3 {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_INDEX,
            "manifests": vec![&child; 300],
        });
        child = layout_blob(root, OCI_IMAGE_INDEX, &serde_json::to_vec(&index).unwrap());
    }
    let mut top = child;
    top.annotations
        .insert("org.opencontainers.image.ref.name".into(), "fan:1".into());
    let index_json = json!({"schemaVersion": 2, "manifests": [top]});
    fs::write(
        root.join("index.json"),
        serde_json::to_vec(&index_json).unwrap(),
    )
    .unwrap();

    let reader = ArchiveReader::open(root).unwrap();
    assert_eq!(reader.images().len(), 1);
    assert_eq!(reader.images()[0].names, ["fan:1"]);
    assert_eq!(reader.images()[0].config.digest, image.config_digest());
    reader.verify().unwrap();
}

#[test]
fn a_sha512_blob_of_a_layout_is_verified_with_sha512() {
    use imgpull_reference::Algorithm;

    let image = TestImage::simple("sha512", "linux/amd64", Stored::Gzip, false);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("layout");
    write_oci_layout(&image, "s:1", &root);
    let extra = b"an artifact blob named by its SHA-512";
    let sha512 = Digest::compute(Algorithm::Sha512, extra);
    fs::create_dir_all(root.join("blobs/sha512")).unwrap();
    fs::write(root.join("blobs/sha512").join(sha512.hex()), extra).unwrap();

    let reader = ArchiveReader::open(&root).unwrap();
    let report = reader.verify().unwrap();
    assert_eq!(
        report.blobs, 5,
        "config, manifest, two layers, the extra blob"
    );

    fs::write(root.join("blobs/sha512").join(sha512.hex()), b"tampered").unwrap();
    let err = ArchiveReader::open(&root).unwrap().verify().unwrap_err();
    assert!(err.is_integrity(), "{err}");
    assert!(err.to_string().contains(&sha512.to_string()), "{err}");
}

#[test]
fn a_manifest_listing_one_large_config_many_times_is_refused() {
    let config = serde_json::to_vec(&json!({
        "rootfs": {"type": "layers", "diff_ids": []},
        "padding": "x".repeat(2 << 20),
    }))
    .unwrap();
    let entries = |count: usize| {
        serde_json::to_vec(&vec![
            json!({"Config": "c.json", "RepoTags": [], "Layers": []});
            count
        ])
        .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let modest = entries(20);
    let path = save(
        dir.path(),
        "modest.tar",
        &raw_tar(&[file("c.json", &config), file("manifest.json", &modest)]),
    );
    assert_eq!(ArchiveReader::open(&path).unwrap().images().len(), 20);

    let many = entries(40);
    let path = save(
        dir.path(),
        "many.tar",
        &raw_tar(&[file("c.json", &config), file("manifest.json", &many)]),
    );
    let err = ArchiveReader::open(&path).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::InvalidDocument { what, reason } if what == "c.json" && reason.contains("in all")),
        "{err}"
    );
}

#[test]
fn an_artifact_has_no_diff_ids_but_an_image_config_must_list_one_per_layer() {
    use imgpull_archive::OciLayoutWriter;
    use imgpull_reference::media_types::{OCI_EMPTY, OCI_IMAGE_MANIFEST};

    let layout = |config: &[u8], config_type: &str, layers: &[&[u8]]| {
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_IMAGE_MANIFEST,
            "config": imgpull_reference::Descriptor::new(config_type, Digest::sha256(config), config.len() as u64),
            "layers": layers
                .iter()
                .map(|l| imgpull_reference::Descriptor::new("application/vnd.example.data", Digest::sha256(l), l.len() as u64))
                .collect::<Vec<_>>(),
        }))
        .unwrap();
        let mut source = MemorySource::new();
        source.insert(config.to_vec());
        for layer in layers {
            source.insert(layer.to_vec());
        }
        (
            imgpull_archive::ArchiveImage::new(manifest, OCI_IMAGE_MANIFEST),
            source,
        )
    };
    let dir = tempfile::tempdir().unwrap();

    let (artifact, source) = layout(b"{}", OCI_EMPTY, &[b"chart bytes"]);
    let dest = dir.path().join("artifact");
    let mut writer = OciLayoutWriter::create(&dest).unwrap();
    writer.add_image(&artifact, &source).unwrap();
    writer.finish().unwrap();
    let reader = ArchiveReader::open(&dest).unwrap();
    assert_eq!(reader.images()[0].layers[0].diff_id, None);
    assert_eq!(reader.verify().unwrap().layers, 0);

    // One diff_id for two layers: refused by the writer and by the reader.
    let config = serde_json::to_vec(&json!({
        "rootfs": {"type": "layers", "diff_ids": [Digest::sha256(b"one")]},
    }))
    .unwrap();
    let (image, source) = layout(&config, media_types::OCI_IMAGE_CONFIG, &[b"one", b"two"]);
    let err = OciLayoutWriter::create(dir.path().join("bad"))
        .unwrap()
        .add_image(&image, &source)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("rootfs.diff_ids lists 1 layers, the manifest 2"),
        "{err}"
    );
    let manifest_path = dest
        .join("blobs/sha256")
        .join(Digest::sha256(&image.manifest).hex());
    fs::write(&manifest_path, &image.manifest).unwrap();
    fs::write(
        dest.join("blobs/sha256")
            .join(Digest::sha256(&config).hex()),
        &config,
    )
    .unwrap();
    for layer in [&b"one"[..], b"two"] {
        fs::write(
            dest.join("blobs/sha256").join(Digest::sha256(layer).hex()),
            layer,
        )
        .unwrap();
    }
    let index = json!({"schemaVersion": 2, "manifests": [image.manifest_descriptor]});
    fs::write(dest.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let err = ArchiveReader::open(&dest).unwrap_err();
    assert!(
        err.to_string()
            .contains("rootfs.diff_ids lists 1 layers, the manifest 2"),
        "{err}"
    );
}
