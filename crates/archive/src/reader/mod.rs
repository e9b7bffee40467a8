//! A verifying reader of docker-save archives, OCI archives and OCI layout directories.

mod members;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use imgpull_reference::{Descriptor, Digest, Platform, media_types};
use tempfile::NamedTempFile;

use crate::compression::Compression;
use crate::error::ArchiveError;
use crate::image::{CONTAINERD_IMAGE_NAME, OCI_REF_NAME};
use crate::io::{HashingReader, hash_to_end};
use crate::json::{ConfigDoc, DockerManifestEntry, IndexDoc, MAX_DOCUMENT, ManifestDoc, parse};
use crate::source::{Blob, BlobSource};

use members::Members;
pub(crate) use members::normalise;

/// How deep indexes may nest inside indexes.
const MAX_INDEX_DEPTH: usize = 4;

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
/// decompressed to an unnamed temporary file), refusing absolute names, `..` components, links
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
}

#[derive(Debug)]
enum Storage {
    Tar { file: TarFile, members: Members },
    Dir { root: PathBuf },
}

#[derive(Debug)]
enum TarFile {
    Path(PathBuf),
    Inflated {
        original: PathBuf,
        temp: NamedTempFile,
    },
}

impl TarFile {
    fn open(&self) -> Result<File, ArchiveError> {
        match self {
            Self::Path(path) => {
                File::open(path).map_err(|e| ArchiveError::file("cannot open", path, e))
            }
            Self::Inflated { original, temp } => temp.reopen().map_err(|e| {
                ArchiveError::file("cannot reopen the decompressed copy of", original, e)
            }),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Self::Path(path) | Self::Inflated { original: path, .. } => path,
        }
    }
}

impl ArchiveReader {
    /// Opens an archive file or an OCI layout directory.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ArchiveError> {
        let path = path.as_ref();
        let metadata =
            fs::metadata(path).map_err(|e| ArchiveError::file("cannot open", path, e))?;
        let storage = if metadata.is_dir() {
            let root =
                fs::canonicalize(path).map_err(|e| ArchiveError::file("cannot open", path, e))?;
            Storage::Dir { root }
        } else {
            let file = open_tar(path)?;
            let handle = file.open()?;
            let members = Members::index(&handle, path)?;
            Storage::Tar { file, members }
        };
        let mut reader = Self {
            storage,
            format: ArchiveFormat::OciLayout,
            images: Vec::new(),
            blobs: HashMap::new(),
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
            let (size, actual) = hash_to_end(&mut blob).map_err(|e| self.read_error(member, e))?;
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
            hash_to_end(&mut decoder).map_err(|source| ArchiveError::Decompress {
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
        let names: Vec<String> = match &self.storage {
            Storage::Tar { members, .. } => members.names().map(str::to_owned).collect(),
            Storage::Dir { root } => list_blob_files(root)?,
        };
        for name in names {
            if let Some(digest) = blob_digest(&name) {
                self.blobs.insert(digest, name);
            }
        }
        Ok(())
    }

    fn load_docker(&mut self) -> Result<(), ArchiveError> {
        let entries: Vec<DockerManifestEntry> = parse(
            &self.read_document("manifest.json", "the archive")?,
            "manifest.json",
        )?;
        let manifests = self.docker_oci_manifests()?;
        for entry in entries {
            let config_member = normalise_reference(&entry.config)?;
            let config_bytes = self.read_document(&config_member, "manifest.json")?;
            let config_digest = Digest::sha256(&config_bytes);
            Self::check_name(&config_member, &config_digest)?;
            let what = format!("config {config_member}");
            let diff_ids = ConfigDoc::diff_ids(&config_bytes, entry.layers.len(), &what)?;
            let oci = manifests.get(&config_digest);
            let mut layers = Vec::with_capacity(entry.layers.len());
            for (i, (layer, diff_id)) in entry.layers.iter().zip(diff_ids).enumerate() {
                let member = normalise_reference(layer)?;
                let stored = oci.and_then(|(_, doc)| doc.layers.get(i));
                layers.push(self.docker_layer(member, diff_id, stored)?);
            }
            let config_type = oci.map_or(media_types::OCI_IMAGE_CONFIG.to_owned(), |(_, doc)| {
                doc.config.media_type.clone()
            });
            self.blobs
                .entry(config_digest.clone())
                .or_insert(config_member);
            self.images.push(ArchivedImage {
                names: entry.repo_tags.unwrap_or_default(),
                manifest: oci.map(|(d, _)| d.clone()),
                platform: None,
                config: Descriptor::new(config_type, config_digest, config_bytes.len() as u64),
                config_bytes,
                layers,
            });
        }
        Ok(())
    }

    /// The image manifests a Docker 25+ archive's `index.json` lists, by config digest.
    fn docker_oci_manifests(
        &self,
    ) -> Result<HashMap<Digest, (Descriptor, ManifestDoc)>, ArchiveError> {
        let mut found = HashMap::new();
        if !self.has_member("index.json") {
            return Ok(found);
        }
        let index: IndexDoc = parse(
            &self.read_document("index.json", "the archive")?,
            "index.json",
        )?;
        for descriptor in index.manifests {
            if !media_types::is_image_manifest(&descriptor.media_type)
                || !self.blobs.contains_key(&descriptor.digest)
            {
                continue;
            }
            let (_, doc) = self.manifest(&descriptor)?;
            found.entry(doc.config.digest.clone()).or_insert((
                Descriptor::new(
                    descriptor.media_type.clone(),
                    descriptor.digest.clone(),
                    descriptor.size,
                ),
                doc,
            ));
        }
        Ok(found)
    }

    fn docker_layer(
        &mut self,
        member: String,
        diff_id: Digest,
        stored: Option<&Descriptor>,
    ) -> Result<ArchivedLayer, ArchiveError> {
        let mut blob = self
            .open_member(&member)?
            .ok_or_else(|| ArchiveError::MissingMember {
                member: member.clone(),
                referenced_by: "manifest.json".into(),
            })?;
        let size = blob.size();
        let mut prefix = [0_u8; 4];
        let n = read_prefix(&mut blob, &mut prefix).map_err(|e| self.read_error(&member, e))?;
        let compression = Compression::sniff(&prefix[..n]);
        drop(blob);
        let digest = match (blob_digest(&member), compression) {
            (Some(digest), _) => digest,
            (None, Compression::None) => diff_id.clone(),
            (None, _) => {
                let mut blob =
                    self.open_member(&member)?
                        .ok_or_else(|| ArchiveError::MissingMember {
                            member: member.clone(),
                            referenced_by: "manifest.json".into(),
                        })?;
                hash_to_end(&mut blob)
                    .map_err(|e| self.read_error(&member, e))?
                    .1
            }
        };
        let media_type = match stored {
            Some(d) if d.digest == digest => d.media_type.clone(),
            _ => layer_media_type(compression).to_owned(),
        };
        self.blobs
            .entry(digest.clone())
            .or_insert_with(|| member.clone());
        Ok(ArchivedLayer {
            member,
            descriptor: Descriptor::new(media_type, digest, size),
            compression,
            diff_id: Some(diff_id),
        })
    }

    fn load_oci(&mut self) -> Result<(), ArchiveError> {
        let index: IndexDoc = parse(
            &self.read_document("index.json", "the layout")?,
            "index.json",
        )?;
        let mut seen: HashMap<Digest, usize> = HashMap::new();
        for descriptor in &index.manifests {
            let names: Vec<String> = descriptor
                .annotations
                .get(CONTAINERD_IMAGE_NAME)
                .or_else(|| descriptor.annotations.get(OCI_REF_NAME))
                .cloned()
                .into_iter()
                .collect();
            self.oci_descriptor(descriptor, &names, &mut seen, 0)?;
        }
        Ok(())
    }

    fn oci_descriptor(
        &mut self,
        descriptor: &Descriptor,
        names: &[String],
        seen: &mut HashMap<Digest, usize>,
        depth: usize,
    ) -> Result<(), ArchiveError> {
        if let Some(&i) = seen.get(&descriptor.digest) {
            for name in names {
                if !self.images[i].names.contains(name) {
                    self.images[i].names.push(name.clone());
                }
            }
            return Ok(());
        }
        if media_types::is_index(&descriptor.media_type) {
            if depth >= MAX_INDEX_DEPTH {
                return Err(ArchiveError::invalid(
                    format!("index {}", descriptor.digest),
                    "indexes nested too deeply",
                ));
            }
            let what = format!("index {}", descriptor.digest);
            let bytes = self.read_blob_document(descriptor, &what)?;
            let child: IndexDoc = parse(&bytes, &what)?;
            for manifest in &child.manifests {
                self.oci_descriptor(manifest, names, seen, depth + 1)?;
            }
            return Ok(());
        }
        if !media_types::is_image_manifest(&descriptor.media_type) {
            return Ok(());
        }
        let (_, doc) = self.manifest(descriptor)?;
        let config_what = format!("config {}", doc.config.digest);
        let config_bytes = self.read_blob_document(&doc.config, &config_what)?;
        let diff_ids: Vec<Option<Digest>> =
            ConfigDoc::diff_ids(&config_bytes, doc.layers.len(), &config_what).map_or_else(
                |_| vec![None; doc.layers.len()],
                |ids| ids.into_iter().map(Some).collect(),
            );
        let mut layers = Vec::with_capacity(doc.layers.len());
        for (layer, diff_id) in doc.layers.iter().zip(diff_ids) {
            let member = self.blobs.get(&layer.digest).cloned().ok_or_else(|| {
                ArchiveError::MissingMember {
                    member: crate::json::blob_path(&layer.digest),
                    referenced_by: format!("manifest {}", descriptor.digest),
                }
            })?;
            let compression =
                Compression::from_media_type(&layer.media_type).unwrap_or(Compression::None);
            layers.push(ArchivedLayer {
                member,
                descriptor: layer.clone(),
                compression,
                diff_id,
            });
        }
        seen.insert(descriptor.digest.clone(), self.images.len());
        self.images.push(ArchivedImage {
            names: names.to_vec(),
            manifest: Some(Descriptor::new(
                descriptor.media_type.clone(),
                descriptor.digest.clone(),
                descriptor.size,
            )),
            platform: descriptor.platform.clone(),
            config: doc.config,
            config_bytes,
            layers,
        });
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
        match &self.storage {
            Storage::Tar { members, .. } => members.contains(name),
            Storage::Dir { root } => root.join(name).is_file(),
        }
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
        let mut bytes = Vec::new();
        blob.take(MAX_DOCUMENT)
            .read_to_end(&mut bytes)
            .map_err(|e| self.read_error(member, e))?;
        Ok(bytes)
    }

    /// Opens a member (a normalised path), or `None` when there is none.
    fn open_member(&self, member: &str) -> Result<Option<Blob<'_>>, ArchiveError> {
        match &self.storage {
            Storage::Tar { file, members } => {
                let Some(span) = members.get(member)? else {
                    return Ok(None);
                };
                let mut handle = file.open()?;
                handle
                    .seek(SeekFrom::Start(span.offset))
                    .map_err(|e| self.read_error(member, e))?;
                Ok(Some(Blob::new(
                    BufReader::with_capacity(crate::io::BUFFER, handle).take(span.size),
                    span.size,
                )))
            }
            Storage::Dir { root } => {
                let path = root.join(member);
                let Ok(real) = fs::canonicalize(&path) else {
                    return Ok(None);
                };
                if !real.starts_with(root) {
                    return Err(ArchiveError::UnsafeMember {
                        member: member.to_owned(),
                        reason: "a link to a file outside the layout".into(),
                    });
                }
                let handle =
                    File::open(&real).map_err(|e| ArchiveError::file("cannot open", &real, e))?;
                let size = handle
                    .metadata()
                    .map_err(|e| ArchiveError::file("cannot read", &real, e))?
                    .len();
                if !real.is_file() {
                    return Ok(None);
                }
                Ok(Some(Blob::new(
                    BufReader::with_capacity(crate::io::BUFFER, handle).take(size),
                    size,
                )))
            }
        }
    }

    fn read_error(&self, member: &str, source: io::Error) -> ArchiveError {
        let archive = match &self.storage {
            Storage::Tar { file, .. } => file.path().to_path_buf(),
            Storage::Dir { root } => root.clone(),
        };
        ArchiveError::File {
            action: "cannot read",
            path: archive.join(member),
            source,
        }
    }
}

impl BlobSource for ArchiveReader {
    fn open(&self, digest: &Digest) -> io::Result<Option<Blob<'_>>> {
        self.open_blob(digest).map_err(io::Error::other)
    }

    fn path(&self, digest: &Digest) -> Option<PathBuf> {
        match &self.storage {
            Storage::Dir { root } => {
                let path = root.join(self.blobs.get(digest)?);
                path.is_file().then_some(path)
            }
            Storage::Tar { .. } => None,
        }
    }
}

/// Opens a tar, decompressing a gzip-compressed one into an unnamed temporary file first.
fn open_tar(path: &Path) -> Result<TarFile, ArchiveError> {
    let mut file = File::open(path).map_err(|e| ArchiveError::file("cannot open", path, e))?;
    let mut prefix = [0_u8; 4];
    let n = read_prefix(&mut file, &mut prefix)
        .map_err(|e| ArchiveError::file("cannot read", path, e))?;
    if Compression::sniff(&prefix[..n]) != Compression::Gzip {
        return Ok(TarFile::Path(path.to_path_buf()));
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| ArchiveError::file("cannot read", path, e))?;
    let mut temp = NamedTempFile::new()
        .map_err(|e| ArchiveError::file("cannot create a temporary file for", path, e))?;
    let mut decoder = Compression::Gzip.decoder(BufReader::new(file));
    io::copy(&mut decoder, temp.as_file_mut()).map_err(|source| ArchiveError::Tar {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(TarFile::Inflated {
        original: path.to_path_buf(),
        temp,
    })
}

/// Reads up to `buf.len()` bytes (fewer only at the end of the input).
fn read_prefix(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The digest a `blobs/<algorithm>/<hex>` path names.
fn blob_digest(member: &str) -> Option<Digest> {
    let rest = member.strip_prefix("blobs/")?;
    let (algorithm, hex) = rest.split_once('/')?;
    Digest::parse(&format!("{algorithm}:{hex}")).ok()
}

/// The normalised member a `manifest.json` path refers to.
fn normalise_reference(path: &str) -> Result<String, ArchiveError> {
    normalise(path).map_err(|reason| ArchiveError::UnsafeMember {
        member: path.to_owned(),
        reason,
    })
}

/// The OCI media type of a layer with this compression.
fn layer_media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => media_types::OCI_LAYER_TAR,
        Compression::Gzip => media_types::OCI_LAYER_TAR_GZIP,
        Compression::Zstd => media_types::OCI_LAYER_TAR_ZSTD,
    }
}

/// The `blobs/<algorithm>/<hex>` files of a layout directory.
fn list_blob_files(root: &Path) -> Result<Vec<String>, ArchiveError> {
    let blobs = root.join("blobs");
    let mut names = Vec::new();
    let Ok(algorithms) = fs::read_dir(&blobs) else {
        return Ok(names);
    };
    for algorithm in algorithms {
        let algorithm = algorithm.map_err(|e| ArchiveError::file("cannot list", &blobs, e))?;
        let dir = algorithm.path();
        if !dir.is_dir() {
            continue;
        }
        for file in fs::read_dir(&dir).map_err(|e| ArchiveError::file("cannot list", &dir, e))? {
            let file = file.map_err(|e| ArchiveError::file("cannot list", &dir, e))?;
            names.push(format!(
                "blobs/{}/{}",
                algorithm.file_name().to_string_lossy(),
                file.file_name().to_string_lossy()
            ));
        }
    }
    Ok(names)
}
