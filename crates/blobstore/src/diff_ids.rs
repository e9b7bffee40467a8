//! The diff_id index: which stored blobs hold a layer, by its uncompressed digest.
//!
//! A layer is named by its compressed digest in manifests but by its diff_id (the digest of
//! the uncompressed tar) in configs. When a manifest names a compressed blob the cache does not
//! have, the config's diff_id may still lead to a stored copy (an uncompressed layer imported
//! from `docker save`, or the same layer compressed differently).
//!
//! The index is `.imgpull/diff-ids.json`, replaced atomically under `.imgpull/diff-ids.lock`,
//! so that concurrent writers never lose entries and readers need no lock.

use std::collections::{BTreeMap, HashSet};

use imgpull_archive::Compression;
use imgpull_reference::{Digest, media_types};
use serde::{Deserialize, Serialize};

use crate::error::{BlobstoreError, Result};
use crate::fsutil;
use crate::lock::FileLock;
use crate::store::Store;
use crate::writer::BUFFER_SIZE;

/// A stored blob that holds a layer with a given diff_id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffIdEntry {
    /// The blob's digest (equal to the diff_id for an uncompressed layer).
    pub blob: Digest,
    /// The blob's media type, which says how it is compressed.
    pub media_type: String,
}

/// The file format.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexFile {
    /// diff_id → blobs holding it, most recently recorded first.
    #[serde(default)]
    diff_ids: BTreeMap<Digest, Vec<DiffIdEntry>>,
}

impl Store {
    /// Records that `blob` (of `media_type`) holds the layer whose uncompressed digest is
    /// `diff_id`.
    ///
    /// Record only pairs you have verified (by hashing the uncompressed content, as
    /// [`Store::import`] and [`Store::verify_and_record_diff_id`] do): a config's claim alone
    /// would let one image make the cache serve its layer in place of another image's.
    pub fn record_diff_id(&self, diff_id: &Digest, blob: &Digest, media_type: &str) -> Result<()> {
        self.record_diff_ids([(
            diff_id.clone(),
            DiffIdEntry {
                blob: blob.clone(),
                media_type: media_type.to_owned(),
            },
        )])
    }

    /// Records several `(diff_id, entry)` pairs in one update of the index (one lock, one
    /// write), e.g. every layer of an image after a pull.
    pub fn record_diff_ids(
        &self,
        entries: impl IntoIterator<Item = (Digest, DiffIdEntry)>,
    ) -> Result<()> {
        let mut entries = entries.into_iter().peekable();
        if entries.peek().is_none() {
            return Ok(());
        }
        self.update_diff_ids(|index| {
            for (diff_id, entry) in entries {
                let holders = index.diff_ids.entry(diff_id).or_default();
                holders.retain(|held| held.blob != entry.blob);
                holders.insert(0, entry);
            }
        })
    }

    /// Decompresses the stored `blob` (gzip, zstd or plain, recognised from its first bytes),
    /// checks that its content hashes to `diff_id`, and records the pair. A mismatch is
    /// [`BlobstoreError::DiffIdMismatch`] and records nothing. This reads the whole blob; run
    /// it off the critical path (e.g. after a pull's output is written).
    pub fn verify_and_record_diff_id(
        &self,
        diff_id: &Digest,
        blob: &Digest,
        media_type: &str,
    ) -> Result<()> {
        let path = self.path(blob);
        let (compression, compressed) =
            Compression::detect(self.open_blob(blob)?).map_err(BlobstoreError::io("read", path))?;
        let mut hasher = diff_id.algorithm().hasher();
        let mut buf = vec![0_u8; BUFFER_SIZE];
        fsutil::feed(compression.decoder(compressed), &mut hasher, &mut buf).map_err(|source| {
            BlobstoreError::CorruptLayer {
                layer: blob.clone(),
                source,
            }
        })?;
        let actual = hasher.finish();
        if actual != *diff_id {
            return Err(BlobstoreError::DiffIdMismatch {
                layer: blob.clone(),
                expected: diff_id.clone(),
                actual,
            });
        }
        self.record_diff_id(diff_id, blob, media_type)
    }

    /// A stored blob holding the layer `diff_id`: the most recently recorded one that is still
    /// in the store or, failing that, a stored blob whose digest is the diff_id itself (an
    /// uncompressed layer). `None` when the store has no copy of the layer.
    pub fn find_by_diff_id(&self, diff_id: &Digest) -> Result<Option<DiffIdEntry>> {
        let index = self.read_diff_ids()?;
        let recorded = index
            .diff_ids
            .get(diff_id)
            .and_then(|holders| holders.iter().find(|e| self.contains(&e.blob)).cloned());
        Ok(recorded.or_else(|| {
            self.contains(diff_id).then(|| DiffIdEntry {
                blob: diff_id.clone(),
                media_type: media_types::OCI_LAYER_TAR.to_owned(),
            })
        }))
    }

    /// Every recorded (diff_id, blob) pair.
    pub(crate) fn known_diff_ids(&self) -> Result<HashSet<(Digest, Digest)>> {
        Ok(self
            .read_diff_ids()?
            .diff_ids
            .into_iter()
            .flat_map(|(diff_id, holders)| {
                holders.into_iter().map(move |e| (diff_id.clone(), e.blob))
            })
            .collect())
    }

    /// Removes entries whose blob is no longer stored; returns how many were removed.
    pub(crate) fn forget_missing_diff_ids(&self) -> Result<usize> {
        let mut removed = 0;
        self.update_diff_ids(|index| {
            for holders in index.diff_ids.values_mut() {
                let before = holders.len();
                holders.retain(|e| self.contains(&e.blob));
                removed += before - holders.len();
            }
            index.diff_ids.retain(|_, holders| !holders.is_empty());
        })?;
        Ok(removed)
    }

    /// Empties the index.
    pub(crate) fn clear_diff_ids(&self) -> Result<()> {
        self.update_diff_ids(|index| index.diff_ids.clear())
    }

    fn read_diff_ids(&self) -> Result<IndexFile> {
        let path = self.layout().diff_ids();
        match fsutil::read_if_exists(&path)? {
            None => Ok(IndexFile::default()),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| BlobstoreError::Json { path, source }),
        }
    }

    fn update_diff_ids(&self, change: impl FnOnce(&mut IndexFile)) -> Result<()> {
        let layout = self.layout();
        let _lock = FileLock::acquire(&layout.diff_ids_lock())?;
        let mut index = self.read_diff_ids()?;
        change(&mut index);
        let path = layout.diff_ids();
        let bytes = serde_json::to_vec(&index).map_err(|source| BlobstoreError::Json {
            path: path.clone(),
            source,
        })?;
        fsutil::write_atomic(&path, &bytes, &layout.private())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::{Begin, Store};
    use imgpull_reference::{Digest, media_types};

    fn put(store: &Store, content: &[u8]) -> Digest {
        let digest = Digest::sha256(content);
        if let Begin::Write(mut w) = store.begin(&digest, content.len() as u64).unwrap() {
            w.write(content).unwrap();
            w.commit().unwrap();
        }
        digest
    }

    #[test]
    fn finds_the_latest_stored_holder_and_skips_missing_ones() {
        let store = Store::temporary().unwrap();
        let diff_id = Digest::sha256(b"layer tar");
        let gzip = put(&store, b"gzip of layer");
        let missing = Digest::sha256(b"never stored");
        store
            .record_diff_id(&diff_id, &gzip, media_types::OCI_LAYER_TAR_GZIP)
            .unwrap();
        store
            .record_diff_id(&diff_id, &missing, media_types::OCI_LAYER_TAR_ZSTD)
            .unwrap();
        let found = store.find_by_diff_id(&diff_id).unwrap().unwrap();
        assert_eq!(found.blob, gzip);
        assert_eq!(found.media_type, media_types::OCI_LAYER_TAR_GZIP);

        assert_eq!(store.forget_missing_diff_ids().unwrap(), 1);
        assert_eq!(store.find_by_diff_id(&diff_id).unwrap().unwrap().blob, gzip);
    }

    #[test]
    fn only_a_verified_diff_id_is_recorded() {
        let store = Store::temporary().unwrap();
        let tar = b"pretend this is a tar".repeat(100);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, &tar).unwrap();
        let gzip = put(&store, &encoder.finish().unwrap());
        let diff_id = Digest::sha256(&tar);
        let wrong = Digest::sha256(b"another layer");

        let err = store
            .verify_and_record_diff_id(&wrong, &gzip, media_types::OCI_LAYER_TAR_GZIP)
            .unwrap_err();
        assert!(err.is_integrity(), "{err}");
        assert!(store.find_by_diff_id(&wrong).unwrap().is_none());

        store
            .verify_and_record_diff_id(&diff_id, &gzip, media_types::OCI_LAYER_TAR_GZIP)
            .unwrap();
        assert_eq!(store.find_by_diff_id(&diff_id).unwrap().unwrap().blob, gzip);
    }

    #[test]
    fn an_uncompressed_blob_is_its_own_diff_id() {
        let store = Store::temporary().unwrap();
        let tar = put(&store, b"plain tar");
        let found = store.find_by_diff_id(&tar).unwrap().unwrap();
        assert_eq!(found.blob, tar);
        assert_eq!(found.media_type, media_types::OCI_LAYER_TAR);
        assert!(
            store
                .find_by_diff_id(&Digest::sha256(b"other"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn concurrent_recorders_lose_no_entry() {
        let store = Store::temporary().unwrap();
        let blob = put(&store, b"blob");
        std::thread::scope(|s| {
            for t in 0..4_u8 {
                let store = &store;
                let blob = &blob;
                s.spawn(move || {
                    for i in 0..10_u8 {
                        let diff_id = Digest::sha256(&[t, i]);
                        store.record_diff_id(&diff_id, blob, "x").unwrap();
                    }
                });
            }
        });
        for t in 0..4_u8 {
            for i in 0..10_u8 {
                assert!(
                    store
                        .find_by_diff_id(&Digest::sha256(&[t, i]))
                        .unwrap()
                        .is_some()
                );
            }
        }
    }
}
