//! Where every file of the cache lives.
//!
//! ```text
//! DIR/oci-layout                 {"imageLayoutVersion":"1.0.0"}
//! DIR/index.json                 the images recorded, with ref.name annotations
//! DIR/blobs/sha256/<hex>         verified blobs only
//! DIR/.imgpull/partial/<alg>-<hex>   downloads in progress or interrupted
//! DIR/.imgpull/locks/<alg>-<hex>     per-blob lock files (removed by their holder on Unix)
//! DIR/.imgpull/index.lock        serialises updates of index.json
//! DIR/.imgpull/cache.lock        shared by pulls using blobs, exclusive for prune and clear
//! DIR/.imgpull/diff-ids.json     diff_id → blobs holding that layer
//! DIR/.imgpull/diff-ids.lock     serialises updates of diff-ids.json
//! DIR/.imgpull/quarantine/       blobs that failed `verify`
//! ```
//!
//! OCI tools only look at `oci-layout`, `index.json` and `blobs/`, so the private directory
//! does not disturb them. It also marks the layout as an imgpull cache, whose blobs were all
//! verified on the way in: an OCI layout without it is not opened as a cache. Partials live on the same file system as `blobs/`, so the final
//! rename is atomic.

use std::path::{Path, PathBuf};

use imgpull_reference::{Algorithm, Digest};

/// The algorithms whose blob directories are scanned by `list`, `verify`, `prune` and `clear`.
pub(crate) const ALGORITHMS: [Algorithm; 2] = [Algorithm::Sha256, Algorithm::Sha512];

/// The paths of one cache directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn oci_layout(&self) -> PathBuf {
        self.root.join("oci-layout")
    }

    pub(crate) fn index_json(&self) -> PathBuf {
        self.root.join("index.json")
    }

    pub(crate) fn blob_dir(&self, algorithm: Algorithm) -> PathBuf {
        self.root.join("blobs").join(algorithm.as_str())
    }

    pub(crate) fn blob(&self, digest: &Digest) -> PathBuf {
        self.blob_dir(digest.algorithm()).join(digest.hex())
    }

    pub(crate) fn private(&self) -> PathBuf {
        self.root.join(".imgpull")
    }

    pub(crate) fn partial_dir(&self) -> PathBuf {
        self.private().join("partial")
    }

    pub(crate) fn partial(&self, digest: &Digest) -> PathBuf {
        self.partial_dir().join(file_key(digest))
    }

    pub(crate) fn lock_dir(&self) -> PathBuf {
        self.private().join("locks")
    }

    pub(crate) fn blob_lock(&self, digest: &Digest) -> PathBuf {
        self.lock_dir().join(file_key(digest))
    }

    pub(crate) fn index_lock(&self) -> PathBuf {
        self.private().join("index.lock")
    }

    pub(crate) fn cache_lock(&self) -> PathBuf {
        self.private().join("cache.lock")
    }

    pub(crate) fn diff_ids(&self) -> PathBuf {
        self.private().join("diff-ids.json")
    }

    pub(crate) fn diff_ids_lock(&self) -> PathBuf {
        self.private().join("diff-ids.lock")
    }

    pub(crate) fn quarantine_dir(&self) -> PathBuf {
        self.private().join("quarantine")
    }
}

/// `<alg>-<hex>`: a digest as a file name without `:` (which Windows forbids).
pub(crate) fn file_key(digest: &Digest) -> String {
    format!("{}-{}", digest.algorithm(), digest.hex())
}

/// The digest named by a [`file_key`], if the name is one.
pub(crate) fn parse_file_key(name: &str) -> Option<Digest> {
    let (algorithm, hex) = name.split_once('-')?;
    Digest::parse(&format!("{algorithm}:{hex}")).ok()
}

/// The digest of a file named `<hex>` in the blob directory of `algorithm`, if the name is one.
pub(crate) fn parse_blob_name(algorithm: Algorithm, name: &str) -> Option<Digest> {
    Digest::parse(&format!("{algorithm}:{name}")).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_round_trip_and_reject_other_names() {
        let d = Digest::sha256(b"x");
        assert_eq!(parse_file_key(&file_key(&d)), Some(d.clone()));
        assert_eq!(parse_blob_name(Algorithm::Sha256, d.hex()), Some(d));
        assert_eq!(parse_file_key("sha256-zz"), None);
        assert_eq!(parse_blob_name(Algorithm::Sha256, ".tmp-abc"), None);
    }
}
