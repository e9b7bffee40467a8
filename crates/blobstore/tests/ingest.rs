//! Writing blobs: verification, size limits, resuming, locking.

#![allow(clippy::unwrap_used)]

mod common;

use std::fs;
use std::path::Path;

use imgpull_blobstore::{Begin, BlobWriter, BlobstoreError, ErrorKind, Store};
use imgpull_reference::Digest;

fn writer(store: &Store, digest: &Digest, size: u64) -> BlobWriter {
    match store.begin(digest, size).unwrap() {
        Begin::Write(w) => w,
        other => panic!("expected a writer, got {other:?}"),
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn content(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i * 31 % 251).unwrap())
        .collect()
}

#[test]
fn a_corrupted_stream_is_rejected_and_leaves_nothing_under_blobs() {
    let store = Store::temporary().unwrap();
    let good = content(100_000);
    let digest = Digest::sha256(&good);
    let mut bad = good.clone();
    bad[50_000] ^= 1;

    let mut w = writer(&store, &digest, good.len() as u64);
    for chunk in bad.chunks(7_000) {
        w.write(chunk).unwrap();
    }
    let err = w.commit().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Integrity);
    match &err {
        BlobstoreError::DigestMismatch {
            expected,
            actual,
            expected_size,
            actual_size,
        } => {
            assert_eq!(expected, &digest);
            assert_eq!(actual, &Digest::sha256(&bad));
            assert_eq!((*expected_size, *actual_size), (100_000, 100_000));
        }
        other => panic!("unexpected error {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&digest.to_string())
            && message.contains(&Digest::sha256(&bad).to_string())
    );

    assert!(files_under(&store.dir().join("blobs")).is_empty());
    assert!(!store.contains(&digest));
    // The partial was deleted too: the next attempt starts from zero.
    assert_eq!(writer(&store, &digest, good.len() as u64).offset(), 0);
}

#[test]
fn writing_past_the_expected_size_is_refused() {
    let store = Store::temporary().unwrap();
    let data = content(1_000);
    let digest = Digest::sha256(&data);
    let mut w = writer(&store, &digest, 1_000);
    w.write(&data[..600]).unwrap();
    let err = w.write(&data[..600]).unwrap_err();
    assert!(err.is_integrity());
    assert!(matches!(
        err,
        BlobstoreError::SizeExceeded {
            expected_size: 1_000,
            received: 1_200,
            ..
        }
    ));
    // Nothing of the refused write was taken: the right bytes still complete the blob.
    assert_eq!(w.written(), 600);
    w.write(&data[600..]).unwrap();
    w.commit().unwrap();
    assert_eq!(fs::read(store.path(&digest)).unwrap(), data);
}

#[test]
fn committing_too_few_bytes_keeps_the_partial_for_resuming() {
    let store = Store::temporary().unwrap();
    let data = content(5_000);
    let digest = Digest::sha256(&data);
    let mut w = writer(&store, &digest, 5_000);
    w.write(&data[..1_234]).unwrap();
    let err = w.commit().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Incomplete);
    assert!(!store.contains(&digest));
    assert_eq!(writer(&store, &digest, 5_000).offset(), 1_234);
}

#[test]
fn an_interrupted_download_resumes_in_a_new_store_with_the_right_offset_and_digest() {
    let dir = tempfile::tempdir().unwrap();
    let data = content(3 << 20);
    let digest = Digest::sha256(&data);
    let cut = 1_234_567;
    {
        let store = Store::open(dir.path()).unwrap();
        let mut w = writer(&store, &digest, data.len() as u64);
        for chunk in data[..cut].chunks(16 * 1024) {
            w.write(chunk).unwrap();
        }
        // Dropped without commit: like Ctrl+C or a broken connection.
    }
    let store = Store::open(dir.path()).unwrap();
    assert!(!store.contains(&digest));
    let mut w = writer(&store, &digest, data.len() as u64);
    assert_eq!(w.offset(), cut as u64);
    for chunk in data[cut..].chunks(16 * 1024) {
        w.write(chunk).unwrap();
    }
    w.commit().unwrap();
    assert_eq!(
        Digest::sha256(&fs::read(store.path(&digest)).unwrap()),
        digest
    );
    assert!(files_under(&dir.path().join(".imgpull/partial")).is_empty());
}

#[test]
fn a_resumed_partial_with_wrong_bytes_fails_verification_and_is_deleted() {
    let store = Store::temporary().unwrap();
    let data = content(10_000);
    let digest = Digest::sha256(&data);
    {
        let mut w = writer(&store, &digest, 10_000);
        w.write(&[0xff; 4_000]).unwrap();
    }
    let mut w = writer(&store, &digest, 10_000);
    assert_eq!(w.offset(), 4_000);
    w.write(&data[4_000..]).unwrap();
    assert!(w.commit().unwrap_err().is_integrity());
    assert!(!store.contains(&digest));
    assert_eq!(writer(&store, &digest, 10_000).offset(), 0);
}

#[test]
fn a_partial_longer_than_the_blob_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let data = content(1_000);
    let digest = Digest::sha256(&data);
    {
        let store = Store::open(dir.path()).unwrap();
        let mut w = writer(&store, &digest, 5_000);
        w.write(&content(3_000)).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    // Asked again with the real (smaller) size: the 3,000-byte partial cannot be a prefix.
    let mut w = writer(&store, &digest, 1_000);
    assert_eq!(w.offset(), 0);
    w.write(&data).unwrap();
    w.commit().unwrap();
    assert!(store.contains(&digest));
}

#[test]
fn a_complete_verified_partial_is_published_by_begin() {
    let store = Store::temporary().unwrap();
    let data = content(2_000);
    let digest = Digest::sha256(&data);
    {
        let mut w = writer(&store, &digest, 2_000);
        w.write(&data).unwrap();
        // Crashed between the last byte and the commit.
    }
    assert!(!store.contains(&digest));
    assert!(matches!(
        store.begin(&digest, 2_000).unwrap(),
        Begin::Present
    ));
    assert!(store.contains(&digest));
}

#[test]
fn discard_removes_the_partial() {
    let store = Store::temporary().unwrap();
    let data = content(2_000);
    let digest = Digest::sha256(&data);
    let mut w = writer(&store, &digest, 2_000);
    w.write(&data[..500]).unwrap();
    w.discard().unwrap();
    assert_eq!(writer(&store, &digest, 2_000).offset(), 0);
}

#[test]
fn try_begin_reports_busy_while_a_writer_holds_the_blob_then_present() {
    let store = Store::temporary().unwrap();
    let data = content(4_000);
    let digest = Digest::sha256(&data);
    let mut w = writer(&store, &digest, 4_000);
    assert!(matches!(
        store.try_begin(&digest, 4_000).unwrap(),
        Begin::Busy
    ));
    w.write(&data).unwrap();
    w.commit().unwrap();
    assert!(matches!(
        store.try_begin(&digest, 4_000).unwrap(),
        Begin::Present
    ));
}

#[test]
fn begin_waits_for_another_writer_then_finds_the_blob_present() {
    let store = Store::temporary().unwrap();
    let data = content(300_000);
    let digest = Digest::sha256(&data);
    let mut w = writer(&store, &digest, data.len() as u64);
    std::thread::scope(|s| {
        let waiter = s.spawn(|| store.begin(&digest, data.len() as u64).unwrap());
        for chunk in data.chunks(10_000) {
            w.write(chunk).unwrap();
        }
        w.commit().unwrap();
        assert!(matches!(waiter.join().unwrap(), Begin::Present));
    });
}

#[test]
fn a_stored_blob_announced_with_another_size_is_an_integrity_error() {
    let store = Store::temporary().unwrap();
    let data = content(100);
    let digest = Digest::sha256(&data);
    let mut w = writer(&store, &digest, 100);
    w.write(&data).unwrap();
    w.commit().unwrap();
    let err = store.begin(&digest, 101).unwrap_err();
    assert!(matches!(
        err,
        BlobstoreError::SizeMismatch {
            expected: 101,
            actual: 100,
            ..
        }
    ));
    assert!(err.is_integrity());
}

#[test]
fn stored_blobs_are_read_back_through_the_store() {
    let store = Store::temporary().unwrap();
    let data = content(777);
    let digest = Digest::sha256(&data);
    let mut w = writer(&store, &digest, 777);
    std::io::Write::write_all(&mut w, &data).unwrap();
    w.commit().unwrap();
    assert_eq!(store.size(&digest).unwrap(), 777);
    let mut read = Vec::new();
    std::io::Read::read_to_end(&mut store.open_blob(&digest).unwrap(), &mut read).unwrap();
    assert_eq!(read, data);
    let missing = Digest::sha256(b"missing");
    assert_eq!(
        store.open_blob(&missing).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        store.size(&missing).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn sha512_blobs_are_stored_under_their_algorithm() {
    let store = Store::temporary().unwrap();
    let data = content(321);
    let digest = Digest::sha512(&data);
    let mut w = writer(&store, &digest, 321);
    w.write(&data).unwrap();
    w.commit().unwrap();
    assert_eq!(
        store.path(&digest),
        store.dir().join("blobs/sha512").join(digest.hex())
    );
    assert!(store.contains(&digest));
}

#[test]
fn opening_a_foreign_non_empty_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, BlobstoreError::NotAStore { .. }));
    assert!(!dir.path().join(".imgpull").exists());
}

#[test]
fn an_oci_layout_made_by_another_tool_is_not_opened_as_a_cache_but_imported() {
    let work = tempfile::tempdir().unwrap();
    let image = common::TestImage::new(&[("a", b"aaaa")]);
    let layout = work.path().join("layout");
    image.write_oci_layout(&layout, "v1");
    // A blob that does not match its name: served as verified, it would reach outputs.
    let layer = &image.layers[0].descriptor.digest;
    let blob = layout.join("blobs/sha256").join(layer.hex());
    let mut bytes = fs::read(&blob).unwrap();
    bytes[0] ^= 0xff;
    fs::write(&blob, &bytes).unwrap();

    let err = Store::open(&layout).unwrap_err();
    assert!(
        matches!(&err, BlobstoreError::ForeignLayout { path } if *path == layout),
        "{err}"
    );
    assert!(err.to_string().contains("not an imgpull cache"), "{err}");
    assert!(
        !layout.join(".imgpull").exists(),
        "the layout is left as it was"
    );

    // Importing it verifies every blob: the corrupt one is refused.
    let store = Store::open(work.path().join("cache")).unwrap();
    let err = store.import(&layout).unwrap_err();
    assert!(err.is_integrity(), "{err}");
    assert!(!store.contains(layer));
}

#[test]
fn a_new_store_is_an_oci_layout() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cache");
    Store::open(&root).unwrap();
    let layout: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("oci-layout")).unwrap()).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(root.join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert_eq!(index["manifests"], serde_json::json!([]));
    assert!(root.join("blobs/sha256").is_dir());
    assert!(root.join(".imgpull").is_dir(), "marked as an imgpull cache");
    // Opening again keeps everything.
    Store::open(&root).unwrap();
}

#[test]
fn a_temporary_store_is_removed_on_drop() {
    let store = Store::temporary().unwrap();
    let dir = store.dir().to_path_buf();
    assert!(dir.join("oci-layout").is_file());
    drop(store);
    assert!(!dir.exists());
}

#[test]
fn put_stores_verified_bytes_once() {
    let store = Store::temporary().unwrap();
    let digest = Digest::sha256(b"{}");
    assert!(store.put(&digest, b"{}").unwrap());
    assert!(!store.put(&digest, b"{}").unwrap());
    let wrong = Digest::sha256(b"[]");
    assert!(store.put(&wrong, b"{}").unwrap_err().is_integrity());
    assert!(!store.contains(&wrong));
}

#[test]
fn the_store_serves_blobs_to_archive_writers() {
    use imgpull_archive::BlobSource;
    let store = Store::temporary().unwrap();
    let data = content(999);
    let digest = Digest::sha256(&data);
    store.put(&digest, &data).unwrap();
    let mut blob = BlobSource::open(&store, &digest).unwrap().unwrap();
    assert_eq!(blob.size(), 999);
    let mut read = Vec::new();
    std::io::Read::read_to_end(&mut blob, &mut read).unwrap();
    assert_eq!(read, data);
    assert_eq!(BlobSource::path(&store, &digest), Some(store.path(&digest)));
    let missing = Digest::sha256(b"missing");
    assert!(BlobSource::open(&store, &missing).unwrap().is_none());
    assert_eq!(BlobSource::path(&store, &missing), None);
}

mod resume {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// However a stream is chunked and wherever it is cut, resuming yields the blob.
        #[test]
        fn any_cut_and_chunking_resumes_to_the_same_blob(
            len in 1_usize..200_000,
            cut_permille in 0_usize..=1000,
            chunk in 1_usize..70_000,
        ) {
            let store = Store::temporary().unwrap();
            let data = content(len);
            let digest = Digest::sha256(&data);
            let cut = len * cut_permille / 1000;
            {
                let mut w = writer(&store, &digest, len as u64);
                for part in data[..cut].chunks(chunk) {
                    w.write(part).unwrap();
                }
            }
            if cut == len {
                // A complete partial is verified and published by `begin` itself.
                prop_assert!(matches!(store.begin(&digest, len as u64).unwrap(), Begin::Present));
            } else {
                let mut w = writer(&store, &digest, len as u64);
                prop_assert_eq!(w.offset(), cut as u64);
                for part in data[cut..].chunks(chunk) {
                    w.write(part).unwrap();
                }
                w.commit().unwrap();
            }
            prop_assert_eq!(fs::read(store.path(&digest)).unwrap(), data);
        }
    }
}

#[test]
fn stores_and_writers_can_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Store>();
    send::<BlobWriter>();
    send::<Begin>();
    send_sync::<imgpull_blobstore::StatsRecorder>();
}

#[cfg(unix)]
#[test]
fn committed_blobs_are_read_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let store = Store::temporary().unwrap();
    let digest = Digest::sha256(b"immutable");
    store.put(&digest, b"immutable").unwrap();
    let mode = fs::metadata(store.path(&digest))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o222, 0, "mode {mode:o}");
}

#[test]
fn a_large_blob_flushed_while_written_resumes_and_commits_whole() {
    // Larger than the write-behind step, written in pieces with pauses so that the helper
    // thread flushes the partial file while it grows; dropped midway, then resumed.
    let blob = content(40 << 20);
    let digest = Digest::sha256(&blob);
    let store = Store::temporary().unwrap();
    let mut first = writer(&store, &digest, blob.len() as u64);
    for (i, piece) in blob[..36 << 20].chunks(1 << 20).enumerate() {
        first.write(piece).unwrap();
        if i % 8 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
    }
    drop(first);
    let mut second = writer(&store, &digest, blob.len() as u64);
    assert_eq!(second.offset(), 36 << 20);
    second.write(&blob[36 << 20..]).unwrap();
    second.commit().unwrap();
    assert_eq!(fs::read(store.path(&digest)).unwrap(), blob);
}

#[test]
fn chunks_smaller_and_larger_than_the_write_buffer_give_the_blob_and_resume() {
    // 3.5 MiB in chunks that fill the 1 MiB buffer unevenly, overflow it, or exceed it.
    let blob = content(7 << 19);
    let digest = Digest::sha256(&blob);
    let store = Store::temporary().unwrap();
    let sizes = [7_000, 300_001, (1 << 20) + 3, 65_536, 900_000, 1];
    let mut chunks = Vec::new();
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at == blob.len() {
            break;
        }
        let end = (at + size).min(blob.len());
        chunks.push(&blob[at..end]);
        at = end;
    }
    let cut = chunks.len() / 2;
    let mut first = writer(&store, &digest, blob.len() as u64);
    for chunk in &chunks[..cut] {
        first.write(chunk).unwrap();
    }
    let written = first.written();
    drop(first);
    let mut second = writer(&store, &digest, blob.len() as u64);
    assert_eq!(
        second.offset(),
        written,
        "dropping flushed every buffered byte"
    );
    for chunk in &chunks[cut..] {
        second.write(chunk).unwrap();
    }
    second.commit().unwrap();
    assert_eq!(fs::read(store.path(&digest)).unwrap(), blob);
}

#[test]
fn writers_reuse_write_buffers_instead_of_allocating_one_per_blob() {
    let store = Store::temporary().unwrap();
    // Forty large blobs, one after the other: one buffer serves them all.
    for i in 0..40_u8 {
        let mut blob = content(200_000);
        blob[0] = i;
        let digest = Digest::sha256(&blob);
        let mut w = writer(&store, &digest, blob.len() as u64);
        w.write(&blob).unwrap();
        w.commit().unwrap();
    }
    assert_eq!(store.write_buffers_allocated(), 1);
    // Three open at once need three; dropped or discarded, theirs are reused.
    let blobs: Vec<Vec<u8>> = (0..3_u8)
        .map(|i| {
            let mut blob = content(100_000);
            blob[0] = 100 + i;
            blob
        })
        .collect();
    let mut open: Vec<BlobWriter> = blobs
        .iter()
        .map(|blob| writer(&store, &Digest::sha256(blob), blob.len() as u64))
        .collect();
    assert_eq!(store.write_buffers_allocated(), 3);
    open.pop().unwrap().discard().unwrap();
    drop(open);
    for blob in &blobs {
        let mut w = writer(&store, &Digest::sha256(blob), blob.len() as u64);
        w.write(blob).unwrap();
        w.commit().unwrap();
    }
    assert_eq!(store.write_buffers_allocated(), 3);
    // Small blobs (documents) are written without one.
    let small = Store::temporary().unwrap();
    small.put(&Digest::sha256(b"{}"), b"{}").unwrap();
    assert_eq!(small.write_buffers_allocated(), 0);
}
