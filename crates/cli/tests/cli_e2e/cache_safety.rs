//! What the cache trusts, and who may empty it: a layout another tool made is imported, never
//! used as the cache; `cache clear` and `prune` wait for the pulls using the cache.

use std::io::{BufRead, BufReader};
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
    let mut stderr = BufReader::new(clear.stderr.take().expect("stderr"));
    let mut line = String::new();
    stderr.read_line(&mut line).expect("a line");
    assert!(line.contains("in use by a running pull"), "{line}");
    assert!(clear.try_wait().expect("status").is_none(), "it waits");
    assert!(store.contains(&image.config.digest));

    // Once the pull has ended (Ctrl+C), the clear goes ahead.
    let sent = Command::new("kill")
        .args(["-INT", &pull.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    assert_eq!(pull.wait().expect("pull ends").code(), Some(130));
    let cleared = clear.wait().expect("clear ends");
    assert!(cleared.success(), "{cleared:?}");
    assert!(!store.contains(&image.config.digest));
}
