//! Deterministic test images, generated without any network, written as an OCI image layout.
//!
//! Everything is derived from seeds: the same [`ImageSpec`] always gives the same bytes and so
//! the same digests, and two images that list the same [`LayerSpec`] share that layer blob
//! (for cache tests). Layers are tar archives of a few files with fixed mtimes, uid/gid 0 and
//! mode 0644, gzip-compressed with flate2 and **streamed** to disk, so a 150 MiB layer needs no
//! 150 MiB buffer.
//!
//! ```no_run
//! use imgpull_tests::image::{Content, IndexSpec, ImageSpec, LayerSpec, OciLayout};
//!
//! # fn main() -> Result<(), imgpull_tests::HarnessError> {
//! let mut layout = OciLayout::temporary()?;
//! let base = ImageSpec::new("base").layer(LayerSpec::random(1, 4 << 20));
//! let first = layout.add_image(&base, "base")?;
//! // Shares the 4 MiB layer with `base`, adds a compressible one.
//! let derived = base.clone().named("derived").layer(LayerSpec::text(2, 64 << 10).files(5));
//! let second = layout.add_image(&derived, "derived")?;
//! assert_eq!(first.layers[0].blob.digest, second.layers[0].blob.digest);
//! let index = layout.add_index(&IndexSpec::multi_platform("multi"), "multi")?;
//! assert_eq!(index.images.len(), 3);
//! println!("skopeo inspect {}", layout.transport_ref("derived"));
//! # let _ = Content::Random;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tempfile::TempDir;

use crate::error::{HarnessError, Result, io_context};
use crate::rng::ContentReader;

/// Media types used by the generated images.
pub mod media_type {
    /// OCI image index.
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// OCI image manifest.
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// OCI image config.
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// OCI gzip layer.
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    /// Docker manifest list.
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker schema2 manifest.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    /// Docker gzip layer.
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    /// An in-toto attestation layer (BuildKit SBOM/provenance).
    pub const IN_TOTO: &str = "application/vnd.in-toto+json";
}

/// The fixed modification time of every tar entry (2023-11-14T22:13:20Z).
pub const FIXED_MTIME: u64 = 1_700_000_000;

/// The fixed `created` time of every generated config.
pub const CREATED: &str = "2024-01-01T00:00:00Z";

/// Annotation naming an entry of an OCI layout's `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// What a layer's files contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Content {
    /// Pseudo-random bytes: gzip cannot shrink them (compressed ≈ uncompressed size).
    Random,
    /// Words and newlines: compresses well.
    Text,
}

/// One layer: `files` files whose contents total `size` bytes, derived from `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerSpec {
    /// The seed of every byte of the layer; equal specs give byte-identical layers.
    pub seed: u64,
    /// Total bytes of file content (the tar and gzip framing come on top).
    pub size: u64,
    /// Number of files (at least one is written).
    pub files: u32,
    /// Random or text content.
    pub content: Content,
}

impl LayerSpec {
    /// A single-file layer of incompressible bytes.
    pub fn random(seed: u64, size: u64) -> Self {
        Self {
            seed,
            size,
            files: 1,
            content: Content::Random,
        }
    }

    /// A single-file layer of compressible text.
    pub fn text(seed: u64, size: u64) -> Self {
        Self {
            seed,
            size,
            files: 1,
            content: Content::Text,
        }
    }

    /// Splits the content over `files` files.
    #[must_use]
    pub fn files(mut self, files: u32) -> Self {
        self.files = files;
        self
    }
}

/// Which family of media types an image uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Flavor {
    /// OCI image manifest, config and layer media types.
    #[default]
    Oci,
    /// Docker schema2 manifest (and manifest list), config and layer media types.
    ///
    /// skopeo's `oci:` transport does not list such entries of `index.json`;
    /// [`push`](crate::push::push) sends them through skopeo's `dir:` transport instead, byte
    /// for byte.
    Docker,
}

/// An `os/architecture[/variant]` triple.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TestPlatform {
    /// e.g. `linux`.
    pub os: String,
    /// e.g. `arm64`.
    pub architecture: String,
    /// e.g. `v8`.
    pub variant: Option<String>,
}

impl TestPlatform {
    /// A platform from its parts.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        Self {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// Parses `os/arch` or `os/arch/variant`.
    pub fn parse(text: &str) -> Result<Self> {
        let mut parts = text.split('/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(os), Some(architecture), variant, None)
                if !os.is_empty() && !architecture.is_empty() =>
            {
                Ok(Self {
                    os: os.to_owned(),
                    architecture: architecture.to_owned(),
                    variant: variant.filter(|v| !v.is_empty()).map(str::to_owned),
                })
            }
            _ => Err(HarnessError::InvalidSpec(format!(
                "platform {text:?} is not os/arch[/variant]"
            ))),
        }
    }

    /// The platform object of an index entry.
    fn to_json(&self) -> Value {
        let mut value = json!({"architecture": self.architecture, "os": self.os});
        if let Some(variant) = &self.variant {
            value["variant"] = json!(variant);
        }
        value
    }
}

impl Default for TestPlatform {
    /// `linux/amd64`.
    fn default() -> Self {
        Self {
            os: "linux".to_owned(),
            architecture: "amd64".to_owned(),
            variant: None,
        }
    }
}

impl fmt::Display for TestPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// A single-platform image to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Goes into the config (label `org.imgpull.test.name`), so different names give different
    /// configs (and image IDs) even with the same layers.
    pub name: String,
    /// The config's `os`/`architecture`/`variant`.
    pub platform: TestPlatform,
    /// OCI or Docker media types.
    pub flavor: Flavor,
    /// The layers, bottom first.
    pub layers: Vec<LayerSpec>,
}

impl ImageSpec {
    /// A linux/amd64 OCI image with no layers yet; add them with [`layer`](Self::layer) or
    /// [`layers`](Self::layers). An image written without layers gets one small text layer
    /// seeded from its name.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            platform: TestPlatform::default(),
            flavor: Flavor::Oci,
            layers: Vec::new(),
        }
    }

    /// Renames the image (keeping its layers: the way to make an image sharing layers).
    #[must_use]
    pub fn named(mut self, name: &str) -> Self {
        name.clone_into(&mut self.name);
        self
    }

    /// Sets the platform (`os/arch[/variant]`).
    pub fn platform(mut self, platform: &str) -> Result<Self> {
        self.platform = TestPlatform::parse(platform)?;
        Ok(self)
    }

    /// Sets the media type family.
    #[must_use]
    pub fn flavor(mut self, flavor: Flavor) -> Self {
        self.flavor = flavor;
        self
    }

    /// Appends a layer.
    #[must_use]
    pub fn layer(mut self, layer: LayerSpec) -> Self {
        self.layers.push(layer);
        self
    }

    /// Appends `count` layers of `size` bytes each, seeded from the image name and position.
    #[must_use]
    pub fn layers(mut self, count: u32, size: u64, content: Content) -> Self {
        let base = seed_of(&self.name);
        for index in 0..count {
            self.layers.push(LayerSpec {
                seed: base ^ (u64::from(index) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                size,
                files: 3,
                content,
            });
        }
        self
    }

    fn effective_layers(&self) -> Vec<LayerSpec> {
        if self.layers.is_empty() {
            vec![LayerSpec::text(seed_of(&self.name), 2048).files(2)]
        } else {
            self.layers.clone()
        }
    }
}

/// A multi-platform image index to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    /// The images, one per platform.
    pub images: Vec<ImageSpec>,
    /// Add a BuildKit-style attestation manifest per image (platform `unknown/unknown`,
    /// annotations `vnd.docker.reference.type: attestation-manifest` and
    /// `vnd.docker.reference.digest`). OCI flavor only.
    pub attestations: bool,
    /// OCI index or Docker manifest list (the images should use the same flavor).
    pub flavor: Flavor,
}

impl IndexSpec {
    /// linux/amd64, linux/arm64/v8 and linux/arm/v7 images named `NAME-amd64` … (each with two
    /// small layers, the first shared by all three), plus an attestation manifest per image.
    pub fn multi_platform(name: &str) -> Self {
        let shared = LayerSpec::text(seed_of(name), 8 << 10).files(3);
        let images = [
            ("amd64", None, "amd64"),
            ("arm64", Some("v8"), "arm64"),
            ("arm", Some("v7"), "armv7"),
        ]
        .into_iter()
        .map(|(architecture, variant, suffix)| {
            let name = format!("{name}-{suffix}");
            let own = LayerSpec::random(seed_of(&name), 16 << 10).files(2);
            ImageSpec {
                platform: TestPlatform::new("linux", architecture, variant),
                ..ImageSpec::new(&name).layer(shared).layer(own)
            }
        })
        .collect();
        Self {
            images,
            attestations: true,
            flavor: Flavor::Oci,
        }
    }
}

impl IndexSpec {
    /// The same images as a Docker manifest list of schema2 manifests (without attestations,
    /// which only exist in OCI indexes).
    #[must_use]
    pub fn docker(mut self) -> Self {
        self.flavor = Flavor::Docker;
        self.attestations = false;
        for image in &mut self.images {
            image.flavor = Flavor::Docker;
        }
        self
    }
}

/// A content-addressed blob as a descriptor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Blob {
    /// Its media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl Blob {
    /// The hex part of the digest.
    pub fn hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    /// The descriptor JSON (`mediaType`, `digest`, `size`).
    pub fn descriptor(&self) -> Value {
        json!({"mediaType": self.media_type, "digest": self.digest, "size": self.size})
    }
}

/// A generated layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The compressed blob (what the manifest lists).
    pub blob: Blob,
    /// `sha256:<hex>` of the uncompressed tar (what the config's `rootfs.diff_ids` lists).
    pub diff_id: String,
    /// Size of the uncompressed tar.
    pub uncompressed_size: u64,
}

/// A generated single-platform image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedImage {
    /// The manifest descriptor.
    pub manifest: Blob,
    /// The manifest bytes.
    pub manifest_json: Vec<u8>,
    /// The config descriptor (its digest is the image ID).
    pub config: Blob,
    /// The config bytes.
    pub config_json: Vec<u8>,
    /// The layers, bottom first.
    pub layers: Vec<Layer>,
    /// The image's platform.
    pub platform: TestPlatform,
}

impl GeneratedImage {
    /// Sum of the compressed layer sizes.
    pub fn layers_size(&self) -> u64 {
        self.layers.iter().map(|layer| layer.blob.size).sum()
    }

    /// The layers' `diff_id`s, bottom first.
    pub fn diff_ids(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|layer| layer.diff_id.clone())
            .collect()
    }
}

/// A generated image index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedIndex {
    /// The index descriptor.
    pub index: Blob,
    /// The index bytes.
    pub index_json: Vec<u8>,
    /// The platform images, in index order.
    pub images: Vec<GeneratedImage>,
    /// The attestation manifests (one per image when requested), in index order.
    pub attestations: Vec<Blob>,
}

impl GeneratedIndex {
    /// The image for `os/arch[/variant]`, if the index has it.
    pub fn image(&self, platform: &str) -> Option<&GeneratedImage> {
        self.images
            .iter()
            .find(|image| image.platform.to_string() == platform)
    }
}

/// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/sha256/`).
///
/// Each `add_*` call writes the blobs, then rewrites `index.json` with one entry per ref name
/// (annotation `org.opencontainers.image.ref.name`), so the layout is valid after every call
/// and readable with `skopeo … oci:DIR:REF`.
#[derive(Debug)]
pub struct OciLayout {
    root: PathBuf,
    entries: Vec<(String, Blob)>,
    layer_cache: HashMap<LayerSpec, (String, u64, String, u64)>,
    temp: Option<TempDir>,
}

impl OciLayout {
    /// Creates (or empties the `index.json` of) a layout at `root`.
    pub fn create(root: &Path) -> Result<Self> {
        let blobs = root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(io_context(format!("creating {}", blobs.display())))?;
        let layout = Self {
            root: root.to_path_buf(),
            entries: Vec::new(),
            layer_cache: HashMap::new(),
            temp: None,
        };
        write_file(
            &root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        layout.write_index_json()?;
        Ok(layout)
    }

    /// Creates a layout in a new temporary directory, deleted when the layout is dropped.
    pub fn temporary() -> Result<Self> {
        let temp = tempfile::Builder::new()
            .prefix("imgpull-oci-")
            .tempdir()
            .map_err(io_context("creating a temporary OCI layout directory"))?;
        let mut layout = Self::create(temp.path())?;
        layout.temp = Some(temp);
        Ok(layout)
    }

    /// The layout's root directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `oci:ROOT:REF`, the skopeo transport reference of an entry.
    pub fn transport_ref(&self, ref_name: &str) -> String {
        format!("oci:{}:{ref_name}", self.root.display())
    }

    /// The descriptor `index.json` lists under `ref_name`.
    pub fn entry(&self, ref_name: &str) -> Option<&Blob> {
        self.entries
            .iter()
            .find(|(name, _)| name == ref_name)
            .map(|(_, blob)| blob)
    }

    /// The file of a blob (`blobs/sha256/<hex>`), whether or not it exists.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root
            .join("blobs")
            .join("sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// The bytes of a blob (for serving small blobs from a fake registry).
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        fs::read(&path).map_err(io_context(format!("reading {}", path.display())))
    }

    /// Writes an image and names it `ref_name` in `index.json`.
    pub fn add_image(&mut self, spec: &ImageSpec, ref_name: &str) -> Result<GeneratedImage> {
        let image = self.write_image(spec)?;
        self.set_entry(ref_name, image.manifest.clone())?;
        Ok(image)
    }

    /// Writes an index, its images (and attestations) and names it `ref_name` in `index.json`.
    pub fn add_index(&mut self, spec: &IndexSpec, ref_name: &str) -> Result<GeneratedIndex> {
        if spec.attestations && spec.flavor == Flavor::Docker {
            return Err(HarnessError::InvalidSpec(
                "attestation manifests need an OCI index, not a Docker manifest list".to_owned(),
            ));
        }
        let mut images = Vec::with_capacity(spec.images.len());
        let mut attestations = Vec::new();
        let mut entries = Vec::new();
        for image_spec in &spec.images {
            let image = self.write_image(image_spec)?;
            let mut entry = image.manifest.descriptor();
            entry["platform"] = image.platform.to_json();
            entries.push(entry);
            images.push(image);
        }
        if spec.attestations {
            for image in &images {
                let attestation = self.write_attestation(image)?;
                let mut entry = attestation.descriptor();
                entry["platform"] = json!({"architecture": "unknown", "os": "unknown"});
                entry["annotations"] = json!({
                    "vnd.docker.reference.digest": image.manifest.digest,
                    "vnd.docker.reference.type": "attestation-manifest",
                });
                entries.push(entry);
                attestations.push(attestation);
            }
        }
        let media_type = match spec.flavor {
            Flavor::Oci => media_type::OCI_INDEX,
            Flavor::Docker => media_type::DOCKER_MANIFEST_LIST,
        };
        let index_json = to_json_bytes(&json!({
            "schemaVersion": 2,
            "mediaType": media_type,
            "manifests": entries,
        }));
        let index = self.write_blob(&index_json, media_type)?;
        self.set_entry(ref_name, index.clone())?;
        Ok(GeneratedIndex {
            index,
            index_json,
            images,
            attestations,
        })
    }

    fn write_image(&mut self, spec: &ImageSpec) -> Result<GeneratedImage> {
        let (manifest_type, config_type, layer_type) = match spec.flavor {
            Flavor::Oci => (
                media_type::OCI_MANIFEST,
                media_type::OCI_CONFIG,
                media_type::OCI_LAYER_GZIP,
            ),
            Flavor::Docker => (
                media_type::DOCKER_MANIFEST,
                media_type::DOCKER_CONFIG,
                media_type::DOCKER_LAYER_GZIP,
            ),
        };
        let mut layers = Vec::new();
        for layer_spec in spec.effective_layers() {
            layers.push(self.write_layer(&layer_spec, layer_type)?);
        }
        let mut config = json!({
            "created": CREATED,
            "architecture": spec.platform.architecture,
            "os": spec.platform.os,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
                "Labels": {"org.imgpull.test.name": spec.name},
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|layer| layer.diff_id.clone()).collect::<Vec<_>>(),
            },
            "history": layers.iter().enumerate().map(|(index, layer)| json!({
                "created": CREATED,
                "created_by": format!("imgpull-tests layer {index} ({})", layer.uncompressed_size),
            })).collect::<Vec<_>>(),
        });
        if let Some(variant) = &spec.platform.variant {
            config["variant"] = json!(variant);
        }
        let config_json = to_json_bytes(&config);
        let config_blob = self.write_blob(&config_json, config_type)?;
        let manifest_json = to_json_bytes(&json!({
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": config_blob.descriptor(),
            "layers": layers.iter().map(|layer| layer.blob.descriptor()).collect::<Vec<_>>(),
        }));
        let manifest = self.write_blob(&manifest_json, manifest_type)?;
        Ok(GeneratedImage {
            manifest,
            manifest_json,
            config: config_blob,
            config_json,
            layers,
            platform: spec.platform.clone(),
        })
    }

    fn write_attestation(&self, image: &GeneratedImage) -> Result<Blob> {
        let statement = to_json_bytes(&json!({
            "_type": "https://in-toto.io/Statement/v0.1",
            "predicateType": "https://spdx.dev/Document",
            "subject": [{
                "name": format!("pkg:docker/imgpull-test@latest?platform={}", image.platform),
                "digest": {"sha256": image.manifest.hex()},
            }],
            "predicate": {"spdxVersion": "SPDX-2.3", "name": "imgpull-test"},
        }));
        let layer = self.write_blob(&statement, media_type::IN_TOTO)?;
        let config_json = to_json_bytes(&json!({
            "architecture": "unknown",
            "os": "unknown",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [layer.digest]},
        }));
        let config = self.write_blob(&config_json, media_type::OCI_CONFIG)?;
        let mut layer_descriptor = layer.descriptor();
        layer_descriptor["annotations"] =
            json!({"in-toto.io/predicate-type": "https://spdx.dev/Document"});
        let manifest_json = to_json_bytes(&json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": [layer_descriptor],
        }));
        self.write_blob(&manifest_json, media_type::OCI_MANIFEST)
    }

    /// Streams a layer to disk (tar → hash → gzip → hash → file), once per distinct spec.
    fn write_layer(&mut self, spec: &LayerSpec, media_type: &str) -> Result<Layer> {
        if let Some((digest, size, diff_id, uncompressed_size)) = self.layer_cache.get(spec) {
            return Ok(Layer {
                blob: Blob {
                    media_type: media_type.to_owned(),
                    digest: digest.clone(),
                    size: *size,
                },
                diff_id: diff_id.clone(),
                uncompressed_size: *uncompressed_size,
            });
        }
        let dir = self.root.join("blobs").join("sha256");
        let temp = tempfile::NamedTempFile::new_in(&dir).map_err(io_context(format!(
            "creating a temporary file in {}",
            dir.display()
        )))?;
        let context = || {
            format!(
                "writing layer {:#x} to {}",
                spec.seed,
                temp.path().display()
            )
        };
        let file = temp.reopen().map_err(io_context(context()))?;
        let compressed = HashingWriter::new(io::BufWriter::new(file));
        // Random bytes do not compress: stored deflate blocks give the same size far faster.
        let level = match spec.content {
            Content::Random => Compression::none(),
            Content::Text => Compression::fast(),
        };
        let gzip = GzEncoder::new(compressed, level);
        let mut tar = tar::Builder::new(HashingWriter::new(gzip));
        append_layer_entries(&mut tar, spec).map_err(io_context(context()))?;
        let uncompressed = tar.into_inner().map_err(io_context(context()))?;
        let (gzip, diff_hex, uncompressed_size) = uncompressed.finish();
        let compressed = gzip.finish().map_err(io_context(context()))?;
        let (mut file, digest_hex, size) = compressed.finish();
        file.flush().map_err(io_context(context()))?;
        let final_path = dir.join(&digest_hex);
        temp.persist(&final_path)
            .map_err(|error| HarnessError::Io {
                context: format!("renaming a layer to {}", final_path.display()),
                source: error.error,
            })?;
        let digest = format!("sha256:{digest_hex}");
        let diff_id = format!("sha256:{diff_hex}");
        self.layer_cache.insert(
            *spec,
            (digest.clone(), size, diff_id.clone(), uncompressed_size),
        );
        Ok(Layer {
            blob: Blob {
                media_type: media_type.to_owned(),
                digest,
                size,
            },
            diff_id,
            uncompressed_size,
        })
    }

    fn write_blob(&self, bytes: &[u8], media_type: &str) -> Result<Blob> {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        write_file(&self.blob_path(&digest), bytes)?;
        Ok(Blob {
            media_type: media_type.to_owned(),
            digest,
            size: bytes.len() as u64,
        })
    }

    fn set_entry(&mut self, ref_name: &str, blob: Blob) -> Result<()> {
        if let Some(entry) = self.entries.iter_mut().find(|(name, _)| name == ref_name) {
            entry.1 = blob;
        } else {
            self.entries.push((ref_name.to_owned(), blob));
        }
        self.write_index_json()
    }

    fn write_index_json(&self) -> Result<()> {
        let manifests: Vec<Value> = self
            .entries
            .iter()
            .map(|(name, blob)| {
                let mut entry = blob.descriptor();
                entry["annotations"] = json!({ REF_NAME_ANNOTATION: name });
                entry
            })
            .collect();
        write_file(
            &self.root.join("index.json"),
            &to_json_bytes(&json!({
                "schemaVersion": 2,
                "mediaType": media_type::OCI_INDEX,
                "manifests": manifests,
            })),
        )
    }
}

/// Writes a layer's directory and files into a tar stream.
fn append_layer_entries<W: Write>(tar: &mut tar::Builder<W>, spec: &LayerSpec) -> io::Result<()> {
    let dir = format!("layer-{:016x}", spec.seed);
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_path(format!("{dir}/"))?;
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(FIXED_MTIME);
    header.set_size(0);
    header.set_cksum();
    tar.append(&header, io::empty())?;

    let files = u64::from(spec.files.max(1));
    let (each, rest) = (spec.size / files, spec.size % files);
    let extension = match spec.content {
        Content::Random => "bin",
        Content::Text => "txt",
    };
    for index in 0..files {
        let size = each + if index + 1 == files { rest } else { 0 };
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_path(format!("{dir}/file-{index}.{extension}"))?;
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(FIXED_MTIME);
        header.set_size(size);
        header.set_cksum();
        let seed = spec.seed ^ (index + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93);
        let reader = ContentReader::new(seed, size, spec.content == Content::Text);
        tar.append(&header, reader)?;
    }
    tar.finish()
}

/// A writer that hashes (SHA-256) and counts what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer, the hex digest and the byte count.
    fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.count)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.count += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A stable 64-bit seed from a name (FNV-1a).
pub fn seed_of(name: &str) -> u64 {
    name.bytes().fold(0xCBF2_9CE4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

fn to_json_bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    fs::write(path, bytes).map_err(io_context(format!("writing {}", path.display())))
}
