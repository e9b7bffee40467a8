//! A verifying reader of docker-save archives, OCI archives and OCI layout directories.

mod docker;
mod members;
mod oci;
mod storage;

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use imgpull_reference::{Descriptor, Digest, Platform};

use crate::compression::Compression;
use crate::copy::{HashingReader, hash_to_end};
use crate::error::ArchiveError;
use crate::json::{MAX_DOCUMENT, ManifestDoc};
use crate::source::{Blob, BlobSource};

use members::normalise;
use storage::Storage;

/// How many bytes of manifests, indexes and configs opening an archive may read in all. Each is
/// at most [`MAX_DOCUMENT`], but a `manifest.json` or an index may list one large config or
/// manifest thousands of times; real archives need a few megabytes.
const MAX_DOCUMENTS_TOTAL: u64 = 64 * 1024 * 1024;

/// The layout an archive was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArchiveFormat {
    /// A `docker save` tar with `manifest.json` (legacy `<id>/layer.tar` members, or the Docker
    /// 25+ layout with `blobs/` and an OCI `index.json` beside it).
    DockerArchive,
    /// An OCI image layout in a tar (`oci-archive:`).
    OciArchive,
    /// An OCI image layout directory (`oci:`).
    OciLayout,
}

/// One image found in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchivedImage {
    /// Its names: docker `RepoTags` (`nginx:latest`), or for OCI layouts the
    /// `io.containerd.image.name` annotation, else `org.opencontainers.image.ref.name`.
    pub names: Vec<String>,
    /// Its image manifest, when the archive has one (OCI layouts, Docker 25+ archives).
    pub manifest: Option<Descriptor>,
    /// Its platform, when an index gives it.
    pub platform: Option<Platform>,
    /// Its config's descriptor; the digest is the image ID (checked when the archive was opened).
    pub config: Descriptor,
    /// The config, byte for byte.
    pub config_bytes: Vec<u8>,
    /// Its layers, in order.
    pub layers: Vec<ArchivedLayer>,
}

/// One layer of an [`ArchivedImage`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ArchivedLayer {
    /// The archive member (normalised path) holding it.
    pub member: String,
    /// Its media type, digest and size as stored in the archive. The digest comes from the
    /// member's name or the manifest; a legacy `layer.tar` is named by its diff_id when
    /// uncompressed, or hashed when compressed. [`ArchiveReader::verify`] checks it.
    pub descriptor: Descriptor,
    /// How the member is compressed (recognised from its first bytes).
    pub compression: Compression,
    /// The digest of the uncompressed layer, from the config (absent for configs without
    /// `rootfs.diff_ids`, such as artifacts').
    pub diff_id: Option<Digest>,
}

/// What [`ArchiveReader::verify`] checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Blobs whose digest and size were checked.
    pub blobs: usize,
    /// Layers whose uncompressed content was checked against a diff_id.
    pub layers: usize,
    /// Bytes read from the archive.
    pub bytes: u64,
}

/// Reads a docker-save archive (legacy and Docker 25+ layouts, plain or gzip layers, the whole
/// tar plain or gzip-compressed), an OCI archive or an OCI layout directory.
///
/// Opening reads the member headers once (seeking over the data; a gzip-compressed tar is first
/// decompressed to a temporary file of at most 100 times the compressed bytes read so far or
/// 1 GiB, whichever is larger, the same for a pipe as for a file, else
/// [`ArchiveError::InflateLimit`](crate::ArchiveError::InflateLimit)), refusing absolute names, `..` components, links
/// escaping the archive and device files, then parses the manifests and configs and checks the
/// configs' digests. Layers are never held in memory: they are streamed from the archive by
/// [`BlobSource::open`] and [`ArchiveReader::open_layer`]. [`ArchiveReader::verify`] re-hashes
/// everything.
#[derive(Debug)]
pub struct ArchiveReader {
    storage: Storage,
    format: ArchiveFormat,
    images: Vec<ArchivedImage>,
    /// Blob digest → member name.
    blobs: HashMap<Digest, String>,
    /// Bytes of documents read so far (see [`MAX_DOCUMENTS_TOTAL`]).
    documents_read: AtomicU64,
}

impl ArchiveReader {
    /// Opens an archive file or an OCI layout directory.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ArchiveError> {
        let path = path.as_ref();
        let storage = Storage::open(path)?;
        let mut reader = Self {
            storage,
            format: ArchiveFormat::OciLayout,
            images: Vec::new(),
            blobs: HashMap::new(),
            documents_read: AtomicU64::new(0),
        };
        reader.load(path)?;
        Ok(reader)
    }

    /// The layout recognised.
    pub fn format(&self) -> ArchiveFormat {
        self.format
    }

    /// The images, in the order of `manifest.json` or `index.json`.
    pub fn images(&self) -> &[ArchivedImage] {
        &self.images
    }

    /// Streams a layer as stored in the archive.
    pub fn open_layer(&self, layer: &ArchivedLayer) -> Result<Blob<'_>, ArchiveError> {
        self.open_member(&layer.member)?
            .ok_or_else(|| ArchiveError::MissingMember {
                member: layer.member.clone(),
                referenced_by: format!("layer {}", layer.descriptor.digest),
            })
    }

    /// Streams the blob `digest`, or `None` when the archive has no such blob.
    pub fn open_blob(&self, digest: &Digest) -> Result<Option<Blob<'_>>, ArchiveError> {
        match self.blobs.get(digest) {
            Some(member) => self.open_member(member),
            None => Ok(None),
        }
    }

    /// Re-hashes every blob (configs, manifests, layers and any other file under `blobs/`)
    /// against its digest and size, and every layer's uncompressed content against its diff_id.
    /// The first mismatch is returned as an integrity error naming the blob.
    pub fn verify(&self) -> Result<VerifyReport, ArchiveError> {
        let mut report = VerifyReport::default();
        let mut checked: HashSet<&Digest> = HashSet::new();
        for image in &self.images {
            for layer in &image.layers {
                if !checked.insert(&layer.descriptor.digest) {
                    continue;
                }
                report.bytes += self.verify_layer(layer)?;
                report.blobs += 1;
                report.layers += usize::from(layer.diff_id.is_some());
            }
        }
        let mut others: Vec<(&Digest, &String)> = self
            .blobs
            .iter()
            .filter(|(digest, _)| !checked.contains(digest))
            .collect();
        others.sort();
        for (digest, member) in others {
            let mut blob =
                self.open_member(member)?
                    .ok_or_else(|| ArchiveError::MissingMember {
                        member: member.clone(),
                        referenced_by: "the blob index".into(),
                    })?;
            let (size, actual) = hash_to_end(&mut blob, digest.algorithm())
                .map_err(|e| self.read_error(member, e))?;
            if actual != *digest {
                return Err(ArchiveError::DigestMismatch {
                    what: member.clone(),
                    expected: digest.clone(),
                    actual,
                });
            }
            report.bytes += size;
            report.blobs += 1;
        }
        Ok(report)
    }

    fn verify_layer(&self, layer: &ArchivedLayer) -> Result<u64, ArchiveError> {
        let digest = &layer.descriptor.digest;
        let blob = self.open_layer(layer)?;
        let mut stored = HashingReader::new(blob, digest.algorithm());
        let (_, uncompressed) = {
            let mut decoder = layer.compression.decoder(&mut stored);
            let algorithm = layer
                .diff_id
                .as_ref()
                .map_or(digest.algorithm(), Digest::algorithm);
            hash_to_end(&mut decoder, algorithm).map_err(|source| ArchiveError::Decompress {
                layer: digest.clone(),
                compression: layer.compression.name(),
                source,
            })?
        };
        let (size, actual) = stored.finish();
        if actual != *digest {
            return Err(ArchiveError::DigestMismatch {
                what: layer.member.clone(),
                expected: digest.clone(),
                actual,
            });
        }
        if size != layer.descriptor.size {
            return Err(ArchiveError::SizeMismatch {
                digest: digest.clone(),
                expected: layer.descriptor.size,
                actual: size,
            });
        }
        if let Some(diff_id) = &layer.diff_id
            && uncompressed != *diff_id
        {
            return Err(ArchiveError::DiffIdMismatch {
                layer: digest.clone(),
                expected: diff_id.clone(),
                actual: uncompressed,
            });
        }
        Ok(size)
    }

    fn load(&mut self, path: &Path) -> Result<(), ArchiveError> {
        self.index_blob_members()?;
        if self.has_member("manifest.json") {
            self.format = ArchiveFormat::DockerArchive;
            self.load_docker()
        } else if self.has_member("index.json") {
            if matches!(self.storage, Storage::Tar { .. }) {
                self.format = ArchiveFormat::OciArchive;
            }
            self.load_oci()
        } else {
            Err(ArchiveError::NotAnArchive {
                path: path.to_path_buf(),
                reason: "it has neither manifest.json (docker save) nor index.json (OCI layout)"
                    .into(),
            })
        }
    }

    /// Records every `blobs/<algorithm>/<hex>` member under its digest.
    fn index_blob_members(&mut self) -> Result<(), ArchiveError> {
        let names = self.storage.names()?;
        for name in names {
            if let Some(digest) = blob_digest(&name) {
                self.blobs.insert(digest, name);
            }
        }
        Ok(())
    }

    /// Reads and checks a manifest blob.
    fn manifest(&self, descriptor: &Descriptor) -> Result<(Vec<u8>, ManifestDoc), ArchiveError> {
        let what = format!("manifest {}", descriptor.digest);
        let bytes = self.read_blob_document(descriptor, &what)?;
        let doc = ManifestDoc::parse(&bytes, &descriptor.media_type, &what)?;
        Ok((bytes, doc))
    }

    /// Reads a small blob named by its descriptor and checks its digest and size.
    fn read_blob_document(
        &self,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<Vec<u8>, ArchiveError> {
        let member =
            self.blobs
                .get(&descriptor.digest)
                .ok_or_else(|| ArchiveError::MissingMember {
                    member: crate::json::blob_path(&descriptor.digest),
                    referenced_by: what.to_owned(),
                })?;
        let bytes = self.read_document(member, what)?;
        crate::layout::check_bytes(&bytes, descriptor, what)?;
        Ok(bytes)
    }

    /// Checks that a member named `blobs/<algorithm>/<hex>` has that digest.
    fn check_name(member: &str, actual: &Digest) -> Result<(), ArchiveError> {
        match blob_digest(member) {
            Some(named) if named != *actual => Err(ArchiveError::DigestMismatch {
                what: member.to_owned(),
                expected: named,
                actual: actual.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn has_member(&self, name: &str) -> bool {
        self.storage.contains(name)
    }

    /// Reads a small member fully.
    fn read_document(&self, member: &str, referenced_by: &str) -> Result<Vec<u8>, ArchiveError> {
        let blob = self
            .open_member(member)?
            .ok_or_else(|| ArchiveError::MissingMember {
                member: member.to_owned(),
                referenced_by: referenced_by.to_owned(),
            })?;
        if blob.size() > MAX_DOCUMENT {
            return Err(ArchiveError::invalid(
                member,
                format!(
                    "{} bytes is more than the {MAX_DOCUMENT} bytes allowed",
                    blob.size()
                ),
            ));
        }
        let before = self
            .documents_read
            .fetch_add(blob.size(), Ordering::Relaxed);
        if before.saturating_add(blob.size()) > MAX_DOCUMENTS_TOTAL {
            return Err(ArchiveError::invalid(
                member,
                format!(
                    "the archive's manifests, indexes and configs take more than the \
                     {MAX_DOCUMENTS_TOTAL} bytes allowed in all"
                ),
            ));
        }
        let mut bytes = Vec::new();
        blob.take(MAX_DOCUMENT)
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_error(member, e))?;
        Ok(bytes)
    }

    /// Opens a member (a normalised path), or `None` when there is none.
    fn open_member(&self, member: &str) -> Result<Option<Blob<'_>>, ArchiveError> {
        self.storage.open_member(member)
    }

    fn read_error(&self, member: &str, source: io::Error) -> ArchiveError {
        self.storage.read_error(member, source)
    }
}

/// Serves the archive's blobs as they are stored. No [`BlobSource::path`]: the archive's files
/// are not verified until they are read, so writers must copy (and so verify) them rather than
/// hard-link them.
impl BlobSource for ArchiveReader {
    fn open(&self, digest: &Digest) -> io::Result<Option<Blob<'_>>> {
        self.open_blob(digest).map_err(io::Error::other)
    }
}

/// The digest a `blobs/<algorithm>/<hex>` path names.
fn blob_digest(member: &str) -> Option<Digest> {
    let rest = member.strip_prefix("blobs/")?;
    let (algorithm, hex) = rest.split_once('/')?;
    Digest::parse(&format!("{algorithm}:{hex}")).ok()
}
