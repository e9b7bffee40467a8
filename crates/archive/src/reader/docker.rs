//! Reading `docker save` archives: `manifest.json`, legacy `<id>/layer.tar` members and the
//! Docker 25+ layout with its OCI `index.json`.

use std::collections::HashMap;

use imgpull_reference::{Algorithm, Descriptor, Digest, media_types};

use super::{ArchiveReader, ArchivedImage, ArchivedLayer, blob_digest, normalise};
use crate::compression::Compression;
use crate::copy::hash_to_end;
use crate::error::ArchiveError;
use crate::json::{ConfigDoc, DockerManifestEntry, IndexDoc, ManifestDoc, parse};

impl ArchiveReader {
    pub(super) fn load_docker(&mut self) -> Result<(), ArchiveError> {
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
        let blob = self
            .open_member(&member)?
            .ok_or_else(|| ArchiveError::MissingMember {
                member: member.clone(),
                referenced_by: "manifest.json".into(),
            })?;
        let size = blob.size();
        let (compression, mut whole) =
            Compression::detect(blob).map_err(|e| self.read_error(&member, e))?;
        let digest = match (blob_digest(&member), compression) {
            (Some(digest), _) => digest,
            (None, Compression::None) => diff_id.clone(),
            (None, _) => {
                hash_to_end(&mut whole, Algorithm::Sha256)
                    .map_err(|e| self.read_error(&member, e))?
                    .1
            }
        };
        drop(whole);
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
