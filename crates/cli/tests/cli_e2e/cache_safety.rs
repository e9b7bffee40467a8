//! What the cache trusts, and who may empty it: a layout another tool made is imported, never
//! used as the cache; `cache clear` and `prune` wait for the pulls using the cache.

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use imgpull_blobstore::{BlobstoreError, Store};
use imgpull_reference::Platform;
use imgpull_tests::fake::{FakeRegistry, Fault};
use imgpull_tests::image::{Content, ImageSpec, OciLayout};
use imgpull_tests::tools;

use crate::support::*;

#[test]
fn an_oci_layout_made_by_another_tool_is_refused_as_the_cache_and_imported_instead() {
    if tools::skip_e2e() {
        return;
    }
    let mut layout = OciLayout::temporary().expect("layout");
    let image = layout
        .add_image(
            &ImageSpec::new("foreign").layers(1, 10 << 10, Content::Random),
            "v1",
        )
        .expect("image generated");
    let foreign = layout.path().to_str().expect("utf-8").to_owned();
    let sandbox = Sandbox::new();

    // Refused before any request (nothing listens at that registry).
    let nowhere = format!("127.0.0.1:{}/team/app:1", closed_port());
    let refused = sandbox.run(&["pull", "--json", "--cache-dir", &foreign, &nowhere]);
    expect_error(
        &refused,
        2,
        Some("usage"),
        &[
            "not an imgpull cache",
            &format!("imgpull cache import {foreign}"),
        ],
    );
    assert!(
        !layout.path().join(".imgpull").exists(),
        "the layout is left as it was"
    );

    // Imported, each blob verified on the way in.
    let import = sandbox.run(&["cache", "import", &foreign]);
    assert_success(&import, &["cache", "import"]);
    let layer = &image.layers[0].blob;
    assert!(
        sandbox
            .cache()
            .join("blobs/sha256")
            .join(layer.hex())
            .is_file()
    );
}

/// A loopback server that accepts connections and never answers; each accepted connection is
/// reported on the returned channel.
fn silent_server() -> (String, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (accepted, connections) = mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
            let _ = accepted.send(());
        }
    });
    (format!("http://{addr}/stalled"), connections)
}

#[test]
fn cache_clear_waits_for_a_running_pull_instead_of_removing_its_blobs() {
    if tools::skip_e2e() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let registry = runtime.block_on(FakeRegistry::start());
    let image = registry.push_image(
        "team/app",
        Some("1"),
        &Platform::default_target(),
        &[vec![5_u8; 20_000]],
    );
    // The layer's download stalls: the pull stays between planning and writing.
    let (stalled, connections) = silent_server();
    registry.inject(
        &format!("/blobs/{}", image.layers[0].digest),
        Fault::RedirectTo(stalled),
        usize::MAX,
    );
    let sandbox = Sandbox::new();
    let reference = format!("{}/team/app:1", registry.host());
    let mut pull = sandbox
        .command(&["pull", "-q", "-o", "app.tar", &reference])
        .stderr(Stdio::null())
        .spawn()
        .expect("pull starts");
    connections
        .recv_timeout(Duration::from_secs(60))
        .expect("the pull reaches the layer download");

    // The pull found the config and manifest present (it stored them) and leases the cache:
    // nothing may be removed under it, in this process either.
    let store = Store::open(sandbox.cache()).expect("store");
    let busy = store.clear().expect_err("the cache is in use");
    assert!(matches!(busy, BlobstoreError::InUse { .. }), "{busy}");
    assert!(store.contains(&image.config.digest));

    let mut clear = sandbox
        .command(&["cache", "clear"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cache clear starts");
    let line = StderrLines::take(&mut clear)
        .next_within(&mut clear, Duration::from_secs(60), "`cache clear`")
        .expect("`cache clear` wrote a line before it ended");
    assert!(line.contains("in use by a running pull"), "{line}");
    assert!(clear.try_wait().expect("status").is_none(), "it waits");
    assert!(store.contains(&image.config.digest));

    // Once the pull has ended (Ctrl+C), the clear goes ahead.
    let sent = Command::new("kill")
        .args(["-INT", &pull.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let limit = Duration::from_secs(60);
    let stopped = wait_within(&mut pull, limit, "the pull after SIGINT");
    assert_eq!(stopped.code(), Some(130));
    let cleared = wait_within(&mut clear, limit, "`cache clear` after the pull ended");
    assert!(cleared.success(), "{cleared:?}");
    assert!(!store.contains(&image.config.digest));
}

/// Whether process `pid` waits for a file lock (a `->` line of `/proc/locks`).
#[cfg(target_os = "linux")]
fn waits_for_a_lock(pid: u32) -> bool {
    let pid = pid.to_string();
    std::fs::read_to_string("/proc/locks").is_ok_and(|locks| {
        locks.lines().any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(1) == Some(&"->") && fields.get(5) == Some(&pid.as_str())
        })
    })
}

#[test]
#[cfg(target_os = "linux")]
fn ctrl_c_stops_a_pull_waiting_for_another_process_lock_on_the_cache() {
    if tools::skip_e2e() {
        return;
    }
    let sandbox = Sandbox::new();
    drop(Store::open(sandbox.cache()).expect("cache"));
    // Another process (this test) holds the lock of the cache's index.json: the pull's store
    // calls wait for it, on a blocking thread, while the pull itself still answers Ctrl+C.
    let index_lock =
        std::fs::File::open(sandbox.cache().join(".imgpull/index.lock")).expect("index lock file");
    index_lock.lock().expect("locked");
    let nowhere = format!("127.0.0.1:{}/team/app:1", closed_port());
    let mut pull = sandbox
        .command(&["pull", "-q", &nowhere])
        .stderr(Stdio::null())
        .spawn()
        .expect("pull starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !waits_for_a_lock(pull.id()) {
        assert!(std::time::Instant::now() < deadline, "the pull never waits");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill")
        .args(["-INT", &pull.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut status = None;
    while status.is_none() && std::time::Instant::now() < deadline {
        status = pull.try_wait().expect("status");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Released only now: a pull blocked on an async worker would still be waiting for it.
    let stopped_while_locked = status.is_some();
    index_lock.unlock().expect("unlocked");
    let status = match status {
        Some(status) => status,
        None => wait_within(
            &mut pull,
            Duration::from_secs(30),
            "the pull after SIGINT and the lock's release",
        ),
    };
    assert!(
        stopped_while_locked,
        "the pull answered Ctrl+C only once the lock was released"
    );
    assert_eq!(status.code(), Some(130));
}
