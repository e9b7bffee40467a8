//! The store as a [`BlobSource`] for the archive writers.

use std::io;
use std::path::PathBuf;

use imgpull_archive::{Blob, BlobSource};
use imgpull_reference::Digest;

use crate::error::BlobstoreError;
use crate::store::{self, Store};

/// Serves stored blobs to the archive writers; every blob served counts as a use.
///
/// Blobs are served as [`Blob::verified_file`]s: a stored blob was hashed and checked against
/// its digest before it became visible under `blobs/`, and is read-only since, so the writers
/// check only its size and copy it file to file. [`Store::verify`] re-checks the stored files
/// (`imgpull cache verify`) for a cache whose disk may have been tampered with.
impl BlobSource for Store {
    fn open(&self, digest: &Digest) -> io::Result<Option<Blob<'_>>> {
        let file = match self.open_blob(digest) {
            Ok(file) => file,
            Err(BlobstoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(io::Error::other(e)),
        };
        let size = file.metadata()?.len();
        Ok(Some(Blob::verified_file(file, size)))
    }

    /// The blob's file, for hard links, reflinks or `copy_file_range`. It is read-only and
    /// must stay unmodified.
    fn path(&self, digest: &Digest) -> Option<PathBuf> {
        let path = Store::path(self, digest);
        if path.is_file() {
            store::touch(&path);
            Some(path)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use imgpull_archive::BlobSource;
    use imgpull_reference::Digest;

    use crate::Store;

    #[test]
    fn stored_blobs_are_served_as_verified_files_of_their_size() {
        let store = Store::temporary().expect("store");
        let digest = Digest::sha256(b"stored blob");
        store.put(&digest, b"stored blob").expect("put");
        let mut blob = BlobSource::open(&store, &digest)
            .expect("no error")
            .expect("stored");
        assert!(blob.is_verified());
        assert_eq!(blob.size(), 11);
        let mut content = Vec::new();
        blob.read_to_end(&mut content).expect("read");
        assert_eq!(content, b"stored blob");
        let absent = Digest::sha256(b"absent");
        assert!(
            BlobSource::open(&store, &absent)
                .expect("no error")
                .is_none()
        );
    }
}
