//! Writing into a file directly ([`FileOutput`]): blobs that their source verified copied file to
//! file, layers inflated in one pass with their tar header written afterwards. The archives must
//! be the very bytes of the streamed ones, and every check must still hold.

use std::fs;
use std::io::{Seek, Write};
use std::path::PathBuf;

use crate::common::{Stored, TestImage, dir_entries};
use imgpull_archive::{
    ArchiveError, ArchiveReader, AtomicFile, Blob, BlobSource, DockerArchiveOptions,
    DockerArchiveWriter, FileOutput, MemorySource, OciArchiveWriter, OciLayoutWriter,
};
use imgpull_reference::{Descriptor, Digest, media_types};

/// Blobs kept as files and served as verified, as the blob cache serves them; optionally
/// announcing another size than the file has for one blob (a source that lies).
struct VerifiedFiles {
    dir: tempfile::TempDir,
    announced: Option<(Digest, u64)>,
    /// Blobs the source says are still arriving (not ready), though it serves them.
    arriving: Vec<Digest>,
}

impl VerifiedFiles {
    fn of(images: &[&TestImage]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for image in images {
            let blobs = [image.config.clone(), image.manifest.clone()]
                .into_iter()
                .chain(image.layers.iter().map(|l| l.stored.clone()));
            for blob in blobs {
                fs::write(dir.path().join(Digest::sha256(&blob).hex()), blob).unwrap();
            }
        }
        Self {
            dir,
            announced: None,
            arriving: Vec::new(),
        }
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.path().join(digest.hex())
    }
}

impl BlobSource for VerifiedFiles {
    fn open(&self, digest: &Digest) -> std::io::Result<Option<Blob<'_>>> {
        let Ok(file) = fs::File::open(self.path(digest)) else {
            return Ok(None);
        };
        let size = match &self.announced {
            Some((lied, size)) if lied == digest => *size,
            _ => file.metadata()?.len(),
        };
        Ok(Some(Blob::verified_file(file, size)))
    }

    fn is_ready(&self, digest: &Digest) -> bool {
        !self.arriving.contains(digest)
    }
}

fn memory_source(images: &[&TestImage]) -> MemorySource {
    let mut source = MemorySource::new();
    for image in images {
        image.add_to(&mut source);
    }
    source
}

fn images() -> Vec<TestImage> {
    vec![
        TestImage::simple("gzip", "linux/amd64", Stored::Gzip, true),
        TestImage::simple("zstd", "linux/arm64", Stored::Zstd, false),
        TestImage::simple("plain", "linux/amd64", Stored::Plain, false),
    ]
}

/// The docker archive of `images` streamed into memory from blobs the writer hashes.
fn streamed(images: &[&TestImage], options: DockerArchiveOptions) -> Vec<u8> {
    let source = memory_source(images);
    let mut writer = DockerArchiveWriter::new(Vec::new(), options);
    for (i, image) in images.iter().enumerate() {
        writer
            .add_image(&image.archive_image(&[&format!("img:{i}")]), &source)
            .unwrap();
    }
    writer.finish().unwrap()
}

#[test]
fn archives_written_into_a_file_are_the_streamed_bytes() {
    let images = images();
    let images: Vec<&TestImage> = images.iter().collect();
    let source = VerifiedFiles::of(&images);
    for uncompressed_layers in [false, true] {
        let options = DockerArchiveOptions {
            uncompressed_layers,
        };
        let out = tempfile::tempdir().unwrap();
        let dest = out.path().join("out.tar");
        let mut writer = DockerArchiveWriter::for_file(AtomicFile::create(&dest).unwrap(), options);
        for (i, image) in images.iter().enumerate() {
            writer
                .add_image(&image.archive_image(&[&format!("img:{i}")]), &source)
                .unwrap();
        }
        writer.finish().unwrap().commit().unwrap();
        assert_eq!(
            fs::read(&dest).unwrap(),
            streamed(&images, options),
            "uncompressed layers: {uncompressed_layers}"
        );
        ArchiveReader::open(&dest).unwrap().verify().unwrap();
    }

    // The OCI archive too.
    let memory = memory_source(&images);
    let mut streamed = OciArchiveWriter::new(Vec::new());
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("oci.tar");
    let mut direct = OciArchiveWriter::for_file(fs::File::create(&dest).unwrap());
    for image in &images {
        streamed
            .add_image(&image.archive_image(&["oci:1"]), &memory)
            .unwrap();
        direct
            .add_image(&image.archive_image(&["oci:1"]), &source)
            .unwrap();
    }
    direct.finish().unwrap().sync_all().unwrap();
    assert_eq!(fs::read(&dest).unwrap(), streamed.finish().unwrap());
}

#[test]
fn layers_still_arriving_are_written_after_the_entries_that_follow_them() {
    let images = images();
    let images: Vec<&TestImage> = images.iter().collect();
    let mut source = VerifiedFiles::of(&images);
    // The first layer of each image, and the second of the first image, are still on their way.
    source.arriving = images
        .iter()
        .map(|image| image.layers[0].descriptor.digest.clone())
        .chain([images[0].layers[1].descriptor.digest.clone()])
        .collect();
    let options = DockerArchiveOptions::default();
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("out.tar");
    let mut writer = DockerArchiveWriter::for_file(AtomicFile::create(&dest).unwrap(), options);
    for (i, image) in images.iter().enumerate() {
        writer
            .add_image(&image.archive_image(&[&format!("img:{i}")]), &source)
            .unwrap();
    }
    writer.finish().unwrap().commit().unwrap();
    assert_eq!(fs::read(&dest).unwrap(), streamed(&images, options));
    ArchiveReader::open(&dest).unwrap().verify().unwrap();
}

#[test]
fn a_layer_that_never_arrives_fails_the_archive_it_was_reserved_in() {
    let image = TestImage::simple("never", "linux/amd64", Stored::Gzip, false);
    let mut source = VerifiedFiles::of(&[&image]);
    let layer = image.layers[0].descriptor.digest.clone();
    fs::remove_file(source.path(&layer)).unwrap();
    source.arriving = vec![layer.clone()];
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("out.tar");
    let mut writer = DockerArchiveWriter::for_file(
        AtomicFile::create(&dest).unwrap(),
        DockerArchiveOptions::default(),
    );
    let err = writer
        .add_image(&image.archive_image(&["never:1"]), &source)
        .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::MissingBlob { digest } if *digest == layer),
        "{err}"
    );
    assert!(
        writer.finish().is_err(),
        "an archive with a hole never ends"
    );
    assert!(dir_entries(out.path()).is_empty());
}

#[test]
fn a_verified_blob_of_another_size_is_refused_and_leaves_no_file() {
    let image = TestImage::simple("size", "linux/amd64", Stored::Gzip, false);
    let layer = image.layers[1].descriptor.clone();
    let mut longer = image.layers[1].stored.clone();
    longer.extend_from_slice(b"more");
    let stored = &image.layers[1].stored;
    let shorter = stored[..stored.len() - 1].to_vec();
    // (file content, size the source announces)
    let cases = [
        (longer.clone(), longer.len() as u64),
        (longer, layer.size),
        (shorter.clone(), layer.size),
        (shorter.clone(), shorter.len() as u64),
    ];
    for (content, announced) in cases {
        for uncompressed_layers in [false, true] {
            let mut source = VerifiedFiles::of(&[&image]);
            fs::write(source.path(&layer.digest), &content).unwrap();
            source.announced = Some((layer.digest.clone(), announced));
            let options = DockerArchiveOptions {
                uncompressed_layers,
            };
            let out = tempfile::tempdir().unwrap();
            let dest = out.path().join("out.tar");
            let mut writer =
                DockerArchiveWriter::for_file(AtomicFile::create(&dest).unwrap(), options);
            let err = writer
                .add_image(&image.archive_image(&["s:1"]), &source)
                .unwrap_err();
            let case = format!(
                "{} bytes announced as {announced}, uncompressed layers: {uncompressed_layers}",
                content.len()
            );
            // Inflating, the gzip decoder may find the stream cut or followed by junk first.
            let decoder_first = uncompressed_layers;
            assert!(
                matches!(&err, ArchiveError::SizeMismatch { digest, .. } if *digest == layer.digest)
                    || (decoder_first
                        && matches!(&err, ArchiveError::Decompress { layer: l, .. } if *l == layer.digest)),
                "{case}: {err}"
            );
            assert!(err.is_integrity(), "{case}");
            drop(writer);
            assert!(dir_entries(out.path()).is_empty(), "{case}");

            // Streamed (no file to copy into), the verified blob is copied through the buffer
            // with the same checks.
            let mut writer = DockerArchiveWriter::new(Vec::new(), options);
            let err = writer
                .add_image(&image.archive_image(&["s:1"]), &source)
                .unwrap_err();
            assert!(err.is_integrity(), "{case}: {err}");
        }
    }
}

/// `image` with the diff_id of its last layer replaced by another digest in its config.
fn with_wrong_last_diff_id(image: &TestImage) -> TestImage {
    let mut config: serde_json::Value = serde_json::from_slice(&image.config).unwrap();
    let ids = config["rootfs"]["diff_ids"].as_array_mut().unwrap();
    *ids.last_mut().unwrap() = Digest::sha256(b"not this layer").to_string().into();
    let config = serde_json::to_vec(&config).unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&image.manifest).unwrap();
    manifest["config"] = serde_json::to_value(Descriptor::new(
        media_types::OCI_IMAGE_CONFIG,
        Digest::sha256(&config),
        config.len() as u64,
    ))
    .unwrap();
    TestImage {
        layers: image.layers.clone(),
        config,
        manifest: serde_json::to_vec(&manifest).unwrap(),
        manifest_type: image.manifest_type,
        platform: image.platform.clone(),
    }
}

#[test]
fn a_layer_inflated_in_one_pass_that_fails_its_diff_id_leaves_no_output() {
    let good = TestImage::simple("good", "linux/amd64", Stored::Gzip, false);
    let bad = with_wrong_last_diff_id(&TestImage::simple(
        "bad",
        "linux/amd64",
        Stored::Gzip,
        false,
    ));
    let other = TestImage::simple("other", "linux/amd64", Stored::Gzip, false);
    let source = VerifiedFiles::of(&[&good, &bad, &other]);
    let options = DockerArchiveOptions {
        uncompressed_layers: true,
    };
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("out.tar");
    fs::write(&dest, b"previous output").unwrap();
    let mut writer = DockerArchiveWriter::for_file(AtomicFile::create(&dest).unwrap(), options);
    writer
        .add_image(&good.archive_image(&["good:1"]), &source)
        .unwrap();
    let err = writer
        .add_image(&bad.archive_image(&["bad:1"]), &source)
        .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::DiffIdMismatch { layer, .. } if *layer == bad.layers[1].descriptor.digest),
        "{err}"
    );
    // The writer refuses to go on, even with an image that is fine.
    assert!(
        writer
            .add_image(&other.archive_image(&["other:1"]), &source)
            .is_err()
    );
    assert!(writer.finish().is_err());
    assert_eq!(dir_entries(out.path()), ["out.tar"]);
    assert_eq!(fs::read(&dest).unwrap(), b"previous output");
}

#[test]
fn a_layout_directory_copies_verified_blobs_it_cannot_link() {
    let image = TestImage::simple("copy", "linux/amd64", Stored::Gzip, false);
    // No `path`: the layout writer copies each blob file to file.
    let source = VerifiedFiles::of(&[&image]);
    let out = tempfile::tempdir().unwrap();
    let dest = out.path().join("layout");
    let mut writer = OciLayoutWriter::create(&dest).unwrap();
    writer
        .add_image(&image.archive_image(&["copy:1"]), &source)
        .unwrap();
    writer.finish().unwrap();
    for layer in &image.layers {
        let copy = dest
            .join("blobs/sha256")
            .join(layer.descriptor.digest.hex());
        assert_eq!(fs::read(copy).unwrap(), layer.stored);
    }
    ArchiveReader::open(&dest).unwrap().verify().unwrap();

    // A lying size fails there too, and the layout never appears.
    let mut lying = VerifiedFiles::of(&[&image]);
    let layer = &image.layers[1].descriptor;
    lying.announced = Some((layer.digest.clone(), layer.size));
    fs::write(lying.path(&layer.digest), b"short").unwrap();
    let dest = out.path().join("lying");
    let mut writer = OciLayoutWriter::create(&dest).unwrap();
    let err = writer
        .add_image(&image.archive_image(&["copy:1"]), &lying)
        .unwrap_err();
    assert!(matches!(err, ArchiveError::SizeMismatch { .. }), "{err}");
    drop(writer);
    assert_eq!(dir_entries(out.path()), ["layout"]);
}

#[test]
fn an_atomic_file_goes_on_where_direct_writes_ended() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let mut file = AtomicFile::create(&dest).unwrap();
    file.write_all(b"buffered ").unwrap();
    let direct = file.file().unwrap().unwrap();
    direct.write_all(b"direct ").unwrap();
    file.write_all(b"buffered again").unwrap();
    file.commit().unwrap();
    assert_eq!(fs::read(&dest).unwrap(), b"buffered direct buffered again");
}

#[test]
fn a_large_atomic_file_is_whole_after_its_background_flushes() {
    // More than the write-behind step, written in pieces with pauses so that the helper thread
    // flushes while the file grows.
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("large");
    let mut file = AtomicFile::create(&dest).unwrap();
    let chunk: Vec<u8> = (0..1_u32 << 20).map(|i| (i % 251) as u8).collect();
    let mut expected = imgpull_reference::Algorithm::Sha256.hasher();
    for i in 0..80_u8 {
        let mut piece = chunk.clone();
        piece[0] = i;
        file.write_all(&piece).unwrap();
        expected.update(&piece);
        if i % 16 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
    }
    file.commit().unwrap();
    assert_eq!(fs::metadata(&dest).unwrap().len(), 80 << 20);
    assert_eq!(Digest::sha256(&fs::read(&dest).unwrap()), expected.finish());
}

#[test]
fn a_plain_file_is_a_file_output_at_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    let mut file = fs::File::create(&path).unwrap();
    file.write_all(b"head ").unwrap();
    let direct = FileOutput::file(&mut file).unwrap().unwrap();
    assert_eq!(direct.stream_position().unwrap(), 5);
    direct.write_all(b"direct ").unwrap();
    file.write_all(b"tail").unwrap();
    drop(file);
    assert_eq!(fs::read(&path).unwrap(), b"head direct tail");
}
