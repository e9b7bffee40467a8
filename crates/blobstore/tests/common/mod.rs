//! Small images built in memory for the tests: gzip layers, a config with diff_ids, a manifest.

#![allow(dead_code, clippy::unwrap_used)]

use std::fs;
use std::io::Write as _;
use std::path::Path;

use imgpull_blobstore::Store;
use imgpull_reference::{Descriptor, Digest, media_types};

/// A blob and its bytes.
#[derive(Debug, Clone)]
pub struct Blob {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

impl Blob {
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        Self {
            descriptor: Descriptor::new(media_type, Digest::sha256(&bytes), bytes.len() as u64),
            bytes,
        }
    }
}

/// An image: gzip layers, config, manifest (OCI, or Docker schema 2).
#[derive(Debug, Clone)]
pub struct TestImage {
    pub layers: Vec<Blob>,
    pub diff_ids: Vec<Digest>,
    pub config: Blob,
    pub manifest: Blob,
}

impl TestImage {
    /// An OCI linux/amd64 image with one layer per entry of `layer_files`, each a tar
    /// holding that file.
    pub fn new(layer_files: &[(&str, &[u8])]) -> Self {
        Self::build(
            "amd64",
            layer_files,
            [
                media_types::OCI_IMAGE_MANIFEST,
                media_types::OCI_IMAGE_CONFIG,
                media_types::OCI_LAYER_TAR_GZIP,
            ],
        )
    }

    /// A Docker schema 2 linux image for `architecture`, like [`TestImage::new`].
    pub fn docker(architecture: &str, layer_files: &[(&str, &[u8])]) -> Self {
        Self::build(
            architecture,
            layer_files,
            [
                media_types::DOCKER_MANIFEST_V2,
                media_types::DOCKER_CONTAINER_CONFIG,
                media_types::DOCKER_LAYER_TAR_GZIP,
            ],
        )
    }

    /// `[manifest, config, layer]` are the media types.
    fn build(architecture: &str, layer_files: &[(&str, &[u8])], types: [&str; 3]) -> Self {
        let [manifest_type, config_type, layer_type] = types;
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for (name, content) in layer_files {
            let tar = tar_of(&[(name, content)]);
            diff_ids.push(Digest::sha256(&tar));
            layers.push(Blob::new(layer_type, gzip(&tar)));
        }
        let config = serde_json::json!({
            "architecture": architecture,
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let config = Blob::new(config_type, serde_json::to_vec(&config).unwrap());
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": config.descriptor,
            "layers": layers.iter().map(|l| &l.descriptor).collect::<Vec<_>>(),
        });
        let manifest = Blob::new(manifest_type, serde_json::to_vec(&manifest).unwrap());
        Self {
            layers,
            diff_ids,
            config,
            manifest,
        }
    }

    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        self.layers.iter().chain([&self.config, &self.manifest])
    }

    /// Stores every blob of the image.
    pub fn store_into(&self, store: &Store) {
        for blob in self.blobs() {
            put(store, &blob.bytes);
        }
    }

    /// Stores every blob of the image and records it in `index.json` as `name`.
    pub fn record_in(&self, store: &Store, name: &str) {
        self.store_into(store);
        store
            .record_image(
                &imgpull_reference::Reference::parse(name).unwrap(),
                &self.manifest.descriptor,
            )
            .unwrap();
    }

    /// Writes the image as an OCI layout in `dir`, tagged `tag`.
    pub fn write_oci_layout(&self, dir: &Path, tag: &str) {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        for blob in self.blobs() {
            fs::write(
                dir.join("blobs/sha256").join(blob.descriptor.digest.hex()),
                &blob.bytes,
            )
            .unwrap();
        }
        let mut manifest = self.manifest.descriptor.clone();
        manifest
            .annotations
            .insert("org.opencontainers.image.ref.name".into(), tag.into());
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [manifest]});
        fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    }
}

/// Stores `bytes` and returns their digest.
pub fn put(store: &Store, bytes: &[u8]) -> Digest {
    let digest = Digest::sha256(bytes);
    store.put(&digest, bytes).unwrap();
    digest
}

/// A tar holding regular files.
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(&mut header, name, *content).unwrap();
    }
    builder.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Sets a file's modification time (the store's last use) `seconds` into the past.
pub fn age(path: &Path, seconds: u64) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(seconds);
    fs::File::open(path).unwrap().set_modified(when).unwrap();
}

/// Runs skopeo, which must succeed, and returns its standard output.
pub fn skopeo(args: &[&str]) -> String {
    let out = std::process::Command::new("skopeo")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Whether `skopeo` must be found (end-to-end checks are skipped only with IMGPULL_SKIP_E2E=1).
pub fn skopeo_available() -> bool {
    if std::env::var_os("IMGPULL_SKIP_E2E").is_some_and(|v| v == "1") {
        return false;
    }
    let found = std::process::Command::new("skopeo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "skopeo is required for this test (set IMGPULL_SKIP_E2E=1 to skip it)"
    );
    true
}

/// A tar with raw member names (even unsafe ones, which `tar::Builder` refuses).
pub fn raw_tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, content) in members {
        let mut header = tar::Header::new_gnu();
        let field = &mut header.as_gnu_mut().unwrap().name;
        field[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(content);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A legacy `docker save` tar (`<id>/layer.tar`, `<config hex>.json`, `manifest.json`) of
/// `image`, with gzip layers as the image has them, tagged `repo_tag`.
pub fn legacy_docker_tar(image: &TestImage, repo_tag: &str) -> Vec<u8> {
    let config_name = format!("{}.json", image.config.descriptor.digest.hex());
    let layer_names: Vec<String> = (0..image.layers.len())
        .map(|i| format!("layer{i}/layer.tar"))
        .collect();
    let manifest = serde_json::json!([{
        "Config": config_name,
        "RepoTags": [repo_tag],
        "Layers": layer_names,
    }]);
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let mut members: Vec<(&str, &[u8])> = vec![(&config_name, &image.config.bytes)];
    for (name, layer) in layer_names.iter().zip(&image.layers) {
        members.push((name, &layer.bytes));
    }
    members.push(("manifest.json", &manifest));
    tar_of(&members)
}
