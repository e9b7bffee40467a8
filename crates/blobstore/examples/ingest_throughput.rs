//! Measures how fast the store ingests a blob: a 200 MiB stream held in memory is written in
//! 64 KiB chunks (the size of typical network reads) through `begin`/`write`/`commit`, which
//! hash, buffer, write, sync and rename. For reference it also times SHA-256 alone over the
//! same bytes. Timings vary with the machine; nothing is asserted.
//!
//! ```text
//! cargo run --release -p imgpull-blobstore --example ingest_throughput [MiB [EMPTY_DIR]]
//! ```
//!
//! Without a directory, a temporary store is used (on the file system of the temp dir).

use std::error::Error;
use std::time::Instant;

use imgpull_blobstore::{Begin, Store};
use imgpull_reference::{Algorithm, Digest};

const CHUNK: usize = 64 * 1024;

fn main() -> Result<(), Box<dyn Error>> {
    let mib: usize = std::env::args().nth(1).map_or(Ok(200), |a| a.parse())?;
    let data = pseudo_random(mib << 20);
    let digest = Digest::sha256(&data);
    let mb = data.len() as f64 / 1e6;

    let start = Instant::now();
    let mut hasher = Algorithm::Sha256.hasher();
    for chunk in data.chunks(CHUNK) {
        hasher.update(chunk);
    }
    let hashed = hasher.finish();
    let hash_secs = start.elapsed().as_secs_f64();
    if hashed != digest {
        return Err("incremental and one-shot SHA-256 disagree".into());
    }

    let store = match std::env::args_os().nth(2) {
        Some(dir) => Store::open(dir)?,
        None => Store::temporary()?,
    };
    let start = Instant::now();
    let Begin::Write(mut writer) = store.begin(&digest, data.len() as u64)? else {
        return Err("a new store already has the blob".into());
    };
    for chunk in data.chunks(CHUNK) {
        writer.write(chunk)?;
    }
    let write_secs = start.elapsed().as_secs_f64();
    writer.commit()?;
    let ingest_secs = start.elapsed().as_secs_f64();

    println!("blob:             {mib} MiB in {CHUNK}-byte chunks");
    println!("sha256 only:      {:7.0} MB/s", mb / hash_secs);
    println!("hash + write:     {:7.0} MB/s", mb / write_secs);
    println!(
        "ingest:           {:7.0} MB/s (commit: flush, verify, fsync, rename: {:.0} ms)",
        mb / ingest_secs,
        (ingest_secs - write_secs) * 1e3
    );
    Ok(())
}

/// Incompressible bytes from a xorshift generator (fast and deterministic).
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}
