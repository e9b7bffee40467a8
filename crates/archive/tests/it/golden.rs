//! Golden files: the exact bytes of `manifest.json`, `index.json` and `repositories`.
//!
//! Run with `IMGPULL_UPDATE_GOLDEN=1` to rewrite the files after an intended change, and review
//! the diff.

use std::path::PathBuf;

use crate::common::{Layer, Stored, TestImage, member};
use imgpull_archive::{DockerArchiveOptions, DockerArchiveWriter, MemorySource, OciArchiveWriter};

fn golden(name: &str, actual: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("IMGPULL_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        String::from_utf8_lossy(actual),
        String::from_utf8_lossy(&expected),
        "{name} differs from its golden file"
    );
}

/// Two images sharing a base layer: a Docker schema 2 image with two tags, and an untagged
/// OCI image.
fn images() -> (MemorySource, TestImage, TestImage) {
    let base = Layer::new(&[("etc/os-release", b"ID=golden\n")], Stored::Gzip, true);
    let web = TestImage::new(
        "linux/amd64",
        vec![
            base.clone(),
            Layer::new(&[("srv/index.html", b"<p>hi</p>")], Stored::Gzip, true),
        ],
        true,
    );
    let base_oci = Layer::new(&[("etc/os-release", b"ID=golden\n")], Stored::Gzip, false);
    let tool = TestImage::new(
        "linux/arm64/v8",
        vec![
            base_oci,
            Layer::new(&[("bin/tool", b"#!/bin/sh\n")], Stored::Gzip, false),
        ],
        false,
    );
    let mut source = MemorySource::new();
    web.add_to(&mut source);
    tool.add_to(&mut source);
    (source, web, tool)
}

fn docker_archive(options: DockerArchiveOptions) -> Vec<u8> {
    let (source, web, tool) = images();
    let mut writer = DockerArchiveWriter::new(Vec::new(), options);
    writer
        .add_image(
            &web.archive_image(&["web:1.0", "ghcr.io/example/web:stable"]),
            &source,
        )
        .unwrap();
    writer.add_image(&tool.archive_image(&[]), &source).unwrap();
    writer.finish().unwrap()
}

#[test]
fn docker_archive_documents_match_their_golden_files() {
    let tar = docker_archive(DockerArchiveOptions::default());
    assert_eq!(
        tar,
        docker_archive(DockerArchiveOptions::default()),
        "byte-identical twice"
    );
    golden("docker-manifest.json", &member(&tar, "manifest.json"));
    golden("docker-index.json", &member(&tar, "index.json"));
    golden("docker-repositories.json", &member(&tar, "repositories"));
    golden("oci-layout", &member(&tar, "oci-layout"));
}

#[test]
fn uncompressed_docker_archive_documents_match_their_golden_files() {
    let options = DockerArchiveOptions {
        uncompressed_layers: true,
    };
    let tar = docker_archive(options);
    assert_eq!(tar, docker_archive(options), "byte-identical twice");
    golden(
        "docker-uncompressed-manifest.json",
        &member(&tar, "manifest.json"),
    );
    golden(
        "docker-uncompressed-index.json",
        &member(&tar, "index.json"),
    );
}

#[test]
fn oci_index_matches_its_golden_file() {
    let (source, web, tool) = images();
    let mut writer = OciArchiveWriter::new(Vec::new());
    writer
        .add_image(&web.archive_image(&["web:1.0"]), &source)
        .unwrap();
    writer
        .add_image(&tool.archive_image(&["example.com/tool:2"]), &source)
        .unwrap();
    let tar = writer.finish().unwrap();
    golden("oci-index.json", &member(&tar, "index.json"));
}
