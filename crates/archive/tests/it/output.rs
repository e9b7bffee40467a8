//! Outputs that appear complete or not at all.

use std::fs;
use std::io::Write;

use crate::common::{Stored, TestImage, dir_entries};
use imgpull_archive::{
    ArchiveError, ArchiveReader, AtomicFile, DockerArchiveOptions, DockerArchiveWriter, GzipWriter,
    MemorySource,
};

#[test]
fn a_size_mismatch_from_the_source_leaves_no_file() {
    let image = TestImage::simple("size", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let layer = &image.layers[1];
    let mut longer = layer.stored.clone();
    longer.extend_from_slice(b"trailing");
    source.insert_as(layer.descriptor.digest.clone(), longer);

    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.tar");
    fs::write(&dest, b"previous output").unwrap();
    let mut writer = DockerArchiveWriter::new(
        AtomicFile::create(&dest).unwrap(),
        DockerArchiveOptions::default(),
    );
    let err = writer
        .add_image(&image.archive_image(&["s:1"]), &source)
        .unwrap_err();
    assert!(
        matches!(&err, ArchiveError::SizeMismatch { digest, .. } if *digest == layer.descriptor.digest),
        "{err}"
    );
    assert!(err.is_integrity());
    drop(writer);
    // The temporary file is gone and the previous file is untouched.
    assert_eq!(dir_entries(dir.path()), ["out.tar"]);
    assert_eq!(fs::read(&dest).unwrap(), b"previous output");

    // Without a previous file, nothing at all is left.
    fs::remove_file(&dest).unwrap();
    let mut writer = DockerArchiveWriter::new(
        AtomicFile::create(&dest).unwrap(),
        DockerArchiveOptions::default(),
    );
    assert!(
        writer
            .add_image(&image.archive_image(&[]), &source)
            .is_err()
    );
    drop(writer);
    assert!(dir_entries(dir.path()).is_empty());
}

#[test]
fn a_committed_file_replaces_the_destination() {
    let image = TestImage::simple("ok", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.tar.gz");
    fs::write(&dest, b"previous output").unwrap();
    let file = AtomicFile::create(&dest).unwrap();
    assert_eq!(file.dest(), dest);
    let mut writer =
        DockerArchiveWriter::new(GzipWriter::new(file), DockerArchiveOptions::default());
    writer
        .add_image(&image.archive_image(&["ok:1"]), &source)
        .unwrap();
    assert_eq!(
        dir_entries(dir.path()).len(),
        2,
        "the temporary file sits beside the destination"
    );
    let committed = writer.finish().unwrap().finish().unwrap().commit().unwrap();
    assert_eq!(committed, dest);
    assert_eq!(dir_entries(dir.path()), ["out.tar.gz"]);
    ArchiveReader::open(&dest).unwrap().verify().unwrap();
}

#[test]
fn an_uncommitted_file_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x");
    let mut file = AtomicFile::create(&dest).unwrap();
    file.write_all(b"partial").unwrap();
    drop(file);
    assert!(dir_entries(dir.path()).is_empty());
}

/// A source that announces a layer's full size but yields only part of it.
struct Lying<'a> {
    inner: &'a MemorySource,
    layer: imgpull_reference::Digest,
    content: Vec<u8>,
    announced: u64,
}

impl imgpull_archive::BlobSource for Lying<'_> {
    fn open(
        &self,
        digest: &imgpull_reference::Digest,
    ) -> std::io::Result<Option<imgpull_archive::Blob<'_>>> {
        if *digest == self.layer {
            let blob = imgpull_archive::Blob::new(self.content.as_slice(), self.announced);
            return Ok(Some(blob));
        }
        self.inner.open(digest)
    }
}

#[test]
fn a_writer_that_failed_cannot_finish_a_corrupt_archive() {
    let good = TestImage::simple("good", "linux/amd64", Stored::Gzip, false);
    let bad = TestImage::simple("bad", "linux/amd64", Stored::Gzip, false);
    let mut source = MemorySource::new();
    good.add_to(&mut source);
    bad.add_to(&mut source);
    let mut content = bad.layers[1].stored.clone();
    content.truncate(content.len() / 2);
    let lying = Lying {
        inner: &source,
        layer: bad.layers[1].descriptor.digest.clone(),
        content,
        announced: bad.layers[1].descriptor.size,
    };
    // The entry fails half-written.
    let mut writer = DockerArchiveWriter::new(Vec::new(), DockerArchiveOptions::default());
    let err = writer
        .add_image(&bad.archive_image(&[]), &lying)
        .unwrap_err();
    assert!(err.is_integrity(), "{err}");
    let later = writer
        .add_image(&good.archive_image(&[]), &source)
        .unwrap_err();
    assert!(later.to_string().contains("failed earlier"), "{later}");
    let end = writer.finish().unwrap_err();
    assert!(end.to_string().contains("failed earlier"), "{end}");
}

/// An output is an ordinary file for its user and group (0666 less the umask, like `cat > f` or
/// `docker save -o f`), not a private 0600 temporary file. The umask of a test process is
/// unknown, so the check compares with a file created the ordinary way beside it.
#[cfg(unix)]
#[test]
fn the_output_gets_the_mode_of_an_ordinary_new_file() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out.tar");
    let mut output = AtomicFile::create(&dest).unwrap();
    output.write_all(b"bytes").unwrap();
    output.commit().unwrap();
    let ordinary = dir.path().join("ordinary");
    fs::write(&ordinary, b"bytes").unwrap();
    let mode = |path: &std::path::Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dest), mode(&ordinary));
    assert_ne!(
        mode(&dest),
        0o600,
        "the umask here would hide the difference"
    );
}
