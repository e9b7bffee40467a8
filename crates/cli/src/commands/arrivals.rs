//! Writing the archive while the downloads run: a [`BlobSource`] over the cache whose reads of
//! a blob still being downloaded wait until it is stored.
//!
//! The archive is written in the order of its manifests, the downloads run largest first and
//! concurrently; letting the writer start at once overlaps the two, so a cold pull takes about
//! as long as its downloads plus the write of whatever arrives last, instead of both in turn.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use imgpull_archive::{Blob, BlobSource};
use imgpull_blobstore::Store;
use imgpull_reference::Digest;

use crate::signal::Cancel;

/// How often a waiting reader looks at the cancellation flag.
const POLL: Duration = Duration::from_millis(100);

/// The blobs a pull is still downloading, and whether the downloads failed.
#[derive(Debug, Default)]
pub struct Arrivals {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    pending: HashSet<Digest>,
    failed: bool,
}

impl Arrivals {
    /// Expects `pending` to be downloaded.
    pub fn new(pending: impl IntoIterator<Item = Digest>) -> Self {
        Self {
            state: Mutex::new(State {
                pending: pending.into_iter().collect(),
                failed: false,
            }),
            changed: Condvar::new(),
        }
    }

    /// Records that `digest` is stored (downloaded, or found stored by another process).
    pub fn arrived(&self, digest: &Digest) {
        self.lock().pending.remove(digest);
        self.changed.notify_all();
    }

    /// Records that the downloads stopped: blobs still pending will never arrive.
    pub fn fail(&self) {
        self.lock().failed = true;
        self.changed.notify_all();
    }

    /// Waits until `digest` is not pending any more (at once for a blob that was never
    /// pending); fails when the downloads failed or the user interrupted.
    fn wait_for(&self, digest: &Digest, cancel: &Cancel) -> io::Result<()> {
        let mut state = self.lock();
        while state.pending.contains(digest) {
            if state.failed || cancel.is_cancelled() {
                return Err(io::Error::other(format!("{digest} was not downloaded")));
            }
            state = self
                .changed
                .wait_timeout(state, POLL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        Ok(())
    }

    /// Whether `digest` is still being downloaded (and the downloads have not failed).
    fn is_pending(&self, digest: &Digest) -> bool {
        let state = self.lock();
        state.pending.contains(digest) && !state.failed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The cache as the archive writer's blob source, waiting for blobs still on their way.
#[derive(Debug)]
pub struct ArrivingSource<'a> {
    store: &'a Store,
    arrivals: &'a Arrivals,
    cancel: &'a Cancel,
}

impl<'a> ArrivingSource<'a> {
    /// Reads from `store` once `arrivals` says a blob is there.
    pub fn new(store: &'a Store, arrivals: &'a Arrivals, cancel: &'a Cancel) -> Self {
        Self {
            store,
            arrivals,
            cancel,
        }
    }
}

impl BlobSource for ArrivingSource<'_> {
    fn open(&self, digest: &Digest) -> io::Result<Option<Blob<'_>>> {
        self.arrivals.wait_for(digest, self.cancel)?;
        BlobSource::open(self.store, digest)
    }

    fn path(&self, digest: &Digest) -> Option<PathBuf> {
        self.arrivals.wait_for(digest, self.cancel).ok()?;
        BlobSource::path(self.store, digest)
    }

    /// A blob still on its way is not ready: the archive writer reserves its place and writes
    /// the entries after it meanwhile. After a failure or a signal, every blob is "ready": opening
    /// it reports the error.
    fn is_ready(&self, digest: &Digest) -> bool {
        self.cancel.is_cancelled() || !self.arrivals.is_pending(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;
    use std::sync::Arc;

    fn store_with(bytes: &[u8]) -> (Store, Digest) {
        let store = Store::temporary().expect("store");
        let digest = Digest::sha256(bytes);
        store.put(&digest, bytes).expect("put");
        (store, digest)
    }

    #[test]
    fn blobs_never_pending_are_served_at_once() {
        let (store, digest) = store_with(b"config");
        let (arrivals, cancel) = (Arrivals::new([]), Cancel::default());
        let source = ArrivingSource::new(&store, &arrivals, &cancel);
        let mut content = String::new();
        source
            .open(&digest)
            .expect("no error")
            .expect("stored")
            .read_to_string(&mut content)
            .expect("read");
        assert_eq!(content, "config");
        assert!(
            source
                .open(&Digest::sha256(b"absent"))
                .expect("no error")
                .is_none()
        );
    }

    #[test]
    fn a_pending_blob_is_served_once_it_arrives() {
        let store = Arc::new(Store::temporary().expect("store"));
        let digest = Digest::sha256(b"layer");
        let arrivals = Arc::new(Arrivals::new([digest.clone()]));
        let reader = {
            let (store, arrivals, digest) =
                (Arc::clone(&store), Arc::clone(&arrivals), digest.clone());
            std::thread::spawn(move || {
                let cancel = Cancel::default();
                let source = ArrivingSource::new(&store, &arrivals, &cancel);
                source
                    .open(&digest)
                    .map(|blob| blob.map(|blob| blob.size()))
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        let cancel = Cancel::default();
        let source = ArrivingSource::new(&store, &arrivals, &cancel);
        assert!(!source.is_ready(&digest), "still on its way");
        store.put(&digest, b"layer").expect("put");
        arrivals.arrived(&digest);
        assert!(source.is_ready(&digest));
        assert_eq!(reader.join().expect("reader").expect("no error"), Some(5));
    }

    #[test]
    fn failed_downloads_and_cancellation_end_the_wait() {
        let digest = Digest::sha256(b"never");
        let store = Store::temporary().expect("store");
        let arrivals = Arrivals::new([digest.clone()]);
        arrivals.fail();
        let cancel = Cancel::default();
        let source = ArrivingSource::new(&store, &arrivals, &cancel);
        assert!(source.is_ready(&digest), "opening it tells the failure");
        assert!(source.open(&digest).is_err());

        let arrivals = Arrivals::new([digest.clone()]);
        let source = ArrivingSource::new(&store, &arrivals, &cancel);
        assert!(!source.is_ready(&digest));
        cancel.cancel();
        assert!(
            source.is_ready(&digest),
            "opening it tells the interruption"
        );
        assert!(source.open(&digest).is_err());
        assert!(source.path(&digest).is_none());
    }
}
