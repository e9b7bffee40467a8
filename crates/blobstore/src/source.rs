//! The store as a [`BlobSource`] for the archive writers.

use std::io;
use std::path::PathBuf;

use imgpull_archive::{Blob, BlobSource};
use imgpull_reference::Digest;

use crate::error::BlobstoreError;
use crate::store::{self, Store};

/// Serves stored blobs to the archive writers; every blob served counts as a use.
impl BlobSource for Store {
    fn open(&self, digest: &Digest) -> io::Result<Option<Blob<'_>>> {
        let file = match self.open_blob(digest) {
            Ok(file) => file,
            Err(BlobstoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(io::Error::other(e)),
        };
        let size = file.metadata()?.len();
        Ok(Some(Blob::new(file, size)))
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
