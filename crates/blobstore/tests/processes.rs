//! Two real processes ingesting the same blob into one cache.
//!
//! The test binary runs itself twice with the ignored `child_ingest` test selected; each
//! child writes the same blob slowly (so that the two overlap) and prints what it did.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Stdio};

use imgpull_blobstore::{Begin, Store};
use imgpull_reference::Digest;

const DIR_VAR: &str = "IMGPULL_BLOBSTORE_TEST_CACHE";

fn content() -> Vec<u8> {
    (0..4_u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0])
        .collect()
}

#[test]
#[ignore = "run as a child process by two_processes_ingesting_the_same_blob_both_succeed_with_one_verified_file"]
fn child_ingest() {
    let dir = std::env::var_os(DIR_VAR).expect("the parent sets the cache directory");
    let store = Store::open(Path::new(&dir)).unwrap();
    let data = content();
    let digest = Digest::sha256(&data);
    match store.begin(&digest, data.len() as u64).unwrap() {
        Begin::Present => println!("OUTCOME present"),
        Begin::Write(mut w) => {
            for chunk in data.chunks(64 * 1024) {
                w.write(chunk).unwrap();
                // Slow writer: keeps the lock long enough for the other process to arrive.
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            w.commit().unwrap();
            println!("OUTCOME written");
        }
        Begin::Busy => unreachable!("begin waits instead of reporting busy"),
    }
}

#[test]
fn two_processes_ingesting_the_same_blob_both_succeed_with_one_verified_file() {
    // Both children also create the cache layout in the same empty directory at once.
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--ignored",
                    "--exact",
                    "child_ingest",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(DIR_VAR, dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut outcomes: Vec<String> = children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "child failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            );
            stdout
                .lines()
                .find_map(|l| l.split_once("OUTCOME ").map(|(_, outcome)| outcome.trim()))
                .unwrap_or_else(|| panic!("child printed no outcome: {stdout}"))
                .to_owned()
        })
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        ["present", "written"],
        "exactly one process writes the blob"
    );

    let data = content();
    let digest = Digest::sha256(&data);
    let blobs: Vec<_> = std::fs::read_dir(dir.path().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(blobs, [digest.hex()]);
    assert_eq!(
        Digest::sha256(&std::fs::read(dir.path().join("blobs/sha256").join(digest.hex())).unwrap()),
        digest
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join(".imgpull/partial"))
            .unwrap()
            .count(),
        0
    );
}
