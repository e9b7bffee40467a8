//! Images built in memory for the tests: small tar layers, gzip or zstd compressed, configs with
//! diff_ids, manifests and indexes.

use std::io::{Read, Write};

use imgpull_archive::{ArchiveImage, MemorySource};
use imgpull_reference::{Descriptor, Digest, Platform, Reference, media_types};
use serde_json::json;

/// How a test layer is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Plain,
    Gzip,
    Zstd,
}

/// A layer: its uncompressed tar and how it is stored.
#[derive(Debug, Clone)]
pub struct Layer {
    pub tar: Vec<u8>,
    pub stored: Vec<u8>,
    pub descriptor: Descriptor,
}

impl Layer {
    /// A layer holding `files` (name, content), stored as `stored`, described with Docker or OCI
    /// media types.
    pub fn new(files: &[(&str, &[u8])], stored: Stored, docker: bool) -> Self {
        let tar = tar_of(files);
        let (bytes, media_type) = match (stored, docker) {
            (Stored::Plain, true) => (tar.clone(), imgpull_archive::DOCKER_LAYER_TAR),
            (Stored::Plain, false) => (tar.clone(), media_types::OCI_LAYER_TAR),
            (Stored::Gzip, true) => (gzip(&tar), media_types::DOCKER_LAYER_TAR_GZIP),
            (Stored::Gzip, false) => (gzip(&tar), media_types::OCI_LAYER_TAR_GZIP),
            (Stored::Zstd, _) => (zstd(&tar), media_types::OCI_LAYER_TAR_ZSTD),
        };
        let descriptor = Descriptor::new(media_type, Digest::sha256(&bytes), bytes.len() as u64);
        Self {
            tar,
            stored: bytes,
            descriptor,
        }
    }

    pub fn diff_id(&self) -> Digest {
        Digest::sha256(&self.tar)
    }
}

/// A deterministic tar of `files`.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        builder
            .append_data(&mut header, name, *content)
            .expect("tar entry");
    }
    builder.into_inner().expect("tar end")
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip end")
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

/// An image: its layers, config and manifest.
#[derive(Debug, Clone)]
pub struct TestImage {
    pub layers: Vec<Layer>,
    pub config: Vec<u8>,
    pub manifest: Vec<u8>,
    pub manifest_type: &'static str,
    pub platform: Platform,
}

impl TestImage {
    /// An image of `layers` for `platform` (`linux/arm/v7`), with Docker schema 2 or OCI media
    /// types.
    pub fn new(platform: &str, layers: Vec<Layer>, docker: bool) -> Self {
        let platform = Platform::parse(platform).expect("platform");
        let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id().to_string()).collect();
        let mut config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "created": "2024-01-01T00:00:00Z",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": layers.iter().map(|_| json!({"created": "2024-01-01T00:00:00Z", "created_by": "test"})).collect::<Vec<_>>(),
        });
        if let Some(variant) = &platform.variant {
            config["variant"] = json!(variant);
        }
        let config = serde_json::to_vec(&config).expect("config");
        let (manifest_type, config_type) = if docker {
            (
                media_types::DOCKER_MANIFEST_V2,
                media_types::DOCKER_CONTAINER_CONFIG,
            )
        } else {
            (
                media_types::OCI_IMAGE_MANIFEST,
                media_types::OCI_IMAGE_CONFIG,
            )
        };
        let manifest = serde_json::to_vec_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": Descriptor::new(config_type, Digest::sha256(&config), config.len() as u64),
            "layers": layers.iter().map(|l| &l.descriptor).collect::<Vec<_>>(),
        }))
        .expect("manifest");
        Self {
            layers,
            config,
            manifest,
            manifest_type,
            platform,
        }
    }

    /// A one- or two-layer image whose content depends on `seed`.
    pub fn simple(seed: &str, platform: &str, stored: Stored, docker: bool) -> Self {
        let base = Layer::new(&[("etc/os-release", b"ID=test\n")], stored, docker);
        let top = Layer::new(
            &[("app/seed.txt", seed.as_bytes()), ("app/bin", &[7; 3000])],
            stored,
            docker,
        );
        Self::new(platform, vec![base, top], docker)
    }

    pub fn config_digest(&self) -> Digest {
        Digest::sha256(&self.config)
    }

    pub fn manifest_digest(&self) -> Digest {
        Digest::sha256(&self.manifest)
    }

    /// Puts the config, layers and manifest into `source`.
    pub fn add_to(&self, source: &mut MemorySource) {
        source.insert(self.config.clone());
        source.insert(self.manifest.clone());
        for layer in &self.layers {
            source.insert(layer.stored.clone());
        }
    }

    /// The image to write, tagged with `tags`.
    pub fn archive_image(&self, tags: &[&str]) -> ArchiveImage {
        let mut image = ArchiveImage::new(self.manifest.clone(), self.manifest_type);
        image.manifest_descriptor.platform = Some(self.platform.clone());
        for tag in tags {
            image = image.with_tag(Reference::parse(tag).expect("reference"));
        }
        image
    }
}

/// The names of the entries of `dir`, sorted.
pub fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Writes an OCI layout of `image`, tagged `tag`, at `dest`, from a source holding its blobs.
pub fn write_oci_layout(image: &TestImage, tag: &str, dest: &std::path::Path) {
    let mut source = MemorySource::new();
    image.add_to(&mut source);
    let mut writer = imgpull_archive::OciLayoutWriter::create(dest).expect("create layout");
    writer
        .add_image(&image.archive_image(&[tag]), &source)
        .expect("add image");
    writer.finish().expect("finish layout");
}

/// An OCI index of `images`, its bytes.
pub fn index_of(images: &[&TestImage]) -> Vec<u8> {
    list_of(images, media_types::OCI_IMAGE_INDEX)
}

/// An index of `images` with the given media type (OCI index or Docker manifest list).
pub fn list_of(images: &[&TestImage], media_type: &str) -> Vec<u8> {
    let manifests: Vec<Descriptor> = images
        .iter()
        .map(|image| {
            let mut d = Descriptor::new(
                image.manifest_type,
                image.manifest_digest(),
                image.manifest.len() as u64,
            );
            d.platform = Some(image.platform.clone());
            d
        })
        .collect();
    serde_json::to_vec_pretty(&json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": manifests,
    }))
    .expect("index")
}

/// The members of a tar: (name, content) in order.
pub fn members(tar: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .expect("entries")
        .map(|e| {
            let mut e = e.expect("entry");
            let name = String::from_utf8(e.path_bytes().into_owned()).expect("utf-8 name");
            let mut content = Vec::new();
            e.read_to_end(&mut content).expect("content");
            (name, content)
        })
        .collect()
}

/// The content of member `name`.
pub fn member(tar: &[u8], name: &str) -> Vec<u8> {
    members(tar)
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no member {name}"))
        .1
}
