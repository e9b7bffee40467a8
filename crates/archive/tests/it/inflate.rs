//! Layers written decompressed, whose diff_id is hashed on a second thread while the layer is
//! inflated and written: large layers (many of the pipeline's buffers) must come out whole with
//! their diff_id checked, into a file (one pass) and into a stream (a measuring pass, then a
//! writing one), and a bad layer must still fail, without leaving an output or a hung thread.

use std::fs;

use crate::common::{Layer, Stored, TestImage, dir_entries, gzip, member, tar_of, zstd};
use imgpull_archive::{
    ArchiveError, ArchiveReader, AtomicFile, DockerArchiveOptions, DockerArchiveWriter,
    MemorySource,
};
use imgpull_reference::{Descriptor, Digest, media_types};

const UNCOMPRESSED: DockerArchiveOptions = DockerArchiveOptions {
    uncompressed_layers: true,
};

/// A tar of about `len` bytes of content that compresses only partly, from `seed`.
fn large_tar(seed: u32, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let content: Vec<u8> = (0..len)
        .map(|i| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            // Half the bytes from a generator, half a repeating pattern.
            if i % 2 == 0 {
                state.to_le_bytes()[3]
            } else {
                u8::try_from(i % 61).unwrap()
            }
        })
        .collect();
    tar_of(&[("data/blob.bin", &content), ("data/tail.txt", b"end\n")])
}

/// A layer whose blob is `stored` (compressed as `how`) and whose config diff_id is the digest
/// of `tar`, which need not be what `stored` decompresses to.
fn layer_of(tar: Vec<u8>, stored: Vec<u8>, how: Stored) -> Layer {
    let media_type = match how {
        Stored::Gzip => media_types::OCI_LAYER_TAR_GZIP,
        Stored::Zstd => media_types::OCI_LAYER_TAR_ZSTD,
        Stored::Plain => media_types::OCI_LAYER_TAR,
    };
    let descriptor = Descriptor::new(media_type, Digest::sha256(&stored), stored.len() as u64);
    Layer {
        tar,
        stored,
        descriptor,
    }
}

fn compress(how: Stored, tar: &[u8]) -> Vec<u8> {
    match how {
        Stored::Gzip => gzip(tar),
        Stored::Zstd => zstd(tar),
        Stored::Plain => tar.to_vec(),
    }
}

fn source_of(image: &TestImage) -> MemorySource {
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    source
}

/// The docker archive of `image` with its layers decompressed, streamed into memory.
fn streamed(image: &TestImage, source: &MemorySource) -> Result<Vec<u8>, ArchiveError> {
    let mut writer = DockerArchiveWriter::new(Vec::new(), UNCOMPRESSED);
    writer.add_image(&image.archive_image(&["big:1"]), source)?;
    writer.finish()
}

/// The docker archive of `image` with its layers decompressed, written into the file `dest`;
/// on an error the writer is dropped (abandoning the file) before the error is returned.
fn into_file(
    image: &TestImage,
    source: &MemorySource,
    dest: &std::path::Path,
) -> Result<(), ArchiveError> {
    let mut writer = DockerArchiveWriter::for_file(AtomicFile::create(dest).unwrap(), UNCOMPRESSED);
    writer.add_image(&image.archive_image(&["big:1"]), source)?;
    writer.finish()?.commit().unwrap();
    Ok(())
}

#[test]
fn a_large_layer_is_written_whole_with_its_diff_id_in_one_pass_and_in_two() {
    for how in [Stored::Gzip, Stored::Zstd] {
        // About 2.5 MiB: ten of the pipeline's buffers, and not a whole number of them.
        let tar = large_tar(1, (5 << 19) + 777);
        let big = layer_of(tar.clone(), compress(how, &tar), how);
        let small = Layer::new(&[("etc/hostname", b"big\n")], how, false);
        let image = TestImage::new("linux/amd64", vec![big, small], false);
        let source = source_of(&image);

        let archive = streamed(&image, &source).unwrap();
        for layer in &image.layers {
            let name = format!("blobs/sha256/{}", layer.diff_id().hex());
            assert!(member(&archive, &name) == layer.tar, "{how:?}: {name}");
        }

        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("big.tar");
        into_file(&image, &source, &dest).unwrap();
        assert!(fs::read(&dest).unwrap() == archive, "{how:?}");
        ArchiveReader::open(&dest).unwrap().verify().unwrap();
    }
}

#[test]
fn a_large_layer_with_another_diff_id_is_refused_and_its_output_abandoned() {
    for how in [Stored::Gzip, Stored::Zstd] {
        let tar = large_tar(2, 3 << 20);
        let claimed = large_tar(3, 3 << 20);
        let bad = layer_of(claimed, compress(how, &tar), how);
        let digest = bad.descriptor.digest.clone();
        let image = TestImage::new("linux/amd64", vec![bad], false);
        let source = source_of(&image);
        let refused = |err: &ArchiveError| {
            matches!(err, ArchiveError::DiffIdMismatch { layer, actual, .. }
                if *layer == digest && *actual == Digest::sha256(&tar))
        };

        let err = streamed(&image, &source).unwrap_err();
        assert!(refused(&err), "{how:?}: {err}");

        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("big.tar");
        fs::write(&dest, b"previous output").unwrap();
        let err = into_file(&image, &source, &dest).unwrap_err();
        assert!(refused(&err), "{how:?}: {err}");
        assert!(err.is_integrity());
        assert_eq!(dir_entries(dir.path()), ["big.tar"]);
        assert_eq!(fs::read(&dest).unwrap(), b"previous output");
    }
}

#[test]
fn a_layer_that_cannot_be_decompressed_midway_fails_without_an_output() {
    for how in [Stored::Gzip, Stored::Zstd] {
        let tar = large_tar(4, 3 << 20);
        let compressed = compress(how, &tar);
        // Cut in the middle: megabytes inflate before the decoder finds the stream short.
        let cut = compressed[..compressed.len() / 2].to_vec();
        let layer = layer_of(tar, cut, how);
        let digest = layer.descriptor.digest.clone();
        let image = TestImage::new("linux/amd64", vec![layer], false);
        let source = source_of(&image);
        let undecodable = |err: &ArchiveError| matches!(err, ArchiveError::Decompress { layer, .. } if *layer == digest);

        let err = streamed(&image, &source).unwrap_err();
        assert!(undecodable(&err), "{how:?}: {err}");

        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("big.tar");
        let err = into_file(&image, &source, &dest).unwrap_err();
        assert!(undecodable(&err), "{how:?}: {err}");
        assert!(dir_entries(dir.path()).is_empty(), "{how:?}");
    }
}
