//! Seeded benchmark images, generated without any network as an OCI image layout.
//!
//! Every byte derives from a [`LayerSpec`]'s seed, so the same spec always gives the same blob and
//! two images listing the same spec share that blob. Layers are streamed through tar, gzip and two
//! SHA-256 hashers straight to disk: generating a 150 MiB layer needs no 150 MiB buffer.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// The fixed modification time of every tar entry (2023-11-14T22:13:20Z).
const MTIME: u64 = 1_700_000_000;
/// Files in a layer hold at most this many bytes each.
const MAX_FILE: u64 = 16 << 20;
const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const MEDIA_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What a layer's files contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Content {
    /// Pseudo-random bytes, which gzip cannot shrink (written as stored deflate blocks, as gzip
    /// itself does for incompressible input).
    Random,
    /// Log-like lines of words and hex ids, which gzip shrinks about 3:1.
    Text,
}

/// One layer: `size` bytes of file content derived from `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LayerSpec {
    /// The seed of every byte; equal specs give byte-identical blobs.
    pub seed: u64,
    /// Bytes of file content (tar and gzip framing come on top).
    pub size: u64,
    /// Random or text.
    pub content: Content,
}

/// An image: a name (the repository `bench/<name>`) and its layers, bottom first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Repository name under `bench/`, also the ref name in the OCI layout.
    pub name: &'static str,
    /// Layers, bottom first.
    pub layers: Vec<LayerSpec>,
}

/// A content-addressed blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl Blob {
    /// The hex part of the digest.
    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }

    fn of(bytes: &[u8]) -> Self {
        Self {
            digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
            size: bytes.len() as u64,
        }
    }
}

/// What was generated for one image.
#[derive(Debug, Clone)]
pub struct GeneratedImage {
    /// The image's name.
    pub name: &'static str,
    /// The manifest blob.
    pub manifest: Blob,
    /// The config blob.
    pub config: Blob,
    /// The layer blobs (compressed), bottom first.
    pub layers: Vec<Blob>,
    /// Total size of the layers once decompressed (the tar streams).
    pub uncompressed: u64,
}

impl GeneratedImage {
    /// The config and the layers: every blob a puller downloads besides the manifest.
    pub fn blobs(&self) -> impl Iterator<Item = &Blob> {
        std::iter::once(&self.config).chain(&self.layers)
    }

    /// Total bytes of [`GeneratedImage::blobs`].
    pub fn blob_bytes(&self) -> u64 {
        self.blobs().map(|blob| blob.size).sum()
    }
}

/// An OCI image layout being filled with generated images.
#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    layers: HashMap<LayerSpec, (Blob, String, u64)>,
    manifests: Vec<Value>,
}

impl Layout {
    /// Creates an empty layout at `root` (which must not hold another layout).
    pub fn create(root: &Path) -> Result<Self, String> {
        let blobs = root.join("blobs/sha256");
        fs::create_dir_all(&blobs)
            .map_err(|e| format!("cannot create {}: {e}", blobs.display()))?;
        write_file(
            &root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        let layout = Self {
            root: root.to_path_buf(),
            layers: HashMap::new(),
            manifests: Vec::new(),
        };
        layout.write_index()?;
        Ok(layout)
    }

    /// The `oci:` transport reference of the image named `name`, for skopeo.
    pub fn transport_ref(&self, name: &str) -> String {
        format!("oci:{}:{name}", self.root.display())
    }

    /// Generates `spec` (reusing layers generated before) and lists it in `index.json`.
    pub fn add(&mut self, spec: &ImageSpec) -> Result<GeneratedImage, String> {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        let mut uncompressed = 0;
        for layer in &spec.layers {
            if !self.layers.contains_key(layer) {
                let generated = self.write_layer(layer)?;
                self.layers.insert(*layer, generated);
            }
            if let Some((blob, diff_id, tar_size)) = self.layers.get(layer) {
                layers.push(blob.clone());
                diff_ids.push(diff_id.clone());
                uncompressed += tar_size;
            }
        }
        let config = json!({
            "created": "2024-01-01T00:00:00Z",
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": spec.layers.iter().map(|_| json!({"created": "2024-01-01T00:00:00Z", "created_by": "cargo xtask bench"})).collect::<Vec<_>>(),
        });
        let config = self.write_json_blob(&config)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config.digest, "size": config.size},
            "layers": layers.iter().map(|blob| json!({"mediaType": MEDIA_LAYER, "digest": blob.digest, "size": blob.size})).collect::<Vec<_>>(),
        });
        let manifest = self.write_json_blob(&manifest)?;
        self.manifests.push(json!({
            "mediaType": MEDIA_MANIFEST,
            "digest": manifest.digest,
            "size": manifest.size,
            "annotations": {REF_NAME: spec.name},
        }));
        self.write_index()?;
        Ok(GeneratedImage {
            name: spec.name,
            manifest,
            config,
            layers,
            uncompressed,
        })
    }

    fn write_index(&self) -> Result<(), String> {
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": self.manifests});
        write_file(&self.root.join("index.json"), index.to_string().as_bytes())
    }

    fn blob_path(&self, blob: &Blob) -> PathBuf {
        self.root.join("blobs/sha256").join(blob.hex())
    }

    fn write_json_blob(&self, value: &Value) -> Result<Blob, String> {
        let bytes = value.to_string().into_bytes();
        let blob = Blob::of(&bytes);
        write_file(&self.blob_path(&blob), &bytes)?;
        Ok(blob)
    }

    /// Streams the layer to a temporary file, then renames it to its digest.
    /// Returns the blob, its diff_id and the size of the tar stream.
    fn write_layer(&self, spec: &LayerSpec) -> Result<(Blob, String, u64), String> {
        let partial = self
            .root
            .join(format!("blobs/sha256/layer-{}.partial", spec.seed));
        let context = |e: io::Error| {
            format!(
                "cannot write layer {} at {}: {e}",
                spec.seed,
                partial.display()
            )
        };
        let file = File::create(&partial).map_err(context)?;
        let level = match spec.content {
            Content::Random => Compression::none(),
            Content::Text => Compression::default(),
        };
        let gzip = GzEncoder::new(
            HashingWriter::new(BufWriter::with_capacity(1 << 20, file)),
            level,
        );
        let mut tar = tar::Builder::new(HashingWriter::new(gzip));
        write_files(&mut tar, spec).map_err(context)?;
        let tar_hashed = tar.into_inner().map_err(context)?;
        let (diff_id, tar_size, gzip) = tar_hashed.finish();
        let (digest, size, mut file) = gzip.finish().map_err(context)?.finish();
        file.flush().map_err(context)?;
        let blob = Blob {
            digest: format!("sha256:{digest}"),
            size,
        };
        fs::rename(&partial, self.blob_path(&blob)).map_err(context)?;
        Ok((blob, format!("sha256:{diff_id}"), tar_size))
    }
}

/// Writes the layer's files (at most [`MAX_FILE`] bytes each) into `tar`.
fn write_files<W: Write>(tar: &mut tar::Builder<W>, spec: &LayerSpec) -> io::Result<()> {
    let mut rng = SplitMix64::new(spec.seed);
    let mut remaining = spec.size;
    let mut index = 0_u32;
    loop {
        let len = remaining.min(MAX_FILE);
        let mut header = tar::Header::new_ustar();
        header.set_size(len);
        header.set_mode(0o644);
        header.set_mtime(MTIME);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        let path = format!(
            "data/{}/{index:04}.{}",
            spec.seed,
            match spec.content {
                Content::Random => "bin",
                Content::Text => "log",
            }
        );
        let content = ContentReader {
            rng: SplitMix64::new(rng.next_u64()),
            remaining: len,
            text: spec.content == Content::Text,
            pending: Vec::new(),
        };
        tar.append_data(&mut header, path, content)?;
        remaining -= len;
        index += 1;
        if remaining == 0 {
            break;
        }
    }
    tar.finish()
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A writer that hashes and counts what passes through it.
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

    /// The hex digest, the byte count and the inner writer.
    fn finish(self) -> (String, u64, W) {
        (hex::encode(self.hasher.finalize()), self.count, self.inner)
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

/// SplitMix64 (Steele, Lea and Flood, 2014): a small seeded generator; not for cryptography.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Words of the text content: 32 of them, so five random bits pick one.
const WORDS: [&str; 32] = [
    "layer", "image", "registry", "manifest", "digest", "config", "blob", "platform", "index",
    "token", "archive", "cache", "pull", "push", "tar", "gzip", "request", "response", "header",
    "status", "stream", "bytes", "offset", "range", "mirror", "proxy", "auth", "scope", "realm",
    "service", "retry", "timeout",
];

/// `remaining` bytes of random or text content.
struct ContentReader {
    rng: SplitMix64,
    remaining: u64,
    text: bool,
    /// Generated text not yet returned.
    pending: Vec<u8>,
}

impl ContentReader {
    /// Appends one line: six words and a 16-digit hex id.
    fn push_line(&mut self) {
        let words = self.rng.next_u64();
        for i in 0..6 {
            // Masked to 0..32, so the index is always in range.
            let word = WORDS[usize::try_from((words >> (5 * i)) & 31).unwrap_or(0)];
            self.pending.extend_from_slice(word.as_bytes());
            self.pending.push(b' ');
        }
        let id = self.rng.next_u64();
        self.pending
            .extend_from_slice(format!("{id:016x}\n").as_bytes());
    }
}

impl Read for ContentReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let out = &mut buf[..want];
        if self.text {
            let mut filled = 0;
            while filled < want {
                if self.pending.is_empty() {
                    self.push_line();
                }
                let take = self.pending.len().min(want - filled);
                out[filled..filled + take].copy_from_slice(&self.pending[..take]);
                self.pending.drain(..take);
                filled += take;
            }
        } else {
            for chunk in out.chunks_mut(8) {
                let bytes = self.rng.next_u64().to_le_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
        }
        self.remaining -= want as u64;
        Ok(want)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-bench-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn spec(name: &'static str, seeds: &[(u64, Content)]) -> ImageSpec {
        ImageSpec {
            name,
            layers: seeds
                .iter()
                .map(|&(seed, content)| LayerSpec {
                    seed,
                    size: (MAX_FILE / 8) + 3,
                    content,
                })
                .collect(),
        }
    }

    #[test]
    fn layers_are_deterministic_shared_and_match_their_digests() {
        let dir = temp_dir("image");
        let mut layout = Layout::create(&dir).unwrap();
        let first = layout
            .add(&spec("first", &[(1, Content::Random), (2, Content::Text)]))
            .unwrap();
        let second = layout
            .add(&spec("second", &[(1, Content::Random), (3, Content::Text)]))
            .unwrap();
        assert_eq!(first.layers[0], second.layers[0]);
        assert_ne!(first.layers[1], second.layers[1]);
        for blob in first
            .blobs()
            .chain(second.blobs())
            .chain([&first.manifest, &second.manifest])
        {
            let bytes = fs::read(dir.join("blobs/sha256").join(blob.hex())).unwrap();
            assert_eq!(Blob::of(&bytes), *blob);
        }
        let again_dir = temp_dir("image-again");
        let mut again = Layout::create(&again_dir).unwrap();
        let regenerated = again
            .add(&spec("first", &[(1, Content::Random), (2, Content::Text)]))
            .unwrap();
        assert_eq!(regenerated.manifest, first.manifest);
        let index: Value =
            serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
        assert_eq!(index["manifests"][1]["annotations"][REF_NAME], "second");
        assert_eq!(
            layout.transport_ref("first"),
            format!("oci:{}:first", dir.display())
        );
        fs::remove_dir_all(&dir).unwrap();
        fs::remove_dir_all(&again_dir).unwrap();
    }

    #[test]
    fn text_compresses_about_three_to_one_and_random_does_not() {
        let dir = temp_dir("ratio");
        let mut layout = Layout::create(&dir).unwrap();
        let text = layout.add(&spec("text", &[(5, Content::Text)])).unwrap();
        let random = layout
            .add(&spec("random", &[(6, Content::Random)]))
            .unwrap();
        let ratio = text.uncompressed as f64 / text.layers[0].size as f64;
        assert!((2.5..4.0).contains(&ratio), "text ratio {ratio}");
        assert!(
            random.layers[0].size > random.uncompressed,
            "random data must not shrink"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
