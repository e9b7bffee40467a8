//! Concurrent, resumable downloads of blobs into the cache.
//!
//! Each download streams the registry's chunks straight into a [`BlobWriter`], which hashes
//! and counts them inline and writes through a large buffer; nothing is held in memory beyond
//! one chunk. A download cut short (error, Ctrl+C) leaves its partial file, and the next
//! attempt resumes at its length with `Range`.

use std::sync::Arc;

use imgpull_blobstore::{Begin, BlobWriter, BlobstoreError, StatsRecorder, Store};
use imgpull_reference::{Descriptor, Digest, Reference};
use imgpull_registry::{Client, RegistryError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::arrivals::Arrivals;
use crate::error::CliError;
use crate::ui::PullProgress;

/// One blob to get from a repository.
#[derive(Debug, Clone)]
pub struct Download {
    /// The repository to fetch it from (its registry and name).
    pub reference: Reference,
    /// The blob.
    pub descriptor: Descriptor,
}

/// Waits for the blob's lock; `None` when the blob is already stored.
fn begin(store: &Store, digest: &Digest, size: u64) -> Result<Option<BlobWriter>, BlobstoreError> {
    loop {
        // `Busy` (or any outcome added later) is matched by the wildcard, so that the
        // blobstore can mark `Begin` non-exhaustive.
        #[allow(clippy::match_wildcard_for_single_variants)]
        match store.begin(digest, size)? {
            Begin::Present => return Ok(None),
            Begin::Write(writer) => return Ok(Some(writer)),
            // `begin` waits for the lock itself; should another writer still hold it, wait a
            // little (this runs on a blocking thread) and look again.
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
}

/// The shared state of a pull's downloads.
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// The registry client.
    pub client: Client,
    /// The cache the blobs go to.
    pub store: Arc<Store>,
    /// Told about every blob as soon as it is stored.
    pub arrivals: Arc<Arrivals>,
    /// The progress display.
    pub progress: PullProgress,
    /// The cache statistics.
    pub stats: Arc<StatsRecorder>,
}

/// Downloads `downloads` (in the order given, at most `concurrency` at a time) into the store.
///
/// The first failure cancels the other downloads (their partial files stay, resumable) and is
/// returned. Blobs that another process stored in the meantime count as hits.
pub async fn download_all(
    fetcher: &Fetcher,
    downloads: Vec<Download>,
    concurrency: usize,
) -> Result<(), CliError> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let mut queue = downloads.into_iter();
    let mut next = queue.next();
    while let Some(download) = next.take() {
        tokio::select! {
            // A failure while waiting for a permit ends the pull at once.
            Some(result) = tasks.join_next() => {
                result??;
                next = Some(download);
            }
            // Taking the permit before spawning starts the downloads in the given order.
            permit = Arc::clone(&permits).acquire_owned() => {
                // The semaphore is never closed, so acquiring cannot fail.
                let Ok(permit) = permit else { break };
                let fetcher = fetcher.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    download_one(&fetcher, &download).await?;
                    fetcher.arrivals.arrived(&download.descriptor.digest);
                    Ok::<(), CliError>(())
                });
                next = queue.next();
            }
        }
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(())
}

async fn download_one(fetcher: &Fetcher, download: &Download) -> Result<(), CliError> {
    let Fetcher {
        client,
        progress,
        stats,
        ..
    } = fetcher;
    let descriptor = &download.descriptor;
    let digest = descriptor.digest.clone();
    let size = descriptor.size;
    let Some(mut writer) = open_writer(fetcher, &digest, size).await? else {
        stats.hit(size);
        progress.cached(&digest.to_string(), size);
        return Ok(());
    };
    stats.miss();
    // Bytes from a mirror or a foreign URL that fail verification are thrown away (the failed
    // commit deletes them) and the next origin serves the blob; the registry's are final.
    // The blob keeps one bar, restarted at each new attempt; the statistics count every byte
    // received, the thrown-away ones too, but only the resumed bytes that were kept as reused.
    let mut origins = client.blob_origins(&download.reference, descriptor);
    let mut bar = progress.download(&digest.to_string(), size, writer.offset());
    loop {
        let offset = writer.offset();
        let mut store_error: Option<BlobstoreError> = None;
        let received = origins
            .download(offset, |chunk: &[u8]| {
                if let Err(error) = writer.write(chunk) {
                    let message = error.to_string();
                    store_error = Some(error);
                    return Err(std::io::Error::other(message));
                }
                stats.downloaded(chunk.len() as u64);
                bar.advance(chunk.len() as u64);
                Ok(())
            })
            .await
            .map(ToString::to_string);
        // Bytes received again and skipped before the writer (a server that ignored or could
        // not serve the range asked for) crossed the network too.
        stats.downloaded(origins.discarded());
        let served = match (received, store_error) {
            (Ok(served), _) => served,
            // The cache refused the bytes: its error says why (integrity, disk full).
            (Err(RegistryError::Sink { .. }), Some(error)) => return Err(error.into()),
            (Err(error), _) => return Err(error.into()),
        };
        // Verifying the digest, fsync and rename: blocking file work.
        match tokio::task::spawn_blocking(move || writer.commit()).await? {
            Ok(()) => {
                stats.reused(offset);
                bar.done();
                return Ok(());
            }
            Err(error) if error.is_integrity() && origins.reject() => {
                progress.warning(&if offset > 0 {
                    format!(
                        "{digest} resumed from {served} failed verification; downloading it again"
                    )
                } else {
                    format!("{digest} from {served} failed verification; trying the next source")
                });
                let Some(next) = open_writer(fetcher, &digest, size).await? else {
                    // Another process stored it meanwhile.
                    bar.withdraw();
                    progress.cached(&digest.to_string(), size);
                    return Ok(());
                };
                writer = next;
                bar.restart(writer.offset());
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// A writer for the blob, waiting for another process that holds its lock; `None` when the
/// blob is stored already.
async fn open_writer(
    fetcher: &Fetcher,
    digest: &Digest,
    size: u64,
) -> Result<Option<BlobWriter>, CliError> {
    let first = {
        let store = Arc::clone(&fetcher.store);
        let digest = digest.clone();
        tokio::task::spawn_blocking(move || store.try_begin(&digest, size)).await??
    };
    #[allow(clippy::match_wildcard_for_single_variants)] // see `begin`
    match first {
        Begin::Present => Ok(None),
        Begin::Write(writer) => Ok(Some(writer)),
        _ => {
            fetcher.progress.waiting(&digest.to_string());
            let store = Arc::clone(&fetcher.store);
            let digest = digest.clone();
            Ok(tokio::task::spawn_blocking(move || begin(&store, &digest, size)).await??)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::ui::Ui;
    use imgpull_reference::Platform;
    use imgpull_registry::ClientBuilder;
    use imgpull_tests::fake::{FakeImage, FakeRegistry, Fault};

    /// A pull of `image`'s layers from `reference` with `client`, into a new store.
    fn pull_of(
        client: Client,
        reference: &Reference,
        image: &FakeImage,
    ) -> (Fetcher, Vec<Download>) {
        let fetcher = Fetcher {
            client,
            store: Arc::new(Store::temporary().expect("store")),
            arrivals: Arc::new(Arrivals::new(
                image.layers.iter().map(|layer| layer.digest.clone()),
            )),
            progress: Ui::new(true, false).pull_progress(),
            stats: Arc::default(),
        };
        let downloads = image
            .layers
            .iter()
            .map(|descriptor| Download {
                reference: reference.clone(),
                descriptor: descriptor.clone(),
            })
            .collect();
        (fetcher, downloads)
    }

    /// Pulls a one-layer image through a mirror whose copy of the layer is corrupt, from a
    /// registry whose copy is corrupt too when `registry_corrupt`. Returns the outcome, the
    /// store, and how many requests for the layer the mirror and the registry received.
    async fn pull_through_corrupt_mirror(
        registry_corrupt: bool,
    ) -> (Result<(), CliError>, Arc<Store>, FakeImage, [usize; 2]) {
        let upstream = FakeRegistry::start().await;
        let mirror = FakeRegistry::start().await;
        let layers = vec![vec![7_u8; 100_000]];
        let platform = Platform::new("linux", "amd64");
        let image = upstream.push_image("app", Some("1"), &platform, &layers);
        mirror.push_image("app", Some("1"), &platform, &layers);
        let layer_path = format!("/blobs/{}", image.layers[0].digest);
        mirror.inject(&layer_path, Fault::CorruptBytes, usize::MAX);
        if registry_corrupt {
            upstream.inject(&layer_path, Fault::CorruptBytes, usize::MAX);
        }
        let client = ClientBuilder::new()
            .mirror(upstream.host(), mirror.uri())
            .build()
            .expect("client");
        let (fetcher, downloads) = pull_of(client, &upstream.reference("app:1"), &image);
        let outcome = download_all(&fetcher, downloads, 1).await;
        let requests = [
            mirror.requests_to(&layer_path).await.len(),
            upstream.requests_to(&layer_path).await.len(),
        ];
        (outcome, fetcher.store, image, requests)
    }

    #[tokio::test]
    async fn a_layer_a_mirror_corrupts_is_stored_from_the_registry() {
        let (outcome, store, image, requests) = pull_through_corrupt_mirror(false).await;

        outcome.expect("the registry's copy is good");
        let digest = &image.layers[0].digest;
        let stored = std::fs::read(store.path(digest)).expect("stored");
        assert_eq!(&Digest::sha256(&stored), digest);
        assert_eq!(requests, [1, 1], "mirror, then registry");
    }

    #[tokio::test]
    async fn a_layer_corrupt_at_the_mirror_and_the_registry_is_an_integrity_error() {
        let (outcome, store, image, requests) = pull_through_corrupt_mirror(true).await;

        let error = outcome.expect_err("no good copy");
        assert_eq!(error.kind(), ErrorKind::Integrity, "{error}");
        assert!(!store.contains(&image.layers[0].digest));
        assert_eq!(requests, [1, 1], "mirror, then registry");
    }

    /// A partial file left by an earlier attempt, whose bytes are bad, is resumed, fails
    /// verification and is downloaded again from byte 0: the statistics count every byte
    /// received (the thrown-away ones too) and no resumed byte as reused, and the progress
    /// total ends at the blob's size.
    #[tokio::test]
    async fn a_bad_resumed_partial_is_downloaded_again_and_counted_once_in_the_progress() {
        let registry = FakeRegistry::start().await;
        let layer = vec![3_u8; 100_000];
        let platform = Platform::new("linux", "amd64");
        let image = registry.push_image("app", Some("1"), &platform, std::slice::from_ref(&layer));
        let client = ClientBuilder::new().build().expect("client");
        let (fetcher, downloads) = pull_of(client, &registry.reference("app:1"), &image);
        let digest = &image.layers[0].digest;
        let mut partial = layer[..40_000].to_vec();
        partial[0] ^= 0xff;
        let Begin::Write(mut writer) = fetcher.store.begin(digest, 100_000).expect("begin") else {
            panic!("the blob is not stored yet");
        };
        writer.write(&partial).expect("partial written");
        drop(writer);
        fetcher.progress.expect_bytes(100_000);

        download_all(&fetcher, downloads, 1)
            .await
            .expect("the registry's bytes are good");

        let stored = std::fs::read(fetcher.store.path(digest)).expect("stored");
        assert_eq!(&Digest::sha256(&stored), digest);
        let stats = fetcher.stats.snapshot();
        assert_eq!(
            (stats.misses, stats.bytes_downloaded, stats.bytes_reused),
            (1, 60_000 + 100_000, 0)
        );
        assert_eq!(fetcher.progress.accounted(), (100_000, Some(100_000)));
        let layer_path = format!("/blobs/{digest}");
        assert_eq!(registry.requests_to(&layer_path).await.len(), 2);
    }

    /// A server that ignores the range of a resumed download sends the blob from its start: the
    /// bytes before the resume position are skipped, but counted as downloaded (they crossed
    /// the network) and the kept partial as reused.
    #[tokio::test]
    async fn bytes_resent_by_a_server_that_ignores_the_range_are_counted_as_downloaded() {
        let registry = FakeRegistry::start().await;
        let layer: Vec<u8> = (0..100_000_u32).map(|i| (i % 251) as u8).collect();
        let platform = Platform::new("linux", "amd64");
        let image = registry.push_image("app", Some("1"), &platform, std::slice::from_ref(&layer));
        let client = ClientBuilder::new().build().expect("client");
        let (fetcher, downloads) = pull_of(client, &registry.reference("app:1"), &image);
        let digest = &image.layers[0].digest;
        let Begin::Write(mut writer) = fetcher.store.begin(digest, 100_000).expect("begin") else {
            panic!("the blob is not stored yet");
        };
        writer.write(&layer[..40_000]).expect("partial written");
        drop(writer);
        registry.inject("/blobs/", Fault::IgnoreRange, 1);

        download_all(&fetcher, downloads, 1)
            .await
            .expect("the whole blob came back");

        let stored = std::fs::read(fetcher.store.path(digest)).expect("stored");
        assert_eq!(stored, layer);
        let stats = fetcher.stats.snapshot();
        assert_eq!(
            (stats.misses, stats.bytes_downloaded, stats.bytes_reused),
            (1, 100_000, 40_000),
            "the 40 000 bytes sent again are downloaded, the partial is reused"
        );
    }

    /// Nothing of a layer may outlive its download: pulling 40 layers three at a time keeps at
    /// most three blob writers (each with a 1 MiB write buffer) alive, not one per layer,
    /// which is what keeps a pull's peak memory independent of its number of layers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_layers_need_no_more_write_buffers_than_concurrent_downloads() {
        let registry = FakeRegistry::start().await;
        // Larger than the blobs the store writes unbuffered (64 KiB).
        let layers: Vec<Vec<u8>> = (0..40_u8).map(|i| vec![i; 100_000]).collect();
        let image = registry.push_image(
            "many",
            Some("latest"),
            &Platform::new("linux", "amd64"),
            &layers,
        );
        let client = ClientBuilder::new().build().expect("client");
        let (fetcher, downloads) = pull_of(client, &registry.reference("many:latest"), &image);
        let store = Arc::clone(&fetcher.store);
        download_all(&fetcher, downloads, 3)
            .await
            .expect("downloads");
        assert!(
            image
                .layers
                .iter()
                .all(|layer| store.contains(&layer.digest))
        );
        let buffers = store.write_buffers_allocated();
        assert!(
            (1..=3).contains(&buffers),
            "{buffers} write buffers for 40 layers downloaded 3 at a time"
        );
    }
}
