//! Reading OCI image layouts (directories and archives): `index.json`, nested indexes, image
//! manifests of every platform.

use std::collections::{HashMap, HashSet};

use imgpull_reference::{Descriptor, Digest, media_types};

use super::{ArchiveReader, ArchivedImage, ArchivedLayer};
use crate::compression::Compression;
use crate::error::ArchiveError;
use crate::image::{CONTAINERD_IMAGE_NAME, OCI_REF_NAME};
use crate::json::{ConfigDoc, IndexDoc, parse};

/// How deep indexes may nest inside indexes.
const MAX_INDEX_DEPTH: usize = 4;

impl ArchiveReader {
    pub(super) fn load_oci(&mut self) -> Result<(), ArchiveError> {
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
            // Per entry of index.json (whose names every image below it gets), each nested
            // index is walked once: an index listing the same child index many times, at
            // several levels, would otherwise make the walk exponential in the nesting depth.
            let mut walked = HashSet::new();
            self.oci_descriptor(descriptor, &names, &mut seen, &mut walked, 0)?;
        }
        Ok(())
    }

    fn oci_descriptor(
        &mut self,
        descriptor: &Descriptor,
        names: &[String],
        seen: &mut HashMap<Digest, usize>,
        walked: &mut HashSet<Digest>,
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
            if !walked.insert(descriptor.digest.clone()) {
                return Ok(());
            }
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
                self.oci_descriptor(manifest, names, seen, walked, depth + 1)?;
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
            match ConfigDoc::optional_diff_ids(&config_bytes, doc.layers.len(), &config_what)? {
                Some(ids) => ids.into_iter().map(Some).collect(),
                None => vec![None; doc.layers.len()],
            };
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
}
