//! The docker archive writer, read back with the crate's reader.

use std::path::{Path, PathBuf};

use crate::common::{Layer, Stored, TestImage, member, members};
use imgpull_archive::{
    ArchiveError, ArchiveFormat, ArchiveImage, ArchiveReader, BlobSource, Compression,
    DockerArchiveOptions, DockerArchiveWriter, LayerForm, MemorySource, Note, WrittenImage,
};
use imgpull_reference::{Digest, Reference, media_types};
use serde_json::Value;

fn write(
    images: &[ArchiveImage],
    source: &dyn BlobSource,
    options: DockerArchiveOptions,
) -> Result<(Vec<u8>, Vec<WrittenImage>), ArchiveError> {
    let mut writer = DockerArchiveWriter::new(Vec::new(), options);
    let written = images
        .iter()
        .map(|image| writer.add_image(image, source))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((writer.finish()?, written))
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

/// Reads the archive back, verifies it and checks that image `i` has `image`'s config and
/// diff_ids.
fn read_back(dir: &Path, tar: &[u8], expected: &[&TestImage]) -> ArchiveReader {
    let path = save(dir, "read-back.tar", tar);
    let reader = ArchiveReader::open(&path).unwrap();
    assert_eq!(reader.format(), ArchiveFormat::DockerArchive);
    let report = reader.verify().unwrap();
    assert_eq!(reader.images().len(), expected.len());
    for (image, test) in reader.images().iter().zip(expected) {
        assert_eq!(image.config.digest, test.config_digest());
        assert_eq!(image.config_bytes, test.config);
        let diff_ids: Vec<_> = image
            .layers
            .iter()
            .map(|l| l.diff_id.clone().unwrap())
            .collect();
        let expected_ids: Vec<_> = test.layers.iter().map(Layer::diff_id).collect();
        assert_eq!(diff_ids, expected_ids);
    }
    assert!(report.layers >= expected.iter().map(|t| t.layers.len()).max().unwrap_or(0));
    reader
}

#[test]
fn gzip_layers_are_written_as_stored_and_read_back() {
    let image = TestImage::simple("one", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let (tar, written) = write(
        &[image.archive_image(&["nginx:1.25"])],
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reader = read_back(dir.path(), &tar, &[&image]);

    let read = &reader.images()[0];
    assert_eq!(read.names, ["nginx:1.25"]);
    assert_eq!(
        read.manifest.as_ref().unwrap().digest,
        image.manifest_digest()
    );
    for (layer, test) in read.layers.iter().zip(&image.layers) {
        assert_eq!(layer.descriptor.digest, test.descriptor.digest);
        assert_eq!(layer.compression, Compression::Gzip);
        assert_eq!(layer.descriptor.media_type, media_types::OCI_LAYER_TAR_GZIP);
    }
    assert_eq!(written[0].image_id(), &image.config_digest());
    assert_eq!(written[0].manifest.digest, image.manifest_digest());
    assert!(written[0].notes.is_empty());

    let manifest = json(&member(&tar, "manifest.json"));
    assert_eq!(
        manifest[0]["Config"],
        format!("blobs/sha256/{}", image.config_digest().hex())
    );
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!(["nginx:1.25"]));
    let index = json(&member(&tar, "index.json"));
    let annotations = &index["manifests"][0]["annotations"];
    assert_eq!(
        annotations["io.containerd.image.name"],
        "docker.io/library/nginx:1.25"
    );
    assert_eq!(annotations["org.opencontainers.image.ref.name"], "1.25");
    let repositories = json(&member(&tar, "repositories"));
    assert_eq!(
        repositories["nginx"]["1.25"],
        image.layers[1].descriptor.digest.hex()
    );
}

#[test]
fn members_are_deterministic_and_portable() {
    let image = TestImage::simple("det", "linux/amd64", Stored::Gzip, true);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let tagged = image.archive_image(&["registry.example.com:5000/team/app:v1"]);
    let (first, _) = write(
        std::slice::from_ref(&tagged),
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap();
    let (second, _) = write(&[tagged], &source, DockerArchiveOptions::default()).unwrap();
    assert_eq!(first, second, "the same input must give the same bytes");

    let names: Vec<String> = members(&first).into_iter().map(|(n, _)| n).collect();
    assert!(names.iter().all(|n| !n.contains(':')), "{names:?}");
    let tail: Vec<&str> = names[names.len() - 4..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        tail,
        ["oci-layout", "repositories", "index.json", "manifest.json"]
    );
    let mut archive = tar::Archive::new(first.as_slice());
    for entry in archive.entries().unwrap() {
        let entry = entry.unwrap();
        let header = entry.header();
        assert_eq!(header.mtime().unwrap(), 0);
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
        assert_eq!(header.username().unwrap(), Some(""));
        let mode = header.mode().unwrap();
        assert!(mode == 0o644 || mode == 0o755, "{mode:o}");
    }
    let manifest = json(&member(&first, "manifest.json"));
    assert_eq!(
        manifest[0]["RepoTags"][0],
        "registry.example.com:5000/team/app:v1"
    );
}

#[test]
fn uncompressed_layers_are_inflated_and_the_manifest_rewritten() {
    let image = TestImage::simple("raw", "linux/amd64", Stored::Gzip, true);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let options = DockerArchiveOptions {
        uncompressed_layers: true,
    };
    let (tar, written) = write(&[image.archive_image(&["app:raw"])], &source, options).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let reader = read_back(dir.path(), &tar, &[&image]);

    for (layer, test) in reader.images()[0].layers.iter().zip(&image.layers) {
        assert_eq!(layer.descriptor.digest, test.diff_id());
        assert_eq!(layer.compression, Compression::None);
        assert_eq!(member(&tar, &layer.member), test.tar);
    }
    let written = &written[0];
    assert_eq!(written.image_id(), &image.config_digest());
    assert_ne!(written.manifest.digest, image.manifest_digest());
    assert!(
        written
            .layers
            .iter()
            .all(|l| l.form == LayerForm::Inflated(Compression::Gzip))
    );
    let rewritten = member(
        &tar,
        &format!("blobs/sha256/{}", written.manifest.digest.hex()),
    );
    let rewritten = json(&rewritten);
    assert_eq!(
        rewritten["config"]["digest"],
        image.config_digest().to_string()
    );
    for (entry, test) in rewritten["layers"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&image.layers)
    {
        assert_eq!(entry["mediaType"], imgpull_archive::DOCKER_LAYER_TAR);
        assert_eq!(entry["digest"], test.diff_id().to_string());
        assert_eq!(entry["size"], test.tar.len());
    }
    let index = json(&member(&tar, "index.json"));
    assert_eq!(
        index["manifests"][0]["digest"],
        written.manifest.digest.to_string()
    );
}

#[test]
fn shared_layers_are_written_once() {
    let base = Layer::new(&[("etc/os-release", b"ID=shared\n")], Stored::Gzip, false);
    let a = TestImage::new(
        "linux/amd64",
        vec![
            base.clone(),
            Layer::new(&[("a", b"a")], Stored::Gzip, false),
        ],
        false,
    );
    let b = TestImage::new(
        "linux/amd64",
        vec![
            base.clone(),
            Layer::new(&[("b", b"b")], Stored::Gzip, false),
        ],
        false,
    );
    let mut source = MemorySource::new();
    a.add_to(&mut source);
    b.add_to(&mut source);
    for uncompressed_layers in [false, true] {
        let options = DockerArchiveOptions {
            uncompressed_layers,
        };
        let (tar, _) = write(
            &[
                a.archive_image(&["a:1"]),
                b.archive_image(&["b:1", "b:latest"]),
            ],
            &source,
            options,
        )
        .unwrap();
        let shared = if uncompressed_layers {
            base.diff_id()
        } else {
            base.descriptor.digest.clone()
        };
        let name = format!("blobs/sha256/{}", shared.hex());
        assert_eq!(members(&tar).iter().filter(|(n, _)| *n == name).count(), 1);
        let dir = tempfile::tempdir().unwrap();
        let reader = read_back(dir.path(), &tar, &[&a, &b]);
        assert_eq!(reader.images()[1].names, ["b:1", "b:latest"]);
        let index = json(&member(&tar, "index.json"));
        assert_eq!(index["manifests"].as_array().unwrap().len(), 3);
    }
}

#[test]
fn an_image_pulled_by_digest_loads_untagged() {
    let image = TestImage::simple("untagged", "linux/amd64", Stored::Gzip, true);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let (tar, _) = write(
        &[image.archive_image(&[])],
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap();
    let manifest = json(&member(&tar, "manifest.json"));
    assert_eq!(manifest[0]["RepoTags"], serde_json::json!([]));
    let index = json(&member(&tar, "index.json"));
    assert!(index["manifests"][0].get("annotations").is_none());
    assert!(members(&tar).iter().all(|(n, _)| n != "repositories"));
    let dir = tempfile::tempdir().unwrap();
    let reader = read_back(dir.path(), &tar, &[&image]);
    assert!(reader.images()[0].names.is_empty());

    // A digest is never a RepoTag: a reference by digest alone cannot name the image.
    let by_digest = format!("nginx@{}", image.manifest_digest());
    let err = write(
        &[image.archive_image(&[&by_digest])],
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::InvalidTag { .. }), "{err}");
    // With a tag and a digest, the tag alone is used.
    let both = format!("nginx:1.25@{}", image.manifest_digest());
    let (tar, _) = write(
        &[image.archive_image(&[&both])],
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap();
    assert_eq!(
        json(&member(&tar, "manifest.json"))[0]["RepoTags"],
        serde_json::json!(["nginx:1.25"])
    );
}

#[test]
fn a_missing_compressed_layer_is_served_from_its_uncompressed_copy() {
    let image = TestImage::simple("fallback", "linux/amd64", Stored::Gzip, true);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let missing = &image.layers[1];
    source.remove(&missing.descriptor.digest);
    source.insert(missing.tar.clone());

    let (tar, written) = write(
        &[image.archive_image(&["app:fb"])],
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap();
    let written = &written[0];
    assert_eq!(written.image_id(), &image.config_digest());
    assert_eq!(written.layers[0].form, LayerForm::AsStored);
    assert_eq!(written.layers[1].form, LayerForm::UncompressedCopy);
    assert_eq!(
        written.notes,
        [Note::UncompressedCopy {
            layer: missing.descriptor.digest.clone(),
            diff_id: missing.diff_id()
        }]
    );
    let dir = tempfile::tempdir().unwrap();
    let reader = read_back(dir.path(), &tar, &[&image]);
    let layers = &reader.images()[0].layers;
    assert_eq!(
        layers[0].descriptor.digest,
        image.layers[0].descriptor.digest
    );
    assert_eq!(layers[1].descriptor.digest, missing.diff_id());
    let rewritten = json(&member(
        &tar,
        &format!("blobs/sha256/{}", written.manifest.digest.hex()),
    ));
    assert_eq!(
        rewritten["layers"][0]["digest"],
        image.layers[0].descriptor.digest.to_string()
    );
    assert_eq!(
        rewritten["layers"][1]["digest"],
        missing.diff_id().to_string()
    );
    assert_eq!(
        rewritten["layers"][1]["mediaType"],
        imgpull_archive::DOCKER_LAYER_TAR
    );

    // Neither form in the source: the layer is reported missing by its registry digest.
    source.remove(&missing.diff_id());
    let err = write(
        &[image.archive_image(&[])],
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::MissingBlob { digest } if *digest == missing.descriptor.digest),
        "{err}"
    );
}

#[test]
fn zstd_layers_are_inflated_with_a_note() {
    let image = TestImage::simple("zstd", "linux/amd64", Stored::Zstd, false);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let (tar, written) = write(
        &[image.archive_image(&["z:1"])],
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap();
    assert_eq!(written[0].notes.len(), 2);
    assert!(
        matches!(&written[0].notes[0], Note::ZstdInflated { diff_id, .. } if *diff_id == image.layers[0].diff_id())
    );
    let dir = tempfile::tempdir().unwrap();
    let reader = read_back(dir.path(), &tar, &[&image]);
    assert!(
        reader.images()[0]
            .layers
            .iter()
            .all(|l| l.compression == Compression::None)
    );
}

#[test]
fn a_source_with_a_wrong_size_or_content_is_an_integrity_error() {
    let image = TestImage::simple("corrupt", "linux/amd64", Stored::Gzip, false);
    let layer = &image.layers[1];

    // A blob shorter than its descriptor.
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let mut short = layer.stored.clone();
    short.pop();
    source.insert_as(layer.descriptor.digest.clone(), short);
    let err = write(
        &[image.archive_image(&[])],
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap_err();
    assert!(err.is_integrity(), "{err}");
    assert!(
        matches!(&err, ArchiveError::SizeMismatch { digest, .. } if *digest == layer.descriptor.digest),
        "{err}"
    );

    // A blob of the right size but other bytes, as stored and when inflated.
    let mut flipped = layer.stored.clone();
    let last = flipped.len() - 10;
    flipped[last] ^= 0xff;
    source.insert_as(layer.descriptor.digest.clone(), flipped);
    for uncompressed_layers in [false, true] {
        let options = DockerArchiveOptions {
            uncompressed_layers,
        };
        let err = write(&[image.archive_image(&[])], &source, options).unwrap_err();
        assert!(err.is_integrity(), "{err}");
        assert!(
            err.to_string()
                .contains(&layer.descriptor.digest.to_string()),
            "{err}"
        );
    }

    // A config that does not hash to its digest.
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    source.insert_as(
        image.config_digest(),
        image.config.iter().map(u8::to_ascii_uppercase).collect(),
    );
    let err = write(
        &[image.archive_image(&[])],
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, ArchiveError::DigestMismatch { .. }), "{err}");
}

/// An image of one gzip layer whose config claims `claimed` as its diff_id.
fn image_claiming(claimed: &Digest) -> TestImage {
    let layers = vec![Layer::new(&[("x", b"x")], Stored::Gzip, false)];
    let honest = TestImage::new("linux/amd64", layers, false);
    let mut image = honest.clone();
    image.config = String::from_utf8(honest.config.clone())
        .unwrap()
        .replace(
            &honest.layers[0].diff_id().to_string(),
            &claimed.to_string(),
        )
        .into_bytes();
    image.manifest = String::from_utf8(honest.manifest.clone())
        .unwrap()
        .replace(
            &honest.config_digest().to_string(),
            &image.config_digest().to_string(),
        )
        .into_bytes();
    image
}

#[test]
fn a_layer_whose_diff_id_does_not_match_fails_before_it_is_written() {
    let other = Digest::sha256(b"something else");
    let image = image_claiming(&other);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let mut writer = DockerArchiveWriter::new(
        Vec::new(),
        DockerArchiveOptions {
            uncompressed_layers: true,
        },
    );
    let err = writer
        .add_image(&image.archive_image(&[]), &source)
        .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::DiffIdMismatch { expected, .. } if *expected == other),
        "{err}"
    );
}

#[test]
fn diff_ids_of_layers_written_as_stored_are_checked_on_request() {
    let image = TestImage::simple("check", "linux/amd64", Stored::Gzip, true);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let tagged = [image.archive_image(&["check:1"])];
    let (unchecked_tar, unchecked) =
        write(&tagged, &source, DockerArchiveOptions::default()).unwrap();
    assert!(unchecked[0].layers.iter().all(|l| !l.diff_id_verified));

    let mut writer =
        DockerArchiveWriter::new(Vec::new(), DockerArchiveOptions::default()).verify_diff_ids(true);
    let checked = writer.add_image(&tagged[0], &source).unwrap();
    assert!(
        checked
            .layers
            .iter()
            .all(|l| l.diff_id_verified && l.form == LayerForm::AsStored)
    );
    assert_eq!(
        writer.finish().unwrap(),
        unchecked_tar,
        "the check changes no byte"
    );

    // A layer shared with an image written earlier is known to be checked.
    let mut writer =
        DockerArchiveWriter::new(Vec::new(), DockerArchiveOptions::default()).verify_diff_ids(true);
    writer.add_image(&tagged[0], &source).unwrap();
    let again = writer
        .add_image(&image.archive_image(&["check:2"]), &source)
        .unwrap();
    assert!(again.layers.iter().all(|l| l.diff_id_verified));

    // Written decompressed, layers are always checked.
    let options = DockerArchiveOptions {
        uncompressed_layers: true,
    };
    let (_, inflated) = write(&tagged, &source, options).unwrap();
    assert!(inflated[0].layers.iter().all(|l| l.diff_id_verified));

    // A config lying about a gzip layer is caught while the layer is written as stored.
    let other = Digest::sha256(b"not this layer");
    let lying = image_claiming(&other);
    let mut source = MemorySource::new();
    lying.add_to(&mut source);
    let mut writer =
        DockerArchiveWriter::new(Vec::new(), DockerArchiveOptions::default()).verify_diff_ids(true);
    let err = writer
        .add_image(&lying.archive_image(&[]), &source)
        .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::DiffIdMismatch { expected, .. } if *expected == other),
        "{err}"
    );
    assert!(err.is_integrity());
    // Without the check, the lie goes through to the archive (and `docker load` would fail).
    assert!(
        write(
            &[lying.archive_image(&[])],
            &source,
            DockerArchiveOptions::default()
        )
        .is_ok()
    );
}

#[test]
fn the_archive_reader_is_a_blob_source_for_a_new_archive() {
    let image = TestImage::simple("again", "linux/arm64/v8", Stored::Gzip, false);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let (tar, _) = write(
        &[image.archive_image(&["again:1"])],
        &source,
        DockerArchiveOptions::default(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = save(dir.path(), "a.tar", &tar);
    let reader = ArchiveReader::open(&path).unwrap();
    let (again, _) = write(
        &[image.archive_image(&["again:1"])],
        &reader,
        DockerArchiveOptions::default(),
    )
    .unwrap();
    assert_eq!(again, tar);
}

#[test]
fn an_untagged_reference_gets_latest() {
    let image = TestImage::simple("latest", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let tagged = image
        .archive_image(&[])
        .with_tag(Reference::parse("quay.io/org/tool").unwrap());
    let (tar, _) = write(&[tagged], &source, DockerArchiveOptions::default()).unwrap();
    let manifest = json(&member(&tar, "manifest.json"));
    assert_eq!(
        manifest[0]["RepoTags"],
        serde_json::json!(["quay.io/org/tool:latest"])
    );
    let index = json(&member(&tar, "index.json"));
    assert_eq!(
        index["manifests"][0]["annotations"]["io.containerd.image.name"],
        "quay.io/org/tool:latest"
    );
}

/// A source whose layer changes between the two passes of an inflating write.
struct Changing {
    inner: MemorySource,
    layer: Digest,
    replacement: Vec<u8>,
    opened: std::sync::atomic::AtomicUsize,
}

impl BlobSource for Changing {
    fn open(&self, digest: &Digest) -> std::io::Result<Option<imgpull_archive::Blob<'_>>> {
        if *digest == self.layer
            && self
                .opened
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                > 0
        {
            let size = self.replacement.len() as u64;
            return Ok(Some(imgpull_archive::Blob::new(
                self.replacement.as_slice(),
                size,
            )));
        }
        self.inner.open(digest)
    }
}

#[test]
fn a_layer_that_changes_between_inflate_passes_is_an_error() {
    let image = TestImage::simple("changing", "linux/amd64", Stored::Gzip, false);
    let layer = &image.layers[1];
    let mut inner = MemorySource::new();
    image.add_to(&mut inner);
    // Same size, other content: the second pass must notice.
    let mut replacement = layer.stored.clone();
    let at = replacement.len() / 2;
    replacement[at] ^= 0x55;
    let source = Changing {
        inner,
        layer: layer.descriptor.digest.clone(),
        replacement,
        opened: std::sync::atomic::AtomicUsize::new(0),
    };
    let options = DockerArchiveOptions {
        uncompressed_layers: true,
    };
    let err = write(&[image.archive_image(&[])], &source, options).unwrap_err();
    assert!(err.is_integrity(), "{err}");
    assert_eq!(source.opened.load(std::sync::atomic::Ordering::SeqCst), 2);
}
